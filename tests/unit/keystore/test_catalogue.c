/* The generic keystore rules: names, chains, lifecycle transitions, and the catalogue record
 * as it is stored in the token. */
#include "../../support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "p11.h"

static void test_names(void **state)
{
	char long_name[80];

	(void)state;
	assert_sg_ok(ks_name_check("solana-dev"));
	assert_sg_ok(ks_name_check("a"));
	assert_sg_ok(ks_name_check("0-9"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	assert_sg_ok(ks_name_check(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	assert_int_equal(ks_name_check(long_name), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check(""), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check("-dev"), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check("Dev"), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check("dev_1"), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check("dev/1"), SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_name_check("dév"), SG_ERR_INVALID_ARGUMENT);
}

static void test_chains_and_states(void **state)
{
	enum ks_chain chain;
	enum ks_state st;

	(void)state;
	assert_sg_ok(ks_chain_parse("solana", &chain));
	assert_int_equal(chain, KS_CHAIN_SOLANA);
	assert_sg_ok(ks_chain_parse("evm", &chain));
	assert_int_equal(chain, KS_CHAIN_EVM);
	assert_int_equal(ks_chain_parse("bitcoin", &chain), SG_ERR_INVALID_ARGUMENT);
	for (int i = 0; i < KS_STATE_COUNT_; i++) {
		assert_sg_ok(ks_state_parse(ks_state_name((enum ks_state)i), &st));
		assert_int_equal(st, i);
	}
	assert_int_equal(ks_state_parse("revoked", &st), SG_ERR_INVALID_ARGUMENT);
}

/* SP 800-57 part 1, figure 3, as a full table: every pair of states, allowed or not. */
static void test_transitions(void **state)
{
	static const char *const allowed[] = {
		"pre-activation>active",   "pre-activation>compromised", "pre-activation>destroyed",
		"active>suspended",        "active>deactivated",         "active>compromised",
		"suspended>active",        "suspended>deactivated",      "suspended>compromised",
		"deactivated>compromised", "deactivated>destroyed",      "compromised>destroyed",
	};
	int count = 0;

	(void)state;
	for (int from = 0; from < KS_STATE_COUNT_; from++) {
		for (int to = 0; to < KS_STATE_COUNT_; to++) {
			char pair[64];
			bool expect = false;

			snprintf(pair, sizeof(pair), "%s>%s", ks_state_name((enum ks_state)from),
				 ks_state_name((enum ks_state)to));
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				expect |= strcmp(allowed[i], pair) == 0;
			if (ks_state_transition_allowed((enum ks_state)from, (enum ks_state)to) !=
			    expect)
				fail_msg("transition %s should be %s", pair,
					 expect ? "allowed" : "refused");
			count += expect;
		}
	}
	assert_int_equal(count, 12);
}

static struct ks_key sample_key(void)
{
	struct ks_key k;

	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "polygon-dev");
	k.chain = KS_CHAIN_EVM;
	k.version = 3;
	k.transitions[0] =
		(struct ks_transition){.state = KS_STATE_PRE_ACTIVATION, .at = 1795000000};
	k.transitions[1] = (struct ks_transition){.state = KS_STATE_ACTIVE, .at = 1795000060};
	k.transitions[2] = (struct ks_transition){.state = KS_STATE_SUSPENDED, .at = 1795003600};
	k.n_transitions = 3;
	k.state = KS_STATE_SUSPENDED;
	k.created_at = 1795000000;
	return k;
}

static void test_record_round_trip(void **state)
{
	struct ks_key k = sample_key(), back;
	uint8_t *blob;
	size_t len;

	(void)state;
	assert_sg_ok(ks_record_encode(&k, &blob, &len));
	assert_non_null(strstr((char *)blob, "\"at\":\"2026-11-18T"));
	assert_sg_ok(ks_record_decode(blob, len, &back));
	assert_string_equal(back.name, "polygon-dev");
	assert_int_equal(back.chain, KS_CHAIN_EVM);
	assert_int_equal(back.version, 3);
	assert_int_equal(back.state, KS_STATE_SUSPENDED);
	assert_int_equal(back.n_transitions, 3);
	assert_int_equal(back.created_at, 1795000000);
	assert_int_equal(back.transitions[2].at, 1795003600);
	free(blob);
}

static void test_record_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"{}",
		"not json",
		/* unknown field */
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}],\"x\":1}",
		/* duplicate key */
		"{\"format\":1,\"name\":\"a\",\"name\":\"b\",\"chain\":\"evm\",\"version\":1,"
		"\"transitions\":[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		/* future format */
		"{\"format\":2,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		/* bad name, chain, version */
		"{\"format\":1,\"name\":\"A\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		"{\"format\":1,\"name\":\"a\",\"chain\":\"btc\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":0,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		/* no transitions; first not pre-activation; impossible transition; bad time */
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":[]}",
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"active\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"2026-11-27T13:05:00Z\"},"
		"{\"state\":\"suspended\",\"at\":\"2026-11-27T13:05:00Z\"}]}",
		"{\"format\":1,\"name\":\"a\",\"chain\":\"evm\",\"version\":1,\"transitions\":"
		"[{\"state\":\"pre-activation\",\"at\":\"yesterday\"}]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ks_key k;

		if (ks_record_decode((const uint8_t *)bad[i], strlen(bad[i]), &k) == 0)
			fail_msg("record %zu was accepted: %s", i, bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),          cmocka_unit_test(test_chains_and_states),
		cmocka_unit_test(test_transitions),    cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
