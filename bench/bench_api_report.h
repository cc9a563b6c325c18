/* bench_api's figures and their printing. */
#ifndef SIGNER_BENCH_API_REPORT_H
#define SIGNER_BENCH_API_REPORT_H

#include <stdbool.h>

#define ROUNDS_MAX 15
#define OTHERS_MAX 0.05 /* cores: a burst where other processes used more is discarded */

/* One burst's figures; a figure that does not apply or was not measured is -1. */
struct burst {
	double rate;          /* signatures (raw) or signed requests per second */
	double cpu_us;        /* CPU per signature: this process's (raw), signerd's (API) */
	double p50, p99;      /* ms */
	double records;       /* audit records per fdatasync */
	double sync_p50;      /* ms */
	double sync_p99;      /* ms */
	double lat_max;       /* ms: the slowest request */
	double sync_max;      /* ms: the slowest fdatasync (the upper edge of its bucket) */
	double others;        /* cores: what processes other than signerd and this one used */
	double kthreads;      /* cores: what the kernel's threads used */
	double steal;         /* cores: what the hypervisor took */
	unsigned long errors; /* API: responses other than 200, connections lost */
	bool kept;
};

struct round_result {
	struct burst raw, full, half;
};

/* The columns' names, then one round's line for one binary and chain. */
void bench_report_header(void);
void bench_report_round(int round, const char *label, const char *chain,
			const struct round_result *x);

/* Per chain (xs[v][round * 2 + chain]), the medians per binary with the targets; true if a
 * figure had every burst discarded (it is starred). */
bool bench_report_summary(const struct round_result *const xs[2], int n_binaries, int rounds,
			  const char *const labels[2], const char *chain_name, int chain);

#endif
