/* signer_explain: what the door would decide, check by check, without signing or auditing. */
#include <stdio.h>
#include <string.h>

#include "signer_internal.h"

static void explain_add(json_t *checks, const char *check, const char *outcome, const char *rule,
			const char *reason, const char *detail)
{
	json_t *c = json_pack("{s:s, s:s}", "check", check, "outcome", outcome);

	if (c == NULL)
		return;
	if (rule != NULL && rule[0] != '\0')
		json_object_set_new(c, "rule", json_string(rule));
	if (reason != NULL && reason[0] != '\0')
		json_object_set_new(c, "reason", json_string(reason));
	if (detail != NULL && detail[0] != '\0')
		json_object_set_new(c, "detail", json_string(detail));
	json_array_append_new(checks, c);
}

/* A payload that does not decode, with the decoder's own reason. */
static bool explain_undecodable(json_t *checks, int r)
{
	explain_add(checks, "decode", "deny", NULL, "invalid_payload", sg_errmsg(r));
	return false;
}

/* The content rules' decision as a check. */
static bool explain_content(json_t *checks, const struct policy_decision *d)
{
	explain_add(checks, "content", d->allowed ? "pass" : "deny", d->rule, d->reason,
		    d->message);
	return d->allowed;
}

/* The spend limits a payload's spends meet, each with what the window holds now. */
static bool explain_spends(struct signer *s, const struct policy *p, const char *key,
			   const struct policy_spend *spends, size_t n, json_t *checks)
{
	double now = signer_wall_seconds();
	bool ok = true, any = false;

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
			limits_spent(s->limits, key, sl->asset, sl->window_seconds, now, total);
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
			explain_add(checks, "spend_limit", over ? "deny" : "pass", sl->rule,
				    over ? "spend_limit_exceeded" : NULL, detail);
		}
	}
	if (!any)
		explain_add(checks, "spend_limit", "none", NULL, NULL,
			    n == 0 ? "the payload spends nothing" : "no spend limit applies");
	if (ok) {
		/* the door's own check: a loss of records, or a new limit on a pair the ledgers
		 * could not keep, refuses what the sums alone would let through */
		struct policy_decision d;

		if (!limits_spend_fits(s->limits, p, key, spends, n, now, &d)) {
			explain_add(checks, "spend_limit", "deny", d.rule, d.reason, d.message);
			ok = false;
		}
	}
	return ok;
}

/* Spends that cannot be read: refused where a spend limit watches the key. */
static bool explain_unreadable(const struct policy *p, const char *key, json_t *checks)
{
	bool watched = signer_key_watched(p, key);

	explain_add(checks, "spend_limit", watched ? "deny" : "none", NULL,
		    watched ? "spend_unreadable" : NULL, "the payload's spends cannot be read");
	return !watched;
}

static bool explain_payload(struct signer *s, const struct policy *p,
			    const struct signer_request *req, const struct ks_key *key,
			    json_t *checks)
{
	struct policy_spend spends[POLICY_SPENDS_MAX];
	struct policy_decision d;
	size_t n = 0;
	bool allowed = true;
	int r;

	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE: {
		struct sol_message m;
		size_t index;
		bool is_signer;

		if ((r = sol_message_decode(req->payload, req->payload_len, &m)) != SG_OK)
			return explain_undecodable(checks, r);
		is_signer = sol_message_signer_index(&m, key->public_key, &index);
		explain_add(checks, "decode", is_signer ? "pass" : "deny", NULL,
			    is_signer ? NULL : "not_a_signer", NULL);
		allowed &= is_signer;
		policy_check_solana(p, req->operation, &m, key->public_key, &d);
		allowed &= explain_content(checks, &d);
		allowed &= policy_spends_solana(&m, key->public_key, spends, &n)
				   ? explain_spends(s, p, key->name, spends, n, checks)
				   : explain_unreadable(p, key->name, checks);
		sol_message_free(&m);
		return allowed;
	}
	case SIGNER_PAYLOAD_EVM_TRANSACTION: {
		struct evm_tx tx;

		if ((r = evm_tx_decode(req->payload, req->payload_len, &tx)) != SG_OK)
			return explain_undecodable(checks, r);
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_evm_tx(p, req->operation, &tx, &d);
		allowed &= explain_content(checks, &d);
		allowed &= policy_spends_evm(&tx, spends, &n)
				   ? explain_spends(s, p, key->name, spends, n, checks)
				   : explain_unreadable(p, key->name, checks);
		return allowed;
	}
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_eip191(p, req->operation, req->payload_len, &d);
		return explain_content(checks, &d);
	case SIGNER_PAYLOAD_EVM_TYPED_DATA: {
		struct eip712 td;

		r = eip712_hash_text((const char *)req->payload, req->payload_len, &td);
		if (r != SG_OK)
			return explain_undecodable(checks, r);
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_eip712(p, req->operation, &td, &d);
		allowed &= explain_content(checks, &d);
		allowed &= policy_spends_eip712(&td, spends, &n)
				   ? explain_spends(s, p, key->name, spends, n, checks)
				   : explain_unreadable(p, key->name, checks);
		return allowed;
	}
	default:
		explain_add(checks, "decode", "deny", NULL, "invalid_request",
			    "unknown payload kind");
		return false;
	}
}

