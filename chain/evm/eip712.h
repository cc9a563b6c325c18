/* EIP-712 typed structured data: the full encoder (nested structs, arrays, dynamic bytes and
 * strings hashed, the domain's type derived from its fields when not given, referenced types
 * sorted by name), strict about what it accepts: undefined or malformed types, missing or unknown
 * fields and out-of-range values are errors. */
#ifndef SIGNER_CHAIN_EVM_EIP712_H
#define SIGNER_CHAIN_EVM_EIP712_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define EIP712_NAME_MAX           128
#define EIP712_TYPES_MAX          64 /* struct types in one typed-data object */
#define EIP712_ADDRESS_FIELDS_MAX 64 /* distinct address field names recorded */

struct eip712 {
	uint8_t domain_separator[32];
	uint8_t struct_hash[32];
	uint8_t digest[32]; /* keccak256(0x19 0x01 || domainSeparator || hashStruct(message)) */
	char primary_type[EIP712_NAME_MAX + 1];
	/* the domain, for policy: each field only if present */
	bool has_name, has_version, has_chain_id, has_verifying_contract, has_salt;
	char name[EIP712_NAME_MAX + 1];
	char version[EIP712_NAME_MAX + 1];
	uint8_t chain_id[32]; /* big-endian */
	uint8_t verifying_contract[20];
	/* what the message is made of: the struct types of encodeType(primaryType), the primary
	 * type first, then each type it references (directly or through others) once, sorted */
	size_t n_struct_types;
	char struct_types[EIP712_TYPES_MAX][EIP712_NAME_MAX + 1];
	/* the names of those types' fields of type address (or arrays of addresses), each once;
	 * address_fields_incomplete when there were more than EIP712_ADDRESS_FIELDS_MAX */
	size_t n_address_fields;
	char address_fields[EIP712_ADDRESS_FIELDS_MAX][EIP712_NAME_MAX + 1];
	bool address_fields_incomplete;
};

/* From the typed-data object {"types", "primaryType", "domain", "message"}. */
SG_MUST_CHECK int eip712_hash(json_t *typed_data, struct eip712 *out);
/* From JSON text (duplicate keys rejected). */
SG_MUST_CHECK int eip712_hash_text(const char *text, size_t len, struct eip712 *out);
/* encodeType(name) for tests and explanations; malloc'd. */
SG_MUST_CHECK int eip712_encode_type(json_t *types, const char *name, char **out);

#endif
