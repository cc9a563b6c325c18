/* The signing API over mTLS (libmicrohttpd + GnuTLS). libmicrohttpd asks for the client
 * certificate; verifying it is ours, on every connection, before any route runs: a connection
 * whose certificate does not verify is closed without an answer. */
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
#include "api/server.h"

#define API_BODY_MAX (64 * 1024)

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
static struct api_server *api_current;

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

/* The connection a handshake in progress belongs to: the newest one listed on its socket. */
static struct api_conn *api_conn_by_fd(struct api_server *srv, int fd)
{
	for (struct api_conn *c = srv->conns; c != NULL; c = c->next)
		if (c->fd == fd)
			return c;
	return NULL;
}

/* In the handshake: the client certificate, verified against the current material. A peer
 * without a valid one never completes the handshake, so it never reaches the HTTP parser. */
static int api_verify_peer(gnutls_session_t session)
{
	struct tls_material *m = api_current != NULL ? atomic_load(&api_current->tls) : NULL;
	struct tls_peer peer;
	const char *reason = "invalid";

	char line[400];

	if (m != NULL && tls_peer_check(m, session, &peer, &reason) == SG_OK)
		return 0;
	metrics_tls_handshake_failure(reason);
	if (api_current != NULL) { /* counted here: not again when the connection closes */
		struct api_conn *conn;

		pthread_mutex_lock(&api_current->conns_mu);
		conn = api_conn_by_fd(api_current, gnutls_transport_get_int(session));
		if (conn != NULL)
			conn->refused = true;
		pthread_mutex_unlock(&api_current->conns_mu);
	}
	snprintf(line, sizeof(line), "refused a TLS handshake: client certificate %s (%s)", reason,
		 sg_errmsg(SG_ERR_PERMISSION));
	log_limited(reason, line);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

/* The client's Certificate message, before GnuTLS reads it: an empty one (TLS 1.2: a list of
 * length 0; TLS 1.3: a context, then a list of length 0) is a client without a certificate,
 * whose handshake GnuTLS is about to end. */
static int api_certificate_seen(gnutls_session_t session, unsigned htype, unsigned when,
				unsigned incoming, const gnutls_datum_t *msg)
{
	size_t at = 0;

	(void)htype;
	(void)when;
	if (!incoming || msg == NULL || api_current == NULL)
		return 0;
	if (gnutls_protocol_get_version(session) == GNUTLS_TLS1_3) {
		if (msg->size < 1)
			return 0;
		at = 1 + (size_t)msg->data[0]; /* certificate_request_context */
	}
	if (msg->size != at + 3 || msg->data[at] != 0 || msg->data[at + 1] != 0 ||
	    msg->data[at + 2] != 0)
		return 0;
	metrics_tls_handshake_failure("no_certificate");
	pthread_mutex_lock(&api_current->conns_mu);
	{
		struct api_conn *conn =
			api_conn_by_fd(api_current, gnutls_transport_get_int(session));

		if (conn != NULL)
			conn->refused = true; /* counted: not again when it closes */
	}
	pthread_mutex_unlock(&api_current->conns_mu);
	log_limited("no_certificate",
		    "refused a TLS handshake: client certificate no_certificate (the client "
		    "presented no certificate)");
	return 0;
}

/* GnuTLS asks which certificate to present: the current material's. It is also where each
 * session is told to require a client certificate (libmicrohttpd only asks for one), to verify
 * it with api_verify_peer, and not to list the trusted CAs (that list would be the one of
 * start-up, not of the last reload; clients send their certificate without it). */
static int api_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
			     const gnutls_pk_algorithm_t *algos, int n_algos,
			     gnutls_pcert_st **pcert, unsigned int *pcert_length,
			     gnutls_privkey_t *pkey)
{
	struct tls_material *m = api_current != NULL ? atomic_load(&api_current->tls) : NULL;

	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(session, api_verify_peer);
	/* a handshake without a certificate ends inside GnuTLS, before api_verify_peer: the
	 * client's (empty) Certificate message is seen here, to count it as no_certificate */
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CERTIFICATE_PKT,
					   GNUTLS_HOOK_PRE, api_certificate_seen);
	gnutls_certificate_send_x509_rdn_sequence(session, 1);
	(void)req_ca_dn;
	(void)nreqs;
	(void)algos;
	(void)n_algos;
	if (m == NULL)
		return -1;
	*pcert = m->pcerts;
	*pcert_length = m->n_pcerts;
	*pkey = m->key;
	return 0;
}

