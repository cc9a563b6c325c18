/* EVM transactions as signerd accepts them for signing: legacy with EIP-155, EIP-2930 (type 1)
 * and EIP-1559 (type 2), unsigned, strictly canonical. The view points into the caller's
 * buffer. */
#ifndef SIGNER_CHAIN_EVM_TX_H
#define SIGNER_CHAIN_EVM_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "chain/evm/rlp.h"

#define EVM_UINT_MAX_LEN 32
#define EVM_ADDR_LEN     20

/* An unsigned integer of up to 32 bytes, big-endian without leading zeros (0 is len 0). */
struct evm_uint {
	const uint8_t *be;
	size_t len;
};

enum evm_tx_type {
	EVM_TX_LEGACY = 0, /* EIP-155: [nonce, gasPrice, gas, to, value, data, chainId, 0, 0] */
	EVM_TX_ACCESS_LIST = 1, /* EIP-2930 */
	EVM_TX_DYNAMIC_FEE = 2, /* EIP-1559 */
};

#define EVM_TX_FIELDS_MAX 9

struct evm_tx {
	enum evm_tx_type type;
	struct evm_uint chain_id;
	uint64_t nonce;
	struct evm_uint gas_price;        /* legacy and type 1 */
	struct evm_uint max_priority_fee; /* type 2 */
	struct evm_uint max_fee;          /* type 2 */
	struct evm_uint gas_limit;
	bool is_create; /* no recipient: contract creation */
	const uint8_t *to;
	struct evm_uint value;
	const uint8_t *data;
	size_t data_len;
	bool has_access_list; /* types 1 and 2 */
	size_t access_list_addresses;
	size_t access_list_storage_keys;

	/* what is signed, and the items the signed form repeats */
	const uint8_t *unsigned_bytes;
	size_t unsigned_len;
	struct rlp_item fields[EVM_TX_FIELDS_MAX];
	size_t n_signed_fields; /* legacy: 6 (the EIP-155 triple is replaced by v, r, s) */
};

SG_MUST_CHECK int evm_tx_decode(const uint8_t *buf, size_t len, struct evm_tx *tx);
/* Keccak-256 of the unsigned bytes: exactly the bytes that were decoded. */
void evm_tx_signing_hash(const struct evm_tx *tx, uint8_t out[32]);
/* The signed transaction: legacy rlp([...6 fields, v, r, s]) with v = chainId*2+35+recid; typed
 * type || rlp([...fields, yParity, r, s]). v is also returned (big-endian, up to 33 bytes). */
SG_MUST_CHECK int evm_tx_encode_signed(const struct evm_tx *tx, int recid, const uint8_t r[32],
				       const uint8_t s[32], struct rlp_buf *out, uint8_t v[33],
				       size_t *v_len);

/* A big-endian integer as 0x-hex without leading zeros ("0x0" for zero), as Ethereum's JSON
 * quantities are written. out needs 2 * len + 3 bytes. */
void evm_quantity_hex(const uint8_t *be, size_t len, char *out);

/* A big-endian integer of up to 32 bytes in decimal; out needs 80 bytes. */
void evm_uint_decimal(const uint8_t *be, size_t len, char out[80]);

#endif
