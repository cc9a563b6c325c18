#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/files.h"
#include "p11.h"

#define KS_PIN_MAX 256

static bool ks_pin_is_credential(const char *path)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	size_t n = dir == NULL ? 0 : strlen(dir);

	return n > 0 && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* The PIN file must be a regular file of ours (or root's, as systemd's credentials are) that
 * nobody else can read or write, in directories nobody else can change. */
int ks_pin_read(const char *path, struct ks_pin *pin)
{
	struct stat st;
	ssize_t got;
	size_t len = 0;
	int fd, r = SG_OK;

	memset(pin, 0, sizeof(*pin));
	if (path == NULL || path[0] == '\0')
		return sg_fail(SG_ERR_CONFIG, "no PIN file is configured");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_PERMISSION,
			       "PIN file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		r = sg_fail(SG_ERR_IO, "PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = sg_fail(SG_ERR_PERMISSION, "PIN file %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "PIN file %s belongs to uid %u, not to this process (uid %u) or root",
			    path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	/* systemd's credentials may be shared with the service's group through an ACL, which
	 * shows as group bits: there only "others" must have none */
	if ((st.st_mode & (ks_pin_is_credential(path) ? 007 : 077)) != 0) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "PIN file %s can be read or written by others (mode %04o); make it "
			    "owner-only (chmod 0400)",
			    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((r = file_check_dirs(path, "PIN file")) != SG_OK)
		goto out;
	pin->value = sodium_malloc(KS_PIN_MAX + 1);
	if (pin->value == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "no secure memory for the PIN");
		goto out;
	}
	while (len < KS_PIN_MAX + 1) {
		got = read(fd, pin->value + len, KS_PIN_MAX + 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = sg_fail(SG_ERR_IO, "PIN file %s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > KS_PIN_MAX) {
		r = sg_fail(SG_ERR_CONFIG, "PIN file %s is longer than %d bytes", path, KS_PIN_MAX);
		goto out;
	}
	while (len > 0 && (pin->value[len - 1] == '\n' || pin->value[len - 1] == '\r'))
		len--;
	if (len == 0) {
		r = sg_fail(SG_ERR_CONFIG, "PIN file %s is empty", path);
		goto out;
	}
	pin->len = len;
out:
	close(fd);
	if (r != SG_OK)
		ks_pin_free(pin);
	return r;
}

void ks_pin_free(struct ks_pin *pin)
{
	if (pin->value != NULL) {
		sodium_memzero(pin->value, KS_PIN_MAX + 1);
		sodium_free(pin->value);
	}
	pin->value = NULL;
	pin->len = 0;
}