static void api_shed_oldest(struct api_server *srv);

/* Connections as libmicrohttpd opens and closes them: each is listed (for the guard) from its
 * accept to its close. */
static void api_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				  enum MHD_ConnectionNotificationCode code)
{
	struct api_server *srv = cls;
	struct api_conn *conn;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		conn = calloc(1, sizeof(*conn));
		*socket_context = conn;
		if (conn == NULL)
			return; /* api_conn_check refuses a connection without its record */
		conn->fd = fd != NULL ? fd->connect_fd : -1;
		conn->accepted = time_monotonic_s();
		if (addr != NULL && addr->client_addr != NULL) {
			conn->addr_len = addr->client_addr->sa_family == AF_INET6
						 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
			memcpy(&conn->addr, addr->client_addr, conn->addr_len);
		}
		pthread_mutex_lock(&srv->conns_mu);
		conn->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = conn;
		srv->conns = conn;
		srv->handshaking++;
		/* at most max_handshakes in the handshake at once: past that the oldest goes, so
		 * that sockets an attacker keeps opening never crowd out a client that is quick */
		if (srv->handshaking > srv->max_handshakes)
			api_shed_oldest(srv);
		pthread_mutex_unlock(&srv->conns_mu);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn = *socket_context;
		*socket_context = NULL;
		if (conn == NULL)
			return;
		/* closed before a first request, neither refused for its certificate nor timed
		 * out: its handshake failed (a peer that is not a TLS client, or gave up) */
		if (!conn->first_request && !conn->shut && !conn->refused)
			metrics_tls_handshake_failure("handshake");
		pthread_mutex_lock(&srv->conns_mu);
		if (!conn->first_request && !conn->shut)
			srv->handshaking--;
		if (conn->prev != NULL)
			conn->prev->next = conn->next;
		else
			srv->conns = conn->next;
		if (conn->next != NULL)
			conn->next->prev = conn->prev;
		pthread_mutex_unlock(&srv->conns_mu);
		free(conn);
	}
}

/* Whether fd is still the socket of the peer at addr (and not a later connection's that got
 * the same number). */
static bool api_fd_is_peer(int fd, const struct sockaddr_storage *addr, socklen_t len)
{
	struct sockaddr_storage now;
	socklen_t now_len = sizeof(now);

	if (fd < 0 || len == 0 || getpeername(fd, (struct sockaddr *)&now, &now_len) != 0)
		return false;
	return now_len == len && memcmp(&now, addr, len) == 0;
}

/* With conns_mu held: shuts c's socket down (libmicrohttpd then closes and frees it); it no
 * longer counts as in the handshake. */
static bool api_conn_shut(struct api_server *srv, struct api_conn *c)
{
	c->shut = true;
	if (!c->first_request)
		srv->handshaking--;
	return api_fd_is_peer(c->fd, &c->addr, c->addr_len) && shutdown(c->fd, SHUT_RDWR) == 0;
}

/* Whether two peers share a source: the same IPv4 address, or the same IPv6 /64 (one network
 * hands out as many addresses of its /64 as it likes). */
static bool api_same_source(const struct api_conn *a, const struct api_conn *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr,
			      &((const struct sockaddr_in *)(const void *)&b->addr)->sin_addr,
			      4) == 0;
	if (a->addr.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr,
			      &((const struct sockaddr_in6 *)(const void *)&b->addr)->sin6_addr,
			      8) == 0;
	return false;
}

/* With conns_mu held, too many in the handshake: the oldest handshake of the source that has
 * the most is shut down. A source opening sockets as fast as it can sheds its own; a client
 * from elsewhere, quick or slow, keeps its place. */
