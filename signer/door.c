/* The one door, top to bottom: one request takes one policy snapshot, runs the checks in one
 * order (names, grant, key, decode, content, rate, spend: door_checks, which explain runs too),
 * signs the bytes it decoded, verifies the signature, and writes the audit record before the
 * signature leaves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/jsonw.h"
#include "common/keccak.h"
#include "common/names.h"
#include "common/timefmt.h"
#include "door.h"
#include "chain/evm/sig.h"

/* ---- refusals ---------------------------------------------------------------------------- */

/* A keystore or token failure, as the API reports it. */
static int refuse_keystore(struct signer_error *err, int r, const char *key)
{
	switch (r) {
	case SG_ERR_NOT_FOUND:
		return signer_error_set(err, r, SIGNER_E_KEY_NOT_FOUND, "no key named '%s'", key);
	case SG_ERR_STATE:
		return signer_error_set(err, r, SIGNER_E_KEY_NOT_ACTIVE, "%s", sg_errmsg(r));
	case SG_ERR_TOKEN_UNAVAILABLE:
	case SG_ERR_PIN:
		return signer_error_set(err, r, SIGNER_E_UNAVAILABLE, NULL);
	default:
		return signer_error_set(err, r, SIGNER_E_INTERNAL, "key '%s'", key);
	}
}

/* A denial by the policy (a grant, a content rule, a limit), for the metrics. */
static void trace_denial(struct sign_ctx *c, const char *reason)
{
	c->trace->policy_denied = true;
	snprintf(c->trace->denial_reason, sizeof(c->trace->denial_reason), "%s", reason);
}

/* A content or limit rule's refusal: 403 policy_denied with its reason and rule. */
static int refuse_content(struct sign_ctx *c, const struct policy_decision *d)
{
	int r = signer_error_set(c->err, sg_fail(SG_ERR_PERMISSION, "%s", d->message),
				 SIGNER_E_POLICY_DENIED, "%s", d->message);

	snprintf(c->err->reason, sizeof(c->err->reason), "%s", d->reason);
	snprintf(c->err->rule, sizeof(c->err->rule), "%s", d->rule);
	trace_denial(c, d->reason);
	return r;
}

/* The check's outcome for explain: pass (with rule and detail), or the refusal in c->err.
 * Returns r. */
static int noted(struct sign_ctx *c, const char *check, int r, const char *rule, const char *detail)
{
	if (r == SG_OK)
		explain_note(c, check, "pass", rule, NULL, detail);
	else
		explain_note(c, check, "deny", c->err->rule,
			     c->err->reason[0] != '\0' ? c->err->reason : c->err->code,
			     c->err->message);
	return r;
}

/* Reads what other processes (signerctl) appended, once per request, before a limit is
 * checked: their signatures count. */
static void catch_up(struct sign_ctx *c)
{
	/* a log changed behind signerd's back fails the append, later */
	if (!c->caught_up && audit_catch_up(c->s->audit) != SG_OK) {
		/* the append says so */
	}
	c->caught_up = true;
}

static void time_policy(struct sign_ctx *c, double start)
{
	c->trace->policy_seconds += time_monotonic_s() - start;
}

/* ---- the checks -------------------------------------------------------------------------- */

/* The request's own fields: an operation, a request id and a payload kind that can be ones. */
static int check_names(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	int r = SG_OK;

	if (!operation_valid(req->operation))
		r = signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
				     "operation must be 1 to %d characters of A-Z a-z 0-9 _ - . :",
				     OPERATION_MAX_LEN);
	else if (req->request_id != NULL && !request_id_valid(req->request_id))
		r = signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
				     "request_id must be 1 to %d printable ASCII characters",
				     REQUEST_ID_MAX_LEN);
	else if (req->kind < SIGNER_PAYLOAD_SOLANA_MESSAGE ||
		 req->kind > SIGNER_PAYLOAD_EVM_TYPED_DATA)
		r = signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
				     "unknown payload kind");
	if (r == SG_OK)
		return SG_OK; /* explain lists the checks of the policy, not this one */
	c->stop = true;
	return noted(c, "names", r, NULL, NULL);
}

