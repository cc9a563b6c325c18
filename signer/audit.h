/* The audit log: one JSON line per sign request, whatever its outcome, each carrying the
 * SHA-256 of the line before it (a hash chain), appended under an exclusive lock (signerd and
 * signerctl may write the same file) and on disk (fdatasync) before audit_append returns, with
 * concurrent appends sharing one sync (group commit).
 *
 * A line:
 *   {"seq":12,"time":"2026-11-27T13:05:00.123Z","audit_id":"…","request_id":"…","client":"…",
 *    "key":"…","key_version":1,"operation":"…","chain":"evm","payload_sha256":"…",
 *    "decision":"signed","reason":"…","signature_sha256":"…","prev":"<sha256 of line 11>"}
 * The first line's prev is 64 zeros. */
#ifndef SIGNER_SIGNER_AUDIT_H
#define SIGNER_SIGNER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define AUDIT_ID_LEN 32 /* hex of 16 random bytes */

struct audit_log;

/* Opens (creating, mode 0600) the log and reads its tail: the chain goes on from the last whole
 * line. A torn last line (a crash mid-write; never acknowledged) is cut off, and *repaired says
 * so. A last line that is not a record is an error. The whole chain is checked by
 * audit_verify_file (signerctl audit verify), not here. */
SG_MUST_CHECK int audit_open(const char *path, struct audit_log **out, bool *repaired);
void audit_close(struct audit_log *log);

/* Appends one record: the fields of rec (an object) plus seq, time, audit_id and prev, which
 * this adds. Returns when the line is on disk. audit_id gets the record's id. On failure nothing
 * of the line stays in the file. */
SG_MUST_CHECK int audit_append(struct audit_log *log, json_t *rec, char audit_id[AUDIT_ID_LEN + 1]);

/* Whether the last append succeeded (for readiness), and how many failed so far. */
bool audit_writable(struct audit_log *log);
uint64_t audit_failures(struct audit_log *log);

/* Checks a whole log: every line JSON, seq counting up from 1, prev the hash of the line before.
 * On a break, *bad_line is its number (1-based) and the error says what is wrong. */
SG_MUST_CHECK int audit_verify_file(const char *path, unsigned long *bad_line,
				    unsigned long *lines);

#endif
