/* Content rules: what a payload may do, per operation, judged on the decoded transaction or
 * message (never on anything the client says about it). */
#include "rules_internal.h"

/* ---- evaluation ---------------------------------------------------------------------- */

static void decide_allow(struct policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->allowed = true;
}

static void deny(struct policy_decision *d, const char *reason, const char *op, const char *where,
		 unsigned long line, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void deny(struct policy_decision *d, const char *reason, const char *op, const char *where,
		 unsigned long line, const char *fmt, ...)
{
	va_list ap;

	d->allowed = false;
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	snprintf(d->rule, sizeof(d->rule), "rules.%s.%s (line %lu)", op, where, line);
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
}

static const struct policy_rules *rules_for(const struct policy *p, const char *op)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (strcmp(p->rules[i].operation, op) == 0)
			return &p->rules[i];
	return NULL;
}

static bool over(const struct evm_uint *u, const struct cap *c)
{
	uint8_t v[32];

	if (!c->set)
		return false;
	policy_u256_from_evm(u, v);
	return memcmp(v, c->v, 32) > 0;
}

/* gas x price > cap, without overflow: a product past 2^256 is over any cap. */
static bool total_over(const struct evm_uint *gas, const struct evm_uint *price,
		       const struct cap *c)
{
	uint8_t g[32], p[32], prod[32];

	if (!c->set)
		return false;
	policy_u256_from_evm(gas, g);
	policy_u256_from_evm(price, p);
	if (!policy_u256_mul(g, p, prod))
		return true;
	return memcmp(prod, c->v, 32) > 0;
}

static bool addr_in(const void *list, size_t n, const uint8_t *addr)
{
	const uint8_t *addrs = list;

	for (size_t i = 0; i < n; i++)
		if (memcmp(addrs + 20 * i, addr, 20) == 0)
			return true;
	return false;
}

/* An ABI address word: 12 zero bytes, then the address. */
static bool abi_address(const uint8_t *word, const uint8_t **addr)
{
	for (int i = 0; i < 12; i++)
		if (word[i] != 0)
			return false;
	*addr = word + 12;
	return true;
}

/* ERC-20 transfer(address,uint256) a9059cbb, approve(address,uint256) 095ea7b3,
 * transferFrom(address,address,uint256) 23b872dd, to a token the rules name. */
static void check_erc20(const struct evm_rules *e, const struct evm_recipient *rc, const char *op,
			const struct evm_tx *tx, struct policy_decision *d)
{
	static const uint8_t transfer[4] = {0xa9, 0x05, 0x9c, 0xbb};
	static const uint8_t approve[4] = {0x09, 0x5e, 0xa7, 0xb3};
	static const uint8_t transfer_from[4] = {0x23, 0xb8, 0x72, 0xdd};
	const struct erc20_rule *t = NULL;
	const uint8_t *args, *who, *from, *amount;
	bool is_approve, unlimited = true;
	size_t want;

	if (tx->is_create)
		return;
	for (size_t i = 0; i < e->n_erc20 && t == NULL; i++)
		if (memcmp(e->erc20[i].token, tx->to, 20) == 0)
			t = &e->erc20[i];
	if (t == NULL)
		return;
	if (tx->data_len < 4) {
		if (tx->data_len > 0)
			deny(d, "evm.erc20_malformed", op, "evm.erc20", t->line,
			     "the call to the token is shorter than a selector");
		return; /* plain value to a token contract: the value cap decides */
	}
	is_approve = memcmp(tx->data, approve, 4) == 0;
	if (memcmp(tx->data, transfer, 4) == 0 || is_approve) {
		want = 4 + 64;
	} else if (memcmp(tx->data, transfer_from, 4) == 0) {
		want = 4 + 96;
	} else {
		/* increaseAllowance, transferAndCall, permit, ...: not read here, so refused unless
		 * the recipient entry lists the selector itself */
		bool listed = false;

		for (size_t k = 0; rc != NULL && !rc->any_selector && k < rc->n_selectors; k++)
			listed |= memcmp(rc->selectors[k], tx->data, 4) == 0;
		if (!listed)
			deny(d, "evm.erc20_call_not_allowed", op, "evm.erc20", t->line,
			     "this call to the token is not transfer, approve or transferFrom, and "
			     "its selector is not listed for the token");
		return;
	}
	args = tx->data + 4;
	if (tx->data_len != want || !abi_address(args + (want == 100 ? 32 : 0), &who) ||
	    (want == 100 && !abi_address(args, &from))) {
		deny(d, "evm.erc20_malformed", op, "evm.erc20", t->line,
		     "the token call's arguments are not a well-formed ABI encoding");
		return;
	}
	amount = args + want - 4 - 32;
	for (int i = 0; i < 32; i++)
		unlimited &= amount[i] == 0xff;
	if (is_approve) {
		if (!addr_in(t->spenders, t->n_spenders, who)) {
			deny(d, "evm.erc20_spender_not_allowed", op, "evm.erc20.spenders", t->line,
			     "approve names a spender that is not allowed");
			return;
		}
		if (unlimited && !t->allow_unlimited_approval) {
			deny(d, "evm.erc20_unlimited_approval", op,
			     "evm.erc20.allow_unlimited_approval", t->line,
			     "an unlimited approval is not allowed");
			return;
		}
	} else if (!t->any_recipient && !addr_in(t->recipients, t->n_recipients, who)) {
		deny(d, "evm.erc20_recipient_not_allowed", op, "evm.erc20.recipients", t->line,
		     "the token transfer's recipient is not allowed");
		return;
	}
	/* an allowed unlimited approval is the one amount the cap does not apply to */
	if (t->max_amount.set && memcmp(amount, t->max_amount.v, 32) > 0 &&
	    !(is_approve && unlimited && t->allow_unlimited_approval)) {
		deny(d, "evm.erc20_amount_exceeded", op, "evm.erc20.max_amount", t->max_amount.line,
		     "the token amount is over the cap");
		return;
	}
}

