/* policy/limits.c: spend sums and rate buckets built from the ledgers whenever the policy
 * changes (a new window, a limit dropped and added back, a new rate limit: none starts from
 * zero), records of other processes counted, reservations given back, a checkpoint's round
 * trip, a loss that uses every limit up for its window, and ledgers an attacker cannot grow
 * without bound. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/limits.h"
#include "policy/policy.h"

static int counter;

static int setup(void **state)
{
	(void)state;
	return tu_tmpdir("limits") == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A policy for local on key k with these limit sections. */
static struct policy *policy_of(const char *limits)
{
	char name[64], text[2048];
	const char *path;
	struct policy *p = NULL;

	snprintf(name, sizeof(name), "policy-%d.yaml", ++counter);
	snprintf(text, sizeof(text),
		 "grants:\n  - client: local\n    key: k\n    operations: [dev]\n%s", limits);
	path = tu_write_file(name, text);
	if (policy_load(path, &p) != SG_OK)
		fail_msg("policy: %s", sg_errmsg(SG_ERR_CONFIG));
	return p;
}

static struct policy *spend_policy(const char *window, const char *max)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "spend_limits:\n  - key: k\n    asset: native\n    window: %s\n    max: \"%s\"\n",
		 window, max);
	return policy_of(text);
}

static struct policy_spend native(uint64_t amount)
{
	struct policy_spend s = {.asset = "native"};

	for (int i = 31; i >= 24; i--, amount >>= 8)
		s.amount[i] = (uint8_t)amount;
	return s;
}

/* Whether spending amount now fits (and, when it does, it is reserved and kept). */
static bool spend(struct limits *l, const struct policy *p, uint64_t amount)
{
	struct policy_spend s = native(amount);
	struct limits_hold hold = {0};
	struct policy_decision d;

	return limits_spend_reserve(l, p, "k", &s, 1, now_s(), &hold, &d);
}

static void test_reload_never_resets(void **state)
{
	struct limits *l;
	struct policy *day = spend_policy("24h", "1000"), *half = spend_policy("12h", "1000"),
		      *none = policy_of(""), *big = spend_policy("24h", "2000");

	(void)state;
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, day));
	assert_true(spend(l, day, 600));
	assert_false(spend(l, day, 600));
	/* a new window is built from what was spent in it */
	assert_sg_ok(limits_apply_policy(l, half));
	assert_false(spend(l, half, 600));
	assert_true(spend(l, half, 400));
	assert_false(spend(l, half, 1));
	/* three reloads, three tries: nothing gets through */
	for (int i = 0; i < 3; i++) {
		assert_sg_ok(limits_apply_policy(l, i % 2 ? half : day));
		assert_false(spend(l, i % 2 ? half : day, 1000));
	}
	/* the limit dropped: spends are still recorded; added back, they count */
	assert_sg_ok(limits_apply_policy(l, none));
	assert_true(spend(l, none, 900));
	assert_sg_ok(limits_apply_policy(l, big));
	assert_false(spend(l, big, 101)); /* 1000 + 900 + 101 */
	assert_true(spend(l, big, 100));
	limits_free(l);
	policy_free(day);
	policy_free(half);
	policy_free(none);
	policy_free(big);
}

static void test_release_and_other_processes(void **state)
{
	struct limits *l;
	struct policy *p = spend_policy("1h", "1000");
	struct policy_spend s = native(700);
	struct limits_hold hold = {0};
	struct policy_decision d;

	(void)state;
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, p));
	assert_true(limits_spend_reserve(l, p, "k", &s, 1, now_s(), &hold, &d));
	assert_true(hold.spent);
	assert_false(spend(l, p, 301));
	/* no signature left: the reservation goes back, also from the ledger */
	limits_release(l, &hold);
	assert_false(hold.spent);
	assert_true(spend(l, p, 301));
	/* another process signed 600 (its record read from the log): it counts now */
	s = native(600);
	limits_record(l, "local", "dev", "k", &s, 1, now_s());
	assert_false(spend(l, p, 100)); /* 301 + 600 + 100 */
	/* a reservation made before the other process's record no longer fits after it */
	{
		struct limits *l2;
		struct limits_hold h2 = {0};
		struct policy_spend s2 = native(800);

		assert_sg_ok(limits_new(&l2));
		assert_sg_ok(limits_apply_policy(l2, p));
		assert_true(limits_spend_reserve(l2, p, "k", &s2, 1, now_s(), &h2, &d));
		assert_true(limits_spend_still_fits(l2, p, &h2, &d));
		s2 = native(300);
		limits_record(l2, "local", "dev", "k", &s2, 1, now_s());
		assert_false(limits_spend_still_fits(l2, p, &h2, &d));
		assert_string_equal(d.reason, "spend_limit_exceeded");
		assert_non_null(strstr(d.rule, "spend_limits[0]"));
		limits_free(l2);
	}
	/* records older than the window do not count */
	{
		struct limits *l3;

		assert_sg_ok(limits_new(&l3));
		s = native(1000);
		limits_record(l3, "local", "dev", "k", &s, 1, now_s() - 3700);
		assert_sg_ok(limits_apply_policy(l3, p));
		assert_true(spend(l3, p, 1000));
		limits_free(l3);
	}
	limits_free(l);
	policy_free(p);
}

