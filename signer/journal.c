#include "signer/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/encoding.h"
#include "common/timefmt.h"

#define JOURNAL_CHECKPOINT_MAX (512 * 1024 * 1024)

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void time_text(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%.0f", t);
}

static bool hash_from_hex(const char *hex, uint8_t out[32])
{
	size_t n;

	return hex != NULL && strlen(hex) == 64 && hex_decode(hex, 64, out, 32, &n) == SG_OK &&
	       n == 32;
}

/* ---- the anchor --------------------------------------------------------------------------- */

static int anchor_parse(const struct ks_blob *b, struct journal_anchor *a)
{
	json_t *j = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, NULL), *cp;
	int r = SG_OK;

	memset(a, 0, sizeof(*a));
	if (j == NULL || json_integer_value(json_object_get(j, "v")) != 1 ||
	    !json_is_integer(json_object_get(j, "seq")) ||
	    json_integer_value(json_object_get(j, "seq")) < 1 ||
	    !hash_from_hex(json_string_value(json_object_get(j, "hash")), a->hash)) {
		r = sg_fail(SG_ERR_MALFORMED, "the token's audit anchor does not read");
		goto out;
	}
	a->present = true;
	a->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	a->time = json_number_value(json_object_get(j, "time"));
	a->written = json_number_value(json_object_get(j, "written"));
	cp = json_object_get(j, "checkpoint");
	if (cp != NULL) {
		if (!json_is_integer(json_object_get(cp, "seq")) ||
		    !hash_from_hex(json_string_value(json_object_get(cp, "sha256")),
				   a->checkpoint_sha256)) {
			r = sg_fail(SG_ERR_MALFORMED, "the token's audit anchor does not read");
			goto out;
		}
		a->has_checkpoint = true;
		a->checkpoint_seq = (uint64_t)json_integer_value(json_object_get(cp, "seq"));
		a->checkpoint_time = json_number_value(json_object_get(cp, "time"));
	}
out:
	json_decref(j);
	return r;
}

int journal_anchor_read(struct keystore *ks, struct journal_anchor *out)
{
	struct ks_blob *values;
	size_t n;
	int r = ks_state_get(ks, JOURNAL_ANCHOR_NAME, &values, &n);

	memset(out, 0, sizeof(*out));
	if (r != SG_OK)
		return r;
	/* two after an in-place write (this one and the one before) or a crash inside a write:
	 * the one further on */
	for (size_t i = 0; i < n && r == SG_OK; i++) {
		struct journal_anchor a;

		r = anchor_parse(&values[i], &a);
		if (r == SG_OK && (!out->present || a.seq > out->seq ||
				   (a.seq == out->seq && a.written > out->written)))
			*out = a;
	}
	ks_blobs_free(values, n);
	return r;
}

static int anchor_store(struct keystore *ks, const struct journal_anchor *a, bool force)
{
	char hash[65], cp_hash[65];
	json_t *j;
	char *text;
	int r;

	if (hex_encode(a->hash, 32, hash, sizeof(hash)) != SG_OK ||
	    hex_encode(a->checkpoint_sha256, 32, cp_hash, sizeof(cp_hash)) != SG_OK)
		return sg_fail(SG_ERR_INTERNAL, "anchor");
	j = json_pack("{s:i, s:I, s:s, s:f, s:f}", "v", 1, "seq", (json_int_t)a->seq, "hash", hash,
		      "time", a->time, "written", a->written);
	if (j != NULL && a->has_checkpoint)
		json_object_set_new(j, "checkpoint",
				    json_pack("{s:I, s:s, s:f}", "seq",
					      (json_int_t)a->checkpoint_seq, "sha256", cp_hash,
					      "time", a->checkpoint_time));
	text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (text == NULL)
		return sg_fail(SG_ERR_NOMEM, "the audit anchor");
	/* forced, it may go back (a restore, an accepted loss): nothing older may stay beside it */
	r = force ? ks_state_put(ks, JOURNAL_ANCHOR_NAME, (const uint8_t *)text, strlen(text))
		  : ks_state_advance(ks, JOURNAL_ANCHOR_NAME, (const uint8_t *)text, strlen(text));
	free(text);
	return r;
}

int journal_anchor_write(struct keystore *ks, struct audit_log *log, const struct audit_head *head,
			 const struct journal_anchor *checkpoint, bool force,
			 struct journal_anchor *written)
{
	struct journal_anchor cur, next;
	int r;

