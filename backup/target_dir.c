/* A directory as a backup target: object "a/b/c" is the file DIR/a/b/c. A put writes
 * DIR/a/b/.c.tmp.<pid>.<random>, fsyncs it, renames it over c and fsyncs the directory, so that
 * a reader (or a restart after a crash) finds the old bytes or the new ones, never a part
 * (tmkms's chain/state.rs does the same). Every directory on the way is opened with O_NOFOLLOW
 * relative to the one before, and an object is read only when it is a regular file: a symbolic
 * link planted in the target cannot send a read or a write elsewhere. A directory that group or
 * others can change (and that is not sticky) is refused: whoever can write it can replace a
 * backup. DIR and the directories below it are made (0700) by the first put that needs them;
 * until then the target is empty. A name cannot be both an object and a directory here ("a" and
 * "a/b"), as it can in S3. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fault.h"
#include "target_internal.h"

struct dir_target {
	char *dir; /* absolute, without a trailing '/' (but "/" itself) */
};

static const char *dir_path(const struct backup_target *t)
{
	return ((const struct dir_target *)t->impl)->dir;
}

/* Whether leaf is a put's temporary name: ".<name>.tmp.<pid>.<16 hex digits>". */
static bool dir_is_temp_name(const char *leaf)
{
	size_t len = strlen(leaf), i, digits = 0;

	if (len < 1 + 1 + 5 + 1 + 1 + 16 || leaf[0] != '.')
		return false;
	i = len - 16;
	for (size_t k = i; k < len; k++)
		if (!((leaf[k] >= '0' && leaf[k] <= '9') || (leaf[k] >= 'a' && leaf[k] <= 'f')))
			return false;
	if (leaf[--i] != '.')
		return false;
	while (i > 0 && leaf[i - 1] >= '0' && leaf[i - 1] <= '9') {
		i--;
		digits++;
	}
	return digits > 0 && i >= 6 && memcmp(leaf + i - 5, ".tmp.", 5) == 0;
}

/* The last segment of a name. */
static const char *dir_leaf(const char *name)
{
	const char *slash = strrchr(name, '/');

	return slash == NULL ? name : slash + 1;
}

static int dir_check_mode(const struct backup_target *t, int fd, const char *which)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return sg_fail(SG_ERR_IO, "backup target %s: directory %s: %s", t->name, which,
			       strerror(errno));
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
		return sg_fail(SG_ERR_PERMISSION,
			       "backup target %s: directory %s can be changed by group or others "
			       "(mode %04o): they could replace a backup; chmod go-w it",
			       t->name, which, (unsigned)(st.st_mode & 07777));
	return SG_OK;
}

static int dir_fsync(const struct backup_target *t, int fd, const char *which)
{
	if (fsync(fd) != 0)
		return sg_fail(SG_ERR_IO, "backup target %s: fsync of directory %s: %s", t->name,
			       which, strerror(errno));
	return SG_OK;
}

/* mkdir -p of DIR (0700 for each directory it makes), each new one made durable in its parent. */
static int dir_make_root(const struct backup_target *t)
{
	char path[PATH_MAX];
	int r = SG_OK;

	snprintf(path, sizeof(path), "%s", dir_path(t));
	for (char *p = path + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == 0) {
			char *slash = strrchr(path, '/');
			int pfd;

			*slash = '\0';
			pfd = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			*slash = '/';
			if (pfd < 0)
				return sg_fail(SG_ERR_IO,
					       "backup target %s: directory above %s: %s", t->name,
					       path, strerror(errno));
			r = dir_fsync(t, pfd, path);
			close(pfd);
			if (r != SG_OK)
				return r;
		} else if (errno != EEXIST) {
			return sg_fail(SG_ERR_IO, "backup target %s: cannot make directory %s: %s",
				       t->name, path, strerror(errno));
		}
		if (last)
			break;
		*p = '/';
	}
	return SG_OK;
}

