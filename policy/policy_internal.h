/* The policy's parts, shared by the loader (policy.c) and the content rules (rules.c). */
#ifndef SIGNER_POLICY_INTERNAL_H
#define SIGNER_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/yamldoc.h"
#include "policy/policy.h"


enum policy_match {
	POLICY_MATCH_SAN_URI,
	POLICY_MATCH_CN,
	POLICY_MATCH_SPKI,
};

struct policy_client {
	char *name;
	enum policy_match match;
	char *value;      /* SAN URI or CN */
	uint8_t spki[32]; /* SPKI SHA-256 */
};

struct policy_grant {
	char *client;
	char *key;
	unsigned long key_line;
	char **operations;
	size_t n_operations;
	char rule[48]; /* "grants[0] line 7" */
};

struct policy_rules; /* rules.c */

struct policy {
	struct policy_client *clients;
	size_t n_clients;
	struct policy_grant *grants;
	size_t n_grants;
	struct policy_rules *rules; /* per operation; NULL: none */
	size_t n_rules;
	struct policy_rate_limit *rate_limits;
	size_t n_rate_limits;
	struct policy_spend_limit *spend_limits;
	size_t n_spend_limits;
};

/* rules.c: the spend_limits: list of the file. */
SG_MUST_CHECK int policy_spend_limits_load(struct ydoc *d, yaml_node_t *node, struct policy *p);

/* rules.c: the rules: mapping of the file, and its release. */
SG_MUST_CHECK int policy_rules_load(struct ydoc *d, yaml_node_t *node, struct policy *p);
void policy_rules_free(struct policy *p);


#endif
