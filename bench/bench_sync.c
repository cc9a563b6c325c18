#include "bench_sync.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct bench_sync {
	int start_map, hist_map, progs[2], links[2];
	const volatile uint64_t *hist;
	size_t hist_size;
};

/* The instructions, spelt out (the kernel's own helper macros are not in its uapi headers). */
#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV_REG(d, s)         INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)         INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ALU_IMM(op, d, i)     INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define SUB_REG(d, s)         INSN(BPF_ALU64 | BPF_SUB | BPF_X, d, s, 0, 0)
#define LOAD64(d, s, o)       INSN(BPF_LDX | BPF_DW | BPF_MEM, d, s, o, 0)
#define STORE64(d, o, s)      INSN(BPF_STX | BPF_DW | BPF_MEM, d, s, o, 0)
#define STORE32(d, o, s)      INSN(BPF_STX | BPF_W | BPF_MEM, d, s, o, 0)
#define ADD_ATOMIC64(d, s)    INSN(BPF_STX | BPF_DW | BPF_ATOMIC, d, s, 0, BPF_ADD)
#define JUMP_IMM(op, d, i, o) INSN(BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define CALL(f)               INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()                INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define MAP_FD(d, fd)                                                                              \
	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

static long bpf_call(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int map_create(enum bpf_map_type type, unsigned key, unsigned value, unsigned n,
		      unsigned flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = n;
	a.map_flags = flags;
	return (int)bpf_call(BPF_MAP_CREATE, &a);
}

static int prog_load(const struct bpf_insn *insns, size_t n, char *why, size_t why_len)
{
	static char log[4096];
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t) "GPL";
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	log[0] = '\0';
	fd = (int)bpf_call(BPF_PROG_LOAD, &a);
	if (fd < 0)
		snprintf(why, why_len, "loading the eBPF program: %s%s%.200s", strerror(errno),
			 log[0] != '\0' ? ": " : "", log);
	return fd;
}

/* The root namespace's id of pid (what bpf_get_current_pid_tgid reports): the first NSpid. */
static long root_pid(pid_t pid)
{
	char path[64], line[256];
	long id = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return id;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "NSpid:", 6) == 0) {
			id = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return id;
}

