/* backup/target.h: one suite of behaviours run against a directory target and, when
 * SIGNER_TEST_S3_ENDPOINT (with _CREDENTIALS, _BUCKET, _REGION) names one, against an S3 bucket
 * (tests/integration/backup_target.sh starts s3rver behind a proxy that checks every
 * signature); then what is particular to each: atomic replacement, symbolic links and modes of
 * the directory; pagination, refused credentials, a server that is down, the endpoint and
 * credentials rules, and the XML reader of S3. */
#include "../../support/testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backup/target.h"
#include "target_internal.h"

static const char *tmp;

enum kind { KIND_DIR, KIND_S3 };

static struct s3_env {
	char *endpoint, *credentials, *bucket, *region, *down;
	bool set;
} s3;

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	s3 = (struct s3_env){
		.endpoint = getenv("SIGNER_TEST_S3_ENDPOINT"),
		.credentials = getenv("SIGNER_TEST_S3_CREDENTIALS"),
		.bucket = getenv("SIGNER_TEST_S3_BUCKET"),
		.region = getenv("SIGNER_TEST_S3_REGION"),
		.down = getenv("SIGNER_TEST_S3_DOWN_ENDPOINT"),
	};
	s3.set = s3.endpoint != NULL && s3.credentials != NULL && s3.bucket != NULL &&
		 s3.region != NULL;
	if (s3.endpoint != NULL && !s3.set) {
		fprintf(stderr, "SIGNER_TEST_S3_ENDPOINT is set without _CREDENTIALS, _BUCKET and "
				"_REGION\n");
		return -1;
	}
	return (tmp = tu_tmpdir("target")) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

/* tmp/rel */
static char *path_in(const char *rel)
{
	static char p[8][512];
	static int k;
	char *out = p[k++ % 8];

	snprintf(out, sizeof(p[0]), "%s/%s", tmp, rel);
	return out;
}

/* A fresh S3 prefix per test and per run: "t<hex>-<tag>/". */
static char *s3_prefix(const char *tag)
{
	static char p[8][96];
	static int k;
	char *out = p[k++ % 8];

	snprintf(out, sizeof(p[0]), "t%08x-%s/", randombytes_random(), tag);
	return out;
}

static struct backup_target *open_s3_with(const char *tag, char *endpoint, char *credentials,
					  char *profile)
{
	struct backup_target *t;
	struct backup_target_config cfg = {
		.name = "s3-test",
		.kind = BACKUP_TARGET_S3,
		.s3 = {.endpoint = endpoint,
		       .region = s3.region,
		       .bucket = s3.bucket,
		       .prefix = s3_prefix(tag),
		       .credentials_file = credentials,
		       .profile = profile},
	};

	assert_sg_ok(backup_target_open(&cfg, &t));
	return t;
}

/* The target of the suite's kind, empty, for the test tag. */
static struct backup_target *open_fresh(void **state, const char *tag)
{
	enum kind kind = *(enum kind *)*state;
	struct backup_target *t;

	if (kind == KIND_S3) {
		if (!s3.set)
			skip();
		return open_s3_with(tag, s3.endpoint, s3.credentials, NULL);
	}
	struct backup_target_config cfg = {
		.name = "dir-test",
		.kind = BACKUP_TARGET_DIR,
	};
	char rel[64];

	snprintf(rel, sizeof(rel), "dir-%s", tag);
	cfg.dir = path_in(rel);
	/* there, as a bucket is */
	assert_int_equal(mkdir(cfg.dir, 0700), 0);
	assert_sg_ok(backup_target_open(&cfg, &t));
	return t;
}

static void put_text(struct backup_target *t, const char *name, const char *text)
{
	assert_sg_ok(backup_target_put(t, name, (const uint8_t *)text, strlen(text)));
}

static void expect_text(struct backup_target *t, const char *name, const char *text)
{
	uint8_t *data;
	size_t len;

	assert_sg_ok(backup_target_get(t, name, 1 << 20, &data, &len));
	assert_int_equal(len, strlen(text));
	assert_memory_equal(data, text, len);
	free(data);
}

/* ---- the suite, for every kind ---- */

