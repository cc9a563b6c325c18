/* signerctl policy lint | explain: a policy file checked, and what the policy would decide for
 * one request, without signing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl.h"
#include "policy/policy.h"

/* Exit 0 when the policy would allow the request, 1 when it would not. */
int cmd_policy_explain(struct ctl *ctl, const struct ctl_args *a)
{
	bool as_json = ctl_flag(a, CTL_OPT_JSON);
	struct ctl_payload p;
	struct signer_request req = {.client = a->value[CTL_OPT_CLIENT],
				     .key = a->value[CTL_OPT_KEY],
				     .operation = a->value[CTL_OPT_OPERATION]};
	struct signer_error err;
	uint8_t *payload = NULL;
	size_t len = 0;
	json_t *out = NULL, *c;
	size_t i;
	int r, rc;

	if (req.client == NULL || req.key == NULL || req.operation == NULL ||
	    ctl_payload_pick(a, &p) != 1 || a->argc != 0)
		return ctl_usage_error(ctl, "policy explain needs --client, --key, --operation and "
					    "one payload option");
	memset(&err, 0, sizeof(err));
	if (ctl_payload_read(&p, &payload, &len, &err) != 0) {
		free(payload);
		sg_log("policy explain: %s", err.code != NULL ? err.message : "out of memory");
		return EXIT_FAILURE;
	}
	if ((r = ctl_setup(ctl)) != SG_OK) {
		free(payload);
		return ctl_fail(r, "policy explain");
	}
	req.kind = p.kind;
	req.payload = payload;
	req.payload_len = len;
	r = signer_explain(ctl->signer, &req, &out);
	free(payload);
	if (r != SG_OK)
		return ctl_fail(r, "policy explain");
	rc = strcmp(json_string_value(json_object_get(out, "decision")), "allow") == 0
		     ? EXIT_SUCCESS
		     : EXIT_FAILURE;
	if (as_json)
		return ctl_print_json(out) == EXIT_SUCCESS ? rc : EXIT_FAILURE;
	json_array_foreach (json_object_get(out, "checks"), i, c) {
		const char *rule = json_string_value(json_object_get(c, "rule"));
		const char *reason = json_string_value(json_object_get(c, "reason"));
		const char *detail = json_string_value(json_object_get(c, "detail"));

		printf("%-12s %-5s%s%s%s%s%s%s\n", json_string_value(json_object_get(c, "check")),
		       json_string_value(json_object_get(c, "outcome")), reason ? "  " : "",
		       reason ? reason : "", rule ? "  [" : "", rule ? rule : "", rule ? "]" : "",
		       "");
		if (detail != NULL)
			printf("             %s\n", detail);
	}
	printf("decision     %s\n", json_string_value(json_object_get(out, "decision")));
	json_decref(out);
	return rc;
}

struct lint_keys {
	struct keystore *ks;
	const char *path;
	const char *label;
	int problems;
};

static void lint_key(const char *key, unsigned long line, void *ctx)
{
	struct lint_keys *lk = ctx;
	struct ks_key k;

	if (ks_key_get(lk->ks, key, 0, &k) == SG_OK)
		return;
	fprintf(stderr, "%s:%lu: key '%s' is not in token '%s'\n", lk->path, line, key, lk->label);
	lk->problems++;
}

/* Exit 0 when the policy is sound; 1 with "FILE:LINE: message" otherwise. With a config (the
 * --config option or $SIGNER_CONFIG), the keys the grants name are looked up in its token too. */
int cmd_policy_lint(struct ctl *ctl, const struct ctl_args *a)
{
	bool with_token = ctl->config_explicit;
	struct lint_keys lk = {.path = NULL};
	struct policy *p;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "policy lint needs one FILE");
	lk.path = a->argv[0];
	r = policy_load(lk.path, &p);
	if (r != SG_OK) {
		fprintf(stderr, "%s\n", sg_errmsg(r));
		return EXIT_FAILURE;
	}
	if (with_token) {
		if ((r = ctl_setup(ctl)) != SG_OK) {
			policy_free(p);
			return ctl_fail(r, "policy lint: the token");
		}
		lk.ks = ctl->ks;
		lk.label = ctl->cfg.token.label;
		policy_keys_foreach(p, lint_key, &lk);
	}
	if (lk.problems == 0)
		printf("%s: %zu clients, %zu grants: no problems found%s\n", lk.path,
		       policy_client_count(p), policy_grant_count(p),
		       with_token ? " (keys checked against the token)"
				  : " (keys not checked: no --config)");
	policy_free(p);
	return lk.problems == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
