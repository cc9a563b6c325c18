/* The audit log's commit path alone, in one process, on the disk the log is on: THREADS threads
 * play signerd's workers (each takes one of SESSIONS token sessions and spends SIGN_US of CPU
 * as a signature would, then appends the signature's record and waits for it to be durable),
 * in three ways interleaved per round:
 *   jansson   the record built as a jansson object and dumped (audit_append, as before)
 *   direct    the record written straight into a buffer (common/jsonw.h, audit_append_members)
 *   gather    direct, with the record announced before its signature (audit_announce), so that
 *             a sync waits for those at the token (audit_append_announced)
 * and prints, per way, the median over ROUNDS of: records/s, the commit path's CPU per record
 * (the process's CPU, less the simulated signatures', per record), records per fdatasync and
 * the p50/p99 of a record's append (from its call to its return).
 * Usage: bench_audit DIR [SECONDS (3) [ROUNDS (3)]] */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bench_util.h"
#include "common/jsonw.h"
#include "signer/audit.h"

#define THREADS     4
#define SESSIONS    2
#define SIGN_US     300
#define MAX_SAMPLES 200000
#define ROUNDS_MAX  9

enum way { WAY_JANSSON, WAY_DIRECT, WAY_GATHER, WAYS };
static const char *const way_names[WAYS] = {"jansson", "direct", "gather"};

struct run {
	struct audit_log *log;
	enum way way;
	double end;
	sem_t sessions;
	pthread_mutex_t mu;
	double spin_cpu; /* CPU the simulated signatures took */
	double *lat;
	size_t n_lat;
	unsigned long records;
	int errors;
};

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A signature's fields, as signer/door.c's record has them. */
static const char *const fields[][2] = {
	{"request_id", "bench-0000000001"},
	{"client", "polygon-adapter"},
	{"peer", "spiffe://signerd-dev/polygon-adapter"},
	{"key", "polygon-dev"},
	{"operation", "dev"},
	{"chain", "evm"},
	{"payload", "evm_message"},
	{"payload_sha256", "185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969"},
	{"decision", "signed"},
};

