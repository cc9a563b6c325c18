#include "common/files.h"

#include <errno.h>
#include <limits.h>
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

int file_check_dirs(const char *path, const char *what)
{
	char *real = realpath(path, NULL);
	int r = SG_OK;

	if (real == NULL)
		return sg_fail(SG_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	/* every directory from the file's up to /: whoever can write one can put another file
	 * in the file's place (or a directory on the way) */
	for (char *slash = strrchr(real, '/'); slash != NULL && r == SG_OK;
	     slash = strrchr(real, '/')) {
		struct stat st;

		if (slash == real)
			slash[1] = '\0'; /* "/" itself, last */
		else
			*slash = '\0';
		if (stat(real, &st) != 0)
			r = sg_fail(SG_ERR_IO, "%s %s: directory %s: %s", what, path, real,
				    strerror(errno));
		else if (!file_owner_trusted(st.st_uid))
			r = sg_fail(
				SG_ERR_PERMISSION,
				"%s %s is in directory %s, which belongs to uid %u, neither "
				"root nor this process (uid %u): its owner can replace the file",
				what, path, real, (unsigned)st.st_uid, (unsigned)geteuid());
		/* a sticky directory (/tmp) lets no one replace another's file */
		else if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
			r = sg_fail(SG_ERR_PERMISSION,
				    "%s %s is in directory %s, which group or others can change "
				    "(mode %04o): they can replace the file; chmod go-w it",
				    what, path, real, (unsigned)(st.st_mode & 07777));
		if (slash == real)
			break;
	}
	free(real);
	return r;
}

int file_check_trusted(int fd, const char *path, const char *what, bool secret)
{
	struct stat st;
	unsigned mode;

	if (fstat(fd, &st) != 0)
		return sg_fail(SG_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sg_fail(SG_ERR_PERMISSION, "%s %s is not a regular file", what, path);
	if (!file_owner_trusted(st.st_uid))
		return sg_fail(SG_ERR_PERMISSION,
			       "%s %s belongs to uid %u, neither root nor this process (uid %u): "
			       "its owner can change it; chown it",
			       what, path, (unsigned)st.st_uid, (unsigned)geteuid());
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
