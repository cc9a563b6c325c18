#include "common/files.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static uid_t file_also_trusted = 0;

void file_trust_owner(uid_t uid)
{
	file_also_trusted = uid;
}

/* Root, this process and the user it is about to become are the only owners signerd trusts. */
static bool file_owner_trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == file_also_trusted;
}

/* Who may own a trusted file, for the messages: "neither root nor this process (uid 998)", and the
 * user signerd is about to become when there is one. */
static const char *file_owners_text(char *buf, size_t n)
{
	if (file_also_trusted != 0 && file_also_trusted != geteuid())
		snprintf(buf, n,
			 "neither root nor this process (uid %u) nor the user it runs as (uid %u)",
			 (unsigned)geteuid(), (unsigned)file_also_trusted);
	else
		snprintf(buf, n, "neither root nor this process (uid %u)", (unsigned)geteuid());
	return buf;
}

/* Checks dir (resolved) and every directory above it up to /. */
static int file_check_dir_chain(char *dir, const char *path, const char *what)
{
	char owners[128];
	int r = SG_OK;

	for (;;) {
		struct stat st;
		char *slash;

		if (stat(dir, &st) != 0)
			return sg_fail(SG_ERR_IO, "%s %s: directory %s: %s", what, path, dir,
				       strerror(errno));
		if (!file_owner_trusted(st.st_uid))
			return sg_fail(SG_ERR_PERMISSION,
				       "%s %s is in directory %s, which belongs to uid %u, %s: "
				       "its owner can replace the file",
				       what, path, dir, (unsigned)st.st_uid,
				       file_owners_text(owners, sizeof(owners)));
		/* a sticky directory (/tmp) lets no one replace another's file */
		if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
			return sg_fail(SG_ERR_PERMISSION,
				       "%s %s is in directory %s, which group or others can change "
				       "(mode %04o): they can replace the file; chmod go-w it",
				       what, path, dir, (unsigned)(st.st_mode & 07777));
		slash = strrchr(dir, '/');
		if (slash == NULL || (slash == dir && dir[1] == '\0'))
			break;
		if (slash == dir)
			slash[1] = '\0'; /* "/" itself, last */
		else
			*slash = '\0';
	}
	return r;
}

/* The directory holding name (a path, as written), resolved; NULL with errno set. */
static char *file_parent_real(const char *name)
{
	char *copy = strdup(name), *slash, *real;

	if (copy == NULL)
		return NULL;
	slash = strrchr(copy, '/');
	if (slash == NULL)
		real = realpath(".", NULL);
	else if (slash == copy)
		real = realpath("/", NULL);
	else {
		*slash = '\0';
		real = realpath(copy, NULL);
	}
	free(copy);
	return real;
}

int file_check_dirs(const char *path, const char *what)
{
	char *real = realpath(path, NULL), *prefix;
	int r;

	if (real == NULL)
		return sg_fail(SG_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	/* every directory from the file's up to /: whoever can write one can put another file in
	 * the file's place (or a directory on the way) */
	{
		char *slash = strrchr(real, '/');

		if (slash == real)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
	}
	r = file_check_dir_chain(real, path, what);
	free(real);
	if (r != SG_OK)
		return r;
	/* and the directories the path goes through as written: whoever can write the directory
	 * of a symbolic link on the way (or of the file's own link) can point it elsewhere */
	prefix = strdup(path);
	if (prefix == NULL)
		return sg_fail(SG_ERR_NOMEM, "%s %s", what, path);
	for (size_t i = 1; r == SG_OK && prefix[i - 1] != '\0'; i++) {
		char keep, *dir;

		if (prefix[i] != '/' && prefix[i] != '\0')
			continue;
		keep = prefix[i];
		prefix[i] = '\0';
		dir = file_parent_real(prefix);
		if (dir == NULL)
			r = sg_fail(SG_ERR_IO, "%s %s: %s: %s", what, path, prefix,
				    strerror(errno));
		else
			r = file_check_dir_chain(dir, path, what);
		free(dir);
		prefix[i] = keep;
		if (keep == '\0')
			break;
	}
	free(prefix);
	return r;
}

int file_check_trusted(int fd, const char *path, const char *what, bool secret)
{
	struct stat st, named;
	char owners[128];
	unsigned mode;

	if (fstat(fd, &st) != 0)
		return sg_fail(SG_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sg_fail(SG_ERR_PERMISSION, "%s %s is not a regular file", what, path);
	/* the path checked below must name the very file that was opened */
	if (stat(path, &named) != 0 || named.st_dev != st.st_dev || named.st_ino != st.st_ino)
		return sg_fail(SG_ERR_PERMISSION,
			       "%s %s was replaced while it was read: the path no longer names "
			       "the file that was opened",
			       what, path);
	if (!file_owner_trusted(st.st_uid))
		return sg_fail(SG_ERR_PERMISSION,
			       "%s %s belongs to uid %u, %s: its owner can change it; chown "
			       "it",
			       what, path, (unsigned)st.st_uid,
			       file_owners_text(owners, sizeof(owners)));
	mode = (unsigned)(st.st_mode & 07777);
	if (secret && (mode & 077) != 0)
		return sg_fail(SG_ERR_PERMISSION,
			       "%s %s can be read or written by others (mode %04o); make it "
			       "owner-only (chmod 0400)",
			       what, path, mode);
	if ((mode & 022) != 0)
		return sg_fail(SG_ERR_PERMISSION,
			       "%s %s can be changed by group or others (mode %04o); chmod go-w it",
			       what, path, mode);
	return file_check_dirs(path, what);
}
