#include "chain/evm/sig.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
	 * it is the one Ethereum's v carries. */
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
