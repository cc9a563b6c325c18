#include "api/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/log.h"
#include "common/files.h"
#include "common/names.h"
#include "signer/tlsfiles.h"

#define TLS_CHAIN_MAX 8

static int tls_gnutls_fail(int code, const char *what, const char *path, int err)
{
	return sg_fail(code, "%s %s: %s", what, path, gnutls_strerror(err));
}

/* The earliest notAfter of the PEM certificates in data. */
static time_t tls_not_after(const gnutls_datum_t *pem)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	time_t t = 0;

	if (gnutls_x509_crt_list_import2(&crts, &n, pem, GNUTLS_X509_FMT_PEM, 0) < 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		time_t e = gnutls_x509_crt_get_expiration_time(crts[i]);

		if (i == 0 || e < t)
			t = e;
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	return t;
}

/* Every CRL in the file must be signed by a CA of the client CA bundle: a CRL that merely names
 * the right issuer could otherwise revoke (or, by replacing the real one, un-revoke) anyone.
 * A CRL past its nextUpdate is kept, with a warning: the revocations it lists still apply (GnuTLS
 * refuses no client for a CRL's age), and refusing to start or to reload over it would turn a
 * late renewal into an outage, or keep an even older CRL in force. Its age is the metric
 * signer_certificate_expiry_timestamp_seconds{cert="crl"}, for the alert.
 * *next_update is the earliest nextUpdate. */
static int tls_crl_check(const gnutls_datum_t *ca_pem, const gnutls_datum_t *crl_pem,
			 const struct signer_config *cfg, time_t *next_update)
{
	const unsigned stale = GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED;
	gnutls_x509_crt_t *cas = NULL;
	gnutls_x509_crl_t *crls = NULL;
	unsigned n_cas = 0, n_crls = 0;
	int r = SG_OK, e;

	*next_update = 0;
	if ((e = gnutls_x509_crt_list_import2(&cas, &n_cas, ca_pem, GNUTLS_X509_FMT_PEM, 0)) < 0)
		return tls_gnutls_fail(SG_ERR_CONFIG, "client CA bundle", cfg->tls.client_ca, e);
	e = gnutls_x509_crl_list_import2(&crls, &n_crls, crl_pem, GNUTLS_X509_FMT_PEM, 0);
	if (e < 0 || n_crls == 0) {
		r = e < 0 ? tls_gnutls_fail(SG_ERR_CONFIG, "CRL", cfg->tls.crl, e)
			  : sg_fail(SG_ERR_CONFIG, "CRL %s holds no CRL", cfg->tls.crl);
		goto out;
	}
	for (unsigned i = 0; i < n_crls && r == SG_OK; i++) {
		unsigned status = 0;
		time_t next = gnutls_x509_crl_get_next_update(crls[i]);

		e = gnutls_x509_crl_verify(crls[i], cas, n_cas, 0, &status);
		/* a CRL past its nextUpdate (GnuTLS: INVALID | SUPERSEDED) is used, with a
		 * warning; any other status refuses it */
		if (e < 0 || (status & ~stale) != 0 || status == GNUTLS_CERT_INVALID) {
			bool unsigned_by_ca =
				e >= 0 && (status == GNUTLS_CERT_INVALID ||
					   (status & (GNUTLS_CERT_SIGNER_NOT_FOUND |
						      GNUTLS_CERT_SIGNATURE_FAILURE |
						      GNUTLS_CERT_SIGNER_NOT_CA)) != 0);

			r = unsigned_by_ca
				    ? sg_fail(SG_ERR_CONFIG,
					      "CRL %s (number %u in the file) is not signed by a "
					      "CA "
					      "of %s; refusing it (%s)",
					      cfg->tls.crl, i + 1, cfg->tls.client_ca,
					      tlsfile_crl_status_text(status))
				    : sg_fail(SG_ERR_CONFIG,
					      "CRL %s (number %u in the file) is refused: %s",
					      cfg->tls.crl, i + 1,
					      e < 0 ? gnutls_strerror(e)
						    : tlsfile_crl_status_text(status));
			break;
		}
		if (status != 0 && next != (time_t)-1 && next < time(NULL)) {
			char when[32] = "an unknown time";
			struct tm tm;

			if (gmtime_r(&next, &tm) != NULL)
				strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
			sg_log("tls: warning: CRL %s (number %u in the file) was due for "
			       "renewal at %s; the revocations it lists still apply, revocations "
			       "since then are unknown: sign it again (tools/pki crl) and "
			       "reload",
			       cfg->tls.crl, i + 1, when);
		}
		if (next != (time_t)-1 && (*next_update == 0 || next < *next_update))
			*next_update = next;
	}
out:
	for (unsigned i = 0; i < n_cas; i++)
		gnutls_x509_crt_deinit(cas[i]);
	gnutls_free(cas);
	for (unsigned i = 0; i < n_crls; i++)
		gnutls_x509_crl_deinit(crls[i]);
	gnutls_free(crls);
	return r;
}

