/* The audit log: one JSON line per sign request, whatever its outcome (and a few records of
 * signerd's own: refusal summaries, accepted losses), each carrying the SHA-256 of the line
 * before it (a hash chain), on disk (fdatasync) before audit_append returns, with concurrent
 * appends sharing one sync (group commit).
 *
 * A line:
 *   {"seq":12,"time":"2026-11-27T13:05:00.123Z","audit_id":"…","request_id":"…","client":"…",
 *    "key":"…","key_version":1,"operation":"…","chain":"evm","payload_sha256":"…",
 *    "decision":"signed","reason":"…","signature_sha256":"…","prev":"<sha256 of line 11>"}
 * The first line's prev is 64 zeros.
 *
 * Segments: the log is the file at path (the active segment) and the segments rotated out of it,
 * path.NNNNNNNNNNNNNNNNNNNN (the seq of their first record, 20 digits); the chain runs on across
 * them. A segment is rotated when it reaches the configured size.
 *
 * Several processes (signerd, signerctl) may append to the same log: they take turns under a
 * lock on path.lock, and each reads what the others appended before it appends (and hands those
 * records to its observer: the limits count them). A record that does not follow the chain, or
 * a log that shrank, is tampering: the log then refuses every append (audit_writable false). */
#ifndef SIGNER_SIGNER_AUDIT_H
#define SIGNER_SIGNER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define AUDIT_ID_LEN                32 /* hex of 16 random bytes */
#define AUDIT_HASH_LEN              32
#define AUDIT_SEGMENT_BYTES_DEFAULT (64ULL * 1024 * 1024)

struct audit_log;

struct audit_options {
	uint64_t segment_bytes; /* rotate the active segment at this size; 0: the default */
	unsigned keep_segments; /* rotated segments kept (the oldest go); 0: all */
	double keep_seconds;    /* but never one whose last record is younger than this */
	unsigned gather_max_us; /* the longest a sync waits for announced records; 0: the default */
	/* the most announced records a sync waits for: those that can be at the token at once
	 * (its sessions; the others are still queued for one); 0: no bound */
	unsigned gather_max_records;
};

/* Where a record starts: its segment (the seq of the segment's first record) and offset. */
struct audit_pos {
	uint64_t segment;
	uint64_t offset;
};

/* The chain's head: the last record's seq (0: none yet), its hash and time (wall seconds), and
 * where it starts. */
struct audit_head {
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	double time;
	struct audit_pos pos;
};

/* Called with each record another process appended (and with each replayed record), in order. */
typedef void (*audit_record_fn)(void *ctx, json_t *rec, double time);
/* Called under the log's lock once everything other processes appended was read, just before a
 * record is written; anything but SG_OK refuses the append (nothing is written). */
typedef int (*audit_gate_fn)(void *ctx);

/* Opens (creating, mode 0600) the log and reads its tail: the chain goes on from the last whole
 * line. A torn last line (a crash mid-write; never acknowledged) is cut off, and *repaired says
 * so. A last line that is not a record is an error. */
SG_MUST_CHECK int audit_open(const char *path, struct audit_log **out, bool *repaired);
SG_MUST_CHECK int audit_open_with(const char *path, const struct audit_options *opt,
				  struct audit_log **out, bool *repaired);
void audit_close(struct audit_log *log);

/* Records other processes append are handed to fn from now on. */
void audit_set_observer(struct audit_log *log, audit_record_fn fn, void *ctx);

/* Appends one record: the fields of rec (an object) plus seq, time, audit_id and prev, which
 * this adds. Returns when the line is on disk. audit_id gets the record's id. On failure nothing
 * of the line stays in the file. */
SG_MUST_CHECK int audit_append(struct audit_log *log, json_t *rec, char audit_id[AUDIT_ID_LEN + 1]);
/* The same, with a gate (may be NULL) and, when given_id is not NULL, that id for the record. */
SG_MUST_CHECK int audit_append_gated(struct audit_log *log, json_t *rec, const char *given_id,
				     audit_gate_fn gate, void *gate_ctx,
				     char audit_id[AUDIT_ID_LEN + 1]);
/* The same for a record given as its members already encoded, "k":v,"k":v without braces, as
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) writes them (common/jsonw.h writes them so):
 * the record is those members, then seq, time, audit_id and prev. */
SG_MUST_CHECK int audit_append_members(struct audit_log *log, const char *members,
				       size_t members_len, const char *given_id, audit_gate_fn gate,
				       void *gate_ctx, char audit_id[AUDIT_ID_LEN + 1]);
/* Group commit across a signature's making: audit_announce says a record is coming (its
 * signature is being made); the thread that would sync then waits up to gather_max_us
 * (AUDIT_GATHER_MAX_US by default) for the records announced when it came, so that one fdatasync
 * covers them too. Each announcement ends exactly once: with audit_append_announced (whatever it
 * returns), or with audit_announce_cancel when no record follows. Only a matter of speed: whatever
 * the announcements, every record is on disk before its append returns, and the wait costs a record
 * at most gather_max_us more. */