static void test_put_get(void **state)
{
	struct backup_target *t = open_fresh(state, "putget");
	uint8_t bin[4096], *data;
	size_t len;

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7 + 3);
	assert_sg_ok(backup_target_put(t, "bundles/2024/one.bin", bin, sizeof(bin)));
	assert_sg_ok(backup_target_get(t, "bundles/2024/one.bin", sizeof(bin), &data, &len));
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(data, bin, len);
	free(data);
	/* a replacement: the new bytes, whole */
	put_text(t, "bundles/2024/one.bin", "second");
	expect_text(t, "bundles/2024/one.bin", "second");
	/* a large one (curl sends Expect: 100-continue past 1 MiB) */
	{
		size_t big = 3u << 20;
		uint8_t *b = malloc(big);

		assert_non_null(b);
		randombytes_buf(b, big);
		assert_sg_ok(backup_target_put(t, "large", b, big));
		assert_sg_ok(backup_target_get(t, "large", big, &data, &len));
		assert_int_equal(len, big);
		assert_memory_equal(data, b, big);
		free(data);
		free(b);
	}
	/* an empty object is an object */
	assert_sg_ok(backup_target_put(t, "empty", NULL, 0));
	assert_sg_ok(backup_target_get(t, "empty", 10, &data, &len));
	assert_int_equal(len, 0);
	assert_non_null(data);
	free(data);
	assert_string_equal(backup_target_name(t),
			    *(enum kind *)*state == KIND_S3 ? "s3-test" : "dir-test");
	backup_target_close(t);
}

static void test_missing(void **state)
{
	struct backup_target *t = open_fresh(state, "missing");
	uint8_t *data = (uint8_t *)"x";
	size_t len = 9;

	put_text(t, "there", "x");
	assert_sg_fails(backup_target_get(t, "not-there", 100, &data, &len), SG_ERR_NOT_FOUND,
			"not-there");
	assert_null(data);
	assert_int_equal(len, 0);
	assert_sg_fails(backup_target_get(t, "no/such/dir", 100, &data, &len), SG_ERR_NOT_FOUND,
			"no/such/dir");
	backup_target_close(t);
}

static void test_max(void **state)
{
	struct backup_target *t = open_fresh(state, "max");
	uint8_t *data;
	size_t len;

	put_text(t, "ten", "0123456789");
	assert_sg_fails(backup_target_get(t, "ten", 9, &data, &len), SG_ERR_OVERFLOW,
			"more than the 9 bytes allowed");
	assert_null(data);
	assert_sg_ok(backup_target_get(t, "ten", 10, &data, &len));
	assert_int_equal(len, 10);
	free(data);
	/* checked before a byte is read or sent */
	assert_sg_fails(backup_target_put(t, "big", (const uint8_t *)"", BACKUP_OBJECT_MAX + 1u),
			SG_ERR_OVERFLOW, "more than");
	backup_target_close(t);
}

static void test_list(void **state)
{
	struct backup_target *t = open_fresh(state, "list");
	const char *names[] = {"b/2", "a", "b/1", "b/10/x", "bz", "c.d_e-f"};
	const char *sorted[] = {"a", "b/1", "b/10/x", "b/2", "bz", "c.d_e-f"};
	char **got;
	size_t n;

	assert_sg_ok(backup_target_list(t, "", &got, &n));
	assert_int_equal(n, 0);
	backup_names_free(got, n);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_text(t, names[i], names[i]);
	assert_sg_ok(backup_target_list(t, "", &got, &n));
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], sorted[i]);
	backup_names_free(got, n);
	assert_sg_ok(backup_target_list(t, "b/1", &got, &n));
	assert_int_equal(n, 2);
	assert_string_equal(got[0], "b/1");
	assert_string_equal(got[1], "b/10/x");
	backup_names_free(got, n);
	assert_sg_ok(backup_target_list(t, "b", &got, &n));
	assert_int_equal(n, 4);
	backup_names_free(got, n);
	assert_sg_ok(backup_target_list(t, "b/", &got, &n));
	assert_int_equal(n, 3);
	backup_names_free(got, n);
	assert_sg_ok(backup_target_list(t, "nothing", &got, &n));
	assert_int_equal(n, 0);
	backup_names_free(got, n);
	assert_sg_fails(backup_target_list(t, "B", &got, &n), SG_ERR_INVALID_ARGUMENT,
			"a prefix has a character outside");
	backup_target_close(t);
}

