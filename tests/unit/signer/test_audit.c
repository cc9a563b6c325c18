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
	assert_int_equal(audit_open(fresh_path(), &log, &repaired), 0);
	assert_false(repaired);
	for (int i = 0; i < 5; i++)
		assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_int_equal(audit_verify_file(path, &bad, &lines), 0);
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
	assert_int_equal(audit_open(path, &log, &repaired), 0);
	assert_int_equal(append(log, "dev"), 0);
	audit_close(log);
	assert_int_equal(audit_verify_file(path, &bad, &lines), 0);
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
	assert_int_equal(audit_open(fresh_path(), &log, &repaired), 0);
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
	assert_int_equal(audit_open(fresh_path(), &log, &repaired), 0);
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
	assert_int_equal(audit_open(path, &log, &repaired), 0);
	assert_true(repaired);
	assert_int_equal(append(log, "after"), 0);
	audit_close(log);
	assert_int_equal(audit_verify_file(path, &bad, &lines), 0);
	assert_int_equal(lines, 3);
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
	assert_int_equal(audit_open(fresh_path(), &a, &repaired), 0);
	assert_int_equal(audit_open(path, &b, &repaired), 0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct writer){i % 2 ? b : a, 100, 0};
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	audit_close(a);
	audit_close(b);
	assert_int_equal(audit_verify_file(path, &bad, &lines), 0);
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
	assert_int_equal(audit_open(fresh_path(), &log, &repaired), 0);
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
	assert_int_equal(audit_verify_file(path, &bad, &lines), 0);
	assert_int_equal(lines, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_and_verify),
		cmocka_unit_test(test_tampering_is_found),
		cmocka_unit_test(test_torn_line_repaired),
		cmocka_unit_test(test_concurrent_appends),
		cmocka_unit_test(test_failing_disk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
