/* The limits in force: spend limits' running sums and rate limits' buckets, built from the
 * ledgers whenever the policy changes, and the decisions the door asks of them. */
#include "limits_internal.h"

/* ---- the limits in force ------------------------------------------------------------------ */

int limits_new(struct limits **out)
{
	struct limits *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return sg_fail(SG_ERR_NOMEM, "the limits");
	pthread_mutex_init(&l->mu, NULL);
	l->clock = lim_wall_now();
	l->spend = (struct lim_book){.spends = true, .horizon = LIMITS_SPEND_HORIZON};
	l->rate = (struct lim_book){.spends = false, .horizon = LIMITS_RATE_HORIZON};
	*out = l;
	return SG_OK;
}

void limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	lim_ledgers_free(l->spend.ls, l->spend.n);
	lim_ledgers_free(l->rate.ls, l->rate.n);
	free(l->tracks);
	free(l->buckets);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static int64_t track_slot_index(const struct lim_track *t, double at)
{
	return (int64_t)floor(at / ((double)t->window / (LIM_SLOTS - 1)));
}

static void track_add(struct lim_track *t, double at, const uint8_t v[32], int sign)
{
	int64_t idx = track_slot_index(t, at);
	int slot = (int)(((idx % LIM_SLOTS) + LIM_SLOTS) % LIM_SLOTS);

	if (t->index[slot] != idx) {
		if (sign < 0)
			return; /* that slot has rolled over already */
		t->index[slot] = idx;
		memset(t->sum[slot], 0, 32);
	}
	if (sign > 0)
		limits_u256_add(t->sum[slot], v);
	else
		lim_u256_sub(t->sum[slot], v);
}

static void track_total(const struct lim_track *t, double now, uint8_t total[32])
{
	int64_t cur = track_slot_index(t, now);

	memset(total, 0, 32);
	/* slots "in the future" (a clock that stepped back) count too */
	for (int k = 0; k < LIM_SLOTS; k++)
		if (t->index[k] != INT64_MIN && t->index[k] > cur - LIM_SLOTS)
			limits_u256_add(total, t->sum[k]);
}

/* A spend limit's sum from the ledger: windows of up to an hour by second, longer ones by
 * minute; each slot counted at its end (the strict side). */
static void track_build(struct limits *l, struct lim_track *t)
{
	const struct lim_ledger *e = lim_ledger_find(l->spend.ls, l->spend.n, t->key, t->asset);
	double unknown = lim_book_unknown_since(&l->spend, e);
	const struct lim_series *s;
	double width, from = l->clock - (double)t->window - (double)t->window / (LIM_SLOTS - 1);

	for (int k = 0; k < LIM_SLOTS; k++) {
		t->index[k] = INT64_MIN;
		memset(t->sum[k], 0, 32);
	}
	/* a record of its pair may have been dropped while the book was full */
	t->unknown_until = unknown > 0 ? unknown + (double)t->window : 0;
	if (e == NULL)
		return;
	s = t->window <= LIM_SECONDS ? &e->sec : &e->min;
	width = t->window <= LIM_SECONDS ? 1 : 60;
	for (size_t i = 0; i < s->len; i++) {
		const struct lim_entry *en = lim_series_at(s, i);
		double at = ((double)en->idx + 1) * width - 1e-3;

		if (at < from)
			continue;
		track_add(t, at > l->clock ? l->clock : at, en->v, 1);
	}
}

/* A rate limit's bucket from the ledger: the signatures of the last 24 h replayed through it,
 * by minute up to the last hour, then by second. */
