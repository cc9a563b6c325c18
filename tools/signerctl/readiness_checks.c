/* signerctl readiness: the token, the policy, the audit log, the keys and signerd's /readyz. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "ctl_readiness.h"
#include "policy/limits.h"
#include "signer/audit.h"
#include "signer/journal.h"

#define GIB (1024.0 * 1024 * 1024)

/* ---- token ---------------------------------------------------------------------------- */

/* The module loads, the token of the label is there, the PIN logs in (ks_open says which of
 * these failed), and it answers (ks_health, then a read of the catalogue). */
void rd_check_token(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config *cfg = c->cfg;
	struct ks_key *keys = NULL;
	size_t n = 0;
	int r;

	if ((r = ctl_keystore(c->ctl)) != SG_OK) {
		rd_fail(res, "token '%s' (module %s): %s", cfg->token.label, cfg->token.module,
			sg_errmsg(r));
		return;
	}
	if ((r = ks_health(c->ctl->ks)) != SG_OK ||
	    (r = ks_key_list(c->ctl->ks, &keys, &n)) != SG_OK) {
		rd_fail(res, "token '%s' logs in but does not answer: %s", cfg->token.label,
			sg_errmsg(r));
		return;
	}
	free(keys);
	c->ks = c->ctl->ks;
	rd_pass(res, "token '%s' (module %s): logged in and answering; %zu key version%s",
		cfg->token.label, cfg->token.module, n, n == 1 ? "" : "s");
}

/* ---- policy --------------------------------------------------------------------------- */

struct granted {
	struct rd_ctx *c;
	struct rd_result *res;
	const char *path;
	size_t keys, missing;
	char seen[64][KS_NAME_MAX + 1];
	size_t n_seen;
};

static bool granted_seen(struct granted *g, const char *key)
{
	for (size_t i = 0; i < g->n_seen; i++)
		if (strcmp(g->seen[i], key) == 0)
			return true;
	if (g->n_seen < sizeof(g->seen) / sizeof(g->seen[0]))
		snprintf(g->seen[g->n_seen++], KS_NAME_MAX + 1, "%s", key);
	return false;
}

static void policy_key(const char *key, unsigned long line, void *ctx)
{
	struct granted *g = ctx;
	struct ks_key k;
	int r;

	if (granted_seen(g, key))
		return;
	g->keys++;
	if (g->c->ks == NULL)
		return;
	r = ks_key_get(g->c->ks, key, 0, &k);
	if (r == SG_ERR_NOT_FOUND) {
		rd_fail(g->res, "%s:%lu: the grant's key '%s' is not in token '%s'", g->path, line,
			key, g->c->cfg->token.label);
		g->missing++;
	} else if (r != SG_OK) {
		rd_fail(g->res, "%s:%lu: key '%s': %s", g->path, line, key, sg_errmsg(r));
	}
}

/* The policy loads (policy_load is the lint: every problem FILE:LINE), and every key a grant
 * names is in the token (as policy lint does with a config). */
void rd_check_policy(struct rd_ctx *c, struct rd_result *res)
{
	struct granted g = {.c = c, .res = res, .path = c->cfg->policy.path};
	int r;

	if (g.path == NULL) {
		rd_fail(res, "%s has no policy.path: signerd signs nothing without a policy",
			c->cfg->path);
		return;
	}
	if ((r = policy_load(g.path, &c->policy)) != SG_OK) {
		c->policy = NULL;
		rd_fail(res, "%s", sg_errmsg(r));
		return;
	}
	policy_keys_foreach(c->policy, policy_key, &g);
	if (c->ks == NULL) {
		rd_warn(res,
			"%s loads (%zu clients, %zu grants); its %zu keys are not checked: the "
			"token failed",
			g.path, policy_client_count(c->policy), policy_grant_count(c->policy),
			g.keys);
		return;
	}
	rd_pass(res, "%s: %zu clients, %zu grants, no problems; its %zu key%s in token '%s'",
		g.path, policy_client_count(c->policy), policy_grant_count(c->policy), g.keys,
		g.keys == 1 ? " is" : "s are", c->cfg->token.label);
}

