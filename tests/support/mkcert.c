/* mkcert CA_CERT CA_KEY OUT_CERT OUT_KEY [uri=HEX] [cn=HEX]: a TLS client certificate signed by
 * the CA, whose SAN URI and CN are exactly the bytes HEX gives: NULs, control characters and
 * all (what certtool cannot write). For the tests of exact identities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static int unhex(const char *hex, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

static int load(const char *path, gnutls_datum_t *out)
{
	return gnutls_load_file(path, out) < 0 ? -1 : 0;
}

static int save(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");
	int ok = f != NULL && fwrite(d->data, 1, d->size, f) == d->size;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

#define CHECK(call, what)                                                                          \
	if ((e = (call)) < 0) {                                                                    \
		fprintf(stderr, "mkcert: %s: %s\n", what, gnutls_strerror(e));                     \
		return 1;                                                                          \
	}

int main(int argc, char **argv)
{
	gnutls_x509_crt_t ca, crt;
	gnutls_x509_privkey_t ca_key, key;
	gnutls_datum_t ca_pem, ca_key_pem, out;
	unsigned char uri[512], cn[512], serial[8];
	size_t uri_len = 0, cn_len = 0;
	time_t now = time(NULL);
	int e;

	if (argc < 5) {
		fprintf(stderr,
			"usage: mkcert CA_CERT CA_KEY OUT_CERT OUT_KEY [uri=HEX] [cn=HEX]\n");
		return 2;
	}
	for (int i = 5; i < argc; i++) {
		if ((strncmp(argv[i], "uri=", 4) == 0 &&
		     unhex(argv[i] + 4, uri, sizeof(uri), &uri_len) != 0) ||
		    (strncmp(argv[i], "cn=", 3) == 0 &&
		     unhex(argv[i] + 3, cn, sizeof(cn), &cn_len) != 0)) {
			fprintf(stderr, "mkcert: %s is not NAME=HEX\n", argv[i]);
			return 2;
		}
	}
	gnutls_global_init();
	if (load(argv[1], &ca_pem) != 0 || load(argv[2], &ca_key_pem) != 0) {
		fprintf(stderr, "mkcert: cannot read the CA\n");
		return 1;
	}
	CHECK(gnutls_x509_crt_init(&ca), "init");
	CHECK(gnutls_x509_crt_import(ca, &ca_pem, GNUTLS_X509_FMT_PEM), "the CA certificate");
	CHECK(gnutls_x509_privkey_init(&ca_key), "init");
	CHECK(gnutls_x509_privkey_import(ca_key, &ca_key_pem, GNUTLS_X509_FMT_PEM), "the CA key");
	CHECK(gnutls_x509_privkey_init(&key), "init");
	CHECK(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					   GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	      "a key");
	CHECK(gnutls_x509_crt_init(&crt), "init");
	CHECK(gnutls_x509_crt_set_version(crt, 3), "version");
	gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	serial[0] &= 0x7f;
	CHECK(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial");
	CHECK(gnutls_x509_crt_set_activation_time(crt, now - 60), "dates");
	CHECK(gnutls_x509_crt_set_expiration_time(crt, now + 30 * 86400), "dates");
	CHECK(gnutls_x509_crt_set_key(crt, key), "key");
	if (cn_len > 0)
		CHECK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
						    (unsigned)cn_len),
		      "the CN");
	if (uri_len > 0) {
		/* the extension's DER by hand (GnuTLS checks the names it writes): SEQUENCE {
		 * [6] uniformResourceIdentifier } */
		unsigned char ext[4 + sizeof(uri)];

		if (uri_len > 125) {
			fprintf(stderr, "mkcert: a SAN URI of at most 125 bytes\n");
			return 2;
		}
		ext[0] = 0x30;
		ext[1] = (unsigned char)(uri_len + 2);
		ext[2] = 0x86;
		ext[3] = (unsigned char)uri_len;
		memcpy(ext + 4, uri, uri_len);
		CHECK(gnutls_x509_crt_set_extension_by_oid(crt, "2.5.29.17", ext, uri_len + 4, 0),
		      "the SAN URI");
	}
	CHECK(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
	CHECK(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "purpose");
	CHECK(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "constraints");
	CHECK(gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0), "signing");
	CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), "export");
	if (save(argv[3], &out) != 0)
		return 1;
	gnutls_free(out.data);
	CHECK(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out), "export");
	if (save(argv[4], &out) != 0)
		return 1;
	gnutls_free(out.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(ca_key);
	gnutls_free(ca_pem.data);
	gnutls_free(ca_key_pem.data);
	gnutls_global_deinit();
	return 0;
}
