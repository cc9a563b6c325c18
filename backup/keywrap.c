/* RFC 5649 (AES key wrap with padding) on nettle's AES, with the key schedule and every
 * intermediate value in locked memory; and the RFC 8410 PKCS#8 form of an Ed25519 seed. */
#include "backup/keywrap.h"

#include <stdbool.h>
#include <string.h>

#include <nettle/aes.h>
#include <sodium.h>

#define KEYWRAP_IN_MAX 65536 /* the most bytes wrapped: 8192 semiblocks */
#define SEMIBLOCK      8

/* The working state of one wrap or unwrap: the key schedule, the AES block B, the integrity
 * register A and the n semiblocks R[1..n], all in one sodium_malloc'd region. */
struct kw_work {
	union {
		struct aes128_ctx a128;
		struct aes192_ctx a192;
		struct aes256_ctx a256;
	} aes;
	size_t kek_len;
	size_t alloc;
	uint8_t b[AES_BLOCK_SIZE];
	uint8_t a[SEMIBLOCK];
	uint8_t r[]; /* n * 8 */
};

size_t keywrap_pad_wrapped_len(size_t in_len)
{
	size_t padded = (in_len + SEMIBLOCK - 1) / SEMIBLOCK * SEMIBLOCK;

	return padded < SEMIBLOCK ? 2 * SEMIBLOCK : SEMIBLOCK + padded;
}

static int kw_kek_check(size_t kek_len)
{
	if (kek_len != 16 && kek_len != 24 && kek_len != 32)
		return sg_fail(
			SG_ERR_INVALID_ARGUMENT,
			"a key-wrapping key is 16, 24 or 32 bytes (AES-128, -192, -256), not "
			"%zu",
			kek_len);
	return SG_OK;
}

/* A work area for r_len bytes of semiblocks with the AES key schedule of kek (for decrypting
 * when decrypt). */
static int kw_work_new(const uint8_t *kek, size_t kek_len, size_t r_len, bool decrypt,
		       struct kw_work **out)
{
	/* sodium_malloc puts the region's end at a page boundary, so its start is only as aligned
	 * as its size: round the size up to 16 for the key schedule's words */
	size_t alloc = (sizeof(struct kw_work) + r_len + 15) / 16 * 16;
	struct kw_work *w;

	*out = NULL;
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	w = sodium_malloc(alloc);
	if (w == NULL)
		return sg_fail(SG_ERR_NOMEM, "no locked memory for a key wrap of %zu bytes", r_len);
	sodium_memzero(w, alloc);
	w->alloc = alloc;
	w->kek_len = kek_len;
	switch (kek_len) {
	case 16:
		if (decrypt)
			aes128_set_decrypt_key(&w->aes.a128, kek);
		else
			aes128_set_encrypt_key(&w->aes.a128, kek);
		break;
	case 24:
		if (decrypt)
			aes192_set_decrypt_key(&w->aes.a192, kek);
		else
			aes192_set_encrypt_key(&w->aes.a192, kek);
		break;
	default:
		if (decrypt)
			aes256_set_decrypt_key(&w->aes.a256, kek);
		else
			aes256_set_encrypt_key(&w->aes.a256, kek);
		break;
	}
	*out = w;
	return SG_OK;
}

static void kw_work_free(struct kw_work *w)
{
	if (w != NULL) {
		sodium_memzero(w, w->alloc);
		sodium_free(w);
	}
}

/* B = AES(K, B), in place (nettle allows dst == src). */
static void kw_encrypt(struct kw_work *w)
{
	if (w->kek_len == 16)
		aes128_encrypt(&w->aes.a128, AES_BLOCK_SIZE, w->b, w->b);
	else if (w->kek_len == 24)
		aes192_encrypt(&w->aes.a192, AES_BLOCK_SIZE, w->b, w->b);
	else
		aes256_encrypt(&w->aes.a256, AES_BLOCK_SIZE, w->b, w->b);
}

/* B = AES-1(K, B), in place. */
static void kw_decrypt(struct kw_work *w)
{
	if (w->kek_len == 16)
		aes128_decrypt(&w->aes.a128, AES_BLOCK_SIZE, w->b, w->b);
	else if (w->kek_len == 24)
		aes192_decrypt(&w->aes.a192, AES_BLOCK_SIZE, w->b, w->b);
	else
		aes256_decrypt(&w->aes.a256, AES_BLOCK_SIZE, w->b, w->b);
}