/* Who may do what comes first: a client without a grant learns nothing of the keys. */
static int check_grant(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	double start = time_monotonic_s();
	const char *rule = NULL;
	int r;

	if (req->client == NULL)
		r = sg_fail(SG_ERR_PERMISSION,
			    "the client's certificate (%.200s) matches no client of the policy",
			    req->peer != NULL ? req->peer : "none");
	else
		r = policy_authorize(c->pol->policy, req->client, req->key, req->operation, &rule);
	time_policy(c, start);
	if (r != SG_OK) {
		trace_denial(c, "forbidden");
		r = signer_error_set(c->err, r, SIGNER_E_FORBIDDEN, "%s", sg_errmsg(r));
		c->stop = true;
	}
	return noted(c, "access", r, rule, NULL);
}

/* The key: there, of the payload's chain, active. */
static int check_key(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	char detail[96], mismatch[192];
	bool active;
	int r = SG_OK;

	if (ks_name_check(req->key) != SG_OK)
		r = signer_error_set(c->err, SG_ERR_NOT_FOUND, SIGNER_E_KEY_NOT_FOUND,
				     "no key named '%.64s'", req->key);
	else if ((r = ks_key_lookup(c->s->ks, req->key, req->key_version, &c->key)) != SG_OK)
		r = refuse_keystore(c->err, r, req->key);
	if (r != SG_OK) {
		c->stop = true;
		return noted(c, "key", r, NULL, NULL);
	}
	c->key_known = true;
	snprintf(c->trace->chain, sizeof(c->trace->chain), "%s", ks_chain_name(c->key.chain));
	active = c->key.state == KS_STATE_ACTIVE;
	/* a key-sign ceremony may have a version that no longer signs sign one approved request
	 * (the last transactions of a retired key), never a destroyed or compromised one */
	if (req->ceremony != NULL && c->key.state != KS_STATE_DESTROYED &&
	    c->key.state != KS_STATE_COMPROMISED)
		active = true;
	snprintf(detail, sizeof(detail), "%s, version %u, %s", ks_chain_name(c->key.chain),
		 c->key.version, ks_state_name(c->key.state));
	explain_note(c, "key", active ? "pass" : "deny", NULL, active ? NULL : "key_not_active",
		     detail);
	/* the chain before the state: a key of the other chain is the caller's mistake */
	if (!signer_chain_matches(&c->key, req->kind, mismatch, sizeof(mismatch))) {
		c->stop = true;
		r = signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_WRONG_CHAIN, "%s",
				     mismatch);
		return noted(c, "decode", r, NULL, NULL);
	}
	if (!active)
		return signer_error_set(c->err, SG_ERR_STATE, SIGNER_E_KEY_NOT_ACTIVE,
					"key '%s' version %u is %s, not active", c->key.name,
					c->key.version, ks_state_name(c->key.state));
	return SG_OK;
}

/* The payload, decoded strictly; for Solana, the key must be one of its signers. */
static int check_decode(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	size_t index;
	int r;

	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		r = sol_message_decode(req->payload, req->payload_len, &c->payload.sol);
		if (r != SG_OK) {
			r = signer_error_set(c->err, r, SIGNER_E_INVALID_PAYLOAD,
					     "the Solana message does not parse: %s", sg_errmsg(r));
			break;
		}
		c->decoded = true;
		if (!sol_message_signer_index(&c->payload.sol, c->key.public_key, &index))
			return noted(c, "decode",
				     signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT,
						      SIGNER_E_NOT_A_SIGNER,
						      "key '%s' is not a required signer of this "
						      "message",
						      c->key.name),
				     NULL, NULL);
		return noted(c, "decode", SG_OK, NULL, NULL);
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		r = evm_tx_decode(req->payload, req->payload_len, &c->payload.tx);
		if (r != SG_OK)
			r = signer_error_set(c->err, r, SIGNER_E_INVALID_PAYLOAD,
					     "the transaction does not parse: %s", sg_errmsg(r));
		break;
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		r = SG_OK; /* any bytes are a message */
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		r = eip712_hash_text((const char *)req->payload, req->payload_len, &c->payload.td);
		if (r != SG_OK)
			r = signer_error_set(c->err, r, SIGNER_E_INVALID_PAYLOAD,
					     "the typed data does not encode: %s", sg_errmsg(r));
		break;
	default:
		r = signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
				     "unknown payload kind");
		break;
	}
	if (r != SG_OK)
		c->stop = true; /* nothing decoded: nothing more to check */
	else
		c->decoded = true;
	return noted(c, "decode", r, NULL, NULL);
}

