/* The signing API's connections (libmicrohttpd + GnuTLS). libmicrohttpd asks for the client
 * certificate; verifying it is ours, on every connection, before any route runs: a connection
 * whose certificate does not verify is closed without an answer. Every connection has a
 * deadline for its handshake and first request, kept by a guard thread; past a cap, the oldest
 * handshake of the busiest source is shed. */
#include "api_internal.h"

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
int api_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		      const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
		      unsigned int *pcert_length, gnutls_privkey_t *pkey)
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
void api_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
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
void *api_guard_main(void *arg)
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

bool api_conn_check(struct api_server *srv, struct MHD_Connection *c, struct api_conn *conn)
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
