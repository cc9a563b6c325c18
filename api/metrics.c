#include "api/metrics.h"
#include "common/jsonw.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_SERIES_MAX 4096
#define METRICS_BUCKETS    14

static const double metrics_bounds[METRICS_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

struct series {
	char *labels; /* rendered: client="a",key="b" */
	double value; /* counters */
	uint64_t buckets[METRICS_BUCKETS];
	uint64_t count;
	double sum;
};

struct family {
	const char *name;
	const char *help;
	bool histogram;
	struct series *series;
	size_t n, cap;
};

static struct family f_sign_requests = {
	.name = "signer_sign_requests_total",
	.help = "Sign requests by client, key, operation, chain and outcome.",
	.histogram = false};
static struct family f_sign_duration = {
	.name = "signer_sign_duration_seconds",
	.help = "Whole sign requests, from the request to the answer.",
	.histogram = true};
static struct family f_hsm_duration = {.name = "signer_hsm_sign_duration_seconds",
				       .help = "The PKCS#11 signing call alone.",
				       .histogram = true};
static struct family f_policy_duration = {.name = "signer_policy_eval_duration_seconds",
					  .help = "Policy evaluation per sign request.",
					  .histogram = true};
static struct family f_policy_denials = {
	.name = "signer_policy_denials_total",
	.help = "Sign requests the policy refused, by client, operation "
		"and reason.",
	.histogram = false};
static struct family f_tls_failures = {.name = "signer_tls_handshake_failures_total",
				       .help = "TLS connections refused, by reason.",
				       .histogram = false};

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;

void metrics_printf(struct metrics_text *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = out->cap - out->len;

		va_start(ap, fmt);
		n = vsnprintf(out->data + out->len, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			out->len += (size_t)n;
			return;
		}
		{
			size_t cap = out->cap == 0 ? 8192 : out->cap * 2;
			char *grown;

			while (cap - out->len <= (size_t)n)
				cap *= 2;
			grown = realloc(out->data, cap);
			if (grown == NULL)
				return;
			out->data = grown;
			out->cap = cap;
		}
	}
}

void metrics_label(struct metrics_text *out, const char *value)
{
	const char *p = value;

	while (*p != '\0') {
		size_t run = strcspn(p, "\\\"\n");

		if (run > 0)
			metrics_printf(out, "%.*s", (int)run, p);
		p += run;
		if (*p == '\\')
			metrics_printf(out, "\\\\");
		else if (*p == '"')
			metrics_printf(out, "\\\"");
		else if (*p == '\n')
			metrics_printf(out, "\\n");
		if (*p != '\0')
			p++;
	}
}

/* Renders name="value" pairs (NULL-terminated list of name, value) into w (escaped as
 * metrics_label does); in w's own buffer, without a malloc, for the usual few labels. */
static void metrics_labels_into(struct jsonw *w, const char *const *kv)
{
	for (size_t i = 0; kv[i] != NULL; i += 2) {
		const char *p = kv[i + 1] != NULL ? kv[i + 1] : "";

		if (i > 0)
			jsonw_append(w, ",", 1);
		jsonw_append(w, kv[i], strlen(kv[i]));
		jsonw_append(w, "=\"", 2);
		while (*p != '\0') {
			size_t run = strcspn(p, "\\\"\n");

			jsonw_append(w, p, run);
			p += run;
			if (*p == '\\')
				jsonw_append(w, "\\\\", 2);
			else if (*p == '"')
				jsonw_append(w, "\\\"", 2);
			else if (*p == '\n')
				jsonw_append(w, "\\n", 2);
			if (*p != '\0')
				p++;
		}
		jsonw_append(w, "\"", 1);
	}
}

/* The same, malloc'd (NULL when out of memory). */
static char *metrics_labels(const char *const *kv)
{
	struct jsonw w;
	char *out;

	jsonw_init(&w);
	metrics_labels_into(&w, kv);
	out = w.failed ? NULL : strdup(w.buf);
	jsonw_free(&w);
	return out;
}

/* The series with these labels, created if there is room; with metrics_mu held. */
static struct series *metrics_series(struct family *f, const char *const *kv)
{
	struct jsonw w;
	char *labels;
	struct series *s;

