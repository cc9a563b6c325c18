/* Content rules: what a payload may do, per operation, judged on the decoded transaction or
 * message (never on anything the client says about it). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "common/encoding.h"
#include "policy_internal.h"
#include "signer/evm/eip712.h"
#include "signer/evm/tx.h"
#include "signer/solana/message.h"

/* A 256-bit cap, big-endian. */
struct cap {
	bool set;
	uint8_t v[32];
	unsigned long line;
};

struct evm_recipient {
	uint8_t addr[20];
	bool any_selector;
	uint8_t (*selectors)[4];
	size_t n_selectors;
};

struct erc20_rule {
	uint8_t token[20];
	bool any_recipient;
	uint8_t (*recipients)[20];
	size_t n_recipients;
	uint8_t (*spenders)[20]; /* none: approve is refused */
	size_t n_spenders;
	struct cap max_amount;
	bool allow_unlimited_approval;
	unsigned long line;
};

struct spl_rule {
	uint8_t mint[32];
	bool has_max_amount;
	uint64_t max_amount;
	unsigned long line;
};

struct evm_rules {
	bool present;
	unsigned long line;
	uint8_t (*chain_ids)[32];
	size_t n_chain_ids;
	struct evm_recipient *recipients;
	size_t n_recipients;
	bool any_recipient;
	unsigned long recipients_line;
	bool allow_create;
	bool allow_access_list;
	struct cap max_value, max_gas, max_gas_price, max_fee, max_priority_fee, max_total_fee;
	struct erc20_rule *erc20;
	size_t n_erc20;
};

struct sol_rules {
	bool present;
	unsigned long line;
	uint8_t (*programs)[32];
	size_t n_programs;
	unsigned long programs_line;
	uint8_t (*fee_payers)[32]; /* none: the signing key must pay */
	size_t n_fee_payers;
	bool has_max_instructions;
	uint64_t max_instructions;
	bool allow_lookup_tables;
	bool has_transfer_destinations;
	uint8_t (*destinations)[32];
	size_t n_destinations;
	bool has_max_lamports;
	uint64_t max_lamports;
	bool has_max_cu_price;
	uint64_t max_cu_price;
	struct spl_rule *spl; /* SPL Token and Token-2022 transfers and approvals, by mint */
	size_t n_spl;
	bool has_spl;
};

struct eip712_domain_rule {
	char *name, *version;
	bool has_chain_id, has_contract;
	uint8_t chain_id[32];
	uint8_t contract[20];
};

struct eip712_rules {
	bool present;
	unsigned long line;
	struct eip712_domain_rule *domains;
	size_t n_domains;
	char **primary_types;
	size_t n_primary_types;
};

struct eip191_rules {
	bool present;
	unsigned long line;
	bool has_max_length;
	uint64_t max_length;
};

struct policy_rules {
	char *operation;
	unsigned long line;
	struct evm_rules evm;
	struct sol_rules solana;
	struct eip712_rules eip712;
	struct eip191_rules eip191;
};

/* ---- loading ------------------------------------------------------------------------- */

/* A decimal string (or a YAML integer) as a 256-bit big-endian number. */
static int rules_u256(struct ydoc *d, yaml_node_t *node, const char *what, uint8_t out[32])
{
	const char *text;
	int r = ydoc_scalar(d, node, what, &text);

	if (r != SG_OK)
		return r;
	memset(out, 0, 32);
	if (text[0] == '\0' || strlen(text) > 78)
		return ydoc_fail(d, node, "%s must be a whole number", what);
	for (const char *p = text; *p; p++) {
		unsigned carry;

		if (!isdigit((unsigned char)*p))
			return ydoc_fail(d, node, "%s must be a whole number in decimal, not '%s'",
					 what, text);
		carry = (unsigned)(*p - '0');
		for (int k = 31; k >= 0; k--) {
			unsigned x = out[k] * 10u + carry;

			out[k] = (uint8_t)x;
			carry = x >> 8;
		}
		if (carry != 0)
			return ydoc_fail(d, node, "%s does not fit in 256 bits", what);
	}
	return SG_OK;
}

static int rules_cap(struct ydoc *d, yaml_node_t *map, const char *key, const char *what,
		     struct cap *c)
{
	yaml_node_t *node = ydoc_map_get(d, map, key);

	if (node == NULL)
		return SG_OK;
	c->set = true;
	c->line = ydoc_line(node);
	return rules_u256(d, node, what, c->v);
}