static void bucket_build(struct limits *l, struct lim_bucket *b)
{
	const struct lim_ledger *e =
		lim_ledger_find(l->rate.ls, l->rate.n, b->client, b->operation);
	double unknown = lim_book_unknown_since(&l->rate, e);
	double rate = (double)b->per_minute / 60.0, t_prev = l->clock - LIMITS_RATE_HORIZON;
	double first_sec = floor(l->clock) - LIM_SECONDS;

	b->tokens = (double)b->burst;
	b->updated = l->clock;
	if (unknown > l->clock - LIMITS_RATE_HORIZON) {
		/* signatures of its pair may have been dropped within the day: start used up */
		b->tokens = 0;
		return;
	}
	if (e == NULL)
		return;
	for (int part = 0; part < 2; part++) {
		const struct lim_series *s = part == 0 ? &e->min : &e->sec;

		for (size_t i = 0; i < s->len; i++) {
			const struct lim_entry *en = lim_series_at(s, i);
			double at = part == 0 ? ((double)en->idx + 1) * 60 : (double)en->idx + 1;
			uint64_t count = lim_u256_low_u64(en->v);

			if (part == 0 && at > first_sec)
				break; /* the last hour comes by second */
			if (part == 1 && (double)en->idx < first_sec)
				continue;
			if (at > l->clock)
				at = l->clock;
			if (at > t_prev) {
				b->tokens += (at - t_prev) * rate;
				t_prev = at;
			}
			if (b->tokens > (double)b->burst)
				b->tokens = (double)b->burst;
			b->tokens -= (double)count;
			if (b->tokens < 0)
				b->tokens = 0;
		}
	}
	b->updated = t_prev;
}

int limits_apply_policy(struct limits *l, const struct policy *p)
{
	size_t n_tracks = policy_spend_limit_count(p), n_buckets = policy_rate_limit_count(p);
	struct lim_track *tracks = calloc(n_tracks == 0 ? 1 : n_tracks, sizeof(*tracks));
	struct lim_bucket *buckets = calloc(n_buckets == 0 ? 1 : n_buckets, sizeof(*buckets));

	if (tracks == NULL || buckets == NULL) {
		free(tracks);
		free(buckets);
		return sg_fail(SG_ERR_NOMEM, "the limits of the new policy");
	}
	pthread_mutex_lock(&l->mu);
	(void)lim_tick(l, 0);
	for (size_t i = 0; i < n_tracks; i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(p, i);

		snprintf(tracks[i].key, sizeof(tracks[i].key), "%s", sl->key);
		snprintf(tracks[i].asset, sizeof(tracks[i].asset), "%s", sl->asset);
		tracks[i].window = sl->window_seconds;
		track_build(l, &tracks[i]);
	}
	for (size_t i = 0; i < n_buckets; i++) {
		const struct policy_rate_limit *rl = policy_rate_limit_at(p, i);

		snprintf(buckets[i].client, sizeof(buckets[i].client), "%s", rl->client);
		snprintf(buckets[i].operation, sizeof(buckets[i].operation), "%s", rl->operation);
		buckets[i].per_minute = rl->per_minute;
		buckets[i].burst = rl->burst;
		bucket_build(l, &buckets[i]);
	}
	free(l->tracks);
	free(l->buckets);
	l->tracks = tracks;
	l->n_tracks = n_tracks;
	l->buckets = buckets;
	l->n_buckets = n_buckets;
	pthread_mutex_unlock(&l->mu);
	return SG_OK;
}

static struct lim_track *track_find(struct limits *l, const char *key, const char *asset,
				    uint64_t window)
{
	for (size_t i = 0; i < l->n_tracks; i++)
		if (l->tracks[i].window == window && strcmp(l->tracks[i].key, key) == 0 &&
		    strcmp(l->tracks[i].asset, asset) == 0)
			return &l->tracks[i];
	return NULL;
}

static struct lim_bucket *bucket_find(struct limits *l, const char *client, const char *op)
{
	for (size_t i = 0; i < l->n_buckets; i++)
		if (strcmp(l->buckets[i].client, client) == 0 &&
		    strcmp(l->buckets[i].operation, op) == 0)
			return &l->buckets[i];
	return NULL;
}

