/* Account addresses of the two chains signerd signs for.
 * EVM: the last 20 bytes of Keccak-256(X || Y) of the uncompressed public key, written with the
 * EIP-55 mixed-case checksum. Solana: the Base58 of the 32-byte Ed25519 public key. */
#ifndef SIGNER_COMMON_ADDRESS_H
#define SIGNER_COMMON_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define EVM_ADDRESS_LEN         20
#define EVM_ADDRESS_TEXT_LEN    43 /* "0x" + 40 + NUL */
#define EVM_PUBKEY_LEN          65 /* 0x04 || X || Y */
#define SOLANA_PUBKEY_LEN       32
#define SOLANA_ADDRESS_TEXT_MAX 45

/* "0x" followed by the EIP-55 checksummed hex of the address. */
void addr_evm_checksum(const uint8_t addr[EVM_ADDRESS_LEN], char out[EVM_ADDRESS_TEXT_LEN]);
SG_MUST_CHECK int addr_evm_from_pubkey(const uint8_t *pub, size_t publen,
				       uint8_t addr[EVM_ADDRESS_LEN]);
/* Parses "0x" + 40 hex digits. Mixed case must carry a valid EIP-55 checksum; all-lower and
 * all-upper are accepted as unchecksummed (as EIP-55 allows). */
SG_MUST_CHECK int addr_evm_parse(const char *text, uint8_t addr[EVM_ADDRESS_LEN]);

SG_MUST_CHECK int addr_solana_encode(const uint8_t pub[SOLANA_PUBKEY_LEN], char *out, size_t outsz);
/* Parses Base58 that must decode to exactly 32 bytes. */
SG_MUST_CHECK int addr_solana_parse(const char *text, uint8_t pub[SOLANA_PUBKEY_LEN]);

#endif
