/* bench_api CONFIG SIGNERD [SECONDS [ROUNDS [SIGNERD2]]]: signerd over kept-alive mTLS
 * connections.
 * 1. raw C_SignInit + C_Sign on the same token, 2 threads, per curve (the baseline);
 * 2. signerd started on CONFIG; per chain, as many requests as CONNECTIONS kept-alive clients
 *    can push (signatures/s, p50, p99, and signerd's CPU time per signature, which the other
 *    processes sharing the cores disturb far less than wall time);
 * 3. per chain, half that rate, paced (p50, p99).
 * With SIGNERD2, both binaries run ROUNDS times, interleaved, each on its own copy of the token
 * (the audit anchor lives in it) and its own audit log; the medians are
 * printed side by side. Each run says how much of the machine's CPU other processes used
 * meanwhile. A benchmark: it reports, it does not judge. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "bench_util.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "signer/config.h"

#define CONNECTIONS 8
#define MAX_SAMPLES 2000000

struct bench {
	const char *dir; /* the dev-env directory (pki/ inside) */
	unsigned port;
	const char *key, *client, *body;
	double seconds;
	double interval; /* paced: seconds between one client's requests; 0: flat out */
	atomic_ulong count, errors;
	double *lat;
	atomic_ulong n_lat;
};

