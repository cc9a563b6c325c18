/* signerctl readiness [--json] [--textfile FILE]: the checks of ctl_readiness.h, run in order,
 * printed as a table (or API.md section 7's JSON), and with --textfile written as Prometheus
 * text for node_exporter's textfile collector (the metrics of docs/operations.md,
 * "Readiness"). Exit 0 when no check fails (a warn is ready), 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "ctl_readiness.h"

struct rd_check {
	const char *name;
	void (*run)(struct rd_ctx *c, struct rd_result *res);
};

static const struct rd_check checks[] = {
	{.name = "token", .run = rd_check_token},
	{.name = "policy", .run = rd_check_policy},
	{.name = "certificates", .run = rd_check_certificates},
	{.name = "crl", .run = rd_check_crl},
	{.name = "audit_log", .run = rd_check_audit_log},
	{.name = "keys", .run = rd_check_keys},
	{.name = "backups", .run = rd_check_backups},
	{.name = "backup_targets", .run = rd_check_backup_targets},
	{.name = "ceremonies", .run = rd_check_ceremonies},
	{.name = "signerd", .run = rd_check_signerd},
};
#define N_CHECKS (sizeof(checks) / sizeof(checks[0]))

/* What a check came to. */
struct rd_outcome {
	enum rd_status status;
	char detail[2 * RD_DETAIL_MAX + 8]; /* the fails, "; and: ", the warns */
	double ms;
};

static const char *const status_names[] = {
	[RD_FAIL] = "fail", [RD_WARN] = "warn", [RD_PASS] = "pass"};

/* Appends "; " and the sentence to a list of problems (cut short when it is full). */
static void list_add(char *list, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void list_add(char *list, const char *fmt, va_list ap)
{
	size_t used = strlen(list);

	if (used + 3 >= RD_DETAIL_MAX)
		return;
	if (used > 0) {
		memcpy(list + used, "; ", 3);
		used += 2;
	}
	vsnprintf(list + used, RD_DETAIL_MAX - used, fmt, ap);
}

void rd_fail(struct rd_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_add(res->fails, fmt, ap);
	va_end(ap);
}

void rd_warn(struct rd_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_add(res->warns, fmt, ap);
	va_end(ap);
}

void rd_pass(struct rd_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->pass, sizeof(res->pass), fmt, ap);
	va_end(ap);
}

void rd_time_text(int64_t t, char out[32])
{
	if (time_format_rfc3339(t, out) != SG_OK)
		snprintf(out, 32, "%lld", (long long)t);
}

void rd_span_text(int64_t s, char out[32])
{
	int64_t a = s < 0 ? -s : s;

	if (a < 120)
		snprintf(out, 32, "%lld s", (long long)a);
	else if (a < 2 * 3600)
		snprintf(out, 32, "%lld min", (long long)(a / 60));
	else if (a < 2 * 86400)
		snprintf(out, 32, "%lld h %lld min", (long long)(a / 3600),
			 (long long)(a % 3600 / 60));
	else
		snprintf(out, 32, "%lld days", (long long)(a / 86400));
}

/* The worst of what the check found, its problems first: one line, control characters gone
 * (a message that quotes a file could hold any byte). */
