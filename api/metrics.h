/* Prometheus metrics of signerd: counters and histograms kept here, gauges read at scrape time.
 * Label values are escaped; the number of label sets per family is capped (past the cap, new
 * sets are counted under the value "other"), so that clients cannot grow memory without end. */
#ifndef SIGNER_API_METRICS_H
#define SIGNER_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics_text {
	char *data;
	size_t len;
	size_t cap;
};

void metrics_init(void);
double metrics_start_time(void);
void metrics_sign_request(const char *client, const char *key, const char *operation,
			  const char *chain, const char *status);
void metrics_sign_duration(const char *chain, double seconds);
void metrics_hsm_sign_duration(const char *chain, double seconds);
void metrics_policy_eval_duration(double seconds);
void metrics_policy_denial(const char *client, const char *operation, const char *reason);
void metrics_tls_handshake_failure(const char *reason);

/* Appends the families kept here, in the text format 0.0.4. */
void metrics_render(struct metrics_text *out);

/* Helpers for the gauges the caller adds. */
void metrics_printf(struct metrics_text *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes value escaped for a label: backslash, double quote and newline. */
void metrics_label(struct metrics_text *out, const char *value);

#endif