static void api_shed_oldest(struct api_server *srv)
{
	struct api_conn *victim = NULL;
	unsigned most = 0;

	for (struct api_conn *c = srv->conns; c != NULL; c = c->next) {
		unsigned n = 0;
		struct api_conn *oldest = NULL;

		if (c->first_request || c->shut)
			continue;
		for (struct api_conn *d = srv->conns; d != NULL; d = d->next)
			if (!d->first_request && !d->shut && api_same_source(c, d)) {
				n++;
				oldest = d; /* the list is newest first */
			}
		if (n > most) {
			most = n;
			victim = oldest;
		}
	}
	if (victim != NULL && api_conn_shut(srv, victim)) {
		srv->handshakes_shed++;
		metrics_tls_handshake_failure("shed");
	}
}

/* The guard: a connection must finish its TLS handshake and send the headers of a first
 * request within limits.handshake_timeout_seconds of its accept, whatever it sends meanwhile;
 * otherwise its socket is shut down, and libmicrohttpd closes and frees it at once. Nothing
 * else of the connection is touched here: the socket stays libmicrohttpd's to close. */
static void *api_guard_main(void *arg)
{
	struct api_server *srv = arg;
	uint64_t logged = 0;
	double last_log = 0;

	pthread_mutex_lock(&srv->conns_mu);
	while (!srv->stopping) {
		struct timespec until;
		double now = time_monotonic_s();

		for (struct api_conn *c = srv->conns; c != NULL; c = c->next) {
			if (c->first_request || c->shut ||
			    now - c->accepted < srv->handshake_seconds)
				continue;
			if (api_conn_shut(srv, c)) {
				srv->handshake_timeouts++;
				metrics_tls_handshake_failure("timeout");
			}
		}
		/* one line every 10 s at most: a flood of silent sockets must not flood the log */
		if (srv->handshake_timeouts != logged && now - last_log >= 10) {
			sg_log("api: closed %llu connections that did not finish the TLS "
			       "handshake and send a request within %.0f s",
			       (unsigned long long)(srv->handshake_timeouts - logged),
			       srv->handshake_seconds);
			logged = srv->handshake_timeouts;
			last_log = now;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->guard_cv, &srv->conns_mu, &until);
	}
	pthread_mutex_unlock(&srv->conns_mu);
	return NULL;
}

void api_connections(struct api_server *srv, unsigned *handshaking, unsigned *open,
		     uint64_t *timeouts)
{
	*handshaking = 0;
	*open = 0;
	pthread_mutex_lock(&srv->conns_mu);
	for (const struct api_conn *c = srv->conns; c != NULL; c = c->next)
		(*(c->first_request ? open : handshaking))++;
	*timeouts = srv->handshake_timeouts;
	pthread_mutex_unlock(&srv->conns_mu);
}

