/* The metrics text: label values escaped, counters and histograms as the text format wants
 * them, and the cap on label sets. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"

static void test_escaping(void **state)
{
	struct metrics_text t = {0};

	(void)state;
	metrics_label(&t, "plain \\ \"quoted\"\nnext");
	assert_string_equal(t.data, "plain \\\\ \\\"quoted\\\"\\nnext");
	free(t.data);
}

static void test_families(void **state)
{
	struct metrics_text t = {0};

	(void)state;
	metrics_init();
	metrics_sign_request("a\"b", "k", "op", "evm", "signed");
	metrics_sign_request("a\"b", "k", "op", "evm", "signed");
	metrics_sign_duration("evm", 0.003);
	metrics_tls_handshake_failure("expired");
	metrics_render(&t);
	assert_non_null(strstr(t.data, "# TYPE signer_sign_requests_total counter\n"));
	assert_non_null(strstr(t.data, "signer_sign_requests_total{client=\"a\\\"b\",key=\"k\","
				       "operation=\"op\",chain=\"evm\",status=\"signed\"} 2\n"));
	assert_non_null(strstr(
		t.data, "signer_sign_duration_seconds_bucket{chain=\"evm\",le=\"0.0025\"} 0\n"));
	assert_non_null(strstr(
		t.data, "signer_sign_duration_seconds_bucket{chain=\"evm\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(
		t.data, "signer_sign_duration_seconds_bucket{chain=\"evm\",le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(t.data, "signer_sign_duration_seconds_count{chain=\"evm\"} 1\n"));
	assert_non_null(
		strstr(t.data, "signer_tls_handshake_failures_total{reason=\"expired\"} 1\n"));
	assert_true(metrics_start_time() > 1.7e9);
	free(t.data);
}

/* clients cannot grow the label sets without end: past the cap, one "other" series */
static void test_cap(void **state)
{
	struct metrics_text t = {0};
	char name[32];
	size_t series = 0;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "reason-%d", i);
		metrics_tls_handshake_failure(name);
	}
	metrics_render(&t);
	for (char *p = t.data; (p = strstr(p, "\nsigner_tls_handshake_failures_total{")) != NULL;
	     p++)
		series++;
	assert_true(series <= 4096);
	assert_non_null(strstr(t.data, "signer_tls_handshake_failures_total{reason=\"other\"}"));
	free(t.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
