/* Fuzz target: the client certificate's identity (tls_peer_identity), on DER certificates with
 * odd SANs and CNs. The same certificate always names the same client; a name is the first SAN
 * URI as GnuTLS lists it (else the one CN), whole, and a name by peer_name_valid; a refused
 * certificate names nobody. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "api/tls.h"
#include "common/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tls_peer nobody;

/* The first SAN URI, found again with the other GnuTLS call; 0 when the first SAN entries hold
 * none, -1 when one before it does not read. */
static int first_uri(gnutls_x509_crt_t crt, char *out, size_t cap, size_t *len)
{
	for (unsigned i = 0;; i++) {
		size_t size = cap - 1;
		int e = gnutls_x509_crt_get_subject_alt_name(crt, i, out, &size, NULL);

		if (e == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return 0;
		if (e < 0)
			return -1;
		if (e == GNUTLS_SAN_URI) {
			*len = size;
			return 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gnutls_datum_t der = {.data = (unsigned char *)(uintptr_t)data, .size = (unsigned)size};
	gnutls_x509_crt_t crt;
	struct tls_peer a, b;
	const char *ra, *rb;
	int r1, r2, found;
	char uri[1024];
	size_t uri_len = 0;

	if (size > 65536 || gnutls_x509_crt_init(&crt) < 0)
		return 0;
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	r1 = tls_peer_identity(crt, &a, &ra);
	r2 = tls_peer_identity(crt, &b, &rb);
	if (r1 != r2 || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if (r1 != SG_OK) {
		if (ra == NULL || strcmp(ra, "invalid") != 0 || memcmp(&a, &nobody, sizeof(a)) != 0)
			abort();
		goto out;
	}
	if (ra != NULL)
		abort();
	if (a.san_uri_len > 0) {
		/* the URI names the client, whole, and it is the first one */
		if (a.cn_len != 0 || strlen(a.san_uri) != a.san_uri_len ||
		    !peer_name_valid(a.san_uri, a.san_uri_len, PEER_NAME_URI) ||
		    strcmp(a.identity, a.san_uri) != 0)
			abort();
		found = first_uri(crt, uri, sizeof(uri), &uri_len);
		if (found != 1 || uri_len != a.san_uri_len || memcmp(uri, a.san_uri, uri_len) != 0)
			abort();
	} else {
		if (strlen(a.cn) != a.cn_len || strcmp(a.identity, a.cn) != 0 ||
		    (a.cn_len > 0 && !peer_name_valid(a.cn, a.cn_len, PEER_NAME_CN)))
			abort();
		/* no SAN URI stood in for a first one that does not read */
		if (first_uri(crt, uri, sizeof(uri), &uri_len) == 1)
			abort();
	}
out:
	gnutls_x509_crt_deinit(crt);
	return 0;
}
