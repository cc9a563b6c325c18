#include "policy/policy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/names.h"
#include "common/yamldoc.h"
#include "policy_internal.h"

static int policy_client_load(struct ydoc *d, yaml_node_t *key, yaml_node_t *val,
			      struct policy_client *c)
{
	static const char *const fields[] = {"san_uri", "cn", "spki_sha256", NULL};
	const char *name, *text;
	yaml_node_t *v;
	int found = 0, r;

	if ((r = ydoc_scalar(d, key, "a client name", &name)) != SG_OK)
		return r;
	if (!name_valid(name))
		return ydoc_fail(d, key, "client name '%s' must be [a-z0-9][a-z0-9-]{0,62}", name);
	if (strcmp(name, POLICY_CLIENT_LOCAL) == 0)
		return ydoc_fail(d, key,
				 "'local' is the console operator; it takes no clients entry");
	if ((r = ydoc_expect_map(d, val, "a client", fields)) != SG_OK)
		return r;
	c->name = strdup(name);
	for (int m = 0; m < 3; m++) {
		v = ydoc_map_get(d, val, fields[m]);
		if (v == NULL)
			continue;
		if (++found > 1)
			return ydoc_fail(
				d, val, "client '%s' needs exactly one of san_uri, cn, spki_sha256",
				name);
		if ((r = ydoc_scalar(d, v, fields[m], &text)) != SG_OK)
			return r;
		c->match = (enum policy_match)m;
		if (m == POLICY_MATCH_SPKI) {
			size_t n;

			if (strlen(text) != 64 || hex_decode(text, 64, c->spki, 32, &n) != SG_OK)
				return ydoc_fail(d, v, "spki_sha256 must be 64 hex digits");
		} else if (!peer_name_valid(text, strlen(text),
					    m == POLICY_MATCH_SAN_URI ? PEER_NAME_URI
								      : PEER_NAME_CN) ||
			   (m == POLICY_MATCH_SAN_URI && strchr(text, ':') == NULL)) {
			return ydoc_fail(d, v, "%s '%s' is not valid (%s)", fields[m], text,
					 m == POLICY_MATCH_SAN_URI
						 ? "a URI has a scheme, and is 1 to 255 printable "
						   "ASCII characters without spaces"
						 : "1 to 255 printable ASCII characters");
		} else {
			c->value = strdup(text);
			c->value_len = strlen(text);
		}
	}
	if (found != 1)
		return ydoc_fail(d, val,
				 "client '%s' needs exactly one of san_uri, cn, spki_sha256", name);
	if (c->name == NULL || (c->match != POLICY_MATCH_SPKI && c->value == NULL))
		return sg_fail(SG_ERR_NOMEM, "policy");
	return SG_OK;
}

static int policy_grant_load(struct ydoc *d, yaml_node_t *node, struct policy *p,
			     struct policy_grant *g, size_t index)
{
	static const char *const fields[] = {"client", "key", "operations", NULL};
	yaml_node_t *v, *ops;
	const char *text;
	bool known = false;
	int r;

