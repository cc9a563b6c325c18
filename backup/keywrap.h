/* AES key wrap with padding (RFC 5649, NIST SP 800-38F KWP), the format PKCS#11's
 * CKM_AES_KEY_WRAP_PAD writes, so that a blob the token wrapped and a blob signerctl wrapped in
 * locked memory read alike; and the PKCS#8 form of an Ed25519 private key (RFC 8410) that goes
 * inside. The AES key schedule lives in locked memory too. */
#ifndef SIGNER_BACKUP_KEYWRAP_H
#define SIGNER_BACKUP_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "backup/secret.h"
#include "common/err.h"

/* The wrapped length of in_len bytes: 8 + in_len rounded up to a multiple of 8 (16 at least). */
size_t keywrap_pad_wrapped_len(size_t in_len);

/* Wraps in (1 to 65536 bytes) under kek (16, 24 or 32 bytes) into out (room for
 * keywrap_pad_wrapped_len(in_len)). */
SG_MUST_CHECK int keywrap_pad_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in,
				   size_t in_len, uint8_t *out, size_t *out_len);
/* Unwraps into locked memory; SG_ERR_VERIFY when the integrity check fails (a wrong key or a
 * changed blob), SG_ERR_MALFORMED when the length cannot be a wrapped one. */
SG_MUST_CHECK int keywrap_pad_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in,
				     size_t in_len, struct backup_secret *out);

#define PKCS8_ED25519_LEN 48

/* The 48-byte PKCS#8 v1 PrivateKeyInfo of an Ed25519 seed (RFC 8410, section 7). */
void pkcs8_ed25519_encode(const uint8_t seed[32], uint8_t out[PKCS8_ED25519_LEN]);
/* The seed of exactly that form; SG_ERR_MALFORMED for anything else. */
SG_MUST_CHECK int pkcs8_ed25519_decode(const uint8_t *der, size_t len, uint8_t seed[32]);

#endif
