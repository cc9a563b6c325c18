/* The audit log: the hash chain, verification naming the first bad line, torn-line repair,
 * concurrent and cross-handle appends, and a failing disk leaving nothing behind. */
#include "../../support/testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signer/audit.h"

static const char *dir;
static char path[128];
static int counter;

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir("audit");
	return dir == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

static const char *fresh_path(void)
{
	snprintf(path, sizeof(path), "%s/audit-%d.log", dir, ++counter);
	return path;
}

static int append(struct audit_log *log, const char *op)
{
	char id[AUDIT_ID_LEN + 1];
	json_t *rec = json_pack("{s:s, s:s, s:s}", "client", "local", "operation", op, "decision",
				"signed");
	int r = audit_append(log, rec, id);

	json_decref(rec);
	if (r == 0)
		assert_int_equal(strlen(id), AUDIT_ID_LEN);
	return r;
}

static void test_chain_and_verify(void **state)
{
	struct audit_log *log;
	bool repaired;
	unsigned long bad, lines;
	FILE *f;
	char line[1024];
	json_t *j;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_false(repaired);
	for (int i = 0; i < 5; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_sg_ok(audit_verify_file(path, &bad, &lines));
	assert_int_equal(lines, 5);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	f = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	j = json_loads(line, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "seq")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "prev")),
			    "0000000000000000000000000000000000000000000000000000000000000000");
	assert_non_null(json_object_get(j, "time"));
	assert_string_equal(json_string_value(json_object_get(j, "operation")), "dev");
	json_decref(j);

	/* reopened, the chain goes on */
	assert_sg_ok(audit_open(path, &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_sg_ok(audit_verify_file(path, &bad, &lines));
	assert_int_equal(lines, 6);
}

/* Changes "dev" to "dew" in line 2 of the file. */
static void tamper_line_2(const char *p)
{
	FILE *f = fopen(p, "r+");
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	char *line2, *at;

	buf[n] = '\0';
	line2 = strchr(buf, '\n');
	assert_non_null(line2);
	at = strstr(line2 + 1, "\"dev\"");
	assert_non_null(at);
	assert_int_equal(fseek(f, at + 3 - buf, SEEK_SET), 0);
	fputc('w', f);
	fclose(f);
}

static void test_tampering_is_found(void **state)
{
	struct audit_log *log;
	bool repaired;
	unsigned long bad, lines;
	int r;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	for (int i = 0; i < 4; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	/* line 2 says "dew": still a record, but line 3's prev no longer matches */
	tamper_line_2(path);
	r = audit_verify_file(path, &bad, &lines);
	assert_int_not_equal(r, 0);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(sg_errmsg(r), ":3: the chain is broken"));
}

static void test_torn_line_repaired(void **state)
{
	struct audit_log *log;
	bool repaired;
	unsigned long bad, lines;
	FILE *f;
	int r;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	f = fopen(path, "a");
	fputs("{\"seq\":3,\"client\":\"lo", f); /* kill -9 mid-write */
	fclose(f);
	r = audit_verify_file(path, &bad, &lines);
	assert_int_equal(r, SG_ERR_TRUNCATED);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(sg_errmsg(r), "torn"));
	assert_sg_ok(audit_open(path, &log, &repaired));
	assert_true(repaired);
	assert_int_equal(append(log, "after"), 0);
	audit_close(log);
	assert_sg_ok(audit_verify_file(path, &bad, &lines));
	assert_int_equal(lines, 3);
	/* a crash while writing the first record of a segment: no whole line, but bytes */
	{
		struct audit_verify_result res;

		f = fopen(fresh_path(), "w");
		fputs("{\"seq\":1,\"client\":\"lo", f);
		fclose(f);
		r = audit_verify(path, &res);
		assert_int_equal(r, SG_ERR_TRUNCATED);
		assert_non_null(strstr(sg_errmsg(r), ":1: the last line is torn"));
		assert_sg_ok(audit_open(path, &log, &repaired));
		assert_true(repaired);
		audit_close(log);
		assert_sg_ok(audit_verify(path, &res));
		assert_int_equal(res.records, 0);
	}
}

struct writer {
	struct audit_log *log;
	int n;
	int errors;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < w->n; i++)
		w->errors += append(w->log, "concurrent") != 0;
	return NULL;
}

/* Eight threads on one handle and a second handle on the same file (as signerctl beside signerd
 * would be): one unbroken chain. */