static enum MHD_Result api_send(struct MHD_Connection *c, unsigned status, json_t *body,
				const char *allow, unsigned retry_after)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char retry[16];

	json_decref(body);
	if (text == NULL) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
	}
	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (api_current != NULL && atomic_load(&api_current->draining))
		MHD_add_response_header(resp, "Connection", "close"); /* shutting down */
	if (allow != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	if (retry_after > 0) {
		snprintf(retry, sizeof(retry), "%u", retry_after);
		MHD_add_response_header(resp, "Retry-After", retry);
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result api_error(struct MHD_Connection *c, const struct signer_error *err,
				 const char *request_id)
{
	return api_send(c, (unsigned)err->status, signer_error_json(err, request_id), NULL,
			err->retry_after > 0                       ? err->retry_after
			: err->status == 503 || err->status == 429 ? 1
								   : 0);
}

static enum MHD_Result api_not_allowed(struct MHD_Connection *c, const char *allow)
{
	struct signer_error err;

	(void)signer_error_set(&err, 0, SIGNER_E_METHOD_NOT_ALLOWED, "only %s is allowed here",
			       allow);
	return api_send(c, (unsigned)err.status, signer_error_json(&err, NULL), allow, 0);
}

/* Verifies the connection's client certificate once; false means: close it, no answer. */
static bool api_conn_check(struct api_server *srv, struct MHD_Connection *c, struct api_conn *conn)
{
	const union MHD_ConnectionInfo *info;
	const char *reason = "invalid";

	uint64_t tls_gen = atomic_load(&srv->tls_gen),
		 policy_gen = signer_policy_generation(srv->signer);

	if (conn == NULL)
		return false;
	/* verified before, against what is still in force: nothing to do. After a reload (a CRL,
	 * a new CA, a new policy), a kept-alive connection is checked again. */
	if (conn->checked &&
	    (conn->refused || (conn->tls_gen == tls_gen && conn->policy_gen == policy_gen)))
		return !conn->refused;
	conn->checked = true;
	conn->tls_gen = tls_gen;
	conn->policy_gen = policy_gen;
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info == NULL || info->tls_session == NULL ||
	    tls_peer_check(atomic_load(&srv->tls), (gnutls_session_t)info->tls_session, &conn->peer,
			   &reason) != SG_OK) {
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char host[INET6_ADDRSTRLEN] = "?";

		if (addr != NULL && addr->client_addr != NULL) {
			const struct sockaddr *sa = addr->client_addr;

			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET,
					  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
					  host, sizeof(host));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(
					AF_INET6,
					&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
					host, sizeof(host));
		}
		conn->refused = true;
		metrics_tls_handshake_failure(reason);
		{
			char line[200];

			snprintf(line, sizeof(line),
				 "refused a connection from %s: client certificate %s", host,
				 reason);
			log_limited(reason, line);
		}
		return false;
	}
	/* the identity is the first SAN URI, else the CN: never the CN of a certificate that has
	 * a SAN URI */
	conn->known = signer_identify(
		srv->signer, conn->peer.san_uri_len > 0 ? conn->peer.san_uri : NULL,
		conn->peer.san_uri_len,
		conn->peer.san_uri_len == 0 && conn->peer.cn_len > 0 ? conn->peer.cn : NULL,
		conn->peer.cn_len, conn->peer.spki_sha256, conn->client, sizeof(conn->client));
	return true;
}

static bool api_content_type_json(struct MHD_Connection *c)
{
	const char *ct = NULL;
	size_t n = strlen("application/json"), ct_len = 0;

	/* as long as the header says: "application/json\0..." is not application/json */
	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Content-Type",
					  strlen("Content-Type"), &ct, &ct_len) != MHD_YES ||
	    ct == NULL || strlen(ct) != ct_len || strncasecmp(ct, "application/json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	if (*ct == '\0')
		return true;
	if (*ct != ';')
		return false;
	ct++;
	while (*ct == ' ')
		ct++;
	return strcasecmp(ct, "charset=utf-8") == 0;
}

/* Decodes the payload field into bytes for the signer. */
static bool api_payload(enum signer_payload kind, json_t *v, uint8_t **out, size_t *len,
			struct signer_error *err)
{
	const char *text;
	size_t n;

	*out = NULL;
	if (kind == SIGNER_PAYLOAD_EVM_TYPED_DATA) {
		char *dumped;

		if (!json_is_object(v)) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
					 "evm_typed_data must be an object");
			return false;
		}
		dumped = json_dumps(v, JSON_COMPACT);
		if (dumped == NULL) {
			signer_error_set(err, sg_fail(SG_ERR_NOMEM, "out of memory"),
					 SIGNER_E_INTERNAL, "reading the payload");
			return false;
		}
		*out = (uint8_t *)dumped;
		*len = strlen(dumped);
		return true;
	}
	if (!json_is_string(v)) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s must be a string",
				 signer_payload_name(kind));
		return false;
	}
	text = json_string_value(v);
	n = json_string_length(v);
	*out = malloc(n + 1);
	if (*out == NULL) {
		signer_error_set(err, sg_fail(SG_ERR_NOMEM, "out of memory"), SIGNER_E_INTERNAL,
				 "reading the payload");
		return false;
	}
	if (kind == SIGNER_PAYLOAD_SOLANA_MESSAGE) {
		const char *end = NULL;

		if (sodium_base642bin(*out, n + 1, text, n, NULL, len, &end,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    end != text + n) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
					 "solana_message is not base64");
			return false;
		}
		return true;
	}
	if (hex_decode_0x(text, n, *out, n + 1, len) != SG_OK) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s is not 0x-hex: %s",
				 signer_payload_name(kind), sg_errmsg(SG_ERR_MALFORMED));
		return false;
	}
	return true;
}

