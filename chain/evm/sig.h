/* ECDSA secp256k1 signatures as Ethereum wants them: s normalised to the lower half of the
 * order (EIP-2), the recovery id found against the key's public key, and the signature verified
 * before it is used. A token's CKM_ECDSA gives raw r || s with whatever s it drew. */
#ifndef SIGNER_CHAIN_EVM_SIG_H
#define SIGNER_CHAIN_EVM_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct evm_sig {
	uint8_t r[32];
	uint8_t s[32]; /* always low */
	int recid;     /* 0 or 1: the parity of R.y */
};

/* From the token's raw r || s over digest, for the 65-byte uncompressed pubkey. SG_ERR_VERIFY
 * when the signature does not verify or recover to pubkey. */
SG_MUST_CHECK int evm_sig_finish(const uint8_t digest[32], const uint8_t raw[64],
				 const uint8_t pubkey[65], struct evm_sig *out);
/* The address that signed digest with (r, s, recid); SG_ERR_VERIFY when none can. */
SG_MUST_CHECK int evm_sig_recover_address(const uint8_t digest[32], const struct evm_sig *sig,
					  uint8_t address[20]);

/* EIP-191 version 0x45 (personal_sign):
 * keccak256("\x19Ethereum Signed Message:\n" || decimal(len) || message). */
void evm_personal_hash(const uint8_t *msg, size_t len, uint8_t out[32]);

#endif