/* ---- audit_log ------------------------------------------------------------------------ */

/* A file can be made in the directory (what rotation and the checkpoint need), and the log
 * itself can be written. */
static void audit_dir_writable(const char *path, const char *dir, struct rd_result *res)
{
	char *probe = NULL;
	int fd;

	if (asprintf(&probe, "%s/.signerd-readiness-%ld", dir, (long)getpid()) < 0) {
		rd_fail(res, "out of memory");
		return;
	}
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rd_fail(res, "the audit log's directory %s is not writable: %s", dir,
			strerror(errno));
	} else {
		close(fd);
		unlink(probe);
	}
	free(probe);
	if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
		rd_fail(res, "the audit log %s is not writable: %s", path, strerror(errno));
}

/* Warns under 10% or under 1 GiB free (whichever applies, both when both do). */
static void audit_space(const char *dir, struct rd_result *res, char *said, size_t said_len)
{
	struct statvfs st;
	double avail, total;

	said[0] = '\0';
	if (statvfs(dir, &st) != 0) {
		rd_warn(res, "the free space of %s is unknown: %s", dir, strerror(errno));
		return;
	}
	avail = (double)st.f_bavail * (double)st.f_frsize;
	total = (double)st.f_blocks * (double)st.f_frsize;
	if (avail < GIB)
		rd_warn(res, "the audit log's filesystem (%s) has %.0f MiB free: under 1 GiB", dir,
			avail / (1024 * 1024));
	if (total > 0 && avail < total / 10)
		rd_warn(res, "the audit log's filesystem (%s) has %.1f%% free: under 10%%", dir,
			100.0 * avail / total);
	snprintf(said, said_len, "%.1f GiB (%.0f%%) free", avail / GIB,
		 total > 0 ? 100.0 * avail / total : 0.0);
}

/* signerd's start-up check (journal_recover, on scratch limits): the chain from the checkpoint
 * the anchor vouches for (else the last 7 days), and that the log reaches the anchor. A
 * running signerd may be appending (a half-written last line reads as torn): a failure is
 * read again, three times at most. */
