/* bench_api CONFIG SIGNERD [SECONDS]: signerd over kept-alive mTLS connections.
 * 1. raw C_SignInit + C_Sign on the same token, 2 threads, per curve (the baseline);
 * 2. signerd started on CONFIG; per chain, as many requests as CONNECTIONS kept-alive clients
 *    can push (signatures/s, p50, p99);
 * 3. per chain, half that rate, paced (p50, p99).
 * Prints the ratio of API throughput to raw C_Sign. A benchmark: it reports, it does not judge. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

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
	req_len = (size_t)snprintf(req, sizeof(req),
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
				struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};

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
	qsort(b->lat, n, sizeof(double), cmp_double);
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
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       {CKA_LABEL, (void *)(uintptr_t)r->label, strlen(r->label)}};
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
	struct raw r = {f, slot, label, mech, len, seconds, 0};
	pthread_t t[2];
	double start = time_monotonic_s();

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, raw_main, &r);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&r.count) / (time_monotonic_s() - start);
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
	char dir[512], sol_body[1024], *slash;
	pid_t daemon;
	void *dl;
	int r;

	if (argc < 3 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_api CONFIG SIGNERD [SECONDS]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if ((r = signer_config_load(argv[1], &cfg)) != 0 || (r = signer_config_apply_env(&cfg)) != 0) {
		fprintf(stderr, "bench_api: %s\n", sg_errmsg(r));
		return 1;
	}
	/* 1. the baseline, before signerd holds the token */
	kc = (struct ks_config){cfg.token.module, cfg.token.label, cfg.token.pin_file, 1};
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
		    strncmp((const char *)info.label, cfg.token.label, strlen(cfg.token.label)) == 0)
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
		memset(m + 36, 0x11, 32); /* destination */
		memset(m + 68, 0, 32);    /* system program */
		memset(m + 100, 0x22, 32); /* blockhash */
		m[132] = 1;
		m[133] = 2;
		m[134] = 2;
		m[135] = 0;
		m[136] = 1;
		m[137] = 12;
		m[138] = 2;
		sodium_bin2base64(b64, sizeof(b64), m, sizeof(m), sodium_base64_VARIANT_ORIGINAL);
		snprintf(sol_body, sizeof(sol_body), "{\"operation\":\"dev\",\"solana_message\":\"%s\"}",
			 b64);
	}
	ks_close(ks);

	/* 2. signerd on the same token */
	daemon = fork();
	if (daemon == 0) {
		int devnull = open("/dev/null", 1);

		dup2(devnull, 2);
		execl(argv[2], argv[2], "--config", argv[1], (char *)NULL);
		_exit(127);
	}
	sleep(2);
	{
		static const struct {
			const char *chain, *key, *client;
		} chains[] = {{"solana", "solana-dev", "solana-adapter"},
			      {"evm", "polygon-dev", "polygon-adapter"}};
		struct bench b = {.dir = dir, .port = cfg.api.port, .seconds = seconds};

		b.lat = calloc(MAX_SAMPLES, sizeof(double));
		printf("API benchmark: signerd, %u workers, %d kept-alive mTLS connections, %.0f s per "
		       "run; raw C_Sign on the same token, 2 threads\n",
		       cfg.workers, CONNECTIONS, seconds);
		printf("%-7s %12s %12s %7s %9s %9s %14s %9s %9s %7s\n", "chain", "raw C_Sign/s",
		       "API sign/s", "ratio", "p50 ms", "p99 ms", "half rate/s", "p50 ms", "p99 ms",
		       "errors");
		for (int c = 0; c < 2; c++) {
			double rate, p50, p99, hrate, hp50, hp99, raw = c == 0 ? raw_ed : raw_k1;
			unsigned long errors;

			b.key = chains[c].key;
			b.client = chains[c].client;
			b.body = c == 0 ? sol_body
					: "{\"operation\":\"dev\",\"evm_message\":\"0x48656c6c6f\"}";
			b.interval = 0;
			run(&b, &rate, &p50, &p99);
			errors = atomic_load(&b.errors);
			b.interval = rate > 0 ? (double)CONNECTIONS / (rate / 2) : 1;
			run(&b, &hrate, &hp50, &hp99);
			errors += atomic_load(&b.errors);
			printf("%-7s %12.0f %12.0f %7.3f %9.2f %9.2f %14.0f %9.2f %9.2f %7lu\n",
			       chains[c].chain, raw, rate, rate / raw, p50, p99, hrate, hp50, hp99,
			       errors);
		}
		free(b.lat);
	}
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	signer_config_free(&cfg);
	return 0;
}
