/* backup/secret.c, keywrap.c, shares.c against references: RFC 5649's own vectors and OpenSSL's
 * EVP_aes_*_wrap_pad both ways, OpenSSL's Ed25519 PKCS#8, libgfshare reading our shares and
 * making shares we read, gpg decrypting what we encrypted. Refusals name the share and never
 * hold its bytes. No secret is printed: secrets are compared with memcmp, never with cmocka's
 * equality checks (which print both sides). */
#include "../../support/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libgfshare.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "backup/keywrap.h"
#include "backup/secret.h"
#include "backup/shares.h"
#include "common/encoding.h"
#include "common/timefmt.h"

#define SHARE_TEXT_MAX 160 /* room for a share line and more, for the edited ones */

static const char *tmp; /* the scratch directory of the whole program */

static void fill_rand(unsigned char *buf, unsigned int n)
{
	randombytes_buf(buf, n);
}

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	/* libgfshare wipes with it, also when it combines */
	gfshare_fill_rand = fill_rand;
	return (tmp = tu_tmpdir("backup")) == NULL ? -1 : 0;
}

static void gpg_kill_agent(void);

static int group_teardown(void **state)
{
	(void)state;
	/* the gpg test's own teardown has done it; again, in case it could not run */
	gpg_kill_agent();
	return tu_tmpdir_remove();
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;

	assert_sg_ok(hex_decode(hex, strlen(hex), out, n, &got));
	assert_int_equal(got, n);
}

/* ---- secret */

static void test_secret(void **state)
{
	struct backup_secret a, b;
	bool zero = true;

	(void)state;
	assert_sg_fails(backup_secret_new(0, &a), SG_ERR_INVALID_ARGUMENT, "zero bytes");
	assert_null(a.bytes);
	assert_sg_ok(backup_secret_new(33, &a));
	assert_int_equal(a.len, 33);
	for (size_t i = 0; i < a.len; i++)
		zero = zero && a.bytes[i] == 0;
	assert_true(zero);
	backup_secret_free(&a);
	assert_null(a.bytes);
	assert_int_equal(a.len, 0);
	backup_secret_free(&a); /* an empty one is fine */
	/* more than one getrandom call's 256 bytes */
	assert_sg_ok(backup_secret_random(1000, &a));
	assert_sg_ok(backup_secret_random(1000, &b));
	assert_int_equal(b.len, 1000);
	assert_true(memcmp(a.bytes, b.bytes, 1000) != 0);
	assert_true(memcmp(a.bytes + 900, (uint8_t[100]){0}, 100) != 0);
	backup_secret_free(&a);
	backup_secret_free(&b);
}

/* ---- key wrap */

static const EVP_CIPHER *ossl_wrap_pad(size_t kek_len)
{
	return kek_len == 16   ? EVP_aes_128_wrap_pad()
	       : kek_len == 24 ? EVP_aes_192_wrap_pad()
			       : EVP_aes_256_wrap_pad();
}

static const EVP_CIPHER *ossl_wrap(size_t kek_len)
{
	return kek_len == 16   ? EVP_aes_128_wrap()
	       : kek_len == 24 ? EVP_aes_192_wrap()
			       : EVP_aes_256_wrap();
}

static const EVP_CIPHER *ossl_ecb(size_t kek_len)
{
	return kek_len == 16   ? EVP_aes_128_ecb()
	       : kek_len == 24 ? EVP_aes_192_ecb()
			       : EVP_aes_256_ecb();
}

/* OpenSSL's cipher c over in (encrypting when enc), into out; -1 when OpenSSL refuses. */
static int ossl_run(const EVP_CIPHER *c, bool enc, const uint8_t *kek, const uint8_t *iv,
		    const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok;

	assert_non_null(ctx);
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex(ctx, c, NULL, kek, iv, enc ? 1 : 0) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? n + fin : -1;
}

/* RFC 5649, section 6: the 192-bit KEK, the 20-octet and the 7-octet key. */
static void test_kwp_rfc5649_vectors(void **state)
{
	static const struct {
		const char *key, *wrapped;
	} v[] = {
		{.key = "c37b7e6492584340bed12207808941155068f738",
		 .wrapped = "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{.key = "466f7250617369", .wrapped = "afbeb0f07dfbf5419200f2ccb50bb24f"},
	};
	uint8_t kek[24], key[20], want[32], got[32];

	(void)state;
	unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek, sizeof(kek));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t klen = strlen(v[i].key) / 2, wlen = strlen(v[i].wrapped) / 2, n = 0;
		struct backup_secret back;

		unhex(v[i].key, key, klen);
		unhex(v[i].wrapped, want, wlen);
		assert_int_equal(keywrap_pad_wrapped_len(klen), wlen);
		assert_sg_ok(keywrap_pad_wrap(kek, sizeof(kek), key, klen, got, &n));
		assert_int_equal(n, wlen);
		assert_memory_equal(got, want, wlen); /* the RFC's public vectors */
		assert_sg_ok(keywrap_pad_unwrap(kek, sizeof(kek), want, wlen, &back));
		assert_int_equal(back.len, klen);
		assert_memory_equal(back.bytes, key, klen);
		backup_secret_free(&back);
	}
}

/* Every length from 1 to 300 under 128-, 192- and 256-bit KEKs: our wrap is OpenSSL's
 * EVP_aes_*_wrap_pad byte for byte, OpenSSL unwraps ours and we unwrap OpenSSL's. */
static void test_kwp_round_trips_openssl(void **state)
{
	static const size_t keks[] = {16, 24, 32};
	uint8_t kek[32], in[300], ours[316], theirs[316 + 16], back_ossl[316 + 16];

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		randombytes_buf(kek, sizeof(kek));
		for (size_t len = 1; len <= sizeof(in); len++) {
			size_t n = 0, want = 8 + (len + 7) / 8 * 8;
			struct backup_secret back;
			int m;

			want = want < 16 ? 16 : want;
			randombytes_buf(in, len);
			assert_int_equal(keywrap_pad_wrapped_len(len), want);
			assert_sg_ok(keywrap_pad_wrap(kek, keks[k], in, len, ours, &n));
			assert_int_equal(n, want);
			assert_sg_ok(keywrap_pad_unwrap(kek, keks[k], ours, n, &back));
			assert_int_equal(back.len, len);
			assert_true(memcmp(back.bytes, in, len) == 0);
			backup_secret_free(&back);
			/* OpenSSL wraps alike (the scheme is deterministic) */
			m = ossl_run(ossl_wrap_pad(keks[k]), true, kek, NULL, in, len, theirs);
			assert_int_equal(m, (int)want);
			assert_true(memcmp(ours, theirs, want) == 0);
			/* OpenSSL reads ours */
			m = ossl_run(ossl_wrap_pad(keks[k]), false, kek, NULL, ours, n, back_ossl);
			assert_int_equal(m, (int)len);
			assert_true(memcmp(back_ossl, in, len) == 0);
		}
	}
	/* and the other way on fresh random input: a blob OpenSSL wrapped, read by us */
	for (int i = 0; i < 64; i++) {
		size_t len = 1 + randombytes_uniform(300);
		struct backup_secret back;
		int m;

		randombytes_buf(kek, sizeof(kek));
		randombytes_buf(in, len);
		m = ossl_run(EVP_aes_256_wrap_pad(), true, kek, NULL, in, len, theirs);
		assert_true(m > 0);
		assert_sg_ok(keywrap_pad_unwrap(kek, 32, theirs, (size_t)m, &back));
		assert_int_equal(back.len, len);
		assert_true(memcmp(back.bytes, in, len) == 0);
		backup_secret_free(&back);
	}
	sodium_memzero(in, sizeof(in));
}

