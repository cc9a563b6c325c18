/* The one door: names, grant, rate, key, decode, content, spend, sign, verify, audit. One
 * request carries its state in one struct (struct sign_ctx) and decides everything under one
 * policy snapshot, taken when it starts. */
#include "signer/signer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"
#include "common/names.h"
#include "common/timefmt.h"
#include "chain/evm/sig.h"
#include "signer/keyinfo.h"
#include "signer_internal.h"

/* signerd writes an anchor at most this often, and a checkpoint this often */
#define SIGNER_ANCHOR_INTERVAL     1.0
#define SIGNER_CHECKPOINT_INTERVAL 60.0
/* and, while the audit log refuses writes, tries one this often (signer_audit_probe) */
#define SIGNER_AUDIT_PROBE_INTERVAL 5.0

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
	struct audit_options ao = {
		.segment_bytes = cfg->audit.segment_max_bytes,
		.keep_segments = cfg->audit.keep_segments,
		.keep_seconds = SIGNER_AUDIT_KEEP_SECONDS,
		/* a sync waits for the signatures at the token, one per session */
		.gather_max_records = cfg->workers};
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
	s->lifecycle_fd = -1;
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
		sg_log("audit log %s: a torn last line (from a crash) was removed",
		       cfg->audit.path);
	/* the limits are rebuilt from the log, which must reach the token's anchor (a log that
	 * does not was truncated or rewritten: refusing to start beats trusting it) */
	r = journal_recover(s->ks, cfg->audit.path, s->limits, journal_count_record, s->limits,
			    &s->recovery);
	if (r != SG_OK)
		goto out;
	s->anchor = s->recovery.anchor;
	atomic_store(&s->anchored_seq, s->anchor.present ? s->anchor.seq : 0);
	if (!s->anchor.present && s->recovery.last.seq > 0)
		sg_log("audit: the token holds no anchor for the audit log; anchoring "
		       "its "
		       "%llu records as they are now",
		       (unsigned long long)s->recovery.last.seq);
	audit_set_observer(s->audit, journal_count_record, s->limits);
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
	if (s->lifecycle_fd >= 0)
		close(s->lifecycle_fd);
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
				sg_log("audit: a refusal summary was not written: %s",
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
			sg_log("audit: the anchor could not be written: %s", sg_errmsg(r));
		atomic_fetch_add(&s->anchor_failures, 1);
		return;
	}
	if (atomic_exchange(&s->anchor_failing, false))
		sg_log("audit: the anchor is written again");
	atomic_store(&s->anchored_seq, s->anchor.seq);
}

/* After a write failed (a full disk, say), nothing but a request would write again, and
 * /readyz keeps signerd out of its load balancer until one does: so, every
 * SIGNER_AUDIT_PROBE_INTERVAL, the daemon tries a record saying the log takes writes again and
 * how many failed; written, the log is writable and /readyz ready again. With s->tick_mu held. */
static void signer_audit_probe(struct signer *s, double now)
{
	char id[AUDIT_ID_LEN + 1];
	json_t *rec;

	if (!(s->flags & SIGNER_OPEN_DAEMON) || audit_writable(s->audit) ||
	    audit_broken(s->audit) || now - s->audit_probe_at < SIGNER_AUDIT_PROBE_INTERVAL)
		return;
	s->audit_probe_at = now;
	rec = json_pack("{s:s, s:I}", "event", "audit_writable", "write_failures",
			(json_int_t)audit_failures(s->audit));
	if (rec == NULL)
		return;
	if (audit_append(s->audit, rec, id) == SG_OK)
		sg_log("audit: the audit log takes writes again (record %s)", id);
	json_decref(rec);
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
	signer_audit_probe(s, now);
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

/* ---- the request's helpers ----------------------------------------------------------- */

bool signer_chain_matches(const struct ks_key *key, enum signer_payload kind, char *buf, size_t n)
{
	enum ks_chain want = kind == SIGNER_PAYLOAD_SOLANA_MESSAGE ? KS_CHAIN_SOLANA : KS_CHAIN_EVM;

	if (key->chain == want)
		return true;
	snprintf(buf, n, "key '%s' is of chain %s; %s needs a key of chain %s", key->name,
		 ks_chain_name(key->chain), signer_payload_name(kind), ks_chain_name(want));
	return false;
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