int tls_material_load(const struct signer_config *cfg, struct tls_material **out)
{
	struct tls_material *m;
	gnutls_datum_t cert = {0}, key = {0}, ca = {0}, crl = {0};
	int r, e;

	*out = NULL;
	if (cfg->tls.cert == NULL || cfg->tls.key == NULL || cfg->tls.client_ca == NULL)
		return sg_fail(SG_ERR_CONFIG,
			       "%s: the tls section (cert, key, client_ca) is missing", cfg->path);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return sg_fail(SG_ERR_NOMEM, "TLS");
	if ((r = tlsfile_read(cfg->tls.cert, "server certificate", false, &cert)) != SG_OK ||
	    (r = tlsfile_read(cfg->tls.key, "TLS key", true, &key)) != SG_OK ||
	    (r = tlsfile_read(cfg->tls.client_ca, "client CA bundle", false, &ca)) != SG_OK ||
	    (cfg->tls.crl != NULL && (r = tlsfile_read(cfg->tls.crl, "CRL", false, &crl)) != SG_OK))
		goto out;

	m->pcerts = calloc(TLS_CHAIN_MAX, sizeof(*m->pcerts));
	m->n_pcerts = TLS_CHAIN_MAX;
	if (m->pcerts == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "TLS");
		goto out;
	}
	e = gnutls_pcert_list_import_x509_raw(m->pcerts, &m->n_pcerts, &cert, GNUTLS_X509_FMT_PEM,
					      0);
	if (e < 0 || m->n_pcerts == 0) {
		m->n_pcerts = 0;
		r = tls_gnutls_fail(SG_ERR_CONFIG, "server certificate", cfg->tls.cert, e);
		goto out;
	}
	if ((e = gnutls_privkey_init(&m->key)) < 0 ||
	    (e = gnutls_privkey_import_x509_raw(m->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		r = tls_gnutls_fail(SG_ERR_CONFIG, "TLS key", cfg->tls.key, e);
		goto out;
	}
	/* the key must be the certificate's */
	{
		gnutls_pubkey_t from_key;
		gnutls_datum_t a = {0}, b = {0};
		bool same = false;

		if (gnutls_pubkey_init(&from_key) >= 0 &&
		    gnutls_pubkey_import_privkey(from_key, m->key, 0, 0) >= 0 &&
		    gnutls_pubkey_export2(from_key, GNUTLS_X509_FMT_DER, &a) >= 0 &&
		    gnutls_pubkey_export2(m->pcerts[0].pubkey, GNUTLS_X509_FMT_DER, &b) >= 0)
			same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
		gnutls_free(a.data);
		gnutls_free(b.data);
		gnutls_pubkey_deinit(from_key);
		if (!same) {
			r = sg_fail(SG_ERR_CONFIG, "TLS key %s does not belong to certificate %s",
				    cfg->tls.key, cfg->tls.cert);
			goto out;
		}
	}
	m->server_not_after = tls_not_after(&cert);
	m->client_ca_not_after = tls_not_after(&ca);
	if (cfg->tls.crl != NULL &&
	    (r = tls_crl_check(&ca, &crl, cfg, &m->crl_next_update)) != SG_OK)
		goto out;
	if ((e = gnutls_x509_trust_list_init(&m->trust, 0)) < 0 ||
	    (e = gnutls_x509_trust_list_add_trust_mem(m->trust, &ca, cfg->tls.crl ? &crl : NULL,
						      GNUTLS_X509_FMT_PEM, 0, 0)) <= 0) {
		r = e == 0 ? sg_fail(SG_ERR_CONFIG, "client CA bundle %s holds no certificate",
				     cfg->tls.client_ca)
			   : tls_gnutls_fail(SG_ERR_CONFIG, "client CA bundle", cfg->tls.client_ca,
					     e);
		goto out;
	}
	m->client_ca_pem = strndup((const char *)ca.data, ca.size);
	if (m->client_ca_pem == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "TLS");
		goto out;
	}
	*out = m;
	m = NULL;
	r = SG_OK;
out:
	tlsfile_free(&cert, false);
	tlsfile_free(&key, true);
	tlsfile_free(&ca, false);
	tlsfile_free(&crl, false);
	tls_material_free(m);
	return r;
}

