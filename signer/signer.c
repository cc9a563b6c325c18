#include "signer/signer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"
#include "common/names.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "policy/policy.h"
#include "signer/audit.h"
#include "signer/evm/eip712.h"
#include "signer/evm/sig.h"
#include "signer/evm/tx.h"
#include "signer/keyinfo.h"
#include "signer/solana/message.h"


/* The trace of the request in progress on this thread (NULL when nobody asked). */
static _Thread_local struct signer_trace *current_trace;

struct signer {
	struct keystore *ks;
	struct audit_log *audit;
	pthread_rwlock_t policy_lock; /* readers sign; signer_policy_reload swaps */
	struct policy *policy;
	_Atomic uint64_t policy_gen;  /* bumped by every swap */
	pthread_mutex_t rate_mu;      /* the token buckets of the rate limits */
	struct rate_bucket *buckets;
	size_t n_buckets;
	pthread_mutex_t spend_mu;     /* the running sums of the spend limits */
	struct spend_track *tracks;
	size_t n_tracks;
	double spend_clock;           /* the latest time seen: a clock stepping back is ignored */
};

/* The running sum of one (key, asset, window): 61 buckets of window/60 seconds each, so the
 * sum covers the window and at most one bucket more (it errs on the strict side). */
#define SPEND_SLOTS 61

struct spend_track {
	char key[64];
	char asset[POLICY_ASSET_MAX];
	uint64_t window;
	int64_t index[SPEND_SLOTS];
	uint8_t sum[SPEND_SLOTS][32];
};

/* What the request in progress on this thread reserved against the spend limits. */
struct spend_reservation {
	struct policy_spend spends[POLICY_SPENDS_MAX];
	size_t n;
	double at;
	bool active;
	char key[64];
};
static _Thread_local struct spend_reservation current_spends;

/* The rate-limit token the request in progress on this thread took, given back when no
 * signature leaves: a bucket counts signatures, as its replay from the audit log does. */
static _Thread_local struct {
	bool taken;
	struct policy_rate_limit limit;
} current_rate;

static void u256_add(uint8_t acc[32], const uint8_t v[32], int sign)
{
	int carry = 0;

	for (int i = 31; i >= 0; i--) {
		int x = (int)acc[i] + sign * (int)v[i] + carry;

		carry = x < 0 ? -1 : x >> 8;
		acc[i] = (uint8_t)(x & 0xff);
	}
	if (carry > 0)
		memset(acc, 0xff, 32); /* saturate */
	else if (carry < 0)
		memset(acc, 0, 32); /* a release below zero (a bucket that rolled over): floor */
}

static struct spend_track *spend_track_get(struct signer *s, const char *key, const char *asset,
					   uint64_t window)
{
	struct spend_track *grown;

	for (size_t i = 0; i < s->n_tracks; i++)
		if (s->tracks[i].window == window && strcmp(s->tracks[i].key, key) == 0 &&
		    strcmp(s->tracks[i].asset, asset) == 0)
			return &s->tracks[i];
	grown = realloc(s->tracks, (s->n_tracks + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	s->tracks = grown;
	memset(&s->tracks[s->n_tracks], 0, sizeof(s->tracks[0]));
	snprintf(s->tracks[s->n_tracks].key, sizeof(s->tracks[0].key), "%s", key);
	snprintf(s->tracks[s->n_tracks].asset, sizeof(s->tracks[0].asset), "%s", asset);
	s->tracks[s->n_tracks].window = window;
	for (int k = 0; k < SPEND_SLOTS; k++)
		s->tracks[s->n_tracks].index[k] = INT64_MIN;
	return &s->tracks[s->n_tracks++];
}

static int64_t spend_slot_index(const struct spend_track *t, double at)
{
	double width = (double)t->window / (SPEND_SLOTS - 1);

	return (int64_t)(at / width);
}

static void spend_track_add(struct spend_track *t, double at, const uint8_t amount[32], int sign)
{
	int64_t idx = spend_slot_index(t, at);
	int slot = (int)(((idx % SPEND_SLOTS) + SPEND_SLOTS) % SPEND_SLOTS);

	if (t->index[slot] != idx) {
		if (sign < 0)
			return; /* that bucket has rolled over already */
		t->index[slot] = idx;
		memset(t->sum[slot], 0, 32);
	}
	u256_add(t->sum[slot], amount, sign);
}

static void spend_track_total(const struct spend_track *t, double now, uint8_t total[32])
{
	int64_t cur = spend_slot_index(t, now);

	memset(total, 0, 32);
	/* buckets "in the future" (a clock that stepped back) count too */
	for (int k = 0; k < SPEND_SLOTS; k++)
		if (t->index[k] != INT64_MIN && t->index[k] > cur - SPEND_SLOTS)
			u256_add(total, t->sum[k], 1);
}

/* A token bucket of a (client, operation) rate limit. It outlives policy reloads, and is
 * rebuilt from the audit log when signerd starts. */
struct rate_bucket {
	char client[64];
	char operation[65];
	double tokens;
	double updated; /* wall-clock seconds, as the audit log's times are */
};

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Gives back the token this thread's request took (it did not end in a signature). */
static void rate_refund(struct signer *s)
{
	if (!current_rate.taken)
		return;
	pthread_mutex_lock(&s->rate_mu);
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct rate_bucket *b = &s->buckets[i];

		if (strcmp(b->client, current_rate.limit.client) == 0 &&
		    strcmp(b->operation, current_rate.limit.operation) == 0) {
			b->tokens += 1.0;
			if (b->tokens > (double)current_rate.limit.burst)
				b->tokens = (double)current_rate.limit.burst;
		}
	}
	pthread_mutex_unlock(&s->rate_mu);
	current_rate.taken = false;
}

/* The tokens a bucket holds at time now, without taking one (burst when it has none yet). */
static double rate_peek(struct signer *s, const struct policy_rate_limit *rl, double now)
{
	double tokens = (double)rl->burst;

	pthread_mutex_lock(&s->rate_mu);
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct rate_bucket *b = &s->buckets[i];

		if (strcmp(b->client, rl->client) == 0 && strcmp(b->operation, rl->operation) == 0) {
			tokens = b->tokens + (now - b->updated) * (double)rl->per_minute / 60.0;
			if (tokens > (double)rl->burst)
				tokens = (double)rl->burst;
		}
	}
	pthread_mutex_unlock(&s->rate_mu);
	return tokens;
}

