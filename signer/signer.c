/* The one door: names, grant, rate, key, decode, content, spend, sign, verify, audit. One
 * request carries its state in one struct (struct sign_ctx) and decides everything under one
 * policy snapshot, taken when it starts. */
#include "signer/signer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"
#include "common/names.h"
#include "common/timefmt.h"
#include "signer/evm/sig.h"
#include "signer/keyinfo.h"
#include "signer_internal.h"

/* signerd writes an anchor at most this often, and a checkpoint this often */
#define SIGNER_ANCHOR_INTERVAL     1.0
#define SIGNER_CHECKPOINT_INTERVAL 60.0

static const char *const payload_names[] = {
	[SIGNER_PAYLOAD_SOLANA_MESSAGE] = "solana_message",
	[SIGNER_PAYLOAD_EVM_TRANSACTION] = "evm_transaction",
	[SIGNER_PAYLOAD_EVM_MESSAGE] = "evm_message",
	[SIGNER_PAYLOAD_EVM_TYPED_DATA] = "evm_typed_data",
};

bool signer_key_name_valid(const char *text)
{
	return text != NULL && ks_name_check(text) == SG_OK;
}

enum signer_payload signer_payload_parse(const char *field)
{
	for (int i = SIGNER_PAYLOAD_SOLANA_MESSAGE; i <= SIGNER_PAYLOAD_EVM_TYPED_DATA; i++)
		if (strcmp(payload_names[i], field) == 0)
			return (enum signer_payload)i;
	return 0;
}

const char *signer_payload_name(enum signer_payload kind)
{
	return kind >= SIGNER_PAYLOAD_SOLANA_MESSAGE && kind <= SIGNER_PAYLOAD_EVM_TYPED_DATA
		       ? payload_names[kind]
		       : "unknown";
}

/* ---- the policy in force ----------------------------------------------------------------- */

static struct policy_ref *policy_ref_new(struct policy *p, uint64_t generation)
{
	struct policy_ref *ref = calloc(1, sizeof(*ref));

	if (ref == NULL)
		return NULL;
	ref->policy = p;
	atomic_init(&ref->refs, 1);
	ref->generation = generation;
	return ref;
}

struct policy_ref *signer_policy_acquire(struct signer *s)
{
	struct policy_ref *ref;

	pthread_mutex_lock(&s->policy_mu);
	ref = s->policy;
	atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&s->policy_mu);
	return ref;
}

void signer_policy_release(struct policy_ref *ref)
{
	if (ref != NULL && atomic_fetch_sub(&ref->refs, 1) == 1) {
		policy_free(ref->policy);
		free(ref);
	}
}

bool signer_key_watched(const struct policy *p, const char *key)
{
	for (size_t i = 0; i < policy_spend_limit_count(p); i++)
		if (strcmp(policy_spend_limit_at(p, i)->key, key) == 0)
			return true;
	return false;
}

/* ---- what the audit log says, counted by the limits -------------------------------------- */

/* Every record read from the log (replayed at start, or appended by another process): the
 * signed ones count against the limits. */
static void signer_observe(void *ctx, json_t *rec, double t)
{
	struct signer *s = ctx;
	const char *decision = json_string_value(json_object_get(rec, "decision"));
	struct policy_spend spends[POLICY_SPENDS_MAX];
	size_t n = 0, i;
	json_t *item;

	if (json_is_string(json_object_get(rec, "event")) &&
	    strcmp(json_string_value(json_object_get(rec, "event")), "audit_gap") == 0 &&
	    json_is_true(json_object_get(rec, "spends_unknown"))) {
		limits_record_gap(s->limits, t);
		return;
	}
	if (decision == NULL || strcmp(decision, "signed") != 0)
		return;
	json_array_foreach (json_object_get(rec, "spends"), i, item) {
		const char *asset = json_string_value(json_object_get(item, "asset"));

		if (n == POLICY_SPENDS_MAX || asset == NULL || strlen(asset) >= POLICY_ASSET_MAX ||
		    !limits_u256_decimal(json_string_value(json_object_get(item, "amount")),
					 spends[n].amount))
			continue;
		snprintf(spends[n].asset, sizeof(spends[n].asset), "%s", asset);
		n++;
	}
	limits_record(s->limits, json_string_value(json_object_get(rec, "client")),
		      json_string_value(json_object_get(rec, "operation")),
		      json_string_value(json_object_get(rec, "key")), spends, n, t);
}

/* ---- open and close ---------------------------------------------------------------------- */

int signer_open(const struct signer_config *cfg, struct signer **out)
{
	return signer_open_with(cfg, 0, out);
}