void tls_material_free(struct tls_material *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < m->n_pcerts; i++)
		gnutls_pcert_deinit(&m->pcerts[i]);
	free(m->pcerts);
	if (m->key != NULL)
		gnutls_privkey_deinit(m->key);
	if (m->trust != NULL)
		gnutls_x509_trust_list_deinit(m->trust, 1);
	free(m->client_ca_pem);
	free(m);
}

static const char *tls_reason(unsigned status)
{
	if (status & GNUTLS_CERT_REVOKED)
		return "revoked";
	if (status & GNUTLS_CERT_EXPIRED)
		return "expired";
	if (status & GNUTLS_CERT_NOT_ACTIVATED)
		return "not_yet_valid";
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return "untrusted";
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return "bad_purpose";
	return "invalid";
}

/* A CN's DER value: a UTF8String, PrintableString or IA5String of 1 to 255 printable ASCII
 * characters; anything else (another string type, a NUL, a control or non-ASCII byte, a
 * length that does not fit) is not a name. */
static bool tls_cn_decode(const unsigned char *der, size_t len, char *out, size_t out_size,
			  size_t *out_len)
{
	size_t n, at = 2;

	if (len < 2 || (der[0] != 0x0c && der[0] != 0x13 && der[0] != 0x16))
		return false;
	if (der[1] < 0x80) {
		n = der[1];
	} else if (der[1] == 0x81 && len >= 3 &&
		   der[2] >= 0x80) { /* DER: the short form below 128 */
		n = der[2];
		at = 3;
	} else {
		return false;
	}
	if (at + n != len || n >= out_size ||
	    !peer_name_valid((const char *)der + at, n, PEER_NAME_CN))
		return false;
	memcpy(out, der + at, n);
	out[n] = '\0';
	*out_len = n;
	return true;
}