static void test_delete(void **state)
{
	struct backup_target *t = open_fresh(state, "delete");
	uint8_t *data;
	size_t len;
	char **got;
	size_t n;

	put_text(t, "x/y", "1");
	put_text(t, "x/z", "2");
	assert_sg_ok(backup_target_delete(t, "x/y"));
	assert_sg_fails(backup_target_get(t, "x/y", 10, &data, &len), SG_ERR_NOT_FOUND, "x/y");
	expect_text(t, "x/z", "2");
	assert_sg_ok(backup_target_list(t, "", &got, &n));
	assert_int_equal(n, 1);
	assert_string_equal(got[0], "x/z");
	backup_names_free(got, n);
	/* none there is done */
	assert_sg_ok(backup_target_delete(t, "x/y"));
	assert_sg_ok(backup_target_delete(t, "no/such/thing"));
	backup_target_close(t);
}

static void test_names(void **state)
{
	struct backup_target *t = open_fresh(state, "names");
	const char *bad[] = {"../x", "/x",    "a//b", "A",    "",     "a/", "./x",
			     "x/..", "a/./b", "a b",  "a\\b", "a\nb", "é"};
	char longest[BACKUP_OBJECT_NAME_MAX + 2];
	uint8_t *data;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(backup_object_name_valid(bad[i]));
		assert_int_equal(backup_target_put(t, bad[i], (const uint8_t *)"x", 1),
				 SG_ERR_INVALID_ARGUMENT);
		assert_int_equal(backup_target_get(t, bad[i], 10, &data, &len),
				 SG_ERR_INVALID_ARGUMENT);
		assert_int_equal(backup_target_delete(t, bad[i]), SG_ERR_INVALID_ARGUMENT);
	}
	assert_sg_fails(backup_target_put(t, "../x", (const uint8_t *)"x", 1),
			SG_ERR_INVALID_ARGUMENT,
			"object name \"../x\" has an empty, \".\" or \"..\"");
	assert_sg_fails(backup_target_put(t, "A", (const uint8_t *)"x", 1), SG_ERR_INVALID_ARGUMENT,
			"has a character outside [a-z0-9._/-]");
	assert_sg_fails(backup_target_put(t, "/x", (const uint8_t *)"x", 1),
			SG_ERR_INVALID_ARGUMENT, "starts with '/'");
	assert_sg_fails(backup_target_put(t, NULL, (const uint8_t *)"x", 1),
			SG_ERR_INVALID_ARGUMENT, "no object name");
	memset(longest, 'a', BACKUP_OBJECT_NAME_MAX);
	longest[BACKUP_OBJECT_NAME_MAX] = '\0';
	assert_true(backup_object_name_valid(longest));
	/* "..." and ".x" are names: only "." and ".." are not */
	assert_true(backup_object_name_valid("a/.../.x"));
	put_text(t, longest, "long");
	expect_text(t, longest, "long");
	longest[BACKUP_OBJECT_NAME_MAX] = 'a';
	longest[BACKUP_OBJECT_NAME_MAX + 1] = '\0';
	assert_false(backup_object_name_valid(longest));
	assert_sg_fails(backup_target_put(t, longest, (const uint8_t *)"x", 1),
			SG_ERR_INVALID_ARGUMENT, "longer than 200");
	backup_target_close(t);
}

/* ---- the directory ---- */

static int count_entries(const char *dir, const char *containing)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, containing) != NULL)
			n++;
	closedir(d);
	return n;
}

static struct backup_target *open_dir_at(char *dir)
{
	struct backup_target *t;
	struct backup_target_config cfg = {
		.name = "dir-test",
		.kind = BACKUP_TARGET_DIR,
		.dir = dir,
	};

	assert_sg_ok(backup_target_open(&cfg, &t));
	return t;
}

