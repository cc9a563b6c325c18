/* api/loglimit.c: each kind of line a peer can cause at most once every 10 s, with the count
 * held back; kinds past the first 15 share one slot, so new kinds cannot flood the log. */
#include "../../support/testutil.h"

#include <stdio.h>

#include "api/loglimit.h"

static void test_once_per_window(void **state)
{
	unsigned long held;
	bool shared;

	(void)state;
	log_limit_reset();
	assert_true(log_limit_pass("revoked", 100, &held, &shared));
	assert_int_equal(held, 0);
	assert_false(shared);
	for (int i = 0; i < 50; i++)
		assert_false(log_limit_pass("revoked", 100 + i * 0.1, &held, &shared));
	assert_true(log_limit_pass("untrusted", 101, &held, &shared)); /* a kind of its own */
	assert_true(log_limit_pass("revoked", 110, &held, &shared));
	assert_int_equal(held, 50);
}

static void test_new_kinds_share_a_slot(void **state)
{
	unsigned long held;
	bool shared;
	int printed = 0;
	char kind[32];

	(void)state;
	log_limit_reset();
	assert_true(log_limit_pass("revoked", 199, &held, &shared));
	assert_true(log_limit_pass("untrusted", 199, &held, &shared));
	/* two kinds took 2 of the 15 slots; a peer making a new kind each time gets 13 more
	 * printed, then one line per window for all the rest */
	for (int i = 0; i < 1000; i++) {
		snprintf(kind, sizeof(kind), "kind-%d", i);
		printed += log_limit_pass(kind, 200 + i * 0.001, &held, &shared);
	}
	assert_int_equal(printed, LOG_LIMIT_KINDS - 1 - 2 + 1);
	/* the kinds with a slot each hold a line back, so their slots are not free a window on */
	assert_false(log_limit_pass("revoked", 201.5, &held, &shared));
	assert_false(log_limit_pass("untrusted", 201.5, &held, &shared));
	for (int i = 0; i < LOG_LIMIT_KINDS - 1 - 2; i++) {
		snprintf(kind, sizeof(kind), "kind-%d", i);
		assert_false(log_limit_pass(kind, 201.5, &held, &shared));
	}
	assert_true(log_limit_pass("kind-9999", 211, &held, &shared));
	assert_true(shared);
	assert_int_equal(held, 1000 - (LOG_LIMIT_KINDS - 1 - 2) - 1);
	/* the kinds that have a slot keep it */
	assert_true(log_limit_pass("revoked", 211, &held, &shared));
	assert_false(shared);
}

/* A slot whose kind has been quiet for a window, with nothing held back, goes to a new kind;
 * one with lines held back keeps its kind until it has said how many. */
static void test_quiet_slots_reused(void **state)
{
	unsigned long held;
	bool shared;
	char kind[32];

	(void)state;
	log_limit_reset();
	for (int i = 0; i < LOG_LIMIT_KINDS - 1; i++) {
		snprintf(kind, sizeof(kind), "old-%d", i);
		assert_true(log_limit_pass(kind, 300, &held, &shared));
		assert_false(shared);
	}
	assert_false(log_limit_pass("old-0", 301, &held, &shared)); /* held back */
	assert_true(log_limit_pass("new-0", 302, &held, &shared));  /* within the window */
	assert_true(shared);
	/* a window later: quiet slots go to new kinds, each printed on its own */
	for (int i = 1; i < LOG_LIMIT_KINDS - 1; i++) {
		snprintf(kind, sizeof(kind), "new-%d", i);
		assert_true(log_limit_pass(kind, 311, &held, &shared));
		assert_false(shared);
	}
	/* old-0 held a line back: its slot stayed, and its count comes with its next line */
	assert_true(log_limit_pass("old-0", 312, &held, &shared));
	assert_false(shared);
	assert_int_equal(held, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_once_per_window),
		cmocka_unit_test(test_new_kinds_share_a_slot),
		cmocka_unit_test(test_quiet_slots_reused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
