/* The ops listener (plain HTTP, loopback by default): /healthz, /readyz, /metrics. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/metrics.h"
#include "api/server.h"

#ifndef SIGNER_VERSION
#define SIGNER_VERSION "unknown"
#endif

struct ops_server {
	struct MHD_Daemon *mhd;
	struct signer *signer;
	struct api_server *api;
	char *targets[SIGNER_BACKUP_TARGETS_MAX]; /* the backup targets' names */
	size_t n_targets;
};

/* One target's backup status, as signer_backup_status gives it. */
struct ops_backup_row {
	const char *target;
	int64_t last_success;
	size_t missing;
};

struct ops_backup_rows {
	struct ops_backup_row row[SIGNER_BACKUP_TARGETS_MAX];
	size_t n;
};

static void ops_backup_status(const char *target, int64_t last_success, size_t missing, void *ctx)
{
	struct ops_backup_rows *b = ctx;

	if (b->n < SIGNER_BACKUP_TARGETS_MAX)
		b->row[b->n++] = (struct ops_backup_row){
			.target = target, .last_success = last_success, .missing = missing};
}

static enum MHD_Result ops_send(struct MHD_Connection *c, unsigned status, const char *type,
				char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void ops_token_error(const char *function, const char *rv, uint64_t count, void *ctx)
{
	struct metrics_text *t = ctx;

	metrics_printf(t, "signer_hsm_errors_total{function=\"");
	metrics_label(t, function);
	metrics_printf(t, "\",rv=\"");
	metrics_label(t, rv);
	metrics_printf(t, "\"} %llu\n", (unsigned long long)count);
}

static void ops_process_metrics(struct metrics_text *t)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	DIR *d;
	struct dirent *e;
	unsigned fds = 0;

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	d = opendir("/proc/self/fd");
	while (d != NULL && (e = readdir(d)) != NULL)
		fds += e->d_name[0] != '.';
	if (d != NULL) {
		closedir(d);
		fds--; /* the directory stream itself */
	}
	metrics_printf(t,
		       "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		       "# TYPE process_resident_memory_bytes gauge\n"
		       "process_resident_memory_bytes %ld\n",
		       rss * sysconf(_SC_PAGESIZE));
	metrics_printf(t,
		       "# HELP process_start_time_seconds Start time of the process since the "
		       "Unix epoch in seconds.\n"
		       "# TYPE process_start_time_seconds gauge\n"
		       "process_start_time_seconds %.3f\n",
		       metrics_start_time());
	metrics_printf(t,
		       "# HELP process_open_fds Number of open file descriptors.\n"
		       "# TYPE process_open_fds gauge\nprocess_open_fds %u\n",
		       fds);
}

