#include "chain/evm/sig.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <gmp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "common/address.h"
#include "common/keccak.h"

static secp256k1_context *sig_ctx;
static pthread_once_t sig_ctx_once = PTHREAD_ONCE_INIT;

/* One context for the process: verify and recover only read it. */
static void sig_ctx_create(void)
{
	sig_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
}

static secp256k1_context *sig_context(void)
{
	pthread_once(&sig_ctx_once, sig_ctx_create);
	return sig_ctx;
}

/* The order n of secp256k1's group, big-endian. */
static const uint8_t sig_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
	0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};

/* t = -2 z r^-1 mod n, big-endian: false when it is 0 (or r has no inverse). Everything here
 * is public (the digest and r), so plain GMP will do. */
static bool sig_pair_sum_scalar(const uint8_t digest[32], const uint8_t r[32], uint8_t t[32])
{
	mpz_t n, z, v;
	size_t len = 0;
	bool ok;

	mpz_inits(n, z, v, NULL);
	mpz_import(n, 32, 1, 1, 1, 0, sig_order);
	mpz_import(z, 32, 1, 1, 1, 0, digest);
	mpz_import(v, 32, 1, 1, 1, 0, r);
	ok = mpz_invert(v, v, n) != 0;
	if (ok) {
		mpz_mul(v, v, z);
		mpz_mul_2exp(v, v, 1);
		mpz_neg(v, v);
		mpz_mod(v, v, n); /* in [0, n) */
		ok = mpz_sgn(v) != 0;
	}
	if (ok) {
		memset(t, 0, 32);
		mpz_export(t + 32 - (mpz_sizeinbase(v, 256)), &len, 1, 1, 1, 0, v);
		ok = len >= 1 && len <= 32;
	}
	mpz_clears(n, z, v, NULL);
	return ok;
}

/* Whether got0 (recovered with recovery id 0) and want are the two keys that (r, s) recovers
 * to over digest, so that want is recovery id 1's. The two candidate points R and -R give
 * Q0 = r^-1 (s R - z G) and Q1 = r^-1 (-s R - z G), so Q0 + Q1 = -2 z r^-1 G: one fixed-base
 * multiplication instead of a second recovery. False when any step fails (the caller then
 * recovers with id 1 itself). */
static bool sig_is_pair(secp256k1_context *ctx, const uint8_t digest[32], const uint8_t r[32],
			const secp256k1_pubkey *got0, const secp256k1_pubkey *want)
{
	const secp256k1_pubkey *both[2] = {got0, want};
	secp256k1_pubkey sum, expect;
	uint8_t t[32];

	return sig_pair_sum_scalar(digest, r, t) && secp256k1_ec_pubkey_create(ctx, &expect, t) &&
	       secp256k1_ec_pubkey_combine(ctx, &sum, both, 2) &&
	       secp256k1_ec_pubkey_cmp(ctx, &sum, &expect) == 0;
}

int evm_sig_finish(const uint8_t digest[32], const uint8_t raw[64], const uint8_t pubkey[65],
		   struct evm_sig *out)
{
	secp256k1_context *ctx = sig_context();
	secp256k1_ecdsa_signature sig;
	secp256k1_pubkey want;
	uint8_t compact[64];

	if (ctx == NULL)
		return sg_fail(SG_ERR_NOMEM, "no secp256k1 context");
	if (!secp256k1_ec_pubkey_parse(ctx, &want, pubkey, 65))
		return sg_fail(SG_ERR_VERIFY, "the key's public key is not a secp256k1 point");
	if (!secp256k1_ecdsa_signature_parse_compact(ctx, &sig, raw))
		return sg_fail(SG_ERR_VERIFY, "the token's signature has r or s out of range");
	/* EIP-2: s in the lower half; (r, n - s) is the same signature, mirrored */
	secp256k1_ecdsa_signature_normalize(ctx, &sig, &sig);
	secp256k1_ecdsa_signature_serialize_compact(ctx, compact, &sig);
	memcpy(out->r, compact, 32);
	memcpy(out->s, compact + 32, 32);
	/* Recovery is verification: the point recovered from (r, s, recid) over the digest is the
	 * key's public key exactly when the signature verifies for it. The recovery id that gives
	 * it is the one Ethereum's v carries. Half the time it is 1: then the point that id 0
	 * recovered and the key's sum to a point one fixed-base multiplication gives (sig_is_pair),
	 * which costs half a second recovery; only when that cannot say is id 1 recovered too. */
	for (int recid = 0; recid < 2; recid++) {
		secp256k1_ecdsa_recoverable_signature rsig;
		secp256k1_pubkey got;

		if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, compact,
									 recid) ||
		    !secp256k1_ecdsa_recover(ctx, &got, &rsig, digest))
			continue;
		if (secp256k1_ec_pubkey_cmp(ctx, &got, &want) == 0) {
			out->recid = recid;
			return SG_OK;
		}
		if (recid == 0 && sig_is_pair(ctx, digest, compact, &got, &want)) {
			out->recid = 1;
			return SG_OK;
		}
	}
	/* recids 2 and 3 need r >= n - p: about 2^-127, and Ethereum cannot express them; a
	 * signature that does not verify at all lands here too */
	if (!secp256k1_ecdsa_verify(ctx, &sig, digest, &want))
		return sg_fail(SG_ERR_VERIFY, "the token's signature does not verify");
	return sg_fail(SG_ERR_VERIFY, "no recovery id 0 or 1 gives the key's public key");
}

int evm_sig_recover_address(const uint8_t digest[32], const struct evm_sig *sig,
			    uint8_t address[20])
{
	secp256k1_context *ctx = sig_context();
	secp256k1_ecdsa_recoverable_signature rsig;
	secp256k1_pubkey pub;
	uint8_t compact[64], pub65[65];
	size_t len = sizeof(pub65);

	if (ctx == NULL)
		return sg_fail(SG_ERR_NOMEM, "no secp256k1 context");
	memcpy(compact, sig->r, 32);
	memcpy(compact + 32, sig->s, 32);
	if (sig->recid < 0 || sig->recid > 3 ||
	    !secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, compact, sig->recid) ||
	    !secp256k1_ecdsa_recover(ctx, &pub, &rsig, digest))
		return sg_fail(SG_ERR_VERIFY, "no public key recovers from the signature");
	secp256k1_ec_pubkey_serialize(ctx, pub65, &len, &pub, SECP256K1_EC_UNCOMPRESSED);
	return addr_evm_from_pubkey(pub65, len, address);
}

void evm_personal_hash(const uint8_t *msg, size_t len, uint8_t out[32])
{
	static const char prefix[] = "\x19"
				     "Ethereum Signed Message:\n";
	struct keccak256_ctx ctx;
	char decimal[24];
	int n = snprintf(decimal, sizeof(decimal), "%zu", len);

	keccak256_init(&ctx);
	keccak256_update(&ctx, prefix, sizeof(prefix) - 1);
	keccak256_update(&ctx, decimal, (size_t)n);
	keccak256_update(&ctx, msg, len);
	keccak256_final(&ctx, out);
}