/* Takes a token at time now; false, with the seconds until one is back, when there is none. */
static bool rate_take(struct signer *s, const struct policy_rate_limit *rl, double now,
		      double *retry_after)
{
	struct rate_bucket *b = NULL, *grown;
	double rate = (double)rl->per_minute / 60.0;
	bool ok;

	pthread_mutex_lock(&s->rate_mu);
	for (size_t i = 0; i < s->n_buckets && b == NULL; i++)
		if (strcmp(s->buckets[i].client, rl->client) == 0 &&
		    strcmp(s->buckets[i].operation, rl->operation) == 0)
			b = &s->buckets[i];
	if (b == NULL) {
		grown = realloc(s->buckets, (s->n_buckets + 1) * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&s->rate_mu);
			*retry_after = 1;
			return false; /* fail closed */
		}
		s->buckets = grown;
		b = &s->buckets[s->n_buckets++];
		snprintf(b->client, sizeof(b->client), "%s", rl->client);
		snprintf(b->operation, sizeof(b->operation), "%s", rl->operation);
		b->tokens = (double)rl->burst;
		b->updated = now;
	}
	if (now > b->updated) {
		b->tokens += (now - b->updated) * rate;
		b->updated = now;
	}
	if (b->tokens > (double)rl->burst)
		b->tokens = (double)rl->burst;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else
		*retry_after = (1.0 - b->tokens) / rate;
	pthread_mutex_unlock(&s->rate_mu);
	return ok;
}

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

/* "2026-11-27T14:20:01.123Z" as wall-clock seconds; 0 when it does not parse. */
static double audit_time(const char *text)
{
	struct tm tm;
	const char *rest;
	double frac = 0;

	memset(&tm, 0, sizeof(tm));
	rest = text != NULL ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (rest == NULL)
		return 0;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

/* A decimal amount as 32 bytes big-endian; false when it is not one. */
static bool u256_decimal(const char *text, uint8_t out[32])
{
	memset(out, 0, 32);
	if (text == NULL || *text == '\0' || strlen(text) > 78)
		return false;
	for (const char *p = text; *p; p++) {
		unsigned carry;

		if (*p < '0' || *p > '9')
			return false;
		carry = (unsigned)(*p - '0');
		for (int k = 31; k >= 0; k--) {
			unsigned x = out[k] * 10u + carry;

			out[k] = (uint8_t)x;
			carry = x >> 8;
		}
	}
	return true;
}

/* The spends of one signed record, added to the tracks of the limits in force. */
static void spends_replay(struct signer *s, json_t *rec, double t)
{
	const char *key = json_string_value(json_object_get(rec, "key"));
	json_t *item;
	size_t i;

	if (key == NULL)
		return;
	if (t > wall_seconds())
		t = wall_seconds(); /* a record from "the future": count it now */
	json_array_foreach(json_object_get(rec, "spends"), i, item) {
		const char *asset = json_string_value(json_object_get(item, "asset"));
		uint8_t amount[32];

		if (asset == NULL || !u256_decimal(json_string_value(json_object_get(item, "amount")),
						    amount))
			continue;
		for (size_t k = 0; k < policy_spend_limit_count(s->policy); k++) {
			const struct policy_spend_limit *sl = policy_spend_limit_at(s->policy, k);
			struct spend_track *track;

			if (strcmp(sl->key, key) != 0 || strcmp(sl->asset, asset) != 0 ||
			    t < wall_seconds() - (double)sl->window_seconds)
				continue;
			track = spend_track_get(s, key, asset, sl->window_seconds);
			if (track != NULL)
				spend_track_add(track, t, amount, 1);
		}
	}
}

/* Limits survive restarts: the buckets are rebuilt by replaying the signed records of the audit
 * log (the log is the source of truth) through them, in order. */
static void signer_rates_replay(struct signer *s, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	double horizon = wall_seconds() - 86400, spend_horizon = wall_seconds() - 7 * 86400;

	if (f == NULL)
		return;
	while (getline(&line, &cap, f) > 0) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *client = json_string_value(json_object_get(rec, "client"));
		const char *op = json_string_value(json_object_get(rec, "operation"));
		const char *decision = json_string_value(json_object_get(rec, "decision"));
		double t = audit_time(json_string_value(json_object_get(rec, "time")));
		const struct policy_rate_limit *rl;
		double wait;

		if (client != NULL && op != NULL && decision != NULL &&
		    strcmp(decision, "signed") == 0 && t > horizon &&
		    (rl = policy_rate_limit_for(s->policy, client, op)) != NULL)
			(void)rate_take(s, rl, t, &wait);
		if (decision != NULL && strcmp(decision, "signed") == 0 && t > spend_horizon)
			spends_replay(s, rec, t);
		json_decref(rec);
	}
	free(line);
	fclose(f);
}

int signer_open(const struct signer_config *cfg, struct signer **out)
{
	struct ks_config kc = {
		.module_path = cfg->token.module,
		.token_label = cfg->token.label,
		.pin_file = cfg->token.pin_file,
		.sessions = cfg->workers,
	};
	struct signer *s;
	int r;

	bool repaired;

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
	pthread_rwlock_init(&s->policy_lock, NULL);
	pthread_mutex_init(&s->rate_mu, NULL);
	pthread_mutex_init(&s->spend_mu, NULL);
	r = policy_load(cfg->policy.path, &s->policy);
	if (r == SG_OK)
		r = audit_open(cfg->audit.path, &s->audit, &repaired);
	/* the limits are rebuilt from the log: it must be whole (a broken chain means tampering,
	 * or a log that is not ours; refusing to start beats trusting it) */
	if (r == SG_OK) {
		unsigned long bad, lines;

		r = audit_verify_file(cfg->audit.path, &bad, &lines);
		if (r == SG_ERR_NOT_FOUND)
			r = SG_OK; /* created at the first record */
		else if (r != SG_OK)
			r = sg_context(r, "the audit log does not verify; signerd will not start on it");
	}
	if (r == SG_OK)
		signer_rates_replay(s, cfg->audit.path);
	if (r == SG_OK && repaired)
		fprintf(stderr, "signerd: audit log %s: a torn last line (from a crash) was removed\n",
			cfg->audit.path);
	if (r == SG_OK)
		r = ks_open(&kc, &s->ks);
	if (r != SG_OK) {
		signer_close(s);
		return r;
	}
	*out = s;
	return SG_OK;
}

