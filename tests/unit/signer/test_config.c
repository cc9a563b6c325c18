/* signerd.yaml: what is read, and how each mistake is reported (FILE:LINE: message). */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signer/config.h"

static const char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir("config");
	return dir == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

static const char *write_config(const char *text)
{
	return tu_write_file("signerd.yaml", text);
}

static void test_valid(void **state)
{
	struct signer_config cfg;
	const char *path = write_config("token:\n"
					"  label: signerd-dev\n"
					"  pin_file: pin\n"
					"  environment:\n"
					"    SOFTHSM2_CONF: /x/softhsm2.conf\n"
					"workers: 4\n"
					"api:\n  listen: '[::1]:9443'\n"
					"ops:\n  listen: 0.0.0.0:9000\n"
					"audit:\n  path: audit.log\n");
	char want[300];

	(void)state;
	assert_sg_ok(signer_config_load(path, &cfg));
	assert_string_equal(cfg.token.label, "signerd-dev");
	snprintf(want, sizeof(want), "%s/pin", dir); /* relative to the config file */
	assert_string_equal(cfg.token.pin_file, want);
	assert_string_equal(cfg.token.module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_int_equal(cfg.token.n_env, 1);
	assert_string_equal(cfg.token.env[0].name, "SOFTHSM2_CONF");
	assert_string_equal(cfg.token.env[0].value, "/x/softhsm2.conf");
	assert_int_equal(cfg.workers, 4);
	assert_string_equal(cfg.api.host, "::1");
	assert_int_equal(cfg.api.port, 9443);
	assert_string_equal(cfg.ops.host, "0.0.0.0");
	assert_int_equal(cfg.ops.port, 9000);
	snprintf(want, sizeof(want), "%s/audit.log", dir);
	assert_string_equal(cfg.audit.path, want);
	signer_config_free(&cfg);
}

static void test_credentials_directory(void **state)
{
	struct signer_config cfg;
	const char *path = write_config("token:\n  label: t\n  pin_credential: token-pin\n");

	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(signer_config_load(path, &cfg), SG_ERR_CONFIG);
	assert_non_null(strstr(sg_errmsg(SG_ERR_CONFIG), "CREDENTIALS_DIRECTORY"));
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/signerd.service", 1);
	assert_sg_ok(signer_config_load(path, &cfg));
	assert_string_equal(cfg.token.pin_file, "/run/credentials/signerd.service/token-pin");
	assert_int_equal(cfg.workers, 2);
	/* the listeners of API.md by default */
	assert_string_equal(cfg.api.host, "127.0.0.1");
	assert_int_equal(cfg.api.port, 8443);
	assert_int_equal(cfg.ops.port, 9810);
	signer_config_free(&cfg);
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* signerctl --pin-file: the PIN from the given file, a credential without $CREDENTIALS_DIRECTORY;
 * the config's own PIN source is still checked. */
static void test_pin_override(void **state)
{
	struct signer_config cfg;
	const char *path = write_config("token:\n  label: t\n  pin_credential: token-pin\n");

	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_sg_ok(signer_config_load_pin(path, "/tmp/operator-pin", &cfg));
	assert_string_equal(cfg.token.pin_file, "/tmp/operator-pin");
	signer_config_free(&cfg);
	path = write_config("token:\n  label: t\n  pin_file: pin\n");
	assert_sg_ok(signer_config_load_pin(path, "relative-pin", &cfg));
	assert_string_equal(cfg.token.pin_file, "relative-pin"); /* as given, not beside the file */
	signer_config_free(&cfg);
	path = write_config("token:\n  label: t\n  pin_credential: a/b\n");
	assert_int_equal(signer_config_load_pin(path, "/tmp/operator-pin", &cfg), SG_ERR_CONFIG);
	assert_non_null(strstr(sg_errmsg(SG_ERR_CONFIG), "not a path"));
	path = write_config("token:\n  label: t\n");
	assert_int_equal(signer_config_load_pin(path, "/tmp/operator-pin", &cfg), SG_ERR_CONFIG);
	assert_non_null(strstr(sg_errmsg(SG_ERR_CONFIG), "exactly one of pin_file"));
}

/* Each bad file, and the line and words its error must carry. */
static void test_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *words;
	} cases[] = {
		{.text = "token:\n  label: t\n  pin_file: p\nceremonies:\n  gnupg_home: g\n  "
			 "custodians:\n"
			 "    alice: \"1234\"\n  quorum: {default: 1}\n",
		 .line = 7,
		 .words = "is not a 40-hex-digit OpenPGP fingerprint"},
		{.text = "token:\n  label: t\n  pin_file: p\nceremonies:\n  gnupg_home: g\n  "
			 "custodians:\n"
			 "    alice: \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n"
			 "    bob: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n  quorum: "
			 "{default: 1}\n",
		 .line = 8,
		 .words = "each custodian counts once"},
		{.text = "token:\n  label: t\n  pin_file: p\nceremonies:\n  gnupg_home: g\n  "
			 "custodians:\n"
			 "    alice: \"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\"\n  quorum: "
			 "{default: 1, default: 1}\n",
		 .line = 8,
		 .words = "the default quorum is given twice"},
		{.text = "token:\n  label: t\n  pin_file: p\nceremonies:\n  gnupg_home: g\n  "
			 "custodians:\n"
			 "    alice: \"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\"\n  quorum: "
			 "{default: 1, key-sign: 1, key-sign: 1}\n",
		 .line = 8,
		 .words = "the quorum of key-sign is given twice"},
		{.text = "token:\n  label: t\n  pin_file: p\nceremonies:\n  gnupg_home: g\n  "
			 "custodians:\n"
			 "    alice: \"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\"\n  quorum: "
			 "{default: 2}\n",
		 .line = 8,
		 .words = "a quorum must be a whole number from 1 to 1"},
		{.text = "token:\n  label: t\n  pin_file: p\n  colour: blue\n",
		 .line = 4,
		 .words = "unknown field 'colour'"},
		{.text = "token:\n  label: t\n  pin_file: p\nextra: 1\n",
		 .line = 4,
		 .words = "unknown field 'extra'"},
		{.text = "token:\n  label: t\n  label: u\n  pin_file: p\n",
		 .line = 3,
		 .words = "appears twice"},
		{.text = "token:\n  pin_file: p\n", .line = 2, .words = "token.label is missing"},
		{.text = "token:\n  label: t\n",
		 .line = 2,
		 .words = "exactly one of pin_file and pin_credential"},
		{.text = "token:\n  label: t\n  pin_file: p\n  pin_credential: c\n",
		 .line = 2,
		 .words = "exactly one"},
		{.text = "token:\n  label: t\n  pin_file: p\nworkers: 0\n",
		 .line = 4,
		 .words = "from 1 to 256"},
		{.text = "token:\n  label: t\n  pin_file: p\nworkers: many\n",
		 .line = 4,
		 .words = "whole number"},
		{.text = "token:\n  label: t\n  pin_file: [a, b]\n",
		 .line = 3,
		 .words = "single value"},
		{.text = "token:\n  label: abcdefghijklmnopqrstuvwxyz0123456789\n  pin_file: p\n",
		 .line = 2,
		 .words = "longer than 32"},
		{.text = "workers: 2\n", .line = 1, .words = "token section is missing"},
		{.text = "token: [1, 2]\n", .line = 1, .words = "token must be a mapping"},
		{.text = "token:\n  label: t\n  pin_file: p\n  environment:\n    A=B: c\n",
		 .line = 5,
		 .words = "not an environment variable name"},
		{.text = "token:\n  label: 't\n",
		 .line = 3,
		 .words = "found unexpected end of stream"},
		{.text = "token:\n  label: t\n  pin_file: p\n  environment:\n    A: b\n    A: c\n",
		 .line = 6,
		 .words = "'A' appears twice"},
		{.text = "", .line = 1, .words = "empty"},
		{.text = "token:\n  label: t\n  pin_file: p\napi:\n  listen: 127.0.0.1\n",
		 .line = 5,
		 .words = "host:port"},
		{.text = "token:\n  label: t\n  pin_file: p\napi:\n  listen: ':8443'\n",
		 .line = 5,
		 .words = "host:port"},
		{.text = "token:\n  label: t\n  pin_file: p\nops:\n  listen: ::1:9810\n",
		 .line = 5,
		 .words = "host:port"},
		{.text = "token:\n  label: t\n  pin_file: p\nops:\n  listen: h:70000\n",
		 .line = 5,
		 .words = "1 to 65535"},
		{.text = "token:\n  label: t\n  pin_file: p\nops:\n  listen: h:-1\n",
		 .line = 5,
		 .words = "1 to 65535"},
		{.text = "token:\n  label: t\n  pin_file: p\nops:\n  port: 1\n",
		 .line = 5,
		 .words = "unknown field 'port'"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct signer_config cfg;
		const char *path = write_config(cases[i].text);
		char prefix[300];
		const char *msg;

		if (signer_config_load(path, &cfg) != SG_ERR_CONFIG)
			fail_msg("case %zu was not refused as a config error", i);
		msg = sg_errmsg(SG_ERR_CONFIG);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(msg, prefix, strlen(prefix)) != 0 ||
		    strstr(msg, cases[i].words) == NULL)
			fail_msg("case %zu: got '%s', want '%s...%s'", i, msg, prefix,
				 cases[i].words);
	}
}