	if (head->seq == 0)
		return SG_OK; /* nothing to anchor yet */
	if ((r = audit_side_lock(log)) != SG_OK)
		return r;
	if ((r = journal_anchor_read(ks, &cur)) != SG_OK)
		goto out;
	next = (struct journal_anchor){
		.present = true, .seq = head->seq, .time = head->time, .written = wall_seconds()};
	memcpy(next.hash, head->hash, AUDIT_HASH_LEN);
	if (!force && cur.present && cur.seq >= head->seq) {
		/* another process anchored as far or further: keep its head */
		next.seq = cur.seq;
		next.time = cur.time;
		memcpy(next.hash, cur.hash, AUDIT_HASH_LEN);
	}
	if (checkpoint != NULL && checkpoint->has_checkpoint) {
		next.has_checkpoint = true;
		next.checkpoint_seq = checkpoint->checkpoint_seq;
		next.checkpoint_time = checkpoint->checkpoint_time;
		memcpy(next.checkpoint_sha256, checkpoint->checkpoint_sha256, 32);
	} else if (!force && cur.present && cur.has_checkpoint) {
		next.has_checkpoint = true;
		next.checkpoint_seq = cur.checkpoint_seq;
		next.checkpoint_time = cur.checkpoint_time;
		memcpy(next.checkpoint_sha256, cur.checkpoint_sha256, 32);
	}
	if (!force && cur.present && next.seq == cur.seq &&
	    next.has_checkpoint == cur.has_checkpoint &&
	    (!next.has_checkpoint ||
	     memcmp(next.checkpoint_sha256, cur.checkpoint_sha256, 32) == 0)) {
		if (written != NULL)
			*written = cur; /* nothing new */
		goto out;
	}
	if ((r = anchor_store(ks, &next, force)) == SG_OK && written != NULL)
		*written = next;
out:
	audit_side_unlock(log);
	return r;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, ok;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	ok = fsync(fd);
	close(fd);
	return ok;
}

int journal_checkpoint(struct keystore *ks, struct audit_log *log, const char *audit_path,
		       struct limits *limits, struct journal_anchor *written)
{
	struct audit_head head;
	struct journal_anchor cp = {0};
	json_t *snap = NULL, *doc;
	char *text = NULL, *path = NULL, *tmp = NULL, hash[65];
	int fd = -1, r;

	if ((r = audit_catch_up(log)) != SG_OK || (r = audit_head_durable(log, &head)) != SG_OK)
		return r;
	if (head.seq == 0)
		return SG_OK;
	if ((r = limits_snapshot(limits, &snap)) != SG_OK)
		return r;
	if (hex_encode(head.hash, 32, hash, sizeof(hash)) != SG_OK) {
		json_decref(snap);
		return sg_fail(SG_ERR_INTERNAL, "checkpoint");
	}
	doc = json_pack("{s:i, s:I, s:s, s:I, s:I, s:f, s:f, s:o}", "v", 1, "seq",
			(json_int_t)head.seq, "hash", hash, "segment", (json_int_t)head.pos.segment,
			"offset", (json_int_t)head.pos.offset, "time", head.time, "written",
			wall_seconds(), "limits", snap);
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL || asprintf(&path, "%s.checkpoint", audit_path) < 0 ||
	    asprintf(&tmp, "%s.checkpoint.new", audit_path) < 0) {
		r = sg_fail(SG_ERR_NOMEM, "checkpoint");
		goto out;
	}
	/* the new file first, then the anchor naming it, then its name: a crash in between
	 * leaves a checkpoint the anchor names (the old, or the .new one) */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		r = sg_fail(SG_ERR_IO, "writing the checkpoint %s: %s", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	cp.has_checkpoint = true;
	cp.checkpoint_seq = head.seq;
	cp.checkpoint_time = head.time;
	crypto_hash_sha256(cp.checkpoint_sha256, (const uint8_t *)text, strlen(text));
	if ((r = journal_anchor_write(ks, log, &head, &cp, false, written)) != SG_OK)
		goto out;
	if (rename(tmp, path) != 0 || fsync_parent(path) != 0) {
		r = sg_fail(SG_ERR_IO, "the checkpoint %s: %s", path, strerror(errno));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	free(tmp);
	return r;
}

/* A checkpoint file whose SHA-256 the anchor names; NULL when there is none such. */
static json_t *checkpoint_load(const char *audit_path, const struct journal_anchor *a,
			       const char **why)
{
	static const char *const suffixes[] = {".checkpoint", ".checkpoint.new"};

	*why = "the anchor names no checkpoint";
	if (!a->present || !a->has_checkpoint)
		return NULL;
	*why = "no checkpoint file matches the one the anchor names";
	for (size_t i = 0; i < 2; i++) {
		char *path, *buf;
		struct stat st;
		uint8_t h[32];
		int fd;
		json_t *j;
		ssize_t got;

		if (asprintf(&path, "%s%s", audit_path, suffixes[i]) < 0)
			return NULL;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		free(path);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
		    st.st_size > JOURNAL_CHECKPOINT_MAX ||
		    (buf = malloc((size_t)st.st_size)) == NULL) {
			close(fd);
			continue;
		}
		got = read(fd, buf, (size_t)st.st_size);
		close(fd);
		if (got != st.st_size) {
			free(buf);
			continue;
		}
		crypto_hash_sha256(h, (const uint8_t *)buf, (size_t)got);
		if (memcmp(h, a->checkpoint_sha256, 32) != 0) {
			free(buf);
			continue;
		}
		j = json_loadb(buf, (size_t)got, JSON_REJECT_DUPLICATES, NULL);
		free(buf);
		if (j != NULL &&
		    json_integer_value(json_object_get(j, "seq")) == (json_int_t)a->checkpoint_seq)
			return j;
		json_decref(j);
		*why = "the checkpoint the anchor names does not read";
	}
	return NULL;
}