static void test_rate_rebuilt_from_ledger(void **state)
{
	struct limits *l;
	struct policy *none = policy_of(""),
		      *rated = policy_of("rate_limits:\n  - client: local\n    operation: dev\n"
					 "    per_minute: 1\n    burst: 3\n");
	const struct policy_rate_limit *rl = policy_rate_limit_for(rated, "local", "dev");
	struct limits_hold hold = {0};
	double wait;

	(void)state;
	assert_non_null(rl);
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, none));
	/* two signatures while no limit applies */
	limits_rate_count(l, "local", "dev", now_s(), &hold);
	assert_true(hold.rate_taken);
	memset(&hold, 0, sizeof(hold));
	limits_rate_count(l, "local", "dev", now_s(), &hold);
	/* and one that did not leave: given back */
	memset(&hold, 0, sizeof(hold));
	limits_rate_count(l, "local", "dev", now_s(), &hold);
	limits_release(l, &hold);
	/* the limit added later starts from the two */
	assert_sg_ok(limits_apply_policy(l, rated));
	assert_true(limits_rate_peek(l, rl, now_s()) < 1.1);
	memset(&hold, 0, sizeof(hold));
	assert_true(limits_rate_take(l, rl, now_s(), &hold, &wait));
	memset(&hold, 0, sizeof(hold));
	assert_false(limits_rate_take(l, rl, now_s(), &hold, &wait));
	assert_true(wait > 1 && wait <= 60);
	limits_free(l);
	policy_free(none);
	policy_free(rated);
}

static void test_checkpoint_round_trip(void **state)
{
	struct limits *l, *back;
	struct policy *p = spend_policy("7d", "5000");
	json_t *snap, *bad;

	(void)state;
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, p));
	assert_true(spend(l, p, 3000));
	{
		struct policy_spend s = native(1500);

		limits_record(l, "local", "dev", "k", &s, 1, now_s() - 3 * 86400);
	}
	assert_sg_ok(limits_snapshot(l, &snap));
	assert_sg_ok(limits_new(&back));
	assert_sg_ok(limits_restore(back, snap));
	assert_sg_ok(limits_apply_policy(back, p));
	assert_false(spend(back, p, 501)); /* 3000 + 1500 + 501 */
	assert_true(spend(back, p, 500));
	/* a snapshot that does not read is refused whole: an amount that is not hex (after the
	 * last minute, so that only the hex is wrong), a minute out of order */
	bad = json_deep_copy(snap);
	json_array_append_new(
		json_object_get(json_array_get(json_object_get(bad, "spend"), 0), "m"),
		json_pack("[I, s]", (json_int_t)1 << 40, "zz"));
	assert_int_equal(limits_restore(back, bad), SG_ERR_MALFORMED);
	json_decref(bad);
	bad = json_deep_copy(snap);
	json_array_append_new(
		json_object_get(json_array_get(json_object_get(bad, "spend"), 0), "m"),
		json_pack("[I, s]", (json_int_t)1,
			  "0000000000000000000000000000000000000000000000000000000000000001"));
	assert_int_equal(limits_restore(back, bad), SG_ERR_MALFORMED);
	json_decref(bad);
	/* and the limits kept what they held */
	assert_false(spend(back, p, 1));
	json_decref(snap);
	limits_free(l);
	limits_free(back);
	policy_free(p);
}