/* req->client is the connection's; a request the door decided counts as the client it was
 * decided as (trace->client). */
static void api_count(struct api_server *srv, struct signer_request *req,
		      const struct signer_trace *trace, double started, bool decided)
{
	const char *chain = trace->chain[0] ? trace->chain : "unknown";
	const char *client = decided ? (trace->client[0] ? trace->client : NULL) : req->client;
	const char *key, *operation;

	signer_metric_labels(srv->signer, client, req->key, req->operation, &key, &operation);
	metrics_sign_request(client != NULL ? client : "unknown", key, operation, chain,
			     trace->status);
	if (trace->policy_denied)
		metrics_policy_denial(client != NULL ? client : "unknown", operation,
				      trace->denial_reason);
	metrics_sign_duration(chain, time_monotonic_s() - started);
	if (trace->hsm_seconds > 0)
		metrics_hsm_sign_duration(chain, trace->hsm_seconds);
	if (trace->policy_seconds > 0)
		metrics_policy_eval_duration(trace->policy_seconds);
}

static enum MHD_Result api_sign(struct api_server *srv, struct MHD_Connection *c,
				struct api_conn *conn, const char *key, struct api_request *rq)
{
	/* the door names the client under the policy it decides by; conn's client is only for
	 * what is refused before the door */
	struct signer_peer identity = {
		.san_uri = conn->peer.san_uri_len > 0 ? conn->peer.san_uri : NULL,
		.san_uri_len = conn->peer.san_uri_len,
		.cn = conn->peer.san_uri_len == 0 && conn->peer.cn_len > 0 ? conn->peer.cn : NULL,
		.cn_len = conn->peer.san_uri_len == 0 ? conn->peer.cn_len : 0,
		.spki_sha256 = conn->peer.spki_sha256};
	struct signer_request req = {.client = conn->known ? conn->client : NULL,
				     .identity = &identity,
				     .peer = conn->peer.identity,
				     .key = key};
	struct signer_result res;
	struct signer_error err;
	struct signer_trace trace = {.status = "invalid"};
	json_t *body = NULL, *v, *payload = NULL;
	json_error_t jerr;
	const char *field;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int payloads = 0;
	enum MHD_Result ret;