static int audit_recover(struct keystore *ks, const char *path, struct journal_recovery *rec)
{
	int r = SG_ERR_INTERNAL;

	for (int attempt = 0; attempt < 3; attempt++) {
		struct limits *scratch = NULL;

		if ((r = limits_new(&scratch)) != SG_OK)
			return r;
		r = journal_recover(ks, path, scratch, NULL, NULL, rec);
		limits_free(scratch);
		if (r == SG_OK || r == SG_ERR_NOMEM)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
	return r;
}

void rd_check_audit_log(struct rd_ctx *c, struct rd_result *res)
{
	const char *path = c->cfg->audit.path;
	char *copy, space[96], when[32];
	const char *dir;
	struct journal_recovery rec;
	int r;

	if (path == NULL) {
		rd_fail(res, "%s has no audit.path: signerd signs nothing without an audit log",
			c->cfg->path);
		return;
	}
	if ((copy = strdup(path)) == NULL) {
		rd_fail(res, "out of memory");
		return;
	}
	dir = dirname(copy);
	audit_dir_writable(path, dir, res);
	audit_space(dir, res, space, sizeof(space));
	if (c->ks == NULL) {
		/* the chain alone, as audit verify without a config checks it */
		struct audit_verify_result v = {0};

		if ((r = audit_verify_checked(path, &v)) != SG_OK)
			rd_fail(res, "%s", sg_errmsg(r));
		rd_warn(res, "%s: not checked against the token's anchor: the token failed", path);
		free(copy);
		return;
	}
	r = audit_recover(c->ks, path, &rec);
	if (r != SG_OK) {
		/* what signerd says when it refuses to start on this log; only a log that does not
		 * verify or reach the anchor (SG_ERR_MALFORMED) says signerd would refuse it: a
		 * token that does not answer or an I/O error leaves it undetermined */
		if (r == SG_ERR_MALFORMED)
			c->anchor_reached = 0;
		rd_fail(res, "%s", sg_errmsg(r));
		free(copy);
		return;
	}
	c->anchor_reached = 1;
	if (rec.anchor.present) {
		rd_time_text((int64_t)rec.anchor.written, when);
		rd_pass(res,
			"%s: chain intact from record %llu (%s) to %llu; reaches the token's "
			"anchor "
			"(record %llu, written %s); writable, %s",
			path, (unsigned long long)rec.from_seq,
			rec.used_checkpoint ? "the checkpoint" : "the last 7 days",
			(unsigned long long)rec.last.seq, (unsigned long long)rec.anchor.seq, when,
			space);
	} else {
		rd_pass(res,
			"%s: chain intact, %llu records; the token holds no anchor yet (signerd "
			"anchors the log when it starts); writable, %s",
			path, (unsigned long long)rec.last.seq, space);
	}
	free(copy);
}

/* ---- keys ----------------------------------------------------------------------------- */

struct key_names {
	char name[64][KS_NAME_MAX + 1];
	unsigned long line[64];
	size_t n;
};

static void key_name_add(const char *key, unsigned long line, void *ctx)
{
	struct key_names *kn = ctx;

	for (size_t i = 0; i < kn->n; i++)
		if (strcmp(kn->name[i], key) == 0)
			return;
	if (kn->n < sizeof(kn->name) / sizeof(kn->name[0])) {
		kn->line[kn->n] = line;
		snprintf(kn->name[kn->n++], KS_NAME_MAX + 1, "%s", key);
	}
}

/* Every key the policy grants has an active version; a compromised version anywhere warns. */
void rd_check_keys(struct rd_ctx *c, struct rd_result *res)
{
	struct key_names kn = {.n = 0};
	struct ks_key *keys = NULL;
	size_t n = 0, compromised = 0;
	char active[RD_DETAIL_MAX] = "";
	size_t used = 0;
	int r;

	if (c->ks == NULL) {
		rd_warn(res, "not checked: the token failed");
		return;
	}
	if ((r = ks_key_list(c->ks, &keys, &n)) != SG_OK) {
		rd_fail(res, "the token's catalogue: %s", sg_errmsg(r));
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i].state == KS_STATE_COMPROMISED) {
			char since[32];

			rd_time_text(keys[i].transitions[keys[i].n_transitions - 1].at, since);
			rd_warn(res, "%s v%u is compromised (since %s)", keys[i].name,
				keys[i].version, since);
			compromised++;
		}
	if (c->policy == NULL) {
		rd_warn(res, "the keys the policy grants are not known: the policy did not load");
		free(keys);
		return;
	}
	policy_keys_foreach(c->policy, key_name_add, &kn);
	for (size_t k = 0; k < kn.n; k++) {
		const struct ks_key *act = NULL;
		size_t versions = 0;

		for (size_t i = 0; i < n; i++)
			if (strcmp(keys[i].name, kn.name[k]) == 0) {
				versions++;
				if (keys[i].state == KS_STATE_ACTIVE)
					act = &keys[i];
			}
		if (versions == 0)
			rd_fail(res, "key '%s' (granted at %s:%lu) is not in the token", kn.name[k],
				c->cfg->policy.path, kn.line[k]);
		else if (act == NULL)
			rd_fail(res,
				"key '%s' has no active version (%zu version%s, none active): "
				"its clients' requests are refused (409 key_not_active)",
				kn.name[k], versions, versions == 1 ? "" : "s");
		else if (used < sizeof(active))
			used += (size_t)snprintf(active + used, sizeof(active) - used, "%s%s v%u",
						 used > 0 ? ", " : "", act->name, act->version);
	}
	free(keys);
	rd_pass(res, "every granted key has an active version: %s",
		kn.n > 0 ? active
			 : "(the "
			   "policy grants none)");
}

