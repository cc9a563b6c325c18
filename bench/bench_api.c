/* bench_api CONFIG [LABEL=]SIGNERD [SECONDS [ROUNDS [[LABEL=]SIGNERD2]]]: signerd over
 * kept-alive mTLS connections beside raw C_Sign on the same token, interleaved.
 * Each round starts signerd on CONFIG and, per chain (solana, evm), runs three bursts of SECONDS:
 * 1. raw C_SignInit + C_Sign in this process, as many threads as signerd has workers (token
 *    sessions), with signerd up and idle: signatures/s and this process's CPU per signature;
 * 2. the API flat out from CONNECTIONS kept-alive clients: signed requests/s, p50/p99, signerd's
 *    CPU (utime + stime from /proc/PID/stat) per signed request, its audit records per fdatasync
 *    and the syncs' p50/p99 (bench_sync.h: eBPF on ext4's sync tracepoints, when it can);
 * 3. the API paced at half the rate burst 2 reached, open loop (each connection sends on a
 *    schedule, and a latency counts from the scheduled send, so a stall is not hidden).
 * Around every burst: what other processes used of the machine (its busy time, which is wall
 * time less /proc/stat's idle, less signerd's, this process's and the kernel threads'); a burst
 * where that exceeds OTHERS_MAX cores is discarded from the medians. The summary prints, per chain,
 * the medians of the kept bursts with the performance targets beside them. With SIGNERD2, both
 * binaries run in every round, one after the other, each on its own copy of the token (the audit
 * anchor lives in it) and its own audit log, and the summary puts their medians side by side. A
 * benchmark: it reports, it does not judge. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "bench_api_report.h"
#include "bench_client.h"
#include "bench_cpu.h"
#include "bench_sync.h"
#include "bench_util.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "signer/config.h"

#define CONNECTIONS     8
#define MAX_SAMPLES     2000000
#define RAW_THREADS_MAX 64

static void burst_cpu(const struct bench_cpu_mark *m0, const struct bench_cpu_mark *m1,
		      struct burst *out)
{
	struct bench_cpu_window w;

	bench_cpu_window(m0, m1, &w);
	out->others = w.others;
	out->kthreads = w.kthreads;
	out->steal = w.steal;
	out->kept = w.others <= OTHERS_MAX;
}

/* ---- the API: kept-alive mTLS clients ---------------------------------------------------- */

struct bench {
	const char *dir; /* the dev-env directory (pki/ inside) */
	unsigned port;
	const char *key, *client, *body;
	double seconds;
	double interval; /* paced: seconds between one connection's sends; 0: flat out */
	double end;      /* set once every connection is up */
	pthread_barrier_t gate;
	atomic_ulong count, errors;
	double *lat;
	atomic_ulong n_lat;
};

struct client {
	struct bench *b;
	int index;
};

/* One kept-alive mTLS connection sending sign requests, flat out or on a schedule. Connects,
 * then waits at the gate twice (all up; the burst starts), runs, and waits once more (the
 * burst is over) before it closes, so that neither handshakes nor goodbyes fall in the burst. */
static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct bench *b = cl->b;
	struct bench_conn conn;
	char req[2048];
	bool up;
	size_t req_len;

	bench_conn_open(&conn, b->dir, b->client, b->port);
	up = conn.up;
	if (!up)
		atomic_fetch_add(&b->errors, 1);
	req_len =
		(size_t)snprintf(req, sizeof(req),
				 "POST /v1/keys/%s/sign HTTP/1.1\r\nHost: localhost\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				 b->key, strlen(b->body), b->body);
	pthread_barrier_wait(&b->gate); /* every connection is up */
	pthread_barrier_wait(&b->gate); /* the burst starts: b->end is set */
	if (up) {
		/* paced: the connections' schedules spread evenly over one interval */
		double next = time_monotonic_s() + b->interval * cl->index / CONNECTIONS;

		while (time_monotonic_s() < b->end) {
			double t0 = time_monotonic_s();
			int ok;

			if (b->interval > 0) {
				double wait = next - t0;

				if (wait > 0) {
					struct timespec ts = {
						(time_t)wait,
						(long)((wait - (double)(time_t)wait) * 1e9)};

					nanosleep(&ts, NULL);
				}
				t0 = next; /* late or not, the latency counts from here */
				next += b->interval;
			}
			if ((ok = bench_conn_exchange(&conn, req, req_len)) < 0) {
				atomic_fetch_add(&b->errors, 1);
				break;
			}
			if (ok == 0) {
				atomic_fetch_add(&b->errors, 1);
				continue;
			}
			atomic_fetch_add(&b->count, 1);
			{
				unsigned long i = atomic_fetch_add(&b->n_lat, 1);

				if (i < MAX_SAMPLES)
					b->lat[i] = time_monotonic_s() - t0;
			}
		}
	}
	pthread_barrier_wait(&b->gate); /* the burst is over */
	bench_conn_close(&conn);
	return NULL;
}