void policy_check_evm_tx(const struct policy *p, const char *op, const struct evm_tx *tx,
			 struct policy_decision *d)
{
	const struct policy_rules *pr = rules_for(p, op);
	const struct evm_rules *e;
	const struct evm_recipient *rc = NULL;
	uint8_t chain[32];
	char text[80];
	bool chain_ok = false;

	decide_allow(d);
	if (pr == NULL)
		return;
	e = &pr->evm;
	if (!e->present) {
		deny(d, "evm.not_allowed", op, "evm", pr->line,
		     "operation '%s' allows no EVM transactions", op);
		return;
	}
	policy_u256_from_evm(&tx->chain_id, chain);
	for (size_t i = 0; i < e->n_chain_ids; i++)
		chain_ok |= memcmp(chain, e->chain_ids[i], 32) == 0;
	if (!chain_ok) {
		evm_uint_decimal(tx->chain_id.be, tx->chain_id.len, text);
		deny(d, "evm.chain_not_allowed", op, "evm.chain_ids", e->line,
		     "chain id %s is not allowed for operation '%s'", text, op);
		return;
	}
	if (tx->is_create) {
		if (!e->allow_create)
			deny(d, "evm.create_not_allowed", op, "evm.allow_create", e->line,
			     "contract creation is not allowed for operation '%s'", op);
	} else if (!e->any_recipient) {
		for (size_t i = 0; i < e->n_recipients && rc == NULL; i++)
			if (memcmp(e->recipients[i].addr, tx->to, 20) == 0)
				rc = &e->recipients[i];
		if (rc == NULL) {
			char addr[EVM_ADDRESS_TEXT_LEN];

			addr_evm_checksum(tx->to, addr);
			deny(d, "evm.recipient_not_allowed", op, "evm.recipients",
			     e->recipients_line, "recipient %s is not allowed for operation '%s'",
			     addr, op);
			return;
		}
		if (!rc->any_selector) {
			bool ok = false;

			for (size_t k = 0; k < rc->n_selectors && tx->data_len >= 4; k++)
				ok |= memcmp(rc->selectors[k], tx->data, 4) == 0;
			if (rc->n_selectors == 0 && tx->data_len == 0)
				ok = true; /* selectors: [] allows plain transfers only */
			if (!ok) {
				deny(d, "evm.selector_not_allowed", op, "evm.recipients.selectors",
				     e->recipients_line,
				     "this call to the recipient is not among its allowed "
				     "selectors");
				return;
			}
		}
	}
	if (!d->allowed)
		return;
	check_erc20(e, rc, op, tx, d);
	if (!d->allowed)
		return;
	if (tx->has_access_list && tx->access_list_addresses > 0 && !e->allow_access_list) {
		deny(d, "evm.access_list_not_allowed", op, "evm.allow_access_list", e->line,
		     "access lists are not allowed for operation '%s'", op);
		return;
	}
	if (over(&tx->value, &e->max_value)) {
		evm_uint_decimal(tx->value.be, tx->value.len, text);
		deny(d, "evm.value_exceeded", op, "evm.max_value_wei", e->max_value.line,
		     "value %s wei is over the cap", text);
		return;
	}
	if (over(&tx->gas_limit, &e->max_gas)) {
		deny(d, "evm.gas_limit_exceeded", op, "evm.max_gas", e->max_gas.line,
		     "the gas limit is over the cap");
		return;
	}
	if (tx->type == EVM_TX_DYNAMIC_FEE) {
		if (over(&tx->max_fee, &e->max_fee)) {
			deny(d, "evm.max_fee_exceeded", op, "evm.max_fee_per_gas_wei",
			     e->max_fee.line, "maxFeePerGas is over the cap");
			return;
		}
		if (over(&tx->max_priority_fee, &e->max_priority_fee)) {
			deny(d, "evm.priority_fee_exceeded", op, "evm.max_priority_fee_per_gas_wei",
			     e->max_priority_fee.line, "maxPriorityFeePerGas is over the cap");
			return;
		}
		if (total_over(&tx->gas_limit, &tx->max_fee, &e->max_total_fee)) {
			deny(d, "evm.total_fee_exceeded", op, "evm.max_total_fee_wei",
			     e->max_total_fee.line, "gas limit x maxFeePerGas is over the cap");
			return;
		}
	} else {
		if (over(&tx->gas_price, &e->max_gas_price)) {
			deny(d, "evm.gas_price_exceeded", op, "evm.max_gas_price_wei",
			     e->max_gas_price.line, "gasPrice is over the cap");
			return;
		}
		if (total_over(&tx->gas_limit, &tx->gas_price, &e->max_total_fee)) {
			deny(d, "evm.total_fee_exceeded", op, "evm.max_total_fee_wei",
			     e->max_total_fee.line, "gas limit x gasPrice is over the cap");
			return;
		}
	}
}