static int rules_bool(struct ydoc *d, yaml_node_t *map, const char *key, bool *out)
{
	yaml_node_t *node = ydoc_map_get(d, map, key);
	const char *text;
	int r;

	if (node == NULL)
		return SG_OK;
	if ((r = ydoc_scalar(d, node, key, &text)) != SG_OK)
		return r;
	if (strcmp(text, "true") == 0)
		*out = true;
	else if (strcmp(text, "false") == 0)
		*out = false;
	else
		return ydoc_fail(d, node, "%s must be true or false", key);
	return SG_OK;
}

static size_t rules_seq_len(yaml_node_t *node)
{
	return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static yaml_node_t *rules_seq_item(struct ydoc *d, yaml_node_t *node, size_t i)
{
	return yaml_document_get_node(&d->doc, node->data.sequence.items.start[i]);
}

static int rules_expect_seq(struct ydoc *d, yaml_node_t *node, const char *what, bool nonempty)
{
	if (node == NULL || node->type != YAML_SEQUENCE_NODE)
		return ydoc_fail(d, node, "%s must be a list", what);
	if (nonempty && rules_seq_len(node) == 0)
		return ydoc_fail(d, node, "%s must list at least one entry", what);
	return SG_OK;
}

/* A list (with at least one entry when nonempty) and a zeroed array of as many elements, never of
 * zero bytes; NULL with *r set when the list is wrong or memory runs out. */
static void *rules_seq_array(struct ydoc *d, yaml_node_t *node, const char *what, bool nonempty,
			     size_t elsize, size_t *n, int *r)
{
	void *arr;

	if ((*r = rules_expect_seq(d, node, what, nonempty)) != SG_OK)
		return NULL;
	*n = rules_seq_len(node);
	arr = calloc(*n == 0 ? 1 : *n, elsize);
	if (arr == NULL) {
		*n = 0; /* nothing for the free path to walk */
		*r = sg_fail(SG_ERR_NOMEM, "policy");
	}
	return arr;
}

/* A list of Solana addresses (Base58, 32 bytes). */
static int rules_sol_keys(struct ydoc *d, yaml_node_t *node, const char *what, uint8_t (**out)[32],
			  size_t *n)
{
	int r;

	if ((*out = rules_seq_array(d, node, what, true, sizeof(**out), n, &r)) == NULL)
		return r;
	for (size_t i = 0; i < *n; i++) {
		yaml_node_t *item = rules_seq_item(d, node, i);
		const char *text;

		if ((r = ydoc_scalar(d, item, what, &text)) != SG_OK)
			return r;
		if (addr_solana_parse(text, (*out)[i]) != SG_OK)
			return ydoc_fail(d, item,
					 "'%s' is not a Solana address (Base58 of 32 bytes)", text);
	}
	return SG_OK;
}

static int rules_evm_address(struct ydoc *d, yaml_node_t *node, const char *what, uint8_t out[20])
{
	const char *text;
	int r = ydoc_scalar(d, node, what, &text);

	if (r != SG_OK)
		return r;
	if (addr_evm_parse(text, out) != SG_OK)
		return ydoc_fail(d, node, "%s '%s': %s", what, text, sg_errmsg(SG_ERR_MALFORMED));
	return SG_OK;
}

static int rules_evm_addresses(struct ydoc *d, yaml_node_t *node, const char *what,
			       uint8_t (**out)[20], size_t *n)
{
	int r;

	if ((*out = rules_seq_array(d, node, what, false, sizeof(**out), n, &r)) == NULL)
		return r;
	for (size_t i = 0; i < *n; i++)
		if ((r = rules_evm_address(d, rules_seq_item(d, node, i), what, (*out)[i])) !=
		    SG_OK)
			return r;
	return SG_OK;
}

static int rules_load_erc20(struct ydoc *d, yaml_node_t *node, struct evm_rules *e)
{
	int r;

	e->erc20 = rules_seq_array(d, node, "erc20", true, sizeof(*e->erc20), &e->n_erc20, &r);
	if (e->erc20 == NULL)
		return r;
	for (size_t i = 0; i < e->n_erc20; i++) {
		static const char *const fields[] = {
			"token", "recipients", "spenders", "max_amount", "allow_unlimited_approval",
			NULL};
		yaml_node_t *item = rules_seq_item(d, node, i), *v;
		struct erc20_rule *t = &e->erc20[i];

		if ((r = ydoc_expect_map(d, item, "an erc20 rule", fields)) != SG_OK)
			return r;
		t->line = ydoc_line(item);
		if ((v = ydoc_map_get(d, item, "token")) == NULL)
			return ydoc_fail(d, item, "an erc20 rule needs its token (the contract)");
		if ((r = rules_evm_address(d, v, "token", t->token)) != SG_OK)
			return r;
		v = ydoc_map_get(d, item, "recipients");
		t->any_recipient = v == NULL;
		if (v != NULL && (r = rules_evm_addresses(d, v, "recipients", &t->recipients,
							  &t->n_recipients)) != SG_OK)
			return r;
		v = ydoc_map_get(d, item, "spenders");
		if (v != NULL && (r = rules_evm_addresses(d, v, "spenders", &t->spenders,
							  &t->n_spenders)) != SG_OK)
			return r;
		if ((r = rules_cap(d, item, "max_amount", "max_amount", &t->max_amount)) != SG_OK ||
		    (r = rules_bool(d, item, "allow_unlimited_approval",
				    &t->allow_unlimited_approval)) != SG_OK)
			return r;
	}
	return SG_OK;
}

static int rules_load_evm(struct ydoc *d, yaml_node_t *node, struct evm_rules *e)
{
	static const char *const fields[] = {"chain_ids",
					     "recipients",
					     "allow_create",
					     "allow_access_list",
					     "max_value_wei",
					     "max_gas",
					     "max_gas_price_wei",
					     "max_fee_per_gas_wei",
					     "max_priority_fee_per_gas_wei",
					     "max_total_fee_wei",
					     "erc20",
					     NULL};
	yaml_node_t *ids, *recs, *tokens;
	int r;

	if ((r = ydoc_expect_map(d, node, "evm rules", fields)) != SG_OK)
		return r;
	e->present = true;
	e->line = ydoc_line(node);
	ids = ydoc_map_get(d, node, "chain_ids");
	if (ids == NULL)
		return ydoc_fail(d, node, "evm rules need chain_ids");
	e->chain_ids = rules_seq_array(d, ids, "chain_ids", true, sizeof(*e->chain_ids),
				       &e->n_chain_ids, &r);
	if (e->chain_ids == NULL)
		return r;
	for (size_t i = 0; i < e->n_chain_ids; i++) {
		yaml_node_t *item = rules_seq_item(d, ids, i);

		if ((r = rules_u256(d, item, "a chain id", e->chain_ids[i])) != SG_OK)
			return r;
	}
	recs = ydoc_map_get(d, node, "recipients");
	e->any_recipient = recs == NULL;
	if (recs != NULL) {
		e->recipients_line = ydoc_line(recs);
		e->recipients = rules_seq_array(d, recs, "recipients", false,
						sizeof(*e->recipients), &e->n_recipients, &r);
		if (e->recipients == NULL)
			return r;
		for (size_t i = 0; i < e->n_recipients; i++) {
			static const char *const rf[] = {"address", "selectors", NULL};
			yaml_node_t *item = rules_seq_item(d, recs, i), *a, *sels;
			struct evm_recipient *rc = &e->recipients[i];

			if ((r = ydoc_expect_map(d, item, "a recipient", rf)) != SG_OK)
				return r;
			a = ydoc_map_get(d, item, "address");
			if (a == NULL)
				return ydoc_fail(d, item, "a recipient needs an address");
			if ((r = rules_evm_address(d, a, "address", rc->addr)) != SG_OK)
				return r;
			sels = ydoc_map_get(d, item, "selectors");
			rc->any_selector = sels == NULL;
			if (sels == NULL)
				continue;
			rc->selectors =
				rules_seq_array(d, sels, "selectors", false, sizeof(*rc->selectors),
						&rc->n_selectors, &r);
			if (rc->selectors == NULL)
				return r;
			for (size_t k = 0; k < rc->n_selectors; k++) {
				yaml_node_t *sn = rules_seq_item(d, sels, k);
				const char *text;
				size_t got;

				if ((r = ydoc_scalar(d, sn, "a selector", &text)) != SG_OK)
					return r;
				if (strlen(text) != 10 ||
				    hex_decode_0x(text, 10, rc->selectors[k], 4, &got) != SG_OK)
					return ydoc_fail(d, sn,
							 "selector '%s' is not 0x and 8 hex digits",
							 text);
			}
		}
	}
	if ((r = rules_bool(d, node, "allow_create", &e->allow_create)) != SG_OK ||
	    (r = rules_bool(d, node, "allow_access_list", &e->allow_access_list)) != SG_OK ||
	    (r = rules_cap(d, node, "max_value_wei", "max_value_wei", &e->max_value)) != SG_OK ||
	    (r = rules_cap(d, node, "max_gas", "max_gas", &e->max_gas)) != SG_OK ||
	    (r = rules_cap(d, node, "max_gas_price_wei", "max_gas_price_wei", &e->max_gas_price)) !=
		    SG_OK ||
	    (r = rules_cap(d, node, "max_fee_per_gas_wei", "max_fee_per_gas_wei", &e->max_fee)) !=
		    SG_OK ||
	    (r = rules_cap(d, node, "max_priority_fee_per_gas_wei", "max_priority_fee_per_gas_wei",
			   &e->max_priority_fee)) != SG_OK ||
	    (r = rules_cap(d, node, "max_total_fee_wei", "max_total_fee_wei", &e->max_total_fee)) !=
		    SG_OK)
		return r;
	tokens = ydoc_map_get(d, node, "erc20");
	if (tokens != NULL && (r = rules_load_erc20(d, tokens, e)) != SG_OK)
		return r;
	if (e->n_recipients == 0 && !e->any_recipient && !e->allow_create)
		return ydoc_fail(d, node,
				 "these evm rules can never match: no recipient is allowed "
				 "and allow_create is false");
	return SG_OK;
}

static int rules_u64(struct ydoc *d, yaml_node_t *map, const char *key, bool *has, uint64_t *out)
{
	yaml_node_t *node = ydoc_map_get(d, map, key);

	if (node == NULL)
		return SG_OK;
	*has = true;
	return ydoc_uint(d, node, key, 0, UINT64_MAX, out);
}

static int rules_load_solana(struct ydoc *d, yaml_node_t *node, struct sol_rules *s)
{
	static const char *const fields[] = {"programs",
					     "fee_payers",
					     "max_instructions",
					     "allow_lookup_tables",
					     "system_transfer",
					     "max_compute_unit_price",
					     "spl",
					     NULL};
	yaml_node_t *v;
	int r;

	if ((r = ydoc_expect_map(d, node, "solana rules", fields)) != SG_OK)
		return r;
	s->present = true;
	s->line = ydoc_line(node);
	v = ydoc_map_get(d, node, "programs");
	if (v == NULL)
		return ydoc_fail(d, node, "solana rules need programs (the allowed program ids)");
	s->programs_line = ydoc_line(v);
	if ((r = rules_sol_keys(d, v, "programs", &s->programs, &s->n_programs)) != SG_OK)
		return r;
	v = ydoc_map_get(d, node, "fee_payers");
	if (v != NULL &&
	    (r = rules_sol_keys(d, v, "fee_payers", &s->fee_payers, &s->n_fee_payers)) != SG_OK)
		return r;
	if ((r = rules_u64(d, node, "max_instructions", &s->has_max_instructions,
			   &s->max_instructions)) != SG_OK ||
	    (r = rules_bool(d, node, "allow_lookup_tables", &s->allow_lookup_tables)) != SG_OK ||
	    (r = rules_u64(d, node, "max_compute_unit_price", &s->has_max_cu_price,
			   &s->max_cu_price)) != SG_OK)
		return r;
	v = ydoc_map_get(d, node, "spl");
	if (v != NULL) {
		s->spl = rules_seq_array(d, v, "spl", false, sizeof(*s->spl), &s->n_spl, &r);
		if (s->spl == NULL)
			return r;
		s->has_spl = true;
		for (size_t i = 0; i < s->n_spl; i++) {
			static const char *const sf[] = {"mint", "max_amount", NULL};
			yaml_node_t *item = rules_seq_item(d, v, i), *mint;
			const char *text;

			if ((r = ydoc_expect_map(d, item, "an spl rule", sf)) != SG_OK)
				return r;
			s->spl[i].line = ydoc_line(item);
			if ((mint = ydoc_map_get(d, item, "mint")) == NULL)
				return ydoc_fail(d, item, "an spl rule needs its mint");
			if ((r = ydoc_scalar(d, mint, "mint", &text)) != SG_OK)
				return r;
			if (addr_solana_parse(text, s->spl[i].mint) != SG_OK)
				return ydoc_fail(d, mint, "'%s' is not a Solana address", text);
			if ((r = rules_u64(d, item, "max_amount", &s->spl[i].has_max_amount,
					   &s->spl[i].max_amount)) != SG_OK)
				return r;
		}
	}
	v = ydoc_map_get(d, node, "system_transfer");
	if (v != NULL) {
		static const char *const tf[] = {"destinations", "max_lamports", NULL};
		yaml_node_t *dst;

		if ((r = ydoc_expect_map(d, v, "system_transfer", tf)) != SG_OK ||
		    (r = rules_u64(d, v, "max_lamports", &s->has_max_lamports, &s->max_lamports)) !=
			    SG_OK)
			return r;
		dst = ydoc_map_get(d, v, "destinations");
		if (dst != NULL) {
			s->has_transfer_destinations = true;
			if ((r = rules_sol_keys(d, dst, "destinations", &s->destinations,
						&s->n_destinations)) != SG_OK)
				return r;
		}
	}
	return SG_OK;
}

static int rules_load_eip712(struct ydoc *d, yaml_node_t *node, struct eip712_rules *e)
{
	static const char *const fields[] = {"domains", "primary_types", NULL};
	yaml_node_t *v;
	int r;

	if ((r = ydoc_expect_map(d, node, "eip712 rules", fields)) != SG_OK)
		return r;
	e->present = true;
	e->line = ydoc_line(node);
	v = ydoc_map_get(d, node, "domains");
	if (v == NULL)
		return ydoc_fail(d, node, "eip712 rules need domains");
	e->domains = rules_seq_array(d, v, "domains", true, sizeof(*e->domains), &e->n_domains, &r);
	if (e->domains == NULL)
		return r;
	for (size_t i = 0; i < e->n_domains; i++) {
		static const char *const df[] = {"name", "version", "chain_id",
						 "verifying_contract", NULL};
		yaml_node_t *item = rules_seq_item(d, v, i), *f;
		struct eip712_domain_rule *dr = &e->domains[i];
		const char *text;

		if ((r = ydoc_expect_map(d, item, "a domain", df)) != SG_OK)
			return r;
		if ((f = ydoc_map_get(d, item, "name")) != NULL) {
			if ((r = ydoc_scalar(d, f, "name", &text)) != SG_OK)
				return r;
			dr->name = strdup(text);
		}
		if ((f = ydoc_map_get(d, item, "version")) != NULL) {
			if ((r = ydoc_scalar(d, f, "version", &text)) != SG_OK)
				return r;
			dr->version = strdup(text);
		}
		if ((f = ydoc_map_get(d, item, "chain_id")) != NULL) {
			dr->has_chain_id = true;
			if ((r = rules_u256(d, f, "chain_id", dr->chain_id)) != SG_OK)
				return r;
		}
		if ((f = ydoc_map_get(d, item, "verifying_contract")) != NULL) {
			dr->has_contract = true;
			if ((r = rules_evm_address(d, f, "verifying_contract", dr->contract)) !=
			    SG_OK)
				return r;
		}
		if (dr->name == NULL && dr->version == NULL && !dr->has_chain_id &&
		    !dr->has_contract)
			return ydoc_fail(d, item, "a domain rule names at least one field");
	}
	v = ydoc_map_get(d, node, "primary_types");
	if (v == NULL)
		return ydoc_fail(d, node, "eip712 rules need primary_types");
	e->primary_types = rules_seq_array(d, v, "primary_types", true, sizeof(*e->primary_types),
					   &e->n_primary_types, &r);
	if (e->primary_types == NULL)
		return r;
	for (size_t i = 0; i < e->n_primary_types; i++) {
		const char *text;

		if ((r = ydoc_scalar(d, rules_seq_item(d, v, i), "a primary type", &text)) != SG_OK)
			return r;
		e->primary_types[i] = strdup(text);
		if (e->primary_types[i] == NULL)
			return sg_fail(SG_ERR_NOMEM, "policy");
	}
	return SG_OK;
}

static int rules_load_eip191(struct ydoc *d, yaml_node_t *node, struct eip191_rules *e)
{
	static const char *const fields[] = {"max_length", NULL};
	int r;

	if ((r = ydoc_expect_map(d, node, "eip191 rules", fields)) != SG_OK)
		return r;
	e->present = true;
	e->line = ydoc_line(node);
	return rules_u64(d, node, "max_length", &e->has_max_length, &e->max_length);
}

int policy_rules_load(struct ydoc *d, yaml_node_t *node, struct policy *p)
{
	static const char *const fields[] = {"evm", "solana", "eip712", "eip191", NULL};
	yaml_node_pair_t *pair;
	size_t n;
	int r;

	if (node->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, node, "rules must be a mapping of operation: rules");
	n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	p->rules = calloc(n == 0 ? 1 : n, sizeof(*p->rules));
	if (p->rules == NULL)
		return sg_fail(SG_ERR_NOMEM, "policy");
	for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, pair->value), *sec;
		struct policy_rules *pr = &p->rules[p->n_rules];
		const char *op;

		if ((r = ydoc_scalar(d, k, "an operation", &op)) != SG_OK)
			return r;
		for (size_t i = 0; i < p->n_rules; i++)
			if (strcmp(p->rules[i].operation, op) == 0)
				return ydoc_fail(d, k, "rules for operation '%s' appear twice", op);
		if (!policy_operation_named(p, op))
			return ydoc_fail(d, k, "rules for operation '%s', which no grant names",
					 op);
		p->n_rules++;
		pr->operation = strdup(op);
		pr->line = ydoc_line(k);
		if (pr->operation == NULL)
			return sg_fail(SG_ERR_NOMEM, "policy");
		if ((r = ydoc_expect_map(d, v, "rules of an operation", fields)) != SG_OK)
			return r;
		if ((sec = ydoc_map_get(d, v, "evm")) != NULL &&
		    (r = rules_load_evm(d, sec, &pr->evm)) != SG_OK)
			return r;
		if ((sec = ydoc_map_get(d, v, "solana")) != NULL &&
		    (r = rules_load_solana(d, sec, &pr->solana)) != SG_OK)
			return r;
		if ((sec = ydoc_map_get(d, v, "eip712")) != NULL &&
		    (r = rules_load_eip712(d, sec, &pr->eip712)) != SG_OK)
			return r;
		if ((sec = ydoc_map_get(d, v, "eip191")) != NULL &&
		    (r = rules_load_eip191(d, sec, &pr->eip191)) != SG_OK)
			return r;
	}
	return SG_OK;
}

