/* signerctl audit verify | accept-loss: the audit log's hash chain, and its anchor in the
 * token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ctl.h"
#include "common/encoding.h"
#include "signer/audit.h"
#include "policy/limits.h"
#include "signer/journal.h"

static void time_text(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%.0f", t);
}

/* The log to read: the operand, else the config's. */
static int audit_path(struct ctl *ctl, const struct ctl_args *a, const char **path)
{
	int r;

	if (a->argc > 1)
		return ctl_usage_error(ctl, "audit needs at most one FILE or DIRECTORY");
	if (a->argc == 1) {
		*path = a->argv[0];
		return SG_OK;
	}
	if (!ctl->config_explicit)
		return ctl_usage_error(ctl, "give the log's FILE or DIRECTORY, or a --config");
	if ((r = ctl_config(ctl)) != SG_OK)
		return ctl_fail(r, "audit");
	if (ctl->cfg.audit.path == NULL) {
		sg_log("audit: %s has no audit.path", ctl->cfg.path);
		return EXIT_FAILURE;
	}
	*path = ctl->cfg.audit.path;
	return SG_OK;
}

/* Exit 0 when the chain holds (and, with a config, reaches the token's anchor); 1 with
 * "FILE:LINE: what" for the first bad line, or what the anchor says is missing. */
int cmd_audit_verify(struct ctl *ctl, const struct ctl_args *a)
{
	struct audit_verify_result res = {0};
	struct journal_anchor anchor = {0};
	const char *path = NULL;
	char when[32];
	int r;

	if ((r = audit_path(ctl, a, &path)) != SG_OK)
		return r;
	/* with a config, the token's anchor says how far the log must reach */
	if (ctl->config_explicit) {
		if ((r = ctl_keystore(ctl)) != SG_OK ||
		    (r = journal_anchor_read(ctl->ks, &anchor)) != SG_OK)
			return ctl_fail(r, "audit verify: the token's anchor");
		if (anchor.present) {
			res.check_seq = anchor.seq;
			memcpy(res.check_hash, anchor.hash, AUDIT_HASH_LEN);
		}
	}
	r = audit_verify_checked(path, &res);
	if (r != SG_OK) {
		sg_log("audit verify: %s", sg_errmsg(r));
		return EXIT_FAILURE;
	}
	if (anchor.present) {
		time_text(anchor.written, when);
		if (res.last.seq < anchor.seq) {
			sg_log("audit verify: %s ends at record %llu, but the token's "
			       "anchor "
			       "(written %s) says records up to %llu were written: records %llu "
			       "to %llu "
			       "are missing (truncated, deleted or replaced). Put the missing "
			       "segments "
			       "back from a backup; if they are lost for good, 'signerctl audit "
			       "accept-loss --reason TEXT' records the loss",
			       path, (unsigned long long)res.last.seq, when,
			       (unsigned long long)anchor.seq,
			       (unsigned long long)(res.last.seq + 1),
			       (unsigned long long)anchor.seq);
			return EXIT_FAILURE;
		}
		if (!res.check_found) {
			sg_log("audit verify: %s does not hold record %llu, which the "
			       "token's "
			       "anchor (written %s) names: its segment is not there",
			       path, (unsigned long long)anchor.seq, when);
			return EXIT_FAILURE;
		}
	}
	printf("%s: %lu records in %lu segment%s", path, res.records, res.segments,
	       res.segments == 1 ? "" : "s");
	if (res.records > 0 && res.first_seq != 1)
		printf(" (from record %llu: the segments before it are not here)",
		       (unsigned long long)res.first_seq);
	printf(", chain intact");
	if (anchor.present)
		printf("; reaches the token's anchor (record %llu, written %s)",
		       (unsigned long long)anchor.seq, when);
	else if (ctl->config_explicit)
		printf("; the token holds no anchor");
	else
		printf("; not checked against the token's anchor (no --config)");
	putchar('\n');
	return EXIT_SUCCESS;
}

/* Records the loss of what the anchor names but the log no longer holds, so that signerd starts
 * again: a record saying what was lost, chained to what is left, anchored anew. */