static bool key_in(const void *list, size_t n, const uint8_t *key)
{
	const uint8_t *keys = list;

	for (size_t i = 0; i < n; i++)
		if (memcmp(keys + 32 * i, key, 32) == 0)
			return true;
	return false;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Only TransferChecked (12) and ApproveChecked (13), which carry the mint at account 1 (it must
 * be allowed, the amount within its cap), Revoke (5) and SyncNative (17). Transfer (3) and
 * Approve (4) do not name the mint; everything else (SetAuthority, CloseAccount, Burn, the
 * Token-2022 extensions) is refused. */
static void check_spl(const struct sol_rules *s, const char *op, const struct sol_message *m,
		      const struct sol_instruction *ix, size_t i, struct policy_decision *d)
{
	const uint8_t *mint;
	const struct spl_rule *rule = NULL;
	uint64_t amount;

	if (ix->data_len < 1) {
		deny(d, "solana.spl_malformed", op, "solana.spl", s->line,
		     "instruction %zu is an empty token instruction", i);
		return;
	}
	if (ix->data[0] == 5 || ix->data[0] == 17)
		return;
	if (ix->data[0] == 3 || ix->data[0] == 4) {
		deny(d, "solana.spl_mint_unknown", op, "solana.spl", s->line,
		     "instruction %zu is a token %s that does not name its mint; use the Checked "
		     "form",
		     i, ix->data[0] == 3 ? "Transfer" : "Approve");
		return;
	}
	if (ix->data[0] != 12 && ix->data[0] != 13) {
		deny(d, "solana.spl_instruction_not_allowed", op, "solana.spl", s->line,
		     "instruction %zu is a token instruction (kind %u) these rules do not allow", i,
		     ix->data[0]);
		return;
	}
	if (ix->data_len != 10 || ix->n_accounts < 4 ||
	    (mint = sol_message_key(m, ix->accounts[1])) == NULL) {
		deny(d, "solana.spl_malformed", op, "solana.spl", s->line,
		     "instruction %zu is a token instruction the signer cannot read (its mint may "
		     "be "
		     "in a lookup table)",
		     i);
		return;
	}
	for (size_t k = 0; k < s->n_spl && rule == NULL; k++)
		if (memcmp(s->spl[k].mint, mint, 32) == 0)
			rule = &s->spl[k];
	if (rule == NULL) {
		deny(d, "solana.spl_mint_not_allowed", op, "solana.spl", s->line,
		     "instruction %zu moves a token whose mint is not allowed", i);
		return;
	}
	amount = le64(ix->data + 1);
	if (rule->has_max_amount && amount > rule->max_amount)
		deny(d, "solana.spl_amount_exceeded", op, "solana.spl.max_amount", rule->line,
		     "instruction %zu moves %llu base units; at most %llu", i,
		     (unsigned long long)amount, (unsigned long long)rule->max_amount);
}

/* System Program: CreateAccount (0), Transfer (2), CreateAccountWithSeed (3) and TransferWithSeed
 * (11), each decoded strictly (policy_sol_system_decode), within max_lamports and funding only
 * the destinations (the new account of the creations, the recipient of the transfers);
 * AdvanceNonceAccount (4) and Allocate (8). The others move lamports or ownership in ways these
 * rules do not allow (Assign, nonce withdrawals and authorities, AllocateWithSeed,
 * AssignWithSeed). */
static void check_system(const struct sol_rules *s, const char *op, const struct sol_message *m,
			 const struct sol_instruction *ix, size_t i, struct policy_decision *d)
{
	struct policy_sol_system sys;
	const uint8_t *dest;
	int r = policy_sol_system_decode(ix, &sys);

	if (r != SG_OK && r != SG_ERR_UNSUPPORTED) {
		deny(d, "solana.system_instruction_not_allowed", op, "solana.programs",
		     s->programs_line,
		     "instruction %zu is a System Program instruction (kind %u) whose data is not "
		     "its exact encoding",
		     i, sys.kind);
		return;
	}
	if (r != SG_OK ||
	    !(sys.kind == POLICY_SOL_CREATE_ACCOUNT || sys.kind == POLICY_SOL_TRANSFER ||
	      sys.kind == POLICY_SOL_CREATE_ACCOUNT_WITH_SEED ||
	      sys.kind == POLICY_SOL_TRANSFER_WITH_SEED ||
	      sys.kind == POLICY_SOL_ADVANCE_NONCE_ACCOUNT || sys.kind == POLICY_SOL_ALLOCATE)) {
		deny(d, "solana.system_instruction_not_allowed", op, "solana.programs",
		     s->programs_line,
		     "instruction %zu is a System Program instruction (kind %u) these rules do not "
		     "allow",
		     i, sys.kind);
		return;
	}
	if (!sys.moves_lamports)
		return;
	if (s->has_max_lamports && sys.lamports > s->max_lamports) {
		deny(d, "solana.lamports_exceeded", op, "solana.system_transfer.max_lamports",
		     s->line, "instruction %zu moves %llu lamports; at most %llu", i,
		     (unsigned long long)sys.lamports, (unsigned long long)s->max_lamports);
		return;
	}
	if (!s->has_transfer_destinations)
		return;
	dest = ix->n_accounts > sys.to ? sol_message_key(m, ix->accounts[sys.to]) : NULL;
	if (dest == NULL || !key_in(s->destinations, s->n_destinations, dest))
		deny(d, "solana.transfer_destination_not_allowed", op,
		     "solana.system_transfer.destinations", s->line, "instruction %zu %s %s", i,
		     sys.kind == POLICY_SOL_TRANSFER || sys.kind == POLICY_SOL_TRANSFER_WITH_SEED
			     ? "transfers to"
			     : "funds a new account at",
		     dest == NULL ? "an account the signer cannot see"
				  : "a destination that is not allowed");
}

void policy_check_solana(const struct policy *p, const char *op, const struct sol_message *m,
			 const uint8_t signer[32], struct policy_decision *d)
{
	const struct policy_rules *pr = rules_for(p, op);
	const struct sol_rules *s;
	const uint8_t *payer;

	decide_allow(d);
	if (pr == NULL)
		return;
	s = &pr->solana;
	if (!s->present) {
		deny(d, "solana.not_allowed", op, "solana", pr->line,
		     "operation '%s' allows no Solana messages", op);
		return;
	}
	if (m->n_lookups > 0 && !s->allow_lookup_tables) {
		deny(d, "solana.lookup_tables_not_allowed", op, "solana.allow_lookup_tables",
		     s->line,
		     "the message loads accounts from lookup tables, which the signer cannot see");
		return;
	}
	payer = sol_message_fee_payer(m);
	if (s->n_fee_payers > 0 ? !key_in(s->fee_payers, s->n_fee_payers, payer)
				: memcmp(payer, signer, 32) != 0) {
		deny(d, "solana.fee_payer_not_allowed", op, "solana.fee_payers", s->line,
		     "the fee payer is not %s",
		     s->n_fee_payers > 0 ? "an allowed one" : "the signing key");
		return;
	}
	if (s->has_max_instructions && m->n_instructions > s->max_instructions) {
		deny(d, "solana.too_many_instructions", op, "solana.max_instructions", s->line,
		     "%zu instructions; at most %llu", m->n_instructions,
		     (unsigned long long)s->max_instructions);
		return;
	}
	for (size_t i = 0; i < m->n_instructions; i++) {
		const struct sol_instruction *ix = &m->instructions[i];
		const uint8_t *prog = sol_instruction_program(m, ix);

		if (!key_in(s->programs, s->n_programs, prog)) {
			char b58[64];

			if (addr_solana_encode(prog, b58, sizeof(b58)) != SG_OK)
				b58[0] = '\0';
			deny(d, "solana.program_not_allowed", op, "solana.programs",
			     s->programs_line,
			     "instruction %zu calls program %s, which is not allowed", i, b58);
			return;
		}
		if (memcmp(prog, policy_sol_system_program, 32) == 0) {
			check_system(s, op, m, ix, i, d);
			if (!d->allowed)
				return;
		}
		/* SPL Token and Token-2022 (whenever the program allowlist lets them in) */
		if (memcmp(prog, policy_sol_token_program, 32) == 0 ||
		    memcmp(prog, policy_sol_token_2022_program, 32) == 0) {
			check_spl(s, op, m, ix, i, d);
			if (!d->allowed)
				return;
		}
		/* Compute Budget: SetComputeUnitPrice (3), micro-lamports per unit */
		if (memcmp(prog, policy_sol_compute_budget_program, 32) == 0 && ix->data_len >= 9 &&
		    ix->data[0] == 3 && s->has_max_cu_price &&
		    le64(ix->data + 1) > s->max_cu_price) {
			deny(d, "solana.compute_unit_price_exceeded", op,
			     "solana.max_compute_unit_price", s->line,
			     "a compute unit price of %llu micro-lamports is over the cap",
			     (unsigned long long)le64(ix->data + 1));
			return;
		}
	}
}

void policy_check_eip712(const struct policy *p, const char *op, const struct eip712 *td,
			 struct policy_decision *d)
{
	const struct policy_rules *pr = rules_for(p, op);
	const struct eip712_rules *e;
	bool domain_ok = false, type_ok = false;

	decide_allow(d);
	if (pr == NULL)
		return;
	e = &pr->eip712;
	if (!e->present) {
		deny(d, "eip712.not_allowed", op, "eip712", pr->line,
		     "operation '%s' allows no EIP-712 typed data", op);
		return;
	}
	for (size_t i = 0; i < e->n_domains && !domain_ok; i++) {
		const struct eip712_domain_rule *dr = &e->domains[i];

		domain_ok =
			(dr->name == NULL || (td->has_name && strcmp(dr->name, td->name) == 0)) &&
			(dr->version == NULL ||
			 (td->has_version && strcmp(dr->version, td->version) == 0)) &&
			(!dr->has_chain_id ||
			 (td->has_chain_id && memcmp(dr->chain_id, td->chain_id, 32) == 0)) &&
			(!dr->has_contract ||
			 (td->has_verifying_contract &&
			  memcmp(dr->contract, td->verifying_contract, 20) == 0));
	}
	if (!domain_ok) {
		deny(d, "eip712.domain_not_allowed", op, "eip712.domains", e->line,
		     "the typed data's domain is not an allowed one");
		return;
	}
	for (size_t i = 0; i < e->n_primary_types; i++)
		type_ok |= strcmp(e->primary_types[i], td->primary_type) == 0;
	if (!type_ok)
		deny(d, "eip712.primary_type_not_allowed", op, "eip712.primary_types", e->line,
		     "primary type '%s' is not allowed", td->primary_type);
}

void policy_check_eip191(const struct policy *p, const char *op, size_t length,
			 struct policy_decision *d)
{
	const struct policy_rules *pr = rules_for(p, op);

	decide_allow(d);
	if (pr == NULL)
		return;
	if (!pr->eip191.present) {
		deny(d, "eip191.not_allowed", op, "eip191", pr->line,
		     "operation '%s' allows no personal_sign messages", op);
		return;
	}
	if (pr->eip191.has_max_length && length > pr->eip191.max_length)
		deny(d, "eip191.too_long", op, "eip191.max_length", pr->eip191.line,
		     "the message is %zu bytes; at most %llu", length,
		     (unsigned long long)pr->eip191.max_length);
}
