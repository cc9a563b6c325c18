/* bench_memory DIR CONFIG SIGNERD [SOAK_SECONDS (600) [IDLE (256)]]: signerd's memory.
 * 1. Idle connections: signerd started on CONFIG (its limits must allow IDLE connections from
 *    127.0.0.1 and keep them open: tools/bench memory writes such a copy), its RSS before and
 *    with IDLE kept-alive mTLS connections open and idle (each handshaken and one request
 *    answered), and after they close.
 * 2. A soak: the API paced at half the rate it reaches flat out, for SOAK_SECONDS, with RSS
 *    every tenth of it: the RSS at the start (after a first tenth, once caches and pools are
 *    warm) and at the end, and the growth per signed request between them.
 * 3. SoftHSM2 alone, in this process: heap growth (mallinfo2's bytes in use) per C_SignInit +
 *    C_Sign for Ed25519 and for
 *    secp256k1 (its known leak: part of the Ed25519 sign path is not freed), so that what
 *    is signerd's and what is the token's can be told apart.
 * DIR is the development environment (pki/ inside). A benchmark: it reports, it does not
 * judge. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "bench_client.h"
#include "bench_util.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "signer/config.h"

#define SOAK_CONNECTIONS 8
#define IDLE_MAX         4096

static const char *const evm_body = "{\"operation\":\"dev\",\"evm_message\":\"0x48656c6c6f\"}";

/* A line "FIELD: N kB" of /proc/PID/status, in KiB; -1 when unreadable. */
static long status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kib = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* VmRSS of pid in KiB; -1 when unreadable. */
static long rss_kib(pid_t pid)
{
	return status_kib(pid, "VmRSS");
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	nanosleep(&ts, NULL);
}

struct load {
	const char *dir;
	unsigned port;
	double interval; /* one connection's seconds between sends; 0: flat out */
	double end;
	atomic_ulong ok, errors;
};

static void *load_main(void *arg)
{
	struct load *l = arg;
	struct bench_conn c;
	char req[512];
	size_t len = (size_t)snprintf(req, sizeof(req),
				      "POST /v1/keys/polygon-dev/sign HTTP/1.1\r\nHost: "
				      "localhost\r\nContent-Type: application/json\r\n"
				      "Content-Length: %zu\r\n\r\n%s",
				      strlen(evm_body), evm_body);
	double next = time_monotonic_s();

	bench_conn_open(&c, l->dir, "polygon-adapter", l->port);
	while (c.up && time_monotonic_s() < l->end) {
		int r;

		if (l->interval > 0) {
			double wait = next - time_monotonic_s();

			if (wait > 0)
				sleep_s(wait);
			next += l->interval;
		}
		r = bench_conn_exchange(&c, req, len);
		if (r < 0) {
			atomic_fetch_add(&l->errors, 1);
			bench_conn_close(&c);
			bench_conn_open(&c, l->dir, "polygon-adapter", l->port);
			continue;
		}
		atomic_fetch_add(r == 1 ? &l->ok : &l->errors, 1);
	}
	if (!c.up)
		atomic_fetch_add(&l->errors, 1);
	bench_conn_close(&c);
	return NULL;
}

/* SOAK_CONNECTIONS connections for seconds; signed requests per second. */
static double load_run(struct load *l, double seconds)
{
	pthread_t t[SOAK_CONNECTIONS];
	double t0 = time_monotonic_s();

	atomic_store(&l->ok, 0);
	atomic_store(&l->errors, 0);
	l->end = t0 + seconds;
	for (int i = 0; i < SOAK_CONNECTIONS; i++)
		pthread_create(&t[i], NULL, load_main, l);
	for (int i = 0; i < SOAK_CONNECTIONS; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&l->ok) / (time_monotonic_s() - t0);
}

/* ---- SoftHSM2 alone ------------------------------------------------------------------------ */

/* Bytes this process has allocated and not freed (the heap's in-use bytes, mmapped chunks
 * included): a leak shows here even where freed memory would absorb it without RSS growing. */
static long heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long)(mi.uordblks + mi.hblkhd);
}

/* The development token, one session: what the growth measurements below open. */
static struct ks_config bench_ks_config(const struct signer_config *cfg)
{
	return (struct ks_config){.module_path = cfg->token.module,
				  .token_label = cfg->token.label,
				  .pin_file = cfg->token.pin_file,
				  .sessions = 1};
}

/* Heap growth in bytes per sign with key label (a PKCS#11 label) and mech, over n signs after
 * a warm-up of n / 10, on a session of this process's own view of the module (C_Initialize'd
 * and logged in by ks_open, which stays open meanwhile). */
