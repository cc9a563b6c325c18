/* signerctl readiness (readiness.c, readiness_checks.c, readiness_tls.c, readiness_backup.c):
 * the operational readiness checks of API.md section 7, each pass, warn or fail with one line
 * that says what and why (docs/operations.md, "Readiness").
 *
 * The checks run in a fixed order and never stop one another: one that needs what an earlier
 * one could not open (the token, the policy) checks what it can without it and reports the
 * rest as "not checked" with a warn, never a pass; the earlier check's fail is what makes the
 * deployment not ready. */
#ifndef SIGNER_TOOLS_SIGNERCTL_CTL_READINESS_H
#define SIGNER_TOOLS_SIGNERCTL_CTL_READINESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ctl.h"
#include "policy/policy.h"

/* --textfile FILE takes --out's slot of the options (no command takes both) */
#define CTL_OPT_TEXTFILE CTL_OPT_OUT

enum rd_status {
	RD_FAIL = 0, /* the values of signer_readiness_check_status */
	RD_WARN = 1,
	RD_PASS = 2,
};

#define RD_DETAIL_MAX 1536

/* One check's outcome while it runs: its problems (each one short sentence) and the sentence a
 * pass says. */
struct rd_result {
	char fails[RD_DETAIL_MAX];
	char warns[RD_DETAIL_MAX];
	char pass[RD_DETAIL_MAX];
};

void rd_fail(struct rd_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rd_warn(struct rd_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rd_pass(struct rd_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What one target holds, read once for the backups and backup_targets checks. */
struct rd_target {
	bool listed;      /* its backups/ could be listed */
	size_t n_backups; /* manifests there */
	json_t *newest;   /* its newest good backup of this token, or NULL */
	char why[600];    /* why not listed, or why no newest good backup */
	bool authentic;   /* newest was checked with the token's MAC key */
};

/* What the checks share: the config (if it loaded), the token and the policy (if they opened),
 * and what the audit check found of the anchor. */
struct rd_ctx {
	struct ctl *ctl;
	const struct signer_config *cfg; /* NULL: the config did not load */
	struct keystore *ks;             /* NULL: the token check failed */
	struct policy *policy;           /* NULL: the policy did not load */
	int anchor_reached;              /* 1, 0, or -1 when it could not be determined */
	/* the backup targets, read by the first check that needs them */
	bool targets_read;
	char targets_error[600]; /* the targets could not be opened */
	struct rd_target targets[SIGNER_BACKUP_TARGETS_MAX];
	size_t n_targets;
	bool have_auth; /* the token's backup key record was read: manifests authenticated */
	char record_error[600];
};

/* The checks, in the order they run (readiness.c holds the table). */
void rd_check_token(struct rd_ctx *c, struct rd_result *res);
void rd_check_policy(struct rd_ctx *c, struct rd_result *res);
void rd_check_certificates(struct rd_ctx *c, struct rd_result *res);
void rd_check_crl(struct rd_ctx *c, struct rd_result *res);
void rd_check_audit_log(struct rd_ctx *c, struct rd_result *res);
void rd_check_keys(struct rd_ctx *c, struct rd_result *res);
void rd_check_backups(struct rd_ctx *c, struct rd_result *res);
void rd_check_backup_targets(struct rd_ctx *c, struct rd_result *res);
void rd_check_ceremonies(struct rd_ctx *c, struct rd_result *res);
void rd_check_signerd(struct rd_ctx *c, struct rd_result *res);

/* Releases what the backup checks read. */
void rd_targets_free(struct rd_ctx *c);

/* "2026-11-27T13:05:00Z" into out[32]. */
void rd_time_text(int64_t t, char out[32]);
/* "3 min", "2 h 5 min", "12 days": a span of seconds in words. */
void rd_span_text(int64_t seconds, char out[32]);

int cmd_readiness(struct ctl *ctl, const struct ctl_args *a);

#endif