void signer_close(struct signer *s)
{
	if (s == NULL)
		return;
	ks_close(s->ks);
	audit_close(s->audit);
	policy_free(s->policy);
	pthread_rwlock_destroy(&s->policy_lock);
	pthread_mutex_destroy(&s->rate_mu);
	pthread_mutex_destroy(&s->spend_mu);
	free(s->buckets);
	free(s->tracks);
	free(s);
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

/* Whether the key's chain is the one the payload needs; when not, says so in buf. */
static bool chain_matches(const struct ks_key *key, enum signer_payload kind, char *buf, size_t n)
{
	enum ks_chain want = kind == SIGNER_PAYLOAD_SOLANA_MESSAGE ? KS_CHAIN_SOLANA : KS_CHAIN_EVM;

	if (key->chain == want)
		return true;
	snprintf(buf, n, "key '%s' is of chain %s; %s needs a key of chain %s", key->name,
		 ks_chain_name(key->chain), signer_payload_name(kind), ks_chain_name(want));
	return false;
}

/* Fills err and returns code. For internal failures the person sees a plain sentence; the
 * detail stays in this thread's error for the log. */
static int refuse(struct signer_error *err, int code, int status, const char *api_code,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int refuse(struct signer_error *err, int code, int status, const char *api_code,
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

/* A keystore or token failure, as the API reports it. */
static int refuse_keystore(struct signer_error *err, int r, const char *key)
{
	switch (r) {
	case SG_ERR_NOT_FOUND:
		return refuse(err, r, 404, "key_not_found", "no key named '%s'", key);
	case SG_ERR_STATE:
		return refuse(err, r, 409, "key_not_active", "%s", sg_errmsg(r));
	case SG_ERR_TOKEN_UNAVAILABLE:
	case SG_ERR_PIN:
		return refuse(err, r, 503, "unavailable", "the key store is unavailable; retry later");
	default:
		return refuse(err, r, 500, "internal", "internal error");
	}
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char *text = malloc(2 * n + 3);
	json_t *j = NULL;

	if (text == NULL)
		return NULL;
	text[0] = '0';
	text[1] = 'x';
	if (hex_encode(p, n, text + 2, 2 * n + 1) == SG_OK)
		j = json_string(text);
	free(text);
	return j;
}

static json_t *quantity_json(const uint8_t *be, size_t n)
{
	char text[2 * 33 + 3];

	if (n > 33)
		return NULL;
	evm_quantity_hex(be, n, text);
	return json_string(text);
}

static json_t *decimal_json(const struct evm_uint *u)
{
	char text[80];

	evm_uint_decimal(u->be, u->len, text);
	return json_string(text);
}

static json_t *b58_json(const uint8_t *p, size_t n)
{
	char text[B58_ENCODED_MAX(64)];

	if (b58_encode(p, n, text, sizeof(text)) != SG_OK)
		return NULL;
	return json_string(text);
}

/* A content rule's refusal: 403 policy_denied with its reason and rule. */
static int refuse_content(struct signer_error *err, const struct policy_decision *d)
{
	int r = refuse(err, sg_fail(SG_ERR_PERMISSION, "%s", d->message), 403, "policy_denied",
		       "%s", d->message);

	snprintf(err->reason, sizeof(err->reason), "%s", d->reason);
	snprintf(err->rule, sizeof(err->rule), "%s", d->rule);
	if (current_trace != NULL) {
		current_trace->policy_denied = true;
		snprintf(current_trace->denial_reason, sizeof(current_trace->denial_reason), "%s",
			 d->reason);
	}
	return r;
}

/* Whether any spend limit of the policy in force names this key. */
static bool key_has_spend_limits(struct signer *s, const char *key)
{
	bool found = false;

	pthread_rwlock_rdlock(&s->policy_lock);
	for (size_t i = 0; i < policy_spend_limit_count(s->policy) && !found; i++)
		found = strcmp(policy_spend_limit_at(s->policy, i)->key, key) == 0;
	pthread_rwlock_unlock(&s->policy_lock);
	return found;
}

/* Checks the spends of a payload against every spend limit on (key, asset) and, when all fit,
 * reserves them (released again if the signature then does not leave). */
static int spend_reserve(struct signer *s, const char *key, const struct policy_spend *spends,
			 size_t n, struct signer_error *err)
{
	double now = wall_seconds();
	int r = SG_OK;

	memset(&current_spends, 0, sizeof(current_spends));
	pthread_rwlock_rdlock(&s->policy_lock);
	pthread_mutex_lock(&s->spend_mu);
	if (now < s->spend_clock)
		now = s->spend_clock;
	s->spend_clock = now;
	for (size_t pass = 0; pass < 2 && r == SG_OK; pass++) {
		for (size_t i = 0; i < policy_spend_limit_count(s->policy) && r == SG_OK; i++) {
			const struct policy_spend_limit *sl = policy_spend_limit_at(s->policy, i);

			if (strcmp(sl->key, key) != 0)
				continue;
			for (size_t k = 0; k < n && r == SG_OK; k++) {
				struct spend_track *t;
				uint8_t total[32];

				if (strcmp(sl->asset, spends[k].asset) != 0)
					continue;
				t = spend_track_get(s, key, sl->asset, sl->window_seconds);
				if (t == NULL) {
					r = refuse(err, sg_fail(SG_ERR_NOMEM, "spend limits"), 500,
						   "internal", "internal error");
					break;
				}
				if (pass == 1) { /* all fit: reserve */
					spend_track_add(t, now, spends[k].amount, 1);
					continue;
				}
				spend_track_total(t, now, total);
				u256_add(total, spends[k].amount, 1);
				if (memcmp(total, sl->max, 32) > 0) {
					struct policy_decision d = {false, "spend_limit_exceeded", "", ""};

					snprintf(d.rule, sizeof(d.rule), "%s", sl->rule);
					snprintf(d.message, sizeof(d.message),
						 "key '%s' would spend more %s than its limit allows "
						 "within %llu s",
						 key, sl->asset, (unsigned long long)sl->window_seconds);
					r = refuse_content(err, &d);
				}
			}
		}
	}
	pthread_mutex_unlock(&s->spend_mu);
	pthread_rwlock_unlock(&s->policy_lock);
	if (r == SG_OK) {
		memcpy(current_spends.spends, spends, n * sizeof(*spends));
		current_spends.n = n;
		current_spends.at = now;
		current_spends.active = true;
		snprintf(current_spends.key, sizeof(current_spends.key), "%s", key);
	}
	return r;
}

/* The signature did not leave: give back what spend_reserve took. */
static void spend_release(struct signer *s)
{
	if (!current_spends.active)
		return;
	pthread_mutex_lock(&s->spend_mu);
	for (size_t i = 0; i < s->n_tracks; i++) {
		struct spend_track *t = &s->tracks[i];

		if (strcmp(t->key, current_spends.key) != 0)
			continue;
		for (size_t k = 0; k < current_spends.n; k++)
			if (strcmp(t->asset, current_spends.spends[k].asset) == 0)
				spend_track_add(t, current_spends.at, current_spends.spends[k].amount,
						-1);
	}
	pthread_mutex_unlock(&s->spend_mu);
	current_spends.active = false;
}

/* Runs one content check under the policy lock, timing it into the trace. */
#define SIGNER_CHECK(s, call)                                                                      \
	do {                                                                                       \
		double check_start = time_monotonic_s();                                                \
		pthread_rwlock_rdlock(&(s)->policy_lock);                                          \
		call;                                                                              \
		pthread_rwlock_unlock(&(s)->policy_lock);                                          \
		if (current_trace != NULL)                                                         \
			current_trace->policy_seconds += time_monotonic_s() - check_start;              \
	} while (0)

static int timed_ks_sign(struct signer *s, const struct ks_key *key, const uint8_t *msg,
			 size_t len, uint8_t *sig, size_t *siglen)
{
	double start = time_monotonic_s();
	int r = ks_sign(s->ks, key->name, key->version, msg, len, sig, siglen);

	if (current_trace != NULL)
		current_trace->hsm_seconds = time_monotonic_s() - start;
	return r;
}

/* ---- Solana ---------------------------------------------------------------------------- */

static json_t *solana_view(const struct sol_message *m)
{
	json_t *view = json_object(), *signers = json_array(), *writable = json_array(),
	       *ixs = json_array(), *lookups = json_array();

	for (size_t i = 0; i < m->n_keys; i++) {
		if (i < m->num_required_signatures)
			json_array_append_new(signers, b58_json(sol_message_key(m, i), 32));
		if (sol_message_is_writable(m, i))
			json_array_append_new(writable, b58_json(sol_message_key(m, i), 32));
	}
	for (size_t i = 0; i < m->n_instructions; i++) {
		const struct sol_instruction *ix = &m->instructions[i];
		json_t *accounts = json_array();

		for (size_t k = 0; k < ix->n_accounts; k++)
			json_array_append_new(accounts, json_integer(ix->accounts[k]));
		json_array_append_new(ixs, json_pack("{s:o, s:o, s:o}", "program",
						     b58_json(sol_instruction_program(m, ix), 32),
						     "accounts", accounts, "data",
						     hex_json(ix->data, ix->data_len)));
	}
	for (size_t i = 0; i < m->n_lookups; i++)
		json_array_append_new(lookups,
				      json_pack("{s:o, s:I, s:I}", "table",
						b58_json(m->lookups[i].table, 32), "writable",
						(json_int_t)m->lookups[i].n_writable, "readonly",
						(json_int_t)m->lookups[i].n_readonly));
	json_object_set_new(view, "version", json_string(m->version == SOL_V0 ? "v0" : "legacy"));
	json_object_set_new(view, "fee_payer", b58_json(sol_message_fee_payer(m), 32));
	json_object_set_new(view, "signers", signers);
	json_object_set_new(view, "writable", writable);
	json_object_set_new(view, "instructions", ixs);
	json_object_set_new(view, "lookups", lookups);
	return view;
}

static int sign_solana(struct signer *s, const struct ks_key *key,
		       const struct signer_request *req, struct signer_result *res,
		       struct signer_error *err)
{
	struct sol_message m;
	struct policy_decision decision;
	uint8_t sig[KS_SIGNATURE_MAX];
	size_t siglen, index;
	int r;

	r = sol_message_decode(req->payload, req->payload_len, &m);
	if (r != SG_OK)
		return refuse(err, r, 400, "invalid_payload", "the Solana message does not parse: %s",
			      sg_errmsg(r));
	if (!sol_message_signer_index(&m, key->public_key, &index)) {
		r = refuse(err, SG_ERR_INVALID_ARGUMENT, 400, "not_a_signer",
			   "key '%s' is not a required signer of this message", key->name);
		goto out;
	}
	SIGNER_CHECK(s, policy_check_solana(s->policy, req->operation, &m, key->public_key, &decision));
	if (!decision.allowed) {
		r = refuse_content(err, &decision);
		goto out;
	}
	{
		struct policy_spend spends[POLICY_SPENDS_MAX];
		size_t n_spends;

		/* spends that cannot be read are refused where a spend limit watches the key */
		if (!policy_spends_solana(&m, key->public_key, spends, &n_spends) &&
		    key_has_spend_limits(s, key->name)) {
			struct policy_decision d = {false, "spend_unreadable", "spend_limits",
						    "the message's spends cannot be read"};

			r = refuse_content(err, &d);
			goto out;
		}
		if ((r = spend_reserve(s, key->name, spends, n_spends, err)) != SG_OK)
			goto out;
	}
	if (req->want_view)
		res->view = solana_view(&m);
	/* the exact message bytes that were decoded are signed */
	r = timed_ks_sign(s, key, req->payload, req->payload_len, sig, &siglen);
	if (r != SG_OK) {
		r = refuse_keystore(err, r, key->name);
		goto out;
	}
	if (siglen != 64 ||
	    crypto_sign_verify_detached(sig, req->payload, req->payload_len, key->public_key) != 0) {
		r = refuse(err, sg_fail(SG_ERR_VERIFY, "the token's Ed25519 signature does not verify"),
			   500, "internal", "internal error");
		goto out;
	}
	memcpy(res->signature, sig, 64);
	res->signature_len = 64;
	json_object_set_new(res->response, "signature", b58_json(sig, 64));
	json_object_set_new(res->response, "signer", b58_json(key->public_key, 32));
out:
	sol_message_free(&m);
	return r;
}

/* ---- EVM ------------------------------------------------------------------------------- */

/* Signs a digest with an EVM key: the token's signature made low-S, its recovery id found, and
 * the signer recovered from it and compared with the key's address. */
static int sign_evm_digest(struct signer *s, const struct ks_key *key, const uint8_t digest[32],
			   struct evm_sig *sig, uint8_t from[20], struct signer_result *res,
			   struct signer_error *err)
{
	uint8_t raw[KS_SIGNATURE_MAX];
	size_t rawlen;
	int r;

	r = timed_ks_sign(s, key, digest, 32, raw, &rawlen);
	if (r != SG_OK)
		return refuse_keystore(err, r, key->name);
	/* evm_sig_finish recovers the signer's public key from the signature and requires it to
	 * be the key's: the sender the chain will see is the key's address */
	if ((r = evm_sig_finish(digest, raw, key->public_key, sig)) != SG_OK ||
	    (r = addr_evm_from_pubkey(key->public_key, key->public_key_len, from)) != SG_OK)
		return refuse(err, r, 500, "internal", "internal error");
	memcpy(res->signature, sig->r, 32);
	memcpy(res->signature + 32, sig->s, 32);
	res->signature[64] = (uint8_t)sig->recid;
	res->signature_len = 65;
	return SG_OK;
}

static json_t *address_json(const uint8_t addr[20])
{
	char text[EVM_ADDRESS_TEXT_LEN];

	addr_evm_checksum(addr, text);
	return json_string(text);
}

static json_t *evm_tx_view(const struct evm_tx *tx)
{
	json_t *view = json_pack("{s:i, s:o, s:I, s:o, s:o, s:b, s:I}", "type", (int)tx->type,
				 "chain_id", decimal_json(&tx->chain_id), "nonce",
				 (json_int_t)tx->nonce, "value", decimal_json(&tx->value),
				 "gas_limit", decimal_json(&tx->gas_limit), "create",
				 tx->is_create, "data_length", (json_int_t)tx->data_len);

	if (view == NULL)
		return NULL;
	json_object_set_new(view, "to", tx->is_create ? json_null() : address_json(tx->to));
	json_object_set_new(view, "selector",
			    tx->data_len >= 4 ? hex_json(tx->data, 4) : json_null());
	if (tx->type == EVM_TX_DYNAMIC_FEE) {
		json_object_set_new(view, "max_fee_per_gas", decimal_json(&tx->max_fee));
		json_object_set_new(view, "max_priority_fee_per_gas",
				    decimal_json(&tx->max_priority_fee));
	} else {
		json_object_set_new(view, "gas_price", decimal_json(&tx->gas_price));
	}
	if (tx->has_access_list) {
		json_object_set_new(view, "access_list_addresses",
				    json_integer((json_int_t)tx->access_list_addresses));
		json_object_set_new(view, "access_list_storage_keys",
				    json_integer((json_int_t)tx->access_list_storage_keys));
	}
	return view;
}

static int sign_evm_transaction(struct signer *s, const struct ks_key *key,
				const struct signer_request *req, struct signer_result *res,
				struct signer_error *err)
{
	struct evm_tx tx;
	struct policy_decision decision;
	struct evm_sig sig;
	struct rlp_buf signed_tx = {0};
	uint8_t digest[32], from[20], hash[32], v[33];
	size_t v_len;
	int r;

	r = evm_tx_decode(req->payload, req->payload_len, &tx);
	if (r != SG_OK)
		return refuse(err, r, 400, "invalid_payload", "the transaction does not parse: %s",
			      sg_errmsg(r));
	SIGNER_CHECK(s, policy_check_evm_tx(s->policy, req->operation, &tx, &decision));
	if (!decision.allowed)
		return refuse_content(err, &decision);
	{
		struct policy_spend spends[POLICY_SPENDS_MAX];
		size_t n_spends;

		if (!policy_spends_evm(&tx, spends, &n_spends) &&
		    key_has_spend_limits(s, key->name)) {
			struct policy_decision d = {false, "spend_unreadable", "spend_limits",
						    "the transaction's spends cannot be read"};

			return refuse_content(err, &d);
		}
		if ((r = spend_reserve(s, key->name, spends, n_spends, err)) != SG_OK)
			return r;
	}
	if (req->want_view)
		res->view = evm_tx_view(&tx);
	evm_tx_signing_hash(&tx, digest);
	if ((r = sign_evm_digest(s, key, digest, &sig, from, res, err)) != SG_OK)
		return r;
	r = evm_tx_encode_signed(&tx, sig.recid, sig.r, sig.s, &signed_tx, v, &v_len);
	if (r != SG_OK) {
		r = refuse(err, r, 500, "internal", "internal error");
		goto out;
	}
	keccak256(signed_tx.data, signed_tx.len, hash);
	json_object_set_new(res->response, "signed_transaction",
			    hex_json(signed_tx.data, signed_tx.len));
	json_object_set_new(res->response, "transaction_hash", hex_json(hash, 32));
	json_object_set_new(res->response, "from", address_json(from));
	json_object_set_new(res->response, "v", quantity_json(v, v_len));
	json_object_set_new(res->response, "r", quantity_json(sig.r, 32));
	json_object_set_new(res->response, "s", quantity_json(sig.s, 32));
out:
	rlp_buf_free(&signed_tx);
	return r;
}

/* evm_message and evm_typed_data: signature r || s || v with v = 27 + recid. */
static int sign_evm_hashed(struct signer *s, const struct ks_key *key, const uint8_t digest[32],
			   struct signer_result *res, struct signer_error *err)
{
	struct evm_sig sig;
	uint8_t from[20], rsv[65];
	int r = sign_evm_digest(s, key, digest, &sig, from, res, err);

	if (r != SG_OK)
		return r;
	memcpy(rsv, sig.r, 32);
	memcpy(rsv + 32, sig.s, 32);
	rsv[64] = (uint8_t)(27 + sig.recid);
	json_object_set_new(res->response, "signature", hex_json(rsv, 65));
	json_object_set_new(res->response, "digest", hex_json(digest, 32));
	json_object_set_new(res->response, "from", address_json(from));
	return SG_OK;
}

static int sign_evm_message(struct signer *s, const struct ks_key *key,
			    const struct signer_request *req, struct signer_result *res,
			    struct signer_error *err)
{
	uint8_t digest[32];
	struct policy_decision decision;

	SIGNER_CHECK(s, policy_check_eip191(s->policy, req->operation, req->payload_len, &decision));
	if (!decision.allowed)
		return refuse_content(err, &decision);
	evm_personal_hash(req->payload, req->payload_len, digest);
	if (req->want_view)
		res->view = json_pack("{s:I}", "length", (json_int_t)req->payload_len);
	return sign_evm_hashed(s, key, digest, res, err);
}

static int sign_evm_typed_data(struct signer *s, const struct ks_key *key,
			       const struct signer_request *req, struct signer_result *res,
			       struct signer_error *err)
{
	struct eip712 td;
	struct policy_decision decision;
	json_t *domain;
	int r = eip712_hash_text((const char *)req->payload, req->payload_len, &td);

	if (r != SG_OK)
		return refuse(err, r, 400, "invalid_payload", "the typed data does not encode: %s",
			      sg_errmsg(r));
	SIGNER_CHECK(s, policy_check_eip712(s->policy, req->operation, &td, &decision));
	if (!decision.allowed)
		return refuse_content(err, &decision);
	if (req->want_view) {
		domain = json_object();
		if (td.has_name)
			json_object_set_new(domain, "name", json_string(td.name));
		if (td.has_version)
			json_object_set_new(domain, "version", json_string(td.version));
		if (td.has_chain_id) {
			struct evm_uint id = {td.chain_id, 32};

			json_object_set_new(domain, "chainId", decimal_json(&id));
		}
		if (td.has_verifying_contract)
			json_object_set_new(domain, "verifyingContract",
					    address_json(td.verifying_contract));
		res->view = json_pack("{s:o, s:s}", "domain", domain, "primary_type",
				      td.primary_type);
	}
	return sign_evm_hashed(s, key, td.digest, res, err);
}

/* ---- the door -------------------------------------------------------------------------- */

/* What the audit record needs to know of the key, once it is known. */
struct sign_key_seen {
	bool known;
	uint32_t version;
	enum ks_chain chain;
};

static int signer_sign_checked(struct signer *s, const struct signer_request *req,
			       struct signer_result *res, struct signer_error *err,
			       struct sign_key_seen *seen)
{
	char mismatch[192];
	struct ks_key key;
	const char *rule;
	double policy_start;
	int r;

	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	if (!operation_valid(req->operation))
		return refuse(err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
			      "operation must be 1 to %d characters of A-Z a-z 0-9 _ - . :",
			      OPERATION_MAX_LEN);
	if (req->request_id != NULL && !request_id_valid(req->request_id))
		return refuse(err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
			      "request_id must be 1 to %d printable ASCII characters",
			      REQUEST_ID_MAX_LEN);
	if (req->kind < SIGNER_PAYLOAD_SOLANA_MESSAGE || req->kind > SIGNER_PAYLOAD_EVM_TYPED_DATA)
		return refuse(err, SG_ERR_INVALID_ARGUMENT, 400, "invalid_request",
			      "unknown payload kind");
	/* who may do what comes first: a client without a grant learns nothing of the keys */
	policy_start = time_monotonic_s();
	pthread_rwlock_rdlock(&s->policy_lock);
	if (req->client == NULL)
		r = sg_fail(SG_ERR_PERMISSION, "the client's certificate (%.200s) matches no client "
					       "of the policy",
			    req->peer != NULL ? req->peer : "none");
	else
		r = policy_authorize(s->policy, req->client, req->key, req->operation, &rule);
	pthread_rwlock_unlock(&s->policy_lock);
	if (current_trace != NULL) {
		current_trace->policy_seconds = time_monotonic_s() - policy_start;
		current_trace->policy_denied = r != SG_OK;
		if (r != SG_OK)
			snprintf(current_trace->denial_reason,
				 sizeof(current_trace->denial_reason), "forbidden");
	}
	if (r != SG_OK)
		return refuse(err, r, 403, "forbidden", "%s", sg_errmsg(r));
	/* the rate limit of (client, operation), if the policy gives one */
	{
		struct policy_rate_limit limit;
		bool limited = false;
		double wait = 0;

		pthread_rwlock_rdlock(&s->policy_lock);
		{
			const struct policy_rate_limit *rl =
				policy_rate_limit_for(s->policy, req->client, req->operation);

			if (rl != NULL) {
				limit = *rl;
				limited = true;
			}
		}
		pthread_rwlock_unlock(&s->policy_lock);
		if (limited && rate_take(s, &limit, wall_seconds(), &wait)) {
			current_rate.taken = true;
			current_rate.limit = limit;
		} else if (limited) {
			r = refuse(err, sg_fail(SG_ERR_PERMISSION, "rate limited"), 429, "rate_limited",
				   "client '%s' may sign for '%s' %llu times a minute (burst %llu); "
				   "retry later",
				   req->client, req->operation, (unsigned long long)limit.per_minute,
				   (unsigned long long)limit.burst);
			err->retry_after = (unsigned)(wait + 0.999);
			if (err->retry_after == 0)
				err->retry_after = 1;
			snprintf(err->reason, sizeof(err->reason), "rate_limited");
			snprintf(err->rule, sizeof(err->rule), "%s", limit.rule);
			if (current_trace != NULL) {
				current_trace->policy_denied = true;
				snprintf(current_trace->denial_reason,
					 sizeof(current_trace->denial_reason), "rate_limited");
			}
			return r;
		}
	}
	if (ks_name_check(req->key) != SG_OK)
		return refuse(err, SG_ERR_NOT_FOUND, 404, "key_not_found", "no key named '%.64s'",
			      req->key);
	r = ks_key_lookup(s->ks, req->key, 0, &key);
	if (r != SG_OK)
		return refuse_keystore(err, r, req->key);
	*seen = (struct sign_key_seen){true, key.version, key.chain};
	if (current_trace != NULL)
		snprintf(current_trace->chain, sizeof(current_trace->chain), "%s",
			 ks_chain_name(key.chain));
	if (!chain_matches(&key, req->kind, mismatch, sizeof(mismatch)))
		return refuse(err, SG_ERR_INVALID_ARGUMENT, 400, "wrong_chain", "%s", mismatch);
	if (key.state != KS_STATE_ACTIVE)
		return refuse(err, SG_ERR_STATE, 409, "key_not_active",
			      "key '%s' version %u is %s, not active", key.name, key.version,
			      ks_state_name(key.state));
	res->response = json_pack("{s:s, s:I, s:s}", "key", key.name, "key_version",
				  (json_int_t)key.version, "operation", req->operation);
	if (res->response == NULL)
		return refuse(err, sg_fail(SG_ERR_NOMEM, "sign response"), 500, "internal",
			      "internal error");
	if (req->request_id != NULL)
		json_object_set_new(res->response, "request_id", json_string(req->request_id));
	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		r = sign_solana(s, &key, req, res, err);
		break;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
		r = sign_evm_transaction(s, &key, req, res, err);
		break;
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		r = sign_evm_message(s, &key, req, res, err);
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		r = sign_evm_typed_data(s, &key, req, res, err);
		break;
	}
	if (r != SG_OK)
		signer_result_free(res);
	return r;
}

static int signer_sign_audited(struct signer *s, const struct signer_request *req,
			       struct signer_result *res, struct signer_error *err);

static const char *decision_of(int status)
{
	if (status == 403 || status == 429)
		return "denied";
	return status >= 500 ? "error" : "invalid";
}

/* The audit record of one request; NULL when out of memory. */
static json_t *audit_record(const struct signer_request *req, const struct sign_key_seen *seen,
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
	json_object_set_new(rec, "client", req->client != NULL ? json_string(req->client) : json_null());
	if (req->peer != NULL)
		json_object_set_new(rec, "peer", json_string(req->peer));
	/* a key name that is not one is kept out: it could be anything the client sent */
	json_object_set_new(rec, "key", ks_name_check(req->key) == SG_OK ? json_string(req->key)
									 : json_null());
	json_object_set_new(rec, "key_version",
			    seen->known ? json_integer(seen->version) : json_null());
	json_object_set_new(rec, "operation", operation_valid(req->operation)
						      ? json_string(req->operation)
						      : json_null());
	json_object_set_new(rec, "chain",
			    seen->known ? json_string(ks_chain_name(seen->chain)) : json_null());
	json_object_set_new(rec, "payload", req->kind != 0
						    ? json_string(signer_payload_name(req->kind))
						    : json_null());
	crypto_hash_sha256(h, req->payload != NULL ? req->payload : (const uint8_t *)"",
			   req->payload_len);
	if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
		json_object_set_new(rec, "payload_sha256", json_string(hex));
	json_object_set_new(rec, "decision", json_string(decision));
	json_object_set_new(rec, "reason", reason != NULL ? json_string(reason) : json_null());
	if (rule != NULL && rule[0] != '\0')
		json_object_set_new(rec, "rule", json_string(rule));
	if (sig != NULL) {
		crypto_hash_sha256(h, sig, sig_len);
		if (hex_encode(h, sizeof(h), hex, sizeof(hex)) == SG_OK)
			json_object_set_new(rec, "signature_sha256", json_string(hex));
	} else {
		json_object_set_new(rec, "signature_sha256", json_null());
	}
	return rec;
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
	int r;

	memset(trace, 0, sizeof(*trace));
	current_trace = trace;
	r = signer_sign_audited(s, req, res, err);
	current_trace = NULL;
	trace->status = r == SG_OK ? "signed" : decision_of(err->status);
	return r;
}

static int signer_sign_audited(struct signer *s, const struct signer_request *req,
			       struct signer_result *res, struct signer_error *err)
{
	struct sign_key_seen seen = {false, 0, 0};
	char audit_id[AUDIT_ID_LEN + 1] = "";
	json_t *rec;
	int r, ar;

	current_spends.active = false;
	current_rate.taken = false;
	r = signer_sign_checked(s, req, res, err, &seen);
	if (r == SG_OK) {
		/* durable before done: the record is on disk before the signature leaves */
		rec = audit_record(req, &seen, "signed", NULL, NULL, res->signature,
				   res->signature_len);
		if (rec != NULL && current_spends.active && current_spends.n > 0) {
			json_t *list = json_array();

			for (size_t i = 0; i < current_spends.n; i++) {
				char dec[80];

				evm_uint_decimal(current_spends.spends[i].amount, 32, dec);
				json_array_append_new(list, json_pack("{s:s, s:s}", "asset",
								      current_spends.spends[i].asset,
								      "amount", dec));
			}
			json_object_set_new(rec, "spends", list);
		}
		ar = rec == NULL ? sg_fail(SG_ERR_NOMEM, "audit record")
				 : audit_append(s->audit, rec, audit_id);
		json_decref(rec);
		if (ar != SG_OK) {
			spend_release(s);
			rate_refund(s);
			signer_result_free(res);
			memset(res->signature, 0, sizeof(res->signature));
			return refuse(err, ar, 503, "unavailable",
				      "the audit log cannot be written; nothing was signed");
		}
		snprintf(res->audit_id, sizeof(res->audit_id), "%s", audit_id);
		json_object_set_new(res->response, "audit_id", json_string(audit_id));
		return SG_OK;
	}
	spend_release(s); /* reserved, then refused later (the token, say) */
	rate_refund(s);
	rec = audit_record(req, &seen, decision_of(err->status),
			   err->reason[0] != '\0' ? err->reason : err->code, err->rule, NULL, 0);
	ar = rec == NULL ? SG_ERR_NOMEM : audit_append(s->audit, rec, audit_id);
	json_decref(rec);
	if (ar != SG_OK) /* every request has its record, or is answered "unavailable" */
		return refuse(err, ar, 503, "unavailable",
			      "the audit log cannot be written; the request was not processed");
	snprintf(err->audit_id, sizeof(err->audit_id), "%s", audit_id);
	return r;
}

int signer_policy_reload(struct signer *s, const char *path)
{
	struct policy *fresh, *old;
	int r = policy_load(path, &fresh);

	if (r != SG_OK)
		return r; /* the policy in force stays */
	pthread_rwlock_wrlock(&s->policy_lock);
	old = s->policy;
	s->policy = fresh;
	s->policy_gen++;
	pthread_rwlock_unlock(&s->policy_lock);
	policy_free(old);
	return SG_OK;
}

uint64_t signer_policy_generation(struct signer *s)
{
	return s->policy_gen;
}

void signer_metric_labels(struct signer *s, const char *client, const char *key,
			  const char *operation, const char **key_label,
			  const char **operation_label)
{
	/* only names the policy itself uses become label values: what a client sends cannot
	 * grow the metrics */
	pthread_rwlock_rdlock(&s->policy_lock);
	*key_label = client != NULL && key != NULL && policy_client_has_key(s->policy, client, key)
			     ? key
			     : "other";
	*operation_label = operation != NULL && policy_operation_named(s->policy, operation)
				   ? operation
				   : "other";
	pthread_rwlock_unlock(&s->policy_lock);
}

bool signer_identify(struct signer *s, const char *san_uri, const char *cn,
		     const uint8_t spki_sha256[32], char *client, size_t client_size)
{
	struct policy_peer peer = {san_uri, cn, spki_sha256};
	const char *name;
	bool found;

	pthread_rwlock_rdlock(&s->policy_lock);
	name = policy_client_for(s->policy, &peer);
	found = name != NULL;
	if (found)
		snprintf(client, client_size, "%s", name);
	pthread_rwlock_unlock(&s->policy_lock);
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
			 void (*cb)(const char *function, const char *rv, uint64_t count, void *ctx),
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
	bool ok;

	if (client == NULL)
		return true;
	pthread_rwlock_rdlock(&s->policy_lock);
	ok = policy_client_has_key(s->policy, client, key);
	pthread_rwlock_unlock(&s->policy_lock);
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

void signer_record_refusal(struct signer *s, const struct signer_request *req,
			   struct signer_error *err)
{
	struct sign_key_seen seen = {false, 0, 0};
	char audit_id[AUDIT_ID_LEN + 1];
	json_t *rec = audit_record(req, &seen, decision_of(err->status), err->code, NULL, NULL, 0);
	int ar = rec == NULL ? SG_ERR_NOMEM : audit_append(s->audit, rec, audit_id);

	json_decref(rec);
	err->audit_id[0] = '\0';
	if (ar != SG_OK) {
		(void)refuse(err, ar, 503, "unavailable",
			     "the audit log cannot be written; the request was not processed");
		return;
	}
	snprintf(err->audit_id, sizeof(err->audit_id), "%s", audit_id);
}

/* ---- explain ----------------------------------------------------------------------------- */

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
	explain_add(checks, "content", d->allowed ? "pass" : "deny", d->rule, d->reason, d->message);
	return d->allowed;
}

/* The spend limits a payload's spends meet, each with what the window holds now. */
static bool explain_spends(struct signer *s, const char *key, const struct policy_spend *spends,
			   size_t n, json_t *checks)
{
	double now = wall_seconds();
	bool ok = true, any = false;

	pthread_mutex_lock(&s->spend_mu);
	for (size_t i = 0; i < policy_spend_limit_count(s->policy); i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(s->policy, i);

		if (strcmp(sl->key, key) != 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			struct spend_track *t;
			uint8_t total[32];
			char spent[80], adding[80], max[80], detail[400];
			bool over;

			if (strcmp(sl->asset, spends[k].asset) != 0)
				continue;
			any = true;
			t = spend_track_get(s, key, sl->asset, sl->window_seconds);
			memset(total, 0, 32);
			if (t != NULL)
				spend_track_total(t, now, total);
			evm_uint_decimal(total, 32, spent);
			evm_uint_decimal(spends[k].amount, 32, adding);
			evm_uint_decimal(sl->max, 32, max);
			u256_add(total, spends[k].amount, 1);
			over = memcmp(total, sl->max, 32) > 0;
			ok &= !over;
			if (snprintf(detail, sizeof(detail),
				     "%s: %s spent in the last %llu s, this adds %s, the limit is %s",
				     sl->asset, spent, (unsigned long long)sl->window_seconds, adding,
				     max) < 0)
				detail[0] = '\0';
			explain_add(checks, "spend_limit", over ? "deny" : "pass", sl->rule,
				    over ? "spend_limit_exceeded" : NULL, detail);
		}
	}
	pthread_mutex_unlock(&s->spend_mu);
	if (!any)
		explain_add(checks, "spend_limit", "none", NULL, NULL,
			    n == 0 ? "the payload spends nothing" : "no spend limit applies");
	return ok;
}

/* Spends that cannot be read: refused where a spend limit watches the key (policy lock held). */
static bool explain_unreadable(struct signer *s, const char *key, json_t *checks)
{
	bool watched = false;

	for (size_t k = 0; k < policy_spend_limit_count(s->policy); k++)
		watched |= strcmp(policy_spend_limit_at(s->policy, k)->key, key) == 0;
	explain_add(checks, "spend_limit", watched ? "deny" : "none", NULL,
		    watched ? "spend_unreadable" : NULL, "the payload's spends cannot be read");
	return !watched;
}

int signer_explain(struct signer *s, const struct signer_request *req, json_t **out)
{
	json_t *checks = json_array();
	struct policy_decision d;
	struct ks_key key;
	const char *rule = NULL;
	bool allowed = true;
	char detail[320];
	int r;

	*out = NULL;
	if (checks == NULL)
		return sg_fail(SG_ERR_NOMEM, "explain");
	pthread_rwlock_rdlock(&s->policy_lock);
	/* access */
	r = req->client == NULL ? SG_ERR_PERMISSION
				: policy_authorize(s->policy, req->client, req->key, req->operation,
						   &rule);
	if (r != SG_OK) {
		explain_add(checks, "access", "deny", NULL, "forbidden", sg_errmsg(r));
		allowed = false;
		goto done;
	}
	explain_add(checks, "access", "pass", rule, NULL, NULL);
	/* rate */
	{
		const struct policy_rate_limit *rl =
			policy_rate_limit_for(s->policy, req->client, req->operation);

		if (rl == NULL) {
			explain_add(checks, "rate_limit", "none", NULL, NULL, NULL);
		} else {
			double tokens = rate_peek(s, rl, wall_seconds());

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
	if (!chain_matches(&key, req->kind, detail, sizeof(detail))) {
		explain_add(checks, "decode", "deny", NULL, "wrong_chain", detail);
		allowed = false;
		goto done;
	}
	/* decode, content, spends */
	switch (req->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE: {
		struct sol_message m;
		struct policy_spend spends[POLICY_SPENDS_MAX];
		size_t n, index;
		bool is_signer;

		if ((r = sol_message_decode(req->payload, req->payload_len, &m)) != SG_OK) {
			allowed = explain_undecodable(checks, r);
			break;
		}
		is_signer = sol_message_signer_index(&m, key.public_key, &index);
		explain_add(checks, "decode", is_signer ? "pass" : "deny", NULL,
			    is_signer ? NULL : "not_a_signer", NULL);
		allowed &= is_signer;
		policy_check_solana(s->policy, req->operation, &m, key.public_key, &d);
		allowed &= explain_content(checks, &d);
		allowed &= policy_spends_solana(&m, key.public_key, spends, &n)
				   ? explain_spends(s, key.name, spends, n, checks)
				   : explain_unreadable(s, key.name, checks);
		sol_message_free(&m);
		break;
	}
	case SIGNER_PAYLOAD_EVM_TRANSACTION: {
		struct evm_tx tx;
		struct policy_spend spends[POLICY_SPENDS_MAX];
		size_t n;

		if ((r = evm_tx_decode(req->payload, req->payload_len, &tx)) != SG_OK) {
			allowed = explain_undecodable(checks, r);
			break;
		}
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_evm_tx(s->policy, req->operation, &tx, &d);
		allowed &= explain_content(checks, &d);
		allowed &= policy_spends_evm(&tx, spends, &n)
				   ? explain_spends(s, key.name, spends, n, checks)
				   : explain_unreadable(s, key.name, checks);
		break;
	}
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_eip191(s->policy, req->operation, req->payload_len, &d);
		allowed &= explain_content(checks, &d);
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA: {
		struct eip712 td;

		r = eip712_hash_text((const char *)req->payload, req->payload_len, &td);
		if (r != SG_OK) {
			allowed = explain_undecodable(checks, r);
			break;
		}
		explain_add(checks, "decode", "pass", NULL, NULL, NULL);
		policy_check_eip712(s->policy, req->operation, &td, &d);
		allowed &= explain_content(checks, &d);
		break;
	}
	}
done:
	pthread_rwlock_unlock(&s->policy_lock);
	*out = json_pack("{s:s, s:o}", "decision", allowed ? "allow" : "deny", "checks", checks);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "explain") : SG_OK;
}