static void test_dir_atomic(void **state)
{
	char *dir = path_in("atomic");
	struct backup_target *t = open_dir_at(dir);
	struct stat st, st2;
	char buf[64];
	int fd;
	ssize_t got;

	(void)state;
	put_text(t, "a/b/obj", "old bytes");
	assert_int_equal(stat(path_in("atomic/a/b/obj"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(path_in("atomic/a/b"), &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0700);
	assert_int_equal(stat(dir, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0700);
	/* a reader of the old object keeps reading the old bytes, whole: the new ones went into
	 * another file, renamed over it */
	fd = open(path_in("atomic/a/b/obj"), O_RDONLY);
	assert_true(fd >= 0);
	put_text(t, "a/b/obj", "new bytes, longer");
	got = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(got, 9);
	assert_memory_equal(buf, "old bytes", 9);
	assert_int_equal(stat(path_in("atomic/a/b/obj"), &st2), 0);
	assert_true(st2.st_ino != st.st_ino);
	expect_text(t, "a/b/obj", "new bytes, longer");
	/* nothing left over */
	assert_int_equal(count_entries(path_in("atomic/a/b"), ".tmp."), 0);
	assert_int_equal(count_entries(path_in("atomic/a/b"), ""), 3);
	/* a temporary file a crash left is not an object, and its form is no name */
	fd = open(path_in("atomic/a/b/.obj.tmp.123.0123456789abcdef"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	{
		char **got_names;
		size_t n;

		assert_sg_ok(backup_target_list(t, "", &got_names, &n));
		assert_int_equal(n, 1);
		assert_string_equal(got_names[0], "a/b/obj");
		backup_names_free(got_names, n);
	}
	assert_sg_fails(
		backup_target_put(t, "a/b/.obj.tmp.123.0123456789abcdef", (const uint8_t *)"x", 1),
		SG_ERR_INVALID_ARGUMENT, "temporary files");
	backup_target_close(t);
}

static void test_dir_links(void **state)
{
	char *dir = path_in("links");
	struct backup_target *t = open_dir_at(dir);
	uint8_t *data;
	size_t len;

	(void)state;
	put_text(t, "real", "real");
	{
		FILE *f = fopen(path_in("outside-secret"), "w");

		assert_non_null(f);
		fputs("not a backup", f);
		fclose(f);
	}
	assert_int_equal(symlink(path_in("outside-secret"), path_in("links/link")), 0);
	assert_sg_fails(backup_target_get(t, "link", 100, &data, &len), SG_ERR_PERMISSION,
			"symbolic link");
	/* a symbolic link on the way is refused too, for reads and for writes */
	assert_int_equal(mkdir(path_in("elsewhere"), 0700), 0);
	assert_int_equal(symlink(path_in("elsewhere"), path_in("links/sub")), 0);
	assert_sg_fails(backup_target_put(t, "sub/x", (const uint8_t *)"x", 1), SG_ERR_PERMISSION,
			"symbolic link or not a directory");
	assert_int_equal(count_entries(path_in("elsewhere"), "x"), 0);
	assert_sg_fails(backup_target_get(t, "sub/x", 100, &data, &len), SG_ERR_PERMISSION,
			"symbolic link");
	/* a FIFO is not a regular file (and opening it does not hang) */
	assert_int_equal(mkfifo(path_in("links/fifo"), 0600), 0);
	assert_sg_fails(backup_target_get(t, "fifo", 100, &data, &len), SG_ERR_PERMISSION,
			"not a regular file");
	/* none of them is listed */
	{
		char **got;
		size_t n;

		assert_sg_ok(backup_target_list(t, "", &got, &n));
		assert_int_equal(n, 1);
		assert_string_equal(got[0], "real");
		backup_names_free(got, n);
	}
	backup_target_close(t);
}

static void test_dir_modes(void **state)
{
	char *dir = path_in("modes");
	struct backup_target *t = open_dir_at(dir);
	uint8_t *data;
	size_t len;
	char **got;
	size_t n;

	(void)state;
	/* a directory that is not there yet holds nothing; a put makes it */
	assert_sg_ok(backup_target_list(t, "", &got, &n));
	assert_int_equal(n, 0);
	assert_null(got);
	assert_sg_fails(backup_target_get(t, "x", 10, &data, &len), SG_ERR_NOT_FOUND, dir);
	assert_sg_ok(backup_target_delete(t, "x"));
	put_text(t, "sub/x", "x");
	/* whoever can write the directory can replace a backup */
	assert_int_equal(chmod(dir, 0770), 0);
	assert_sg_fails(backup_target_get(t, "sub/x", 10, &data, &len), SG_ERR_PERMISSION,
			"can be changed by group or others (mode 0770)");
	assert_sg_fails(backup_target_put(t, "y", (const uint8_t *)"y", 1), SG_ERR_PERMISSION,
			"chmod go-w");
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(chmod(path_in("modes/sub"), 0777), 0);
	assert_sg_fails(backup_target_get(t, "sub/x", 10, &data, &len), SG_ERR_PERMISSION,
			"directory sub can be changed");
	assert_int_equal(chmod(path_in("modes/sub"), 0700), 0);
	expect_text(t, "sub/x", "x");
	/* a name that is a directory cannot be replaced by an object, nor hold one below a file */
	assert_int_equal(backup_target_put(t, "sub", (const uint8_t *)"x", 1), SG_ERR_IO);
	assert_int_equal(count_entries(dir, ".tmp."), 0); /* the failed put left nothing */
	assert_int_equal(backup_target_put(t, "sub/x/y", (const uint8_t *)"x", 1),
			 SG_ERR_PERMISSION);
	backup_target_close(t);
}

static void test_dir_config(void **state)
{
	static char not_a_target;
	struct backup_target *t = (struct backup_target *)(void *)&not_a_target;
	struct backup_target_config cfg = {
		.name = "dir-test",
		.kind = BACKUP_TARGET_DIR,
		.dir = "relative/path",
	};

	(void)state;
	/* a failed open leaves *out NULL */
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "absolute path");
	assert_null(t);
	cfg.dir = NULL;
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "absolute path");
	cfg.dir = "/tmp";
	cfg.name = "Bad_Name";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "a backup target's name");
	cfg.name = "ok";
	cfg.kind = (enum backup_target_kind)7;
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "unknown kind 7");
	backup_target_close(NULL);
}

/* ---- S3 ---- */

/* The value of key in [default] of an AWS credentials file (a test's own small reader). */
static char *ini_value(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[1024], *out = NULL;
	bool in = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq, *v;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '[') {
			in = strcmp(line, "[default]") == 0;
			continue;
		}
		if (!in || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		while (*v == ' ')
			v++;
		for (char *e = eq - 1; e >= line && *e == ' '; e--)
			*e = '\0';
		if (strcmp(line, key) == 0)
			out = strdup(v);
	}
	fclose(f);
	assert_non_null(out);
	return out;
}

/* An owner-only file in tmp; its path stays valid for 8 calls. */
static char *write_secret_file(const char *name, const char *text)
{
	char *p = path_in(name);

	(void)tu_write_file(name, text);
	assert_int_equal(chmod(p, 0600), 0);
	return p;
}

static void test_s3_pages(void **state)
{
	struct backup_target *t;
	enum { N = 1100 }; /* more than one page of 1000 */
	char name[32], **got;
	size_t n;
	struct timespec a, b;

	(void)state;
	if (!s3.set)
		skip();
	t = open_s3_with("pages", s3.endpoint, s3.credentials, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p/%05d", i);
		put_text(t, name, name);
	}
	put_text(t, "q", "outside the prefix");
	assert_sg_ok(backup_target_list(t, "p/", &got, &n));
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "p/%05zu", i);
		assert_string_equal(got[i], name);
	}
	backup_names_free(got, n);
	assert_sg_ok(backup_target_list(t, "", &got, &n));
	assert_int_equal(n, N + 1);
	backup_names_free(got, n);
	fprintf(stderr, "  %d PUTs and a listing of 2 pages: %.1f s\n", N,
		(double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	backup_target_close(t);
}

static void test_s3_refused(void **state)
{
	struct backup_target *t;
	char *id, *secret, text[1024];
	uint8_t *data;
	size_t len;
	int r;

	(void)state;
	if (!s3.set)
		skip();
	id = ini_value(s3.credentials, "aws_access_key_id");
	secret = ini_value(s3.credentials, "aws_secret_access_key");
	/* the right key id, a wrong secret */
	snprintf(text, sizeof(text),
		 "[default]\naws_access_key_id = %s\naws_secret_access_key = wrong%s\n", id,
		 secret);
	t = open_s3_with("refused", s3.endpoint, write_secret_file("wrong-secret.ini", text), NULL);
	r = backup_target_put(t, "x", (const uint8_t *)"x", 1);
	assert_sg_fails(r, SG_ERR_IO, ": PUT t");
	assert_sg_fails(r, SG_ERR_IO, "/x: HTTP 403 SignatureDoesNotMatch");
	assert_null(strstr(sg_errmsg(r), secret));
	assert_sg_fails(backup_target_get(t, "x", 10, &data, &len), SG_ERR_IO,
			"HTTP 403 SignatureDoesNotMatch");
	backup_target_close(t);
	/* a key id the server does not know */
	snprintf(text, sizeof(text),
		 "[default]\naws_access_key_id = AKIANOBODY\naws_secret_access_key = %s\n", secret);
	t = open_s3_with("refused", s3.endpoint, write_secret_file("wrong-id.ini", text), NULL);
	assert_sg_fails(backup_target_delete(t, "x"), SG_ERR_IO, "HTTP 403 InvalidAccessKeyId");
	backup_target_close(t);
	/* the right credentials signed for another region */
	{
		struct backup_target_config cfg = {
			.name = "s3-test",
			.kind = BACKUP_TARGET_S3,
			.s3 = {.endpoint = s3.endpoint,
			       .region = "mars-north-1",
			       .bucket = s3.bucket,
			       .credentials_file = s3.credentials},
		};
		char **got;
		size_t n;

		assert_sg_ok(backup_target_open(&cfg, &t));
		assert_sg_fails(backup_target_list(t, "", &got, &n), SG_ERR_IO,
				"HTTP 400 AuthorizationHeaderMalformed");
		backup_target_close(t);
	}
	/* a session token goes along, signed */
	snprintf(text, sizeof(text),
		 "# a comment\n[other]\naws_access_key_id = X\n\n[default]\n"
		 "aws_access_key_id=%s\n  aws_secret_access_key =  %s  \r\n"
		 "aws_session_token = FwoGZXIvYXdzE+token/==\nregion = ignored\n",
		 id, secret);
	t = open_s3_with("token", s3.endpoint, write_secret_file("token.ini", text), NULL);
	put_text(t, "with-token", "t");
	expect_text(t, "with-token", "t");
	backup_target_close(t);
	sodium_memzero(secret, strlen(secret));
	free(secret);
	free(id);
}

/* A port nothing listens on. */
static unsigned short free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t n = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_s3_down(void **state)
{
	struct backup_target *t;
	char endpoint[64];
	char *creds = s3.set ? s3.credentials
			     : write_secret_file("down.ini", "[default]\naws_access_key_id = "
							     "AKIA1\naws_secret_access_key = "
							     "s\n");
	uint8_t *data;
	size_t len;
	char **got;
	size_t n;
	int r;

	(void)state;
	/* a region the integration test started and stopped, or a port nobody listens on */
	if (s3.down != NULL)
		snprintf(endpoint, sizeof(endpoint), "%s", s3.down);
	else
		snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", free_port());
	{
		struct backup_target_config cfg = {
			.name = "s3-down",
			.kind = BACKUP_TARGET_S3,
			.s3 = {.endpoint = endpoint,
			       .region = "us-east-1",
			       .bucket = s3.set ? s3.bucket : "bucket",
			       .credentials_file = creds},
		};

		assert_sg_ok(backup_target_open(&cfg, &t));
	}
	r = backup_target_put(t, "x", (const uint8_t *)"x", 1);
	assert_sg_fails(r, SG_ERR_IO, "backup target s3-down: cannot connect to ");
	assert_sg_fails(r, SG_ERR_IO, endpoint);
	assert_sg_fails(backup_target_get(t, "x", 10, &data, &len), SG_ERR_IO, "cannot connect");
	assert_sg_fails(backup_target_list(t, "", &got, &n), SG_ERR_IO, "cannot connect");
	assert_sg_fails(backup_target_delete(t, "x"), SG_ERR_IO, "cannot connect");
	backup_target_close(t);
}

static void test_s3_config(void **state)
{
	struct backup_target *t;
	char *creds = write_secret_file("cfg.ini", "[default]\naws_access_key_id = AKIAEXAMPLE\n"
						   "aws_secret_access_key = TopSecretValue+/9\n");
	struct backup_target_config cfg = {
		.name = "s3-cfg",
		.kind = BACKUP_TARGET_S3,
		.s3 = {.endpoint = "http://example.com",
		       .region = "eu-west-1",
		       .bucket = "my-bucket",
		       .credentials_file = creds},
	};
	static const struct {
		char *endpoint;
		const char *words;
	} refused[] = {
		{.endpoint = "http://example.com", .words = "not a loopback address"},
		{.endpoint = "http://10.0.0.1:9000", .words = "not a loopback address"},
		{.endpoint = "http://127.0.0.2", .words = "not a loopback address"},
		{.endpoint = "http://localhost.example.com", .words = "not a loopback address"},
		{.endpoint = "ftp://127.0.0.1", .words = "must start with https://"},
		{.endpoint = "https://s3.example.com/path", .words = "without a path"},
		{.endpoint = "https://user@s3.example.com", .words = "outside [A-Za-z0-9.:-]"},
		{.endpoint = "https://s3.example.com:0", .words = "not 1 to 65535"},
		{.endpoint = "https://s3.example.com:99999", .words = "not 1 to 65535"},
		{.endpoint = "https://s3.example.com:x", .words = "not a number"},
		{.endpoint = "https://", .words = "without a path"},
		{.endpoint = "https://[::1", .words = "no ']'"},
	};
	static char *accepted[] = {
		"https://s3.eu-west-1.amazonaws.com",
		"https://s3.example.com:8443/",
		"http://127.0.0.1:9000",
		"http://[::1]:9000",
		"http://localhost:1",
		"http://LOCALHOST",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cfg.s3.endpoint = refused[i].endpoint;
		assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, refused[i].words);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		cfg.s3.endpoint = accepted[i];
		assert_sg_ok(backup_target_open(&cfg, &t));
		backup_target_close(t);
	}
	cfg.s3.endpoint = "https://s3.example.com";
	cfg.s3.bucket = "No_Such";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "the s3 bucket");
	cfg.s3.bucket = "my-bucket";
	cfg.s3.prefix = "no-slash";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "the s3 prefix");
	cfg.s3.prefix = "../up/";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "the s3 prefix");
	cfg.s3.prefix = "signerd/prod/";
	assert_sg_ok(backup_target_open(&cfg, &t));
	backup_target_close(t);
	cfg.s3.region = "";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "the s3 region");
	cfg.s3.region = "eu-west-1";
	cfg.s3.profile = "nope";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "has no profile [nope]");
	cfg.s3.profile = NULL;
	cfg.s3.ca_file = "/no/such/ca.pem";
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, "/no/such/ca.pem");
	cfg.s3.ca_file = NULL;

	/* the credentials file: owner-only, well formed, and never quoted */
	assert_int_equal(chmod(creds, 0640), 0);
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_PERMISSION, "S3 credentials file");
	assert_null(strstr(sg_errmsg(SG_ERR_PERMISSION), "TopSecretValue"));
	cfg.s3.credentials_file = path_in("no-such.ini");
	assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_NOT_FOUND, "no-such.ini");
	static const struct {
		const char *text;
		const char *words;
	} bad[] = {
		{.text = "[default]\naws_access_key_id = A\n", .words = "needs aws_access_key_id"},
		{.text = "[default]\naws_access_key_id = A\naws_secret_access_key = x\n"
			 "aws_secret_access_key = TopSecretValue\n",
		 .words = ":4: aws_secret_access_key is given twice"},
		{.text = "[default]\naws_access_key_id = A\naws_secret_access_key = Top Secret\n",
		 .words = ":3: aws_secret_access_key must be 1 to 256 printable"},
		{.text = "[default]\naws_access_key_id = A:B\naws_secret_access_key = x\n",
		 .words = ":2: aws_access_key_id must be letters and digits"},
		{.text = "[default\naws_access_key_id = A\n", .words = ":1: a section line"},
		{.text = "[default]\nTopSecretValue\n", .words = ":2: not a \"key = value\" line"},
		{.text = "[default]\n[default]\n", .words = ":2: profile [default] appears twice"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.s3.credentials_file = write_secret_file("bad.ini", bad[i].text);
		assert_sg_fails(backup_target_open(&cfg, &t), SG_ERR_CONFIG, bad[i].words);
		assert_null(strstr(sg_errmsg(SG_ERR_CONFIG), "TopSecret"));
	}
}