static char *ops_metrics(struct ops_server *srv)
{
	struct metrics_text t = {0};
	unsigned busy = 0, idle = 0;
	bool logged_in = false, token_ok;
	json_t *keys = NULL, *k;
	const struct tls_material *tls = api_tls(srv->api);
	size_t i;

	metrics_render(&t);
	metrics_printf(&t, "# HELP signer_hsm_errors_total Token errors by PKCS#11 function and "
			   "return value.\n# TYPE signer_hsm_errors_total counter\n");
	signer_token_errors(srv->signer, ops_token_error, &t);
	/* A scrape asks the token first, as /readyz does (and so mends what can be mended): an
	 * idle signerd that nobody probes would otherwise report the login it had when the last
	 * request ran (SignerTokenLoggedOut would never fire); and a login that fails again while
	 * the token is there (a changed or locked PIN) leaves the pool's health as it was, so the
	 * check's own result counts too. */
	token_ok = signer_token_check(srv->signer) == SG_OK;
	signer_token_state(srv->signer, &busy, &idle, &logged_in);
	logged_in = logged_in && token_ok;
	metrics_printf(&t,
		       "# HELP signer_hsm_sessions Token sessions of the pool by state.\n"
		       "# TYPE signer_hsm_sessions gauge\n"
		       "signer_hsm_sessions{state=\"idle\"} %u\n"
		       "signer_hsm_sessions{state=\"busy\"} %u\n",
		       idle, busy);
	metrics_printf(&t,
		       "# HELP signer_token_logged_in 1 while the token session is logged in.\n"
		       "# TYPE signer_token_logged_in gauge\nsigner_token_logged_in %d\n",
		       logged_in ? 1 : 0);
	metrics_printf(&t,
		       "# HELP signer_audit_write_failures_total Audit records that could not "
		       "be written.\n# TYPE signer_audit_write_failures_total counter\n"
		       "signer_audit_write_failures_total %llu\n",
		       (unsigned long long)signer_audit_failures(srv->signer));
	{
		struct signer_audit_state as;

		signer_audit_state(srv->signer, &as);
		metrics_printf(
			&t,
			"# HELP signer_audit_head_sequence The seq of the last record of the "
			"audit log.\n# TYPE signer_audit_head_sequence gauge\n"
			"signer_audit_head_sequence %llu\n",
			(unsigned long long)as.head_seq);
		metrics_printf(&t,
			       "# HELP signer_limits_ledgers The limits' ledgers: (key, asset) "
			       "pairs spent, (client, operation) pairs signed for, within their "
			       "horizon (at most %zu of each no limit watches).\n"
			       "# TYPE signer_limits_ledgers gauge\n"
			       "signer_limits_ledgers{kind=\"spend\"} %zu\n"
			       "signer_limits_ledgers{kind=\"rate\"} %zu\n",
			       as.ledgers_max, as.spend_ledgers, as.rate_ledgers);
		metrics_printf(&t,
			       "# HELP signer_audit_anchor_sequence The seq of the last record "
			       "anchored in the token.\n# TYPE signer_audit_anchor_sequence gauge\n"
			       "signer_audit_anchor_sequence %llu\n",
			       (unsigned long long)as.anchor_seq);
		metrics_printf(&t,
			       "# HELP signer_audit_anchor_failures_total Anchor writes to the "
			       "token that failed.\n# TYPE signer_audit_anchor_failures_total "
			       "counter\nsigner_audit_anchor_failures_total %llu\n",
			       (unsigned long long)as.anchor_failures);
	}
	metrics_printf(&t, "# HELP signer_key_info The keys: the current version of each (the "
			   "active one, else the newest), its state and address.\n"
			   "# TYPE signer_key_info gauge\n");
	if (signer_keys_json(srv->signer, NULL, &keys) == SG_OK) {
		json_array_foreach (json_object_get(keys, "keys"), i, k) {
			metrics_printf(&t, "signer_key_info{key=\"");
			metrics_label(&t, json_string_value(json_object_get(k, "name")));
			metrics_printf(&t, "\",chain=\"");
			metrics_label(&t, json_string_value(json_object_get(k, "chain")));
			metrics_printf(
				&t, "\",version=\"%lld\",state=\"",
				(long long)json_integer_value(json_object_get(k, "version")));
			metrics_label(&t, json_string_value(json_object_get(k, "state")));
			metrics_printf(&t, "\",address=\"");
			metrics_label(&t, json_string_value(json_object_get(k, "address")));
			metrics_printf(&t, "\"} 1\n");
		}
		json_decref(keys);
	}
	metrics_printf(&t,
		       "# HELP signer_certificate_expiry_timestamp_seconds When the TLS "
		       "certificates expire (the earliest in each file).\n"
		       "# TYPE signer_certificate_expiry_timestamp_seconds gauge\n"
		       "signer_certificate_expiry_timestamp_seconds{cert=\"server\"} %lld\n"
		       "signer_certificate_expiry_timestamp_seconds{cert=\"client_ca\"} %lld\n",
		       (long long)tls->server_not_after, (long long)tls->client_ca_not_after);
	if (tls->crl_next_update >
	    0) /* the CRL's nextUpdate: past it, revocations since are unknown */
		metrics_printf(&t,
			       "signer_certificate_expiry_timestamp_seconds{cert=\"crl\"} %lld\n",
			       (long long)tls->crl_next_update);
	{
		unsigned handshaking, open;
		uint64_t timeouts;

		api_connections(srv->api, &handshaking, &open, &timeouts);
		metrics_printf(&t,
			       "# HELP signer_api_connections Connections of the API listener, "
			       "before their first request (TLS handshake) and after.\n"
			       "# TYPE signer_api_connections gauge\n"
			       "signer_api_connections{state=\"handshake\"} %u\n"
			       "signer_api_connections{state=\"open\"} %u\n",
			       handshaking, open);
	}
	if (srv->n_targets > 0) {
		/* one read of the token's backup status for both families */
		struct ops_backup_rows b = {.n = 0};

		signer_backup_status(srv->signer, (const char *const *)srv->targets, srv->n_targets,
				     ops_backup_status, &b);
		metrics_printf(&t, "# HELP signer_backup_last_success_timestamp_seconds When each "
				   "backup target last took a backup whole (0: never).\n"
				   "# TYPE signer_backup_last_success_timestamp_seconds gauge\n");
		for (size_t r = 0; r < b.n; r++) {
			metrics_printf(&t,
				       "signer_backup_last_success_timestamp_seconds{target=\"");
			metrics_label(&t, b.row[r].target);
			metrics_printf(&t, "\"} %lld\n", (long long)b.row[r].last_success);
		}
		metrics_printf(&t, "# HELP signer_backup_keys_missing Key versions (not destroyed) "
				   "whose wrapped key the target's last backup lacks.\n"
				   "# TYPE signer_backup_keys_missing gauge\n");
		for (size_t r = 0; r < b.n; r++) {
			metrics_printf(&t, "signer_backup_keys_missing{target=\"");
			metrics_label(&t, b.row[r].target);
			metrics_printf(&t, "\"} %zu\n", b.row[r].missing);
		}
	}
	metrics_printf(&t,
		       "# HELP signer_build_info The running build (always 1).\n"
		       "# TYPE signer_build_info gauge\nsigner_build_info{version=\"%s\"} 1\n",
		       SIGNER_VERSION);
	ops_process_metrics(&t);
	return t.data;
}

