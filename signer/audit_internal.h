/* The audit log's files, shared by the live log (audit.c) and the whole-log readers
 * (audit_read.c): segments by name, lines and the tail of a segment. */
#ifndef SIGNER_SIGNER_AUDIT_INTERNAL_H
#define SIGNER_SIGNER_AUDIT_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "signer/audit.h"

#define AUDIT_LINE_MAX       (64 * 1024)
#define AUDIT_HASH_HEX       64
#define AUDIT_SEGMENT_DIGITS 20

void audit_hash_hex(const uint8_t h[AUDIT_HASH_LEN], char out[AUDIT_HASH_HEX + 1]);
/* The prev of the first record: 64 zeros. */
void audit_zero_prev(char out[AUDIT_HASH_HEX + 1]);

/* A segment file: first is the seq of its first record (from its name; the active segment: 0
 * until known, UINT64_MAX when empty). */
struct audit_segment {
	uint64_t first;
	char *file;
};
void audit_segments_free(struct audit_segment *segs, size_t n);
/* The rotated segments of the log at path, oldest first. */
SG_MUST_CHECK int audit_segments_list(const char *path, struct audit_segment **out, size_t *n);
/* path.<first, 20 digits>; malloc'd, NULL when out of memory. */
char *audit_segment_name(const char *path, uint64_t first);
SG_MUST_CHECK int audit_fsync_dir(const char *path);

/* [from, to) of fd, malloc'd and NUL-terminated. */
SG_MUST_CHECK int audit_read_range(int fd, off_t from, off_t to, char **out, size_t *len);
/* The last complete line of fd (of size bytes) as a head; *torn_at is where a last line without
 * its newline starts (else -1). A file without a whole line gives seq 0. */
SG_MUST_CHECK int audit_tail(int fd, const char *file, off_t size, struct audit_head *head,
			     off_t *torn_at);
/* The seq of the first record of a segment file; 0 when it has none. */
SG_MUST_CHECK int audit_first_seq(int fd, uint64_t *seq);
/* The time of the last record of a segment file (0 when it has none or it does not read). */
double audit_segment_last_time(const char *file);
/* Wall-clock seconds. */
double audit_wall_now(void);

#endif
