#include "chain/solana/message.h"

#include <stdlib.h>
#include <string.h>

int sol_shortvec_decode(struct cursor *c, uint16_t *out)
{
	uint32_t value = 0;
	size_t start = cursor_offset(c);
	int r;

	for (unsigned i = 0; i < 3; i++) {
		uint8_t b;

		if ((r = cursor_get_u8(c, &b)) != SG_OK)
			return sg_fail(SG_ERR_TRUNCATED, "compact-u16 at offset %zu is cut short",
				       start);
		value |= (uint32_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			/* short-vec: a last byte of zero after the first is an alias of a shorter
			 * encoding ("80 00" for 0); Solana's decoder rejects it, and so do we. */
			if (i > 0 && b == 0)
				return sg_fail(SG_ERR_MALFORMED,
					       "compact-u16 at offset %zu is not minimally encoded",
					       start);
			/* the third byte carries bits 14 and 15 only */
			if (i == 2 && b > 0x03)
				return sg_fail(SG_ERR_MALFORMED,
					       "compact-u16 at offset %zu exceeds 0xffff", start);
			*out = (uint16_t)value;
			return SG_OK;
		}
		if (i == 2)
			return sg_fail(SG_ERR_MALFORMED,
				       "compact-u16 at offset %zu is longer than 3 bytes", start);
	}
	return sg_fail(SG_ERR_INTERNAL, "unreachable");
}

static int sol_instruction_decode(struct cursor *c, struct sol_instruction *ix, size_t i)
{
	uint16_t n;
	int r;

	if ((r = cursor_get_u8(c, &ix->program_id_index)) != SG_OK ||
	    (r = sol_shortvec_decode(c, &n)) != SG_OK ||
	    (r = cursor_get_bytes(c, n, &ix->accounts)) != SG_OK)
		return sg_context(r, "instruction %zu", i);
	ix->n_accounts = n;
	if ((r = sol_shortvec_decode(c, &n)) != SG_OK ||
	    (r = cursor_get_bytes(c, n, &ix->data)) != SG_OK)
		return sg_context(r, "instruction %zu data", i);
	ix->data_len = n;
	return SG_OK;
}

static int sol_lookup_decode(struct cursor *c, struct sol_lookup *lu, size_t i)
{
	uint16_t n;
	int r;

	if ((r = cursor_get_bytes(c, SOL_PUBKEY_LEN, &lu->table)) != SG_OK ||
	    (r = sol_shortvec_decode(c, &n)) != SG_OK ||
	    (r = cursor_get_bytes(c, n, &lu->writable)) != SG_OK)
		return sg_context(r, "address table lookup %zu", i);
	lu->n_writable = n;
	if ((r = sol_shortvec_decode(c, &n)) != SG_OK ||
	    (r = cursor_get_bytes(c, n, &lu->readonly)) != SG_OK)
		return sg_context(r, "address table lookup %zu", i);
	lu->n_readonly = n;
	/* v0 sanitize(): each lookup must load at least one address */
	if (lu->n_writable + lu->n_readonly == 0)
		return sg_fail(SG_ERR_MALFORMED, "address table lookup %zu loads no address", i);
	return SG_OK;
}