/* ---- S3's XML ---- */

static int parse(const char *xml, struct backup_s3_list_page *page)
{
	return backup_s3_list_parse(xml, strlen(xml), page);
}

static void error_code(const char *xml, char code[BACKUP_S3_CODE_MAX + 1])
{
	backup_s3_error_code(xml, strlen(xml), code);
}

static void test_s3_xml(void **state)
{
	struct backup_s3_list_page page;
	char code[BACKUP_S3_CODE_MAX + 1];
	static const char *malformed[] = {
		"",
		"<ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated>",
		"<ListBucketResult><IsTruncated>false</IsTrunc></ListBucketResult>",
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>x",
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><a/>",
		"<ListBucketResult><!-- no --><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated><![CDATA[false]]></IsTruncated></ListBucketResult>",
		"<!DOCTYPE x><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&bogus;"
		"</Key></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&#0;</Key>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp</Key>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><Contents>text<Key>a</Key>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult a=b><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><IsTruncated>false</IsTruncated><IsTruncated>false"
		"</IsTruncated></ListBucketResult>",
		"<ListBucketResult><a><b><c><d><e><f><g><h>x</h></g></f></e></d></c></b></a>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>",
	};

	(void)state;
	assert_sg_ok(parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
			   "  <Name>b</Name><Prefix/><KeyCount>3</KeyCount>\n"
			   "  <IsTruncated>true</IsTruncated>\n"
			   "  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
			   "</NextContinuationToken>\n"
			   "  <Contents><Key>a/b&amp;c&lt;d&gt;e&quot;f&apos;g</Key>"
			   "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
			   "<Size>3</Size></Contents>\n"
			   "  <Contents>\n    <Key>x&#65;&#x42;&#xe9;</Key>\n  </Contents>\n"
			   "  <Contents><Key>plain</Key><Owner><ID>1</ID></Owner></Contents>\n"
			   "</ListBucketResult>\n",
			   &page));
	assert_true(page.truncated);
	assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_int_equal(page.keys.n, 3);
	assert_string_equal(page.keys.v[0], "a/b&c<d>e\"f'g");
	assert_string_equal(page.keys.v[1], "xAB\xc3\xa9");
	assert_string_equal(page.keys.v[2], "plain");
	backup_s3_list_page_free(&page);
	assert_sg_ok(parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
			   &page));
	assert_false(page.truncated);
	assert_int_equal(page.keys.n, 0);
	assert_null(page.next_token);
	backup_s3_list_page_free(&page);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int r = parse(malformed[i], &page);

		if (r == SG_OK)
			fail_msg("accepted: %s", malformed[i]);
		assert_int_equal(page.keys.n, 0);
		assert_null(page.next_token);
	}
	error_code("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key "
		   "&lt;x&gt;</Message></Error>",
		   code);
	assert_string_equal(code, "NoSuchKey");
	error_code("<Error><Code>Bad Code</Code></Error>", code);
	assert_string_equal(code, "");
	error_code("<html>502</html>", code);
	assert_string_equal(code, "");
	backup_s3_error_code(NULL, 0, code);
	assert_string_equal(code, "");
}

