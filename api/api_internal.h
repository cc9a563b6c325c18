/* The mTLS API's parts: its connections, their handshake deadline and their certificates
 * (conn.c), and its requests, routes and replies (http.c). */
#ifndef SIGNER_API_API_INTERNAL_H
#define SIGNER_API_API_INTERNAL_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "api/loglimit.h"
#include "api/metrics.h"
#include "common/log.h"
#include "common/encoding.h"
#include "common/names.h"
#include "common/timefmt.h"
#include "api/request.h"
#include "api/server.h"

#define API_BODY_MAX (64 * 1024)
/* Per connection: the request line and headers, and the read buffer the body passes through
 * (the body itself is copied out as it comes, up to API_BODY_MAX) */
#define API_CONNECTION_MEMORY (32 * 1024)

struct api_conn;

struct api_server {
	struct MHD_Daemon *mhd;
	struct signer *signer;
	/* the handshake deadline: every connection libmicrohttpd holds, and a guard thread that
	 * shuts down those that have not sent a first request in time */
	pthread_mutex_t conns_mu;
	pthread_cond_t guard_cv;
	struct api_conn *conns;
	pthread_t guard;
	bool guard_running;
	bool stopping;
	double handshake_seconds;
	uint64_t handshake_timeouts;
	unsigned handshaking;    /* listed, before a first request, not shut down */
	unsigned max_handshakes; /* limits.max_handshakes */
	uint64_t handshakes_shed;
	_Atomic(struct tls_material *) tls;
	atomic_uint_fast64_t tls_gen;  /* bumped by every swap */
	struct tls_material **retired; /* swapped out by reloads: freed at stop, never before */
	size_t n_retired;
	atomic_bool draining;
	pthread_mutex_t mu;
	atomic_uint inflight;
};

/* One server per process: the certificate callback of GnuTLS has no user pointer. */
extern struct api_server *api_current; /* http.c */

struct api_conn {
	struct api_conn *prev, *next; /* srv->conns */
	int fd;
	struct sockaddr_storage addr; /* the peer, to check fd is still its socket */
	socklen_t addr_len;
	double accepted;    /* monotonic seconds */
	bool first_request; /* headers of a first request arrived: the deadline is over */
	bool shut;          /* the guard shut it down */
	bool checked;
	bool refused; /* its certificate was refused (in the handshake, or checked again later) */
	bool known;
	uint64_t tls_gen;    /* the TLS material it was verified against */
	uint64_t policy_gen; /* the policy that named its client */
	char client[64];
	struct tls_peer peer;
};

struct api_request {
	char *body;
	size_t len;
	bool too_large;
	double started;
	bool counted;
};

/* conn.c: the callbacks api_start installs, and the check of a connection before a request */
int api_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		      const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *pkey);
void api_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			   enum MHD_ConnectionNotificationCode code);
void *api_guard_main(void *arg);
bool api_conn_check(struct api_server *srv, struct MHD_Connection *c, struct api_conn *conn);

#endif