static enum MHD_Result ops_handler(void *cls, struct MHD_Connection *c, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **req_cls)
{
	struct ops_server *srv = cls;

	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = srv;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		struct MHD_Response *resp;
		static const char body[] =
			"{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"GET only\"}}";
		enum MHD_Result ret;

		resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)(uintptr_t)body,
						       MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Type", "application/json");
		MHD_add_response_header(resp, "Allow", "GET, HEAD");
		ret = MHD_queue_response(c, 405, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (strcmp(url, "/healthz") == 0)
		return ops_send(c, 200, "application/json", strdup("{\"status\":\"ok\"}"));
	if (strcmp(url, "/metrics") == 0)
		return ops_send(c, 200, "text/plain; version=0.0.4; charset=utf-8",
				ops_metrics(srv));
	if (strcmp(url, "/readyz") == 0) {
		json_t *reasons = json_array(), *body;
		int r = signer_token_check(srv->signer);
		char *text;
		bool ready;

		if (r != SG_OK)
			json_array_append_new(reasons, json_string(sg_errmsg(r)));
		if (!signer_audit_writable(srv->signer))
			json_array_append_new(reasons,
					      json_string("the audit log cannot be written"));
		{
			struct signer_audit_state as;

			signer_audit_state(srv->signer, &as);
			if (as.anchor_failing)
				json_array_append_new(
					reasons,
					json_string("the audit log's anchor cannot be written "
						    "to the token"));
		}
		ready = json_array_size(reasons) == 0;
		body = json_pack("{s:s, s:o}", "status", ready ? "ready" : "not_ready", "reasons",
				 reasons);
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		return ops_send(c, ready ? 200 : 503, "application/json", text);
	}
	return ops_send(
		c, 404, "application/json",
		strdup("{\"error\":{\"code\":\"not_found\",\"message\":\"no such path\"}}"));
}

int ops_start(const struct signer_config *cfg, struct signer *signer, struct api_server *api,
	      struct ops_server **out)
{
	struct ops_server *srv;
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	int r;

	*out = NULL;
	if ((r = api_listen_addr(&cfg->ops, &ss, &sslen)) != SG_OK)
		return r;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return sg_fail(SG_ERR_NOMEM, "ops listener");
	srv->signer = signer;
	srv->api = api;
	for (size_t i = 0; i < cfg->backup.n_targets; i++) {
		if ((srv->targets[i] = strdup(cfg->backup.targets[i].name)) == NULL) {
			ops_stop(srv);
			return sg_fail(SG_ERR_NOMEM, "ops listener");
		}
		srv->n_targets++;
	}
	srv->mhd = MHD_start_daemon(flags, (uint16_t)cfg->ops.port, NULL, NULL, ops_handler, srv,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT,
				    10U, MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
				    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		ops_stop(srv);
		return sg_fail(SG_ERR_IO,
			       "the ops listener could not start on %s:%u (address in use?)",
			       cfg->ops.host, cfg->ops.port);
	}
	*out = srv;
	return SG_OK;
}

void ops_stop(struct ops_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd);
	for (size_t i = 0; i < srv->n_targets; i++)
		free(srv->targets[i]);
	free(srv);
}