/* The rules of legacy and v0 sanitize() that do not depend on the byte layout. */
static int sol_message_check(const struct sol_message *m)
{
	size_t total = m->n_keys + m->n_loaded_writable + m->n_loaded_readonly;

	if (m->num_required_signatures == 0)
		return sg_fail(SG_ERR_MALFORMED,
			       "the message requires no signature (no fee payer)");
	if (m->num_readonly_signed >= m->num_required_signatures)
		return sg_fail(SG_ERR_MALFORMED,
			       "header: %u read-only signers of %u signers leave no writable fee "
			       "payer",
			       m->num_readonly_signed, m->num_required_signatures);
	if ((size_t)m->num_required_signatures + m->num_readonly_unsigned > m->n_keys)
		return sg_fail(
			SG_ERR_MALFORMED,
			"header: %u signers and %u read-only unsigned accounts, but only %zu "
			"account keys",
			m->num_required_signatures, m->num_readonly_unsigned, m->n_keys);
	if (total > SOL_MAX_ACCOUNTS)
		return sg_fail(SG_ERR_MALFORMED, "the message uses %zu accounts; at most %d", total,
			       SOL_MAX_ACCOUNTS);
	for (size_t i = 0; i < m->n_instructions; i++) {
		const struct sol_instruction *ix = &m->instructions[i];

		/* program ids are static keys, and the fee payer is never a program */
		if (ix->program_id_index >= m->n_keys)
			return sg_fail(SG_ERR_MALFORMED,
				       "instruction %zu: program index %u is not a static key", i,
				       ix->program_id_index);
		if (ix->program_id_index == 0)
			return sg_fail(SG_ERR_MALFORMED,
				       "instruction %zu: the fee payer cannot be the program", i);
		for (size_t k = 0; k < ix->n_accounts; k++)
			if (ix->accounts[k] >= total)
				return sg_fail(
					SG_ERR_MALFORMED,
					"instruction %zu: account index %u out of range (%zu "
					"accounts)",
					i, ix->accounts[k], total);
	}
	/* legacy sanitize(): no key twice (loaded addresses cannot be checked offline) */
	for (size_t i = 0; i < m->n_keys; i++)
		for (size_t k = i + 1; k < m->n_keys; k++)
			if (memcmp(sol_message_key(m, i), sol_message_key(m, k), SOL_PUBKEY_LEN) ==
			    0)
				return sg_fail(SG_ERR_MALFORMED,
					       "account keys %zu and %zu are the same", i, k);
	return SG_OK;
}