	if (rq->too_large) {
		signer_error_set(&err, 0, SIGNER_E_PAYLOAD_TOO_LARGE, "the body is over %d bytes",
				 API_BODY_MAX);
		goto refused;
	}
	if (!api_content_type_json(c)) {
		signer_error_set(&err, 0, SIGNER_E_UNSUPPORTED_MEDIA,
				 "the body must be Content-Type: application/json");
		goto refused;
	}
	body = json_loadb(rq->body != NULL ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL || !json_is_object(body)) {
		signer_error_set(&err, 0, SIGNER_E_INVALID_REQUEST,
				 "the body is not a JSON object%s%s", body == NULL ? ": " : "",
				 body == NULL ? jerr.text : "");
		goto refused;
	}
	/* the request id first, so that any refusal can name it */
	v = json_object_get(body, "request_id");
	if (v != NULL && json_is_string(v) && request_id_valid(json_string_value(v)))
		req.request_id = json_string_value(v);
	json_object_foreach (body, field, v) {
		enum signer_payload kind = signer_payload_parse(field);

		if (kind != 0) {
			payloads++;
			req.kind = kind;
			payload = v;
		} else if (strcmp(field, "operation") == 0) {
			if (!json_is_string(v)) {
				signer_error_set(&err, 0, SIGNER_E_INVALID_REQUEST,
						 "operation must be a string");
				goto refused;
			}
			req.operation = json_string_value(v);
		} else if (strcmp(field, "request_id") == 0) {
			if (!json_is_string(v) || !request_id_valid(json_string_value(v))) {
				signer_error_set(
					&err, 0, SIGNER_E_INVALID_REQUEST,
					"request_id must be 1 to 128 printable ASCII characters");
				goto refused;
			}
		} else {
			signer_error_set(&err, 0, SIGNER_E_INVALID_REQUEST, "unknown field '%.64s'",
					 field);
			goto refused;
		}
	}
	if (req.operation == NULL) {
		signer_error_set(&err, 0, SIGNER_E_INVALID_REQUEST, "operation is missing");
		goto refused;
	}
	if (payloads != 1) {
		signer_error_set(&err, 0, SIGNER_E_INVALID_REQUEST,
				 "exactly one of solana_message, evm_transaction, evm_message, "
				 "evm_typed_data is needed (%d given)",
				 payloads);
		goto refused;
	}
	if (!api_payload(req.kind, payload, &bytes, &len, &err))
		goto refused;
	req.payload = bytes;
	req.payload_len = len;
	if (signer_sign_traced(srv->signer, &req, &res, &err, &trace) != SG_OK) {
		api_count(srv, &req, &trace, rq->started, true);
		ret = api_error(c, &err, req.request_id);
		goto out;
	}
	api_count(srv, &req, &trace, rq->started, true);
	ret = api_send(c, 200, json_incref(res.response), NULL, 0);
	signer_result_free(&res);
	goto out;
refused:
	/* refused before the signer: audited all the same */
	signer_record_refusal(srv->signer, &req, &err);
	trace.status = err.status >= 500 ? "error" : "invalid";
	api_count(srv, &req, &trace, rq->started, false);
	ret = api_error(c, &err, req.request_id);
out:
	free(bytes);
	json_decref(body);
	return ret;
}

static enum MHD_Result api_route(struct api_server *srv, struct MHD_Connection *c,
				 struct api_conn *conn, const char *url, const char *method,
				 struct api_request *rq)
{
	static const char prefix[] = "/v1/keys";
	struct signer_error err;
	char name[80];
	const char *rest;
	json_t *out;
	int r;

	/* a reload while the request was arriving (a new CRL, a new CA): checked again now */
	if (!api_conn_check(srv, c, conn))
		return MHD_NO;

	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0) {
		signer_error_set(&err, 0, SIGNER_E_NOT_FOUND, "no such path");
		return api_error(c, &err, NULL);
	}
	rest = url + sizeof(prefix) - 1;
	if (*rest == '\0') {
		if (strcmp(method, "GET") != 0)
			return api_not_allowed(c, "GET");
		r = signer_keys_json(srv->signer, conn->known ? conn->client : "", &out);
		if (r != SG_OK) {
			signer_error_set(&err, r, SIGNER_E_UNAVAILABLE,
					 "the key store is unavailable");
			return api_error(c, &err, NULL);
		}
		return api_send(c, 200, out, NULL, 0);
	}
	if (*rest != '/') {
		signer_error_set(&err, 0, SIGNER_E_NOT_FOUND, "no such path");
		return api_error(c, &err, NULL);
	}
	rest++;
	{
		size_t n = strcspn(rest, "/");
		const char *tail = rest + n;

		if (n == 0 || n >= sizeof(name) || (*tail != '\0' && strcmp(tail, "/sign") != 0)) {
			signer_error_set(&err, 0, SIGNER_E_NOT_FOUND, "no such path");
			return api_error(c, &err, NULL);
		}
		memcpy(name, rest, n);
		name[n] = '\0';
		if (*tail == '\0') {
			if (strcmp(method, "GET") != 0)
				return api_not_allowed(c, "GET");
			r = signer_key_json_get(srv->signer, conn->known ? conn->client : "", name,
						&out);
			if (r == SG_ERR_NOT_FOUND) {
				signer_error_set(&err, 0, SIGNER_E_KEY_NOT_FOUND,
						 "no key named '%s' for this "
						 "client",
						 signer_key_name_valid(name) ? name : "?");
				return api_error(c, &err, NULL);
			}
			if (r != SG_OK) {
				signer_error_set(&err, r, SIGNER_E_UNAVAILABLE,
						 "the key store is unavailable");
				return api_error(c, &err, NULL);
			}
			return api_send(c, 200, out, NULL, 0);
		}
		if (strcmp(method, "POST") != 0)
			return api_not_allowed(c, "POST");
		return api_sign(srv, c, conn, name, rq);
	}
}