/* RFC 3394 2.2.1: "A = MSB(64, B) ^ t where t = (n*j)+i", t as a 64-bit big-endian number. */
static void kw_xor_t(uint8_t a[SEMIBLOCK], uint64_t t)
{
	for (int k = SEMIBLOCK - 1; k >= 0; k--, t >>= 8)
		a[k] ^= (uint8_t)(t & 0xff);
}

int keywrap_pad_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t in_len,
		     uint8_t *out, size_t *out_len)
{
	struct kw_work *w = NULL;
	size_t padded, n;
	int r;

	*out_len = 0;
	if ((r = kw_kek_check(kek_len)) != SG_OK)
		return r;
	if (in_len == 0 || in_len > KEYWRAP_IN_MAX)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a key to wrap is 1 to %d bytes, not %zu",
			       KEYWRAP_IN_MAX, in_len);
	/* RFC 5649 4.1: "the plaintext is padded on the right with m zeros, where m = 8*n - mli" */
	padded = (in_len + SEMIBLOCK - 1) / SEMIBLOCK * SEMIBLOCK;
	n = padded / SEMIBLOCK;
	if ((r = kw_work_new(kek, kek_len, padded, false, &w)) != SG_OK)
		return r;
	memcpy(w->r, in, in_len);
	/* RFC 5649 3: "AIV = A65959A6 || MLI", MLI the octet length as a 32-bit big-endian number
	 */
	w->a[0] = 0xa6;
	w->a[1] = 0x59;
	w->a[2] = 0x59;
	w->a[3] = 0xa6;
	w->a[4] = (uint8_t)(in_len >> 24);
	w->a[5] = (uint8_t)(in_len >> 16);
	w->a[6] = (uint8_t)(in_len >> 8);
	w->a[7] = (uint8_t)in_len;
	if (n == 1) {
		/* RFC 5649 4.1: "If the padded plaintext contains exactly eight octets, then
		 * prepend the AIV ... and encrypt the resulting 128-bit block using AES in ECB
		 * mode" */
		memcpy(w->b, w->a, SEMIBLOCK);
		memcpy(w->b + SEMIBLOCK, w->r, SEMIBLOCK);
		kw_encrypt(w);
		memcpy(out, w->b, AES_BLOCK_SIZE);
	} else {
		/* RFC 3394 2.2.1, with the AIV as the initial value */
		for (uint64_t j = 0; j <= 5; j++)
			for (size_t i = 1; i <= n; i++) {
				uint8_t *ri = w->r + (i - 1) * SEMIBLOCK;

				memcpy(w->b, w->a, SEMIBLOCK);
				memcpy(w->b + SEMIBLOCK, ri, SEMIBLOCK);
				kw_encrypt(w);
				memcpy(w->a, w->b, SEMIBLOCK);
				kw_xor_t(w->a, (uint64_t)n * j + i);
				memcpy(ri, w->b + SEMIBLOCK, SEMIBLOCK);
			}
		memcpy(out, w->a, SEMIBLOCK);
		memcpy(out + SEMIBLOCK, w->r, padded);
	}
	*out_len = SEMIBLOCK + padded;
	kw_work_free(w);
	return SG_OK;
}

int keywrap_pad_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t in_len,
		       struct backup_secret *out)
{
	struct kw_work *w = NULL;
	unsigned bad = 0;
	uint8_t pad = 0;
	uint32_t mli;
	size_t n;
	int r;