	if ((r = ydoc_expect_map(d, node, "a grant", fields)) != SG_OK)
		return r;
	snprintf(g->rule, sizeof(g->rule), "grants[%zu]", index);
	v = ydoc_map_get(d, node, "client");
	if (v == NULL)
		return ydoc_fail(d, node, "a grant needs a client");
	if ((r = ydoc_scalar(d, v, "client", &text)) != SG_OK)
		return r;
	known = strcmp(text, POLICY_CLIENT_LOCAL) == 0;
	for (size_t i = 0; i < p->n_clients; i++)
		known |= strcmp(p->clients[i].name, text) == 0;
	if (!known)
		return ydoc_fail(d, v, "client '%s' is not defined under clients", text);
	g->client = strdup(text);
	v = ydoc_map_get(d, node, "key");
	if (v == NULL)
		return ydoc_fail(d, node, "a grant needs a key");
	if ((r = ydoc_scalar(d, v, "key", &text)) != SG_OK)
		return r;
	if (!name_valid(text))
		return ydoc_fail(d, v, "key name '%s' must be [a-z0-9][a-z0-9-]{0,62}", text);
	g->key = strdup(text);
	g->key_line = ydoc_line(v);
	ops = ydoc_map_get(d, node, "operations");
	if (ops == NULL || ops->type != YAML_SEQUENCE_NODE ||
	    ops->data.sequence.items.top == ops->data.sequence.items.start)
		return ydoc_fail(d, ops != NULL ? ops : node,
				 "a grant needs operations: a list of one or more");
	g->n_operations = (size_t)(ops->data.sequence.items.top - ops->data.sequence.items.start);
	g->operations = calloc(g->n_operations, sizeof(char *));
	if (g->client == NULL || g->key == NULL || g->operations == NULL)
		return sg_fail(SG_ERR_NOMEM, "policy");
	for (size_t i = 0; i < g->n_operations; i++) {
		yaml_node_t *op =
			yaml_document_get_node(&d->doc, ops->data.sequence.items.start[i]);

		if ((r = ydoc_scalar(d, op, "an operation", &text)) != SG_OK)
			return r;
		if (!operation_valid(text))
			return ydoc_fail(
				d, op,
				"operation '%s' must be 1 to 64 of A-Z a-z 0-9 _ - . :", text);
		for (size_t k = 0; k < i; k++)
			if (strcmp(g->operations[k], text) == 0)
				return ydoc_fail(d, op, "operation '%s' is listed twice", text);
		g->operations[i] = strdup(text);
		if (g->operations[i] == NULL)
			return sg_fail(SG_ERR_NOMEM, "policy");
	}
	return SG_OK;
}

static int policy_rate_limits_load(struct ydoc *d, yaml_node_t *node, struct policy *p)
{
	size_t n;

	if (node->type != YAML_SEQUENCE_NODE)
		return ydoc_fail(d, node, "rate_limits must be a list");
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	p->rate_limits = calloc(n == 0 ? 1 : n, sizeof(*p->rate_limits));
	if (p->rate_limits == NULL)
		return sg_fail(SG_ERR_NOMEM, "policy");
	for (size_t i = 0; i < n; i++) {
		static const char *const fields[] = {"client", "operation", "per_minute", "burst",
						     NULL};
		yaml_node_t *item =
			yaml_document_get_node(&d->doc, node->data.sequence.items.start[i]);
		struct policy_rate_limit *rl = &p->rate_limits[i];
		const char *client, *op;
		yaml_node_t *v;
		bool known;
		int r;

		if ((r = ydoc_expect_map(d, item, "a rate limit", fields)) != SG_OK)
			return r;
		if ((v = ydoc_map_get(d, item, "client")) == NULL ||
		    (r = ydoc_scalar(d, v, "client", &client)) != SG_OK)
			return v == NULL ? ydoc_fail(d, item, "a rate limit needs a client") : r;
		known = strcmp(client, POLICY_CLIENT_LOCAL) == 0;
		for (size_t k = 0; k < p->n_clients; k++)
			known |= strcmp(p->clients[k].name, client) == 0;
		if (!known)
			return ydoc_fail(d, v, "client '%s' is not defined under clients", client);
		if ((v = ydoc_map_get(d, item, "operation")) == NULL ||
		    (r = ydoc_scalar(d, v, "operation", &op)) != SG_OK)
			return v == NULL ? ydoc_fail(d, item, "a rate limit needs an operation")
					 : r;
		if (!policy_operation_named(p, op))
			return ydoc_fail(d, v, "operation '%s' is not named by any grant", op);
		for (size_t k = 0; k < p->n_rate_limits; k++)
			if (strcmp(p->rate_limits[k].client, client) == 0 &&
			    strcmp(p->rate_limits[k].operation, op) == 0)
				return ydoc_fail(d, item,
						 "a rate limit for %s / %s is already given",
						 client, op);
		snprintf(rl->client, sizeof(rl->client), "%s", client);
		snprintf(rl->operation, sizeof(rl->operation), "%s", op);
		if ((v = ydoc_map_get(d, item, "per_minute")) == NULL ||
		    (r = ydoc_uint(d, v, "per_minute", 1, 1000000, &rl->per_minute)) != SG_OK)
			return v == NULL ? ydoc_fail(d, item, "a rate limit needs per_minute") : r;
		if ((v = ydoc_map_get(d, item, "burst")) == NULL)
			rl->burst = rl->per_minute < 1 ? 1 : (rl->per_minute + 59) / 60;
		else if ((r = ydoc_uint(d, v, "burst", 1, 1000000, &rl->burst)) != SG_OK)
			return r;
		if (snprintf(rl->rule, sizeof(rl->rule), "rate_limits[%zu] (line %lu)", i,
			     ydoc_line(item)) < 0)
			rl->rule[0] = '\0';
		p->n_rate_limits++;
	}
	return SG_OK;
}