/* DIR itself, opened; SG_ERR_NOT_FOUND when it is not there and create is false. */
static int dir_open_root(const struct backup_target *t, bool create, int *out)
{
	int fd, r;

	*out = -1;
	fd = open(dir_path(t), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if ((r = dir_make_root(t)) != SG_OK)
			return r;
		fd = open(dir_path(t), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO,
			       "backup target %s: directory %s: %s", t->name, dir_path(t),
			       strerror(errno));
	if ((r = dir_check_mode(t, fd, dir_path(t))) != SG_OK) {
		close(fd);
		return r;
	}
	*out = fd;
	return SG_OK;
}

/* The directory that holds name's last segment, opened: each segment before it is opened with
 * O_NOFOLLOW below the one before (made 0700 when create and it is not there). SG_ERR_NOT_FOUND
 * when one is missing and create is false. */
static int dir_open_parent(const struct backup_target *t, const char *name, bool create, int *out)
{
	char seg[BACKUP_OBJECT_NAME_MAX + 1];
	const char *p = name, *slash;
	int fd, r;

	*out = -1;
	if ((r = dir_open_root(t, create, &fd)) != SG_OK)
		return r;
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		int next;

		memcpy(seg, p, n);
		seg[n] = '\0';
		next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, seg, 0700) != 0 && errno != EEXIST) {
				r = sg_fail(
					SG_ERR_IO,
					"backup target %s: cannot make directory %.*s in %s: %s",
					t->name, (int)(slash - name), name, dir_path(t),
					strerror(errno));
				goto fail;
			}
			if ((r = dir_fsync(t, fd, dir_path(t))) != SG_OK)
				goto fail;
			next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			if (e == ENOENT)
				r = sg_fail(SG_ERR_NOT_FOUND,
					    "backup target %s: no object %s in %s", t->name, name,
					    dir_path(t));
			else if (e == ELOOP || e == ENOTDIR)
				r = sg_fail(
					SG_ERR_PERMISSION,
					"backup target %s: %.*s in %s is a symbolic link or not "
					"a directory; refused",
					t->name, (int)(slash - name), name, dir_path(t));
			else
				r = sg_fail(SG_ERR_IO, "backup target %s: directory %.*s in %s: %s",
					    t->name, (int)(slash - name), name, dir_path(t),
					    strerror(e));
			goto fail;
		}
		close(fd);
		fd = next;
		if ((r = dir_check_mode(t, fd, seg)) != SG_OK)
			goto fail;
		p = slash + 1;
	}
	*out = fd;
	return SG_OK;
fail:
	close(fd);
	return r;
}

static int dir_temp_refused(const struct backup_target *t, const char *name)
{
	if (!dir_is_temp_name(dir_leaf(name)))
		return SG_OK;
	return sg_fail(SG_ERR_INVALID_ARGUMENT,
		       "backup target %s: object name \"%s\" has the form of the directory "
		       "target's temporary files (.NAME.tmp.PID.RANDOM)",
		       t->name, name);
}

static int dir_write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int dir_put(struct backup_target *t, const char *name, const uint8_t *data, size_t len)
{
	const char *leaf = dir_leaf(name);
	char tmp[NAME_MAX + 1], rnd[17];
	uint8_t rb[8];
	int pfd = -1, fd = -1, r;
	bool made = false;

	if ((r = dir_temp_refused(t, name)) != SG_OK)
		return r;
	if ((r = dir_open_parent(t, name, true, &pfd)) != SG_OK)
		return r;
	randombytes_buf(rb, sizeof(rb));
	sodium_bin2hex(rnd, sizeof(rnd), rb, sizeof(rb));
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld.%s", leaf, (long)getpid(), rnd);
	fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = sg_fail(SG_ERR_IO, "backup target %s: cannot write %s in %s: %s", t->name, name,
			    dir_path(t), strerror(errno));
		goto out;
	}
	made = true;
	if (dir_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		r = sg_fail(SG_ERR_IO, "backup target %s: cannot write %s in %s: %s", t->name, name,
			    dir_path(t), strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = sg_fail(SG_ERR_IO, "backup target %s: cannot write %s in %s: %s", t->name, name,
			    dir_path(t), strerror(errno));
		goto out;
	}
	fd = -1;
	SG_FAULT("backup.dir.before_rename");
	if (renameat(pfd, tmp, pfd, leaf) != 0) {
		r = sg_fail(SG_ERR_IO, "backup target %s: cannot put %s in place in %s: %s",
			    t->name, name, dir_path(t), strerror(errno));
		goto out;
	}
	made = false;
	r = dir_fsync(t, pfd, dir_path(t));
out:
	if (fd >= 0)
		close(fd);
	if (made)
		(void)unlinkat(pfd, tmp, 0);
	close(pfd);
	return r;
}