/* Every record replayed goes to the caller's function; an accepted loss is noted on the way. */
struct journal_replay {
	audit_record_fn fn;
	void *ctx;
	bool gap_seen;
};

static void journal_observe(void *arg, json_t *rec, double t)
{
	struct journal_replay *jr = arg;
	const char *event = json_string_value(json_object_get(rec, "event"));

	if (event != NULL && strcmp(event, "audit_gap") == 0)
		jr->gap_seen = true;
	if (jr->fn != NULL)
		jr->fn(jr->ctx, rec, t);
}

int journal_recover(struct keystore *ks, const char *audit_path, struct limits *limits,
		    audit_record_fn fn, void *ctx, struct journal_recovery *out)
{
	struct journal_replay jr = {.fn = fn, .ctx = ctx};
	struct audit_replay how = {.fn = journal_observe, .ctx = &jr};
	struct audit_replay_result res;
	const char *why;
	json_t *cp;
	double t0 = time_monotonic_s();
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = journal_anchor_read(ks, &out->anchor)) != SG_OK)
		return r;
	if (out->anchor.present) {
		how.check_seq = out->anchor.seq;
		how.check_hash = out->anchor.hash;
	}
	cp = checkpoint_load(audit_path, &out->anchor, &why);
	if (cp == NULL && out->anchor.present && out->anchor.has_checkpoint)
		sg_log("audit: %s; rebuilding the limits from the last 7 days of the "
		       "log",
		       why);
	if (cp != NULL) {
		struct audit_pos from = {
			.segment = (uint64_t)json_integer_value(json_object_get(cp, "segment")),
			.offset = (uint64_t)json_integer_value(json_object_get(cp, "offset"))};
		uint8_t from_hash[32];

		how.from = &from;
		how.from_seq = out->anchor.checkpoint_seq;
		how.from_hash = from_hash;
		if (hash_from_hex(json_string_value(json_object_get(cp, "hash")), from_hash) &&
		    out->anchor.checkpoint_seq <= out->anchor.seq &&
		    limits_restore(limits, json_object_get(cp, "limits")) == SG_OK &&
		    audit_replay(audit_path, &how, &res) == SG_OK) {
			out->used_checkpoint = true;
		} else {
			sg_log("audit: the checkpoint does not fit the log (%s); "
			       "rebuilding "
			       "the limits from the last 7 days of the log instead",
			       sg_errmsg(SG_ERR_MALFORMED));
		}
		json_decref(cp);
		how.from = NULL;
	}
	if (!out->used_checkpoint) {
		json_t *empty = json_pack("{s:i, s:[], s:[]}", "version", 1, "spend", "rate");

		r = empty == NULL ? sg_fail(SG_ERR_NOMEM, "limits") : limits_restore(limits, empty);
		json_decref(empty);
		if (r != SG_OK)
			return r;
		how.horizon = wall_seconds() - LIMITS_SPEND_HORIZON;
		r = audit_replay(audit_path, &how, &res);
		if (r == SG_ERR_NOT_FOUND && !out->anchor.present)
			r = SG_OK; /* no log yet */
		if (r != SG_OK)
			return sg_context(
				r, "the audit log does not verify; signerd will not start on it");
		/* without the checkpoint, the limits are only as whole as the log's last 7 days */
		if (out->anchor.present && !res.covered && !jr.gap_seen) {
			char oldest[32];

			time_text(res.oldest_time, oldest);
			return sg_fail(SG_ERR_MALFORMED,
				       "the limits cannot be rebuilt: %s, and the audit log %s "
				       "starts at record "
				       "%llu (%s), within the longest limit window (7 days), so "
				       "the records before "
				       "it, which may count against the limits, are gone. Put back "
				       "the checkpoint "
				       "or the older segments (from a backup of the log) and start "
				       "again; if they "
				       "are lost for good, 'signerctl audit accept-loss --reason "
				       "TEXT' records the "
				       "loss",
				       out->anchor.has_checkpoint
					       ? "the checkpoint the token's anchor names is "
						 "missing or does not fit"
					       : "there is no checkpoint",
				       audit_path, (unsigned long long)res.first_seq, oldest);
		}
	}
	out->replayed = res.records - (out->used_checkpoint ? 1 : 0);
	out->from_seq = res.first_seq;
	out->last = res.last;
	if (out->anchor.present) {
		char when[32];

		time_text(out->anchor.written, when);
		if (res.last.seq < out->anchor.seq)
			return sg_fail(
				SG_ERR_MALFORMED,
				"the audit log %s ends at record %llu, but the token's anchor "
				"(written "
				"%s) says records up to %llu were written: records %llu to %llu "
				"are "
				"missing, so the log was truncated, deleted or replaced. Put the "
				"missing "
				"segments back (from a backup of the log) and start again; if they "
				"are "
				"lost for good, 'signerctl audit accept-loss --reason TEXT' "
				"records "
				"the "
				"loss in the log and anchors it anew",
				audit_path, (unsigned long long)res.last.seq, when,
				(unsigned long long)out->anchor.seq,
				(unsigned long long)(res.last.seq + 1),
				(unsigned long long)out->anchor.seq);
		if (!res.check_found)
			return sg_fail(
				SG_ERR_MALFORMED,
				"the audit log %s no longer holds record %llu, which the token's "
				"anchor (written %s) names: its segment is gone; put it back "
				"(from a backup of the log)",
				audit_path, (unsigned long long)out->anchor.seq, when);
	}
	out->seconds = time_monotonic_s() - t0;
	return SG_OK;
}

