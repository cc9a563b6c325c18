/* The benchmarks' mTLS client of signerd's API: one kept-alive connection, as an adapter holds
 * it (the development environment's client certificate, TCP_NODELAY), and one request on it. */
#ifndef SIGNER_BENCH_CLIENT_H
#define SIGNER_BENCH_CLIENT_H

#include <stddef.h>

#include <gnutls/gnutls.h>

struct bench_conn {
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	int fd;
	int up; /* connected and handshaken */
};

/* Connects to 127.0.0.1:port as client (dir/pki/clients/CLIENT.pem and .key, trusting
 * dir/pki/ca.pem) and completes the handshake; c->up says whether it did. */
void bench_conn_open(struct bench_conn *c, const char *dir, const char *client, unsigned port);
/* Sends req and reads the response (headers, then Content-Length bytes of body): 1 for a 200,
 * 0 for another status, -1 when the connection failed. */
int bench_conn_exchange(struct bench_conn *c, const char *req, size_t req_len);
void bench_conn_close(struct bench_conn *c);

#endif