int signer_explain(struct signer *s, const struct signer_request *req, json_t **out)
{
	json_t *checks = json_array();
	struct policy_ref *ref;
	const struct policy *p;
	struct ks_key key;
	const char *rule = NULL;
	bool allowed = true;
	char detail[320];
	int r;

	*out = NULL;
	if (checks == NULL)
		return sg_fail(SG_ERR_NOMEM, "explain");
	ref = signer_policy_acquire(s);
	p = ref->policy;
	/* access */
	r = req->client == NULL ? SG_ERR_PERMISSION
				: policy_authorize(p, req->client, req->key, req->operation, &rule);
	if (r != SG_OK) {
		explain_add(checks, "access", "deny", NULL, "forbidden", sg_errmsg(r));
		allowed = false;
		goto done;
	}
	explain_add(checks, "access", "pass", rule, NULL, NULL);
	/* rate */
	{
		const struct policy_rate_limit *rl =
			policy_rate_limit_for(p, req->client, req->operation);

		if (rl == NULL) {
			explain_add(checks, "rate_limit", "none", NULL, NULL, NULL);
		} else {
			double tokens = limits_rate_peek(s->limits, rl, signer_wall_seconds());

			snprintf(detail, sizeof(detail),
				 "%.2f of %llu requests available now, %llu a minute (as this "
				 "process rebuilt them from the audit log)",
				 tokens, (unsigned long long)rl->burst,
				 (unsigned long long)rl->per_minute);
			explain_add(checks, "rate_limit", tokens >= 1.0 ? "pass" : "deny", rl->rule,
				    tokens >= 1.0 ? NULL : "rate_limited", detail);
			allowed &= tokens >= 1.0;
		}
	}
	/* the key */
	r = ks_key_lookup(s->ks, req->key, 0, &key);
	if (r != SG_OK) {
		explain_add(checks, "key", "deny", NULL, "key_not_found", sg_errmsg(r));
		allowed = false;
		goto done;
	}
	snprintf(detail, sizeof(detail), "%s, version %u, %s", ks_chain_name(key.chain),
		 key.version, ks_state_name(key.state));
	explain_add(checks, "key", key.state == KS_STATE_ACTIVE ? "pass" : "deny", NULL,
		    key.state == KS_STATE_ACTIVE ? NULL : "key_not_active", detail);
	allowed &= key.state == KS_STATE_ACTIVE;
	/* the chain, as the signing door checks it before decoding */
	if (!signer_chain_matches(&key, req->kind, detail, sizeof(detail))) {
		explain_add(checks, "decode", "deny", NULL, "wrong_chain", detail);
		allowed = false;
		goto done;
	}
	/* decode, content, spends */
	allowed &= explain_payload(s, p, req, &key, checks);
done:
	signer_policy_release(ref);
	*out = json_pack("{s:s, s:o}", "decision", allowed ? "allow" : "deny", "checks", checks);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "explain") : SG_OK;
}