static void test_concurrent_appends(void **state)
{
	struct audit_log *a, *b;
	struct writer w[8];
	pthread_t t[8];
	bool repaired;
	unsigned long bad, lines;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &a, &repaired));
	assert_sg_ok(audit_open(path, &b, &repaired));
	for (int i = 0; i < 8; i++) {
		w[i] = (struct writer){.log = i % 2 ? b : a, .n = 100, .errors = 0};
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	audit_close(a);
	audit_close(b);
	assert_sg_ok(audit_verify_file(path, &bad, &lines));
	assert_int_equal(lines, 800);
}

/* A disk that refuses the write (here: a file-size limit): the append fails, nothing of the line
 * stays, the log says it is not writable; once the disk takes writes again, the chain goes on. */
static void test_failing_disk(void **state)
{
	struct audit_log *log;
	struct rlimit old, lim;
	struct stat before, after;
	bool repaired;
	unsigned long bad, lines;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	assert_true(audit_writable(log));
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)before.st_size + 10; /* room for 10 bytes: a torn line */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(append(log, "dev"), SG_ERR_IO);
	assert_non_null(strstr(sg_errmsg(SG_ERR_IO), "writing the audit log"));
	assert_false(audit_writable(log));
	assert_int_equal(audit_failures(log), 1);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size); /* nothing of the line stayed */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(append(log, "dev"), 0);
	assert_true(audit_writable(log));
	audit_close(log);
	assert_sg_ok(audit_verify_file(path, &bad, &lines));
	assert_int_equal(lines, 2);
}

static int observed;
static void count_record(void *ctx, json_t *rec, double t)
{
	(void)ctx;
	(void)t;
	if (json_is_integer(json_object_get(rec, "seq")))
		observed++;
}

static int segments_of(const char *log_path)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls %s.[0-9]* 2>/dev/null | wc -l", log_path);
	p = popen(cmd, "r");
	if (p == NULL || fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p != NULL)
		pclose(p);
	return n;
}

/* Rotated at a size into path.<first seq>; the chain runs across segments, verify checks them
 * all, a changed segment is named, and segments let go are reported, not hidden. */
static void test_segments(void **state)
{
	struct audit_options opt = {.segment_bytes = 4096};
	struct audit_verify_result res;
	struct audit_log *log;
	bool repaired;
	char first[160], middle[160];

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &opt, &log, &repaired));
	for (int i = 0; i < 60; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_true(segments_of(path) >= 3);
	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.records, 60);
	assert_true(res.segments >= 4);
	assert_int_equal(res.first_seq, 1);
	/* reopened, the chain goes on */
	assert_sg_ok(audit_open_with(path, &opt, &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.records, 61);
	assert_int_equal(res.last.seq, 61);
	/* a record changed in a middle segment: named */
	snprintf(middle, sizeof(middle), "%s.%020d", path, 0);
	{
		char cmd[512];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "ls %s.[0-9]* | sort | sed -n 2p", path);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_non_null(fgets(middle, sizeof(middle), p));
		pclose(p);
		middle[strcspn(middle, "\n")] = '\0';
		snprintf(cmd, sizeof(cmd), "sed -i '2s/\"dev\"/\"vel\"/' %s", middle);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(audit_verify(path, &res), SG_ERR_MALFORMED);
	assert_string_equal(res.bad_segment, middle);
	assert_int_equal(res.bad_line, 3);
	/* the oldest segments let go (archived): the rest verifies, saying where it starts */
	{
		char cmd[512];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "ls %s.[0-9]* | sort | head -n 2", path);
		p = popen(cmd, "r");
		assert_non_null(p);
		while (fgets(first, sizeof(first), p) != NULL) {
			first[strcspn(first, "\n")] = '\0';
			assert_int_equal(unlink(first), 0);
		}
		pclose(p);
	}
	assert_sg_ok(audit_verify(path, &res));
	assert_true(res.first_seq > 1);
	assert_int_equal(res.last.seq, 61);
}

/* Two writers of one log (signerd and signerctl): each reads what the other appended before it
 * appends, and hands it to its observer; rotations by one are followed by the other. */
static void test_other_writers(void **state)
{
	struct audit_options opt = {.segment_bytes = 4096};
	struct audit_verify_result res;
	struct audit_log *a, *b;
	bool repaired;

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &opt, &a, &repaired));
	assert_sg_ok(audit_open_with(path, &opt, &b, &repaired));
	audit_set_observer(b, count_record, NULL);
	observed = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(append(a, "dev"), 0);
	assert_sg_ok(audit_catch_up(b));
	assert_int_equal(observed, 3);
	assert_int_equal(append(b, "dev"), 0);
	/* a rotates several times; b follows */
	for (int i = 0; i < 80; i++)
		assert_int_equal(append(a, "dev"), 0);
	if (append(b, "dev") != 0)
		fail_msg("%s", sg_errmsg(SG_ERR_MALFORMED));
	assert_int_equal(observed, 83);
	audit_close(a);
	audit_close(b);
	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.records, 85);
}

