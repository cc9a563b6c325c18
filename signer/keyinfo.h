/* The KEY object of the API (../shared/API.md): what a client or operator sees of a key. */
#ifndef SIGNER_SIGNER_KEYINFO_H
#define SIGNER_SIGNER_KEYINFO_H

#include <jansson.h>

#include "common/err.h"
#include "keystore/keystore.h"

#define SIGNER_PUBKEY_TEXT_MAX  140
#define SIGNER_ADDRESS_TEXT_MAX 64

/* public_key and address as the API writes them: Solana, both the Base58 public key; EVM, the
 * 0x-hex uncompressed key and the EIP-55 address. */
SG_MUST_CHECK int signer_key_texts(const struct ks_key *key, char pub[SIGNER_PUBKEY_TEXT_MAX],
				   char address[SIGNER_ADDRESS_TEXT_MAX]);
/* {"name","chain","version","state","public_key","address","created_at","transitions":
 * [{"state","at"},...],"origin":"token"|"ceremony"}; NULL on failure. */
json_t *signer_key_json(const struct ks_key *key);

#endif
