/* The policy file: clients and grants, default deny, and each mistake reported as FILE:LINE. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"

static int setup(void **state)
{
	(void)state;
	return tu_tmpdir("policy") == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

static const char *write_policy(const char *text)
{
	return tu_write_file("policy.yaml", text);
}

static const char good[] =
	"clients:\n"
	"  solana-adapter:\n"
	"    san_uri: spiffe://fan/solana-adapter\n"
	"  polygon-adapter:\n"
	"    cn: polygon-adapter\n"
	"  pinned:\n"
	"    spki_sha256: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	"grants:\n"
	"  - client: solana-adapter\n"
	"    key: solana-dev\n"
	"    operations: [create_organization, dev]\n"
	"  - client: local\n"
	"    key: polygon-dev\n"
	"    operations: [dev]\n";

static struct policy_peer peer_of(const char *uri, const char *cn, const uint8_t *pin)
{
	return (struct policy_peer){.san_uri = uri,
				    .san_uri_len = uri != NULL ? strlen(uri) : 0,
				    .cn = cn,
				    .cn_len = cn != NULL ? strlen(cn) : 0,
				    .spki_sha256 = pin};
}

static void test_identify_and_authorize(void **state)
{
	struct policy *p;
	const char *rule;
	uint8_t spki[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
			    0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
			    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	uint8_t other[32] = {0};
	struct policy_peer peer;

	(void)state;
	assert_sg_ok(policy_load(write_policy(good), &p));
	assert_int_equal(policy_client_count(p), 3);
	assert_int_equal(policy_grant_count(p), 2);

	peer = peer_of("spiffe://fan/solana-adapter", "whatever", other);
	assert_string_equal(policy_client_for(p, &peer), "solana-adapter");
	peer = peer_of(NULL, "polygon-adapter", other);
	assert_string_equal(policy_client_for(p, &peer), "polygon-adapter");
	peer = peer_of("spiffe://fan/other", "other", spki);
	assert_string_equal(policy_client_for(p, &peer), "pinned");
	peer = peer_of("spiffe://fan/other", "solana-adapter", other);
	assert_null(policy_client_for(p, &peer)); /* a CN is not a SAN URI */
	/* names are compared as their lengths say: what follows a NUL, or a prefix, is not the
	 * name */
	peer = (struct policy_peer){.san_uri = "spiffe://fan/solana-adapter\0evil",
				    .san_uri_len = sizeof("spiffe://fan/solana-adapter\0evil") - 1,
				    .spki_sha256 = other};
	assert_null(policy_client_for(p, &peer));
	peer = (struct policy_peer){.san_uri = "spiffe://fan/solana-adapter",
				    .san_uri_len = strlen("spiffe://fan/solana-adapte"),
				    .spki_sha256 = other};
	assert_null(policy_client_for(p, &peer));
	peer = (struct policy_peer){.cn = "polygon-adapter\0x", .cn_len = 17, .spki_sha256 = other};
	assert_null(policy_client_for(p, &peer));

	assert_sg_ok(policy_authorize(p, "solana-adapter", "solana-dev", "dev", &rule));
	assert_string_equal(rule, "grants[0] line 9");
	assert_int_equal(
		policy_authorize(p, "solana-adapter", "solana-dev", "create_organization", &rule),
		0);
	assert_sg_ok(policy_authorize(p, "local", "polygon-dev", "dev", &rule));
	assert_string_equal(rule, "grants[1] line 12");
	/* default deny: another key, another operation, another client */
	assert_int_equal(policy_authorize(p, "solana-adapter", "polygon-dev", "dev", &rule),
			 SG_ERR_PERMISSION);
	assert_null(rule);
	assert_int_equal(policy_authorize(p, "solana-adapter", "solana-dev", "mint", &rule),
			 SG_ERR_PERMISSION);
	assert_int_equal(policy_authorize(p, "pinned", "solana-dev", "dev", &rule),
			 SG_ERR_PERMISSION);
	assert_int_equal(policy_authorize(p, "local", "solana-dev", "dev", &rule),
			 SG_ERR_PERMISSION);
	assert_non_null(strstr(sg_errmsg(SG_ERR_PERMISSION), "client 'local' has no grant"));
	policy_free(p);

	/* an empty policy allows nothing */
	assert_sg_ok(policy_load(write_policy("{}\n"), &p));
	assert_int_equal(policy_authorize(p, "local", "polygon-dev", "dev", &rule),
			 SG_ERR_PERMISSION);
	policy_free(p);
}

