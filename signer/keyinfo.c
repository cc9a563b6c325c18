#include "signer/keyinfo.h"

#include <string.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/timefmt.h"

int signer_key_texts(const struct ks_key *key, char pub[SIGNER_PUBKEY_TEXT_MAX],
		     char address[SIGNER_ADDRESS_TEXT_MAX])
{
	uint8_t addr[EVM_ADDRESS_LEN];
	int r;

	switch (key->chain) {
	case KS_CHAIN_SOLANA:
		if (key->public_key_len != SOLANA_PUBKEY_LEN)
			return sg_fail(SG_ERR_MALFORMED, "key '%s' has a %zu-byte Ed25519 key",
				       key->name, key->public_key_len);
		r = addr_solana_encode(key->public_key, pub, SIGNER_PUBKEY_TEXT_MAX);
		if (r == SG_OK)
			memcpy(address, pub, strlen(pub) + 1);
		return r;
	case KS_CHAIN_EVM:
		pub[0] = '0';
		pub[1] = 'x';
		r = hex_encode(key->public_key, key->public_key_len, pub + 2,
			       SIGNER_PUBKEY_TEXT_MAX - 2);
		if (r == SG_OK)
			r = addr_evm_from_pubkey(key->public_key, key->public_key_len, addr);
		if (r == SG_OK)
			addr_evm_checksum(addr, address);
		return r;
	}
	return sg_fail(SG_ERR_INVALID_ARGUMENT, "key '%s' has no known chain", key->name);
}

json_t *signer_key_json(const struct ks_key *key)
{
	char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];
	char created[TIME_RFC3339_LEN];

	if (signer_key_texts(key, pub, address) != SG_OK ||
	    time_format_rfc3339(key->created_at, created) != SG_OK)
		return NULL;
	{
		json_t *transitions = json_array(), *out;

		for (size_t i = 0; transitions != NULL && i < key->n_transitions; i++) {
			char at[TIME_RFC3339_LEN];

			if (time_format_rfc3339(key->transitions[i].at, at) != SG_OK ||
			    json_array_append_new(
				    transitions, json_pack("{s:s, s:s}", "state",
							   ks_state_name(key->transitions[i].state),
							   "at", at)) != 0) {
				json_decref(transitions);
				return NULL;
			}
		}
		if (transitions == NULL)
			return NULL;
		out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:s}", "name", key->name,
				"chain", ks_chain_name(key->chain), "version",
				(json_int_t)key->version, "state", ks_state_name(key->state),
				"public_key", pub, "address", address, "created_at", created,
				"transitions", transitions, "origin", ks_origin_name(key->origin));
		return out;
	}
}