/* The content rules of the operation, on what was decoded. */
static int check_content(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	const struct policy *p = c->pol->policy;
	struct policy_decision d;
	double start = time_monotonic_s();

	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		policy_check_solana(p, req->operation, &c->payload.sol, c->key.public_key, &d);
		break;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		policy_check_evm_tx(p, req->operation, &c->payload.tx, &d);
		break;
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		policy_check_eip191(p, req->operation, req->payload_len, &d);
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		policy_check_eip712(p, req->operation, &c->payload.td, &d);
		break;
	default:
		c->stop = true;
		return noted(c, "content",
			     signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT,
					      SIGNER_E_INVALID_REQUEST, "unknown payload kind"),
			     NULL, NULL);
	}
	time_policy(c, start);
	if (!d.allowed)
		return noted(c, "content", refuse_content(c, &d), NULL, NULL);
	explain_note(c, "content", "pass", d.rule, d.reason, d.message);
	return SG_OK;
}

/* The rate limit of (client, operation), if the policy gives one; counted all the same when
 * it gives none, so that a rate limit a reload adds starts from it. */
static int check_rate(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	const struct policy_rate_limit *rl =
		policy_rate_limit_for(c->pol->policy, req->client, req->operation);
	double start = time_monotonic_s(), wait = 0;
	int r;

	if (c->checks != NULL)
		return explain_rate(c, rl);
	if (rl == NULL) {
		limits_rate_count(c->s->limits, req->client, req->operation, signer_wall_seconds(),
				  &c->hold);
		time_policy(c, start);
		return SG_OK;
	}
	catch_up(c);
	if (limits_rate_take(c->s->limits, rl, signer_wall_seconds(), &c->hold, &wait)) {
		time_policy(c, start);
		return SG_OK;
	}
	time_policy(c, start);
	r = signer_error_set(
		c->err, sg_fail(SG_ERR_PERMISSION, "rate limited"), SIGNER_E_RATE_LIMITED,
		"client '%s' may sign for '%s' %llu times a minute (burst %llu); retry "
		"later",
		req->client, req->operation, (unsigned long long)rl->per_minute,
		(unsigned long long)rl->burst);
	c->err->retry_after = (unsigned)(wait + 0.999);
	if (c->err->retry_after == 0)
		c->err->retry_after = 1;
	snprintf(c->err->reason, sizeof(c->err->reason), "rate_limited");
	snprintf(c->err->rule, sizeof(c->err->rule), "%s", rl->rule);
	trace_denial(c, "rate_limited");
	return r;
}

/* What the payload spends: unreadable spends are refused where a spend limit watches the key;
 * readable ones are checked against the spend limits and reserved. */
static int check_spend(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	const struct policy *p = c->pol->policy;
	struct policy_spend spends[POLICY_SPENDS_MAX];
	struct policy_decision d;
	const char *what;
	size_t n = 0;
	bool readable, ok;
	double start = time_monotonic_s();

	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		readable = policy_spends_solana(&c->payload.sol, c->key.public_key, spends, &n);
		what = "message";
		break;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		readable = policy_spends_evm(&c->payload.tx, spends, &n);
		what = "transaction";
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		/* permits, orders and meta-transactions give value away off-chain */
		readable = policy_spends_eip712(&c->payload.td, spends, &n);
		what = "typed data";
		break;
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		return SG_OK; /* a personal message moves nothing by itself */
	default:
		return signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
					"unknown payload kind");
	}
	if (c->checks != NULL)
		return explain_spends(c, readable, spends, n);
	if (!readable) {
		if (!signer_key_watched(p, c->key.name))
			return SG_OK;
		d = (struct policy_decision){
			.allowed = false, .reason = "spend_unreadable", .rule = "spend_limits"};
		snprintf(d.message, sizeof(d.message), "the %s's spends cannot be read", what);
		return refuse_content(c, &d);
	}
	if (signer_key_watched(p, c->key.name))
		catch_up(c);
	ok = limits_spend_reserve(c->s->limits, p, c->key.name, spends, n, signer_wall_seconds(),
				  &c->hold, &d);
	time_policy(c, start);
	return ok ? SG_OK : refuse_content(c, &d);
}

