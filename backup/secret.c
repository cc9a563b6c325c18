/* Secrets in locked memory: sodium_malloc (mlock'd, between guard pages, excluded from core
 * dumps), filled from getrandom(2), wiped by sodium_memzero and again by sodium_free. */
#include "backup/secret.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>

int backup_secret_new(size_t len, struct backup_secret *out)
{
	out->bytes = NULL;
	out->len = 0;
	if (len == 0)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a secret of zero bytes was asked for");
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	out->bytes = sodium_malloc(len);
	if (out->bytes == NULL)
		return sg_fail(SG_ERR_NOMEM, "no locked memory for a secret of %zu bytes", len);
	/* sodium_malloc fills with 0xdb: a new secret starts as zeros */
	sodium_memzero(out->bytes, len);
	out->len = len;
	return SG_OK;
}

int backup_secret_random(size_t len, struct backup_secret *out)
{
	size_t got = 0;
	int r;

	if ((r = backup_secret_new(len, out)) != SG_OK)
		return r;
	/* getrandom without flags blocks until the pool is initialised, then never fails short
	 * of a signal; a read of more than 256 bytes may come back in parts */
	while (got < len) {
		ssize_t n = getrandom(out->bytes + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = sg_fail(SG_ERR_INTERNAL, "getrandom: %s",
				    n < 0 ? strerror(errno) : "no bytes");
			backup_secret_free(out);
			return r;
		}
		got += (size_t)n;
	}
	return SG_OK;
}

void backup_secret_free(struct backup_secret *s)
{
	if (s->bytes != NULL) {
		sodium_memzero(s->bytes, s->len);
		sodium_free(s->bytes);
	}
	s->bytes = NULL;
	s->len = 0;
}
