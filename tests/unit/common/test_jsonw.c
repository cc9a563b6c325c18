/* common/jsonw.c: what it writes is, byte for byte, what jansson's
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) writes for the same object (the audit log's
 * hash chain covers those bytes), for every kind of string: ASCII, controls, quotes and
 * backslashes, two-, three- and four-byte UTF-8, integers at their limits, null, booleans
 * and nested objects and arrays. */
#include "../../support/testutil.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/jsonw.h"

/* w's members inside braces against json_dumps of obj. */
static void assert_same_as_jansson(const struct jsonw *w, json_t *obj)
{
	char *want = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t want_len;

	assert_non_null(want);
	assert_false(w->failed);
	want_len = strlen(want);
	if (want_len != w->len + 2 || memcmp(want + 1, w->buf, w->len) != 0)
		fail_msg("jsonw wrote {%s}, jansson %s", w->buf, want);
	free(want);
}

/* A random string of n code points drawn from every class that escapes differently; UTF-8. */
static size_t random_utf8(char *out, size_t n)
{
	static const char specials[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f ";
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t cp, kind = randombytes_uniform(6);

		if (kind == 0)
			cp = (uint32_t)specials[randombytes_uniform(sizeof(specials) - 1)];
		else if (kind == 1)
			cp = 0x20 + randombytes_uniform(0x5f);
		else if (kind == 2)
			cp = 0x80 + randombytes_uniform(0x800 - 0x80);
		else if (kind == 3)
			do
				cp = 0x800 + randombytes_uniform(0x10000 - 0x800);
			while (cp >= 0xd800 && cp <= 0xdfff);
		else if (kind == 4)
			cp = 0x10000 + randombytes_uniform(0x110000 - 0x10000);
		else
			cp = randombytes_uniform(0x20);
		if (cp == 0)
			cp = 1;
		if (cp < 0x80) {
			out[len++] = (char)cp;
		} else if (cp < 0x800) {
			out[len++] = (char)(0xc0 | cp >> 6);
			out[len++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[len++] = (char)(0xe0 | cp >> 12);
			out[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[len++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[len++] = (char)(0xf0 | cp >> 18);
			out[len++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			out[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[len++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	out[len] = '\0';
	return len;
}

static void test_strings_as_jansson(void **state)
{
	(void)state;
	for (int round = 0; round < 2000; round++) {
		char key[4 * 8 + 1], value[4 * 64 + 1];
		struct jsonw w;
		json_t *obj = json_object();

		jsonw_init(&w);
		for (int m = 0; m < 3; m++) {
			random_utf8(key, 1 + randombytes_uniform(8));
			random_utf8(value, randombytes_uniform(64));
			if (json_object_get(obj, key) != NULL)
				continue; /* a key twice: jansson keeps one */
			jsonw_str(&w, key, value);
			assert_int_equal(json_object_set_new(obj, key, json_string(value)), 0);
		}
		assert_same_as_jansson(&w, obj);
		json_decref(obj);
		jsonw_free(&w);
	}
}

static void test_values_as_jansson(void **state)
{
	struct jsonw w;
	json_t *obj = json_object(), *list = json_array(), *inner = json_object();
	char big[3000];

	(void)state;
	jsonw_init(&w);
	jsonw_int(&w, "min", LLONG_MIN);
	jsonw_int(&w, "max", LLONG_MAX);
	jsonw_int(&w, "zero", 0);
	jsonw_null(&w, "none");
	jsonw_str(&w, "null_string", NULL);
	jsonw_bool(&w, "yes", true);
	jsonw_bool(&w, "no", false);
	jsonw_begin(&w, "list", '[');
	for (int i = 0; i < 3; i++) {
		jsonw_begin(&w, NULL, '{');
		jsonw_str(&w, "asset", "USDC");
		jsonw_int(&w, "i", i);
		jsonw_end(&w, '}');
	}
	jsonw_end(&w, ']');
	jsonw_begin(&w, "empty", '{');
	jsonw_end(&w, '}');
	/* past the first buffer: the writer grows onto the heap and keeps what it had */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	jsonw_str(&w, "big", big);
	jsonw_raw(&w, "raw", "{\"x\":[1,2]}", 11);

	json_object_set_new(obj, "min", json_integer(LLONG_MIN));
	json_object_set_new(obj, "max", json_integer(LLONG_MAX));
	json_object_set_new(obj, "zero", json_integer(0));
	json_object_set_new(obj, "none", json_null());
	json_object_set_new(obj, "null_string", json_null());
	json_object_set_new(obj, "yes", json_true());
	json_object_set_new(obj, "no", json_false());
	for (int i = 0; i < 3; i++)
		json_array_append_new(list, json_pack("{s:s, s:i}", "asset", "USDC", "i", i));
	json_object_set_new(obj, "list", list);
	json_object_set_new(obj, "empty", inner);
	json_object_set_new(obj, "big", json_string(big));
	json_object_set_new(obj, "raw", json_pack("{s:[i,i]}", "x", 1, 2));
	assert_true(w.heap);
	assert_same_as_jansson(&w, obj);
	json_decref(obj);
	jsonw_free(&w);
	assert_false(w.heap);
	assert_int_equal(w.len, 0);
}

/* Bytes that are not UTF-8 (jansson refuses such a string): each is written as U+FFFD, and
 * the result is JSON that jansson reads back. */
static void test_not_utf8(void **state)
{
	static const char *bad[] = {
		"\xff",  "a\xc3",    "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\x80x", "\xe2\x82",
	};
	static const char *want[] = {
		"\"\\uFFFD\"",
		"\"a\\uFFFD\"",
		"\"\\uFFFD\\uFFFD\"",
		"\"\\uFFFD\\uFFFD\\uFFFD\"",
		"\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\"",
		"\"\\uFFFDx\"",
		"\"\\uFFFD\\uFFFD\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jsonw w;
		json_error_t e;
		json_t *back;
		char doc[64];

		jsonw_init(&w);
		jsonw_string(&w, bad[i], strlen(bad[i]));
		assert_string_equal(w.buf, want[i]);
		snprintf(doc, sizeof(doc), "[%s]", w.buf);
		back = json_loads(doc, 0, &e);
		assert_non_null(back);
		json_decref(back);
		jsonw_free(&w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_as_jansson),
		cmocka_unit_test(test_values_as_jansson),
		cmocka_unit_test(test_not_utf8),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
