#include "bench_cpu.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/timefmt.h"

/* CPU seconds the machine's cores have been idle (idle, iowait and steal, from /proc/stat;
 * the steal alone at *steal): with the tick stopped while idle (NO_HZ) the kernel keeps idle and
 * iowait to the microsecond, while user and system are counted in ticks and miss the short runs
 * between idle periods that a syncing server is made of; so busy time is the wall time less
 * this. Steal, the hypervisor's, is no process's here: it is reported on its own. */
static double machine_idle_seconds(double *steal)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "re");
	int got;

	if (f == NULL)
		return -1;
	got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		     &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (got != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal */
	*steal = (double)v[7] / (double)sysconf(_SC_CLK_TCK);
	return (double)(v[3] + v[4] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static void kthreads_read(struct bench_kthreads *k)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	k->n = 0;
	while (d != NULL && k->n < BENCH_KTHREADS_MAX && (e = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		unsigned long flags, utime, stime;
		FILE *f;
		size_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu %*u %*u %*u %*u %lu %lu", &flags,
			   &utime, &stime) == 3 &&
		    (flags & 0x00200000) != 0) { /* PF_KTHREAD */
			k->pid[k->n] = atoi(e->d_name);
			k->ticks[k->n++] = utime + stime;
		}
	}
	if (d != NULL)
		closedir(d);
}

/* CPU seconds the kernel's threads used between two reads: of those alive at the second, what
 * they used since the first (all of it when they started since); what one that ended between
 * them used is missed (and counts as the other processes'). */
static double kthreads_seconds(const struct bench_kthreads *k0, const struct bench_kthreads *k1)
{
	unsigned long total = 0;

	for (size_t i = 0; i < k1->n; i++) {
		unsigned long before = 0;

		for (size_t j = 0; j < k0->n; j++)
			if (k0->pid[j] == k1->pid[i]) {
				before = k0->ticks[j] <= k1->ticks[i] ? k0->ticks[j] : 0;
				break;
			}
		total += k1->ticks[i] - before;
	}
	return (double)total / (double)sysconf(_SC_CLK_TCK);
}

void bench_cpu_mark(pid_t daemon, struct bench_cpu_mark *m)
{
	kthreads_read(&m->kthreads);
	m->idle = machine_idle_seconds(&m->steal);
	m->self = bench_proc_cpu_seconds(getpid());
	m->daemon = bench_proc_cpu_seconds(daemon);
	m->wall = time_monotonic_s();
}

void bench_cpu_window(const struct bench_cpu_mark *m0, const struct bench_cpu_mark *m1,
		      struct bench_cpu_window *w)
{
	double wall = m1->wall - m0->wall;
	double busy = wall * (double)sysconf(_SC_NPROCESSORS_ONLN) - (m1->idle - m0->idle);
	double kthreads = kthreads_seconds(&m0->kthreads, &m1->kthreads);

	w->kthreads = kthreads / wall;
	w->steal = (m1->steal - m0->steal) / wall;
	w->others = (busy - (m1->daemon - m0->daemon) - (m1->self - m0->self) - kthreads) / wall;
}
