/* Keccak-256 as Ethereum uses it: the original Keccak padding (domain byte 0x01), not FIPS 202
 * SHA3-256 (0x06). Rate 136 bytes, capacity 512 bits. */
#ifndef SIGNER_COMMON_KECCAK_H
#define SIGNER_COMMON_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define KECCAK256_DIGEST_LEN 32

struct keccak256_ctx {
	uint64_t state[25];
	size_t pos; /* bytes absorbed into the current block */
};

void keccak256_init(struct keccak256_ctx *ctx);
void keccak256_update(struct keccak256_ctx *ctx, const void *data, size_t len);
void keccak256_final(struct keccak256_ctx *ctx, uint8_t out[KECCAK256_DIGEST_LEN]);
void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_DIGEST_LEN]);

#endif