/* ---- what the audit log says, counted by the limits --------------------------------------- */

/* Every record read from the log (replayed at start, or appended by another process): the
 * signed ones count against the limits. */
void journal_count_record(void *limits, json_t *rec, double t)
{
	const char *decision = json_string_value(json_object_get(rec, "decision"));
	struct policy_spend spends[POLICY_SPENDS_MAX];
	size_t n = 0, i;
	json_t *item;

	if (json_is_string(json_object_get(rec, "event")) &&
	    strcmp(json_string_value(json_object_get(rec, "event")), "audit_gap") == 0 &&
	    json_is_true(json_object_get(rec, "spends_unknown"))) {
		limits_record_gap(limits, t);
		return;
	}
	if (decision == NULL || strcmp(decision, "signed") != 0)
		return;
	json_array_foreach (json_object_get(rec, "spends"), i, item) {
		const char *asset = json_string_value(json_object_get(item, "asset"));

		if (n == POLICY_SPENDS_MAX || asset == NULL || strlen(asset) >= POLICY_ASSET_MAX ||
		    !limits_u256_decimal(json_string_value(json_object_get(item, "amount")),
					 spends[n].amount))
			continue;
		snprintf(spends[n].asset, sizeof(spends[n].asset), "%s", asset);
		n++;
	}
	limits_record(limits, json_string_value(json_object_get(rec, "client")),
		      json_string_value(json_object_get(rec, "operation")),
		      json_string_value(json_object_get(rec, "key")), spends, n, t);
}
