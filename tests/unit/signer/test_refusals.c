/* signer/refusals.c: a peer's refusals past its own few a second are counted into one summary
 * per second, written once the second is over, in the order they were refused in. */
#include "../../support/testutil.h"

#include <string.h>

#include "refusals.h"

static void test_folded_and_summarised(void **state)
{
	struct refusals *r;
	char id[AUDIT_ID_LEN + 1], first_id[AUDIT_ID_LEN + 1];
	json_t *recs[8];
	char ids[8][AUDIT_ID_LEN + 1];

	(void)state;
	assert_sg_ok(refusals_new(&r));
	/* a peer the policy does not name: one record of its own a second */
	assert_true(refusals_admit(r, "spiffe://x/stranger", NULL, "forbidden", 100.0, id));
	assert_false(refusals_admit(r, "spiffe://x/stranger", NULL, "forbidden", 100.1, id));
	memcpy(first_id, id, sizeof(id));
	assert_false(refusals_admit(r, "spiffe://x/stranger", NULL, "rate_limited", 100.2, id));
	assert_string_equal(id, first_id); /* one summary, one id */
	/* a client the policy names: ten of its own */
	for (int i = 0; i < REFUSALS_OWN_PER_SECOND_CLIENT; i++)
		assert_true(refusals_admit(r, "spiffe://x/adapter", "adapter", "forbidden",
					   100.3 + i * 0.01, id));
	assert_false(refusals_admit(r, "spiffe://x/adapter", "adapter", "forbidden", 100.5, id));
	/* within the second nothing is due; after it, both summaries, oldest first */
	assert_int_equal(refusals_due(r, 100.9, false, recs, ids, 8), 0);
	assert_true(refusals_admit(r, "spiffe://x/stranger", NULL, "forbidden", 101.0, id));
	assert_true(refusals_admit(r, "spiffe://x/adapter", "adapter", "forbidden", 101.1, id));
	assert_int_equal(refusals_due(r, 101.5, false, recs, ids, 8), 2);
	assert_string_equal(json_string_value(json_object_get(recs[0], "peer")),
			    "spiffe://x/stranger");
	assert_string_equal(ids[0], first_id);
	assert_int_equal(json_integer_value(json_object_get(recs[0], "count")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(recs[0], "reasons"),
							    "rate_limited")),
			 1);
	assert_true(json_is_null(json_object_get(recs[0], "client")));
	assert_string_equal(json_string_value(json_object_get(recs[1], "peer")),
			    "spiffe://x/adapter");
	assert_int_equal(json_integer_value(json_object_get(recs[1], "count")), 1);
	for (int i = 0; i < 2; i++)
		json_decref(recs[i]);
	assert_int_equal(refusals_due(r, 102, true, recs, ids, 8), 0);
	refusals_free(r);
}

/* Many summaries queued: they come out in the order they were queued, max at a time. */
static void test_due_in_order(void **state)
{
	struct refusals *r;
	char id[AUDIT_ID_LEN + 1], peer[64];
	json_t *recs[4];
	char ids[4][AUDIT_ID_LEN + 1];
	int next = 0;
	size_t n;

	(void)state;
	assert_sg_ok(refusals_new(&r));
	for (int p = 0; p < 10; p++) {
		snprintf(peer, sizeof(peer), "spiffe://x/p%d", p);
		(void)refusals_admit(r, peer, NULL, "forbidden", 200.0, id);
		(void)refusals_admit(r, peer, NULL, "forbidden", 200.5, id);
	}
	for (int p = 0; p < 10; p++) {
		snprintf(peer, sizeof(peer), "spiffe://x/p%d", p);
		(void)refusals_admit(r, peer, NULL, "forbidden", 201.0 + p * 0.01, id);
	}
	do {
		n = refusals_due(r, 201.5, false, recs, ids, 4);
		for (size_t i = 0; i < n; i++) {
			snprintf(peer, sizeof(peer), "spiffe://x/p%d", next++);
			assert_string_equal(json_string_value(json_object_get(recs[i], "peer")),
					    peer);
			json_decref(recs[i]);
		}
	} while (n == 4);
	assert_int_equal(next, 10);
	refusals_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_and_summarised),
		cmocka_unit_test(test_due_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