/* One kept-alive mTLS connection sending sign requests. */
static void *client_main(void *arg)
{
	struct bench *b = arg;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
	char path[512], key[512], ca[512], req[2048], buf[8192];
	int fd, one = 1;
	double end, next;
	size_t req_len;

	snprintf(path, sizeof(path), "%s/pki/clients/%s.pem", b->dir, b->client);
	snprintf(key, sizeof(key), "%s/pki/clients/%s.key", b->dir, b->client);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", b->dir);
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_trust_file(cred, ca, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_set_x509_key_file(cred, path, key, GNUTLS_X509_FMT_PEM);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		atomic_fetch_add(&b->errors, 1);
		return NULL;
	}
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_session_set_verify_cert(s, "localhost", 0);
	gnutls_transport_set_int(s, fd);
	if (gnutls_handshake(s) < 0) {
		atomic_fetch_add(&b->errors, 1);
		return NULL;
	}
	req_len =
		(size_t)snprintf(req, sizeof(req),
				 "POST /v1/keys/%s/sign HTTP/1.1\r\nHost: localhost\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				 b->key, strlen(b->body), b->body);
	end = time_monotonic_s() + b->seconds;
	next = time_monotonic_s();
	while (time_monotonic_s() < end) {
		double t0;
		size_t got = 0;
		char *hdr_end = NULL;
		long clen = -1;

		if (b->interval > 0) {
			double wait = next - time_monotonic_s();

			if (wait > 0) {
				struct timespec ts = {(time_t)wait,
						      (long)((wait - (double)(time_t)wait) * 1e9)};

				nanosleep(&ts, NULL);
			}
			next += b->interval;
		}
		t0 = time_monotonic_s();
		if (gnutls_record_send(s, req, req_len) != (ssize_t)req_len)
			break;
		/* read the headers, then Content-Length bytes of body */
		while (hdr_end == NULL || (long)(got - (size_t)(hdr_end + 4 - buf)) < clen) {
			ssize_t n = gnutls_record_recv(s, buf + got, sizeof(buf) - 1 - got);

			if (n <= 0)
				goto done;
			got += (size_t)n;
			buf[got] = '\0';
			if (hdr_end == NULL && (hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
				char *cl = strcasestr(buf, "Content-Length:");

				clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
			}
		}
		if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
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
done:
	gnutls_bye(s, GNUTLS_SHUT_RDWR);
	gnutls_deinit(s);
	close(fd);
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

/* CPU seconds all processes have used (every core, busy time), from /proc/stat. */
static double machine_busy_seconds(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "re");
	int got;

	if (f == NULL)
		return -1;
	got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		     &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (got != 8)
		return -1;
	/* user nice system [idle] [iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

struct cpu_mark {
	double wall, daemon, self, machine;
};

static void cpu_mark(pid_t daemon, struct cpu_mark *m)
{
	m->wall = time_monotonic_s();
	m->daemon = bench_proc_cpu_seconds(daemon);
	m->self = bench_proc_cpu_seconds(getpid());
	m->machine = machine_busy_seconds();
}

static void run(struct bench *b, double *rate, double *p50, double *p99)
{
	pthread_t t[CONNECTIONS];
	double start = time_monotonic_s();
	unsigned long n;

	atomic_store(&b->count, 0);
	atomic_store(&b->errors, 0);
	atomic_store(&b->n_lat, 0);
	for (int i = 0; i < CONNECTIONS; i++)
		pthread_create(&t[i], NULL, client_main, b);
	for (int i = 0; i < CONNECTIONS; i++)
		pthread_join(t[i], NULL);
	*rate = (double)atomic_load(&b->count) / (time_monotonic_s() - start);
	n = atomic_load(&b->n_lat);
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(b->lat, n, sizeof(double), bench_cmp_double);
	*p50 = n > 0 ? b->lat[n / 2] * 1000 : 0;
	*p99 = n > 0 ? b->lat[(size_t)((double)n * 0.99)] * 1000 : 0;
}

/* ---- raw C_Sign on the same token ------------------------------------------------------ */

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

static double raw_rate(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, const char *label,
		       CK_MECHANISM_TYPE mech, size_t len, double seconds)
{
	struct raw r = {.f = f,
			.slot = slot,
			.label = label,
			.mech = mech,
			.len = len,
			.seconds = seconds,
			.count = 0};
	pthread_t t[2];
	double start = time_monotonic_s();

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, raw_main, &r);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&r.count) / (time_monotonic_s() - start);
}

struct result {
	double rate, cpu_us, p50, p99, hrate, hp50, hp99, others;
	unsigned long errors;
};

#define ROUNDS_MAX 15

static void print_result(const char *label, const char *chain, const struct result *r, double raw)
{
	printf("%-8s %-7s %10.0f %7.3f %11.0f %8.2f %8.2f %10.0f %8.2f %8.2f %8.0f %6lu\n", label,
	       chain, r->rate, r->rate / raw, r->cpu_us, r->p50, r->p99, r->hrate, r->hp50, r->hp99,
	       r->others, r->errors);
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of each column over the rounds, for one chain (results alternate solana, evm). */
static void median_result(const struct result *rs, int rounds, int chain, struct result *out)
{
	double col[8][ROUNDS_MAX];

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < rounds; i++) {
		const struct result *r = &rs[i * 2 + chain];

		col[0][i] = r->rate;
		col[1][i] = r->cpu_us;
		col[2][i] = r->p50;
		col[3][i] = r->p99;
		col[4][i] = r->hrate;
		col[5][i] = r->hp50;
		col[6][i] = r->hp99;
		col[7][i] = r->others;
		out->errors += r->errors;
	}
	out->rate = median_of(col[0], rounds);
	out->cpu_us = median_of(col[1], rounds);
	out->p50 = median_of(col[2], rounds);
	out->p99 = median_of(col[3], rounds);
	out->hrate = median_of(col[4], rounds);
	out->hp50 = median_of(col[5], rounds);
	out->hp99 = median_of(col[6], rounds);
	out->others = median_of(col[7], rounds);
}

/* One signerd binary on the token: per chain, flat out (rate, CPU per signature, latency, and
 * what other processes used of the machine meanwhile), then paced at half that rate. */
static int bench_binary(const char *config, const char *binary, const struct signer_config *cfg,
			const char *dir, const char *sol_body, double seconds, struct result out[2])
{
	static const struct {
		const char *key, *client;
	} chains[] = {{.key = "solana-dev", .client = "solana-adapter"},
		      {.key = "polygon-dev", .client = "polygon-adapter"}};
	struct bench b = {.dir = dir, .port = cfg->api.port, .seconds = seconds};
	pid_t daemon = fork();
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (daemon < 0)
		return -1;
	if (daemon == 0) {
		int devnull = open("/dev/null", 1);

		dup2(devnull, 2);
		execl(binary, binary, "--config", config, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200 && !bench_ops_ready(cfg->ops.port); i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (waitpid(daemon, NULL, WNOHANG) == daemon) {
			fprintf(stderr, "bench_api: %s exited at start\n", binary);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	b.lat = calloc(MAX_SAMPLES, sizeof(double));
	if (b.lat == NULL)
		return -1;
	for (int c = 0; c < 2; c++) {
		struct result *r = &out[c];
		struct cpu_mark m0, m1;
		double wall;

		memset(r, 0, sizeof(*r));
		b.key = chains[c].key;
		b.client = chains[c].client;
		b.body = c == 0 ? sol_body
				: "{\"operation\":\"dev\",\"evm_message\":\"0x48656c6c6f\"}";
		b.interval = 0;
		cpu_mark(daemon, &m0);
		run(&b, &r->rate, &r->p50, &r->p99);
		cpu_mark(daemon, &m1);
		wall = m1.wall - m0.wall;
		r->errors = atomic_load(&b.errors);
		if (r->rate > 0 && m0.daemon >= 0 && m1.daemon >= 0)
			r->cpu_us = (m1.daemon - m0.daemon) / (r->rate * wall) * 1e6;
		/* the machine's busy time that was neither signerd's nor this benchmark's */
		r->others = ((m1.machine - m0.machine) - (m1.daemon - m0.daemon) -
			     (m1.self - m0.self)) /
			    (wall * (double)cores) * 100;
		if (r->others < 0)
			r->others = 0;
		b.interval = r->rate > 0 ? (double)CONNECTIONS / (r->rate / 2) : 1;
		run(&b, &r->hrate, &r->hp50, &r->hp99);
		r->errors += atomic_load(&b.errors);
	}
	free(b.lat);
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	return 0;
}

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

/* The second binary's world, at out: CONFIG with its audit log at path.b and its token a copy
 * (SOFTHSM2_CONF.b naming the token directory .b, copied now): each binary its own log and its
 * own anchor, which lives in the token. */
/* A copy of the config for the second binary: its own audit log and its own copy of the token
 * (the anchor lives in the token). Says why when it cannot. */
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
	if (conf[0] == '\0' || strchr(conf, '\'') != NULL) {
		fprintf(stderr, "bench_api: %s sets no usable SOFTHSM2_CONF in token.environment\n",
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
		     "'%s.b'",
		     conf, conf, conf, conf) >= (int)sizeof(cmd)) {
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

int main(int argc, char **argv)
{
	struct signer_config cfg;
	struct ks_config kc;
	struct keystore *ks;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[16];
	CK_ULONG ns = 16;
	CK_SLOT_ID slot = 0;
	double seconds = argc > 3 ? atof(argv[3]) : 5.0, raw_ed, raw_k1;
	int rounds = argc > 4 ? atoi(argv[4]) : 1, n_binaries = argc > 5 ? 2 : 1;
	const char *binaries[2] = {argv[2], argc > 5 ? argv[5] : NULL};
	const char *labels[2] = {"signerd", "other"};
	static struct result results[2][ROUNDS_MAX * 2];
	static char second_config[600];
	const char *configs[2] = {NULL, second_config};
	char dir[512], sol_body[1024], *slash;
	void *dl;
	int r;

	if (argc < 3 || sodium_init() < 0 || rounds < 1 || rounds > ROUNDS_MAX || seconds <= 0) {
		fprintf(stderr,
			"usage: bench_api CONFIG SIGNERD [SECONDS [ROUNDS (1-%d) [SIGNERD2]]]\n",
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
	/* 1. the baseline, before signerd holds the token */
	kc = (struct ks_config){.module_path = cfg.token.module,
				.token_label = cfg.token.label,
				.pin_file = cfg.token.pin_file,
				.sessions = 1};
	if ((r = ks_open(&kc, &ks)) != 0) {
		fprintf(stderr, "bench_api: %s\n", sg_errmsg(r));
		return 1;
	}
	dl = dlopen(cfg.token.module, RTLD_NOW | RTLD_LOCAL);
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	get_list(&f);
	f->C_GetSlotList(CK_TRUE, slots, &ns);
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO info;

		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    strncmp((const char *)info.label, cfg.token.label, strlen(cfg.token.label)) ==
			    0)
			slot = slots[i];
	}
	raw_ed = raw_rate(f, slot, "signerd/solana-dev/1", CKM_EDDSA, 256, seconds);
	raw_k1 = raw_rate(f, slot, "signerd/polygon-dev/1", CKM_ECDSA, 32, seconds);
	{
		/* a Solana message with solana-dev as fee payer: legacy, one transfer */
		struct ks_key k;
		uint8_t m[150] = {1, 0, 1, 3};
		char b64[256];

		if (ks_key_get(ks, "solana-dev", 0, &k) != 0)
			return 1;
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
		snprintf(sol_body, sizeof(sol_body),
			 "{\"operation\":\"dev\",\"solana_message\":\"%s\"}", b64);
	}
	ks_close(ks);

	/* each binary its own audit log and token (whose anchor names its log) */
	configs[0] = argv[1];
	if (n_binaries == 2 && write_second_config(argv[1], &cfg, second_config) != 0)
		return 1;
	printf("API benchmark: %u workers, %d kept-alive mTLS connections, %.0f s per run, %d "
	       "round(s); raw C_Sign on the same token, 2 threads: ed25519 %.0f/s, secp256k1 "
	       "%.0f/s\n",
	       cfg.workers, CONNECTIONS, seconds, rounds, raw_ed, raw_k1);
	printf("%-8s %-7s %10s %7s %11s %8s %8s %10s %8s %8s %8s %6s\n", "signerd", "chain",
	       "sign/s", "ratio", "cpu us/sig", "p50 ms", "p99 ms", "half/s", "p50 ms", "p99 ms",
	       "others%", "errors");
	for (int round = 0; round < rounds; round++) {
		for (int v = 0; v < n_binaries; v++) {
			struct result *res = &results[v][round * 2];

			if (bench_binary(configs[v], binaries[v], &cfg, dir, sol_body, seconds,
					 res) != 0)
				return 1;
			for (int c = 0; c < 2; c++)
				print_result(labels[v], c == 0 ? "solana" : "evm", &res[c],
					     c == 0 ? raw_ed : raw_k1);
		}
	}
	if (rounds > 1) {
		printf("medians of %d rounds:\n", rounds);
		for (int v = 0; v < n_binaries; v++)
			for (int c = 0; c < 2; c++) {
				struct result med;

				median_result(results[v], rounds, c, &med);
				print_result(labels[v], c == 0 ? "solana" : "evm", &med,
					     c == 0 ? raw_ed : raw_k1);
			}
	}
	signer_config_free(&cfg);
	return 0;
}
