#include "common/address.h"

#include <stdbool.h>
#include <string.h>

#include "common/encoding.h"
#include "common/keccak.h"

void addr_evm_checksum(const uint8_t addr[EVM_ADDRESS_LEN], char out[EVM_ADDRESS_TEXT_LEN])
{
	static const char digits[] = "0123456789abcdef";
	char lower[2 * EVM_ADDRESS_LEN];
	uint8_t hash[KECCAK256_DIGEST_LEN];

	for (size_t i = 0; i < EVM_ADDRESS_LEN; i++) {
		lower[2 * i] = digits[addr[i] >> 4];
		lower[2 * i + 1] = digits[addr[i] & 0x0f];
	}
	/* EIP-55: hash the lower-case hex (without 0x) as ASCII; a letter is upper-case where
	 * the matching nibble of the hash is 8 or more. */
	keccak256(lower, sizeof(lower), hash);
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < sizeof(lower); i++) {
		unsigned nibble = (hash[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0x0f;
		char ch = lower[i];

		if (ch >= 'a' && nibble >= 8)
			ch = (char)(ch - 'a' + 'A');
		out[2 + i] = ch;
	}
	out[EVM_ADDRESS_TEXT_LEN - 1] = '\0';
}

int addr_evm_from_pubkey(const uint8_t *pub, size_t publen, uint8_t addr[EVM_ADDRESS_LEN])
{
	uint8_t hash[KECCAK256_DIGEST_LEN];

	if (publen != EVM_PUBKEY_LEN || pub[0] != 0x04)
		return sg_fail(SG_ERR_MALFORMED,
			       "an EVM public key is 65 bytes starting 0x04 (got %zu bytes)",
			       publen);
	keccak256(pub + 1, EVM_PUBKEY_LEN - 1, hash);
	memcpy(addr, hash + KECCAK256_DIGEST_LEN - EVM_ADDRESS_LEN, EVM_ADDRESS_LEN);
	return SG_OK;
}

int addr_evm_parse(const char *text, uint8_t addr[EVM_ADDRESS_LEN])
{
	size_t len = strlen(text), n;
	bool has_lower = false, has_upper = false;
	char expect[EVM_ADDRESS_TEXT_LEN];
	int r;

	if (len != EVM_ADDRESS_TEXT_LEN - 1)
		return sg_fail(SG_ERR_MALFORMED, "an EVM address is 0x and 40 hex digits");
	r = hex_decode_0x(text, len, addr, EVM_ADDRESS_LEN, &n);
	if (r != SG_OK)
		return sg_context(r, "EVM address");
	for (size_t i = 2; i < len; i++) {
		has_lower |= text[i] >= 'a' && text[i] <= 'f';
		has_upper |= text[i] >= 'A' && text[i] <= 'F';
	}
	if (has_lower && has_upper) {
		addr_evm_checksum(addr, expect);
		if (strcmp(expect + 2, text + 2) != 0)
			return sg_fail(SG_ERR_MALFORMED,
				       "EVM address %s has a wrong EIP-55 checksum (expected %s)",
				       text, expect);
	}
	return SG_OK;
}

int addr_solana_encode(const uint8_t pub[SOLANA_PUBKEY_LEN], char *out, size_t outsz)
{
	return b58_encode(pub, SOLANA_PUBKEY_LEN, out, outsz);
}

int addr_solana_parse(const char *text, uint8_t pub[SOLANA_PUBKEY_LEN])
{
	uint8_t buf[SOLANA_PUBKEY_LEN + 8];
	size_t n;
	int r = b58_decode(text, strlen(text), buf, sizeof(buf), &n);

	if (r != SG_OK)
		return sg_context(r, "Solana address");
	if (n != SOLANA_PUBKEY_LEN)
		return sg_fail(SG_ERR_MALFORMED, "a Solana address decodes to 32 bytes, not %zu",
			       n);
	memcpy(pub, buf, SOLANA_PUBKEY_LEN);
	return SG_OK;
}