static int dir_get(struct backup_target *t, const char *name, size_t max, uint8_t **data,
		   size_t *len)
{
	const char *leaf = dir_leaf(name);
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0, cap;
	int pfd = -1, fd = -1, r = SG_OK;

	if ((r = dir_temp_refused(t, name)) != SG_OK)
		return r;
	if ((r = dir_open_parent(t, name, false, &pfd)) != SG_OK)
		return r;
	/* a symbolic link or a device is refused before it is opened (opening some devices acts) */
	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		r = sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO,
			    "backup target %s: no object %s in %s: %s", t->name, name, dir_path(t),
			    strerror(errno));
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "backup target %s: object %s in %s is a symbolic link; refused",
			    t->name, name, dir_path(t));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "backup target %s: object %s in %s is not a regular file; refused",
			    t->name, name, dir_path(t));
		goto out;
	}
	fd = openat(pfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		r = sg_fail(e == ENOENT  ? SG_ERR_NOT_FOUND
			    : e == ELOOP ? SG_ERR_PERMISSION
					 : SG_ERR_IO,
			    "backup target %s: object %s in %s: %s", t->name, name, dir_path(t),
			    e == ELOOP ? "a symbolic link; refused" : strerror(e));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "backup target %s: object %s in %s is not a regular file; refused",
			    t->name, name, dir_path(t));
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
		r = sg_fail(SG_ERR_OVERFLOW,
			    "backup target %s: object %s is %jd bytes, more than the %zu bytes "
			    "allowed",
			    t->name, name, (intmax_t)st.st_size, max);
		goto out;
	}
	/* one byte more than the size says, to see it end */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "backup target %s: no memory for object %s (%zu bytes)",
			    t->name, name, cap);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (have == cap) {
			uint8_t *bigger;

			if (have > max) {
				r = sg_fail(SG_ERR_OVERFLOW,
					    "backup target %s: object %s grew past the %zu bytes "
					    "allowed",
					    t->name, name, max);
				goto out;
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				r = sg_fail(SG_ERR_NOMEM,
					    "backup target %s: no memory for object %s", t->name,
					    name);
				goto out;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = sg_fail(SG_ERR_IO, "backup target %s: cannot read %s in %s: %s",
				    t->name, name, dir_path(t), strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > max) {
		r = sg_fail(SG_ERR_OVERFLOW,
			    "backup target %s: object %s grew past the %zu bytes allowed", t->name,
			    name, max);
		goto out;
	}
	*data = buf;
	*len = have;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	close(pfd);
	return r;
}

static int dir_del(struct backup_target *t, const char *name)
{
	int pfd, r;

	if ((r = dir_temp_refused(t, name)) != SG_OK)
		return r;
	r = dir_open_parent(t, name, false, &pfd);
	if (r == SG_ERR_NOT_FOUND) {
		sg_errclear();
		return SG_OK;
	}
	if (r != SG_OK)
		return r;
	if (unlinkat(pfd, dir_leaf(name), 0) != 0) {
		if (errno == ENOENT) {
			close(pfd);
			return SG_OK;
		}
		r = sg_fail(SG_ERR_IO, "backup target %s: cannot delete %s in %s: %s", t->name,
			    name, dir_path(t), strerror(errno));
		close(pfd);
		return r;
	}
	r = dir_fsync(t, pfd, dir_path(t));
	close(pfd);
	return r;
}

/* Whether a directory rel ("a/b", "" for DIR) can hold names that start with prefix. */
static bool dir_prefix_reaches(const char *rel, size_t rlen, const char *prefix)
{
	size_t plen = strlen(prefix);

	if (rlen == 0)
		return true;
	/* rel + "/" starts with prefix, or prefix goes on below rel + "/" */
	if (plen <= rlen)
		return strncmp(rel, prefix, plen) == 0;
	return strncmp(rel, prefix, rlen) == 0 && prefix[rlen] == '/';
}

/* Adds the objects under directory fd (the name rel, rlen bytes of it) to out. Entries that
 * cannot be objects (temporary files, symbolic links, devices, names outside the rules) are not
 * listed. */
static int dir_walk(struct backup_target *t, int fd, char *rel, size_t rlen, const char *prefix,
		    struct backup_names *out)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int r = SG_OK;

	if (d == NULL) {
		r = sg_fail(SG_ERR_IO, "backup target %s: directory %s/%.*s: %s", t->name,
			    dir_path(t), (int)rlen, rel, strerror(errno));
		close(fd);
		return r;
	}
	for (;;) {
		struct stat st;
		size_t nlen, full;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0)
				r = sg_fail(SG_ERR_IO, "backup target %s: directory %s/%.*s: %s",
					    t->name, dir_path(t), (int)rlen, rel, strerror(errno));
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    dir_is_temp_name(e->d_name))
			continue;
		nlen = strlen(e->d_name);
		full = rlen + (rlen > 0) + nlen;
		if (full > BACKUP_OBJECT_NAME_MAX)
			continue;
		if (rlen > 0)
			rel[rlen] = '/';
		memcpy(rel + rlen + (rlen > 0), e->d_name, nlen + 1);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT) /* removed meanwhile */
				goto next;
			r = sg_fail(SG_ERR_IO, "backup target %s: %s in %s: %s", t->name, rel,
				    dir_path(t), strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode) && full < BACKUP_OBJECT_NAME_MAX &&
		    dir_prefix_reaches(rel, full, prefix)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				if (errno == ENOENT)
					goto next;
				r = sg_fail(SG_ERR_IO, "backup target %s: directory %s in %s: %s",
					    t->name, rel, dir_path(t), strerror(errno));
				break;
			}
			if ((r = dir_walk(t, sub, rel, full, prefix, out)) != SG_OK)
				break;
		} else if (S_ISREG(st.st_mode) && strncmp(rel, prefix, strlen(prefix)) == 0 &&
			   backup_object_name_valid(rel)) {
			if ((r = backup_names_add(out, rel, full)) != SG_OK)
				break;
		}
	next:
		rel[rlen] = '\0';
	}
	rel[rlen] = '\0';
	closedir(d);
	return r;
}