void policy_rules_free(struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		struct policy_rules *pr = &p->rules[i];

		free(pr->operation);
		free(pr->evm.chain_ids);
		for (size_t k = 0; k < pr->evm.n_recipients; k++)
			free(pr->evm.recipients[k].selectors);
		free(pr->evm.recipients);
		for (size_t k = 0; k < pr->evm.n_erc20; k++) {
			free(pr->evm.erc20[k].recipients);
			free(pr->evm.erc20[k].spenders);
		}
		free(pr->evm.erc20);
		free(pr->solana.spl);
		free(pr->solana.programs);
		free(pr->solana.fee_payers);
		free(pr->solana.destinations);
		for (size_t k = 0; k < pr->eip712.n_domains; k++) {
			free(pr->eip712.domains[k].name);
			free(pr->eip712.domains[k].version);
		}
		free(pr->eip712.domains);
		for (size_t k = 0; k < pr->eip712.n_primary_types; k++)
			free(pr->eip712.primary_types[k]);
		free(pr->eip712.primary_types);
	}
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
}

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

/* ---- spend limits ---------------------------------------------------------------------- */

static int rules_window(struct ydoc *d, yaml_node_t *node, uint64_t *seconds)
{
	const char *text;
	char *end;
	unsigned long long n;
	int r = ydoc_scalar(d, node, "window", &text);

	if (r != SG_OK)
		return r;
	if (!isdigit((unsigned char)text[0]))
		return ydoc_fail(d, node, "window '%s' must be a number of s, m, h or d", text);
	n = strtoull(text, &end, 10);
	if (end == text || n == 0 || n > 7 * 86400)
		return ydoc_fail(d, node, "window '%s' must be from 1m to 7d", text);
	switch (*end) {
	case 's':
		*seconds = n;
		break;
	case 'm':
		*seconds = n * 60;
		break;
	case 'h':
		*seconds = n * 3600;
		break;
	case 'd':
		*seconds = n * 86400;
		break;
	default:
		return ydoc_fail(d, node, "window '%s' must be a number of s, m, h or d", text);
	}
	if (end[1] != '\0' || *seconds < 60 || *seconds > 7 * 86400)
		return ydoc_fail(d, node, "window '%s' must be from 1m to 7d", text);
	return SG_OK;
}