int signer_open_with(const struct signer_config *cfg, unsigned flags, struct signer **out)
{
	struct ks_config kc = {
		.module_path = cfg->token.module,
		.token_label = cfg->token.label,
		.pin_file = cfg->token.pin_file,
		.sessions = cfg->workers,
	};
	struct audit_options ao = {.segment_bytes = cfg->audit.segment_max_bytes,
				   .keep_segments = cfg->audit.keep_segments,
				   .keep_seconds = SIGNER_AUDIT_KEEP_SECONDS};
	struct policy *p = NULL;
	struct signer *s;
	bool repaired;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	if (cfg->audit.path == NULL || cfg->policy.path == NULL)
		return sg_fail(SG_ERR_CONFIG, "%s: no %s.path: nothing is signed without %s",
			       cfg->path != NULL ? cfg->path : "the configuration",
			       cfg->audit.path == NULL ? "audit" : "policy",
			       cfg->audit.path == NULL ? "an audit log" : "a policy");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sg_fail(SG_ERR_NOMEM, "opening the signer");
	s->flags = flags;
	pthread_mutex_init(&s->policy_mu, NULL);
	pthread_mutex_init(&s->tick_mu, NULL);
	s->audit_path = strdup(cfg->audit.path);
	if (s->audit_path == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "opening the signer");
		goto out;
	}
	if ((r = policy_load(cfg->policy.path, &p)) != SG_OK)
		goto out;
	s->policy = policy_ref_new(p, 0);
	if (s->policy == NULL) {
		policy_free(p);
		r = sg_fail(SG_ERR_NOMEM, "opening the signer");
		goto out;
	}
	/* the token first: it holds the audit log's anchor */
	if ((r = ks_open(&kc, &s->ks)) != SG_OK || (r = limits_new(&s->limits)) != SG_OK)
		goto out;
	if ((r = audit_open_with(cfg->audit.path, &ao, &s->audit, &repaired)) != SG_OK)
		goto out;
	if (repaired)
		fprintf(stderr,
			"signerd: audit log %s: a torn last line (from a crash) was removed\n",
			cfg->audit.path);
	/* the limits are rebuilt from the log, which must reach the token's anchor (a log that
	 * does not was truncated or rewritten: refusing to start beats trusting it) */
	r = journal_recover(s->ks, cfg->audit.path, s->limits, signer_observe, s, &s->recovery);
	if (r != SG_OK)
		goto out;
	s->anchor = s->recovery.anchor;
	atomic_store(&s->anchored_seq, s->anchor.present ? s->anchor.seq : 0);
	if (!s->anchor.present && s->recovery.last.seq > 0)
		fprintf(stderr,
			"signerd: audit: the token holds no anchor for the audit log; anchoring "
			"its "
			"%llu records as they are now\n",
			(unsigned long long)s->recovery.last.seq);
	audit_set_observer(s->audit, signer_observe, s);
	if ((r = limits_apply_policy(s->limits, p)) != SG_OK)
		goto out;
	if ((flags & SIGNER_OPEN_DAEMON) && (r = refusals_new(&s->refusals)) != SG_OK)
		goto out;
	if (!(flags & SIGNER_OPEN_READONLY) && s->recovery.last.seq > s->anchor.seq) {
		struct audit_head head;

		if ((r = audit_head_durable(s->audit, &head)) != SG_OK ||
		    (r = journal_anchor_write(s->ks, s->audit, &head, NULL, false, &s->anchor)) !=
			    SG_OK)
			goto out;
		atomic_store(&s->anchored_seq, s->anchor.seq);
	}
	s->anchor_written_at = time_monotonic_s();
	s->checkpoint_at = time_monotonic_s();
	*out = s;
	return SG_OK;
out:
	s->flags |= SIGNER_OPEN_READONLY; /* nothing to anchor on the way out */
	signer_close(s);
	return r;
}

static void signer_flush_refusals(struct signer *s, bool all);
static void signer_anchor(struct signer *s, bool checkpoint);

void signer_close(struct signer *s)
{
	if (s == NULL)
		return;
	if (s->audit != NULL && s->ks != NULL && !(s->flags & SIGNER_OPEN_READONLY)) {
		if (s->refusals != NULL)
			signer_flush_refusals(s, true);
		/* a clean stop anchors the log (and checkpoints the limits, for signerd) */
		signer_anchor(s, (s->flags & SIGNER_OPEN_DAEMON) != 0);
	}
	refusals_free(s->refusals);
	audit_close(s->audit);
	limits_free(s->limits);
	ks_close(s->ks);
	signer_policy_release(s->policy);
	pthread_mutex_destroy(&s->policy_mu);
	pthread_mutex_destroy(&s->tick_mu);
	free(s->audit_path);
	free(s);
}

/* ---- the anchor, checkpoints and refusal summaries (signer_tick) ------------------------- */

static void signer_flush_refusals(struct signer *s, bool all)
{
	json_t *recs[32];
	char ids[32][AUDIT_ID_LEN + 1];
	size_t n;

	do {
		n = refusals_due(s->refusals, signer_wall_seconds(), all, recs, ids, 32);
		for (size_t i = 0; i < n; i++) {
			char id[AUDIT_ID_LEN + 1];

			if (audit_append_gated(s->audit, recs[i], ids[i], NULL, NULL, id) != SG_OK)
				fprintf(stderr,
					"signerd: audit: a refusal summary was not written: %s\n",
					sg_errmsg(SG_ERR_IO));
			json_decref(recs[i]);
		}
	} while (n == 32);
}

/* Anchors the durable head in the token (and, with checkpoint, writes a checkpoint first).
 * With s->tick_mu held or at close. */