static void test_loss_uses_limits_up(void **state)
{
	struct limits *l;
	struct policy *p = spend_policy("1h", "1000"), *day = spend_policy("24h", "1000");
	struct policy_spend s = native(1);
	struct limits_hold hold = {0};
	struct policy_decision d;

	(void)state;
	assert_sg_ok(limits_new(&l));
	limits_record_gap(l, now_s() - 3601);
	assert_sg_ok(limits_apply_policy(l, p));
	assert_true(spend(l, p, 1)); /* the 1 h window has passed since the loss */
	assert_sg_ok(limits_apply_policy(l, day));
	assert_false(limits_spend_reserve(l, day, "k", &s, 1, now_s(), &hold, &d));
	assert_non_null(strstr(d.message, "lost"));
	limits_free(l);
	policy_free(p);
	policy_free(day);
}

#define WATCHED "erc20:0x9999999999999999999999999999999999999999"
#define LATE    "erc20:0x8888888888888888888888888888888888888888"
#define FRESH   "erc20:0x7777777777777777777777777777777777777777"

static struct policy_spend asset_spend(const char *asset, uint64_t amount)
{
	struct policy_spend s = native(amount);

	snprintf(s.asset, sizeof(s.asset), "%s", asset);
	return s;
}

static size_t spend_ledgers(struct limits *l)
{
	size_t spend, rate;

	limits_ledger_counts(l, &spend, &rate);
	return spend;
}

/* New limits restored from snap, under p. */
static struct limits *restored(json_t *snap, const struct policy *p)
{
	struct limits *back;

	assert_sg_ok(limits_new(&back));
	assert_sg_ok(limits_restore(back, snap));
	assert_sg_ok(limits_apply_policy(back, p));
	return back;
}

/* LIMITS_LEDGERS_MAX pairs of key k that no limit of p watches: the spend ledgers are full. */
static void fill_spend_ledgers(struct limits *l, const struct policy *p)
{
	struct policy_decision d;
	char asset[64];

	for (int i = 0; i < LIMITS_LEDGERS_MAX; i++) {
		struct policy_spend s;
		struct limits_hold hold = {0};

		snprintf(asset, sizeof(asset), "erc20:0x%040d", i);
		s = asset_spend(asset, 1);
		assert_true(limits_spend_reserve(l, p, "k", &s, 1, now_s(), &hold, &d));
	}
}

/* An attacker spending a new token each time cannot grow the ledgers without bound: past
 * LIMITS_LEDGERS_MAX pairs no limit watches, new pairs are not kept; a pair a limit watches
 * always is; a limit a reload adds on a pair that was not kept fails closed; empty ledgers
 * make room. */