#define AUDIT_GATHER_MAX_US 1000
void audit_announce(struct audit_log *log);
void audit_announce_cancel(struct audit_log *log);
SG_MUST_CHECK int audit_append_announced(struct audit_log *log, const char *members,
					 size_t members_len, audit_gate_fn gate, void *gate_ctx,
					 char audit_id[AUDIT_ID_LEN + 1]);
/* A fresh record id (what audit_append would give). */
void audit_new_id(char audit_id[AUDIT_ID_LEN + 1]);

/* Reads what other processes appended since this process last looked (cheap when nothing). */
SG_MUST_CHECK int audit_catch_up(struct audit_log *log);

/* The head as this process knows it now (written, maybe not yet synced). */
void audit_head_now(struct audit_log *log, struct audit_head *out);
/* Syncs the log and gives the head that is now on disk (what an anchor may name). */
SG_MUST_CHECK int audit_head_durable(struct audit_log *log, struct audit_head *out);

/* Whether the last append succeeded (for readiness), and how many failed so far. */
bool audit_writable(struct audit_log *log);
/* Every append is refused until a restart: the log was changed behind this process's back,
 * or a sync failed (the kernel may have dropped what it could not write). */
bool audit_broken(struct audit_log *log);
uint64_t audit_failures(struct audit_log *log);
/* The group commit's fdatasync calls so far, and the records they made durable. */
void audit_sync_stats(struct audit_log *log, uint64_t *syncs, uint64_t *records);

/* Takes (exclusive) or gives back a second lock beside the append lock, for work that must be
 * done by one process at a time without holding up appends (writing the anchor). */
SG_MUST_CHECK int audit_side_lock(struct audit_log *log);
void audit_side_unlock(struct audit_log *log);

/* ---- reading a whole log ----------------------------------------------------------------- */

/* Replays the log from the record at from (with seq from_seq and hash from_hash, checked), or
 * from the start of the oldest segment that holds records of time horizon or later when from is
 * NULL, to its end: the chain is checked all the way, each record is handed to fn. When
 * stop_seq is given, the hash of that record is checked against stop_hash (*stop_found says
 * whether it was reached). *last is the head at the end. Errors name the segment and line. */
struct audit_replay {
	const struct audit_pos *from;
	uint64_t from_seq;
	const uint8_t *from_hash;
	double horizon;
	uint64_t check_seq; /* 0: none */
	const uint8_t *check_hash;
	audit_record_fn fn;
	void *ctx;
};
struct audit_replay_result {
	struct audit_head last;
	uint64_t first_seq; /* the first record read */
	uint64_t records;
	bool check_found;
	/* (from a horizon) every record of time horizon or later was read: the log starts at
	 * record 1, or holds a record older than the horizon before the first one read */
	bool covered;
	double oldest_time; /* the time of the oldest record the log holds (0: none) */
};
SG_MUST_CHECK int audit_replay(const char *path, const struct audit_replay *how,
			       struct audit_replay_result *res);

/* Checks a whole log (path: the active segment, or a directory holding one log's segments):
 * every line JSON, seq counting up by one across segments, prev the hash of the line before.
 * The first segment's first record must be seq 1 unless older segments were let go (then its
 * prev is taken as given, and *first_seq says where the log starts). On a break, *bad_line is
 * its line number in its segment (1-based), *bad_segment the segment's file, and the error says
 * what is wrong. */
struct audit_verify_result {
	/* in: a record to check the hash of (an anchor's), 0 for none */
	uint64_t check_seq;
	uint8_t check_hash[AUDIT_HASH_LEN];
	/* out */
	bool check_found;
	unsigned long records;
	unsigned long segments;
	uint64_t first_seq;
	struct audit_head last;
	unsigned long bad_line;
	char bad_segment[512];
};
SG_MUST_CHECK int audit_verify(const char *path, struct audit_verify_result *res);
/* The same, checking on the way that record res->check_seq has hash res->check_hash. */
SG_MUST_CHECK int audit_verify_checked(const char *path, struct audit_verify_result *res);
/* audit_verify, telling the bad line and the number of records (the first segment's lines). */
SG_MUST_CHECK int audit_verify_file(const char *path, unsigned long *bad_line,
				    unsigned long *lines);

/* The record of one line, and its hash; SG_ERR_MALFORMED when it is not one. */
SG_MUST_CHECK int audit_line_parse(const char *line, size_t len, json_t **rec, uint64_t *seq,
				   uint8_t hash[AUDIT_HASH_LEN]);
/* "2026-11-27T14:20:01.123Z" as wall-clock seconds; 0 when it does not parse. */
double audit_time_parse(const char *text);

#endif
