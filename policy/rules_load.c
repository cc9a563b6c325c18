/* Loading the policy's content rules (rules:) and spend limits (spend_limits:) from its YAML,
 * each problem reported as FILE:LINE. */
#include "rules_internal.h"

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
	for (const char *p = text; *p; p++)
		if (!isdigit((unsigned char)*p))
			return ydoc_fail(d, node, "%s must be a whole number in decimal, not '%s'",
					 what, text);
	if (!limits_u256_decimal(text, out))
		return ydoc_fail(d, node, "%s does not fit in 256 bits", what);
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