static void test_missing_file(void **state)
{
	struct signer_config cfg;

	(void)state;
	assert_int_equal(signer_config_load("/nonexistent/signerd.yaml", &cfg), SG_ERR_NOT_FOUND);
	assert_non_null(strstr(sg_errmsg(SG_ERR_NOT_FOUND), "/nonexistent/signerd.yaml"));
}

static void test_writable_by_others(void **state)
{
	struct signer_config cfg;
	const char *path = write_config("token:\n  label: t\n  pin_file: p\n");

	(void)state;
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(signer_config_load(path, &cfg), SG_ERR_PERMISSION);
	assert_non_null(strstr(sg_errmsg(SG_ERR_PERMISSION), "mode 0664"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_sg_ok(signer_config_load(path, &cfg));
	signer_config_free(&cfg);
}

static void test_config_path(void **state)
{
	(void)state;
	unsetenv("SIGNER_CONFIG");
	assert_string_equal(signer_config_path(NULL), "/etc/signerd/signerd.yaml");
	setenv("SIGNER_CONFIG", "/env/signerd.yaml", 1);
	assert_string_equal(signer_config_path(NULL), "/env/signerd.yaml");
	assert_string_equal(signer_config_path("/arg.yaml"), "/arg.yaml");
	unsetenv("SIGNER_CONFIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),        cmocka_unit_test(test_credentials_directory),
		cmocka_unit_test(test_pin_override), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file), cmocka_unit_test(test_writable_by_others),
		cmocka_unit_test(test_config_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