/* The log changed behind a writer's back (cut short, removed, a record not of the chain): the
 * writer says so and writes nothing more. */
static void test_changed_behind(void **state)
{
	struct audit_log *log, *other;
	struct stat st;
	bool repaired;
	FILE *f;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	for (int i = 0; i < 3; i++)
		assert_int_equal(append(log, "dev"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 10), 0);
	assert_int_equal(audit_catch_up(log), SG_ERR_MALFORMED);
	assert_non_null(strstr(sg_errmsg(SG_ERR_MALFORMED), "shrank"));
	assert_false(audit_writable(log));
	assert_int_equal(append(log, "dev"), SG_ERR_MALFORMED);
	audit_close(log);
	/* a line appended by something else that does not follow the chain */
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"seq\":2,\"prev\":"
	      "\"0000000000000000000000000000000000000000000000000000000000000000\"}\n",
	      f);
	fclose(f);
	assert_int_equal(append(log, "dev"), SG_ERR_MALFORMED);
	if (strstr(sg_errmsg(SG_ERR_MALFORMED), "does not follow") == NULL)
		fail_msg("%s", sg_errmsg(SG_ERR_MALFORMED));
	audit_close(log);
	/* removed */
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(append(log, "dev"), SG_ERR_MALFORMED);
	assert_non_null(strstr(sg_errmsg(SG_ERR_MALFORMED), "is gone"));
	audit_close(log);
	(void)other;
}

struct stress {
	struct audit_log *log;
	int n;
	int failed;
	long pause_us; /* between appends: a signerd at work rather than flat out */
};

static void *stress_main(void *arg)
{
	struct stress *st = arg;

	for (int i = 0; i < st->n; i++) {
		if (append(st->log, "dev") != 0)
			st->failed++;
		if (st->pause_us > 0)
			nanosleep(&(struct timespec){.tv_nsec = st->pause_us * 1000}, NULL);
	}
	return NULL;
}

/* Eight threads on one handle (signerd's workers) and one on another (signerctl), with small
 * segments: rotations by either never break the chain, never rotate twice, lose nothing. */
static void test_concurrent_rotation(void **state)
{
	struct audit_options opt = {.segment_bytes = 4096};
	struct audit_verify_result res;
	struct audit_log *a, *b;
	struct stress st[9];
	pthread_t t[9];
	bool repaired;
	struct stat s0;
	int segments;

	(void)state;
	for (int round = 0; round < 3; round++) {
		assert_sg_ok(audit_open_with(fresh_path(), &opt, &a, &repaired));
		assert_sg_ok(audit_open_with(path, &opt, &b, &repaired));
		for (int i = 0; i < 9; i++) {
			st[i] = (struct stress){.log = i < 8 ? a : b, .n = 40};
			assert_int_equal(pthread_create(&t[i], NULL, stress_main, &st[i]), 0);
		}
		for (int i = 0; i < 9; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			assert_int_equal(st[i].failed, 0);
		}
		audit_close(a);
		audit_close(b);
		if (audit_verify(path, &res) != 0)
			fail_msg("round %d: %s", round, sg_errmsg(SG_ERR_MALFORMED));
		assert_int_equal(res.records, 360);
		/* every rotated segment reached the size before it was rotated: a rotation done
		 * twice (two threads each believing it held the lock) leaves a short one */
		assert_int_equal(stat(path, &s0), 0);
		segments = segments_of(path);
		assert_true(segments >= 4);
		{
			char cmd[512];
			FILE *p;
			long size;

			snprintf(cmd, sizeof(cmd), "stat -c %%s %s.[0-9]*", path);
			p = popen(cmd, "r");
			assert_non_null(p);
			while (fscanf(p, "%ld", &size) == 1)
				assert_true(size >= 4096);
			pclose(p);
		}
	}
}

/* audit verify reads without the log's lock: while another handle writes (a line half written
 * shows as torn), rotates and lets old segments go (the running signerd), every verify still
 * succeeds (a failure that came with a change is read again). */
