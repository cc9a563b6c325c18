/* TLS material of the API listener (server certificate and key, the client CA bundle and CRL),
 * loaded from the files the config names and swapped whole on SIGHUP, and the check every
 * connection's client certificate goes through before any route runs. */
#ifndef SIGNER_API_TLS_H
#define SIGNER_API_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "common/err.h"
#include "signer/config.h"

struct tls_material {
	gnutls_pcert_st *pcerts; /* the server's chain, for the certificate callback */
	unsigned n_pcerts;
	gnutls_privkey_t key;
	char *client_ca_pem; /* handed to libmicrohttpd so that it asks for a certificate */
	gnutls_x509_trust_list_t trust; /* client CAs and CRL: what we verify against */
	time_t server_not_after;
	time_t client_ca_not_after;
	time_t crl_next_update; /* the CRL's nextUpdate (the earliest); 0 without a CRL */
};

struct tls_peer {
	char san_uri[256]; /* the first SAN URI, "" when none */
	size_t san_uri_len;
	char cn[256]; /* the subject CN, "" when none or when there is a SAN URI */
	size_t cn_len;
	uint8_t spki_sha256[32];
	char identity[256]; /* the first SAN URI, else the CN */
};

/* Loads everything or nothing. The key file must be owner-only (like the PIN file). */
SG_MUST_CHECK int tls_material_load(const struct signer_config *cfg, struct tls_material **out);
void tls_material_free(struct tls_material *m);

/* Verifies the peer's certificate chain against the client CAs (and CRL), for TLS client use,
 * and extracts its identity. On refusal *reason is a metric label: no_certificate, untrusted,
 * expired, not_yet_valid, revoked, bad_purpose, invalid. */
SG_MUST_CHECK int tls_peer_check(const struct tls_material *m, gnutls_session_t session,
				 struct tls_peer *peer, const char **reason);

/* The identity of a certificate already verified: its first SAN URI (a first SAN URI that
 * does not read whole refuses it), else its one CN, each a name; and its key's SHA-256. On
 * refusal *reason is "invalid" and peer is cleared. */
SG_MUST_CHECK int tls_peer_identity(gnutls_x509_crt_t crt, struct tls_peer *peer,
				    const char **reason);

/* TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy. */
#define TLS_PRIORITIES                                                                             \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:+AEAD:"       \
	"+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ALL:"       \
	"+COMP-NULL:+CTYPE-X509:%SAFE_RENEGOTIATION"

#endif