	/* found: no allocation at all (the request path's case) */
	jsonw_init(&w);
	metrics_labels_into(&w, kv);
	for (size_t i = 0; !w.failed && i < f->n; i++) {
		if (strcmp(f->series[i].labels, w.buf) == 0) {
			jsonw_free(&w);
			return &f->series[i];
		}
	}
	labels = w.failed ? NULL : strdup(w.buf);
	jsonw_free(&w);
	if (labels == NULL)
		return NULL;
	if (f->n == METRICS_SERIES_MAX) {
		/* the cap: everything new is counted in one "other" series */
		const char *other[] = {kv[0], "other", NULL};

		free(labels);
		labels = metrics_labels(other);
		for (size_t i = 0; labels != NULL && i < f->n; i++)
			if (strcmp(f->series[i].labels, labels) == 0) {
				free(labels);
				return &f->series[i];
			}
		if (labels == NULL)
			return NULL;
		f->n--; /* reuse the last slot for "other" */
		free(f->series[f->n].labels);
	}
	if (f->n == f->cap) {
		size_t cap = f->cap == 0 ? 16 : f->cap * 2;
		struct series *grown = realloc(f->series, cap * sizeof(*grown));

		if (grown == NULL) {
			free(labels);
			return NULL;
		}
		f->series = grown;
		f->cap = cap;
	}
	s = &f->series[f->n++];
	memset(s, 0, sizeof(*s));
	s->labels = labels;
	return s;
}

static void metrics_count(struct family *f, const char *const *kv)
{
	struct series *s;

	pthread_mutex_lock(&metrics_mu);
	s = metrics_series(f, kv);
	if (s != NULL)
		s->value += 1;
	pthread_mutex_unlock(&metrics_mu);
}

static void metrics_observe(struct family *f, const char *const *kv, double v)
{
	struct series *s;

	pthread_mutex_lock(&metrics_mu);
	s = metrics_series(f, kv);
	if (s != NULL) {
		for (int i = 0; i < METRICS_BUCKETS; i++)
			if (v <= metrics_bounds[i])
				s->buckets[i]++;
		s->count++;
		s->sum += v;
	}
	pthread_mutex_unlock(&metrics_mu);
}

static double metrics_started;

/* When the process started: taken at start-up, so that no /proc/stat is needed (systemd's
 * ProcSubset=pid hides it). */
void metrics_init(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	metrics_started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double metrics_start_time(void)
{
	return metrics_started;
}

void metrics_sign_request(const char *client, const char *key, const char *operation,
			  const char *chain, const char *status)
{
	const char *kv[] = {"client", client, "key",    key,    "operation", operation,
			    "chain",  chain,  "status", status, NULL};

	metrics_count(&f_sign_requests, kv);
}

void metrics_sign_duration(const char *chain, double seconds)
{
	const char *kv[] = {"chain", chain, NULL};

	metrics_observe(&f_sign_duration, kv, seconds);
}

void metrics_hsm_sign_duration(const char *chain, double seconds)
{
	const char *kv[] = {"chain", chain, NULL};

	metrics_observe(&f_hsm_duration, kv, seconds);
}

void metrics_policy_eval_duration(double seconds)
{
	const char *kv[] = {NULL};

	metrics_observe(&f_policy_duration, kv, seconds);
}

void metrics_policy_denial(const char *client, const char *operation, const char *reason)
{
	const char *kv[] = {"client", client, "operation", operation, "reason", reason, NULL};

	metrics_count(&f_policy_denials, kv);
}

void metrics_tls_handshake_failure(const char *reason)
{
	const char *kv[] = {"reason", reason, NULL};

	metrics_count(&f_tls_failures, kv);
}

static void metrics_render_family(struct metrics_text *out, struct family *f)
{
	metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		       f->histogram ? "histogram" : "counter");
	for (size_t i = 0; i < f->n; i++) {
		struct series *s = &f->series[i];
		const char *sep = s->labels[0] != '\0' ? "," : "";

		if (!f->histogram) {
			metrics_printf(out, "%s{%s} %.17g\n", f->name, s->labels, s->value);
			continue;
		}
		for (int b = 0; b < METRICS_BUCKETS; b++)
			metrics_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, s->labels,
				       sep, metrics_bounds[b], (unsigned long long)s->buckets[b]);
		metrics_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
			       (unsigned long long)s->count);
		metrics_printf(out, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", f->name, s->labels,
			       s->sum, f->name, s->labels, (unsigned long long)s->count);
	}
}

void metrics_render(struct metrics_text *out)
{
	pthread_mutex_lock(&metrics_mu);
	metrics_render_family(out, &f_sign_requests);
	metrics_render_family(out, &f_sign_duration);
	metrics_render_family(out, &f_hsm_duration);
	metrics_render_family(out, &f_policy_duration);
	metrics_render_family(out, &f_policy_denials);
	metrics_render_family(out, &f_tls_failures);
	pthread_mutex_unlock(&metrics_mu);
}