static void bucket_refill(struct lim_bucket *b, double now)
{
	if (now > b->updated) {
		b->tokens += (now - b->updated) * (double)b->per_minute / 60.0;
		b->updated = now;
	}
	if (b->tokens > (double)b->burst)
		b->tokens = (double)b->burst;
}

/* Counts one signature of (client, operation) at t in its ledger; sign -1 takes it back. */
static bool rate_count(struct limits *l, const char *client, const char *op, double t, int sign)
{
	bool full;
	struct lim_ledger *e = lim_ledger_get(l, &l->rate, client, op, t, &full);
	uint8_t one[32];

	if (e == NULL && full) {
		/* no rate limit watches this pair: not kept, and a limit that starts watching it
		 * (with no ledger to start from) starts used up */
		if (sign > 0)
			lim_book_overflow(&l->rate, t);
		return true;
	}
	lim_u256_from_u64(1, one);
	return e != NULL && lim_ledger_add(l, e, t, one, sign, l->rate.horizon);
}

/* Counts spends of key at t in its ledger and in the sums of the limits in force. */
static bool spend_count(struct limits *l, const char *key, const struct policy_spend *spends,
			size_t n, double t, int sign)
{
	bool ok = true;

	for (size_t k = 0; k < n; k++) {
		struct lim_ledger *e;
		bool full;

		if (lim_u256_is_zero(spends[k].amount))
			continue;
		e = lim_ledger_get(l, &l->spend, key, spends[k].asset, t, &full);
		if (e == NULL && full) {
			/* no limit watches this pair (or it would have its ledger): not kept, and
			 * a limit that starts watching it fails closed for its window */
			if (sign > 0)
				lim_book_overflow(&l->spend, t);
			continue;
		}
		ok &= e != NULL &&
		      lim_ledger_add(l, e, t, spends[k].amount, sign, l->spend.horizon);
		for (size_t i = 0; i < l->n_tracks; i++)
			if (strcmp(l->tracks[i].key, key) == 0 &&
			    strcmp(l->tracks[i].asset, spends[k].asset) == 0)
				track_add(&l->tracks[i], t, spends[k].amount, sign);
	}
	return ok;
}

void limits_record(struct limits *l, const char *client, const char *operation, const char *key,
		   const struct policy_spend *spends, size_t n_spends, double at)
{
	pthread_mutex_lock(&l->mu);
	at = lim_tick(l, at);
	if (client != NULL && operation != NULL && at > l->clock - LIMITS_RATE_HORIZON) {
		struct lim_bucket *b = bucket_find(l, client, operation);

		(void)rate_count(l, client, operation, at, 1);
		if (b != NULL) {
			bucket_refill(b, at);
			b->tokens = b->tokens >= 1 ? b->tokens - 1 : 0;
		}
	}
	if (key != NULL && n_spends > 0 && at > l->clock - LIMITS_SPEND_HORIZON)
		(void)spend_count(l, key, spends, n_spends, at, 1);
	pthread_mutex_unlock(&l->mu);
}

bool limits_rate_take(struct limits *l, const struct policy_rate_limit *rl, double now,
		      struct limits_hold *hold, double *retry_after)
{
	struct lim_bucket *b;
	bool ok = false;

	*retry_after = 1;
	pthread_mutex_lock(&l->mu);
	now = lim_tick(l, now > l->clock ? now : l->clock);
	b = bucket_find(l, rl->client, rl->operation);
	if (b == NULL)
		goto out; /* the policy in force was not applied: fail closed */
	bucket_refill(b, now);
	if (b->tokens < 1.0) {
		*retry_after = (1.0 - b->tokens) / ((double)b->per_minute / 60.0);
		goto out;
	}
	if (!rate_count(l, rl->client, rl->operation, now, 1))
		goto out; /* out of memory: fail closed */
	b->tokens -= 1.0;
	hold->rate_taken = true;
	snprintf(hold->client, sizeof(hold->client), "%s", rl->client);
	snprintf(hold->operation, sizeof(hold->operation), "%s", rl->operation);
	hold->rate_at = now;
	ok = true;
out:
	pthread_mutex_unlock(&l->mu);
	return ok;
}