int tls_peer_identity(gnutls_x509_crt_t crt, struct tls_peer *peer, const char **reason)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t spki = {0};
	size_t size;
	int r = SG_OK, e;

	memset(peer, 0, sizeof(*peer));
	*reason = NULL;
	/* identity: the first SAN URI, else the subject CN. A first SAN URI that cannot be read
	 * whole refuses the certificate: a later one must not stand in for it. Names are taken as
	 * their lengths say and must be names: a NUL would make ".../polygon-adapter\0evil" read
	 * as ".../polygon-adapter" to everything after this. */
	for (unsigned i = 0;; i++) {
		char name[1024];
		unsigned type;

		size = sizeof(name) - 1;
		e = gnutls_x509_crt_get_subject_alt_name2(crt, i, name, &size, &type, NULL);
		if (e == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (e == GNUTLS_E_SHORT_MEMORY_BUFFER ||
		    (e == GNUTLS_SAN_URI && size >= sizeof(peer->san_uri))) {
			*reason = "invalid";
			r = sg_fail(SG_ERR_PERMISSION, "the client certificate's SAN is too long");
			goto out;
		}
		if (e < 0) {
			*reason = "invalid";
			r = sg_fail(SG_ERR_PERMISSION,
				    "the client certificate's SAN does not parse");
			goto out;
		}
		if (e == GNUTLS_SAN_URI) {
			if (!peer_name_valid(name, size, PEER_NAME_URI)) {
				*reason = "invalid";
				r = sg_fail(
					SG_ERR_PERMISSION,
					"the client certificate's SAN URI holds a byte a name "
					"cannot "
					"hold (a NUL, a space, a control or non-ASCII character)");
				goto out;
			}
			memcpy(peer->san_uri, name, size);
			peer->san_uri[size] = '\0';
			peer->san_uri_len = size;
			break;
		}
	}
	/* the CN names the client only when there is no SAN URI; then there must be exactly one,
	 * and it must be a name. It is read as its DER says (GnuTLS would turn an odd value into
	 * "#hex" text, which is printable but not the name) */
	if (peer->san_uri_len == 0) {
		unsigned char cn_der[sizeof(peer->cn) + 4], extra[8];
		size_t cn_der_size = sizeof(cn_der), extra_size = sizeof(extra);

		e = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 1, cn_der,
						  &cn_der_size);
		if (e == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
			peer->cn[0] = '\0';
		} else if (e < 0 ||
			   !tls_cn_decode(cn_der, cn_der_size, peer->cn, sizeof(peer->cn),
					  &peer->cn_len) ||
			   gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 1,
							 extra, &extra_size) !=
				   GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
			*reason = "invalid";
			r = sg_fail(
				SG_ERR_PERMISSION,
				"the client certificate's CN is not one name (too long, more than "
				"one, or a byte a name cannot hold)");
			peer->cn[0] = '\0';
			peer->cn_len = 0;
			goto out;
		}
	}
	snprintf(peer->identity, sizeof(peer->identity), "%s",
		 peer->san_uri_len > 0 ? peer->san_uri : peer->cn);
	/* the SHA-256 of the SubjectPublicKeyInfo, for pins */
	if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0) {
		*reason = "invalid";
		r = sg_fail(SG_ERR_PERMISSION, "the client's public key cannot be read");
		goto out;
	}
	crypto_hash_sha256(peer->spki_sha256, spki.data, spki.size);
out:
	gnutls_free(spki.data);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	if (r != SG_OK)
		memset(peer, 0, sizeof(*peer)); /* a refused certificate names nobody */
	return r;
}

int tls_peer_check(const struct tls_material *m, gnutls_session_t session, struct tls_peer *peer,
		   const char **reason)
{
	const gnutls_datum_t *raw;
	unsigned n = 0, status = 0;
	gnutls_x509_crt_t chain[TLS_CHAIN_MAX];
	unsigned n_chain = 0;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT};
	int r = SG_OK, e;

	memset(peer, 0, sizeof(*peer));
	*reason = NULL;
	raw = gnutls_certificate_get_peers(session, &n);
	if (raw == NULL || n == 0) {
		*reason = "no_certificate";
		return sg_fail(SG_ERR_PERMISSION, "the client presented no certificate");
	}
	for (unsigned i = 0; i < n && i < TLS_CHAIN_MAX; i++) {
		if (gnutls_x509_crt_init(&chain[n_chain]) < 0)
			break;
		if (gnutls_x509_crt_import(chain[n_chain], &raw[i], GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(chain[n_chain]);
			*reason = "invalid";
			r = sg_fail(SG_ERR_PERMISSION, "the client certificate does not parse");
			goto out;
		}
		n_chain++;
	}
	e = gnutls_x509_trust_list_verify_crt2(m->trust, chain, n_chain, &purpose, 1, 0, &status,
					       NULL);
	if (e < 0 || status != 0) {
		*reason = e < 0 ? "invalid" : tls_reason(status);
		r = sg_fail(SG_ERR_PERMISSION, "client certificate refused: %s", *reason);
		goto out;
	}
	r = tls_peer_identity(chain[0], peer, reason);
out:
	for (unsigned i = 0; i < n_chain; i++)
		gnutls_x509_crt_deinit(chain[i]);
	return r;
}
