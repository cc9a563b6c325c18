#include "common/files.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int file_check_trusted(int fd, const char *path, const char *what, bool secret)
{
	struct stat st;
	unsigned mode;

	if (fstat(fd, &st) != 0)
		return sg_fail(SG_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sg_fail(SG_ERR_PERMISSION, "%s %s is not a regular file", what, path);
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
	return SG_OK;
}