static enum MHD_Result api_handler(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **req_cls)
{
	struct api_server *srv = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_conn *conn = ci != NULL ? ci->socket_context : NULL;
	struct api_request *rq = *req_cls;

	(void)version;
	if (rq == NULL) {
		/* before anything else: the client certificate */
		if (!api_conn_check(srv, c, conn))
			return MHD_NO;
		if (!conn->first_request) { /* the handshake deadline is over */
			pthread_mutex_lock(&srv->conns_mu);
			if (!conn->shut)
				srv->handshaking--;
			conn->first_request = true;
			pthread_mutex_unlock(&srv->conns_mu);
		}
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		rq->started = time_monotonic_s();
		rq->counted = true;
		atomic_fetch_add(&srv->inflight, 1);
		*req_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!rq->too_large && rq->len + *upload_data_size <= API_BODY_MAX) {
			char *grown = realloc(rq->body, rq->len + *upload_data_size + 1);

			if (grown == NULL)
				return MHD_NO;
			rq->body = grown;
			memcpy(rq->body + rq->len, upload_data, *upload_data_size);
			rq->len += *upload_data_size;
		} else {
			rq->too_large = true; /* the rest is read and dropped */
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return api_route(srv, c, conn, url, method, rq);
}

static void api_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode code)
{
	struct api_server *srv = cls;
	struct api_request *rq = *req_cls;

	(void)c;
	(void)code;
	if (rq == NULL)
		return;
	if (rq->counted)
		atomic_fetch_sub(&srv->inflight, 1);
	free(rq->body);
	free(rq);
	*req_cls = NULL;
}

/* libmicrohttpd's own messages, each kind at most once every 10 s (connections that fail their
 * handshake are counted when they close). */
static void api_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* our own refusals of client certificates are logged where they are decided */
	if (strstr(line, "Application reported internal error") != NULL)
		return;
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_limited(line, line);
}

int api_listen_addr(const struct signer_config_listen *l, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	const char *host = strcmp(l->host, "localhost") == 0 ? "127.0.0.1" : l->host;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)l->port);
		*len = sizeof(*v4);
		return SG_OK;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)l->port);
		*len = sizeof(*v6);
		return SG_OK;
	}
	return sg_fail(SG_ERR_CONFIG, "listen address '%s' is not an IP address", l->host);
}

/* The URL as the client sent it: paths and key names here are plain ASCII, so nothing is
 * decoded (a %00 must not cut "/v1/keys/a%00b/sign" short). */
static size_t api_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

int api_start(const struct signer_config *cfg, struct signer *signer, struct tls_material *tls,
	      struct api_server **out)
{
	struct api_server *srv;
	struct sockaddr_storage ss;
	socklen_t sslen;
	/* no MHD_USE_TURBO: with it, libmicrohttpd 0.9.75 neither times out connections in the TLS
	 * handshake nor frees those whose peer closed during it (their per-IP count leaks: 64
	 * from one address lock that address out for good) */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int r;