static void signer_anchor(struct signer *s, bool checkpoint)
{
	struct audit_head head;
	int r = audit_catch_up(s->audit);

	if (r == SG_OK && checkpoint) {
		audit_head_now(s->audit, &head);
		if (head.seq > s->checkpoint_seq) {
			r = journal_checkpoint(s->ks, s->audit, s->audit_path, s->limits,
					       &s->anchor);
			if (r == SG_OK)
				s->checkpoint_seq = head.seq;
		}
	}
	if (r == SG_OK)
		r = audit_head_durable(s->audit, &head);
	if (r == SG_OK && head.seq > s->anchor.seq)
		r = journal_anchor_write(s->ks, s->audit, &head, NULL, false, &s->anchor);
	if (r != SG_OK) {
		if (!atomic_exchange(&s->anchor_failing, true))
			fprintf(stderr, "signerd: audit: the anchor could not be written: %s\n",
				sg_errmsg(r));
		atomic_fetch_add(&s->anchor_failures, 1);
		return;
	}
	if (atomic_exchange(&s->anchor_failing, false))
		fprintf(stderr, "signerd: audit: the anchor is written again\n");
	atomic_store(&s->anchored_seq, s->anchor.seq);
}

void signer_tick(struct signer *s)
{
	double now = time_monotonic_s();
	struct audit_head head;

	if (s->flags & SIGNER_OPEN_READONLY)
		return;
	pthread_mutex_lock(&s->tick_mu);
	if (s->refusals != NULL)
		signer_flush_refusals(s, false);
	/* what signerctl signed on the same log counts here too, even while nothing is signed (a
	 * log changed behind signerd's back is reported by the catch-up, and fails the appends) */
	if (audit_catch_up(s->audit) != SG_OK) {
		/* said once, where the log broke; every append fails from now on */
	}
	audit_head_now(s->audit, &head);
	if (head.seq > atomic_load(&s->anchored_seq) &&
	    now - s->anchor_written_at >= SIGNER_ANCHOR_INTERVAL) {
		bool cp = (s->flags & SIGNER_OPEN_DAEMON) &&
			  now - s->checkpoint_at >= SIGNER_CHECKPOINT_INTERVAL;

		signer_anchor(s, cp);
		s->anchor_written_at = now;
		if (cp)
			s->checkpoint_at = now;
	}
	pthread_mutex_unlock(&s->tick_mu);
}

void signer_audit_state(struct signer *s, struct signer_audit_state *out)
{
	struct audit_head head;

	audit_head_now(s->audit, &head);
	memset(out, 0, sizeof(*out));
	out->head_seq = head.seq;
	out->anchor_seq = atomic_load(&s->anchored_seq);
	out->anchor_failures = atomic_load(&s->anchor_failures);
	out->anchor_failing = atomic_load(&s->anchor_failing);
	out->recovered_records = s->recovery.replayed;
	out->recovery_seconds = s->recovery.seconds;
	out->recovered_from_checkpoint = s->recovery.used_checkpoint;
	limits_ledger_counts(s->limits, &out->spend_ledgers, &out->rate_ledgers);
	out->ledgers_max = LIMITS_LEDGERS_MAX;
}

/* ---- refusals ---------------------------------------------------------------------------- */