/* ---- signerd -------------------------------------------------------------------------- */

#define HTTP_TIMEOUT_MS 3000
#define HTTP_MAX        65536

static int wait_fd(int fd, short events, int64_t deadline_ns)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left = (deadline_ns - time_monotonic_ns()) / 1000000;
	int n;

	if (left <= 0)
		return 0;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	return n;
}

/* GET path from host:port over plain HTTP/1.0; the status and the body (malloc'd). *why says
 * why there was no answer. */
static int http_get(const char *host, unsigned port, const char *path, int *status, char **body,
		    char *why, size_t why_len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int64_t deadline = time_monotonic_ns() + (int64_t)HTTP_TIMEOUT_MS * 1000000;
	char portstr[8], req[512], *buf = NULL;
	size_t len = 0;
	int fd = -1, e, r = -1;

	*body = NULL;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((e = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		snprintf(why, why_len, "%s", gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, why_len, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		socklen_t sl = sizeof(e);

		if (errno != EINPROGRESS) {
			snprintf(why, why_len, "%s", strerror(errno));
			goto out;
		}
		if (wait_fd(fd, POLLOUT, deadline) <= 0) {
			snprintf(why, why_len, "no connection within %d s", HTTP_TIMEOUT_MS / 1000);
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0 || e != 0) {
			snprintf(why, why_len, "%s", strerror(e != 0 ? e : errno));
			goto out;
		}
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%u\r\nConnection: close\r\n\r\n",
		 path, host, port);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(why, why_len, "sending the request: %s", strerror(errno));
		goto out;
	}
	if ((buf = malloc(HTTP_MAX + 1)) == NULL) {
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (wait_fd(fd, POLLIN, deadline) <= 0) {
			snprintf(why, why_len, "no answer within %d s", HTTP_TIMEOUT_MS / 1000);
			goto out;
		}
		got = recv(fd, buf + len, HTTP_MAX - len, 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			snprintf(why, why_len, "reading the answer: %s", strerror(errno));
			goto out;
		}
		if (got == 0 || (len += (size_t)got) == HTTP_MAX)
			break;
	}
	buf[len] = '\0';
	{
		char *sep = strstr(buf, "\r\n\r\n");

		if (sscanf(buf, "HTTP/%*d.%*d %d", status) != 1 || sep == NULL) {
			snprintf(why, why_len, "not an HTTP answer");
			goto out;
		}
		*body = strdup(sep + 4);
		if (*body == NULL) {
			snprintf(why, why_len, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

/* GET /readyz of the ops listener the config names: 200, else its reasons. */
void rd_check_signerd(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config_listen *ops = &c->cfg->ops;
	bool v6 = strchr(ops->host, ':') != NULL;
	char url[300], why[256] = "";
	char *body = NULL;
	int status = 0;

	snprintf(url, sizeof(url), "http://%s%s%s:%u/readyz", v6 ? "[" : "", ops->host,
		 v6 ? "]" : "", ops->port);
	if (http_get(ops->host, ops->port, "/readyz", &status, &body, why, sizeof(why)) != 0) {
		rd_fail(res, "GET %s: not reachable (%s): is signerd running?", url, why);
		return;
	}
	if (status == 200) {
		rd_pass(res, "GET %s: 200, ready", url);
	} else {
		json_t *j = json_loads(body, 0, NULL), *reason;
		char reasons[RD_DETAIL_MAX] = "";
		size_t i, used = 0;

		json_array_foreach (json_object_get(j, "reasons"), i, reason)
			if (json_is_string(reason) && used < sizeof(reasons))
				used += (size_t)snprintf(reasons + used, sizeof(reasons) - used,
							 "%s%s", used > 0 ? "; " : "",
							 json_string_value(reason));
		json_decref(j);
		rd_fail(res, "GET %s: %d, not ready: %s", url, status,
			used > 0 ? reasons : "(no reasons given)");
	}
	free(body);
}