/* The largest key wraps and unwraps; one byte more is refused. */
static void test_kwp_largest(void **state)
{
	uint8_t kek[32];
	uint8_t *in = malloc(65537), *out = malloc(65544 + 8);
	struct backup_secret back;
	size_t n = 0;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	randombytes_buf(kek, sizeof(kek));
	randombytes_buf(in, 65537);
	assert_sg_ok(keywrap_pad_wrap(kek, 32, in, 65536, out, &n));
	assert_int_equal(n, 65544);
	assert_sg_ok(keywrap_pad_unwrap(kek, 32, out, n, &back));
	assert_int_equal(back.len, 65536);
	assert_true(memcmp(back.bytes, in, 65536) == 0);
	backup_secret_free(&back);
	assert_sg_fails(keywrap_pad_wrap(kek, 32, in, 65537, out, &n), SG_ERR_INVALID_ARGUMENT,
			"1 to 65536 bytes");
	free(in);
	free(out);
}

/* Every single-bit change of a wrapped blob, and a wrong KEK, fail the integrity check. */
static void test_kwp_tamper(void **state)
{
	static const size_t lens[] = {7, 8, 20, 32, 33};
	uint8_t kek[32], other[32], in[33], blob[48];

	(void)state;
	randombytes_buf(kek, sizeof(kek));
	randombytes_buf(other, sizeof(other));
	randombytes_buf(in, sizeof(in));
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t n = 0;
		struct backup_secret back;

		assert_sg_ok(keywrap_pad_wrap(kek, 32, in, lens[l], blob, &n));
		for (size_t bit = 0; bit < 8 * n; bit++) {
			blob[bit / 8] ^= (uint8_t)(1U << (bit % 8));
			assert_sg_fails(keywrap_pad_unwrap(kek, 32, blob, n, &back), SG_ERR_VERIFY,
					"integrity check");
			assert_null(back.bytes);
			blob[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		}
		assert_sg_fails(keywrap_pad_unwrap(other, 32, blob, n, &back), SG_ERR_VERIFY,
				"integrity check");
		/* the same bytes as a shorter KEK are another key too */
		assert_sg_fails(keywrap_pad_unwrap(kek, 16, blob, n, &back), SG_ERR_VERIFY,
				"integrity check");
		assert_sg_fails(keywrap_pad_unwrap(kek, 24, blob, n, &back), SG_ERR_VERIFY,
				"integrity check");
		assert_sg_ok(keywrap_pad_unwrap(kek, 32, blob, n, &back));
		backup_secret_free(&back);
	}
}

/* Each of RFC 5649's checks on its own, with blobs made by OpenSSL's raw AES (one block) and
 * RFC 3394 wrap (with our own initial value): the magic, the length's bounds, the padding. */
static void test_kwp_checks(void **state)
{
	static const struct {
		uint32_t magic, mli;
		size_t padded;
		bool dirty_pad, good;
	} cases[] = {
		{.magic = 0xa65959a6, .mli = 5, .padded = 8, .good = true},
		{.magic = 0xa65959a6, .mli = 8, .padded = 8, .good = true},
		{.magic = 0xa65959a7, .mli = 5, .padded = 8},
		{.magic = 0xa6595aa6, .mli = 5, .padded = 8},
		{.magic = 0xa65959a6, .mli = 0, .padded = 8},
		{.magic = 0xa65959a6, .mli = 9, .padded = 8},
		{.magic = 0xa65959a6, .mli = 5, .padded = 8, .dirty_pad = true},
		{.magic = 0xa65959a6, .mli = 12, .padded = 16, .good = true},
		{.magic = 0xa65959a6, .mli = 16, .padded = 16, .good = true},
		{.magic = 0xa6a6a6a6, .mli = 16, .padded = 16}, /* RFC 3394's own IV */
		{.magic = 0xa65959a6, .mli = 8, .padded = 16},  /* 8 * (n - 1) < MLI */
		{.magic = 0xa65959a6, .mli = 17, .padded = 16}, /* MLI <= 8 * n */
		{.magic = 0xa65959a6, .mli = 0, .padded = 16},
		{.magic = 0xa65959a6, .mli = 12, .padded = 16, .dirty_pad = true},
		{.magic = 0xa65959a6, .mli = 33, .padded = 40, .good = true},
		{.magic = 0xa65959a6, .mli = 33, .padded = 40, .dirty_pad = true},
		{.magic = 0xa65959a6, .mli = 0xffffffff, .padded = 40},
	};
	uint8_t kek[24], iv[8], plain[48], blob[64];

	(void)state;
	randombytes_buf(kek, sizeof(kek));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backup_secret back;
		int m;

		iv[0] = (uint8_t)(cases[i].magic >> 24);
		iv[1] = (uint8_t)(cases[i].magic >> 16);
		iv[2] = (uint8_t)(cases[i].magic >> 8);
		iv[3] = (uint8_t)cases[i].magic;
		iv[4] = (uint8_t)(cases[i].mli >> 24);
		iv[5] = (uint8_t)(cases[i].mli >> 16);
		iv[6] = (uint8_t)(cases[i].mli >> 8);
		iv[7] = (uint8_t)cases[i].mli;
		memset(plain, 0, sizeof(plain));
		for (size_t k = 0; k < cases[i].padded && k < cases[i].mli; k++)
			plain[k] = (uint8_t)(0x41 + k);
		assert_true(cases[i].padded >= 8 && cases[i].padded <= sizeof(plain));
		if (cases[i].dirty_pad && cases[i].padded >= 8)
			plain[cases[i].padded - 1] = 0x01;
		if (cases[i].padded == 8) {
			uint8_t block[16];

			memcpy(block, iv, 8);
			memcpy(block + 8, plain, 8);
			m = ossl_run(ossl_ecb(24), true, kek, NULL, block, 16, blob);
		} else {
			m = ossl_run(ossl_wrap(24), true, kek, iv, plain, cases[i].padded, blob);
		}
		assert_int_equal(m, (int)cases[i].padded + 8);
		if (cases[i].good) {
			assert_sg_ok(keywrap_pad_unwrap(kek, 24, blob, (size_t)m, &back));
			assert_int_equal(back.len, cases[i].mli);
			assert_memory_equal(back.bytes, plain, cases[i].mli); /* test data */
			backup_secret_free(&back);
		} else {
			assert_sg_fails(keywrap_pad_unwrap(kek, 24, blob, (size_t)m, &back),
					SG_ERR_VERIFY, "integrity check");
		}
	}
}

static void test_kwp_lengths(void **state)
{
	static const size_t bad[] = {0, 1, 8, 15, 17, 23, 31, 65552, 65545, 1 << 20};
	static const struct {
		size_t in, out;
	} sizes[] = {{.in = 0, .out = 16},  {.in = 1, .out = 16},       {.in = 8, .out = 16},
		     {.in = 9, .out = 24},  {.in = 16, .out = 24},      {.in = 17, .out = 32},
		     {.in = 48, .out = 56}, {.in = 65536, .out = 65544}};
	uint8_t kek[32] = {1}, *blob = calloc(1, 1 << 20), out[32];
	struct backup_secret back;
	size_t n;

	(void)state;
	assert_non_null(blob);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_sg_fails(keywrap_pad_unwrap(kek, 32, blob, bad[i], &back), SG_ERR_MALFORMED,
				"a multiple of 8");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_int_equal(keywrap_pad_wrapped_len(sizes[i].in), sizes[i].out);
	assert_sg_fails(keywrap_pad_wrap(kek, 32, blob, 0, out, &n), SG_ERR_INVALID_ARGUMENT,
			"1 to 65536");
	for (size_t k = 0; k <= 33; k++) {
		if (k == 16 || k == 24 || k == 32)
			continue;
		assert_sg_fails(keywrap_pad_wrap(kek, k, blob, 8, out, &n), SG_ERR_INVALID_ARGUMENT,
				"16, 24 or 32 bytes");
		assert_sg_fails(keywrap_pad_unwrap(kek, k, blob, 16, &back),
				SG_ERR_INVALID_ARGUMENT, "16, 24 or 32 bytes");
	}
	free(blob);
}

