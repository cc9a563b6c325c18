/* Who used the machine's CPU over a window: a server, this process, the kernel's threads, the
 * hypervisor, and everyone else. */
#ifndef SIGNER_BENCH_CPU_H
#define SIGNER_BENCH_CPU_H

#include <stddef.h>
#include <sys/types.h>

#define BENCH_KTHREADS_MAX 2048

/* The kernel's threads and their CPU ticks (jbd2 committing the syncs' journal, the kworkers
 * completing their I/O: the syncs' own cost more than anyone else's, so not counted as other
 * processes but shown). */
struct bench_kthreads {
	size_t n;
	int pid[BENCH_KTHREADS_MAX];
	unsigned long ticks[BENCH_KTHREADS_MAX];
};

/* The CPU clocks at one moment: the wall, a server's (utime + stime from /proc/PID/stat),
 * this process's, the machine's idle and steal (/proc/stat), each kernel thread's. */
struct bench_cpu_mark {
	double wall, daemon, self, idle, steal;
	struct bench_kthreads kthreads;
};

/* Between two marks, in cores (CPU seconds per second of wall time). */
struct bench_cpu_window {
	double others;   /* the machine's busy time less the server's, this process's and the
			    kernel threads' */
	double kthreads; /* the kernel's threads */
	double steal;    /* the hypervisor's */
};

void bench_cpu_mark(pid_t daemon, struct bench_cpu_mark *m);
void bench_cpu_window(const struct bench_cpu_mark *m0, const struct bench_cpu_mark *m1,
		      struct bench_cpu_window *w);

#endif