	*out = NULL;
	if ((r = api_listen_addr(&cfg->api, &ss, &sslen)) != SG_OK)
		return r;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return sg_fail(SG_ERR_NOMEM, "API listener");
	srv->signer = signer;
	atomic_store(&srv->tls, tls);
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->conns_mu, NULL);
	pthread_cond_init(&srv->guard_cv, NULL);
	srv->handshake_seconds = (double)cfg->limits.handshake_timeout_seconds;
	srv->max_handshakes = cfg->limits.max_handshakes;
	api_current = srv;
	srv->mhd = MHD_start_daemon(
		flags, (uint16_t)cfg->api.port, NULL, NULL, api_handler, srv,
		MHD_OPTION_EXTERNAL_LOGGER, api_log, NULL, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_HTTPS_CERT_CALLBACK, api_cert_callback,
		MHD_OPTION_HTTPS_MEM_TRUST, tls->client_ca_pem, MHD_OPTION_HTTPS_PRIORITIES,
		TLS_PRIORITIES,
		/* twice the token's sessions: a thread can sign while another waits for the audit
		 * log's sync */
		MHD_OPTION_THREAD_POOL_SIZE, 2 * (unsigned)cfg->workers,
		MHD_OPTION_CONNECTION_LIMIT, cfg->limits.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->limits.max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->limits.timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		MHD_OPTION_NOTIFY_CONNECTION, api_notify_connection, srv,
		MHD_OPTION_NOTIFY_COMPLETED, api_completed, srv, MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_UNESCAPE_CALLBACK, api_unescape, NULL, MHD_OPTION_END);
	if (srv->mhd == NULL) {
		r = sg_fail(SG_ERR_IO,
			    "the API listener could not start on %s:%u (address in use, "
			    "or TLS set-up failed)",
			    cfg->api.host, cfg->api.port);
		goto fail;
	}
	if (pthread_create(&srv->guard, NULL, api_guard_main, srv) != 0) {
		r = sg_fail(SG_ERR_INTERNAL, "the API listener's handshake guard did not start");
		MHD_stop_daemon(srv->mhd);
		goto fail;
	}
	srv->guard_running = true;
	*out = srv;
	return SG_OK;
fail:
	api_current = NULL;
	pthread_cond_destroy(&srv->guard_cv);
	pthread_mutex_destroy(&srv->conns_mu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	return r;
}

void api_set_tls(struct api_server *srv, struct tls_material *tls)
{
	struct tls_material *old, **grown;

	/* handshakes and checks may still hold the old material: it is kept until api_stop (a
	 * few kilobytes per reload) */
	pthread_mutex_lock(&srv->mu);
	grown = realloc(srv->retired, (srv->n_retired + 1) * sizeof(*grown));
	if (grown == NULL) {
		pthread_mutex_unlock(&srv->mu);
		tls_material_free(tls);
		sg_log("reload: out of memory; keeping the TLS files in force");
		return;
	}
	srv->retired = grown;
	old = atomic_exchange(&srv->tls, tls);
	srv->retired[srv->n_retired++] = old;
	atomic_fetch_add(&srv->tls_gen, 1);
	pthread_mutex_unlock(&srv->mu);
}

const struct tls_material *api_tls(struct api_server *srv)
{
	return atomic_load(&srv->tls);
}

void api_quiesce(struct api_server *srv)
{
	atomic_store(&srv->draining, true);
	MHD_socket s = MHD_quiesce_daemon(srv->mhd);

	if (s != MHD_INVALID_SOCKET)
		close(s);
}

unsigned api_inflight(struct api_server *srv)
{
	return atomic_load(&srv->inflight);
}

void api_stop(struct api_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->guard_running) {
		pthread_mutex_lock(&srv->conns_mu);
		srv->stopping = true;
		pthread_cond_signal(&srv->guard_cv);
		pthread_mutex_unlock(&srv->conns_mu);
		pthread_join(srv->guard, NULL);
	}
	MHD_stop_daemon(srv->mhd);
	api_current = NULL;
	tls_material_free(atomic_load(&srv->tls));
	for (size_t i = 0; i < srv->n_retired; i++)
		tls_material_free(srv->retired[i]);
	free(srv->retired);
	pthread_cond_destroy(&srv->guard_cv);
	pthread_mutex_destroy(&srv->conns_mu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
