/* The signing API's requests (libmicrohttpd): the routes, the sign request's body read into a
 * signer_request, and every reply, through one path (api_send) with the error table's status. */
#include "api_internal.h"

struct api_server *api_current;

static enum MHD_Result api_send_text(struct MHD_Connection *c, unsigned status, char *text,
				     const char *allow, unsigned retry_after);

static enum MHD_Result api_send(struct MHD_Connection *c, unsigned status, json_t *body,
				const char *allow, unsigned retry_after)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	return api_send_text(c, status, text, allow, retry_after);
}

/* Sends text (malloc'd, taken; NULL: out of memory, a 500). */
static enum MHD_Result api_send_text(struct MHD_Connection *c, unsigned status, char *text,
				     const char *allow, unsigned retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char retry[16];

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
	json_t *body = NULL;
	uint8_t *bytes = NULL;
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
	if (!api_sign_body_parse(rq->body, rq->len, &req, &body, &bytes, &err))
		goto refused;
	if (signer_sign_traced(srv->signer, &req, &res, &err, &trace) != SG_OK) {
		api_count(srv, &req, &trace, rq->started, true);
		ret = api_error(c, &err, req.request_id);
		goto out;
	}
	api_count(srv, &req, &trace, rq->started, true);
	{
		/* the response's members as the door wrote them, in braces */
		char *text = malloc(res.response.len + 3);

		if (text != NULL) {
			text[0] = '{';
			memcpy(text + 1, res.response.buf, res.response.len);
			text[res.response.len + 1] = '}';
			text[res.response.len + 2] = '\0';
		}
		ret = api_send_text(c, 200, text, NULL, 0);
	}
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
static void api_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
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
	/* kinds by libmicrohttpd's format, not by the text a peer's bytes may have shaped */
	log_limited(fmt, line);
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
	pthread_attr_t attr;
	bool started;
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
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONNECTION_MEMORY,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
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
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, API_THREAD_STACK);
	started = pthread_create(&srv->guard, &attr, api_guard_main, srv) == 0;
	pthread_attr_destroy(&attr);
	if (!started) {
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
