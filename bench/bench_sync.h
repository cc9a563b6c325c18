/* How long one process's fdatasync calls take on ext4, watched from outside it: two eBPF
 * programs on the raw tracepoints ext4_sync_file_enter/exit (they fire only for fsync and
 * fdatasync on ext4, so nothing else the process does pays for them) fill a histogram of the
 * durations of the process's fdatasync calls (fsync's are left out). Needs root (or
 * CAP_BPF + CAP_PERFMON) and a kernel with BPF_EVENTS; nothing changes in the process. */
#ifndef SIGNER_BENCH_SYNC_H
#define SIGNER_BENCH_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Buckets: 10 us wide below 10.24 ms, then 1 ms wide up to about 1 s (the last takes the
 * rest). */
#define BENCH_SYNC_FINE    1024
#define BENCH_SYNC_BUCKETS 2048

struct bench_sync;

/* Starts watching pid's fdatasync calls; -1 with the reason in why when it cannot. */
int bench_sync_open(pid_t pid, struct bench_sync **out, char *why, size_t why_len);

/* The histogram so far (counts per bucket, cumulative since open). */
void bench_sync_read(const struct bench_sync *s, uint64_t hist[BENCH_SYNC_BUCKETS]);

/* Of a histogram (a difference of two reads): the number of syncs, and the q quantile in
 * seconds (the upper edge of its bucket); -1 when it holds none. */
uint64_t bench_sync_count(const uint64_t hist[BENCH_SYNC_BUCKETS]);
double bench_sync_quantile(const uint64_t hist[BENCH_SYNC_BUCKETS], double q);

void bench_sync_close(struct bench_sync *s);

#endif