	out->bytes = NULL;
	out->len = 0;
	if ((r = kw_kek_check(kek_len)) != SG_OK)
		return r;
	/* RFC 5649 4.2: the ciphertext is n+1 semiblocks, n >= 1 */
	if (in_len < 2 * SEMIBLOCK || in_len % SEMIBLOCK != 0 ||
	    in_len > keywrap_pad_wrapped_len(KEYWRAP_IN_MAX))
		return sg_fail(SG_ERR_MALFORMED,
			       "a wrapped key is 16 to %zu bytes, a multiple of 8; this one is %zu "
			       "bytes",
			       keywrap_pad_wrapped_len(KEYWRAP_IN_MAX), in_len);
	n = in_len / SEMIBLOCK - 1;
	if ((r = kw_work_new(kek, kek_len, n * SEMIBLOCK, true, &w)) != SG_OK)
		return r;
	if (n == 1) {
		/* RFC 5649 4.2: "When n is equal to 1, the ciphertext contains exactly two 64-bit
		 * blocks and they are decrypted as a single AES block using AES in ECB mode" */
		memcpy(w->b, in, AES_BLOCK_SIZE);
		kw_decrypt(w);
		memcpy(w->a, w->b, SEMIBLOCK);
		memcpy(w->r, w->b + SEMIBLOCK, SEMIBLOCK);
	} else {
		/* RFC 3394 2.2.2 */
		memcpy(w->a, in, SEMIBLOCK);
		memcpy(w->r, in + SEMIBLOCK, n * SEMIBLOCK);
		for (uint64_t j = 6; j-- > 0;)
			for (size_t i = n; i >= 1; i--) {
				uint8_t *ri = w->r + (i - 1) * SEMIBLOCK;

				memcpy(w->b, w->a, SEMIBLOCK);
				kw_xor_t(w->b, (uint64_t)n * j + i);
				memcpy(w->b + SEMIBLOCK, ri, SEMIBLOCK);
				kw_decrypt(w);
				memcpy(w->a, w->b, SEMIBLOCK);
				memcpy(ri, w->b + SEMIBLOCK, SEMIBLOCK);
			}
	}
	/* RFC 5649 3, the three checks, all made before one answer (no early exit that would tell
	 * which failed): "MSB(32,A) = A65959A6", "8*(n-1) < LSB(32,A) <= 8*n", and "the rightmost
	 * b = 8*n - MLI octets of P are zero" */
	bad |= (unsigned)(w->a[0] ^ 0xa6) | (unsigned)(w->a[1] ^ 0x59) |
	       (unsigned)(w->a[2] ^ 0x59) | (unsigned)(w->a[3] ^ 0xa6);
	mli = (uint32_t)w->a[4] << 24 | (uint32_t)w->a[5] << 16 | (uint32_t)w->a[6] << 8 |
	      (uint32_t)w->a[7];
	bad |= (unsigned)(mli <= SEMIBLOCK * (n - 1)) | (unsigned)(mli > SEMIBLOCK * n);
	for (size_t k = SEMIBLOCK * (n - 1); k < SEMIBLOCK * n; k++)
		pad |= (uint8_t)(w->r[k] & (uint8_t)(0U - (unsigned)(k >= mli)));
	if (bad != 0 || pad != 0) {
		r = sg_fail(SG_ERR_VERIFY, "the wrapped key fails its integrity check (RFC 5649): "
					   "it was wrapped under another key, or it was changed");
		goto out;
	}
	if ((r = backup_secret_new(mli, out)) != SG_OK)
		goto out;
	memcpy(out->bytes, w->r, mli);
out:
	kw_work_free(w);
	return r;
}

/* RFC 8410 7: PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier { id-Ed25519
 * (1.3.101.112) } with parameters absent, privateKey OCTET STRING { CurvePrivateKey ::= OCTET
 * STRING (32) } } */
static const uint8_t pkcs8_ed25519_prefix[16] = {
	0x30, 0x2e,                               /* SEQUENCE, 46 */
	0x02, 0x01, 0x00,                         /* INTEGER 0 (v1) */
	0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, /* SEQUENCE { OID 1.3.101.112 } */
	0x04, 0x22, 0x04, 0x20,                   /* OCTET STRING { OCTET STRING (32) } */
};

void pkcs8_ed25519_encode(const uint8_t seed[32], uint8_t out[PKCS8_ED25519_LEN])
{
	memcpy(out, pkcs8_ed25519_prefix, sizeof(pkcs8_ed25519_prefix));
	memcpy(out + sizeof(pkcs8_ed25519_prefix), seed, 32);
}

int pkcs8_ed25519_decode(const uint8_t *der, size_t len, uint8_t seed[32])
{
	/* only the one DER form RFC 8410 gives: no public key attribute, no v2, no other curve */
	if (len != PKCS8_ED25519_LEN ||
	    memcmp(der, pkcs8_ed25519_prefix, sizeof(pkcs8_ed25519_prefix)) != 0)
		return sg_fail(
			SG_ERR_MALFORMED,
			"the key is not an Ed25519 private key in PKCS#8 (RFC 8410: 48 bytes, "
			"302e020100300506032b657004220420 and the 32-byte seed)");
	memcpy(seed, der + sizeof(pkcs8_ed25519_prefix), 32);
	return SG_OK;
}
