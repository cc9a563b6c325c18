/* common/files.c: what signerd trusts is a file of root or of its own, that nobody else can
 * change, in directories nobody else can change; each refusal names what mends it. */
#include "../../support/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"

static const char *dir;

static int setup(void **state)
{
	(void)state;
	return (dir = tu_tmpdir("files")) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return tu_tmpdir_remove();
}

/* file_check_trusted on path, opened as signerd opens it; *msg: the error. */
static int check(const char *path, bool secret, const char **msg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	assert_true(fd >= 0);
	r = file_check_trusted(fd, path, "policy file", secret);
	close(fd);
	*msg = r == SG_OK ? "" : sg_errmsg(r);
	return r;
}

static char *in(const char *sub, const char *name)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s%s%s", dir, sub, sub[0] ? "/" : "", name);
	return p;
}

static void make(const char *sub, mode_t dmode, const char *name, mode_t fmode)
{
	char *d = in(sub, "");
	FILE *f;

	if (sub[0] != '\0') {
		d[strlen(d) - 1] = '\0';
		assert_true(mkdir(d, 0700) == 0);
		assert_int_equal(chmod(d, dmode), 0);
	}
	f = fopen(in(sub, name), "w");
	assert_non_null(f);
	fputs("grants: []\n", f);
	fclose(f);
	assert_int_equal(chmod(in(sub, name), fmode), 0);
}

static void test_modes(void **state)
{
	const char *msg;

	(void)state;
	make("", 0, "ok.yaml", 0644);
	assert_int_equal(check(in("", "ok.yaml"), false, &msg), SG_OK);
	make("", 0, "gw.yaml", 0664);
	assert_int_equal(check(in("", "gw.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "can be changed by group or others (mode 0664); chmod go-w"));
	make("", 0, "key.pem", 0440);
	assert_int_equal(check(in("", "key.pem"), true, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "owner-only"));
	assert_int_equal(chmod(in("", "key.pem"), 0400), 0);
	assert_int_equal(check(in("", "key.pem"), true, &msg), SG_OK);
}

static void test_directories(void **state)
{
	const char *msg;
	char link[600];

	(void)state;
	/* a directory its group can change: they can put another file in the file's place */
	make("open", 0775, "p.yaml", 0644);
	assert_int_equal(check(in("open", "p.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "/open, which group or others can change (mode 0775)"));
	/* and one further up */
	make("open/deeper", 0755, "p.yaml", 0644);
	assert_int_equal(check(in("open/deeper", "p.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "/open, which group or others can change"));
	/* a sticky one (like /tmp) lets nobody replace another's file */
	make("sticky", 01777, "p.yaml", 0644);
	assert_int_equal(check(in("sticky", "p.yaml"), false, &msg), SG_OK);
	/* a symbolic link is judged by where the file is */
	snprintf(link, sizeof(link), "%s/link.yaml", dir);
	assert_int_equal(symlink(in("open", "p.yaml"), link), 0);
	assert_int_equal(check(link, false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "/open, which group or others can change"));
	assert_int_equal(chmod(in("open", ""), 0755), 0);
	assert_int_equal(check(link, false, &msg), SG_OK);
}

/* A symbolic link is also judged by the directories it is in as written: whoever can change the
 * link's directory can point it at a file of their own. */
static void test_link_directories(void **state)
{
	const char *msg;
	char links[600], link[700];

	(void)state;
	make("", 0, "target.yaml", 0644);
	snprintf(links, sizeof(links), "%s/links", dir);
	assert_int_equal(mkdir(links, 0700), 0);
	assert_int_equal(chmod(links, 0775), 0);
	snprintf(link, sizeof(link), "%s/p.yaml", links);
	assert_int_equal(symlink(in("", "target.yaml"), link), 0);
	assert_int_equal(check(link, false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "/links, which group or others can change (mode 0775)"));
	assert_int_equal(chmod(links, 0755), 0);
	assert_int_equal(check(link, false, &msg), SG_OK);
}

/* The path checked must still name the file that was opened: a file renamed over it between
 * the open and the check is refused. */
static void test_replaced_while_read(void **state)
{
	int fd, r;

	(void)state;
	make("", 0, "first.yaml", 0644);
	make("", 0, "second.yaml", 0644);
	fd = open(in("", "first.yaml"), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rename(in("", "second.yaml"), in("", "first.yaml")), 0);
	r = file_check_trusted(fd, in("", "first.yaml"), "policy file", false);
	close(fd);
	assert_int_equal(r, SG_ERR_PERMISSION);
	assert_non_null(strstr(sg_errmsg(r), "was replaced while it was read"));
}

/* Owners: only root and this process. Giving a file away needs root (the suite runs as root
 * in CI; elsewhere this case is skipped, saying so). */
static void test_owners(void **state)
{
	const char *msg;

	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_owners: not root, cannot give files away: skipped\n");
		skip();
	}
	make("", 0, "theirs.yaml", 0644);
	assert_int_equal(chown(in("", "theirs.yaml"), 65534, (gid_t)-1), 0);
	assert_int_equal(check(in("", "theirs.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "belongs to uid 65534, neither root nor this process"));
	make("theirdir", 0755, "p.yaml", 0644);
	assert_int_equal(chown(in("theirdir", ""), 65534, (gid_t)-1), 0);
	assert_int_equal(check(in("theirdir", "p.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "/theirdir, which belongs to uid 65534"));
	/* the user a root signerd is about to become (user: in signerd.yaml) is trusted too, and
	 * named when a file belongs to someone else */
	file_trust_owner(65534);
	assert_int_equal(check(in("", "theirs.yaml"), false, &msg), SG_OK);
	assert_int_equal(check(in("theirdir", "p.yaml"), false, &msg), SG_OK);
	make("", 0, "other.yaml", 0644);
	assert_int_equal(chown(in("", "other.yaml"), 65533, (gid_t)-1), 0);
	assert_int_equal(check(in("", "other.yaml"), false, &msg), SG_ERR_PERMISSION);
	assert_non_null(strstr(msg, "nor the user it runs as (uid 65534)"));
	file_trust_owner(0);
	assert_int_equal(check(in("", "theirs.yaml"), false, &msg), SG_ERR_PERMISSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_directories),
		cmocka_unit_test(test_link_directories),
		cmocka_unit_test(test_replaced_while_read),
		cmocka_unit_test(test_owners),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