/* ---- PKCS#8 */

static void test_pkcs8_ed25519(void **state)
{
	uint8_t seed[32], ours[PKCS8_ED25519_LEN], back[32], raw[32];
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pkey, *read;
	size_t raw_len = sizeof(raw);
	int len;

	(void)state;
	randombytes_buf(seed, sizeof(seed));
	pkcs8_ed25519_encode(seed, ours);
	/* OpenSSL's PKCS#8 of the same key is the same 48 bytes */
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	assert_non_null(pkey);
	len = i2d_PrivateKey(pkey, &der);
	assert_int_equal(len, PKCS8_ED25519_LEN);
	assert_true(memcmp(der, ours, PKCS8_ED25519_LEN) == 0);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	/* and OpenSSL reads ours as that key */
	p = ours;
	read = d2i_AutoPrivateKey(NULL, &p, PKCS8_ED25519_LEN);
	assert_non_null(read);
	assert_int_equal(EVP_PKEY_get_id(read), EVP_PKEY_ED25519);
	assert_int_equal(EVP_PKEY_get_raw_private_key(read, raw, &raw_len), 1);
	assert_int_equal(raw_len, 32);
	assert_true(memcmp(raw, seed, 32) == 0);
	EVP_PKEY_free(read);
	assert_sg_ok(pkcs8_ed25519_decode(ours, sizeof(ours), back));
	assert_true(memcmp(back, seed, 32) == 0);
	/* any changed byte of the structure, and any other length, is refused */
	for (size_t i = 0; i < PKCS8_ED25519_LEN - 32; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			ours[i] ^= (uint8_t)(1U << bit);
			assert_sg_fails(pkcs8_ed25519_decode(ours, sizeof(ours), back),
					SG_ERR_MALFORMED, "RFC 8410");
			ours[i] ^= (uint8_t)(1U << bit);
		}
	assert_sg_fails(pkcs8_ed25519_decode(ours, 47, back), SG_ERR_MALFORMED, "RFC 8410");
	assert_sg_fails(pkcs8_ed25519_decode(ours, 0, back), SG_ERR_MALFORMED, "RFC 8410");
	{
		uint8_t longer[PKCS8_ED25519_LEN + 1] = {0};

		memcpy(longer, ours, sizeof(ours));
		assert_sg_fails(pkcs8_ed25519_decode(longer, sizeof(longer), back),
				SG_ERR_MALFORMED, "RFC 8410");
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(ours, sizeof(ours));
	sodium_memzero(back, sizeof(back));
	sodium_memzero(raw, sizeof(raw));
}

/* ---- Shamir */

/* A share line's index and its 32 bytes, read by the test itself. */
static void line_split(const struct backup_secret *line, unsigned *index, uint8_t y[32])
{
	char text[SHARE_TEXT_MAX];
	char *sp;

	assert_true(line->len < sizeof(text));
	memcpy(text, line->bytes, line->len);
	text[line->len] = '\0';
	sp = strrchr(text, ' ');
	assert_non_null(sp);
	assert_int_equal(strlen(sp + 1), 64);
	unhex(sp + 1, y, 32);
	*sp = '\0';
	sp = strrchr(text, ' ');
	assert_non_null(sp);
	*index = (unsigned)strtoul(sp + 1, NULL, 10);
	sodium_memzero(text, sizeof(text));
}

/* No 8 hex digits in a row of any share in msg. */
static void assert_no_share_in(const char *msg, const struct backup_secret lines[], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *hex;

		if (lines[i].bytes == NULL || lines[i].len < 64)
			continue;
		hex = (const char *)lines[i].bytes + lines[i].len - 64;
		if (hex[63] == '\n')
			hex--;
		for (size_t at = 0; at + 8 <= 64; at++) {
			char window[9];

			memcpy(window, hex + at, 8);
			window[8] = '\0';
			/* (an edited line's tail may hold other bytes than hex) */
			if (strspn(window, "0123456789abcdefABCDEF") == 8 &&
			    strstr(msg, window) != NULL)
				fail_msg("an error holds part of share %zu", i + 1);
		}
	}
}

/* combine refuses with SG_ERR_PERMISSION, and its message is want (exactly, when exact) and
 * holds no share. */
static void assert_refused(const struct backup_key_record *rec, const struct backup_secret lines[],
			   size_t n, const char *want, bool exact)
{
	struct backup_secret key;
	const char *msg;

	assert_sg_fails(backup_shares_combine(rec, lines, n, &key), SG_ERR_PERMISSION, want);
	msg = sg_errmsg(SG_ERR_PERMISSION);
	if (exact)
		assert_string_equal(msg, want);
	assert_no_share_in(msg, lines, n);
	assert_null(key.bytes);
	assert_int_equal(key.len, 0);
}

static void test_kid(void **state)
{
	static const char context[] = "signerd backup key id v1";
	struct backup_secret key, short_key;
	uint8_t mac[32];
	unsigned mac_len = 0;
	char kid[BACKUP_KID_LEN + 1], want[BACKUP_KID_LEN + 1], again[BACKUP_KID_LEN + 1];

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_kid(&key, kid));
	/* the first 8 bytes of HMAC-SHA256(key, "signerd backup key id v1"), by OpenSSL */
	assert_non_null(HMAC(EVP_sha256(), key.bytes, (int)key.len, (const uint8_t *)context,
			     sizeof(context) - 1, mac, &mac_len));
	assert_int_equal(mac_len, 32);
	assert_sg_ok(hex_encode(mac, 8, want, sizeof(want)));
	assert_string_equal(kid, want);
	assert_sg_ok(backup_kid(&key, again));
	assert_string_equal(kid, again);
	assert_sg_ok(backup_secret_random(31, &short_key));
	assert_sg_fails(backup_kid(&short_key, kid), SG_ERR_INVALID_ARGUMENT, "32 bytes");
	backup_secret_free(&short_key);
	backup_secret_free(&key);
}

/* Every subset of size t of n (mask over n <= 16 bits) in turn, as lines in ascending order. */
static size_t subset(const struct backup_secret all[], unsigned mask, struct backup_secret out[])
{
	size_t k = 0;

	for (unsigned i = 0; i < 16; i++)
		if (mask & (1U << i))
			out[k++] = all[i];
	return k;
}