int signer_refuse(struct signer_error *err, int code, int status, const char *api_code,
		  const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	err->code = api_code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void signer_result_free(struct signer_result *result)
{
	json_decref(result->response);
	json_decref(result->view);
	result->response = NULL;
	result->view = NULL;
}

json_t *signer_error_json(const struct signer_error *err, const char *request_id)
{
	json_t *e = json_pack("{s:s, s:s}", "code", err->code, "message", err->message);

	if (e != NULL && request_id != NULL)
		json_object_set_new(e, "request_id", json_string(request_id));
	if (e != NULL && err->audit_id[0] != '\0')
		json_object_set_new(e, "audit_id", json_string(err->audit_id));
	if (e != NULL && err->reason[0] != '\0') {
		json_object_set_new(e, "reason", json_string(err->reason));
		json_object_set_new(e, "rule", json_string(err->rule));
	}
	return json_pack("{s:o}", "error", e);
}

bool signer_chain_matches(const struct ks_key *key, enum signer_payload kind, char *buf, size_t n)
{
	enum ks_chain want = kind == SIGNER_PAYLOAD_SOLANA_MESSAGE ? KS_CHAIN_SOLANA : KS_CHAIN_EVM;

	if (key->chain == want)
		return true;
	snprintf(buf, n, "key '%s' is of chain %s; %s needs a key of chain %s", key->name,
		 ks_chain_name(key->chain), signer_payload_name(kind), ks_chain_name(want));
	return false;
}

/* A keystore or token failure, as the API reports it. */
static int refuse_keystore(struct signer_error *err, int r, const char *key)
{
	switch (r) {
	case SG_ERR_NOT_FOUND:
		return signer_refuse(err, r, 404, "key_not_found", "no key named '%s'", key);
	case SG_ERR_STATE:
		return signer_refuse(err, r, 409, "key_not_active", "%s", sg_errmsg(r));
	case SG_ERR_TOKEN_UNAVAILABLE:
	case SG_ERR_PIN:
		return signer_refuse(err, r, 503, "unavailable",
				     "the key store is unavailable; retry later");
	default:
		return signer_refuse(err, r, 500, "internal", "internal error");
	}
}

/* ---- one request ------------------------------------------------------------------------- */

struct sign_ctx {
	struct signer *s;
	const struct signer_request *req;
	struct policy_ref *pol; /* the policy this request is decided under */
	struct signer_trace *trace;
	struct signer_result *res;
	struct signer_error *err;
	struct ks_key key;
	bool key_known;
	bool caught_up;              /* what other processes appended was read */
	struct limits_hold hold;     /* what it took from the limits */
	struct policy_decision late; /* the gate's refusal, when the spends no longer fit */
};

/* A content or limit rule's refusal: 403 policy_denied with its reason and rule. */
static int refuse_content(struct sign_ctx *c, const struct policy_decision *d)
{
	int r = signer_refuse(c->err, sg_fail(SG_ERR_PERMISSION, "%s", d->message), 403,
			      "policy_denied", "%s", d->message);

	snprintf(c->err->reason, sizeof(c->err->reason), "%s", d->reason);
	snprintf(c->err->rule, sizeof(c->err->rule), "%s", d->rule);
	c->trace->policy_denied = true;
	snprintf(c->trace->denial_reason, sizeof(c->trace->denial_reason), "%s", d->reason);
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

/* The spends of the payload: unreadable ones refused where a spend limit watches the key;
 * readable ones checked against the spend limits and reserved. */
static int check_spends(struct sign_ctx *c, bool readable, const struct policy_spend *spends,
			size_t n, const char *what)
{
	const struct policy *p = c->pol->policy;
	bool watched = signer_key_watched(p, c->key.name);
	struct policy_decision d;
	double start = time_monotonic_s();
	bool ok;

	if (!readable) {
		if (!watched)
			return SG_OK;
		d = (struct policy_decision){
			.allowed = false, .reason = "spend_unreadable", .rule = "spend_limits"};
		snprintf(d.message, sizeof(d.message), "the %s's spends cannot be read", what);
		return refuse_content(c, &d);
	}
	if (watched)
		catch_up(c);
	ok = limits_spend_reserve(c->s->limits, p, c->key.name, spends, n, signer_wall_seconds(),
				  &c->hold, &d);
	c->trace->policy_seconds += time_monotonic_s() - start;
	return ok ? SG_OK : refuse_content(c, &d);
}

static void time_policy(struct sign_ctx *c, double start)
{
	c->trace->policy_seconds += time_monotonic_s() - start;
}

static int timed_ks_sign(struct sign_ctx *c, const uint8_t *msg, size_t len, uint8_t *sig,
			 size_t *siglen)
{
	double start = time_monotonic_s();
	int r = ks_sign(c->s->ks, c->key.name, c->key.version, msg, len, sig, siglen);

	c->trace->hsm_seconds = time_monotonic_s() - start;
	return r;
}

static int sign_solana(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	struct sol_message m;
	struct policy_decision decision;
	struct policy_spend spends[POLICY_SPENDS_MAX];
	uint8_t sig[KS_SIGNATURE_MAX];
	size_t siglen, index, n_spends = 0;
	double start;
	bool readable;
	int r;

	r = sol_message_decode(req->payload, req->payload_len, &m);
	if (r != SG_OK)
		return signer_refuse(c->err, r, 400, "invalid_payload",
				     "the Solana message does not parse: %s", sg_errmsg(r));
	if (!sol_message_signer_index(&m, c->key.public_key, &index)) {
		r = signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "not_a_signer",
				  "key '%s' is not a required signer of this message", c->key.name);
		goto out;
	}
	start = time_monotonic_s();
	policy_check_solana(c->pol->policy, req->operation, &m, c->key.public_key, &decision);
	time_policy(c, start);
	if (!decision.allowed) {
		r = refuse_content(c, &decision);
		goto out;
	}
	readable = policy_spends_solana(&m, c->key.public_key, spends, &n_spends);
	if ((r = check_spends(c, readable, spends, n_spends, "message")) != SG_OK)
		goto out;
	if (req->want_view)
		c->res->view = signer_solana_view(&m);
	/* the exact message bytes that were decoded are signed */
	r = timed_ks_sign(c, req->payload, req->payload_len, sig, &siglen);
	if (r != SG_OK) {
		r = refuse_keystore(c->err, r, c->key.name);
		goto out;
	}
	if (siglen != 64 || crypto_sign_verify_detached(sig, req->payload, req->payload_len,
							c->key.public_key) != 0) {
		r = signer_refuse(
			c->err,
			sg_fail(SG_ERR_VERIFY, "the token's Ed25519 signature does not verify"),
			500, "internal", "internal error");
		goto out;
	}
	memcpy(c->res->signature, sig, 64);
	c->res->signature_len = 64;
	json_object_set_new(c->res->response, "signature", signer_b58_json(sig, 64));
	json_object_set_new(c->res->response, "signer", signer_b58_json(c->key.public_key, 32));
out:
	sol_message_free(&m);
	return r;
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
		return signer_refuse(c->err, r, 500, "internal", "internal error");
	memcpy(c->res->signature, sig->r, 32);
	memcpy(c->res->signature + 32, sig->s, 32);
	c->res->signature[64] = (uint8_t)sig->recid;
	c->res->signature_len = 65;
	return SG_OK;
}

static int sign_evm_transaction(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	struct evm_tx tx;
	struct policy_decision decision;
	struct policy_spend spends[POLICY_SPENDS_MAX];
	struct evm_sig sig;
	struct rlp_buf signed_tx = {0};
	uint8_t digest[32], from[20], hash[32], v[33];
	size_t v_len, n_spends = 0;
	double start;
	bool readable;
	int r;

	r = evm_tx_decode(req->payload, req->payload_len, &tx);
	if (r != SG_OK)
		return signer_refuse(c->err, r, 400, "invalid_payload",
				     "the transaction does not parse: %s", sg_errmsg(r));
	start = time_monotonic_s();
	policy_check_evm_tx(c->pol->policy, req->operation, &tx, &decision);
	time_policy(c, start);
	if (!decision.allowed)
		return refuse_content(c, &decision);
	readable = policy_spends_evm(&tx, spends, &n_spends);
	if ((r = check_spends(c, readable, spends, n_spends, "transaction")) != SG_OK)
		return r;
	if (req->want_view)
		c->res->view = signer_evm_tx_view(&tx);
	evm_tx_signing_hash(&tx, digest);
	if ((r = sign_evm_digest(c, digest, &sig, from)) != SG_OK)
		return r;
	r = evm_tx_encode_signed(&tx, sig.recid, sig.r, sig.s, &signed_tx, v, &v_len);
	if (r != SG_OK) {
		r = signer_refuse(c->err, r, 500, "internal", "internal error");
		goto out;
	}
	keccak256(signed_tx.data, signed_tx.len, hash);
	json_object_set_new(c->res->response, "signed_transaction",
			    signer_hex_json(signed_tx.data, signed_tx.len));
	json_object_set_new(c->res->response, "transaction_hash", signer_hex_json(hash, 32));
	json_object_set_new(c->res->response, "from", signer_address_json(from));
	json_object_set_new(c->res->response, "v", signer_quantity_json(v, v_len));
	json_object_set_new(c->res->response, "r", signer_quantity_json(sig.r, 32));
	json_object_set_new(c->res->response, "s", signer_quantity_json(sig.s, 32));
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
	json_object_set_new(c->res->response, "signature", signer_hex_json(rsv, 65));
	json_object_set_new(c->res->response, "digest", signer_hex_json(digest, 32));
	json_object_set_new(c->res->response, "from", signer_address_json(from));
	return SG_OK;
}

static int sign_evm_message(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	uint8_t digest[32];
	struct policy_decision decision;
	double start = time_monotonic_s();

	policy_check_eip191(c->pol->policy, req->operation, req->payload_len, &decision);
	time_policy(c, start);
	if (!decision.allowed)
		return refuse_content(c, &decision);
	evm_personal_hash(req->payload, req->payload_len, digest);
	if (req->want_view)
		c->res->view = json_pack("{s:I}", "length", (json_int_t)req->payload_len);
	return sign_evm_hashed(c, digest);
}

static int sign_evm_typed_data(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	struct eip712 td;
	struct policy_decision decision;
	struct policy_spend spends[POLICY_SPENDS_MAX];
	size_t n_spends = 0;
	double start;
	bool readable;
	int r = eip712_hash_text((const char *)req->payload, req->payload_len, &td);

	if (r != SG_OK)
		return signer_refuse(c->err, r, 400, "invalid_payload",
				     "the typed data does not encode: %s", sg_errmsg(r));
	start = time_monotonic_s();
	policy_check_eip712(c->pol->policy, req->operation, &td, &decision);
	time_policy(c, start);
	if (!decision.allowed)
		return refuse_content(c, &decision);
	/* permits, orders and meta-transactions give value away off-chain */
	readable = policy_spends_eip712(&td, spends, &n_spends);
	if ((r = check_spends(c, readable, spends, n_spends, "typed data")) != SG_OK)
		return r;
	if (req->want_view)
		c->res->view = signer_eip712_view(&td);
	return sign_evm_hashed(c, td.digest);
}

/* The checks before the payload is read: names, grant, rate limit, key, chain, state. */
static int sign_checks(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;
	const struct policy *p = c->pol->policy;
	const struct policy_rate_limit *rl;
	char mismatch[192];
	const char *rule;
	double policy_start;
	int r;

	if (!operation_valid(req->operation))
		return signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
				     "operation must be 1 to %d characters of A-Z a-z 0-9 _ - . :",
				     OPERATION_MAX_LEN);
	if (req->request_id != NULL && !request_id_valid(req->request_id))
		return signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
				     "request_id must be 1 to %d printable ASCII characters",
				     REQUEST_ID_MAX_LEN);
	if (req->kind < SIGNER_PAYLOAD_SOLANA_MESSAGE || req->kind > SIGNER_PAYLOAD_EVM_TYPED_DATA)
		return signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
				     "unknown payload kind");
	/* who may do what comes first: a client without a grant learns nothing of the keys */
	policy_start = time_monotonic_s();
	if (req->client == NULL)
		r = sg_fail(SG_ERR_PERMISSION,
			    "the client's certificate (%.200s) matches no client "
			    "of the policy",
			    req->peer != NULL ? req->peer : "none");
	else
		r = policy_authorize(p, req->client, req->key, req->operation, &rule);
	c->trace->policy_seconds = time_monotonic_s() - policy_start;
	if (r != SG_OK) {
		c->trace->policy_denied = true;
		snprintf(c->trace->denial_reason, sizeof(c->trace->denial_reason), "forbidden");
		return signer_refuse(c->err, r, 403, "forbidden", "%s", sg_errmsg(r));
	}
	/* the rate limit of (client, operation), if the policy gives one */
	rl = policy_rate_limit_for(p, req->client, req->operation);
	if (rl == NULL) {
		/* counted all the same: a rate limit a reload adds starts from it */
		limits_rate_count(c->s->limits, req->client, req->operation, signer_wall_seconds(),
				  &c->hold);
	} else {
		double wait = 0;

		catch_up(c);
		if (!limits_rate_take(c->s->limits, rl, signer_wall_seconds(), &c->hold, &wait)) {
			r = signer_refuse(
				c->err, sg_fail(SG_ERR_PERMISSION, "rate limited"), 429,
				"rate_limited",
				"client '%s' may sign for '%s' %llu times a minute (burst "
				"%llu); retry later",
				req->client, req->operation, (unsigned long long)rl->per_minute,
				(unsigned long long)rl->burst);
			c->err->retry_after = (unsigned)(wait + 0.999);
			if (c->err->retry_after == 0)
				c->err->retry_after = 1;
			snprintf(c->err->reason, sizeof(c->err->reason), "rate_limited");
			snprintf(c->err->rule, sizeof(c->err->rule), "%s", rl->rule);
			c->trace->policy_denied = true;
			snprintf(c->trace->denial_reason, sizeof(c->trace->denial_reason),
				 "rate_limited");
			return r;
		}
	}
	if (ks_name_check(req->key) != SG_OK)
		return signer_refuse(c->err, SG_ERR_NOT_FOUND, 404, "key_not_found",
				     "no key named '%.64s'", req->key);
	r = ks_key_lookup(c->s->ks, req->key, 0, &c->key);
	if (r != SG_OK)
		return refuse_keystore(c->err, r, req->key);
	c->key_known = true;
	snprintf(c->trace->chain, sizeof(c->trace->chain), "%s", ks_chain_name(c->key.chain));
	if (!signer_chain_matches(&c->key, req->kind, mismatch, sizeof(mismatch)))
		return signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "wrong_chain", "%s",
				     mismatch);
	if (c->key.state != KS_STATE_ACTIVE)
		return signer_refuse(c->err, SG_ERR_STATE, 409, "key_not_active",
				     "key '%s' version %u is %s, not active", c->key.name,
				     c->key.version, ks_state_name(c->key.state));
	return SG_OK;
}

