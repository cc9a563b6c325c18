/* Hex, Base58 (Bitcoin alphabet, as Solana uses it). Decoders are strict: anything outside the
 * alphabet, an odd hex length or a result that does not fit is an error. */
#ifndef SIGNER_COMMON_ENCODING_H
#define SIGNER_COMMON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Lower-case hex of n bytes; out needs 2n+1 bytes. */
SG_MUST_CHECK int hex_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Decodes exactly len hex characters (no prefix) into out. */
SG_MUST_CHECK int hex_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
			     size_t *outlen);
/* Like hex_decode, but the text must start with "0x". */
SG_MUST_CHECK int hex_decode_0x(const char *in, size_t len, uint8_t *out, size_t outcap,
				size_t *outlen);

/* The most characters Base58 needs for n bytes, plus the terminator. */
#define B58_ENCODED_MAX(n) ((n)*138 / 100 + 2)

SG_MUST_CHECK int b58_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
SG_MUST_CHECK int b58_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
			     size_t *outlen);

#endif