int bench_sync_open(pid_t pid, struct bench_sync **out, char *why, size_t why_len)
{
	static const char *const points[2] = {"ext4_sync_file_enter", "ext4_sync_file_exit"};
	struct bench_sync *s = calloc(1, sizeof(*s));
	int32_t tgid = (int32_t)root_pid(pid);
	void *hist;

	*out = NULL;
	if (s == NULL) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	s->progs[0] = s->progs[1] = s->links[0] = s->links[1] = -1;
	s->hist_size = (BENCH_SYNC_BUCKETS * sizeof(uint64_t) + (size_t)sysconf(_SC_PAGESIZE) - 1) /
		       (size_t)sysconf(_SC_PAGESIZE) * (size_t)sysconf(_SC_PAGESIZE);
	s->start_map = map_create(BPF_MAP_TYPE_HASH, sizeof(uint64_t), sizeof(uint64_t), 256, 0);
	s->hist_map = map_create(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint64_t),
				 BENCH_SYNC_BUCKETS, BPF_F_MMAPABLE);
	if (s->start_map < 0 || s->hist_map < 0) {
		snprintf(why, why_len, "creating the eBPF maps: %s", strerror(errno));
		goto fail;
	}
	hist = mmap(NULL, s->hist_size, PROT_READ, MAP_SHARED, s->hist_map, 0);
	if (hist == MAP_FAILED) {
		snprintf(why, why_len, "mapping the histogram: %s", strerror(errno));
		goto fail;
	}
	s->hist = hist;
	{
		/* ext4_sync_file_enter(struct file *, int datasync): the thread's start time,
		 * for fdatasync calls of the process only */
		const struct bpf_insn enter[] = {
			MOV_REG(6, 1),
			CALL(BPF_FUNC_get_current_pid_tgid),
			MOV_REG(7, 0),
			MOV_REG(1, 0),
			ALU_IMM(BPF_RSH, 1, 32),
			JUMP_IMM(BPF_JNE, 1, tgid, 13), /* another process: out */
			LOAD64(1, 6, 8),                /* datasync */
			JUMP_IMM(BPF_JEQ, 1, 0, 11),    /* fsync: out */
			STORE64(10, -8, 7),
			CALL(BPF_FUNC_ktime_get_ns),
			STORE64(10, -16, 0),
			MAP_FD(1, s->start_map),
			MOV_REG(2, 10),
			ALU_IMM(BPF_ADD, 2, -8),
			MOV_REG(3, 10),
			ALU_IMM(BPF_ADD, 3, -16),
			MOV_IMM(4, BPF_ANY),
			CALL(BPF_FUNC_map_update_elem),
			MOV_IMM(0, 0), /* out */
			EXIT(),
		};
		/* ext4_sync_file_exit(struct inode *, int ret): the duration into its bucket */
		const struct bpf_insn leave[] = {
			CALL(BPF_FUNC_get_current_pid_tgid),
			STORE64(10, -8, 0),
			ALU_IMM(BPF_RSH, 0, 32),
			JUMP_IMM(BPF_JNE, 0, tgid, 32), /* another process: out */
			MAP_FD(1, s->start_map),
			MOV_REG(2, 10),
			ALU_IMM(BPF_ADD, 2, -8),
			CALL(BPF_FUNC_map_lookup_elem),
			JUMP_IMM(BPF_JEQ, 0, 0, 26), /* not an fdatasync we saw start: out */
			LOAD64(6, 0, 0),
			CALL(BPF_FUNC_ktime_get_ns),
			MOV_REG(7, 0),
			SUB_REG(7, 6),
			MAP_FD(1, s->start_map),
			MOV_REG(2, 10),
			ALU_IMM(BPF_ADD, 2, -8),
			CALL(BPF_FUNC_map_delete_elem),
			MOV_REG(1, 7),
			ALU_IMM(BPF_DIV, 1, 10000),
			JUMP_IMM(BPF_JLT, 1, BENCH_SYNC_FINE, 5), /* 10 us buckets: have */
			MOV_REG(1, 7),
			ALU_IMM(BPF_DIV, 1, 1000000),
			ALU_IMM(BPF_ADD, 1, BENCH_SYNC_FINE),
			JUMP_IMM(BPF_JLT, 1, BENCH_SYNC_BUCKETS, 1), /* 1 ms buckets: have */
			MOV_IMM(1, BENCH_SYNC_BUCKETS - 1),
			STORE32(10, -16, 1), /* have */
			MAP_FD(1, s->hist_map),
			MOV_REG(2, 10),
			ALU_IMM(BPF_ADD, 2, -16),
			CALL(BPF_FUNC_map_lookup_elem),
			JUMP_IMM(BPF_JEQ, 0, 0, 2),
			MOV_IMM(1, 1),
			ADD_ATOMIC64(0, 1),
			MOV_IMM(0, 0), /* out */
			EXIT(),
		};

		s->progs[0] = prog_load(enter, sizeof(enter) / sizeof(enter[0]), why, why_len);
		if (s->progs[0] < 0)
			goto fail;
		s->progs[1] = prog_load(leave, sizeof(leave) / sizeof(leave[0]), why, why_len);
		if (s->progs[1] < 0)
			goto fail;
	}
	for (int i = 0; i < 2; i++) {
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.raw_tracepoint.name = (uint64_t)(uintptr_t)points[i];
		a.raw_tracepoint.prog_fd = (uint32_t)s->progs[i];
		s->links[i] = (int)bpf_call(BPF_RAW_TRACEPOINT_OPEN, &a);
		if (s->links[i] < 0) {
			snprintf(why, why_len, "attaching to the raw tracepoint %s: %s", points[i],
				 strerror(errno));
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	bench_sync_close(s);
	return -1;
}

void bench_sync_read(const struct bench_sync *s, uint64_t hist[BENCH_SYNC_BUCKETS])
{
	for (size_t i = 0; i < BENCH_SYNC_BUCKETS; i++)
		hist[i] = s->hist[i];
}

uint64_t bench_sync_count(const uint64_t hist[BENCH_SYNC_BUCKETS])
{
	uint64_t n = 0;

	for (size_t i = 0; i < BENCH_SYNC_BUCKETS; i++)
		n += hist[i];
	return n;
}

double bench_sync_quantile(const uint64_t hist[BENCH_SYNC_BUCKETS], double q)
{
	uint64_t n = bench_sync_count(hist), seen = 0;
	double want = q * (double)n;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < BENCH_SYNC_BUCKETS; i++) {
		seen += hist[i];
		if ((double)seen >= want && hist[i] > 0)
			return i < BENCH_SYNC_FINE ? (double)(i + 1) * 10e-6
						   : (double)(i - BENCH_SYNC_FINE + 1) * 1e-3;
	}
	return (double)(BENCH_SYNC_BUCKETS - BENCH_SYNC_FINE) * 1e-3;
}

void bench_sync_close(struct bench_sync *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (s->links[i] >= 0)
			close(s->links[i]);
		if (s->progs[i] >= 0)
			close(s->progs[i]);
	}
	if (s->hist != NULL)
		munmap((void *)(uintptr_t)s->hist, s->hist_size);
	if (s->start_map >= 0)
		close(s->start_map);
	if (s->hist_map >= 0)
		close(s->hist_map);
	free(s);
}
