/* What the benchmarks share: a process's CPU time, signerd's readiness and metrics, sorting
 * doubles. */
#ifndef SIGNER_BENCH_UTIL_H
#define SIGNER_BENCH_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* CPU seconds a process has used (user + system), from /proc/PID/stat; -1 when unreadable. */
double bench_proc_cpu_seconds(pid_t pid);

/* Whether GET /readyz on 127.0.0.1:port answers 200. */
bool bench_ops_ready(unsigned port);

/* The value of the unlabelled sample name in GET /metrics on 127.0.0.1:port; -1 when it is
 * not there or the scrape fails. */
double bench_ops_metric(unsigned port, const char *name);

/* qsort's comparison of doubles. */
int bench_cmp_double(const void *a, const void *b);

#endif