static int sign_payload(struct sign_ctx *c)
{
	const struct signer_request *req = c->req;

	c->res->response = json_pack("{s:s, s:I, s:s}", "key", c->key.name, "key_version",
				     (json_int_t)c->key.version, "operation", req->operation);
	if (c->res->response == NULL)
		return signer_refuse(c->err, sg_fail(SG_ERR_NOMEM, "sign response"), 500,
				     "internal", "internal error");
	if (req->request_id != NULL)
		json_object_set_new(c->res->response, "request_id", json_string(req->request_id));
	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		return sign_solana(c);
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		return sign_evm_transaction(c);
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		return sign_evm_message(c);
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		return sign_evm_typed_data(c);
	default:
		return signer_refuse(c->err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
				     "unknown payload kind");
	}
}

static const char *decision_of(int status)
{
	if (status == 403 || status == 429)
		return "denied";
	return status >= 500 ? "error" : "invalid";
}

/* The audit record of one request; NULL when out of memory. */
static json_t *audit_record(const struct signer_request *req, const struct sign_ctx *c,
			    const char *decision, const char *reason, const char *rule,
			    const uint8_t *sig, size_t sig_len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	json_t *rec = json_object();

	if (rec == NULL)
		return NULL;
	json_object_set_new(rec, "request_id",
			    req->request_id != NULL ? json_string(req->request_id) : json_null());
	json_object_set_new(rec, "client",
			    req->client != NULL ? json_string(req->client) : json_null());
	if (req->peer != NULL)
		json_object_set_new(rec, "peer", json_string(req->peer));
	/* a key name that is not one is kept out: it could be anything the client sent */
	json_object_set_new(rec, "key",
			    ks_name_check(req->key) == SG_OK ? json_string(req->key) : json_null());
	json_object_set_new(rec, "key_version",
			    c != NULL && c->key_known ? json_integer(c->key.version) : json_null());
	json_object_set_new(rec, "operation",
			    operation_valid(req->operation) ? json_string(req->operation)
							    : json_null());
	json_object_set_new(rec, "chain",
			    c != NULL && c->key_known ? json_string(ks_chain_name(c->key.chain))
						      : json_null());
	json_object_set_new(rec, "payload",
			    req->kind != 0 ? json_string(signer_payload_name(req->kind))
					   : json_null());
	crypto_hash_sha256(h, req->payload != NULL ? req->payload : (const uint8_t *)"",
			   req->payload_len);
	if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
		json_object_set_new(rec, "payload_sha256", json_string(hex));
	json_object_set_new(rec, "decision", json_string(decision));
	json_object_set_new(rec, "reason", reason != NULL ? json_string(reason) : json_null());
	if (rule != NULL && rule[0] != '\0')
		json_object_set_new(rec, "rule", json_string(rule));
	if (c != NULL && c->pol != NULL)
		json_object_set_new(rec, "policy_generation",
				    json_integer((json_int_t)c->pol->generation));
	if (sig != NULL) {
		crypto_hash_sha256(h, sig, sig_len);
		if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
			json_object_set_new(rec, "signature_sha256", json_string(hex));
	} else {
		json_object_set_new(rec, "signature_sha256", json_null());
	}
	if (c != NULL && c->hold.spent && c->hold.n_spends > 0) {
		json_t *list = json_array();

		for (size_t i = 0; list != NULL && i < c->hold.n_spends; i++) {
			char dec[80];

			evm_uint_decimal(c->hold.spends[i].amount, 32, dec);
			json_array_append_new(list,
					      json_pack("{s:s, s:s}", "asset",
							c->hold.spends[i].asset, "amount", dec));
		}
		json_object_set_new(rec, "spends", list);
	}
	return rec;
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
static int audit_refusal(struct signer *s, const struct signer_request *req, json_t *rec,
			 const char *reason, char audit_id[AUDIT_ID_LEN + 1])
{
	/* folded only while the log takes records: a summary that could not be written would
	 * leave the refusal answered with the id of a record that never exists */
	if (s->refusals != NULL && req->peer != NULL && audit_writable(s->audit) &&
	    !refusals_admit(s->refusals, req->peer, req->client, reason, signer_wall_seconds(),
			    audit_id))
		return SG_OK;
	return audit_append(s->audit, rec, audit_id);
}

int signer_sign(struct signer *s, const struct signer_request *req, struct signer_result *res,
		struct signer_error *err)
{
	struct signer_trace trace;

	return signer_sign_traced(s, req, res, err, &trace);
}

int signer_sign_traced(struct signer *s, const struct signer_request *req,
		       struct signer_result *res, struct signer_error *err,
		       struct signer_trace *trace)
{
	struct sign_ctx c = {.s = s, .trace = trace, .res = res, .err = err};
	struct signer_request named = *req;
	char audit_id[AUDIT_ID_LEN + 1] = "", client[64];
	json_t *rec;
	int r, ar;

	memset(trace, 0, sizeof(*trace));
	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	c.pol = signer_policy_acquire(s);
	/* a TLS peer is named by the policy this request is decided by, not by the one in force
	 * when its connection was identified */
	if (req->identity != NULL) {
		const struct signer_peer *id = req->identity;
		struct policy_peer peer = {.san_uri = id->san_uri,
					   .san_uri_len = id->san_uri_len,
					   .cn = id->cn,
					   .cn_len = id->cn_len,
					   .spki_sha256 = id->spki_sha256};
		const char *name = policy_client_for(c.pol->policy, &peer);

		named.client = NULL;
		if (name != NULL) {
			snprintf(client, sizeof(client), "%s", name);
			named.client = client;
		}
	}
	req = &named;
	c.req = req;
	if (req->client != NULL)
		snprintf(trace->client, sizeof(trace->client), "%s", req->client);
	r = sign_checks(&c);
	if (r == SG_OK)
		r = sign_payload(&c);
	if (r == SG_OK) {
		/* durable before done: the record is on disk before the signature leaves */
		rec = audit_record(req, &c, "signed", NULL, NULL, res->signature,
				   res->signature_len);
		ar = rec == NULL ? sg_fail(SG_ERR_NOMEM, "audit record")
				 : audit_append_gated(s->audit, rec, NULL, sign_gate, &c, audit_id);
		json_decref(rec);
		if (ar == SG_OK) {
			snprintf(res->audit_id, sizeof(res->audit_id), "%s", audit_id);
			json_object_set_new(res->response, "audit_id", json_string(audit_id));
			goto out;
		}
		signer_result_free(res);
		sodium_memzero(res->signature, sizeof(res->signature));
		res->signature_len = 0;
		if (c.late.reason[0] != '\0') {
			/* another process spent meanwhile: the signature does not leave */
			r = refuse_content(&c, &c.late);
		} else {
			limits_release(s->limits, &c.hold);
			r = signer_refuse(err, ar, 503, "unavailable",
					  "the audit log cannot be written; nothing was signed");
			goto out;
		}
	}
	/* refused, or failed after a reservation (the token, say): what it took goes back */
	signer_result_free(res);
	limits_release(s->limits, &c.hold);
	rec = audit_record(req, &c, decision_of(err->status),
			   err->reason[0] != '\0' ? err->reason : err->code, err->rule, NULL, 0);
	ar = rec == NULL
		     ? SG_ERR_NOMEM
		     : audit_refusal(s, req, rec, err->reason[0] != '\0' ? err->reason : err->code,
				     audit_id);
	json_decref(rec);
	if (ar != SG_OK) /* every request has its record, or is answered "unavailable" */
		r = signer_refuse(err, ar, 503, "unavailable",
				  "the audit log cannot be written; the request was not processed");
	else
		snprintf(err->audit_id, sizeof(err->audit_id), "%s", audit_id);
out:
	trace->status = r == SG_OK ? "signed" : decision_of(err->status);
	signer_policy_release(c.pol);
	return r;
}

void signer_record_refusal(struct signer *s, const struct signer_request *req,
			   struct signer_error *err)
{
	char audit_id[AUDIT_ID_LEN + 1];
	json_t *rec = audit_record(req, NULL, decision_of(err->status), err->code, NULL, NULL, 0);
	int ar = rec == NULL ? SG_ERR_NOMEM : audit_refusal(s, req, rec, err->code, audit_id);

	json_decref(rec);
	err->audit_id[0] = '\0';
	if (ar != SG_OK) {
		(void)signer_refuse(
			err, ar, 503, "unavailable",
			"the audit log cannot be written; the request was not processed");
		return;
	}
	snprintf(err->audit_id, sizeof(err->audit_id), "%s", audit_id);
}

/* ---- reload, identity, state ------------------------------------------------------------- */

int signer_policy_reload(struct signer *s, const char *path)
{
	struct policy *fresh;
	struct policy_ref *ref, *old;
	int r = policy_load(path, &fresh);

	if (r != SG_OK)
		return r; /* the policy in force stays */
	/* everything that can fail first (the limits in force are not touched if it does);
	 * then the limits of the new policy start from what the ledgers hold, before any
	 * request is decided under it */
	if ((ref = policy_ref_new(fresh, atomic_load(&s->policy_gen) + 1)) == NULL) {
		policy_free(fresh);
		return sg_fail(SG_ERR_NOMEM, "reloading the policy");
	}
	if ((r = limits_apply_policy(s->limits, fresh)) != SG_OK) {
		signer_policy_release(ref); /* frees fresh */
		return r;
	}
	pthread_mutex_lock(&s->policy_mu);
	old = s->policy;
	s->policy = ref;
	atomic_store(&s->policy_gen, ref->generation);
	pthread_mutex_unlock(&s->policy_mu);
	signer_policy_release(old);
	return SG_OK;
}

uint64_t signer_policy_generation(struct signer *s)
{
	return atomic_load(&s->policy_gen);
}

void signer_metric_labels(struct signer *s, const char *client, const char *key,
			  const char *operation, const char **key_label,
			  const char **operation_label)
{
	struct policy_ref *ref = signer_policy_acquire(s);

	/* only names the policy itself uses become label values: what a client sends cannot
	 * grow the metrics */
	*key_label =
		client != NULL && key != NULL && policy_client_has_key(ref->policy, client, key)
			? key
			: "other";
	*operation_label = operation != NULL && policy_operation_named(ref->policy, operation)
				   ? operation
				   : "other";
	signer_policy_release(ref);
}

bool signer_identify(struct signer *s, const char *san_uri, size_t san_uri_len, const char *cn,
		     size_t cn_len, const uint8_t spki_sha256[32], char *client, size_t client_size)
{
	struct policy_peer peer = {.san_uri = san_uri,
				   .san_uri_len = san_uri_len,
				   .cn = cn,
				   .cn_len = cn_len,
				   .spki_sha256 = spki_sha256};
	struct policy_ref *ref = signer_policy_acquire(s);
	const char *name = policy_client_for(ref->policy, &peer);
	bool found = name != NULL;

	if (found)
		snprintf(client, client_size, "%s", name);
	signer_policy_release(ref);
	return found;
}

void signer_token_state(struct signer *s, unsigned *busy, unsigned *idle, bool *logged_in)
{
	struct ks_stats st;

	ks_stats(s->ks, &st);
	*busy = st.sessions_busy;
	*idle = st.sessions_idle;
	*logged_in = st.logged_in;
}

void signer_token_errors(struct signer *s,
			 void (*cb)(const char *function, const char *rv, uint64_t count,
				    void *ctx),
			 void *ctx)
{
	(void)s;
	ks_errors_foreach(cb, ctx);
}

int signer_token_check(struct signer *s)
{
	return ks_health(s->ks);
}

bool signer_audit_writable(struct signer *s)
{
	return audit_writable(s->audit);
}

uint64_t signer_audit_failures(struct signer *s)
{
	return audit_failures(s->audit);
}

static bool signer_client_may(struct signer *s, const char *client, const char *key)
{
	struct policy_ref *ref;
	bool ok;

	if (client == NULL)
		return true;
	ref = signer_policy_acquire(s);
	ok = policy_client_has_key(ref->policy, client, key);
	signer_policy_release(ref);
	return ok;
}

int signer_keys_json(struct signer *s, const char *client, json_t **out)
{
	struct ks_key *keys;
	size_t n;
	json_t *list;
	int r = ks_key_list_current(s->ks, &keys, &n);

	if (r != SG_OK)
		return r;
	list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++) {
		json_t *k;

		if (!signer_client_may(s, client, keys[i].name))
			continue;
		k = signer_key_json(&keys[i]);
		if (k == NULL || json_array_append_new(list, k) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	free(keys);
	*out = list == NULL ? NULL : json_pack("{s:o}", "keys", list);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "listing keys") : SG_OK;
}

int signer_key_json_get(struct signer *s, const char *client, const char *name, json_t **out)
{
	struct ks_key key;
	int r;

	*out = NULL;
	if (ks_name_check(name) != SG_OK || !signer_client_may(s, client, name))
		return sg_fail(SG_ERR_NOT_FOUND, "no key named '%.64s'", name);
	r = ks_key_lookup(s->ks, name, 0, &key);
	if (r != SG_OK)
		return r;
	*out = signer_key_json(&key);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "key %s", name) : SG_OK;
}
