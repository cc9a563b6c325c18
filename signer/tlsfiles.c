#include "signer/tlsfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/x509.h>
#include <sodium.h>

#include "common/files.h"

int tlsfile_read(const char *path, const char *what, bool secret, gnutls_datum_t *out)
{
	struct stat st;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	out->data = NULL;
	out->size = 0;
	st.st_size = 0;
	if (fd < 0)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s %s: %s", what,
			       path, strerror(errno));
	if ((r = file_check_trusted(fd, path, what, secret)) != SG_OK)
		goto out;
	if (fstat(fd, &st) != 0 || st.st_size > TLSFILE_MAX) {
		r = sg_fail(SG_ERR_IO, "%s %s is larger than 1 MiB", what, path);
		goto out;
	}
	if ((out->data = gnutls_malloc((size_t)st.st_size + 1)) == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "%s", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t got = read(fd, out->data + len, (size_t)st.st_size - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = sg_fail(SG_ERR_IO, "%s %s: %s", what, path,
				    got < 0 ? strerror(errno) : "short read");
			goto out;
		}
		len += (size_t)got;
	}
	out->data[len] = '\0';
	out->size = (unsigned)len;
out:
	close(fd);
	if (r != SG_OK && out->data != NULL) {
		sodium_memzero(out->data, (size_t)st.st_size);
		gnutls_free(out->data);
		out->data = NULL;
	}
	return r;
}

void tlsfile_free(gnutls_datum_t *d, bool secret)
{
	if (d->data != NULL && secret)
		sodium_memzero(d->data, d->size);
	gnutls_free(d->data);
	d->data = NULL;
	d->size = 0;
}

const char *tlsfile_crl_status_text(unsigned status)
{
	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		return "no CA of the client CA bundle issued it";
	if (status & GNUTLS_CERT_SIGNER_NOT_CA)
		return "its issuer is not a CA";
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		return "its signature does not verify";
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return "it is signed with an insecure algorithm";
	if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
		return "its thisUpdate is in the future (is the clock right?)";
	return "GnuTLS does not accept it";
}