static void test_split_combine(void **state)
{
	static const struct {
		unsigned t, n;
	} p[] = {{.t = 2, .n = 2},  {.t = 2, .n = 3},   {.t = 3, .n = 5},  {.t = 5, .n = 9},
		 {.t = 4, .n = 16}, {.t = 15, .n = 16}, {.t = 16, .n = 16}};

	(void)state;
	for (size_t c = 0; c < sizeof(p) / sizeof(p[0]); c++) {
		struct backup_secret key, got, lines[BACKUP_SHARES_MAX], pick[BACKUP_SHARES_MAX];
		struct backup_key_record rec;
		char kid[BACKUP_KID_LEN + 1];
		int64_t before = (int64_t)time(NULL), after;
		size_t combined = 0, refused = 0;

		assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
		assert_sg_ok(backup_kid(&key, kid));
		assert_sg_ok(backup_shares_split(&key, p[c].t, p[c].n, lines, &rec));
		after = (int64_t)time(NULL);
		assert_string_equal(rec.kid, kid);
		assert_int_equal(rec.threshold, p[c].t);
		assert_int_equal(rec.n_shares, p[c].n);
		assert_true(rec.created_at >= before && rec.created_at <= after);
		for (unsigned i = 0; i < p[c].n; i++) {
			char head[64], hash[65];
			uint8_t y[32], h[32];
			unsigned index = 0, hlen = 0;

			/* "signerd-share-1 <kid> <threshold> <index> <share, 64 hex>" */
			snprintf(head, sizeof(head), "signerd-share-1 %s %u %u ", kid, p[c].t,
				 i + 1);
			assert_int_equal(lines[i].len, strlen(head) + 64);
			assert_int_equal(strlen((const char *)lines[i].bytes), lines[i].len);
			assert_true(memcmp(lines[i].bytes, head, strlen(head)) == 0);
			assert_int_equal(strspn((const char *)lines[i].bytes + strlen(head),
						"0123456789abcdef"),
					 64);
			line_split(&lines[i], &index, y);
			assert_int_equal(index, i + 1);
			assert_int_equal(rec.shares[i].index, i + 1);
			assert_string_equal(rec.shares[i].custodian, "");
			/* the record's hash is the SHA-256 of the share's 32 bytes, by OpenSSL */
			assert_int_equal(EVP_Digest(y, 32, h, &hlen, EVP_sha256(), NULL), 1);
			assert_sg_ok(hex_encode(h, 32, hash, sizeof(hash)));
			assert_string_equal(rec.shares[i].sha256, hash);
			/* no share is the key itself */
			assert_true(memcmp(y, key.bytes, 32) != 0);
			sodium_memzero(y, sizeof(y));
		}
		for (unsigned mask = 1; mask < (1U << p[c].n); mask++) {
			unsigned bits = (unsigned)__builtin_popcount(mask);
			size_t k;

			if (bits == p[c].t) {
				k = subset(lines, mask, pick);
				assert_sg_ok(backup_shares_combine(&rec, pick, k, &got));
				assert_int_equal(got.len, BACKUP_KEY_LEN);
				assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
				backup_secret_free(&got);
				combined++;
			} else if (bits == p[c].t - 1) {
				char want[64];

				k = subset(lines, mask, pick);
				snprintf(want, sizeof(want), "%u shares are needed, %zu given",
					 p[c].t, k);
				assert_refused(&rec, pick, k, want, true);
				refused++;
			}
		}
		assert_true(combined > 0 && refused > 0);
		/* in another order, and all of them */
		for (unsigned i = 0; i < p[c].n; i++)
			pick[i] = lines[p[c].n - 1 - i];
		assert_sg_ok(backup_shares_combine(&rec, pick, p[c].t, &got));
		assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
		backup_secret_free(&got);
		assert_sg_ok(backup_shares_combine(&rec, lines, p[c].n, &got));
		assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
		backup_secret_free(&got);
		for (unsigned i = 0; i < p[c].n; i++)
			backup_secret_free(&lines[i]);
		backup_secret_free(&key);
	}
}

static void test_split_arguments(void **state)
{
	struct backup_secret key, short_key, a[BACKUP_SHARES_MAX + 1], b[3];
	struct backup_key_record rec, rec2;
	uint8_t ya[32], yb[32];
	unsigned ia, ib;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_fails(backup_shares_split(&key, 1, 3, a, &rec), SG_ERR_INVALID_ARGUMENT,
			"1 of 3 is not possible");
	assert_sg_fails(backup_shares_split(&key, 4, 3, a, &rec), SG_ERR_INVALID_ARGUMENT,
			"4 of 3 is not possible");
	assert_sg_fails(backup_shares_split(&key, 2, 17, a, &rec), SG_ERR_INVALID_ARGUMENT,
			"2 of 17 is not possible");
	assert_sg_fails(backup_shares_split(&key, 0, 0, a, &rec), SG_ERR_INVALID_ARGUMENT,
			"not possible");
	assert_sg_ok(backup_secret_random(16, &short_key));
	assert_sg_fails(backup_shares_split(&short_key, 2, 3, a, &rec), SG_ERR_INVALID_ARGUMENT,
			"32 bytes");
	for (int i = 0; i < 3; i++)
		assert_null(a[i].bytes);
	backup_secret_free(&short_key);
	/* the coefficients are fresh each time: the same key splits into other shares */
	assert_sg_ok(backup_shares_split(&key, 2, 3, a, &rec));
	assert_sg_ok(backup_shares_split(&key, 2, 3, b, &rec2));
	assert_string_equal(rec.kid, rec2.kid);
	line_split(&a[0], &ia, ya);
	line_split(&b[0], &ib, yb);
	assert_int_equal(ia, ib);
	assert_true(memcmp(ya, yb, 32) != 0);
	assert_string_not_equal(rec.shares[0].sha256, rec2.shares[0].sha256);
	sodium_memzero(ya, sizeof(ya));
	sodium_memzero(yb, sizeof(yb));
	for (int i = 0; i < 3; i++) {
		backup_secret_free(&a[i]);
		backup_secret_free(&b[i]);
	}
	backup_secret_free(&key);
}

/* libgfshare recombines our shares into the key. */
static void test_gfshare_reads_ours(void **state)
{
	static const struct {
		unsigned t, n;
	} p[] = {{.t = 2, .n = 2}, {.t = 3, .n = 5}, {.t = 7, .n = 16}, {.t = 16, .n = 16}};

	(void)state;
	for (size_t c = 0; c < sizeof(p) / sizeof(p[0]); c++) {
		struct backup_secret key, lines[BACKUP_SHARES_MAX];
		struct backup_key_record rec;
		size_t checked = 0;

		assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
		assert_sg_ok(backup_shares_split(&key, p[c].t, p[c].n, lines, &rec));
		for (unsigned mask = 1; mask < (1U << p[c].n) && checked < 300; mask++) {
			unsigned char sharenrs[BACKUP_SHARES_MAX];
			uint8_t y[32], secret[32];
			gfshare_ctx *g;
			unsigned k = 0;

			if ((unsigned)__builtin_popcount(mask) != p[c].t)
				continue;
			for (unsigned i = 0; i < p[c].n; i++)
				if (mask & (1U << i)) {
					unsigned index;

					line_split(&lines[i], &index, y);
					sharenrs[k++] = (unsigned char)index;
				}
			g = gfshare_ctx_init_dec(sharenrs, k, 32);
			assert_non_null(g);
			k = 0;
			for (unsigned i = 0; i < p[c].n; i++)
				if (mask & (1U << i)) {
					unsigned index;

					line_split(&lines[i], &index, y);
					gfshare_ctx_dec_giveshare(g, (unsigned char)k++, y);
				}
			gfshare_ctx_dec_extract(g, secret);
			gfshare_ctx_free(g);
			assert_true(memcmp(secret, key.bytes, 32) == 0);
			sodium_memzero(secret, sizeof(secret));
			sodium_memzero(y, sizeof(y));
			checked++;
		}
		assert_true(checked > 0);
		for (unsigned i = 0; i < p[c].n; i++)
			backup_secret_free(&lines[i]);
		backup_secret_free(&key);
	}
}

/* Shares that libgfshare made of key (at n random distinct indices), as lines and a record with
 * the given kid. */
static void gfshare_make(const struct backup_secret *key, const char *kid, unsigned t, unsigned n,
			 struct backup_secret lines[], struct backup_key_record *rec)
{
	unsigned char sharenrs[BACKUP_SHARES_MAX];
	uint8_t y[32], h[32];
	gfshare_ctx *g;

	gfshare_fill_rand = fill_rand;
	for (unsigned i = 0; i < n; i++) {
		bool fresh;

		do {
			sharenrs[i] = (unsigned char)(1 + randombytes_uniform(255));
			fresh = true;
			for (unsigned q = 0; q < i; q++)
				fresh = fresh && sharenrs[q] != sharenrs[i];
		} while (!fresh);
	}
	g = gfshare_ctx_init_enc(sharenrs, n, (unsigned char)t, 32);
	assert_non_null(g);
	gfshare_ctx_enc_setsecret(g, key->bytes);
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->kid, sizeof(rec->kid), "%s", kid);
	rec->threshold = t;
	rec->n_shares = n;
	rec->created_at = (int64_t)time(NULL);
	for (unsigned i = 0; i < n; i++) {
		char hex[65];
		int len;

		gfshare_ctx_enc_getshare(g, (unsigned char)i, y);
		assert_sg_ok(backup_secret_new(SHARE_TEXT_MAX, &lines[i]));
		sodium_bin2hex(hex, sizeof(hex), y, 32);
		len = snprintf((char *)lines[i].bytes, SHARE_TEXT_MAX,
			       "signerd-share-1 %s %u %u %s\n", kid, t, (unsigned)sharenrs[i], hex);
		assert_true(len > 0 && len < SHARE_TEXT_MAX);
		lines[i].len = (size_t)len;
		rec->shares[i].index = sharenrs[i];
		crypto_hash_sha256(h, y, 32);
		assert_sg_ok(hex_encode(h, 32, rec->shares[i].sha256, 65));
		sodium_memzero(hex, sizeof(hex));
	}
	sodium_memzero(y, sizeof(y));
	gfshare_ctx_free(g);
}

