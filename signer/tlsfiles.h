/* The TLS files signerd.yaml names (tls.cert, tls.key, tls.client_ca, tls.crl), read and
 * checked as signerd reads them: signerd's listener (api/tls.c) and signerctl readiness read
 * them through these, so that readiness passes exactly what signerd would load. */
#ifndef SIGNER_TLSFILES_H
#define SIGNER_TLSFILES_H

#include <stdbool.h>

#include <gnutls/gnutls.h>

#include "common/err.h"

/* The largest TLS file read (a certificate bundle, a CRL). */
#define TLSFILE_MAX (1024 * 1024)

/* Reads the file at path whole (NUL-terminated, size without the NUL) after
 * file_check_trusted: nobody but its owner may change it; with secret (the key) nobody else
 * may read it either. what names it in errors ("server certificate"). */
SG_MUST_CHECK int tlsfile_read(const char *path, const char *what, bool secret,
			       gnutls_datum_t *out);
/* Frees what tlsfile_read gave (wiped first with secret); safe on a zeroed datum. */
void tlsfile_free(gnutls_datum_t *d, bool secret);

/* What gnutls_x509_crl_verify's status says, for the message refusing a CRL. */
const char *tlsfile_crl_status_text(unsigned status);

#endif
