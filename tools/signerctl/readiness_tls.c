/* signerctl readiness: the API listener's certificates and the CRL, as signerd loads them
 * (signer/tlsfiles.h: the same files read with the same trust checks, the key matched to the
 * certificate, the CRL signed by a CA of the client bundle), and their dates against now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/files.h"
#include "signer/tlsfiles.h"
#include "ctl_readiness.h"

#define CERT_WARN_SECONDS (14 * 86400)
#define CRL_WARN_SECONDS  86400

/* The certificates of a PEM file (a bundle), in its order. */
struct crt_list {
	gnutls_x509_crt_t *crts;
	unsigned n;
};

/* Reads path (as signerd does) and imports every certificate in it; why gets the reason. */
static int crts_load(const char *path, const char *what, struct crt_list *l, char *why,
		     size_t why_len)
{
	gnutls_datum_t pem;
	int r, e;

	l->crts = NULL;
	l->n = 0;
	if ((r = tlsfile_read(path, what, false, &pem)) != SG_OK) {
		snprintf(why, why_len, "%s", sg_errmsg(r));
		return r;
	}
	e = gnutls_x509_crt_list_import2(&l->crts, &l->n, &pem, GNUTLS_X509_FMT_PEM, 0);
	tlsfile_free(&pem, false);
	if (e < 0 || l->n == 0) {
		snprintf(why, why_len, "%s %s: %s", what, path,
			 e < 0 ? gnutls_strerror(e) : "holds no certificate");
		l->n = 0;
		return SG_ERR_CONFIG;
	}
	return SG_OK;
}

static void crts_free(struct crt_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		gnutls_x509_crt_deinit(l->crts[i]);
	gnutls_free(l->crts);
	l->crts = NULL;
	l->n = 0;
}

static void crt_subject(gnutls_x509_crt_t crt, char *out, size_t len)
{
	size_t n = len;

	if (gnutls_x509_crt_get_dn(crt, out, &n) < 0)
		snprintf(out, len, "(no subject)");
}

/* Each certificate of the list valid now; a fail when expired or not yet valid, a warn under
 * 14 days. *earliest: the first notAfter of the list. */
static void crts_dates(const struct crt_list *l, const char *what, const char *path,
		       struct rd_result *res, time_t *earliest)
{
	time_t now = time(NULL);

	*earliest = 0;
	for (unsigned i = 0; i < l->n; i++) {
		time_t from = gnutls_x509_crt_get_activation_time(l->crts[i]);
		time_t until = gnutls_x509_crt_get_expiration_time(l->crts[i]);
		char subject[256], when[32], span[32];

		crt_subject(l->crts[i], subject, sizeof(subject));
		if (i == 0 || until < *earliest)
			*earliest = until;
		if (from != (time_t)-1 && from > now) {
			rd_time_text(from, when);
			rd_fail(res, "%s %s (%s) is not valid before %s", what, path, subject,
				when);
		} else if (until != (time_t)-1 && until <= now) {
			rd_time_text(until, when);
			rd_span_text(now - until, span);
			rd_fail(res, "%s %s (%s) expired at %s (%s ago)", what, path, subject, when,
				span);
		} else if (until != (time_t)-1 && until - now < CERT_WARN_SECONDS) {
			rd_time_text(until, when);
			rd_span_text(until - now, span);
			rd_warn(res, "%s %s (%s) expires at %s, in %s: under 14 days", what, path,
				subject, when, span);
		}
	}
}

/* The TLS key is the server certificate's (what signerd refuses to start without). */
static void key_matches(const struct signer_config *cfg, gnutls_x509_crt_t leaf,
			struct rd_result *res)
{
	gnutls_datum_t key = {0}, a = {0}, b = {0};
	gnutls_privkey_t priv = NULL;
	gnutls_pubkey_t from_key = NULL, from_crt = NULL;
	int r, e;