int policy_spend_limits_load(struct ydoc *d, yaml_node_t *node, struct policy *p)
{
	size_t n;
	int r;

	p->spend_limits =
		rules_seq_array(d, node, "spend_limits", false, sizeof(*p->spend_limits), &n, &r);
	if (p->spend_limits == NULL)
		return r;
	for (size_t i = 0; i < n; i++) {
		static const char *const fields[] = {"key", "asset", "window", "max", NULL};
		yaml_node_t *item = rules_seq_item(d, node, i), *v;
		struct policy_spend_limit *sl = &p->spend_limits[i];
		const char *text;
		bool granted = false;

		if ((r = ydoc_expect_map(d, item, "a spend limit", fields)) != SG_OK)
			return r;
		if ((v = ydoc_map_get(d, item, "key")) == NULL)
			return ydoc_fail(d, item, "a spend limit needs a key");
		if ((r = ydoc_scalar(d, v, "key", &text)) != SG_OK)
			return r;
		for (size_t k = 0; k < p->n_grants; k++)
			granted |= strcmp(p->grants[k].key, text) == 0;
		if (!granted)
			return ydoc_fail(d, v, "key '%s' is not named by any grant", text);
		snprintf(sl->key, sizeof(sl->key), "%s", text);
		if ((v = ydoc_map_get(d, item, "asset")) == NULL)
			return ydoc_fail(d, item,
					 "a spend limit needs an asset (native, erc20:0x..., "
					 "spl:MINT)");
		if ((r = ydoc_scalar(d, v, "asset", &text)) != SG_OK)
			return r;
		if (strncmp(text, "erc20:", 6) == 0) {
			uint8_t addr[20];
			char canon[EVM_ADDRESS_TEXT_LEN];

			if (addr_evm_parse(text + 6, addr) != SG_OK)
				return ydoc_fail(d, v, "asset '%s': %s", text,
						 sg_errmsg(SG_ERR_MALFORMED));
			addr_evm_checksum(addr, canon);
			snprintf(sl->asset, sizeof(sl->asset), "erc20:%s", canon);
		} else if (strncmp(text, "spl:", 4) == 0) {
			uint8_t mint[32];

			if (addr_solana_parse(text + 4, mint) != SG_OK)
				return ydoc_fail(
					d, v, "asset '%s': the mint is not a Solana address", text);
			snprintf(sl->asset, sizeof(sl->asset), "%s", text);
		} else if (strcmp(text, "native") == 0) {
			snprintf(sl->asset, sizeof(sl->asset), "native");
		} else {
			return ydoc_fail(d, v, "asset '%s' is not native, erc20:0x... or spl:MINT",
					 text);
		}
		if ((v = ydoc_map_get(d, item, "window")) == NULL)
			return ydoc_fail(d, item, "a spend limit needs a window (1h, 24h, ...)");
		if ((r = rules_window(d, v, &sl->window_seconds)) != SG_OK)
			return r;
		if ((v = ydoc_map_get(d, item, "max")) == NULL)
			return ydoc_fail(d, item, "a spend limit needs max (base units, decimal)");
		if ((r = rules_u256(d, v, "max", sl->max)) != SG_OK)
			return r;
		for (size_t k = 0; k < p->n_spend_limits; k++)
			if (strcmp(p->spend_limits[k].key, sl->key) == 0 &&
			    strcmp(p->spend_limits[k].asset, sl->asset) == 0 &&
			    p->spend_limits[k].window_seconds == sl->window_seconds)
				return ydoc_fail(
					d, item,
					"a spend limit for %s / %s over this window is already "
					"given",
					sl->key, sl->asset);
		if (snprintf(sl->rule, sizeof(sl->rule), "spend_limits[%zu] (line %lu)", i,
			     ydoc_line(item)) < 0)
			sl->rule[0] = '\0';
		p->n_spend_limits++;
	}
	return SG_OK;
}

size_t policy_spend_limit_count(const struct policy *p)
{
	return p->n_spend_limits;
}

const struct policy_spend_limit *policy_spend_limit_at(const struct policy *p, size_t i)
{
	return i < p->n_spend_limits ? &p->spend_limits[i] : NULL;
}
