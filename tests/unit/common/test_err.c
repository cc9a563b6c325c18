#include "../../support/testutil.h"

#include <string.h>

#include "common/err.h"

/* An error wrapped with its own message as an argument, as a reader does when it names the file
 * and line of a record that did not parse: the words of the inner message stay whole. */
static void test_fail_may_quote_its_own_detail(void **state)
{
	int r;

	(void)state;
	r = sg_fail(SG_ERR_MALFORMED, "not a JSON record: premature end of input near '\"'");
	r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: %s", "/var/log/signerd/audit.log", 2UL,
		    sg_errmsg(r));
	assert_int_equal(r, SG_ERR_MALFORMED);
	assert_string_equal(sg_errmsg(r), "/var/log/signerd/audit.log:2: not a JSON record: "
					  "premature end of input near '\"'");
	/* twice over, and cut short at the buffer's end rather than overrun */
	r = sg_fail(SG_ERR_MALFORMED, "%s; %s", sg_errmsg(r), sg_errmsg(r));
	assert_non_null(strstr(sg_errmsg(r), "audit.log:2: not a JSON record"));
	for (int i = 0; i < 20; i++)
		r = sg_fail(SG_ERR_MALFORMED, "%s %s", sg_errmsg(r), sg_errmsg(r));
	assert_true(strlen(sg_errmsg(r)) < 512);
	assert_int_equal(strncmp(sg_errmsg(r), "/var/log/signerd/audit.log:2: not", 33), 0);
}

static void test_context_prefixes_the_detail(void **state)
{
	int r;

	(void)state;
	r = sg_fail(SG_ERR_IO, "short read");
	r = sg_context(r, "reading '%s'", "audit.log");
	assert_string_equal(sg_errmsg(r), "reading 'audit.log': short read");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_may_quote_its_own_detail),
		cmocka_unit_test(test_context_prefixes_the_detail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