static const struct door_check {
	const char *name;
	int (*run)(struct sign_ctx *c);
} door_check_list[] = {
	{.name = "names", .run = check_names},     {.name = "grant", .run = check_grant},
	{.name = "key", .run = check_key},         {.name = "decode", .run = check_decode},
	{.name = "content", .run = check_content}, {.name = "rate", .run = check_rate},
	{.name = "spend", .run = check_spend},
};

int door_checks(struct sign_ctx *c)
{
	int first = SG_OK;

	for (size_t i = 0; i < sizeof(door_check_list) / sizeof(door_check_list[0]); i++) {
		int r = door_check_list[i].run(c);

		if (r == SG_OK)
			continue;
		if (c->checks == NULL)
			return r; /* signing: the first refusal decides */
		if (first == SG_OK)
			first = r;
		if (c->stop)
			break;
	}
	return first;
}

void door_begin(struct sign_ctx *c, const struct signer_request *req)
{
	c->pol = signer_policy_acquire(c->s);
	c->req = req;
	/* a TLS peer is named by the policy this request is decided by, not by the one in force
	 * when its connection was identified */
	if (req->identity != NULL) {
		const struct signer_peer *id = req->identity;
		struct policy_peer peer = {.san_uri = id->san_uri,
					   .san_uri_len = id->san_uri_len,
					   .cn = id->cn,
					   .cn_len = id->cn_len,
					   .spki_sha256 = id->spki_sha256};
		const char *name = policy_client_for(c->pol->policy, &peer);

		if (name != NULL)
			snprintf(c->client, sizeof(c->client), "%s", name);
	}
}

void door_end(struct sign_ctx *c)
{
	if (c->decoded && c->req->kind == SIGNER_PAYLOAD_SOLANA_MESSAGE)
		sol_message_free(&c->payload.sol);
	c->decoded = false;
	signer_policy_release(c->pol);
	c->pol = NULL;
}

/* ---- signing what passed ----------------------------------------------------------------- */

static int timed_ks_sign(struct sign_ctx *c, const uint8_t *msg, size_t len, uint8_t *sig,
			 size_t *siglen)
{
	double start = time_monotonic_s();
	/* a key-sign ceremony's approved request may use a version that no longer signs */
	int r = c->req->ceremony != NULL
			? ks_sign_retired(c->s->ks, c->key.name, c->key.version, msg, len, sig,
					  siglen)
			: ks_sign(c->s->ks, c->key.name, c->key.version, msg, len, sig, siglen);

	c->trace->hsm_seconds = time_monotonic_s() - start;
	return r;
}

static int sign_solana(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	uint8_t sig[KS_SIGNATURE_MAX];
	size_t siglen;
	int r;

	if (req->want_view)
		c->res->view = signer_solana_view(&c->payload.sol);
	/* the exact message bytes that were decoded are signed */
	r = timed_ks_sign(c, req->payload, req->payload_len, sig, &siglen);
	if (r != SG_OK)
		return refuse_keystore(c->err, r, c->key.name);
	if (siglen != 64 || crypto_sign_verify_detached(sig, req->payload, req->payload_len,
							c->key.public_key) != 0)
		return signer_error_set(
			c->err,
			sg_fail(SG_ERR_VERIFY, "the token's Ed25519 signature does not verify"),
			SIGNER_E_INTERNAL, "key '%s'", c->key.name);
	memcpy(c->res->signature, sig, 64);
	c->res->signature_len = 64;
	signer_b58_w(&c->res->response, "signature", sig, 64);
	signer_b58_w(&c->res->response, "signer", c->key.public_key, 32);
	return SG_OK;
}

/* Signs a digest with an EVM key: the token's signature made low-S, its recovery id found, and
 * the signer recovered from it and compared with the key's address. */
static int sign_evm_digest(struct sign_ctx *c, const uint8_t digest[32], struct evm_sig *sig,
			   uint8_t from[20])
{
	uint8_t raw[KS_SIGNATURE_MAX];
	size_t rawlen;
	int r;

	r = timed_ks_sign(c, digest, 32, raw, &rawlen);
	if (r != SG_OK)
		return refuse_keystore(c->err, r, c->key.name);
	/* evm_sig_finish recovers the signer's public key from the signature and requires it to
	 * be the key's: the sender the chain will see is the key's address */
	if ((r = evm_sig_finish(digest, raw, c->key.public_key, sig)) != SG_OK ||
	    (r = addr_evm_from_pubkey(c->key.public_key, c->key.public_key_len, from)) != SG_OK)
		return signer_error_set(c->err, r, SIGNER_E_INTERNAL, "key '%s'", c->key.name);
	memcpy(c->res->signature, sig->r, 32);
	memcpy(c->res->signature + 32, sig->s, 32);
	c->res->signature[64] = (uint8_t)sig->recid;
	c->res->signature_len = 65;
	return SG_OK;
}