/* One burst of the API (b->interval says flat out or paced), its CPU marks around it. */
static void api_run(struct bench *b, pid_t daemon, struct bench_cpu_mark *m0,
		    struct bench_cpu_mark *m1)
{
	pthread_t t[CONNECTIONS];
	struct client cl[CONNECTIONS];

	atomic_store(&b->count, 0);
	atomic_store(&b->errors, 0);
	atomic_store(&b->n_lat, 0);
	pthread_barrier_init(&b->gate, NULL, CONNECTIONS + 1);
	for (int i = 0; i < CONNECTIONS; i++) {
		cl[i] = (struct client){.b = b, .index = i};
		pthread_create(&t[i], NULL, client_main, &cl[i]);
	}
	pthread_barrier_wait(&b->gate);
	bench_cpu_mark(daemon, m0);
	b->end = m0->wall + b->seconds;
	pthread_barrier_wait(&b->gate);
	pthread_barrier_wait(&b->gate);
	bench_cpu_mark(daemon, m1);
	for (int i = 0; i < CONNECTIONS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&b->gate);
}

/* A burst of the API with its figures: rate, signerd's CPU per signed request, latency, and
 * (with sync) the audit records per fdatasync and the syncs' durations. */
static void api_burst(struct bench *b, pid_t daemon, unsigned ops_port, struct bench_sync *sync,
		      struct burst *out)
{
	static uint64_t h0[BENCH_SYNC_BUCKETS], h1[BENCH_SYNC_BUCKETS];
	struct bench_cpu_mark m0, m1;
	double seq0, seq1, wall;
	unsigned long n, signed_n;

	*out = (struct burst){
		.records = -1, .sync_p50 = -1, .sync_p99 = -1, .lat_max = -1, .sync_max = -1};
	seq0 = bench_ops_metric(ops_port, "signer_audit_head_sequence");
	if (sync != NULL)
		bench_sync_read(sync, h0);
	api_run(b, daemon, &m0, &m1);
	if (sync != NULL)
		bench_sync_read(sync, h1);
	seq1 = bench_ops_metric(ops_port, "signer_audit_head_sequence");
	wall = m1.wall - m0.wall;
	signed_n = atomic_load(&b->count);
	out->errors = atomic_load(&b->errors);
	out->rate = (double)signed_n / wall;
	out->cpu_us = signed_n > 0 && m0.daemon >= 0 && m1.daemon >= 0
			      ? (m1.daemon - m0.daemon) / (double)signed_n * 1e6
			      : -1;
	burst_cpu(&m0, &m1, out);
	n = atomic_load(&b->n_lat);
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(b->lat, n, sizeof(double), bench_cmp_double);
	out->p50 = n > 0 ? b->lat[n / 2] * 1000 : -1;
	out->p99 = n > 0 ? b->lat[(size_t)((double)n * 0.99)] * 1000 : -1;
	out->lat_max = n > 0 ? b->lat[n - 1] * 1000 : -1;
	if (sync != NULL) {
		uint64_t syncs;

		for (size_t i = 0; i < BENCH_SYNC_BUCKETS; i++)
			h1[i] -= h0[i];
		syncs = bench_sync_count(h1);
		if (syncs > 0) {
			out->sync_p50 = bench_sync_quantile(h1, 0.5) * 1000;
			out->sync_p99 = bench_sync_quantile(h1, 0.99) * 1000;
			out->sync_max = bench_sync_quantile(h1, 1.0) * 1000;
			if (seq0 >= 0 && seq1 >= seq0)
				out->records = (seq1 - seq0) / (double)syncs;
		}
	}
}

/* ---- raw C_Sign on the same token -------------------------------------------------------- */

