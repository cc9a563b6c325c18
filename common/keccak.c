#include "common/keccak.h"

#include <string.h>

#include <sodium.h>

#define KECCAK256_RATE 136

static const uint64_t keccak_round_constants[24] = {
	0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
	0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
	0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
	0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
	0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
	0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets and the pi lane order, walking the lanes as FIPS 202 section 3.2 does. */
static const unsigned keccak_rho[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
					27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned keccak_pi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
				       15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static uint64_t rotl64(uint64_t x, unsigned n)
{
	return x << n | x >> (64 - n);
}

static void keccak_f1600(uint64_t st[25])
{
	uint64_t bc[5], t;

	for (int round = 0; round < 24; round++) {
		/* theta */
		for (int i = 0; i < 5; i++)
			bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
		for (int i = 0; i < 5; i++) {
			t = bc[(i + 4) % 5] ^ rotl64(bc[(i + 1) % 5], 1);
			for (int j = 0; j < 25; j += 5)
				st[j + i] ^= t;
		}
		/* rho and pi */
		t = st[1];
		for (int i = 0; i < 24; i++) {
			unsigned j = keccak_pi[i];

			bc[0] = st[j];
			st[j] = rotl64(t, keccak_rho[i]);
			t = bc[0];
		}
		/* chi */
		for (int j = 0; j < 25; j += 5) {
			for (int i = 0; i < 5; i++)
				bc[i] = st[j + i];
			for (int i = 0; i < 5; i++)
				st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
		}
		/* iota */
		st[0] ^= keccak_round_constants[round];
	}
}

/* Lanes are little-endian: byte i of the block goes to bits 8*(i%8) of lane i/8. */
static void keccak_xor_byte(uint64_t st[25], size_t i, uint8_t b)
{
	st[i / 8] ^= (uint64_t)b << (8 * (i % 8));
}

void keccak256_init(struct keccak256_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void keccak256_update(struct keccak256_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		keccak_xor_byte(ctx->state, ctx->pos, p[i]);
		if (++ctx->pos == KECCAK256_RATE) {
			keccak_f1600(ctx->state);
			ctx->pos = 0;
		}
	}
}

void keccak256_final(struct keccak256_ctx *ctx, uint8_t out[KECCAK256_DIGEST_LEN])
{
	/* pad10*1 with the original Keccak domain bit: 0x01 first, 0x80 last (one byte 0x81 when
	 * a single byte of the block is left). */
	keccak_xor_byte(ctx->state, ctx->pos, 0x01);
	keccak_xor_byte(ctx->state, KECCAK256_RATE - 1, 0x80);
	keccak_f1600(ctx->state);
	for (size_t i = 0; i < KECCAK256_DIGEST_LEN; i++)
		out[i] = (uint8_t)(ctx->state[i / 8] >> (8 * (i % 8)));
	sodium_memzero(ctx, sizeof(*ctx));
}

void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_DIGEST_LEN])
{
	struct keccak256_ctx ctx;

	keccak256_init(&ctx);
	keccak256_update(&ctx, data, len);
	keccak256_final(&ctx, out);
}