static void outcome_of(const struct rd_result *res, struct rd_outcome *o)
{
	if (res->fails[0] != '\0') {
		o->status = RD_FAIL;
		if (res->warns[0] != '\0')
			snprintf(o->detail, sizeof(o->detail), "%s; and: %s", res->fails,
				 res->warns);
		else
			snprintf(o->detail, sizeof(o->detail), "%s", res->fails);
	} else if (res->warns[0] != '\0') {
		o->status = RD_WARN;
		snprintf(o->detail, sizeof(o->detail), "%s", res->warns);
	} else {
		o->status = RD_PASS;
		snprintf(o->detail, sizeof(o->detail), "%s",
			 res->pass[0] != '\0' ? res->pass : "ok");
	}
	for (char *p = o->detail; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = ' ';
}

static double now_ms(void)
{
	return (double)time_monotonic_ns() / 1e6;
}

/* ---- the textfile --------------------------------------------------------------------- */

static int textfile_body(FILE *f, const struct rd_outcome *out, bool ready, int anchor_reached,
			 int64_t now)
{
	fputs("# HELP signer_readiness_check_status A signerctl readiness check: 2 pass, 1 warn, "
	      "0 fail.\n"
	      "# TYPE signer_readiness_check_status gauge\n",
	      f);
	for (size_t i = 0; i < N_CHECKS; i++)
		fprintf(f, "signer_readiness_check_status{check=\"%s\"} %d\n", checks[i].name,
			(int)out[i].status);
	fprintf(f,
		"# HELP signer_readiness_ready 1 when no readiness check fails (warnings "
		"allowed).\n"
		"# TYPE signer_readiness_ready gauge\n"
		"signer_readiness_ready %d\n"
		"# HELP signer_readiness_last_run_timestamp_seconds When signerctl readiness last "
		"ran.\n"
		"# TYPE signer_readiness_last_run_timestamp_seconds gauge\n"
		"signer_readiness_last_run_timestamp_seconds %lld\n",
		ready ? 1 : 0, (long long)now);
	if (anchor_reached >= 0)
		fprintf(f,
			"# HELP signer_readiness_audit_anchor_reached 1 when the audit log reaches "
			"the token's anchor; 0: signerd refuses to start on it.\n"
			"# TYPE signer_readiness_audit_anchor_reached gauge\n"
			"signer_readiness_audit_anchor_reached %d\n",
			anchor_reached);
	return ferror(f) ? -1 : 0;
}

/* Written to a temporary file beside it, synced, renamed over it, the directory synced: the
 * collector reads the old file or the new one, never a part (and never the temporary file,
 * whose name does not end in .prom). */
static int textfile_write(const char *path, const struct rd_outcome *out, bool ready,
			  int anchor_reached)
{
	char *copy1 = strdup(path), *copy2 = strdup(path), *tmp = NULL;
	const char *dir, *base;
	FILE *f = NULL;
	int fd = -1, dfd, r = SG_OK;

	if (copy1 == NULL || copy2 == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "the textfile");
		goto out;
	}
	dir = dirname(copy1);
	base = basename(copy2);
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
		tmp = NULL;
		r = sg_fail(SG_ERR_NOMEM, "the textfile");
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		r = sg_fail(SG_ERR_IO, "textfile %s: cannot create a file in %s: %s", path, dir,
			    strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* node_exporter reads it as another user */
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		r = sg_fail(SG_ERR_IO, "textfile %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (textfile_body(f, out, ready, anchor_reached, (int64_t)time(NULL)) != 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = sg_fail(SG_ERR_IO, "textfile %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		r = sg_fail(SG_ERR_IO, "textfile %s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		r = sg_fail(SG_ERR_IO, "textfile %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(copy1);
	free(copy2);
	return r;
}

/* ---- output --------------------------------------------------------------------------- */

static int print_table(const struct rd_outcome *out, bool ready)
{
	for (size_t i = 0; i < N_CHECKS; i++)
		printf("%-4s  %-14s  %s\n", status_names[out[i].status], checks[i].name,
		       out[i].detail);
	puts(ready ? "ready" : "NOT ready");
	return EXIT_SUCCESS;
}

static int print_json(const struct rd_outcome *out, bool ready)
{
	json_t *j = json_pack("{s:b, s:[]}", "ready", ready, "checks"), *list;

	if (j == NULL)
		return ctl_print_json(NULL);
	list = json_object_get(j, "checks");
	for (size_t i = 0; i < N_CHECKS; i++)
		json_array_append_new(
			list, json_pack("{s:s, s:s, s:s, s:I}", "name", checks[i].name, "status",
					status_names[out[i].status], "detail", out[i].detail,
					"duration_ms", (json_int_t)(out[i].ms + 0.5)));
	return ctl_print_json(j);
}

int cmd_readiness(struct ctl *ctl, const struct ctl_args *a)
{
	const char *textfile = a->value[CTL_OPT_TEXTFILE];
	struct rd_outcome out[N_CHECKS];
	struct rd_ctx c = {.ctl = ctl, .anchor_reached = -1};
	char config_error[RD_DETAIL_MAX] = "";
	bool ready = true;
	int r, rc;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "readiness takes no operands");
	if (textfile != NULL && textfile[0] == '\0')
		return ctl_usage_error(ctl, "--textfile needs a FILE");
	/* a config that does not load fails every check, saying so: the textfile still says
	 * "not ready" rather than going stale */
	if ((r = ctl_config(ctl)) == SG_OK)
		c.cfg = &ctl->cfg;
	else
		snprintf(config_error, sizeof(config_error),
			 "not checked: the config %s does not "
			 "load: %s",
			 ctl->config_path, sg_errmsg(r));
	for (size_t i = 0; i < N_CHECKS; i++) {
		struct rd_result res;
		double t0 = now_ms();

		memset(&res, 0, sizeof(res));
		if (c.cfg == NULL)
			rd_fail(&res, "%s", config_error);
		else
			checks[i].run(&c, &res);
		outcome_of(&res, &out[i]);
		out[i].ms = now_ms() - t0;
		if (out[i].status == RD_FAIL)
			ready = false;
	}
	rd_targets_free(&c);
	if (c.policy != NULL)
		policy_free(c.policy);
	rc = ctl_flag(a, CTL_OPT_JSON) ? print_json(out, ready) : print_table(out, ready);
	if (textfile != NULL &&
	    (r = textfile_write(textfile, out, ready, c.anchor_reached)) != SG_OK)
		rc = ctl_fail(r, "readiness");
	if (rc != EXIT_SUCCESS)
		return EXIT_FAILURE;
	return ready ? EXIT_SUCCESS : EXIT_FAILURE;
}
