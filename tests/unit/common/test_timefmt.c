#include "../../support/testutil.h"

#include <string.h>

#include "common/timefmt.h"

static void test_rfc3339_round_trip(void **state)
{
	char text[TIME_RFC3339_LEN];
	int64_t t = 0;

	(void)state;
	assert_sg_ok(time_format_rfc3339(1796242244, text));
	assert_string_equal(text, "2026-12-02T20:10:44Z");
	assert_sg_ok(time_parse_rfc3339(text, &t));
	assert_int_equal(t, 1796242244);
}

/* What a JSON reader passes for a field that is missing or not a string: refused, not read
 * through a NULL (a backup manifest's state without its made_at did that). */
static void test_rfc3339_refuses_missing_and_malformed(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(time_parse_rfc3339(NULL, &t), SG_ERR_MALFORMED);
	assert_int_equal(time_parse_rfc3339("", &t), SG_ERR_MALFORMED);
	assert_int_equal(time_parse_rfc3339("2026-12-02 20:10:44Z", &t), SG_ERR_MALFORMED);
	assert_int_equal(time_parse_rfc3339("2026-12-02T20:10:44+0", &t), SG_ERR_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_round_trip),
		cmocka_unit_test(test_rfc3339_refuses_missing_and_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