static int sign_evm_transaction(struct sign_ctx *c)
{
	const struct evm_tx *tx = &c->payload.tx;
	struct evm_sig sig;
	struct rlp_buf signed_tx = {0};
	uint8_t digest[32], from[20], hash[32], v[33];
	size_t v_len;
	int r;

	if (c->req->want_view)
		c->res->view = signer_evm_tx_view(tx);
	evm_tx_signing_hash(tx, digest);
	if ((r = sign_evm_digest(c, digest, &sig, from)) != SG_OK)
		return r;
	r = evm_tx_encode_signed(tx, sig.recid, sig.r, sig.s, &signed_tx, v, &v_len);
	if (r != SG_OK) {
		r = signer_error_set(c->err, r, SIGNER_E_INTERNAL, "the signed transaction");
		goto out;
	}
	keccak256(signed_tx.data, signed_tx.len, hash);
	signer_hex_w(&c->res->response, "signed_transaction", signed_tx.data, signed_tx.len);
	signer_hex_w(&c->res->response, "transaction_hash", hash, 32);
	signer_address_w(&c->res->response, "from", from);
	signer_quantity_w(&c->res->response, "v", v, v_len);
	signer_quantity_w(&c->res->response, "r", sig.r, 32);
	signer_quantity_w(&c->res->response, "s", sig.s, 32);
out:
	rlp_buf_free(&signed_tx);
	return r;
}

/* evm_message and evm_typed_data: signature r || s || v with v = 27 + recid. */
static int sign_evm_hashed(struct sign_ctx *c, const uint8_t digest[32])
{
	struct evm_sig sig;
	uint8_t from[20], rsv[65];
	int r = sign_evm_digest(c, digest, &sig, from);

	if (r != SG_OK)
		return r;
	memcpy(rsv, sig.r, 32);
	memcpy(rsv + 32, sig.s, 32);
	rsv[64] = (uint8_t)(27 + sig.recid);
	signer_hex_w(&c->res->response, "signature", rsv, 65);
	signer_hex_w(&c->res->response, "digest", digest, 32);
	signer_address_w(&c->res->response, "from", from);
	return SG_OK;
}

/* The signature of what passed every check, with the response around it. */
static int sign_payload(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	uint8_t digest[32];

	jsonw_init(&c->res->response);
	c->res->has_response = true;
	jsonw_str(&c->res->response, "key", c->key.name);
	jsonw_int(&c->res->response, "key_version", (long long)c->key.version);
	jsonw_str(&c->res->response, "operation", req->operation);
	if (req->request_id != NULL)
		jsonw_str(&c->res->response, "request_id", req->request_id);
	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		return sign_solana(c);
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		return sign_evm_transaction(c);
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		evm_personal_hash(req->payload, req->payload_len, digest);
		if (req->want_view)
			c->res->view = json_pack("{s:I}", "length", (json_int_t)req->payload_len);
		return sign_evm_hashed(c, digest);
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		if (req->want_view)
			c->res->view = signer_eip712_view(&c->payload.td);
		return sign_evm_hashed(c, c->payload.td.digest);
	default:
		return signer_error_set(c->err, SG_ERR_INVALID_ARGUMENT, SIGNER_E_INVALID_REQUEST,
					"unknown payload kind");
	}
}

/* ---- the audit record -------------------------------------------------------------------- */

static const char *decision_of(int status)
{
	if (status == 403 || status == 429)
		return "denied";
	return status >= 500 ? "error" : "invalid";
}