void limits_rate_count(struct limits *l, const char *client, const char *operation, double now,
		       struct limits_hold *hold)
{
	pthread_mutex_lock(&l->mu);
	now = lim_tick(l, now > l->clock ? now : l->clock);
	if (rate_count(l, client, operation, now, 1)) {
		hold->rate_taken = true;
		snprintf(hold->client, sizeof(hold->client), "%s", client);
		snprintf(hold->operation, sizeof(hold->operation), "%s", operation);
		hold->rate_at = now;
	}
	pthread_mutex_unlock(&l->mu);
}

double limits_rate_peek(struct limits *l, const struct policy_rate_limit *rl, double now)
{
	struct lim_bucket *b, copy;
	double tokens = (double)rl->burst;

	pthread_mutex_lock(&l->mu);
	now = lim_tick(l, now > l->clock ? now : l->clock);
	b = bucket_find(l, rl->client, rl->operation);
	if (b != NULL) {
		copy = *b;
		bucket_refill(&copy, now);
		tokens = copy.tokens;
	}
	pthread_mutex_unlock(&l->mu);
	return tokens;
}

void limits_record_gap(struct limits *l, double at)
{
	pthread_mutex_lock(&l->mu);
	if (at > l->gap_at)
		l->gap_at = at;
	pthread_mutex_unlock(&l->mu);
}

static void spend_deny(struct policy_decision *d, const struct policy_spend_limit *sl,
		       const char *key)
{
	memset(d, 0, sizeof(*d));
	d->allowed = false;
	snprintf(d->reason, sizeof(d->reason), "spend_limit_exceeded");
	snprintf(d->rule, sizeof(d->rule), "%s", sl->rule);
	snprintf(d->message, sizeof(d->message),
		 "key '%s' would spend more %s than its limit allows within %llu s", key, sl->asset,
		 (unsigned long long)sl->window_seconds);
}

/* Whether every limit of p on key's assets holds total (+ extra, when not NULL) within max. */
static bool spends_fit(struct limits *l, const struct policy *p, const char *key,
		       const struct policy_spend *spends, size_t n, double now, bool add,
		       struct policy_decision *d)
{
	for (size_t i = 0; i < policy_spend_limit_count(p); i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(p, i);
		struct lim_track *t;

		if (strcmp(sl->key, key) != 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			uint8_t total[32];

			if (strcmp(sl->asset, spends[k].asset) != 0)
				continue;
			if (l->gap_at > 0 && now < l->gap_at + (double)sl->window_seconds &&
			    !lim_u256_is_zero(spends[k].amount)) {
				/* what the lost records spent is unknown: nothing fits until the
				 * window has passed since the loss */
				spend_deny(d, sl, key);
				snprintf(d->message, sizeof(d->message),
					 "records of the audit log were lost (accepted with "
					 "signerctl "
					 "audit accept-loss); what they spent is unknown, so key "
					 "'%s' "
					 "spends no %s for %llu s after the loss",
					 key, sl->asset, (unsigned long long)sl->window_seconds);
				return false;
			}
			t = track_find(l, key, sl->asset, sl->window_seconds);
			if (t == NULL) {
				/* the policy in force was not applied: fail closed */
				spend_deny(d, sl, key);
				return false;
			}
			if (now < t->unknown_until && !lim_u256_is_zero(spends[k].amount)) {
				spend_deny(d, sl, key);
				snprintf(
					d->message, sizeof(d->message),
					"the limit on key '%s' spending %s is new and the ledgers "
					"were full (more than %d pairs) within its window, so what "
					"was spent is unknown: it spends nothing for %llu s",
					key, sl->asset, LIMITS_LEDGERS_MAX,
					(unsigned long long)sl->window_seconds);
				return false;
			}
			track_total(t, now, total);
			if (add)
				limits_u256_add(total, spends[k].amount);
			if (memcmp(total, sl->max, 32) > 0) {
				spend_deny(d, sl, key);
				return false;
			}
		}
	}
	return true;
}