static void test_ledgers_capped(void **state)
{
	struct limits *l;
	struct policy *watch = policy_of("spend_limits:\n  - key: k\n    asset: "
					 "erc20:0x9999999999999999999999999999999999999999\n"
					 "    window: 1h\n    max: \"10\"\n");
	struct policy *later = policy_of("spend_limits:\n  - key: k\n    asset: "
					 "erc20:0x8888888888888888888888888888888888888888\n"
					 "    window: 1h\n    max: \"10\"\n");
	struct policy_decision d;
	json_t *snap, *ledgers;

	(void)state;
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, watch));
	fill_spend_ledgers(l, watch);
	assert_int_equal(spend_ledgers(l), LIMITS_LEDGERS_MAX);
	{
		/* a new pair nobody watches: signed, not kept */
		struct policy_spend s = asset_spend(LATE, 5);
		struct limits_hold hold = {0};

		assert_true(limits_spend_reserve(l, watch, "k", &s, 1, now_s(), &hold, &d));
		assert_int_equal(spend_ledgers(l), LIMITS_LEDGERS_MAX);
	}
	{
		/* the watched pair gets its ledger and its limit counts */
		struct policy_spend s = asset_spend(WATCHED, 7);
		struct limits_hold hold = {0};
		uint8_t total[32];

		assert_true(limits_spend_reserve(l, watch, "k", &s, 1, now_s(), &hold, &d));
		assert_int_equal(spend_ledgers(l), LIMITS_LEDGERS_MAX + 1);
		assert_false(limits_spend_reserve(l, watch, "k", &s, 1, now_s(), &hold, &d));
		assert_string_equal(d.reason, "spend_limit_exceeded");
		assert_int_equal(limits_apply_policy(l, watch), 0); /* and after a reload */
		limits_spent(l, "k", WATCHED, 3600, now_s(), total);
		assert_int_equal(total[31], 7);
	}
	{
		/* a limit added on the pair that was not kept: what it spent is unknown */
		struct policy_spend s = asset_spend(LATE, 1);
		struct limits_hold hold = {0};

		assert_sg_ok(limits_apply_policy(l, later));
		assert_false(limits_spend_reserve(l, later, "k", &s, 1, now_s(), &hold, &d));
		assert_string_equal(d.reason, "spend_limit_exceeded");
		assert_non_null(strstr(d.message, "ledgers were full"));
	}
	/* through a checkpoint, all of it holds */
	assert_sg_ok(limits_snapshot(l, &snap));
	{
		struct limits *back;
		struct policy_spend s = asset_spend(LATE, 1);
		struct limits_hold hold = {0};

		back = restored(snap, later);
		assert_false(limits_spend_reserve(back, later, "k", &s, 1, now_s(), &hold, &d));
		limits_free(back);
	}
	/* ledgers whose entries are all past their horizon make room for new pairs */
	ledgers = json_object_get(snap, "spend");
	for (size_t i = 0; i < json_array_size(ledgers); i++) {
		json_t *e = json_array_get(ledgers, i);

		json_object_set_new(e, "s", json_array());
		json_object_set_new(e, "m",
				    json_pack("[[I, s]]", (json_int_t)1000,
					      "00000000000000000000000000000000000000"
					      "00000000000000000000000001"));
	}
	json_object_set_new(snap, "spend_overflow_at", json_real(0));
	{
		struct limits *back;
		struct policy_spend s = asset_spend(FRESH, 1);
		struct limits_hold hold = {0};

		back = restored(snap, watch);
		assert_int_equal(spend_ledgers(back), LIMITS_LEDGERS_MAX + 1);
		assert_true(limits_spend_reserve(back, watch, "k", &s, 1, now_s(), &hold, &d));
		/* the empty ones went, but the watched pair's ledger stays */
		assert_int_equal(spend_ledgers(back), 2);
		limits_free(back);
	}
	json_decref(snap);
	limits_free(l);
	policy_free(watch);
	policy_free(later);
}

/* Makes every ledger of kind in snap old: its entries past their horizon and its creation long
 * ago, as if the book had filled a day before. */
static void age_ledgers(json_t *snap, const char *kind)
{
	json_t *ledgers = json_object_get(snap, kind);

	for (size_t i = 0; i < json_array_size(ledgers); i++) {
		json_t *e = json_array_get(ledgers, i);

		json_object_set_new(e, "s", json_array());
		json_object_set_new(e, "m", json_array());
		json_object_set_new(e, "c", json_real(1000));
	}
}

/* A pair whose record was dropped while the spend book was full, and that gets a ledger of
 * its own later (the book compacted meanwhile), lacks what was dropped: a limit added on it
 * afterwards must not trust that ledger for its window. */
static void test_ledger_made_after_a_drop(void **state)
{
	struct limits *l, *back;
	struct policy *watch = policy_of("spend_limits:\n  - key: k\n    asset: " WATCHED "\n"
					 "    window: 1h\n    max: \"10\"\n");
	struct policy *later = policy_of("spend_limits:\n  - key: k\n    asset: " LATE "\n"
					 "    window: 1h\n    max: \"10\"\n");
	struct policy_decision d;
	json_t *snap;

	(void)state;
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, watch));
	fill_spend_ledgers(l, watch);
	{
		/* 9 of LATE, dropped: the book is full */
		struct policy_spend s = asset_spend(LATE, 9);
		struct limits_hold hold = {0};

		assert_true(limits_spend_reserve(l, watch, "k", &s, 1, now_s(), &hold, &d));
	}
	/* the fillers age out; the drop stays where it was */
	assert_sg_ok(limits_snapshot(l, &snap));
	age_ledgers(snap, "spend");
	back = restored(snap, watch);
	{
		/* LATE again: the book compacts and LATE gets a fresh ledger, without the 9 */
		struct policy_spend s = asset_spend(LATE, 1);
		struct limits_hold hold = {0};

		assert_true(limits_spend_reserve(back, watch, "k", &s, 1, now_s(), &hold, &d));
		assert_true(spend_ledgers(back) < 10);
	}
	{
		/* a limit of 10 on LATE: 9 + 1 + 1 would pass if the fresh ledger were trusted */
		struct policy_spend s = asset_spend(LATE, 1);
		struct limits_hold hold = {0};

		assert_sg_ok(limits_apply_policy(back, later));
		assert_false(limits_spend_reserve(back, later, "k", &s, 1, now_s(), &hold, &d));
		assert_string_equal(d.reason, "spend_limit_exceeded");
		assert_non_null(strstr(d.message, "ledgers were full"));
	}
	/* and through the next checkpoint */
	json_decref(snap);
	assert_sg_ok(limits_snapshot(back, &snap));
	{
		struct limits *again = restored(snap, later);
		struct policy_spend s = asset_spend(LATE, 1);
		struct limits_hold hold = {0};

		assert_false(limits_spend_reserve(again, later, "k", &s, 1, now_s(), &hold, &d));
		limits_free(again);
	}
	json_decref(snap);
	limits_free(back);
	limits_free(l);
	policy_free(watch);
	policy_free(later);
}