static double token_growth(const struct signer_config *cfg, const char *label,
			   CK_MECHANISM_TYPE mech, size_t msg_len, unsigned long n,
			   unsigned long *done)
{
	struct keystore *ks = NULL;
	struct ks_config kc = bench_ks_config(cfg);
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[16], slot = 0;
	CK_ULONG ns = 16, found = 0;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, (void *)(uintptr_t)label, label != NULL ? strlen(label) : 0}};
	CK_OBJECT_HANDLE key;
	CK_MECHANISM m = {mech, NULL, 0};
	uint8_t msg[256] = {1}, sig[128];
	long r0 = -1, r1 = -1;
	void *dl;

	if (ks_open(&kc, &ks) != 0)
		return -1;
	dl = dlopen(cfg->token.module, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL)
		goto out;
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&f) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((const char *)ti.label, cfg->token.label, strlen(cfg->token.label)) ==
			    0)
			slot = slots[i];
	}
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK)
		goto out;
	f->C_FindObjectsInit(s, tmpl, 2);
	f->C_FindObjects(s, &key, 1, &found);
	f->C_FindObjectsFinal(s);
	*done = 0;
	for (unsigned long i = 0; found == 1 && i < n + n / 10; i++) {
		CK_ULONG l = sizeof(sig);

		if (i == n / 10)
			r0 = heap_in_use();
		if (f->C_SignInit(s, &m, key) != CKR_OK ||
		    f->C_Sign(s, msg, msg_len, sig, &l) != CKR_OK)
			break;
		if (i >= n / 10)
			(*done)++;
	}
	r1 = heap_in_use();
	f->C_CloseSession(s);
out:
	ks_close(ks);
	return *done > 0 && r0 >= 0 && r1 >= 0 ? (double)(r1 - r0) / (double)*done : -1;
}

/* Heap growth in bytes per token state write of a 200-byte value through the keystore, over n
 * writes after a warm-up of n / 10: put whole (a new data object, the one before destroyed) or
 * in place (ks_state_advance, what signerd's audit anchor does about once a second under load). */
static double state_growth(const struct signer_config *cfg, bool in_place, unsigned long n,
			   unsigned long *done)
{
	struct keystore *ks = NULL;
	struct ks_config kc = bench_ks_config(cfg);
	uint8_t value[200];
	long r0 = -1, r1;

	*done = 0;
	if (ks_open(&kc, &ks) != 0)
		return -1;
	memset(value, 'a', sizeof(value));
	for (unsigned long i = 0; i < n + n / 10; i++) {
		if (i == n / 10)
			r0 = heap_in_use();
		snprintf((char *)value, 17, "%016lx", i);
		value[16] = 'a';
		if ((in_place ? ks_state_advance(ks, "bench-memory-probe", value, sizeof(value))
			      : ks_state_put(ks, "bench-memory-probe", value, sizeof(value))) != 0)
			break;
		if (i >= n / 10)
			(*done)++;
	}
	r1 = heap_in_use();
	ks_close(ks);
	return *done > 0 && r0 >= 0 ? (double)(r1 - r0) / (double)*done : -1;
}

