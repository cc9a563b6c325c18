/* What bench_api prints: a line per round and chain, and per chain the medians of the kept
 * bursts beside the performance targets. */
#include "bench_api_report.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

/* the performance targets: server overhead, CPU efficiency, p99 at half load */
#define TARGET_OVERHEAD_US 120
#define TARGET_EFFICIENCY  0.8
#define TARGET_HALF_P99_MS 3

/* A figure into a column: "-" when it does not apply. */
static const char *fig(char *buf, size_t cap, int decimals, double v)
{
	if (v < 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.*f", decimals, v);
	return buf;
}

/* Others' cores, marked when the burst is discarded. */
static const char *others_text(char *buf, size_t cap, const struct burst *x)
{
	snprintf(buf, cap, "%.3f%s", x->others, x->kept ? "" : "!");
	return buf;
}

void bench_report_header(void)
{
	printf("%-2s %-7s %-6s|%6s %6s %6s |%6s %7s %5s %5s %5s %5s %6s %5s |%5s %5s %5s %5s "
	       "%5s %6s %5s\n",
	       "#", "binary", "chain", "raw/s", "us/sig", "others", "api/s", "us/req", "p50", "p99",
	       "r/syn", "syn99", "others", "kthr", "half", "p50", "p99", "r/syn", "syn99", "others",
	       "kthr");
}

void bench_report_round(int round, const char *label, const char *chain,
			const struct round_result *x)
{
	char a[16], bb[16], c[16], d[16], e[16], f[16], g[16], h[16], i[16], j[16], k[16], l[16],
		m[16];

	printf("%-2d %-7s %-6s|%6.0f %6s %6s |%6.0f %7s %5s %5s %5s %5s %6s %5.3f |%5.0f %5s %5s "
	       "%5s %5s %6s %5.3f\n",
	       round + 1, label, chain, x->raw.rate, fig(a, sizeof(a), 1, x->raw.cpu_us),
	       others_text(bb, sizeof(bb), &x->raw), x->full.rate,
	       fig(c, sizeof(c), 1, x->full.cpu_us), fig(d, sizeof(d), 2, x->full.p50),
	       fig(e, sizeof(e), 2, x->full.p99), fig(f, sizeof(f), 2, x->full.records),
	       fig(g, sizeof(g), 2, x->full.sync_p99), others_text(h, sizeof(h), &x->full),
	       x->full.kthreads, x->half.rate, fig(i, sizeof(i), 2, x->half.p50),
	       fig(j, sizeof(j), 2, x->half.p99), fig(k, sizeof(k), 2, x->half.records),
	       fig(l, sizeof(l), 2, x->half.sync_p99), others_text(m, sizeof(m), &x->half),
	       x->half.kthreads);
}

enum { NEED_RAW = 1, NEED_FULL = 2, NEED_HALF = 4 };

typedef double (*figure_fn)(const struct round_result *);

static double f_raw_cpu(const struct round_result *x)
{
	return x->raw.cpu_us;
}
static double f_api_cpu(const struct round_result *x)
{
	return x->full.cpu_us;
}
static double f_overhead(const struct round_result *x)
{
	return x->raw.cpu_us < 0 || x->full.cpu_us < 0 ? -1 : x->full.cpu_us - x->raw.cpu_us;
}
static double f_efficiency(const struct round_result *x)
{
	return x->raw.cpu_us < 0 || x->full.cpu_us <= 0 ? -1 : x->raw.cpu_us / x->full.cpu_us;
}
static double f_raw_rate(const struct round_result *x)
{
	return x->raw.rate;
}
static double f_api_rate(const struct round_result *x)
{
	return x->full.rate;
}
static double f_full_p50(const struct round_result *x)
{
	return x->full.p50;
}
static double f_full_p99(const struct round_result *x)
{
	return x->full.p99;
}
static double f_half_rate(const struct round_result *x)
{
	return x->half.rate;
}
static double f_half_p50(const struct round_result *x)
{
	return x->half.p50;
}
static double f_half_p99(const struct round_result *x)
{
	return x->half.p99;
}
static double f_full_sync99(const struct round_result *x)
{
	return x->full.sync_p99;
}
static double f_half_sync99(const struct round_result *x)
{
	return x->half.sync_p99;
}
static double f_half_lat_max(const struct round_result *x)
{
	return x->half.lat_max;
}
static double f_half_sync_max(const struct round_result *x)
{
	return x->half.sync_max;
}
static double f_full_records(const struct round_result *x)
{
	return x->full.records;
}
static double f_half_records(const struct round_result *x)
{
	return x->half.records;
}

static bool round_kept(const struct round_result *x, int need)
{
	return (!(need & NEED_RAW) || x->raw.kept) && (!(need & NEED_FULL) || x->full.kept) &&
	       (!(need & NEED_HALF) || x->half.kept);
}

/* The median of a figure over the rounds whose bursts it needs were kept; when none were, over
 * all rounds, and *all_discarded says so. -1 when no round measured it. */
static double median_figure(const struct round_result *xs, int rounds, figure_fn fn, int need,
			    bool *all_discarded)
{
	double v[ROUNDS_MAX];
	int n = 0;
	bool any_kept = false;

	for (int i = 0; i < rounds; i++)
		any_kept = any_kept || round_kept(&xs[i], need);
	for (int i = 0; i < rounds; i++)
		if ((!any_kept || round_kept(&xs[i], need)) && fn(&xs[i]) >= 0)
			v[n++] = fn(&xs[i]);
	if (!any_kept)
		*all_discarded = true;
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
	const char *name;
	int decimals;
	figure_fn a, b; /* b: a second figure shown as "a / b" */
	int need_a, need_b;
	const char *target;
	int target_kind; /* 0 none; 1: a < value; 2: a >= value; 3: b < value */
	double target_value;
};

/* The chain's medians per binary with the targets; true if a figure had every burst discarded. */
bool bench_report_summary(const struct round_result *const xs[2], int n_binaries, int rounds,
			  const char *const labels[2], const char *chain_name, int chain)
{
	bool starred = false;

	static const struct row rows[] = {
		{.name = "raw C_Sign CPU per signature, us",
		 .decimals = 1,
		 .a = f_raw_cpu,
		 .need_a = NEED_RAW},
		{.name = "signerd CPU per signed request, us",
		 .decimals = 1,
		 .a = f_api_cpu,
		 .need_a = NEED_FULL},
		{.name = "server overhead (signerd - raw), us",
		 .decimals = 1,
		 .a = f_overhead,
		 .need_a = NEED_RAW | NEED_FULL,
		 .target = "< 120",
		 .target_kind = 1,
		 .target_value = TARGET_OVERHEAD_US},
		{.name = "CPU efficiency (raw / signerd)",
		 .decimals = 3,
		 .a = f_efficiency,
		 .need_a = NEED_RAW | NEED_FULL,
		 .target = ">= 0.8",
		 .target_kind = 2,
		 .target_value = TARGET_EFFICIENCY},
		{.name = "throughput raw / API, signatures/s",
		 .decimals = 0,
		 .a = f_raw_rate,
		 .b = f_api_rate,
		 .need_a = NEED_RAW,
		 .need_b = NEED_FULL},
		{.name = "full load p50 / p99, ms",
		 .decimals = 2,
		 .a = f_full_p50,
		 .b = f_full_p99,
		 .need_a = NEED_FULL,
		 .need_b = NEED_FULL},
		{.name = "half load, signed requests/s",
		 .decimals = 0,
		 .a = f_half_rate,
		 .need_a = NEED_HALF},
		{.name = "half load p50 / p99, ms",
		 .decimals = 2,
		 .a = f_half_p50,
		 .b = f_half_p99,
		 .need_a = NEED_HALF,
		 .need_b = NEED_HALF,
		 .target = "p99 < 3",
		 .target_kind = 3,
		 .target_value = TARGET_HALF_P99_MS},
		{.name = "audit sync p99 full / half, ms",
		 .decimals = 2,
		 .a = f_full_sync99,
		 .b = f_half_sync99,
		 .need_a = NEED_FULL,
		 .need_b = NEED_HALF},
		{.name = "half load slowest request / sync, ms",
		 .decimals = 2,
		 .a = f_half_lat_max,
		 .b = f_half_sync_max,
		 .need_a = NEED_HALF,
		 .need_b = NEED_HALF},
		{.name = "audit records per sync full / half",
		 .decimals = 2,
		 .a = f_full_records,
		 .b = f_half_records,
		 .need_a = NEED_FULL,
		 .need_b = NEED_HALF},
	};
	char head[64];

	snprintf(head, sizeof(head), "%s, medians of kept bursts", chain_name);
	printf("%-38s", head);
	for (int v = 0; v < n_binaries; v++)
		printf(" %17s", labels[v]);
	printf("   target\n");
	printf("%-38s", "  bursts kept raw/full/half, errors");
	for (int v = 0; v < n_binaries; v++) {
		int k[3] = {0, 0, 0};
		unsigned long errors = 0;
		char t[64];

		for (int i = 0; i < rounds; i++) {
			k[0] += xs[v][i * 2 + chain].raw.kept;
			k[1] += xs[v][i * 2 + chain].full.kept;
			k[2] += xs[v][i * 2 + chain].half.kept;
			errors +=
				xs[v][i * 2 + chain].full.errors + xs[v][i * 2 + chain].half.errors;
		}
		snprintf(t, sizeof(t), "%d/%d/%d of %d, %lu", k[0], k[1], k[2], rounds, errors);
		printf(" %17s", t);
	}
	printf("\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *row = &rows[i];
		bool met[2] = {true, true};

		printf("  %-36s", row->name);
		for (int v = 0; v < n_binaries; v++) {
			struct round_result per[ROUNDS_MAX];
			bool all_discarded = false;
			double a, b = -1;
			char ta[24], tb[24], t[56];

			for (int j = 0; j < rounds; j++)
				per[j] = xs[v][j * 2 + chain];
			a = median_figure(per, rounds, row->a, row->need_a, &all_discarded);
			if (row->b != NULL)
				b = median_figure(per, rounds, row->b, row->need_b, &all_discarded);
			starred = starred || all_discarded;
			fig(ta, sizeof(ta), row->decimals, a);
			fig(tb, sizeof(tb), row->decimals, b);
			if (row->b != NULL)
				snprintf(t, sizeof(t), "%s / %s%s", ta, tb,
					 all_discarded ? "*" : "");
			else
				snprintf(t, sizeof(t), "%s%s", ta, all_discarded ? "*" : "");
			printf(" %17s", t);
			met[v] = row->target_kind == 1   ? a >= 0 && a < row->target_value
				 : row->target_kind == 2 ? a >= row->target_value
				 : row->target_kind == 3 ? b >= 0 && b < row->target_value
							 : true;
		}
		if (row->target != NULL) {
			printf("   %-7s", row->target);
			for (int v = 0; v < n_binaries; v++)
				printf(" %s", met[v] ? "met" : "missed");
		}
		printf("\n");
	}
	return starred;
}