struct raw {
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	const char *label;
	CK_MECHANISM_TYPE mech;
	size_t len;
	double seconds;
	atomic_ulong count;
};

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
			       {.type = CKA_LABEL,
				.pValue = (void *)(uintptr_t)r->label,
				.ulValueLen = strlen(r->label)}};
	CK_OBJECT_HANDLE key;
	CK_ULONG found = 0;
	CK_MECHANISM mech = {r->mech, NULL, 0};
	uint8_t msg[256] = {1}, sig[64];
	unsigned long n = 0;
	double end;

	if (r->f->C_OpenSession(r->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return NULL;
	r->f->C_FindObjectsInit(s, tmpl, 2);
	r->f->C_FindObjects(s, &key, 1, &found);
	r->f->C_FindObjectsFinal(s);
	end = time_monotonic_s() + r->seconds;
	while (found == 1 && time_monotonic_s() < end) {
		CK_ULONG l = sizeof(sig);

		if (r->f->C_SignInit(s, &mech, key) == CKR_OK &&
		    r->f->C_Sign(s, msg, r->len, sig, &l) == CKR_OK)
			n++;
	}
	r->f->C_CloseSession(s);
	atomic_fetch_add(&r->count, n);
	return NULL;
}

static double rusage_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A burst of raw C_SignInit + C_Sign from threads threads, signerd up and idle: signatures/s
 * and this process's CPU (getrusage, taken right around the threads) per signature. */
static void raw_burst(struct raw *r, unsigned threads, pid_t daemon, struct burst *out)
{
	pthread_t t[RAW_THREADS_MAX];
	struct bench_cpu_mark m0, m1;
	double c0, c1;
	unsigned long n;

	*out = (struct burst){.p50 = -1,
			      .p99 = -1,
			      .records = -1,
			      .sync_p50 = -1,
			      .sync_p99 = -1,
			      .lat_max = -1,
			      .sync_max = -1};
	atomic_store(&r->count, 0);
	bench_cpu_mark(daemon, &m0);
	c0 = rusage_seconds();
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, raw_main, r);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	c1 = rusage_seconds();
	bench_cpu_mark(daemon, &m1);
	n = atomic_load(&r->count);
	out->rate = (double)n / (m1.wall - m0.wall);
	out->cpu_us = n > 0 ? (c1 - c0) / (double)n * 1e6 : -1;
	burst_cpu(&m0, &m1, out);
}

/* ---- one round of one binary ------------------------------------------------------------- */

struct world {
	const struct signer_config *cfg;
	const char *dir, *sol_body;
	double seconds;
	struct raw raw[2]; /* per chain */
	bool sync_wanted;  /* the audit log is on ext4 and the probe loaded once */
	char sync_why[512];
};

static const struct {
	const char *name, *key, *client;
} chains[2] = {{.name = "solana", .key = "solana-dev", .client = "solana-adapter"},
	       {.name = "evm", .key = "polygon-dev", .client = "polygon-adapter"}};

/* Starts binary on config, runs each chain's three bursts, stops it. */
static int bench_round(struct world *w, const char *config, const char *binary,
		       struct round_result out[2])
{
	struct bench b = {.dir = w->dir, .port = w->cfg->api.port, .seconds = w->seconds};
	struct bench_sync *sync = NULL;
	pid_t daemon = fork();
	int r = -1;