static int dir_list(struct backup_target *t, const char *prefix, struct backup_names *out)
{
	char rel[BACKUP_OBJECT_NAME_MAX + 1] = "";
	int fd, r;

	/* a directory not made yet (by the first put) holds no objects */
	r = dir_open_root(t, false, &fd);
	if (r == SG_ERR_NOT_FOUND) {
		sg_errclear();
		return SG_OK;
	}
	if (r != SG_OK)
		return r;
	return dir_walk(t, fd, rel, 0, prefix, out);
}

static void dir_close(struct backup_target *t)
{
	struct dir_target *d = t->impl;

	if (d == NULL)
		return;
	free(d->dir);
	free(d);
	t->impl = NULL;
}

static const struct backup_target_ops dir_ops = {
	.put = dir_put,
	.get = dir_get,
	.list = dir_list,
	.del = dir_del,
	.close = dir_close,
};

int backup_target_dir_open(const struct backup_target_config *cfg, struct backup_target *t)
{
	struct dir_target *d;
	size_t len;

	if (cfg->dir == NULL || cfg->dir[0] != '/')
		return sg_fail(SG_ERR_CONFIG, "backup target %s: dir must be an absolute path",
			       t->name);
	len = strlen(cfg->dir);
	/* room below it for an object's name and its temporary name */
	if (len > PATH_MAX - 2 * BACKUP_OBJECT_NAME_MAX)
		return sg_fail(SG_ERR_CONFIG, "backup target %s: dir is longer than %d characters",
			       t->name, PATH_MAX - 2 * BACKUP_OBJECT_NAME_MAX);
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "backup target %s: libsodium did not initialise",
			       t->name);
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->dir = strdup(cfg->dir)) == NULL) {
		free(d);
		return sg_fail(SG_ERR_NOMEM, "no memory for backup target %s", t->name);
	}
	while (len > 1 && d->dir[len - 1] == '/')
		d->dir[--len] = '\0';
	t->impl = d;
	t->ops = &dir_ops;
	return SG_OK;
}
