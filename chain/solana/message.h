/* Solana messages (what a signer signs), legacy and v0, decoded strictly into a read-only view.
 * The view points into the caller's buffer, which must outlive it. The wire format and its rules
 * are those of solana-sdk (message/src/legacy.rs, versions/v0/mod.rs, short-vec). */
#ifndef SIGNER_CHAIN_SOLANA_MESSAGE_H
#define SIGNER_CHAIN_SOLANA_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "common/err.h"

#define SOL_PUBKEY_LEN       32
#define SOL_SIGNATURE_LEN    64
#define SOL_PACKET_DATA_SIZE 1232 /* 1280 - 40 (IPv6 header) - 8 (UDP header) */
#define SOL_MAX_ACCOUNTS     256  /* static plus loaded keys */

enum sol_version {
	SOL_LEGACY = 0,
	SOL_V0 = 1,
};

struct sol_instruction {
	uint8_t program_id_index;
	const uint8_t *accounts; /* indexes into the account space */
	size_t n_accounts;
	const uint8_t *data;
	size_t data_len;
};

struct sol_lookup {
	const uint8_t *table; /* 32 bytes: the lookup table's account */
	const uint8_t *writable;
	size_t n_writable;
	const uint8_t *readonly;
	size_t n_readonly;
};

struct sol_message {
	enum sol_version version;
	uint8_t num_required_signatures;
	uint8_t num_readonly_signed;
	uint8_t num_readonly_unsigned;
	const uint8_t *keys; /* n_keys static keys of 32 bytes each */
	size_t n_keys;
	const uint8_t *recent_blockhash;
	struct sol_instruction *instructions;
	size_t n_instructions;
	struct sol_lookup *lookups;
	size_t n_lookups;
	size_t n_loaded_writable; /* addresses the lookups load (the signer cannot see them) */
	size_t n_loaded_readonly;
};

/* compact-u16: 1 to 3 bytes, 7 bits each, low group first; at most 0xffff; only the minimal
 * encoding is accepted. */
SG_MUST_CHECK int sol_shortvec_decode(struct cursor *c, uint16_t *out);

/* Decodes msg (len bytes) completely: no trailing bytes, every index in range, and the
 * transaction that carries it (signatures included) within the 1232-byte packet. On success the
 * view owns two arrays: free them with sol_message_free(). */
SG_MUST_CHECK int sol_message_decode(const uint8_t *msg, size_t len, struct sol_message *out);
void sol_message_free(struct sol_message *m);

const uint8_t *sol_message_key(const struct sol_message *m, size_t i);
/* The fee payer: static key 0. */
const uint8_t *sol_message_fee_payer(const struct sol_message *m);
/* Whether pubkey is one of the required signers; *index gets its position. */
bool sol_message_signer_index(const struct sol_message *m, const uint8_t pubkey[SOL_PUBKEY_LEN],
			      size_t *index);
/* Whether account index i (static or loaded) is writable. */
bool sol_message_is_writable(const struct sol_message *m, size_t i);
/* The 32-byte program id of an instruction (always a static key). */
const uint8_t *sol_instruction_program(const struct sol_message *m,
				       const struct sol_instruction *ix);

#endif