/* We recombine libgfshare's shares (at arbitrary indices) into the key. */
static void test_we_read_gfshare(void **state)
{
	static const struct {
		unsigned t, n;
	} p[] = {{.t = 2, .n = 3}, {.t = 3, .n = 5}, {.t = 5, .n = 8}, {.t = 9, .n = 16}};

	(void)state;
	for (size_t c = 0; c < sizeof(p) / sizeof(p[0]); c++) {
		struct backup_secret key, got, lines[BACKUP_SHARES_MAX], pick[BACKUP_SHARES_MAX];
		struct backup_key_record rec;
		char kid[BACKUP_KID_LEN + 1];
		size_t checked = 0;

		assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
		assert_sg_ok(backup_kid(&key, kid));
		gfshare_make(&key, kid, p[c].t, p[c].n, lines, &rec);
		for (unsigned mask = 1; mask < (1U << p[c].n) && checked < 300; mask++) {
			size_t k;

			if ((unsigned)__builtin_popcount(mask) != p[c].t)
				continue;
			k = subset(lines, mask, pick);
			assert_sg_ok(backup_shares_combine(&rec, pick, k, &got));
			assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
			backup_secret_free(&got);
			checked++;
		}
		assert_true(checked > 0);
		for (unsigned i = 0; i < p[c].n; i++)
			backup_secret_free(&lines[i]);
		backup_secret_free(&key);
	}
}

/* A test-owned copy of a line, to change. */
static struct backup_secret line_copy(const struct backup_secret *line, char buf[SHARE_TEXT_MAX])
{
	assert_true(line->len < SHARE_TEXT_MAX);
	memcpy(buf, line->bytes, line->len);
	buf[line->len] = '\0';
	return (struct backup_secret){.bytes = (uint8_t *)buf, .len = line->len};
}

static void test_combine_refusals(void **state)
{
	struct backup_secret a_key, b_key, x_key, a[3], b[3], x[3], given[3], got;
	struct backup_key_record a_rec, b_rec, x_rec;
	char want[256], buf[SHARE_TEXT_MAX], buf2[SHARE_TEXT_MAX];
	size_t at;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &a_key));
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &b_key));
	assert_sg_ok(backup_shares_split(&a_key, 2, 3, a, &a_rec));
	assert_sg_ok(backup_shares_split(&b_key, 2, 3, b, &b_rec));
	at = a[1].len - 64; /* where share 2's hex begins */

	/* a foreign share: another backup key's */
	given[0] = a[0];
	given[1] = b[1];
	snprintf(want, sizeof(want),
		 "share 2 is not a share of backup key %s: it belongs to backup key %s", a_rec.kid,
		 b_rec.kid);
	assert_refused(&a_rec, given, 2, want, true);

	/* a wrong share: any one hex digit changed */
	for (size_t d = 0; d < 64; d++) {
		given[1] = line_copy(&a[1], buf);
		buf[at + d] = buf[at + d] == 'f'   ? '0'
			      : buf[at + d] == '9' ? 'a'
						   : (char)(buf[at + d] + 1);
		assert_refused(&a_rec, given, 2,
			       "share 2 was not made with this backup key (its hash is not among "
			       "the recorded ones)",
			       true);
	}
	/* a changed index or threshold */
	given[1] = line_copy(&a[1], buf);
	buf[at - 2] = '3';
	snprintf(want, sizeof(want),
		 "share 2 is recorded as share 2 of backup key %s, but its line says it is share 3",
		 a_rec.kid);
	assert_refused(&a_rec, given, 2, want, true);
	given[1] = line_copy(&a[1], buf);
	buf[at - 4] = '3';
	snprintf(want, sizeof(want),
		 "share 2 says 3 shares rebuild backup key %s, but its record says 2", a_rec.kid);
	assert_refused(&a_rec, given, 2, want, true);

	/* the same share twice */
	given[1] = a[0];
	assert_refused(&a_rec, given, 2, "share 2 and share 1 are the same share", true);
	given[1] = a[2];
	given[2] = a[0];
	assert_refused(&a_rec, given, 3, "share 3 and share 1 are the same share", true);

	/* too few */
	assert_refused(&a_rec, a, 1, "2 shares are needed, 1 given", true);
	assert_refused(&a_rec, a, 0, "2 shares are needed, 0 given", true);

	/* a trailing newline, of any system, is allowed */
	given[0] = line_copy(&a[0], buf);
	buf[given[0].len++] = '\n';
	given[1] = line_copy(&a[2], buf2);
	buf2[given[1].len++] = '\r';
	buf2[given[1].len++] = '\n';
	assert_sg_ok(backup_shares_combine(&a_rec, given, 2, &got));
	assert_true(memcmp(got.bytes, a_key.bytes, BACKUP_KEY_LEN) == 0);
	backup_secret_free(&got);

	/* a record whose hashes are of another key's shares: the rebuilt kid gives it away */
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &x_key));
	gfshare_make(&x_key, a_rec.kid, 2, 3, x, &x_rec);
	snprintf(want, sizeof(want), "the shares rebuild a key that is not backup key %s",
		 a_rec.kid);
	assert_refused(&x_rec, x, 2, want, false);

	for (int i = 0; i < 3; i++) {
		backup_secret_free(&a[i]);
		backup_secret_free(&b[i]);
		backup_secret_free(&x[i]);
	}
	backup_secret_free(&a_key);
	backup_secret_free(&b_key);
	backup_secret_free(&x_key);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(buf2, sizeof(buf2));
}

/* Lines that are not share lines, each refused naming its position and the part that is wrong. */
#define END 1000