int main(int argc, char **argv)
{
	double soak = argc > 4 ? atof(argv[4]) : 600;
	int idle = argc > 5 ? atoi(argv[5]) : 256, ready = 0;
	struct signer_config cfg;
	struct bench_conn *conns;
	struct load l = {0};
	long rss0, rss_idle, rss_after, rss_start = -1, rss_end = -1;
	unsigned long signed_start = 0, signed_total = 0;
	double full, t_end;
	pid_t daemon;
	char req[512];
	size_t req_len;

	if (argc < 4 || soak < 10 || idle < 1 || idle > IDLE_MAX) {
		fprintf(stderr,
			"usage: bench_memory DIR CONFIG SIGNERD [SOAK_SECONDS (600, >= 10) "
			"[IDLE (256, 1-%d)]]\n",
			IDLE_MAX);
		return 2;
	}
	if (sodium_init() < 0 || signer_config_load(argv[2], &cfg) != 0 ||
	    signer_config_apply_env(&cfg) != 0) {
		fprintf(stderr, "bench_memory: %s does not load\n", argv[2]);
		return 1;
	}
	gnutls_global_init();
	signal(SIGPIPE, SIG_IGN);
	daemon = fork();
	if (daemon < 0)
		return 1;
	if (daemon == 0) {
		execl(argv[3], argv[3], "--config", argv[2], (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200 && !(ready = bench_ops_ready(cfg.ops.port)); i++)
		sleep_s(0.05);
	if (!ready) {
		fprintf(stderr, "bench_memory: signerd did not become ready\n");
		kill(daemon, SIGKILL);
		return 1;
	}
	l.dir = argv[1];
	l.port = cfg.api.port;
	printf("signerd memory (VmRSS of the process), %d idle mTLS connections, a %.0f s soak\n",
	       idle, soak);

	/* 1. idle connections */
	conns = calloc((size_t)idle, sizeof(*conns));
	if (conns == NULL)
		return 1;
	req_len =
		(size_t)snprintf(req, sizeof(req),
				 "POST /v1/keys/polygon-dev/sign HTTP/1.1\r\nHost: localhost\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				 strlen(evm_body), evm_body);
	(void)load_run(&l, 2); /* warm: pools, the token's sessions, caches */
	sleep_s(1);
	rss0 = rss_kib(daemon);
	{
		int up = 0, answered = 0;

		for (int i = 0; i < idle; i++) {
			bench_conn_open(&conns[i], argv[1], "polygon-adapter", cfg.api.port);
			up += conns[i].up;
			if (conns[i].up && bench_conn_exchange(&conns[i], req, req_len) == 1)
				answered++;
		}
		sleep_s(2);
		rss_idle = rss_kib(daemon);
		printf("  idle: %d of %d connections up, %d answered a request; RSS %.1f MiB "
		       "before, "
		       "%.1f MiB with them open (%.1f KiB each)\n",
		       up, idle, answered, (double)rss0 / 1024.0, (double)rss_idle / 1024.0,
		       up > 0 ? (double)(rss_idle - rss0) / (double)up : 0.0);
	}
	for (int i = 0; i < idle; i++)
		bench_conn_close(&conns[i]);
	free(conns);
	sleep_s(2);
	rss_after = rss_kib(daemon);
	printf("  after they closed: RSS %.1f MiB\n", (double)rss_after / 1024.0);

	/* 2. the soak */
	full = load_run(&l, 3);
	l.interval = full > 0 ? SOAK_CONNECTIONS / (full / 2) : 1;
	printf("  soak at half of %.0f signed requests/s (flat out), EVM messages, %d "
	       "connections:\n",
	       full, SOAK_CONNECTIONS);
	printf("    %8s %10s %14s %14s %8s\n", "seconds", "RSS MiB", "of it anon MiB",
	       "signed so far", "errors");
	t_end = soak / 10;
	for (int step = 1; step <= 10; step++) {
		double rate = load_run(&l, t_end);
		long rss = rss_kib(daemon);

		signed_total += atomic_load(&l.ok);
		if (step == 1) {
			rss_start = rss;
			signed_start = signed_total;
		}
		rss_end = rss;
		printf("    %8.0f %10.2f %14.2f %14lu %8lu  (%.0f/s)\n", t_end * (double)step,
		       (double)rss / 1024.0, (double)status_kib(daemon, "RssAnon") / 1024.0,
		       signed_total, atomic_load(&l.errors), rate);
		fflush(stdout);
	}
	printf("  soak: RSS %.2f MiB at the start (after the first tenth), %.2f MiB at the end: "
	       "%+.1f KiB, %.2f bytes per signed request\n",
	       (double)rss_start / 1024.0, (double)rss_end / 1024.0, (double)(rss_end - rss_start),
	       signed_total > signed_start ? (double)(rss_end - rss_start) * 1024.0 /
						     (double)(signed_total - signed_start)
					   : 0.0);
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);

	/* 3. the token alone */
	{
		unsigned long n_ed = 0, n_k1 = 0, n_obj = 0;
		double ed =
			token_growth(&cfg, "signerd/solana-dev/1", CKM_EDDSA, 150, 50000, &n_ed);
		double k1 =
			token_growth(&cfg, "signerd/polygon-dev/1", CKM_ECDSA, 32, 50000, &n_k1);

		printf("  SoftHSM2 alone, in this process: heap growth (malloc'd, never freed) "
		       "%.1f bytes "
		       "per Ed25519 "
		       "C_SignInit + C_Sign (%lu signs), %.1f bytes per secp256k1 one (%lu "
		       "signs)\n",
		       ed, n_ed, k1, n_k1);
		unsigned long n_place = 0;
		double obj = state_growth(&cfg, false, 2000, &n_obj);
		double place = state_growth(&cfg, true, 2000, &n_place);

		printf("  token state writes of 200 bytes: heap growth %.1f bytes per write put "
		       "whole (a data object created, the one before destroyed; %lu writes), %.1f "
		       "per write in place (a label changed, as the audit anchor is written; %lu "
		       "writes)\n",
		       obj, n_obj, place, n_place);
	}
	gnutls_global_deinit();
	return 0;
}