/* The audit record of one request, its members written into w; false when out of memory. */
static bool audit_record(struct jsonw *w, const struct signer_request *req,
			 const struct sign_ctx *c, const char *decision, const char *reason,
			 const char *rule, const uint8_t *sig, size_t sig_len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	jsonw_str(w, "request_id", req->request_id);
	jsonw_str(w, "client", req->client);
	if (req->peer != NULL)
		jsonw_str(w, "peer", req->peer);
	/* a key name that is not one is kept out: it could be anything the client sent */
	jsonw_str(w, "key", ks_name_check(req->key) == SG_OK ? req->key : NULL);
	if (c != NULL && c->key_known)
		jsonw_int(w, "key_version", (long long)c->key.version);
	else
		jsonw_null(w, "key_version");
	jsonw_str(w, "operation", operation_valid(req->operation) ? req->operation : NULL);
	jsonw_str(w, "chain", c != NULL && c->key_known ? ks_chain_name(c->key.chain) : NULL);
	jsonw_str(w, "payload", req->kind != 0 ? signer_payload_name(req->kind) : NULL);
	crypto_hash_sha256(h, req->payload != NULL ? req->payload : (const uint8_t *)"",
			   req->payload_len);
	if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
		jsonw_str(w, "payload_sha256", hex);
	jsonw_str(w, "decision", decision);
	jsonw_str(w, "reason", reason);
	if (rule != NULL && rule[0] != '\0')
		jsonw_str(w, "rule", rule);
	if (req->ceremony != NULL) {
		char *text = json_dumps(req->ceremony, JSON_COMPACT | JSON_ENSURE_ASCII);

		if (text == NULL)
			return false;
		jsonw_raw(w, "ceremony", text, strlen(text));
		free(text);
	}
	if (c != NULL && c->pol != NULL)
		jsonw_int(w, "policy_generation", (long long)c->pol->generation);
	if (sig != NULL) {
		crypto_hash_sha256(h, sig, sig_len);
		if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
			jsonw_str(w, "signature_sha256", hex);
	} else {
		jsonw_null(w, "signature_sha256");
	}
	if (c != NULL && c->hold.spent && c->hold.n_spends > 0) {
		jsonw_begin(w, "spends", '[');
		for (size_t i = 0; i < c->hold.n_spends; i++) {
			char dec[80];

			evm_uint_decimal(c->hold.spends[i].amount, 32, dec);
			jsonw_begin(w, NULL, '{');
			jsonw_str(w, "asset", c->hold.spends[i].asset);
			jsonw_str(w, "amount", dec);
			jsonw_end(w, '}');
		}
		jsonw_end(w, ']');
	}
	return !w->failed;
}

/* Under the audit log's lock, with what other processes appended counted: the signature
 * leaves only if this request's spends still fit. */
static int sign_gate(void *arg)
{
	struct sign_ctx *c = arg;

	if (limits_spend_still_fits(c->s->limits, c->pol->policy, &c->hold, &c->late))
		return SG_OK;
	return sg_fail(SG_ERR_PERMISSION, "%s", c->late.message);
}

/* A refusal's record: its own, or (signerd, a peer refused again within the same second)
 * counted into the peer's summary record, whose id it gets. */
static int audit_refusal(struct signer *s, const struct signer_request *req,
			 const struct jsonw *rec, const char *reason,
			 char audit_id[AUDIT_ID_LEN + 1])
{
	/* folded only while the log takes records: a summary that could not be written would
	 * leave the refusal answered with the id of a record that never exists */
	if (s->refusals != NULL && req->peer != NULL && audit_writable(s->audit) &&
	    !refusals_admit(s->refusals, req->peer, req->client, reason, signer_wall_seconds(),
			    audit_id))
		return SG_OK;
	return audit_append_members(s->audit, rec->buf, rec->len, NULL, NULL, NULL, audit_id);
}

/* ---- the door ---------------------------------------------------------------------------- */

int signer_sign(struct signer *s, const struct signer_request *req, struct signer_result *res,
		struct signer_error *err)
{
	struct signer_trace trace;

	return signer_sign_traced(s, req, res, err, &trace);
}