int sol_message_decode(const uint8_t *msg, size_t len, struct sol_message *out)
{
	struct cursor c;
	uint8_t first;
	uint16_t n;
	size_t wire;
	int r;

	memset(out, 0, sizeof(*out));
	cursor_init(&c, msg, len);
	if ((r = cursor_peek_u8(&c, &first)) != SG_OK)
		return sg_fail(SG_ERR_TRUNCATED, "the message is empty");
	/* versions/mod.rs: bit 7 of the first byte set means a versioned message, whose low 7
	 * bits are the version; only v0 is accepted (v1, SIMD-0385, is not supported) */
	if (first & 0x80) {
		if (first != 0x80)
			return sg_fail(
				SG_ERR_UNSUPPORTED,
				"versioned message v%u is not supported (only legacy and v0)",
				first & 0x7f);
		out->version = SOL_V0;
		if ((r = cursor_skip(&c, 1)) != SG_OK)
			return r;
	}
	if ((r = cursor_get_u8(&c, &out->num_required_signatures)) != SG_OK ||
	    (r = cursor_get_u8(&c, &out->num_readonly_signed)) != SG_OK ||
	    (r = cursor_get_u8(&c, &out->num_readonly_unsigned)) != SG_OK)
		return sg_context(r, "message header");
	if ((r = sol_shortvec_decode(&c, &n)) != SG_OK ||
	    (r = cursor_get_bytes(&c, (size_t)n * SOL_PUBKEY_LEN, &out->keys)) != SG_OK)
		return sg_context(r, "account keys");
	out->n_keys = n;
	if ((r = cursor_get_bytes(&c, SOL_PUBKEY_LEN, &out->recent_blockhash)) != SG_OK)
		return sg_context(r, "recent blockhash");
	if ((r = sol_shortvec_decode(&c, &n)) != SG_OK)
		return sg_context(r, "instruction count");
	/* every instruction takes at least 3 bytes: refuse counts the rest cannot hold before
	 * allocating for them */
	if ((size_t)n * 3 > cursor_remaining(&c))
		return sg_fail(SG_ERR_TRUNCATED, "%u instructions cannot fit in %zu bytes", n,
			       cursor_remaining(&c));
	out->instructions = calloc(n == 0 ? 1 : n, sizeof(*out->instructions));
	if (out->instructions == NULL)
		return sg_fail(SG_ERR_NOMEM, "decoding instructions");
	out->n_instructions = n;
	for (size_t i = 0; i < out->n_instructions; i++)
		if ((r = sol_instruction_decode(&c, &out->instructions[i], i)) != SG_OK)
			goto out;
	if (out->version == SOL_V0) {
		if ((r = sol_shortvec_decode(&c, &n)) != SG_OK) {
			r = sg_context(r, "address table lookup count");
			goto out;
		}
		if ((size_t)n * (SOL_PUBKEY_LEN + 2) > cursor_remaining(&c)) {
			r = sg_fail(SG_ERR_TRUNCATED, "%u lookups cannot fit in %zu bytes", n,
				    cursor_remaining(&c));
			goto out;
		}
		out->lookups = calloc(n == 0 ? 1 : n, sizeof(*out->lookups));
		if (out->lookups == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "decoding lookups");
			goto out;
		}
		out->n_lookups = n;
		for (size_t i = 0; i < out->n_lookups; i++) {
			if ((r = sol_lookup_decode(&c, &out->lookups[i], i)) != SG_OK)
				goto out;
			out->n_loaded_writable += out->lookups[i].n_writable;
			out->n_loaded_readonly += out->lookups[i].n_readonly;
		}
	}
	if ((r = cursor_expect_end(&c)) != SG_OK) {
		r = sg_context(r, "message");
		goto out;
	}
	if ((r = sol_message_check(out)) != SG_OK)
		goto out;
	/* the transaction: shortvec(signatures) + 64 bytes each + the message, in one packet */
	wire = (out->num_required_signatures < 0x80 ? 1 : 2) +
	       (size_t)out->num_required_signatures * SOL_SIGNATURE_LEN + len;
	if (wire > SOL_PACKET_DATA_SIZE)
		r = sg_fail(SG_ERR_MALFORMED,
			    "the signed transaction would be %zu bytes; Solana's limit is %d", wire,
			    SOL_PACKET_DATA_SIZE);
out:
	if (r != SG_OK)
		sol_message_free(out);
	return r;
}

void sol_message_free(struct sol_message *m)
{
	free(m->instructions);
	free(m->lookups);
	m->instructions = NULL;
	m->lookups = NULL;
	m->n_instructions = 0;
	m->n_lookups = 0;
}

const uint8_t *sol_message_key(const struct sol_message *m, size_t i)
{
	return i < m->n_keys ? m->keys + i * SOL_PUBKEY_LEN : NULL;
}

const uint8_t *sol_message_fee_payer(const struct sol_message *m)
{
	return sol_message_key(m, 0);
}

bool sol_message_signer_index(const struct sol_message *m, const uint8_t pubkey[SOL_PUBKEY_LEN],
			      size_t *index)
{
	for (size_t i = 0; i < m->num_required_signatures && i < m->n_keys; i++) {
		if (memcmp(sol_message_key(m, i), pubkey, SOL_PUBKEY_LEN) == 0) {
			*index = i;
			return true;
		}
	}
	return false;
}

bool sol_message_is_writable(const struct sol_message *m, size_t i)
{
	size_t signers = m->num_required_signatures;

	if (i < m->n_keys) {
		if (i < signers)
			return i < signers - m->num_readonly_signed;
		return i < m->n_keys - m->num_readonly_unsigned;
	}
	/* loaded: all writable ones first, then the read-only ones */
	return i - m->n_keys < m->n_loaded_writable;
}

const uint8_t *sol_instruction_program(const struct sol_message *m,
				       const struct sol_instruction *ix)
{
	return sol_message_key(m, ix->program_id_index);
}