/* Whether spends fit every limit of p on key now; with hold, they are reserved in it. */
static bool spend_decide(struct limits *l, const struct policy *p, const char *key,
			 const struct policy_spend *spends, size_t n, double now,
			 struct limits_hold *hold, struct policy_decision *d)
{
	bool ok;

	memset(d, 0, sizeof(*d));
	d->allowed = true;
	if (n > POLICY_SPENDS_MAX)
		n = POLICY_SPENDS_MAX;
	pthread_mutex_lock(&l->mu);
	now = lim_tick(l, now > l->clock ? now : l->clock);
	ok = spends_fit(l, p, key, spends, n, now, true, d);
	if (ok && hold != NULL && !spend_count(l, key, spends, n, now, 1)) {
		/* out of memory: what was counted is taken back, and the spend refused */
		(void)spend_count(l, key, spends, n, now, -1);
		memset(d, 0, sizeof(*d));
		snprintf(d->reason, sizeof(d->reason), "spend_unreadable");
		snprintf(d->rule, sizeof(d->rule), "spend_limits");
		snprintf(d->message, sizeof(d->message),
			 "the spend limits cannot record this spend (out of memory)");
		ok = false;
	}
	if (ok && hold != NULL && n > 0) {
		hold->spent = true;
		snprintf(hold->key, sizeof(hold->key), "%s", key);
		memcpy(hold->spends, spends, n * sizeof(*spends));
		hold->n_spends = n;
		hold->spend_at = now;
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

bool limits_spend_reserve(struct limits *l, const struct policy *p, const char *key,
			  const struct policy_spend *spends, size_t n, double now,
			  struct limits_hold *hold, struct policy_decision *d)
{
	return spend_decide(l, p, key, spends, n, now, hold, d);
}

bool limits_spend_fits(struct limits *l, const struct policy *p, const char *key,
		       const struct policy_spend *spends, size_t n, double now,
		       struct policy_decision *d)
{
	return spend_decide(l, p, key, spends, n, now, NULL, d);
}

bool limits_spend_still_fits(struct limits *l, const struct policy *p,
			     const struct limits_hold *hold, struct policy_decision *d)
{
	bool ok = true;

	if (!hold->spent)
		return true;
	pthread_mutex_lock(&l->mu);
	/* the sums hold this request's reservation already */
	ok = spends_fit(l, p, hold->key, hold->spends, hold->n_spends, lim_tick(l, l->clock), false,
			d);
	pthread_mutex_unlock(&l->mu);
	return ok;
}

void limits_release(struct limits *l, struct limits_hold *hold)
{
	pthread_mutex_lock(&l->mu);
	if (hold->rate_taken) {
		struct lim_bucket *b = bucket_find(l, hold->client, hold->operation);

		(void)rate_count(l, hold->client, hold->operation, hold->rate_at, -1);
		if (b != NULL) {
			b->tokens += 1.0;
			if (b->tokens > (double)b->burst)
				b->tokens = (double)b->burst;
		}
		hold->rate_taken = false;
	}
	if (hold->spent) {
		(void)spend_count(l, hold->key, hold->spends, hold->n_spends, hold->spend_at, -1);
		hold->spent = false;
	}
	pthread_mutex_unlock(&l->mu);
}

void limits_spent(struct limits *l, const char *key, const char *asset, uint64_t window, double now,
		  uint8_t total[32])
{
	struct lim_track *t;

	memset(total, 0, 32);
	pthread_mutex_lock(&l->mu);
	now = lim_tick(l, now > l->clock ? now : l->clock);
	t = track_find(l, key, asset, window);
	if (t != NULL)
		track_total(t, now, total);
	pthread_mutex_unlock(&l->mu);
}