static void test_lint_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *words;
	} cases[] = {
		{.text = "clients: {}\ngrant: []\n", .line = 2, .words = "unknown field 'grant'"},
		/* a second document is refused, be it broken or another set of grants */
		{.text = "clients: {}\ngrants: []\n---\ngrants: [ : : {{{\n",
		 .line = 4,
		 .words = ""},
		{.text = "clients: {}\ngrants: []\n---\ngrants:\n  - {client: a, key: k, "
			 "operations: [x]}\n",
		 .line = 3,
		 .words = "a second YAML document"},
		{.text = "clients:\n  a:\n    cn: x\n    colour: red\n",
		 .line = 4,
		 .words = "unknown field 'colour'"},
		{.text = "clients:\n  a:\n    cn: x\n    san_uri: u:x\n",
		 .line = 3,
		 .words = "exactly one of"},
		{.text = "clients:\n  a: {}\n", .line = 2, .words = "exactly one of"},
		{.text = "clients:\n  Bad:\n    cn: x\n", .line = 2, .words = "client name 'Bad'"},
		{.text = "clients:\n  local:\n    cn: x\n",
		 .line = 2,
		 .words = "'local' is the console operator"},
		{.text = "clients:\n  a:\n    san_uri: no-scheme\n",
		 .line = 3,
		 .words = "a URI has a scheme"},
		{.text = "clients:\n  a:\n    spki_sha256: abcd\n",
		 .line = 3,
		 .words = "64 hex digits"},
		/* what a certificate's name cannot hold can never match a peer */
		{.text = "clients:\n  a:\n    san_uri: \"spiffe://x/a\\0evil\"\n",
		 .line = 3,
		 .words = "NUL"},
		{.text = "clients:\n  a:\n    san_uri: \"spiffe://x/a b\"\n",
		 .line = 3,
		 .words = "without spaces"},
		{.text = "clients:\n  a:\n    san_uri: \"spiffe://x/\\u00e9\"\n",
		 .line = 3,
		 .words = "printable ASCII"},
		{.text = "clients:\n  a:\n    cn: \"a\\x01b\"\n",
		 .line = 3,
		 .words = "printable ASCII"},
		{.text = "clients:\n  a:\n    cn: x\n  b:\n    cn: x\n",
		 .line = 4,
		 .words = "match the same peer"},
		{.text = "clients:\n  a:\n    cn: x\n  a:\n    cn: y\n",
		 .line = 4,
		 .words = "defined twice"},
		{.text = "grants:\n  - client: ghost\n    key: k\n    operations: [dev]\n",
		 .line = 2,
		 .words = "client 'ghost' is not defined"},
		{.text = "grants:\n  - client: local\n    key: Bad_Key\n    operations: [dev]\n",
		 .line = 3,
		 .words = "key name 'Bad_Key'"},
		{.text = "grants:\n  - client: local\n    key: k\n",
		 .line = 2,
		 .words = "needs operations"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: []\n",
		 .line = 4,
		 .words = "needs operations"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: [dev, dev]\n",
		 .line = 4,
		 .words = "listed twice"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: ['bad op']\n",
		 .line = 4,
		 .words = "operation 'bad op'"},
		{.text = "grants:\n  - key: k\n    operations: [dev]\n",
		 .line = 2,
		 .words = "needs a client"},
		{.text = "grants:\n  - client: local\n    operations: [dev]\n",
		 .line = 2,
		 .words = "needs a key"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: [dev]\n    "
			 "extra: 1\n",
		 .line = 5,
		 .words = "unknown field 'extra'"},
		{.text = "grants: {}\n", .line = 1, .words = "grants must be a list"},
		{.text = "clients: []\n", .line = 1, .words = "clients must be a mapping"},
		{.text = "clients:\n  a:\n    cn: [x]\n", .line = 3, .words = "single value"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: [dev\n",
		 .line = 5,
		 .words = ""},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: "
			 "[dev]\nrate_limits:\n"
			 "  - client: ghost\n    operation: dev\n    per_minute: 1\n",
		 .line = 6,
		 .words = "client 'ghost' is not defined"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: "
			 "[dev]\nrate_limits:\n"
			 "  - client: local\n    operation: mint\n    per_minute: 1\n",
		 .line = 7,
		 .words = "operation 'mint' is not named"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: "
			 "[dev]\nrate_limits:\n"
			 "  - client: local\n    operation: dev\n    per_minute: 0\n",
		 .line = 8,
		 .words = "per_minute must be a whole number from 1"},
		{.text = "grants:\n  - client: local\n    key: k\n    operations: "
			 "[dev]\nrate_limits:\n"
			 "  - client: local\n    operation: dev\n    per_minute: 1\n"
			 "  - client: local\n    operation: dev\n    per_minute: 2\n",
		 .line = 9,
		 .words = "already given"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy *p = NULL;
		const char *path = write_policy(cases[i].text);
		char prefix[300];
		const char *msg;

		if (policy_load(path, &p) != SG_ERR_CONFIG)
			fail_msg("case %zu was not refused", i);
		assert_null(p);
		msg = sg_errmsg(SG_ERR_CONFIG);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(msg, prefix, strlen(prefix)) != 0 ||
		    strstr(msg, cases[i].words) == NULL)
			fail_msg("case %zu: got '%s', want '%s...%s'", i, msg, prefix,
				 cases[i].words);
	}
}

/* the policy decides who signs what: nobody but its owner may change the file */
static void test_writable_by_others(void **state)
{
	struct policy *p = NULL;
	const char *path = write_policy("{}\n");

	(void)state;
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(policy_load(path, &p), SG_ERR_PERMISSION);
	assert_null(p);
	assert_non_null(strstr(sg_errmsg(SG_ERR_PERMISSION), "policy file"));
	assert_non_null(strstr(sg_errmsg(SG_ERR_PERMISSION), "mode 0664"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_sg_ok(policy_load(path, &p));
	policy_free(p);
}

static void test_missing(void **state)
{
	struct policy *p;

	(void)state;
	assert_int_equal(policy_load("/nonexistent/policy.yaml", &p), SG_ERR_NOT_FOUND);
	assert_non_null(strstr(sg_errmsg(SG_ERR_NOT_FOUND), "policy file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identify_and_authorize),
		cmocka_unit_test(test_lint_errors),
		cmocka_unit_test(test_writable_by_others),
		cmocka_unit_test(test_missing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
