/* bench_startup CONFIG SIGNERD [RECORDS [ROUNDS]]: how long signerd takes to be ready on an audit
 * log of RECORDS records (default 1,000,000).
 * 1. The log is written straight to disk (a valid chain, rotated into segments of
 *    audit.segment_max_bytes, signed records with native spends spread over the last six days,
 *    so that every one is inside the longest limit window) and its head anchored in the token.
 * 2. signerd starts without a checkpoint: it replays the last 7 days, all of it.
 * 3. It stops (writing a checkpoint) and starts again ROUNDS times: from the checkpoint.
 * For each start: wall seconds until /readyz answers 200, and signerd's CPU seconds by then.
 * A benchmark: it reports, it does not judge. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench_util.h"
#include "common/encoding.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "signer/audit.h"
#include "signer/config.h"
#include "signer/journal.h"

/* Starts signerd, waits for /readyz; *wall and *cpu by then. Returns its pid (or -1). */
static pid_t start(const char *signerd, const char *config, unsigned port, double *wall,
		   double *cpu)
{
	double t0 = time_monotonic_s();
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);
		execl(signerd, signerd, "--config", config, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct timespec ts = {0, 2 * 1000 * 1000};

		if (bench_ops_ready(port))
			break;
		if (waitpid(pid, NULL, WNOHANG) == pid || time_monotonic_s() - t0 > 600) {
			fprintf(stderr, "bench_startup: signerd did not become ready\n");
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	*wall = time_monotonic_s() - t0;
	*cpu = bench_proc_cpu_seconds(pid);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* A chain of n records written straight into segments of segment_bytes. */
static int write_log(const char *path, uint64_t n, uint64_t segment_bytes, struct audit_head *head)
{
	char prev[65], line[1024], *seg_name = NULL;
	uint8_t h[32];
	double now = (double)time(NULL), span = 6 * 86400.0;
	uint64_t seg_first = 1, seg_size = 0;
	FILE *f = NULL;

	memset(prev, '0', 64);
	prev[64] = '\0';
	for (uint64_t seq = 1; seq <= n; seq++) {
		double t = now - span + span * (double)seq / (double)n;
		time_t ts = (time_t)t;
		struct tm tm;
		char when[32];
		int len;

		if (f == NULL || seg_size >= segment_bytes) {
			if (f != NULL) {
				fclose(f);
				if (asprintf(&seg_name, "%s.%020llu", path,
					     (unsigned long long)seg_first) < 0 ||
				    rename(path, seg_name) != 0)
					return -1;
				free(seg_name);
				seg_first = seq;
			}
			f = fopen(path, "w");
			if (f == NULL)
				return -1;
			seg_size = 0;
		}
		gmtime_r(&ts, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		len = snprintf(
			line, sizeof(line),
			"{\"request_id\":null,\"client\":\"polygon-adapter\",\"peer\":\"spiffe://"
			"signerd-dev/polygon-adapter\",\"key\":\"polygon-dev\",\"key_version\":1,"
			"\"operation\":\"dev\",\"chain\":\"evm\",\"payload\":\"evm_transaction\","
			"\"payload_sha256\":\"%064llx\",\"decision\":\"signed\",\"reason\":null,"
			"\"policy_generation\":0,\"signature_sha256\":\"%064llx\",\"spends\":[{"
			"\"asset\":\"native\",\"amount\":\"%llu\"}],\"seq\":%llu,\"time\":\"%s.%"
			"03dZ\","
			"\"audit_id\":\"%032llx\",\"prev\":\"%s\"}",
			(unsigned long long)seq, (unsigned long long)seq * 7,
			(unsigned long long)(seq % 1000 + 1), (unsigned long long)seq, when,
			(int)((t - (double)ts) * 1000), (unsigned long long)seq, prev);
		if (len < 0 || (size_t)len >= sizeof(line))
			return -1;
		crypto_hash_sha256(h, (const uint8_t *)line, (size_t)len);
		if (hex_encode(h, 32, prev, sizeof(prev)) != SG_OK)
			return -1;
		line[len] = '\n';
		if (fwrite(line, 1, (size_t)len + 1, f) != (size_t)len + 1)
			return -1;
		seg_size += (uint64_t)len + 1;
		head->seq = seq;
		memcpy(head->hash, h, 32);
		head->time = t;
	}
	return f != NULL && fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct signer_config cfg;
	struct ks_config kc;
	struct keystore *ks;
	struct audit_log *log;
	struct audit_head head = {0};
	uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
	int rounds = argc > 4 ? atoi(argv[4]) : 5;
	double wall, cpu, walls[32], cpus[32], t0;
	bool repaired;
	pid_t pid;
	int r;

	if (argc < 3 || n == 0 || rounds < 1 || rounds > 32 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_startup CONFIG SIGNERD [RECORDS [ROUNDS (1-32)]]\n");
		return 2;
	}
	if ((r = signer_config_load(argv[1], &cfg)) != SG_OK ||
	    (r = signer_config_apply_env(&cfg)) != SG_OK) {
		fprintf(stderr, "bench_startup: %s\n", sg_errmsg(r));
		return 1;
	}
	t0 = time_monotonic_s();
	if (write_log(cfg.audit.path, n, cfg.audit.segment_max_bytes, &head) != 0) {
		fprintf(stderr, "bench_startup: writing the log: %s\n", strerror(errno));
		return 1;
	}
	printf("startup benchmark: %llu records written in %.1f s (segments of %llu bytes)\n",
	       (unsigned long long)n, time_monotonic_s() - t0,
	       (unsigned long long)cfg.audit.segment_max_bytes);
	kc = (struct ks_config){.module_path = cfg.token.module,
				.token_label = cfg.token.label,
				.pin_file = cfg.token.pin_file,
				.sessions = 1};
	if ((r = ks_open(&kc, &ks)) != SG_OK ||
	    (r = audit_open(cfg.audit.path, &log, &repaired)) != SG_OK ||
	    (r = journal_anchor_write(ks, log, &head, NULL, true, NULL)) != SG_OK) {
		fprintf(stderr, "bench_startup: anchoring: %s\n", sg_errmsg(r));
		return 1;
	}
	audit_close(log);
	ks_close(ks);
	if ((pid = start(argv[2], argv[1], cfg.ops.port, &wall, &cpu)) < 0)
		return 1;
	printf("without a checkpoint (replays the last 7 days: all %llu): ready in %.2f s, "
	       "%.2f s CPU\n",
	       (unsigned long long)n, wall, cpu);
	stop(pid);
	for (int i = 0; i < rounds; i++) {
		if ((pid = start(argv[2], argv[1], cfg.ops.port, &walls[i], &cpus[i])) < 0)
			return 1;
		stop(pid);
	}
	qsort(walls, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(cpus, (size_t)rounds, sizeof(double), bench_cmp_double);
	printf("from the checkpoint, %d starts: ready in %.3f s median (%.3f to %.3f), %.3f s CPU "
	       "median\n",
	       rounds, walls[rounds / 2], walls[0], walls[rounds - 1], cpus[rounds / 2]);
	signer_config_free(&cfg);
	return 0;
}