static int append_one(struct run *r)
{
	char id[AUDIT_ID_LEN + 1];
	int rc;

	if (r->way == WAY_JANSSON) {
		json_t *rec = json_object();

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			json_object_set_new(rec, fields[i][0], json_string(fields[i][1]));
		json_object_set_new(rec, "key_version", json_integer(1));
		json_object_set_new(rec, "reason", json_null());
		json_object_set_new(rec, "policy_generation", json_integer(0));
		json_object_set_new(
			rec, "signature_sha256",
			json_string("9d8599a1efc7d7b7f8eecf092740bd03fc7576e3235b0081822c"
				    "76f4b9fbb1c4"));
		rc = audit_append(r->log, rec, id);
		json_decref(rec);
		return rc;
	}
	struct jsonw w;

	jsonw_init(&w);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		jsonw_str(&w, fields[i][0], fields[i][1]);
	jsonw_int(&w, "key_version", 1);
	jsonw_null(&w, "reason");
	jsonw_int(&w, "policy_generation", 0);
	jsonw_str(&w, "signature_sha256",
		  "9d8599a1efc7d7b7f8eecf092740bd03fc7576e3235b0081822c76f4b9fbb1c4");
	rc = r->way == WAY_GATHER
		     ? audit_append_announced(r->log, w.buf, w.len, NULL, NULL, id)
		     : audit_append_members(r->log, w.buf, w.len, NULL, NULL, NULL, id);
	jsonw_free(&w);
	return rc;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	double spin = 0;
	unsigned long n = 0;

	while (now_s(CLOCK_MONOTONIC) < r->end) {
		double c0, t0, t1;
		int rc;

		if (r->way == WAY_GATHER)
			audit_announce(r->log);
		sem_wait(&r->sessions);
		c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
		while (now_s(CLOCK_THREAD_CPUTIME_ID) - c0 < SIGN_US / 1e6) {
		}
		spin += now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		sem_post(&r->sessions);
		t0 = now_s(CLOCK_MONOTONIC);
		rc = append_one(r);
		t1 = now_s(CLOCK_MONOTONIC);
		pthread_mutex_lock(&r->mu);
		if (rc != 0)
			r->errors++;
		if (r->n_lat < MAX_SAMPLES)
			r->lat[r->n_lat++] = t1 - t0;
		pthread_mutex_unlock(&r->mu);
		n++;
	}
	pthread_mutex_lock(&r->mu);
	r->spin_cpu += spin;
	r->records += n;
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct figures {
	double rate, cpu_us, per_sync, p50_ms, p99_ms;
};

static int one_run(const char *path, enum way way, double seconds, double *lat, struct figures *out)
{
	struct run r = {.way = way, .lat = lat};
	pthread_t t[THREADS];
	uint64_t s0, n0, s1, n1;
	double c0, c1, w0, w1;
	bool repaired;

	if (audit_open(path, &r.log, &repaired) != 0)
		return -1;
	sem_init(&r.sessions, 0, SESSIONS);
	pthread_mutex_init(&r.mu, NULL);
	audit_sync_stats(r.log, &s0, &n0);
	c0 = process_cpu();
	w0 = now_s(CLOCK_MONOTONIC);
	r.end = w0 + seconds;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, &r);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	w1 = now_s(CLOCK_MONOTONIC);
	c1 = process_cpu();
	audit_sync_stats(r.log, &s1, &n1);
	audit_close(r.log);
	qsort(lat, r.n_lat, sizeof(double), bench_cmp_double);
	out->rate = (double)r.records / (w1 - w0);
	out->cpu_us = r.records > 0 ? (c1 - c0 - r.spin_cpu) / (double)r.records * 1e6 : -1;
	out->per_sync = s1 > s0 ? (double)(n1 - n0) / (double)(s1 - s0) : -1;
	out->p50_ms = r.n_lat > 0 ? lat[r.n_lat / 2] * 1000 : -1;
	out->p99_ms = r.n_lat > 0 ? lat[(size_t)((double)r.n_lat * 0.99)] * 1000 : -1;
	sem_destroy(&r.sessions);
	pthread_mutex_destroy(&r.mu);
	if (r.errors > 0) {
		fprintf(stderr, "bench_audit: %d appends failed\n", r.errors);
		return -1;
	}
	return 0;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	double seconds = argc > 2 ? atof(argv[2]) : 3.0;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	struct figures f[WAYS][ROUNDS_MAX];
	double *lat = calloc(MAX_SAMPLES, sizeof(double));
	char path[4096];

	if (argc < 2 || rounds < 1 || rounds > ROUNDS_MAX || seconds <= 0 || lat == NULL) {
		fprintf(stderr, "usage: bench_audit DIR [SECONDS (3) [ROUNDS (3, 1-%d)]]\n",
			ROUNDS_MAX);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/audit.log", argv[1]);
	printf("audit commit path: %d threads, %d token sessions, %d us of CPU per simulated "
	       "signature, %.0f s per run, %d round(s), log %s\n",
	       THREADS, SESSIONS, SIGN_US, seconds, rounds, path);
	printf("#  way      records/s  us/record  records/sync  p50 ms  p99 ms\n");
	for (int i = 0; i < rounds; i++)
		for (int w = 0; w < WAYS; w++) {
			if (one_run(path, (enum way)w, seconds, lat, &f[w][i]) != 0) {
				fprintf(stderr, "bench_audit: %s: the run failed\n", way_names[w]);
				return 1;
			}
			printf("%d  %-8s %10.0f %10.1f %13.2f %7.2f %7.2f\n", i + 1, way_names[w],
			       f[w][i].rate, f[w][i].cpu_us, f[w][i].per_sync, f[w][i].p50_ms,
			       f[w][i].p99_ms);
		}
	printf("medians    records/s  us/record  records/sync  p50 ms  p99 ms\n");
	for (int w = 0; w < WAYS; w++) {
		double v[5][ROUNDS_MAX];

		for (int i = 0; i < rounds; i++) {
			v[0][i] = f[w][i].rate;
			v[1][i] = f[w][i].cpu_us;
			v[2][i] = f[w][i].per_sync;
			v[3][i] = f[w][i].p50_ms;
			v[4][i] = f[w][i].p99_ms;
		}
		printf("   %-8s %10.0f %10.1f %13.2f %7.2f %7.2f\n", way_names[w],
		       median(v[0], rounds), median(v[1], rounds), median(v[2], rounds),
		       median(v[3], rounds), median(v[4], rounds));
	}
	free(lat);
	return 0;
}