int cmd_audit_accept_loss(struct ctl *ctl, const struct ctl_args *a)
{
	const char *reason = a->value[CTL_OPT_REASON], *limits = a->value[CTL_OPT_LIMITS];
	struct audit_options ao;
	struct audit_log *log = NULL;
	struct limits *scratch = NULL;
	struct journal_recovery recovery;
	struct journal_anchor anchor, written;
	struct audit_head head;
	char anchor_hash[65], id[AUDIT_ID_LEN + 1], when[32], lost[400];
	bool repaired, unknown;
	json_t *rec = NULL;
	int r, rc = EXIT_FAILURE;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "audit accept-loss takes no operands");
	if (reason == NULL || reason[0] == '\0' || strlen(reason) > 512)
		return ctl_usage_error(ctl, "--reason TEXT (1 to 512 characters) is needed");
	if (limits != NULL && strcmp(limits, "exhausted") != 0 && strcmp(limits, "reset") != 0)
		return ctl_usage_error(ctl, "--limits is exhausted or reset");
	unknown = limits == NULL || strcmp(limits, "exhausted") == 0;
	if ((r = ctl_keystore(ctl)) != SG_OK)
		return ctl_fail(r, "audit accept-loss");
	if (ctl->cfg.audit.path == NULL) {
		sg_log("audit accept-loss: %s has no audit.path", ctl->cfg.path);
		return EXIT_FAILURE;
	}
	if ((r = journal_anchor_read(ctl->ks, &anchor)) != SG_OK)
		return ctl_fail(r, "audit accept-loss: the token's anchor");
	if (!anchor.present) {
		sg_log("audit accept-loss: the token holds no anchor: nothing "
		       "can be missing");
		return EXIT_FAILURE;
	}
	ao = (struct audit_options){.segment_bytes = ctl->cfg.audit.segment_max_bytes,
				    .keep_segments = ctl->cfg.audit.keep_segments,
				    .keep_seconds = SIGNER_AUDIT_KEEP_SECONDS};
	if ((r = audit_open_with(ctl->cfg.audit.path, &ao, &log, &repaired)) != SG_OK)
		return ctl_fail(r, "audit accept-loss");
	/* only a log signerd would refuse (it does not reach its anchor, or cannot rebuild its
	 * limits) has lost anything: the same check, on scratch limits */
	if ((r = limits_new(&scratch)) != SG_OK) {
		rc = ctl_fail(r, "audit accept-loss");
		goto out;
	}
	r = journal_recover(ctl->ks, ctl->cfg.audit.path, scratch, NULL, NULL, &recovery);
	limits_free(scratch);
	if (r == SG_OK) {
		sg_log("audit accept-loss: %s reaches its anchor (record %llu) and its "
		       "limits can be rebuilt: nothing was lost",
		       ctl->cfg.audit.path, (unsigned long long)anchor.seq);
		goto out;
	}
	if (r != SG_ERR_MALFORMED && r != SG_ERR_NOT_FOUND) {
		rc = ctl_fail(r, "audit accept-loss");
		goto out;
	}
	snprintf(lost, sizeof(lost), "%s", sg_errmsg(r));
	audit_head_now(log, &head);
	time_text(anchor.written, when);
	if (hex_encode(anchor.hash, 32, anchor_hash, sizeof(anchor_hash)) != SG_OK ||
	    (rec = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:b, s:s, s:s}", "event",
			     "audit_gap", "decision", "gap", "client", "local", "anchor_seq",
			     (json_int_t)anchor.seq, "anchor_hash", anchor_hash, "anchor_written",
			     when, "log_seq", (json_int_t)head.seq, "spends_unknown", unknown,
			     "reason", reason, "lost", lost)) == NULL) {
		sg_log("audit accept-loss: out of memory");
		goto out;
	}
	if ((r = audit_append(log, rec, id)) != SG_OK ||
	    (r = audit_head_durable(log, &head)) != SG_OK ||
	    (r = journal_anchor_write(ctl->ks, log, &head, NULL, true, &written)) != SG_OK) {
		rc = ctl_fail(r, "audit accept-loss");
		goto out;
	}
	printf("%s: the loss of what the anchor named (record %llu, written %s) is recorded as "
	       "record %llu (audit id %s) and anchored; %s\n",
	       ctl->cfg.audit.path, (unsigned long long)anchor.seq, when,
	       (unsigned long long)head.seq, id,
	       unknown ? "every spend limit counts as used up until its window has passed"
		       : "the spend limits count from what the log still holds");
	rc = EXIT_SUCCESS;
out:
	json_decref(rec);
	audit_close(log);
	return rc;
}