size_t policy_rate_limit_count(const struct policy *p)
{
	return p->n_rate_limits;
}

const struct policy_rate_limit *policy_rate_limit_at(const struct policy *p, size_t i)
{
	return i < p->n_rate_limits ? &p->rate_limits[i] : NULL;
}

const struct policy_rate_limit *policy_rate_limit_for(const struct policy *p, const char *client,
						      const char *operation)
{
	for (size_t i = 0; i < p->n_rate_limits; i++)
		if (strcmp(p->rate_limits[i].client, client) == 0 &&
		    strcmp(p->rate_limits[i].operation, operation) == 0)
			return &p->rate_limits[i];
	return NULL;
}

int policy_load(const char *path, struct policy **out)
{
	static const char *const fields[] = {"clients",     "grants",       "rules",
					     "rate_limits", "spend_limits", NULL};
	struct ydoc d;
	struct policy *p;
	yaml_node_t *root, *clients, *grants;
	int r;

	*out = NULL;
	if ((r = ydoc_load_file(path, "policy file", &d)) != SG_OK)
		return r == SG_ERR_NOT_FOUND ? sg_context(r, "policy file") : r;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		ydoc_free(&d);
		return sg_fail(SG_ERR_NOMEM, "policy");
	}
	root = ydoc_root(&d);
	if ((r = ydoc_expect_map(&d, root, "the policy", fields)) != SG_OK)
		goto out;
	clients = ydoc_map_get(&d, root, "clients");
	if (clients != NULL) {
		yaml_node_pair_t *pair;
		size_t n = (size_t)(clients->type == YAML_MAPPING_NODE
					    ? clients->data.mapping.pairs.top -
						      clients->data.mapping.pairs.start
					    : 0);

		if (clients->type != YAML_MAPPING_NODE) {
			r = ydoc_fail(&d, clients, "clients must be a mapping of name: match");
			goto out;
		}
		p->clients = calloc(n == 0 ? 1 : n, sizeof(*p->clients));
		if (p->clients == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "policy");
			goto out;
		}
		for (pair = clients->data.mapping.pairs.start;
		     pair < clients->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(&d.doc, pair->key);

			r = policy_client_load(&d, k, yaml_document_get_node(&d.doc, pair->value),
					       &p->clients[p->n_clients]);
			p->n_clients++;
			if (r != SG_OK)
				goto out;
			for (size_t i = 0; i + 1 < p->n_clients; i++) {
				const struct policy_client *a = &p->clients[i],
							   *b = &p->clients[p->n_clients - 1];

				if (strcmp(a->name, b->name) == 0) {
					r = ydoc_fail(&d, k, "client '%s' is defined twice",
						      b->name);
					goto out;
				}
				if (a->match == b->match &&
				    (a->match == POLICY_MATCH_SPKI
					     ? memcmp(a->spki, b->spki, 32) == 0
					     : strcmp(a->value, b->value) == 0)) {
					r = ydoc_fail(&d, k,
						      "clients '%s' and '%s' match the same peer",
						      a->name, b->name);
					goto out;
				}
			}
		}
	}
	grants = ydoc_map_get(&d, root, "grants");
	if (grants != NULL) {
		size_t n;

		if (grants->type != YAML_SEQUENCE_NODE) {
			r = ydoc_fail(&d, grants, "grants must be a list");
			goto out;
		}
		n = (size_t)(grants->data.sequence.items.top - grants->data.sequence.items.start);
		p->grants = calloc(n == 0 ? 1 : n, sizeof(*p->grants));
		if (p->grants == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "policy");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			yaml_node_t *g = yaml_document_get_node(
				&d.doc, grants->data.sequence.items.start[i]);

			r = policy_grant_load(&d, g, p, &p->grants[i], i);
			p->n_grants++;
			if (r != SG_OK)
				goto out;
			if (snprintf(p->grants[i].rule, sizeof(p->grants[i].rule),
				     "grants[%zu] line %lu", i, ydoc_line(g)) < 0)
				p->grants[i].rule[0] = '\0';
		}
	}
	{
		yaml_node_t *rules = ydoc_map_get(&d, root, "rules");
		yaml_node_t *limits = ydoc_map_get(&d, root, "rate_limits");

		if (rules != NULL && (r = policy_rules_load(&d, rules, p)) != SG_OK)
			goto out;
		yaml_node_t *spends = ydoc_map_get(&d, root, "spend_limits");

		if (limits != NULL && (r = policy_rate_limits_load(&d, limits, p)) != SG_OK)
			goto out;
		if (spends != NULL && (r = policy_spend_limits_load(&d, spends, p)) != SG_OK)
			goto out;
	}
	*out = p;
	p = NULL;
