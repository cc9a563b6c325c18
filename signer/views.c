/* What the signer decoded, as JSON for the person asking (signerctl sign --json, explain), and
 * the small JSON helpers of the sign responses. */
#include <stdlib.h>
#include <time.h>

#include "common/address.h"
#include "common/encoding.h"
#include "signer_internal.h"

double signer_wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

json_t *signer_hex_json(const uint8_t *p, size_t n)
{
	char *text = malloc(2 * n + 3);
	json_t *j = NULL;

	if (text == NULL)
		return NULL;
	text[0] = '0';
	text[1] = 'x';
	if (hex_encode(p, n, text + 2, 2 * n + 1) == SG_OK)
		j = json_string(text);
	free(text);
	return j;
}

json_t *signer_quantity_json(const uint8_t *be, size_t n)
{
	char text[2 * 33 + 3];

	if (n > 33)
		return NULL;
	evm_quantity_hex(be, n, text);
	return json_string(text);
}

static json_t *decimal_json(const struct evm_uint *u)
{
	char text[80];

	evm_uint_decimal(u->be, u->len, text);
	return json_string(text);
}

json_t *signer_b58_json(const uint8_t *p, size_t n)
{
	char text[B58_ENCODED_MAX(64)];

	if (b58_encode(p, n, text, sizeof(text)) != SG_OK)
		return NULL;
	return json_string(text);
}

json_t *signer_address_json(const uint8_t addr[20])
{
	char text[EVM_ADDRESS_TEXT_LEN];

	addr_evm_checksum(addr, text);
	return json_string(text);
}

void signer_hex_w(struct jsonw *w, const char *key, const uint8_t *p, size_t n)
{
	char small[2 * 65 + 3], *text = 2 * n + 3 <= sizeof(small) ? small : malloc(2 * n + 3);

	if (text == NULL) {
		w->failed = true;
		return;
	}
	text[0] = '0';
	text[1] = 'x';
	if (hex_encode(p, n, text + 2, 2 * n + 1) == SG_OK)
		jsonw_str(w, key, text);
	else
		w->failed = true;
	if (text != small)
		free(text);
}

void signer_quantity_w(struct jsonw *w, const char *key, const uint8_t *be, size_t n)
{
	char text[2 * 33 + 3];

	if (n > 33) {
		w->failed = true;
		return;
	}
	evm_quantity_hex(be, n, text);
	jsonw_str(w, key, text);
}

void signer_b58_w(struct jsonw *w, const char *key, const uint8_t *p, size_t n)
{
	char text[B58_ENCODED_MAX(64)];

	if (n > 64 || b58_encode(p, n, text, sizeof(text)) != SG_OK) {
		w->failed = true;
		return;
	}
	jsonw_str(w, key, text);
}

void signer_address_w(struct jsonw *w, const char *key, const uint8_t addr[20])
{
	char text[EVM_ADDRESS_TEXT_LEN];

	addr_evm_checksum(addr, text);
	jsonw_str(w, key, text);
}

json_t *signer_solana_view(const struct sol_message *m)
{
	json_t *view = json_object(), *signers = json_array(), *writable = json_array(),
	       *ixs = json_array(), *lookups = json_array();

	for (size_t i = 0; i < m->n_keys; i++) {
		if (i < m->num_required_signatures)
			json_array_append_new(signers, signer_b58_json(sol_message_key(m, i), 32));
		if (sol_message_is_writable(m, i))
			json_array_append_new(writable, signer_b58_json(sol_message_key(m, i), 32));
	}
	for (size_t i = 0; i < m->n_instructions; i++) {
		const struct sol_instruction *ix = &m->instructions[i];
		json_t *accounts = json_array();

		for (size_t k = 0; k < ix->n_accounts; k++)
			json_array_append_new(accounts, json_integer(ix->accounts[k]));
		json_array_append_new(ixs,
				      json_pack("{s:o, s:o, s:o}", "program",
						signer_b58_json(sol_instruction_program(m, ix), 32),
						"accounts", accounts, "data",
						signer_hex_json(ix->data, ix->data_len)));
	}
	for (size_t i = 0; i < m->n_lookups; i++)
		json_array_append_new(lookups,
				      json_pack("{s:o, s:I, s:I}", "table",
						signer_b58_json(m->lookups[i].table, 32),
						"writable", (json_int_t)m->lookups[i].n_writable,
						"readonly", (json_int_t)m->lookups[i].n_readonly));
	json_object_set_new(view, "version", json_string(m->version == SOL_V0 ? "v0" : "legacy"));
	json_object_set_new(view, "fee_payer", signer_b58_json(sol_message_fee_payer(m), 32));
	json_object_set_new(view, "signers", signers);
	json_object_set_new(view, "writable", writable);
	json_object_set_new(view, "instructions", ixs);
	json_object_set_new(view, "lookups", lookups);
	return view;
}

json_t *signer_evm_tx_view(const struct evm_tx *tx)
{
	json_t *view =
		json_pack("{s:i, s:o, s:I, s:o, s:o, s:b, s:I}", "type", (int)tx->type, "chain_id",
			  decimal_json(&tx->chain_id), "nonce", (json_int_t)tx->nonce, "value",
			  decimal_json(&tx->value), "gas_limit", decimal_json(&tx->gas_limit),
			  "create", tx->is_create, "data_length", (json_int_t)tx->data_len);

	if (view == NULL)
		return NULL;
	json_object_set_new(view, "to", tx->is_create ? json_null() : signer_address_json(tx->to));
	json_object_set_new(view, "selector",
			    tx->data_len >= 4 ? signer_hex_json(tx->data, 4) : json_null());
	if (tx->type == EVM_TX_DYNAMIC_FEE) {
		json_object_set_new(view, "max_fee_per_gas", decimal_json(&tx->max_fee));
		json_object_set_new(view, "max_priority_fee_per_gas",
				    decimal_json(&tx->max_priority_fee));
	} else {
		json_object_set_new(view, "gas_price", decimal_json(&tx->gas_price));
	}
	if (tx->has_access_list) {
		json_object_set_new(view, "access_list_addresses",
				    json_integer((json_int_t)tx->access_list_addresses));
		json_object_set_new(view, "access_list_storage_keys",
				    json_integer((json_int_t)tx->access_list_storage_keys));
	}
	return view;
}

json_t *signer_eip712_view(const struct eip712 *td)
{
	json_t *domain = json_object();

	if (domain == NULL)
		return NULL;
	if (td->has_name)
		json_object_set_new(domain, "name", json_string(td->name));
	if (td->has_version)
		json_object_set_new(domain, "version", json_string(td->version));
	if (td->has_chain_id) {
		struct evm_uint id = {td->chain_id, 32};

		json_object_set_new(domain, "chainId", decimal_json(&id));
	}
	if (td->has_verifying_contract)
		json_object_set_new(domain, "verifyingContract",
				    signer_address_json(td->verifying_contract));
	return json_pack("{s:o, s:s}", "domain", domain, "primary_type", td->primary_type);
}