static void test_combine_malformed(void **state)
{
	/* each edit: replace [from, from + cut) of the good line's text by put; from < 0 counts
	 * from the end, END is the end itself */
	static const struct {
		long from;
		size_t cut;
		const char *put, *words;
	} edits[] = {
		{.from = 0, .cut = 15, .put = "signerd-share-2", .words = "does not start"},
		{.from = 0, .cut = 0, .put = " ", .words = "does not start"},
		{.from = 15, .cut = 1, .put = "\t", .words = "does not start"},
		{.from = 15, .cut = 0, .put = " ", .words = "its kid"},
		{.from = 16, .cut = 1, .put = "A", .words = "its kid"},
		{.from = 16, .cut = 1, .put = "", .words = "its kid"},
		{.from = 16, .cut = 0, .put = "0", .words = "its kid"},
		{.from = 33, .cut = 1, .put = "02", .words = "its threshold"},
		{.from = 33, .cut = 1, .put = "1", .words = "its threshold"},
		{.from = 33, .cut = 1, .put = "17", .words = "its threshold"},
		{.from = 33, .cut = 1, .put = "x", .words = "its threshold"},
		{.from = 33, .cut = 1, .put = "", .words = "its threshold"},
		{.from = 35, .cut = 1, .put = "0", .words = "its index"},
		{.from = 35, .cut = 1, .put = "02", .words = "its index"},
		{.from = 35, .cut = 1, .put = "256", .words = "its index"},
		{.from = 35, .cut = 1, .put = "1000", .words = "its index"},
		{.from = 35, .cut = 1, .put = "-2", .words = "its index"},
		{.from = 36, .cut = 1, .put = "  ", .words = "its share"},
		{.from = -1, .cut = 1, .put = "", .words = "its share"},
		{.from = -1, .cut = 0, .put = "0", .words = "its share"},
		{.from = -1, .cut = 1, .put = "A", .words = "its share"},
		{.from = -1, .cut = 1, .put = "g", .words = "its share"},
		{.from = -1, .cut = 1, .put = ":", .words = "its share"},
		{.from = -64, .cut = 1, .put = "/", .words = "its share"},
		{.from = -32, .cut = 1, .put = "G", .words = "its share"},
		{.from = END, .cut = 0, .put = " ", .words = "its share"},
		{.from = END, .cut = 0, .put = "\n\n", .words = "its share"},
		{.from = END, .cut = 0, .put = "\t\n", .words = "its share"},
		{.from = END, .cut = 0, .put = "\n\r", .words = "its share"},
		{.from = END, .cut = 0, .put = " \n", .words = "its share"},
		{.from = -20, .cut = 1, .put = "", .words = "its share"},
	};
	struct backup_secret key, lines[2], given[2];
	struct backup_key_record rec;
	char text[SHARE_TEXT_MAX];

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_shares_split(&key, 2, 2, lines, &rec));
	given[0] = lines[0];
	/* the good line's fields are where the edits think (threshold at 33, index at 35) */
	assert_int_equal(lines[1].len, 37 + 64);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		const char *good = (const char *)lines[1].bytes;
		size_t len = lines[1].len, from, n = 0;

		from = edits[e].from == END ? len
		       : edits[e].from < 0  ? len - (size_t)(-edits[e].from)
					    : (size_t)edits[e].from;
		memcpy(text, good, from);
		n = from;
		memcpy(text + n, edits[e].put, strlen(edits[e].put));
		n += strlen(edits[e].put);
		memcpy(text + n, good + from + edits[e].cut, len - from - edits[e].cut);
		n += len - from - edits[e].cut;
		given[1] = (struct backup_secret){.bytes = (uint8_t *)text, .len = n};
		assert_refused(&rec, given, 2, "share 2 is not a share line", false);
		if (strstr(sg_errmsg(SG_ERR_PERMISSION), edits[e].words) == NULL)
			fail_msg("edit %zu: the error does not say \"%s\": %s", e, edits[e].words,
				 sg_errmsg(SG_ERR_PERMISSION));
	}
	/* empty, a NUL inside, and a line as the first share */
	given[1] = (struct backup_secret){.bytes = NULL, .len = 0};
	assert_refused(&rec, given, 2, "share 2 is empty", true);
	memcpy(text, lines[1].bytes, lines[1].len);
	text[50] = '\0';
	given[1] = (struct backup_secret){.bytes = (uint8_t *)text, .len = lines[1].len};
	assert_refused(&rec, given, 2, "share 2 is not a share line", false);
	given[0] = (struct backup_secret){.bytes = (uint8_t *)"signerd-share-1", .len = 15};
	given[1] = lines[1];
	assert_refused(&rec, given, 2, "share 1 is not a share line", false);
	sodium_memzero(text, sizeof(text));
	backup_secret_free(&lines[0]);
	backup_secret_free(&lines[1]);
	backup_secret_free(&key);
}

/* ---- the record */

static void test_record_json(void **state)
{
	struct backup_secret key, lines[5];
	struct backup_key_record rec, back;
	char created[TIME_RFC3339_LEN], *text;
	json_t *j, *loaded;
	json_error_t err;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_shares_split(&key, 3, 5, lines, &rec));
	snprintf(rec.shares[0].custodian, sizeof(rec.shares[0].custodian), "alice");
	snprintf(rec.shares[3].custodian, sizeof(rec.shares[3].custodian), "Zoë Ørsted");
	memset(rec.shares[4].custodian, 'c', BACKUP_CUSTODIAN_MAX);
	rec.shares[4].custodian[BACKUP_CUSTODIAN_MAX] = '\0';
	j = backup_key_record_json(&rec);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_sg_ok(time_format_rfc3339(rec.created_at, created));
	assert_non_null(strstr(text, "\"format\":\"signerd-backup-key-1\""));
	assert_non_null(strstr(text, created));
	assert_int_equal(created[strlen(created) - 1], 'Z');
	loaded = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	assert_non_null(loaded);
	assert_sg_ok(backup_key_record_parse(loaded, &back));
	assert_string_equal(back.kid, rec.kid);
	assert_int_equal(back.threshold, 3);
	assert_int_equal(back.n_shares, 5);
	assert_int_equal(back.created_at, rec.created_at);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(back.shares[i].index, rec.shares[i].index);
		assert_string_equal(back.shares[i].sha256, rec.shares[i].sha256);
		assert_string_equal(back.shares[i].custodian, rec.shares[i].custodian);
	}
	{
		/* and it writes back the same */
		json_t *again = backup_key_record_json(&back);

		assert_true(json_equal(again, j));
		json_decref(again);
	}
	/* the parsed record rebuilds the key */
	{
		struct backup_secret got;

		assert_sg_ok(backup_shares_combine(&back, lines + 1, 3, &got));
		assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
		backup_secret_free(&got);
	}
	json_decref(loaded);
	free(text);
	json_decref(j);
	for (int i = 0; i < 5; i++)
		backup_secret_free(&lines[i]);
	backup_secret_free(&key);
}

/* The good record with one change (a JSON text merged over it with json_object_update, or a
 * path of a share set): refused as malformed. */