static void test_verify_while_rotating(void **state)
{
	struct audit_options opt = {.segment_bytes = 16384, .keep_segments = 3};
	struct audit_verify_result res;
	struct audit_log *log;
	struct stress st;
	pthread_t t;
	bool repaired;
	int verifies = 0, failures = 0;
	bool joined = false;

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &opt, &log, &repaired));
	st = (struct stress){.log = log, .n = 800, .pause_us = 1000};
	assert_int_equal(pthread_create(&t, NULL, stress_main, &st), 0);
	while (verifies < 2000) {
		int r = audit_verify(path, &res);

		verifies++;
		if (r != SG_OK) {
			failures++;
			fprintf(stderr, "verify %d: %s\n", verifies, sg_errmsg(r));
		}
		if (pthread_tryjoin_np(t, NULL) == 0) {
			joined = true; /* (also when it ends at the 2000th verify) */
			break;
		}
	}
	if (!joined)
		assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(st.failed, 0);
	audit_close(log);
	fprintf(stderr, "test_verify_while_rotating: %d verifies, %d failed, %d segments\n",
		verifies, failures, segments_of(path));
	assert_true(segments_of(path) >= 3);
	assert_int_equal(failures, 0);
}

/* keep_segments lets the oldest rotated segments go, but never one younger than keep_seconds
 * (the limits may still read it). */
static void test_retention(void **state)
{
	struct audit_options old_enough = {.segment_bytes = 4096, .keep_segments = 2},
			     young = {.segment_bytes = 4096,
				      .keep_segments = 2,
				      .keep_seconds = 3600};
	struct audit_verify_result res;
	struct audit_log *log;
	bool repaired;

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &old_enough, &log, &repaired));
	for (int i = 0; i < 60; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_int_equal(segments_of(path), 2);
	assert_sg_ok(audit_verify(path, &res));
	assert_true(res.first_seq > 1);
	assert_sg_ok(audit_open_with(fresh_path(), &young, &log, &repaired));
	for (int i = 0; i < 60; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_true(segments_of(path) > 2);
	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.first_seq, 1);
}

static int refuse_gate(void *ctx)
{
	(void)ctx;
	return sg_fail(SG_ERR_PERMISSION, "no");
}

/* A gate that refuses: nothing is written, and the log is still writable. */
static void test_gate(void **state)
{
	struct audit_log *log;
	struct audit_verify_result res;
	char id[AUDIT_ID_LEN + 1];
	json_t *rec = json_pack("{s:s}", "decision", "signed");
	bool repaired;

	(void)state;
	assert_sg_ok(audit_open(fresh_path(), &log, &repaired));
	assert_int_equal(append(log, "dev"), 0);
	assert_int_equal(audit_append_gated(log, rec, NULL, refuse_gate, NULL, id),
			 SG_ERR_PERMISSION);
	assert_true(audit_writable(log));
	assert_int_equal(audit_failures(log), 0);
	assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	json_decref(rec);
	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.records, 2);
}

/* Replaying from a known record (a checkpoint's): only what follows it, the record itself
 * checked. */
static void test_replay_from(void **state)
{
	struct audit_options opt = {.segment_bytes = 4096};
	struct audit_head mark;
	struct audit_log *log;
	struct audit_replay how = {0};
	struct audit_replay_result res;
	bool repaired;

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &opt, &log, &repaired));
	for (int i = 0; i < 30; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_head_now(log, &mark);
	for (int i = 0; i < 30; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	how.from = &mark.pos;
	how.from_seq = mark.seq;
	how.from_hash = mark.hash;
	how.fn = count_record;
	observed = 0;
	assert_sg_ok(audit_replay(path, &how, &res));
	assert_int_equal(observed, 30);
	assert_int_equal(res.last.seq, 60);
	/* and the anchored record's hash is checked on the way */
	how.check_seq = 45;
	how.check_hash = mark.hash; /* not record 45's */
	assert_int_equal(audit_replay(path, &how, &res), SG_ERR_MALFORMED);
	mark.hash[0] ^= 1;
	how.check_seq = 0;
	assert_int_equal(audit_replay(path, &how, &res), SG_ERR_MALFORMED);
}

/* A thread appending an announced record (the door's signature record). */
struct announced_append {
	struct audit_log *log;
	const char *members;
	int r;
};

static void *announced_append_main(void *arg)
{
	struct announced_append *a = arg;
	char id[AUDIT_ID_LEN + 1];

	a->r = audit_append_announced(a->log, a->members, strlen(a->members), NULL, NULL, id);
	return NULL;
}

/* Joins t, which must end within seconds. */
static void join_within(pthread_t t, int seconds)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	assert_int_equal(pthread_timedjoin_np(t, NULL, &deadline), 0);
}

/* The gathering group commit: a sync waits for the records announced when it came, so that
 * two signatures made at once take one fdatasync; an announcement cancelled frees it; and the
 * records read back as members, in order, with the chain's fields after them. (The wait is 10
 * s here, so that nothing depends on timing: a wait that did not end on the second arrival or
 * on the cancel fails the 5 s join.) */