/* The signature's record, durable before the signature leaves. */
static int sign_commit(struct sign_ctx *c)
{
	char audit_id[AUDIT_ID_LEN + 1] = "";
	struct jsonw rec;
	bool appended = false;
	int ar;

	jsonw_init(&rec);
	if (c->res->response.failed) /* the response could not be written: nothing is signed */
		ar = sg_fail(SG_ERR_NOMEM, "sign response");
	else if (!audit_record(&rec, c->req, c, "signed", NULL, NULL, c->res->signature,
			       c->res->signature_len))
		ar = sg_fail(SG_ERR_NOMEM, "audit record");
	else {
		ar = audit_append_announced(c->s->audit, rec.buf, rec.len, sign_gate, c, audit_id);
		appended = true;
	}
	/* the append ended the announcement, whatever it returned; without one, it ends here */
	if (c->announced && !appended)
		audit_announce_cancel(c->s->audit);
	c->announced = false;
	jsonw_free(&rec);
	if (ar == SG_OK) {
		snprintf(c->res->audit_id, sizeof(c->res->audit_id), "%s", audit_id);
		/* (out of memory here, the response goes without it: the signature is recorded) */
		jsonw_str(&c->res->response, "audit_id", audit_id);
		return SG_OK;
	}
	signer_result_free(c->res);
	sodium_memzero(c->res->signature, sizeof(c->res->signature));
	c->res->signature_len = 0;
	if (c->late.reason[0] != '\0') /* another process spent meanwhile: no signature */
		return refuse_content(c, &c->late);
	return signer_error_set(c->err, ar, SIGNER_E_UNAVAILABLE,
				"the audit log cannot be written; nothing was signed");
}

/* A refusal's record; when it cannot be written, the request is answered "unavailable". */
static int refusal_commit(struct sign_ctx *c, int r)
{
	char audit_id[AUDIT_ID_LEN + 1] = "";
	const char *reason = c->err->reason[0] != '\0' ? c->err->reason : c->err->code;
	struct jsonw rec;
	int ar;

	jsonw_init(&rec);
	ar = !audit_record(&rec, c->req, c, decision_of(c->err->status), reason, c->err->rule, NULL,
			   0)
		     ? sg_fail(SG_ERR_NOMEM, "audit record")
		     : audit_refusal(c->s, c->req, &rec, reason, audit_id);
	jsonw_free(&rec);
	if (ar != SG_OK)
		return signer_error_set(
			c->err, ar, SIGNER_E_UNAVAILABLE,
			"the audit log cannot be written; the request was not processed");
	snprintf(c->err->audit_id, sizeof(c->err->audit_id), "%s", audit_id);
	return r;
}

int signer_sign_traced(struct signer *s, const struct signer_request *req,
		       struct signer_result *res, struct signer_error *err,
		       struct signer_trace *trace)
{
	struct sign_ctx c = {.s = s, .trace = trace, .res = res, .err = err};
	struct signer_request named = *req;
	int r;

	memset(trace, 0, sizeof(*trace));
	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	door_begin(&c, req);
	if (req->identity != NULL)
		named.client = c.client[0] != '\0' ? c.client : NULL;
	c.req = &named;
	if (named.client != NULL)
		snprintf(trace->client, sizeof(trace->client), "%s", named.client);
	r = door_checks(&c);
	if (r == SG_OK) {
		/* its record is coming: a sync meanwhile may wait for it (audit_announce) */
		audit_announce(s->audit);
		c.announced = true;
		r = sign_payload(&c);
	}
	if (r == SG_OK) {
		r = sign_commit(&c);
		if (r == SG_OK || c.late.reason[0] == '\0') {
			if (r != SG_OK) /* the log failed: what the request took goes back */
				limits_release(s->limits, &c.hold);
			goto out;
		}
	}
	/* refused, or failed after a reservation (the token, say): what it took goes back */
	if (c.announced) {
		audit_announce_cancel(s->audit);
		c.announced = false;
	}
	signer_result_free(res);
	limits_release(s->limits, &c.hold);
	r = refusal_commit(&c, r);
out:
	trace->status = r == SG_OK ? "signed" : decision_of(err->status);
	door_end(&c);
	return r;
}

void signer_record_refusal(struct signer *s, const struct signer_request *req,
			   struct signer_error *err)
{
	char audit_id[AUDIT_ID_LEN + 1];
	struct jsonw rec;
	int ar;

	jsonw_init(&rec);
	ar = !audit_record(&rec, req, NULL, decision_of(err->status), err->code, NULL, NULL, 0)
		     ? SG_ERR_NOMEM
		     : audit_refusal(s, req, &rec, err->code, audit_id);
	jsonw_free(&rec);
	err->audit_id[0] = '\0';
	if (ar != SG_OK) {
		(void)signer_error_set(
			err, ar, SIGNER_E_UNAVAILABLE,
			"the audit log cannot be written; the request was not processed");
		return;
	}
	snprintf(err->audit_id, sizeof(err->audit_id), "%s", audit_id);
}
