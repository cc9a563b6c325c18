/* The audit log's anchor and checkpoints: what makes the log impossible to rewrite, truncate or
 * delete quietly, and start-up fast however long it grows.
 *
 * The anchor is the chain's head (seq and hash) kept in the token itself ("audit-anchor", see
 * ks_state_put), written at least once a second while records are written, on a clean stop and
 * by every signerctl command that appends; a copy or restore of the token carries it. A log
 * that does not reach the anchor, or whose record at the anchor's seq has another hash, was
 * truncated, deleted or rewritten: signerd refuses to start on it.
 *
 * A checkpoint (AUDIT_PATH.checkpoint) is the limits' ledgers as of one record, written by
 * signerd every minute and on a clean stop. Its SHA-256 is in the anchor, so that it is bound to
 * the chain and cannot be edited to reset the limits; start-up reads it and replays only the
 * records after it. Without a checkpoint the anchor vouches for, start-up replays the records of
 * the longest limit window (7 days). */
#ifndef SIGNER_SIGNER_JOURNAL_H
#define SIGNER_SIGNER_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "keystore/keystore.h"
#include "policy/limits.h"
#include "signer/audit.h"

#define JOURNAL_ANCHOR_NAME "audit-anchor"
/* Rotated segments younger than this are never let go: the limits may still read them. */
#define SIGNER_AUDIT_KEEP_SECONDS ((double)LIMITS_SPEND_HORIZON + 3600)

struct journal_anchor {
	bool present;
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	double time;    /* the anchored record's time */
	double written; /* when the anchor was written */
	bool has_checkpoint;
	uint64_t checkpoint_seq;
	uint8_t checkpoint_sha256[32];
	double checkpoint_time; /* the time of the checkpoint's record */
};

/* The anchor the token holds (the newest of what it holds); present false when none. */
SG_MUST_CHECK int journal_anchor_read(struct keystore *ks, struct journal_anchor *out);
/* Writes the anchor; unless force, only when head is ahead of what the token holds (several
 * processes anchor the same log), keeping the checkpoint the anchor names unless checkpoint
 * gives another. With force (a loss accepted), head is anchored whatever the token held, and
 * the anchor names no checkpoint unless checkpoint gives one. Under the log's side lock. */
SG_MUST_CHECK int journal_anchor_write(struct keystore *ks, struct audit_log *log,
				       const struct audit_head *head,
				       const struct journal_anchor *checkpoint, bool force,
				       struct journal_anchor *written);

/* What start-up found. */
struct journal_recovery {
	struct journal_anchor anchor;
	bool used_checkpoint;
	uint64_t replayed;      /* records replayed into the limits */
	uint64_t from_seq;      /* the first record read */
	struct audit_head last; /* the log's head */
	double seconds;         /* how long it took */
};

/* At start: reads the anchor, checks the log reaches it (and that its record at the anchor's
 * seq is the anchored one), and rebuilds the limits' ledgers: from the checkpoint the anchor
 * vouches for and the records after it, else from the records of the last 7 days, which the log
 * must then hold whole (it starts at record 1, or holds an older record, or a loss was accepted
 * since): a log whose checkpoint and oldest segments are gone cannot rebuild its limits. Every
 * record read is handed to fn as well (the limits). Errors say what is missing and how to
 * recover (the same conditions make signerctl audit accept-loss write its record). */
SG_MUST_CHECK int journal_recover(struct keystore *ks, const char *audit_path,
				  struct limits *limits, audit_record_fn fn, void *ctx,
				  struct journal_recovery *out);

/* Writes a checkpoint of the limits as of the log's durable head, then the anchor naming it. */
SG_MUST_CHECK int journal_checkpoint(struct keystore *ks, struct audit_log *log,
				     const char *audit_path, struct limits *limits,
				     struct journal_anchor *written);

/* An observer of the audit log (journal_recover, audit_set_observer; limits is the struct
 * limits): every signed record counts against the limits, and a gap whose spends are unknown
 * uses them up. */
void journal_count_record(void *limits, json_t *rec, double t);

#endif