static void test_gathering_sync(void **state)
{
	struct audit_options opt = {.gather_max_us = 10 * 1000 * 1000};
	struct announced_append first = {.members = "\"decision\":\"signed\",\"n\":1"},
				second = {.members = "\"decision\":\"signed\",\"n\":2"};
	struct audit_verify_result res;
	struct audit_log *log;
	uint64_t syncs0, records0, syncs, records;
	pthread_t t1, t2;
	bool repaired;
	char line[512];
	FILE *f;

	(void)state;
	assert_sg_ok(audit_open_with(fresh_path(), &opt, &log, &repaired));
	first.log = second.log = log;
	audit_sync_stats(log, &syncs0, &records0);
	/* two signatures in the making; the first record's sync waits for the second */
	audit_announce(log);
	audit_announce(log);
	assert_int_equal(pthread_create(&t1, NULL, announced_append_main, &first), 0);
	usleep(50 * 1000);
	assert_int_equal(pthread_create(&t2, NULL, announced_append_main, &second), 0);
	join_within(t1, 5);
	assert_int_equal(pthread_join(t2, NULL), 0);
	assert_sg_ok(first.r);
	assert_sg_ok(second.r);
	audit_sync_stats(log, &syncs, &records);
	assert_int_equal(records - records0, 2);
	assert_int_equal(syncs - syncs0, 1);

	/* one announced, then cancelled (its signature failed): the waiting sync goes ahead */
	audit_announce(log);
	audit_announce(log);
	assert_int_equal(pthread_create(&t1, NULL, announced_append_main, &first), 0);
	usleep(50 * 1000);
	audit_announce_cancel(log);
	join_within(t1, 5); /* the cancel ended the wait, not the 10 s */
	assert_sg_ok(first.r);
	audit_sync_stats(log, &syncs0, &records0);
	assert_int_equal(records0 - records, 1);
	assert_int_equal(syncs0 - syncs, 1);

	/* a record that brings one of the chain's own fields is refused, and nothing is written */
	{
		json_t *bad = json_pack("{s:s, s:i}", "decision", "signed", "seq", 7);
		char id[AUDIT_ID_LEN + 1];

		assert_int_equal(audit_append(log, bad, id), SG_ERR_INVALID_ARGUMENT);
		json_decref(bad);
		audit_sync_stats(log, &syncs, &records);
		assert_int_equal(records, records0);
	}

	/* nothing announced: no wait at all (a plain append) */
	assert_int_equal(append(log, "dev"), 0);
	audit_sync_stats(log, &syncs, &records);
	assert_int_equal(syncs - syncs0, 1);
	audit_close(log);

	assert_sg_ok(audit_verify(path, &res));
	assert_int_equal(res.records, 4);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(
		strncmp(line, "{\"decision\":\"signed\",\"n\":1,\"seq\":1,\"time\":\"", 43), 0);
	fclose(f);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, AUDIT_ID_LEN + 1);
}

/* Record ids: 32 hex digits, none twice among many, and a forked child draws a stream of its
 * own (the same counter in parent and child gives different ids). */
static void test_ids(void **state)
{
	enum { N = 20000 };
	char(*ids)[AUDIT_ID_LEN + 1] = calloc(N, sizeof(*ids));
	char parent[3][AUDIT_ID_LEN + 1], child[3][AUDIT_ID_LEN + 1];
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		audit_new_id(ids[i]);
		assert_int_equal(strlen(ids[i]), AUDIT_ID_LEN);
		assert_int_equal(strspn(ids[i], "0123456789abcdef"), AUDIT_ID_LEN);
	}
	qsort(ids, N, sizeof(*ids), id_cmp);
	for (int i = 1; i < N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			audit_new_id(child[i]);
		_exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	for (int i = 0; i < 3; i++)
		audit_new_id(parent[i]);
	assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			assert_string_not_equal(parent[i], child[j]);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_gathering_sync),
		cmocka_unit_test(test_chain_and_verify),
		cmocka_unit_test(test_tampering_is_found),
		cmocka_unit_test(test_torn_line_repaired),
		cmocka_unit_test(test_concurrent_appends),
		cmocka_unit_test(test_failing_disk),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_other_writers),
		cmocka_unit_test(test_changed_behind),
		cmocka_unit_test(test_concurrent_rotation),
		cmocka_unit_test(test_verify_while_rotating),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_gate),
		cmocka_unit_test(test_replay_from),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