	if ((r = tlsfile_read(cfg->tls.key, "TLS key", true, &key)) != SG_OK) {
		rd_fail(res, "%s", sg_errmsg(r));
		return;
	}
	if ((e = gnutls_privkey_init(&priv)) < 0 ||
	    (e = gnutls_privkey_import_x509_raw(priv, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		rd_fail(res, "TLS key %s: %s", cfg->tls.key, gnutls_strerror(e));
		goto out;
	}
	if (gnutls_pubkey_init(&from_key) < 0 || gnutls_pubkey_init(&from_crt) < 0 ||
	    gnutls_pubkey_import_privkey(from_key, priv, 0, 0) < 0 ||
	    gnutls_pubkey_import_x509(from_crt, leaf, 0) < 0 ||
	    gnutls_pubkey_export2(from_key, GNUTLS_X509_FMT_DER, &a) < 0 ||
	    gnutls_pubkey_export2(from_crt, GNUTLS_X509_FMT_DER, &b) < 0 || a.size != b.size ||
	    memcmp(a.data, b.data, a.size) != 0)
		rd_fail(res, "TLS key %s does not belong to certificate %s", cfg->tls.key,
			cfg->tls.cert);
out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	if (from_key != NULL)
		gnutls_pubkey_deinit(from_key);
	if (from_crt != NULL)
		gnutls_pubkey_deinit(from_crt);
	if (priv != NULL)
		gnutls_privkey_deinit(priv);
	tlsfile_free(&key, true);
}

void rd_check_certificates(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config *cfg = c->cfg;
	struct crt_list server = {0}, ca = {0};
	char why[600], s_when[32], ca_when[32], s_span[32], ca_span[32];
	time_t s_until = 0, ca_until = 0, now = time(NULL);

	if (cfg->tls.cert == NULL || cfg->tls.key == NULL || cfg->tls.client_ca == NULL) {
		rd_fail(res, "%s: the tls section (cert, key, client_ca) is missing", cfg->path);
		return;
	}
	if (crts_load(cfg->tls.cert, "server certificate", &server, why, sizeof(why)) != SG_OK) {
		rd_fail(res, "%s", why);
	} else {
		key_matches(cfg, server.crts[0], res);
		crts_dates(&server, "server certificate", cfg->tls.cert, res, &s_until);
	}
	if (crts_load(cfg->tls.client_ca, "client CA", &ca, why, sizeof(why)) != SG_OK)
		rd_fail(res, "%s", why);
	else
		crts_dates(&ca, "client CA", cfg->tls.client_ca, res, &ca_until);
	rd_time_text(s_until, s_when);
	rd_time_text(ca_until, ca_when);
	rd_span_text(s_until - now, s_span);
	rd_span_text(ca_until - now, ca_span);
	rd_pass(res,
		"server certificate %s matches its key, valid until %s (%s); client CA %s valid "
		"until %s (%s)",
		cfg->tls.cert, s_when, s_span, cfg->tls.client_ca, ca_when, ca_span);
	crts_free(&server);
	crts_free(&ca);
}

/* ---- crl ------------------------------------------------------------------------------ */

/* Configured: every CRL of the file signed by a CA of the client bundle (as signerd requires),
 * its nextUpdate in the future (a warn under a day, a fail past it). Not configured: a warn,
 * since no client certificate can then be revoked. */
void rd_check_crl(struct rd_ctx *c, struct rd_result *res)
{
	const unsigned stale = GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED;
	const struct signer_config *cfg = c->cfg;
	struct crt_list ca = {0};
	gnutls_x509_crl_t *crls = NULL;
	unsigned n_crls = 0;
	gnutls_datum_t pem = {0};
	time_t now = time(NULL), earliest = 0;
	char why[600], when[32], span[32];
	int r, e;

	if (cfg->tls.crl == NULL) {
		rd_warn(res,
			"no tls.crl in %s: a client certificate cannot be revoked (tools/pki "
			"ca writes one; docs/operations.md)",
			cfg->path);
		return;
	}
	if (cfg->tls.client_ca == NULL ||
	    crts_load(cfg->tls.client_ca, "client CA", &ca, why, sizeof(why)) != SG_OK) {
		rd_fail(res, "CRL %s not checked: %s", cfg->tls.crl,
			cfg->tls.client_ca == NULL ? "no tls.client_ca" : why);
		return;
	}
	if ((r = tlsfile_read(cfg->tls.crl, "CRL", false, &pem)) != SG_OK) {
		rd_fail(res, "%s", sg_errmsg(r));
		goto out;
	}
	e = gnutls_x509_crl_list_import2(&crls, &n_crls, &pem, GNUTLS_X509_FMT_PEM, 0);
	if (e < 0 || n_crls == 0) {
		rd_fail(res, "CRL %s: %s", cfg->tls.crl,
			e < 0 ? gnutls_strerror(e) : "holds no CRL");
		n_crls = 0;
		goto out;
	}
	for (unsigned i = 0; i < n_crls; i++) {
		unsigned status = 0;
		time_t next = gnutls_x509_crl_get_next_update(crls[i]);

		e = gnutls_x509_crl_verify(crls[i], ca.crts, ca.n, 0, &status);
		if (e < 0 || (status & ~stale) != 0 || status == GNUTLS_CERT_INVALID) {
			rd_fail(res,
				"CRL %s (number %u in the file) is not signed by a CA of %s: %s",
				cfg->tls.crl, i + 1, cfg->tls.client_ca,
				e < 0 ? gnutls_strerror(e) : tlsfile_crl_status_text(status));
			continue;
		}
		if (next == (time_t)-1) {
			rd_warn(res, "CRL %s (number %u in the file) has no nextUpdate",
				cfg->tls.crl, i + 1);
			continue;
		}
		if (earliest == 0 || next < earliest)
			earliest = next;
		rd_time_text(next, when);
		if (next <= now) {
			rd_span_text(now - next, span);
			rd_fail(res,
				"CRL %s (number %u in the file) is past its nextUpdate %s (%s "
				"ago): "
				"revocations since are unknown; sign it again (tools/pki crl) and "
				"reload signerd",
				cfg->tls.crl, i + 1, when, span);
		} else if (next - now < CRL_WARN_SECONDS) {
			rd_span_text(next - now, span);
			rd_warn(res,
				"CRL %s (number %u in the file) is due at %s, in %s: under a day; "
				"sign "
				"it again (tools/pki crl)",
				cfg->tls.crl, i + 1, when, span);
		}
	}
	rd_time_text(earliest, when);
	rd_span_text(earliest - now, span);
	rd_pass(res, "CRL %s: signed by the client CA, next update %s (in %s)", cfg->tls.crl, when,
		span);
out:
	for (unsigned i = 0; i < n_crls; i++)
		gnutls_x509_crl_deinit(crls[i]);
	gnutls_free(crls);
	tlsfile_free(&pem, false);
	crts_free(&ca);
}