	if (daemon < 0)
		return -1;
	if (daemon == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);
		execl(binary, binary, "--config", config, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200 && !bench_ops_ready(w->cfg->ops.port); i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (waitpid(daemon, NULL, WNOHANG) == daemon) {
			fprintf(stderr, "bench_api: %s exited at start\n", binary);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	if (w->sync_wanted &&
	    bench_sync_open(daemon, &sync, w->sync_why, sizeof(w->sync_why)) != 0) {
		fprintf(stderr, "bench_api: audit sync not measured: %s\n", w->sync_why);
		w->sync_wanted = false;
	}
	b.lat = calloc(MAX_SAMPLES, sizeof(double));
	if (b.lat == NULL)
		goto out;
	for (int c = 0; c < 2; c++) {
		b.key = chains[c].key;
		b.client = chains[c].client;
		b.body = c == 0 ? w->sol_body
				: "{\"operation\":\"dev\",\"evm_message\":\"0x48656c6c6f\"}";
		raw_burst(&w->raw[c], w->cfg->workers, daemon, &out[c].raw);
		b.interval = 0;
		api_burst(&b, daemon, w->cfg->ops.port, sync, &out[c].full);
		b.interval = out[c].full.rate > 0 ? CONNECTIONS / (out[c].full.rate / 2) : 1;
		api_burst(&b, daemon, w->cfg->ops.port, sync, &out[c].half);
		out[c].half.cpu_us = -1; /* a paced burst's CPU per request is not the figure */
	}
	r = 0;
out:
	free(b.lat);
	bench_sync_close(sync);
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	return r;
}

/* Where the audit log lives: "ext4 (/dev/vda)"; *ext4 whether it is (the sync probe's). */
static void describe_filesystem(const char *path, char *out, size_t cap, bool *ext4)
{
	static const struct {
		long type;
		const char *name;
	} types[] = {{0xEF53, "ext4"},      {0x01021994, "tmpfs"},     {0x58465342, "xfs"},
		     {0x9123683E, "btrfs"}, {0x794c7630, "overlayfs"}, {0x6969, "nfs"},
		     {0x65735546, "fuse"}};
	char dir[600], *slash, line[1024], source[256] = "?";
	const char *name = "unknown";
	struct statfs sf;
	struct stat st;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	*ext4 = false;
	if (statfs(dir, &sf) != 0 || stat(dir, &st) != 0) {
		snprintf(out, cap, "? (%.200s: %s)", dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((long)sf.f_type == types[i].type)
			name = types[i].name;
	*ext4 = (long)sf.f_type == 0xEF53;
	/* the mount's source, from the mount whose device is the directory's */
	if ((f = fopen("/proc/self/mountinfo", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			unsigned maj, min;
			char *dash = strstr(line, " - ");

			if (sscanf(line, "%*d %*d %u:%u", &maj, &min) == 2 &&
			    maj == major(st.st_dev) && min == minor(st.st_dev) && dash != NULL &&
			    sscanf(dash + 3, "%*s %255s", source) == 1)
				break;
		}
		fclose(f);
	}
	snprintf(out, cap, "%s (%s)", name, source);
}

/* ---- the second binary's world ----------------------------------------------------------- */

/* In text, the first occurrence of what replaced by what + ".b"; false if it is not there. */
static bool suffix_b(char *text, size_t cap, const char *what)
{
	char *at = strstr(text, what), rest[16384];

	if (at == NULL || strlen(text) + 2 >= cap)
		return false;
	snprintf(rest, sizeof(rest), "%s", at + strlen(what));
	snprintf(at + strlen(what), cap - (size_t)(at - text) - strlen(what), ".b%s", rest);
	return true;
}

/* A copy of the config for the second binary: its own copy of the token (SOFTHSM2_CONF.b naming
 * the token directory .b) and of the audit log as it is now (path.b, with its checkpoint and
 * segments), so that the anchor in the token and the log agree on an environment already used.
 * Says why when it cannot. */
static int write_second_config(const char *config, const struct signer_config *cfg, char *out)
{
	FILE *f = fopen(config, "re"), *g;
	char text[16384], conf[512] = "", cmd[4096];
	size_t n;
	int ok;

	if (f == NULL) {
		fprintf(stderr, "bench_api: %s: %s\n", config, strerror(errno));
		return -1;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (size_t i = 0; i < cfg->token.n_env; i++)
		if (strcmp(cfg->token.env[i].name, "SOFTHSM2_CONF") == 0)
			snprintf(conf, sizeof(conf), "%s", cfg->token.env[i].value);
	if (conf[0] == '\0' || strchr(conf, '\'') != NULL ||
	    strchr(cfg->audit.path, '\'') != NULL) {
		fprintf(stderr,
			"bench_api: %s sets no SOFTHSM2_CONF in token.environment, or a path "
			"holds a quote\n",
			config);
		return -1;
	}
	/* the token directory, as the SoftHSM2 config names it (its trailing / dropped), copied
	 * beside it */
	if (snprintf(cmd, sizeof(cmd),
		     "set -e; d=$(sed -n 's/^directories.tokendir *= *//p' '%s'); d=${d%%/}; "
		     "[ -n \"$d\" ] || { echo \"bench_api: %s names no tokendir\" >&2; exit 1; }; "
		     "rm -rf \"$d.b\"; cp -a \"$d\" \"$d.b\"; "
		     "sed \"s|^directories.tokendir *= *.*|directories.tokendir = $d.b|\" '%s' > "
		     "'%s.b'; "
		     /* and the log the copied anchor speaks of, with its checkpoint and segments */
		     "l='%s'; rm -f \"$l.b\" \"$l.b\".*; for f in \"$l\" \"$l\".*; do "
		     "case ${f#\"$l\"} in .b|.b.*|.lock) continue ;; esac; "
		     "[ ! -e \"$f\" ] || cp -a \"$f\" \"$l.b${f#\"$l\"}\"; done",
		     conf, conf, conf, conf, cfg->audit.path) >= (int)sizeof(cmd)) {
		fprintf(stderr, "bench_api: the path %s is too long\n", conf);
		return -1;
	}
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_api: cannot copy the token of %s\n", conf);
		return -1;
	}
	if (!suffix_b(text, sizeof(text), cfg->audit.path) || !suffix_b(text, sizeof(text), conf)) {
		fprintf(stderr, "bench_api: %s does not name %s and %s as expected\n", config,
			cfg->audit.path, conf);
		return -1;
	}
	snprintf(out, 600, "%s.b.yaml", config);
	g = fopen(out, "we");
	if (g == NULL) {
		fprintf(stderr, "bench_api: %s: %s\n", out, strerror(errno));
		return -1;
	}
	ok = fputs(text, g) >= 0;
	return fclose(g) == 0 && ok && chmod(out, 0600) == 0 ? 0 : -1;
}

/* ---- main -------------------------------------------------------------------------------- */

/* The token's slot by label, in this process (C_Initialize'd by ks_open already). */
static CK_SLOT_ID token_slot(CK_FUNCTION_LIST_PTR f, const char *label)
{
	CK_SLOT_ID slots[16], slot = 0;
	CK_ULONG ns = 16;

	f->C_GetSlotList(CK_TRUE, slots, &ns);
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO info;

		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    strncmp((const char *)info.label, label, strlen(label)) == 0)
			slot = slots[i];
	}
	return slot;
}

/* A Solana message with solana-dev as fee payer (legacy, one transfer), as a sign body. */
static int solana_body(struct keystore *ks, char *out, size_t cap)
{
	struct ks_key k;
	uint8_t m[150] = {1, 0, 1, 3};
	char b64[256];

	if (ks_key_get(ks, "solana-dev", 0, &k) != 0)
		return -1;
	memcpy(m + 4, k.public_key, 32);
	memset(m + 36, 0x11, 32);  /* destination */
	memset(m + 68, 0, 32);     /* system program */
	memset(m + 100, 0x22, 32); /* blockhash */
	m[132] = 1;
	m[133] = 2;
	m[134] = 2;
	m[135] = 0;
	m[136] = 1;
	m[137] = 12;
	m[138] = 2;
	sodium_bin2base64(b64, sizeof(b64), m, sizeof(m), sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, cap, "{\"operation\":\"dev\",\"solana_message\":\"%s\"}", b64);
	return 0;
}

int main(int argc, char **argv)
{
	struct signer_config cfg;
	struct ks_config kc;
	struct keystore *ks;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	double seconds = argc > 3 ? atof(argv[3]) : 5.0;
	int rounds = argc > 4 ? atoi(argv[4]) : 3, n_binaries = argc > 5 ? 2 : 1;
	const char *binaries[2] = {argv[2], argc > 5 ? argv[5] : NULL};
	const char *labels[2] = {"signerd", "other"};
	static struct round_result results[2][ROUNDS_MAX * 2];
	const struct round_result *const per_binary[2] = {results[0], results[1]};
	static char second_config[600];
	const char *configs[2] = {NULL, second_config};
	char dir[512], sol_body[1024], fs[300], *slash;
	struct world w;
	bool ext4;
	void *dl;
	int r;

	if (argc < 3 || sodium_init() < 0 || rounds < 1 || rounds > ROUNDS_MAX || seconds <= 0) {
		fprintf(stderr,
			"usage: bench_api CONFIG [LABEL=]SIGNERD [SECONDS (5) [ROUNDS (3, 1-%d) "
			"[[LABEL=]SIGNERD2]]]\n",
			ROUNDS_MAX);
		return 2;
	}
	/* a binary may be given as LABEL=PATH */
	for (int v = 0; v < n_binaries; v++) {
		const char *eq = strchr(binaries[v], '=');

		if (eq != NULL && eq - binaries[v] < 16) {
			static char label_text[2][16];

			memcpy(label_text[v], binaries[v], (size_t)(eq - binaries[v]));
			label_text[v][eq - binaries[v]] = '\0';
			labels[v] = label_text[v];
			binaries[v] = eq + 1;
		}
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if ((r = signer_config_load(argv[1], &cfg)) != 0 ||
	    (r = signer_config_apply_env(&cfg)) != 0) {
		fprintf(stderr, "bench_api: %s\n", sg_errmsg(r));
		return 1;
	}
	if (cfg.workers > RAW_THREADS_MAX) {
		fprintf(stderr, "bench_api: at most %d workers\n", RAW_THREADS_MAX);
		return 1;
	}
	kc = (struct ks_config){.module_path = cfg.token.module,
				.token_label = cfg.token.label,
				.pin_file = cfg.token.pin_file,
				.sessions = 1};
	if ((r = ks_open(&kc, &ks)) != 0) {
		fprintf(stderr, "bench_api: %s\n", sg_errmsg(r));
		return 1;
	}
	if (solana_body(ks, sol_body, sizeof(sol_body)) != 0) {
		fprintf(stderr, "bench_api: the token has no key solana-dev\n");
		return 1;
	}
	/* the raw baseline's own view of the module (C_Initialize'd by ks_open, which stays open
	 * and logged in, so that the raw sessions can sign) */
	dl = dlopen(cfg.token.module, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "bench_api: %s\n", dlerror());
		return 1;
	}
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	get_list(&f);
	slot = token_slot(f, cfg.token.label);
	w = (struct world){.cfg = &cfg, .dir = dir, .sol_body = sol_body, .seconds = seconds};
	/* Solana signs the 150-byte message the API signs; EVM a 32-byte hash */
	w.raw[0] = (struct raw){.f = f,
				.slot = slot,
				.label = "signerd/solana-dev/1",
				.mech = CKM_EDDSA,
				.len = 150,
				.seconds = seconds};
	w.raw[1] = (struct raw){.f = f,
				.slot = slot,
				.label = "signerd/polygon-dev/1",
				.mech = CKM_ECDSA,
				.len = 32,
				.seconds = seconds};

	/* each binary its own audit log and token (whose anchor names its log) */
	configs[0] = argv[1];
	if (n_binaries == 2 && write_second_config(argv[1], &cfg, second_config) != 0)
		return 1;
	describe_filesystem(cfg.audit.path, fs, sizeof(fs), &ext4);
	w.sync_wanted = ext4;
	if (!ext4)
		snprintf(w.sync_why, sizeof(w.sync_why), "the log is not on ext4");
	else {
		struct bench_sync *probe;

		if (bench_sync_open(getpid(), &probe, w.sync_why, sizeof(w.sync_why)) == 0)
			bench_sync_close(probe);
		else
			w.sync_wanted = false;
	}
	printf("API benchmark: %u workers, %d kept-alive mTLS connections, %.0f s bursts, %d "
	       "round(s);\n  per round and chain: raw C_Sign in this process (%u threads, signerd "
	       "idle), the API flat out, the API paced at half that rate (latency from the "
	       "scheduled send)\n",
	       cfg.workers, CONNECTIONS, seconds, rounds, cfg.workers);
	printf("  audit log %s on %s; audit sync (r/syn: records per fdatasync, syn99: its "
	       "p99, ms): %s%s\n",
	       cfg.audit.path, fs, w.sync_wanted ? "eBPF on ext4_sync_file" : "not measured: ",
	       w.sync_wanted ? "" : w.sync_why);
	printf("  others: cores used by processes other than signerd, this one and the kernel "
	       "threads (kthr); ! marks a burst discarded for others > %.2f\n",
	       OTHERS_MAX);
	bench_report_header();
	for (int round = 0; round < rounds; round++)
		for (int v = 0; v < n_binaries; v++) {
			struct round_result *res = &results[v][round * 2];

			if (bench_round(&w, configs[v], binaries[v], res) != 0)
				return 1;
			for (int c = 0; c < 2; c++)
				bench_report_round(round, labels[v], chains[c].name, &res[c]);
			fflush(stdout);
		}
	{
		bool starred = false;
		double steal = 0;

		for (int c = 0; c < 2; c++)
			starred = bench_report_summary(per_binary, n_binaries, rounds, labels,
						       chains[c].name, c) ||
				  starred;
		if (starred)
			printf("  * every burst of the figure was discarded (others > %.2f core): "
			       "the "
			       "median of them all\n",
			       OTHERS_MAX);
		for (int v = 0; v < n_binaries; v++)
			for (int i = 0; i < rounds * 2; i++) {
				const struct round_result *x = &results[v][i];

				steal = x->raw.steal > steal ? x->raw.steal : steal;
				steal = x->full.steal > steal ? x->full.steal : steal;
				steal = x->half.steal > steal ? x->half.steal : steal;
			}
		printf("  steal (CPU the hypervisor took, no process's here): at most %.3f core in "
		       "a burst\n",
		       steal);
	}
	ks_close(ks);
	signer_config_free(&cfg);
	return 0;
}