out:
	ydoc_free(&d);
	policy_free(p);
	return r;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_clients; i++) {
		free(p->clients[i].name);
		free(p->clients[i].value);
	}
	for (size_t i = 0; i < p->n_grants; i++) {
		free(p->grants[i].client);
		free(p->grants[i].key);
		for (size_t k = 0; p->grants[i].operations != NULL && k < p->grants[i].n_operations;
		     k++)
			free(p->grants[i].operations[k]);
		free(p->grants[i].operations);
	}
	policy_rules_free(p);
	free(p->rate_limits);
	free(p->spend_limits);
	free(p->clients);
	free(p->grants);
	free(p);
}

size_t policy_client_count(const struct policy *p)
{
	return p->n_clients;
}

size_t policy_grant_count(const struct policy *p)
{
	return p->n_grants;
}

const char *policy_client_for(const struct policy *p, const struct policy_peer *peer)
{
	for (size_t i = 0; i < p->n_clients; i++) {
		const struct policy_client *c = &p->clients[i];

		switch (c->match) {
		case POLICY_MATCH_SPKI:
			if (peer->spki_sha256 != NULL &&
			    memcmp(peer->spki_sha256, c->spki, 32) == 0)
				return c->name;
			break;
		case POLICY_MATCH_SAN_URI:
			if (peer->san_uri != NULL && peer->san_uri_len == c->value_len &&
			    memcmp(peer->san_uri, c->value, c->value_len) == 0)
				return c->name;
			break;
		case POLICY_MATCH_CN:
			if (peer->cn != NULL && peer->cn_len == c->value_len &&
			    memcmp(peer->cn, c->value, c->value_len) == 0)
				return c->name;
			break;
		}
	}
	return NULL;
}

int policy_authorize(const struct policy *p, const char *client, const char *key,
		     const char *operation, const char **rule)
{
	*rule = NULL;
	for (size_t i = 0; i < p->n_grants; i++) {
		const struct policy_grant *g = &p->grants[i];

		if (strcmp(g->client, client) != 0 || strcmp(g->key, key) != 0)
			continue;
		for (size_t k = 0; k < g->n_operations; k++) {
			if (strcmp(g->operations[k], operation) == 0) {
				*rule = g->rule;
				return SG_OK;
			}
		}
	}
	return sg_fail(SG_ERR_PERMISSION,
		       "client '%s' has no grant to sign with key '%s' for operation '%s'", client,
		       key, operation);
}

bool policy_client_has_key(const struct policy *p, const char *client, const char *key)
{
	for (size_t i = 0; i < p->n_grants; i++)
		if (strcmp(p->grants[i].client, client) == 0 && strcmp(p->grants[i].key, key) == 0)
			return true;
	return false;
}

bool policy_operation_named(const struct policy *p, const char *operation)
{
	for (size_t i = 0; i < p->n_grants; i++)
		for (size_t k = 0; k < p->grants[i].n_operations; k++)
			if (strcmp(p->grants[i].operations[k], operation) == 0)
				return true;
	return false;
}

void policy_keys_foreach(const struct policy *p,
			 void (*cb)(const char *key, unsigned long line, void *ctx), void *ctx)
{
	for (size_t i = 0; i < p->n_grants; i++)
		cb(p->grants[i].key, p->grants[i].key_line, ctx);
}
