/* signer_explain: the door's own checks (door_checks), run without taking, signing or auditing
 * anything, each noting its outcome; and the detail of the rate and spend limits' state. */
#include <stdio.h>
#include <string.h>

#include "door.h"

void explain_note(struct sign_ctx *c, const char *check, const char *outcome, const char *rule,
		  const char *reason, const char *detail)
{
	json_t *e;

	if (c->checks == NULL)
		return;
	e = json_pack("{s:s, s:s}", "check", check, "outcome", outcome);
	if (e == NULL)
		return;
	if (rule != NULL && rule[0] != '\0')
		json_object_set_new(e, "rule", json_string(rule));
	if (reason != NULL && reason[0] != '\0')
		json_object_set_new(e, "reason", json_string(reason));
	if (detail != NULL && detail[0] != '\0')
		json_object_set_new(e, "detail", json_string(detail));
	json_array_append_new(c->checks, e);
}

int explain_rate(struct sign_ctx *c, const struct policy_rate_limit *rl)
{
	char detail[320];
	double tokens;

	if (rl == NULL) {
		explain_note(c, "rate_limit", "none", NULL, NULL, NULL);
		return SG_OK;
	}
	tokens = limits_rate_peek(c->s->limits, rl, signer_wall_seconds());
	snprintf(detail, sizeof(detail),
		 "%.2f of %llu requests available now, %llu a minute (as this process rebuilt "
		 "them from the audit log)",
		 tokens, (unsigned long long)rl->burst, (unsigned long long)rl->per_minute);
	explain_note(c, "rate_limit", tokens >= 1.0 ? "pass" : "deny", rl->rule,
		     tokens >= 1.0 ? NULL : "rate_limited", detail);
	return tokens >= 1.0 ? SG_OK : SG_ERR_PERMISSION;
}

int explain_spends(struct sign_ctx *c, bool readable, const struct policy_spend *spends, size_t n)
{
	const struct policy *p = c->pol->policy;
	const char *key = c->key.name;
	double now = signer_wall_seconds();
	struct policy_decision d;
	bool ok = true, any = false;

	if (!readable) {
		bool watched = signer_key_watched(p, key);

		explain_note(c, "spend_limit", watched ? "deny" : "none", NULL,
			     watched ? "spend_unreadable" : NULL,
			     "the payload's spends cannot be read");
		return watched ? SG_ERR_PERMISSION : SG_OK;
	}
	for (size_t i = 0; i < policy_spend_limit_count(p); i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(p, i);

		if (strcmp(sl->key, key) != 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			uint8_t total[32];
			char spent[80], adding[80], max[80], detail[400];
			bool over;

			if (strcmp(sl->asset, spends[k].asset) != 0)
				continue;
			any = true;
			limits_spent(c->s->limits, key, sl->asset, sl->window_seconds, now, total);
			evm_uint_decimal(total, 32, spent);
			evm_uint_decimal(spends[k].amount, 32, adding);
			evm_uint_decimal(sl->max, 32, max);
			limits_u256_add(total, spends[k].amount);
			over = memcmp(total, sl->max, 32) > 0;
			ok &= !over;
			if (snprintf(detail, sizeof(detail),
				     "%s: %s spent in the last %llu s, this adds %s, the limit is "
				     "%s",
				     sl->asset, spent, (unsigned long long)sl->window_seconds,
				     adding, max) < 0)
				detail[0] = '\0';
			explain_note(c, "spend_limit", over ? "deny" : "pass", sl->rule,
				     over ? "spend_limit_exceeded" : NULL, detail);
		}
	}
	if (!any)
		explain_note(c, "spend_limit", "none", NULL, NULL,
			     n == 0 ? "the payload spends nothing" : "no spend limit applies");
	/* the door's own check: a loss of records, or a new limit on a pair the ledgers could
	 * not keep, refuses what the sums alone would let through */
	if (ok && !limits_spend_fits(c->s->limits, p, key, spends, n, now, &d)) {
		explain_note(c, "spend_limit", "deny", d.rule, d.reason, d.message);
		ok = false;
	}
	return ok ? SG_OK : SG_ERR_PERMISSION;
}

int signer_explain(struct signer *s, const struct signer_request *req, json_t **out)
{
	struct signer_trace trace = {0};
	struct signer_result res = {0};
	struct signer_error err = {0};
	struct sign_ctx c = {.s = s, .trace = &trace, .res = &res, .err = &err};
	int r;

	*out = NULL;
	c.checks = json_array();
	if (c.checks == NULL)
		return sg_fail(SG_ERR_NOMEM, "explain");
	door_begin(&c, req);
	r = door_checks(&c);
	door_end(&c);
	*out = json_pack("{s:s, s:o}", "decision", r == SG_OK ? "allow" : "deny", "checks",
			 c.checks);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "explain") : SG_OK;
}