/* The same for rates: a rate limit added on a pair whose signatures were dropped while the
 * rate book was full starts used up, even when the pair has a fresh ledger since. */
static void test_rate_ledger_made_after_a_drop(void **state)
{
	struct limits *l, *back;
	struct policy *none = policy_of(""),
		      *rated = policy_of("rate_limits:\n  - client: local\n    operation: dev\n"
					 "    per_minute: 60\n    burst: 5\n");
	const struct policy_rate_limit *rl = policy_rate_limit_for(rated, "local", "dev");
	struct limits_hold hold = {0};
	char op[32];
	double wait;
	json_t *snap;

	(void)state;
	assert_non_null(rl);
	assert_sg_ok(limits_new(&l));
	assert_sg_ok(limits_apply_policy(l, none));
	for (int i = 0; i < LIMITS_LEDGERS_MAX; i++) {
		snprintf(op, sizeof(op), "op%d", i);
		memset(&hold, 0, sizeof(hold));
		limits_rate_count(l, "local", op, now_s(), &hold);
	}
	for (int i = 0; i < 20; i++) { /* dropped: the book is full */
		memset(&hold, 0, sizeof(hold));
		limits_rate_count(l, "local", "dev", now_s(), &hold);
	}
	assert_sg_ok(limits_snapshot(l, &snap));
	age_ledgers(snap, "rate");
	back = restored(snap, none);
	memset(&hold, 0, sizeof(hold));
	limits_rate_count(back, "local", "dev", now_s(), &hold); /* a fresh ledger */
	assert_sg_ok(limits_apply_policy(back, rated));
	assert_true(limits_rate_peek(back, rl, now_s()) < 1.0);
	memset(&hold, 0, sizeof(hold));
	assert_false(limits_rate_take(back, rl, now_s(), &hold, &wait));
	json_decref(snap);
	limits_free(back);
	limits_free(l);
	policy_free(none);
	policy_free(rated);
}

static void test_u256(void **state)
{
	uint8_t v[32], one[32] = {0};

	(void)state;
	assert_true(
		limits_u256_decimal("115792089237316195423570985008687907853269984665640564039457"
				    "584007913129639935",
				    v));
	for (int i = 0; i < 32; i++)
		assert_int_equal(v[i], 0xff);
	one[31] = 1;
	limits_u256_add(v, one); /* saturates */
	for (int i = 0; i < 32; i++)
		assert_int_equal(v[i], 0xff);
	assert_false(
		limits_u256_decimal("115792089237316195423570985008687907853269984665640564039457"
				    "584007913129639936",
				    v)); /* 2^256 */
	assert_false(limits_u256_decimal("12a", v));
	assert_false(limits_u256_decimal("", v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_never_resets),
		cmocka_unit_test(test_release_and_other_processes),
		cmocka_unit_test(test_rate_rebuilt_from_ledger),
		cmocka_unit_test(test_checkpoint_round_trip),
		cmocka_unit_test(test_loss_uses_limits_up),
		cmocka_unit_test(test_ledgers_capped),
		cmocka_unit_test(test_ledger_made_after_a_drop),
		cmocka_unit_test(test_rate_ledger_made_after_a_drop),
		cmocka_unit_test(test_u256),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