static enum kind dir_kind = KIND_DIR, s3_kind = KIND_S3;

/* one of the suite's tests, named for the kind it runs against */
#define KIND_TEST(prefix, f, kind)                                                                 \
	{                                                                                          \
		.name = prefix #f, .test_func = f, .initial_state = &kind                          \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KIND_TEST("dir: ", test_put_get, dir_kind),
		KIND_TEST("dir: ", test_missing, dir_kind),
		KIND_TEST("dir: ", test_max, dir_kind),
		KIND_TEST("dir: ", test_list, dir_kind),
		KIND_TEST("dir: ", test_delete, dir_kind),
		KIND_TEST("dir: ", test_names, dir_kind),
		cmocka_unit_test(test_dir_atomic),
		cmocka_unit_test(test_dir_links),
		cmocka_unit_test(test_dir_modes),
		cmocka_unit_test(test_dir_config),
		cmocka_unit_test(test_s3_config),
		cmocka_unit_test(test_s3_xml),
		cmocka_unit_test(test_s3_down),
		KIND_TEST("s3: ", test_put_get, s3_kind),
		KIND_TEST("s3: ", test_missing, s3_kind),
		KIND_TEST("s3: ", test_max, s3_kind),
		KIND_TEST("s3: ", test_list, s3_kind),
		KIND_TEST("s3: ", test_delete, s3_kind),
		KIND_TEST("s3: ", test_names, s3_kind),
		cmocka_unit_test(test_s3_pages),
		cmocka_unit_test(test_s3_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
