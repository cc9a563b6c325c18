/* ceremony/plan.c: a plan written is read back to the same values and its bytes' SHA-256; a
 * plan is read strictly: every field once, of its kind, nothing more. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ceremony/ceremony.h"
#include "common/encoding.h"

static void test_round_trip(void **state)
{
	json_t *args = json_pack("{s:s, s:i}", "name", "polygon-dev", "version", 2);
	struct ceremony_plan p;
	uint8_t h[32];
	char hex[65], *text;

	(void)state;
	assert_sg_ok(ceremony_plan_write("key-rotate", args, "signerd-dev", 2, 3600, &text));
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_sg_ok(ceremony_plan_read((const uint8_t *)text, strlen(text), &p));
	assert_string_equal(p.action, "key-rotate");
	assert_string_equal(p.token, "signerd-dev");
	assert_int_equal(p.quorum, 2);
	assert_int_equal(strlen(p.id), CEREMONY_ID_LEN);
	assert_int_equal(p.not_after - p.created_at, 3600);
	assert_true(json_equal(p.args, args));
	crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
	assert_sg_ok(hex_encode(h, 32, hex, sizeof(hex)));
	assert_string_equal(p.sha256, hex);
	ceremony_plan_free(&p);
	{
		/* two plans never share an id */
		char *other;
		struct ceremony_plan q;

		assert_sg_ok(
			ceremony_plan_write("key-rotate", args, "signerd-dev", 2, 3600, &other));
		assert_sg_ok(ceremony_plan_read((const uint8_t *)other, strlen(other), &q));
		assert_sg_ok(ceremony_plan_read((const uint8_t *)text, strlen(text), &p));
		assert_string_not_equal(p.id, q.id);
		ceremony_plan_free(&p);
		ceremony_plan_free(&q);
		free(other);
	}
	free(text);
	json_decref(args);
}

static void test_strict(void **state)
{
	static const struct {
		const char *text;
		const char *words;
	} cases[] = {
		{.text = "", .words = "1 to"},
		{.text = "[]", .words = "not a JSON object"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\"}",
		 .words = "exactly the fields"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1,\"extra\":1}",
		 .words = "exactly the fields"},
		{.text = "{\"ceremony\":\"0000000000000000000000000000000G\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1}",
		 .words = "not of its kind"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":[],\"token\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1}",
		 .words = "not of its kind"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":0}",
		 .words = "not of its kind"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"created_at\":\"yesterday\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1}",
		 .words = "created_at is not a time"},
		{.text = "{\"ceremony\":\"00000000000000000000000000000000\",\"action\":\"key-"
			 "rotate\","
			 "\"args\":{},\"token\":\"t\",\"token\":\"u\",\"created_at\":\"2026-01-"
			 "01T00:00:00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1}",
		 .words = "not a JSON object"},
		/* a good plan, but not as signerctl writes it: not the bytes custodians checked */
		{.text = "{\"action\":\"key-rotate\",\"args\":{},\"ceremony\":"
			 "\"00000000000000000000000000000000\",\"created_at\":\"2026-01-01T00:00:"
			 "00Z\","
			 "\"not_after\":\"2026-01-02T00:00:00Z\",\"quorum\":1,\"token\":\"t\"}\n",
		 .words = "not written as signerctl ceremony plan writes it"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ceremony_plan p;

		assert_sg_fails(ceremony_plan_read((const uint8_t *)cases[i].text,
						   strlen(cases[i].text), &p),
				SG_ERR_MALFORMED, cases[i].words);
	}
}

/* A time has one spelling: what strptime would carry over into another time (a day past the
 * month's end, second 60, a number padded with a space, a year before 1000) is refused, in a plan
 * otherwise as signerctl writes it. */
static void test_time_one_spelling(void **state)
{
	static const char *const fields[] = {"\"created_at\": \"", "\"not_after\": \""};
	static const char *const times[] = {"2026-02-31T00:00:00Z", "2026-12-02T20:00:60Z",
					    "2026-12-02T20:00: 0Z", "0999-01-01T00:00:00Z"};
	json_t *args = json_object();
	struct ceremony_plan p;
	char *text;

	(void)state;
	assert_sg_ok(ceremony_plan_write("key-rotate", args, "signerd-dev", 1, 3600, &text));
	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
			char *bad = strdup(text), *at;

			assert_non_null(bad);
			at = strstr(bad, fields[f]);
			assert_non_null(at);
			memcpy(at + strlen(fields[f]), times[i], strlen(times[i]));
			assert_sg_fails(ceremony_plan_read((const uint8_t *)bad, strlen(bad), &p),
					SG_ERR_MALFORMED, "is not a time");
			free(bad);
		}
	free(text);
	json_decref(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_time_one_spelling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