static void test_record_strict(void **state)
{
	static const struct {
		const char *top;   /* merged over the record's top level */
		int share;         /* -1: none; else merged over that share */
		const char *patch; /* for the share */
		const char *drop;  /* a top-level field to remove */
		const char *words;
	} cases[] = {
		{.top = "{\"extra\":1}", .share = -1, .words = "exactly the fields"},
		{.top = "{}", .share = -1, .drop = "kid", .words = "exactly the fields"},
		{.top = "{\"format\":\"signerd-backup-key-2\"}", .share = -1, .words = "format"},
		{.top = "{\"format\":1}", .share = -1, .words = "format"},
		{.top = "{\"kid\":\"0123456789ABCDEF\"}", .share = -1, .words = "kid"},
		{.top = "{\"kid\":\"0123456789abcde\"}", .share = -1, .words = "kid"},
		{.top = "{\"kid\":12}", .share = -1, .words = "kid"},
		{.top = "{\"threshold\":\"3\"}", .share = -1, .words = "threshold"},
		{.top = "{\"threshold\":3.0}", .share = -1, .words = "threshold"},
		{.top = "{\"threshold\":1}", .share = -1, .words = "threshold"},
		{.top = "{\"threshold\":17}", .share = -1, .words = "threshold"},
		{.top = "{\"threshold\":true}", .share = -1, .words = "threshold"},
		{.top = "{\"threshold\":6}", .share = -1, .words = "shares are not a list"},
		{.top = "{\"created_at\":1767225600}", .share = -1, .words = "created_at"},
		{.top = "{\"created_at\":\"2026-02-30T00:00:00Z\"}",
		 .share = -1,
		 .words = "created_at"},
		{.top = "{\"created_at\":\"2026-01-01 00:00:00Z\"}",
		 .share = -1,
		 .words = "created_at"},
		{.top = "{\"created_at\":\"2026-01-01T00:00:00+00\"}",
		 .share = -1,
		 .words = "created_at"},
		{.top = "{\"shares\":{}}", .share = -1, .words = "shares are not a list"},
		{.top = "{\"shares\":[]}", .share = -1, .words = "shares are not a list"},
		{.top = "{}",
		 .share = 1,
		 .patch = "{\"extra\":\"\"}",
		 .words = "share 2 must have"},
		{.top = "{}",
		 .share = 0,
		 .patch = "{\"index\":\"1\"}",
		 .words = "share 1 has an index"},
		{.top = "{}",
		 .share = 0,
		 .patch = "{\"index\":0}",
		 .words = "share 1 has an index"},
		{.top = "{}",
		 .share = 0,
		 .patch = "{\"index\":256}",
		 .words = "share 1 has an index"},
		{.top = "{}",
		 .share = 0,
		 .patch = "{\"index\":-1}",
		 .words = "share 1 has an index"},
		{.top = "{}", .share = 2, .patch = "{\"index\":2}", .words = "same index or hash"},
		{.top = "{}",
		 .share = 2,
		 .patch = "{\"sha256\":\"" /* 63 */
			  "000000000000000000000000000000000000000000000000000000000000000\"}",
		 .words = "share 3 has a sha256"},
		{.top = "{}",
		 .share = 2,
		 .patch = "{\"sha256\":\""
			  "000000000000000000000000000000000000000000000000000000000000000A\"}",
		 .words = "share 3 has a sha256"},
		{.top = "{}",
		 .share = 2,
		 .patch = "{\"sha256\":null}",
		 .words = "share 3 has a sha256"},
		{.top = "{}",
		 .share = 4,
		 .patch = "{\"custodian\":5}",
		 .words = "share 5 has a custodian"},
		{.top = "{}",
		 .share = 4,
		 .patch = "{\"custodian\":"
			  "\"0123456789012345678901234567890123456789012345678901234567"
			  "890123\"}",
		 .words = "share 5 has a custodian"},
		{.top = "{}",
		 .share = 4,
		 .patch = "{\"custodian\":\"a\\nb\"}",
		 .words = "control character"},
		{.top = "{}",
		 .share = 4,
		 .patch = "{\"custodian\":\"a\\u0000b\"}",
		 .words = "share 5 has a custodian"},
	};
	struct backup_secret key, lines[5];
	struct backup_key_record rec, back;
	json_t *good;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_shares_split(&key, 3, 5, lines, &rec));
	good = backup_key_record_json(&rec);
	assert_non_null(good);
	assert_sg_ok(backup_key_record_parse(good, &back));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_t *j = json_deep_copy(good), *top = json_loads(cases[c].top, 0, NULL);

		assert_non_null(j);
		assert_non_null(top);
		assert_int_equal(json_object_update(j, top), 0);
		json_decref(top);
		if (cases[c].drop != NULL)
			assert_int_equal(json_object_del(j, cases[c].drop), 0);
		if (cases[c].share >= 0) {
			json_t *s = json_array_get(json_object_get(j, "shares"),
						   (size_t)cases[c].share);
			json_t *patch = json_loads(cases[c].patch, JSON_ALLOW_NUL, NULL);

			assert_non_null(s);
			assert_non_null(patch);
			assert_int_equal(json_object_update(s, patch), 0);
			json_decref(patch);
		}
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				cases[c].words);
		json_decref(j);
	}
	{
		/* more than 16 shares, a share that is not an object, a share missing a field,
		 * a duplicate hash, and no object at all */
		json_t *j = json_deep_copy(good), *shares = json_object_get(j, "shares");

		while (json_array_size(shares) <= BACKUP_SHARES_MAX)
			json_array_append_new(shares, json_deep_copy(json_array_get(shares, 0)));
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				"shares are not a list");
		json_decref(j);
		j = json_deep_copy(good);
		json_array_set_new(json_object_get(j, "shares"), 1, json_string("x"));
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				"share 2 must have");
		json_decref(j);
		j = json_deep_copy(good);
		json_object_del(json_array_get(json_object_get(j, "shares"), 0), "custodian");
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				"share 1 must have");
		json_decref(j);
		j = json_deep_copy(good);
		json_object_set(
			json_array_get(json_object_get(j, "shares"), 3), "sha256",
			json_object_get(json_array_get(json_object_get(j, "shares"), 0), "sha256"));
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				"shares 1 and 4 have the same index or hash");
		json_decref(j);
		j = json_array();
		assert_sg_fails(backup_key_record_parse(j, &back), SG_ERR_MALFORMED,
				"not a JSON object");
		json_decref(j);
	}
	json_decref(good);
	for (int i = 0; i < 5; i++)
		backup_secret_free(&lines[i]);
	backup_secret_free(&key);
}

/* ---- a share's file */

/* Writes len bytes to name in the scratch directory with mode, and returns its path. */
static const char *write_secret_file(const char *name, const void *bytes, size_t len, mode_t mode)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", tmp, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(write(fd, bytes, len) == (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void test_share_read(void **state)
{
	struct backup_secret key, lines[2], read[2], got;
	struct backup_key_record rec;
	char text[SHARE_TEXT_MAX + 1], big[258];
	static const mode_t modes[] = {0640, 0604, 0660, 0606, 0644};
	const char *path, *msg;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_shares_split(&key, 2, 2, lines, &rec));
	for (int i = 0; i < 2; i++) {
		char name[16];

		memcpy(text, lines[i].bytes, lines[i].len);
		text[lines[i].len] = '\n';
		snprintf(name, sizeof(name), "share%d", i + 1);
		path = write_secret_file(name, text, lines[i].len + 1, 0600);
		assert_sg_ok(backup_share_read(path, &read[i]));
		assert_int_equal(read[i].len, lines[i].len + 1);
		assert_true(memcmp(read[i].bytes, text, lines[i].len + 1) == 0);
		assert_int_equal(read[i].bytes[read[i].len], '\0');
	}
	/* as read from their files, they rebuild the key */
	assert_sg_ok(backup_shares_combine(&rec, read, 2, &got));
	assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
	backup_secret_free(&got);
	backup_secret_free(&read[1]);

	/* a file group or others may read is refused, without a word of its content */
	memcpy(text, lines[1].bytes, lines[1].len);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		path = write_secret_file("open", text, lines[1].len, modes[m]);
		assert_sg_fails(backup_share_read(path, &read[1]), SG_ERR_PERMISSION, "share file");
		msg = sg_errmsg(SG_ERR_PERMISSION);
		assert_non_null(strstr(msg, "owner-only"));
		assert_no_share_in(msg, lines, 2);
		assert_null(read[1].bytes);
	}
	/* 256 bytes at most; not empty; there; not a symbolic link */
	memset(big, 'a', sizeof(big));
	path = write_secret_file("max", big, 256, 0600);
	assert_sg_ok(backup_share_read(path, &read[1]));
	assert_int_equal(read[1].len, 256);
	backup_secret_free(&read[1]);
	path = write_secret_file("long", big, 257, 0600);
	assert_sg_fails(backup_share_read(path, &read[1]), SG_ERR_OVERFLOW,
			"longer than 256 bytes");
	path = write_secret_file("empty", "", 0, 0600);
	assert_sg_fails(backup_share_read(path, &read[1]), SG_ERR_MALFORMED, "is empty");
	{
		char missing[512], link[512];

		snprintf(missing, sizeof(missing), "%s/missing", tmp);
		assert_sg_fails(backup_share_read(missing, &read[1]), SG_ERR_NOT_FOUND, "missing");
		snprintf(link, sizeof(link), "%s/link", tmp);
		assert_int_equal(
			symlink(write_secret_file("target", text, lines[1].len, 0600), link), 0);
		assert_sg_fails(backup_share_read(link, &read[1]), SG_ERR_PERMISSION,
				"symbolic link");
	}
	/* "-": standard input */
	{
		int fds[2], saved = dup(STDIN_FILENO), r;

		assert_true(saved >= 0);
		assert_int_equal(pipe(fds), 0);
		assert_true(write(fds[1], lines[1].bytes, lines[1].len) == (ssize_t)lines[1].len);
		close(fds[1]);
		assert_true(dup2(fds[0], STDIN_FILENO) == STDIN_FILENO);
		close(fds[0]);
		r = backup_share_read("-", &read[1]);
		assert_true(dup2(saved, STDIN_FILENO) == STDIN_FILENO);
		close(saved);
		assert_sg_ok(r);
		assert_int_equal(read[1].len, lines[1].len);
		assert_true(memcmp(read[1].bytes, lines[1].bytes, lines[1].len) == 0);
		assert_sg_ok(backup_shares_combine(&rec, read, 2, &got));
		assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
		backup_secret_free(&got);
		backup_secret_free(&read[1]);
	}
	sodium_memzero(text, sizeof(text));
	backup_secret_free(&read[0]);
	for (int i = 0; i < 2; i++)
		backup_secret_free(&lines[i]);
	backup_secret_free(&key);
}

/* ---- a share's OpenPGP message, read back by gpg */

static char gnupg_home[512];
static char fpr_x[41], fpr_x_sub[41], fpr_y[41];

/* Runs a shell command with GNUPGHOME set, quietly; true when it exits 0. */
static bool gpg_run(const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "GNUPGHOME='%s' gpg --batch --no-tty --quiet --pinentry-mode loopback "
		 "--passphrase '' %s >/dev/null 2>&1",
		 gnupg_home, args);
	return system(cmd) == 0;
}

/* The n-th fingerprint (0: the primary key's) of the key with user id uid. */
static bool gpg_fpr(const char *uid, int n, char out[41])
{
	char cmd[1024], line[512];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "GNUPGHOME='%s' gpg --batch --no-tty --with-colons --list-keys '%s' 2>/dev/null",
		 gnupg_home, uid);
	p = popen(cmd, "r");
	if (p == NULL)
		return false;
	while (fgets(line, sizeof(line), p) != NULL)
		if (strncmp(line, "fpr:", 4) == 0 && n-- == 0) {
			/* fpr:::::::::FINGERPRINT: */
			char *f = line;

			for (int colons = 0; colons < 9 && f != NULL; colons++)
				f = strchr(f, ':') != NULL ? strchr(f, ':') + 1 : NULL;
			if (f != NULL && strlen(f) > 40 && f[40] == ':') {
				memcpy(out, f, 40);
				out[40] = '\0';
				found = true;
			}
		}
	return pclose(p) == 0 && found;
}

static void gpg_kill_agent(void)
{
	char cmd[1024];

	if (gnupg_home[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "gpgconf --homedir '%s' --kill all >/dev/null 2>&1", gnupg_home);
	if (system(cmd) != 0)
		fprintf(stderr, "gpgconf --kill all failed for %s\n", gnupg_home);
}

/* A keyring: x with an encryption subkey, y with none. */
static int gpg_setup(void **state)
{
	char args[256];

	(void)state;
	snprintf(gnupg_home, sizeof(gnupg_home), "%s/gnupg", tmp);
	if (mkdir(gnupg_home, 0700) != 0)
		return -1;
	if (!gpg_run("--quick-gen-key 'x <x@test>' ed25519 sign never") ||
	    !gpg_fpr("x@test", 0, fpr_x))
		goto fail;
	snprintf(args, sizeof(args), "--quick-add-key %s cv25519 encr never", fpr_x);
	if (!gpg_run(args) || !gpg_fpr("x@test", 1, fpr_x_sub) ||
	    !gpg_run("--quick-gen-key 'y <y@test>' ed25519 sign never") ||
	    !gpg_fpr("y@test", 0, fpr_y))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "could not make the test keyring in %s\n", gnupg_home);
	gpg_kill_agent();
	return -1;
}

static int gpg_teardown(void **state)
{
	(void)state;
	gpg_kill_agent();
	return 0;
}

static void test_share_encrypt(void **state)
{
	struct backup_secret key, lines[2], given[2], got;
	struct backup_key_record rec;
	char *armored = NULL, cmd[1024], plain[SHARE_TEXT_MAX + 1], lower[41];
	const char *path;
	size_t n;
	FILE *p;

	(void)state;
	assert_sg_ok(backup_secret_random(BACKUP_KEY_LEN, &key));
	assert_sg_ok(backup_shares_split(&key, 2, 2, lines, &rec));
	assert_sg_ok(backup_share_encrypt(gnupg_home, fpr_x, &lines[0], &armored));
	assert_non_null(armored);
	assert_true(strncmp(armored, "-----BEGIN PGP MESSAGE-----", 27) == 0);
	assert_no_share_in(armored, lines, 2);
	path = write_secret_file("share1.asc", armored, strlen(armored), 0600);
	free(armored);
	armored = NULL;
	/* gpg reads it back to the very line */
	snprintf(
		cmd, sizeof(cmd),
		"GNUPGHOME='%s' gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase "
		"'' --decrypt '%s' 2>/dev/null",
		gnupg_home, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(plain, 1, sizeof(plain), p);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(n, lines[0].len);
	assert_true(memcmp(plain, lines[0].bytes, n) == 0);
	/* and, as decrypted, it rebuilds the key with the other share */
	given[0] = (struct backup_secret){.bytes = (uint8_t *)plain, .len = n};
	given[1] = lines[1];
	assert_sg_ok(backup_shares_combine(&rec, given, 2, &got));
	assert_true(memcmp(got.bytes, key.bytes, BACKUP_KEY_LEN) == 0);
	backup_secret_free(&got);
	sodium_memzero(plain, sizeof(plain));

	/* the fingerprint's case does not matter */
	for (int i = 0; i <= 40; i++)
		lower[i] = (char)(fpr_x[i] >= 'A' && fpr_x[i] <= 'F' ? fpr_x[i] - 'A' + 'a'
								     : fpr_x[i]);
	assert_sg_ok(backup_share_encrypt(gnupg_home, lower, &lines[1], &armored));
	free(armored);
	armored = NULL;

	/* refused: a key the keyring does not hold, a key that cannot encrypt, a subkey's
	 * fingerprint, anything but 40 hex digits */
	assert_sg_fails(backup_share_encrypt(gnupg_home, "0123456789ABCDEF0123456789ABCDEF01234567",
					     &lines[0], &armored),
			SG_ERR_NOT_FOUND, "is not in");
	assert_null(armored);
	assert_sg_fails(backup_share_encrypt(gnupg_home, fpr_y, &lines[0], &armored),
			SG_ERR_INVALID_ARGUMENT, "no encryption subkey");
	assert_null(armored);
	assert_sg_fails(backup_share_encrypt(gnupg_home, fpr_x_sub, &lines[0], &armored),
			SG_ERR_PERMISSION, "is not a primary key");
	assert_null(armored);
	assert_sg_fails(backup_share_encrypt(gnupg_home, fpr_x + 24, &lines[0], &armored),
			SG_ERR_INVALID_ARGUMENT, "40 hex digits");
	assert_sg_fails(backup_share_encrypt(gnupg_home, "x@test", &lines[0], &armored),
			SG_ERR_INVALID_ARGUMENT, "40 hex digits");
	assert_null(armored);
	for (int i = 0; i < 2; i++)
		backup_secret_free(&lines[i]);
	backup_secret_free(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_kwp_rfc5649_vectors),
		cmocka_unit_test(test_kwp_round_trips_openssl),
		cmocka_unit_test(test_kwp_largest),
		cmocka_unit_test(test_kwp_tamper),
		cmocka_unit_test(test_kwp_checks),
		cmocka_unit_test(test_kwp_lengths),
		cmocka_unit_test(test_pkcs8_ed25519),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_split_combine),
		cmocka_unit_test(test_split_arguments),
		cmocka_unit_test(test_gfshare_reads_ours),
		cmocka_unit_test(test_we_read_gfshare),
		cmocka_unit_test(test_combine_refusals),
		cmocka_unit_test(test_combine_malformed),
		cmocka_unit_test(test_record_json),
		cmocka_unit_test(test_record_strict),
		cmocka_unit_test(test_share_read),
		cmocka_unit_test_setup_teardown(test_share_encrypt, gpg_setup, gpg_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
