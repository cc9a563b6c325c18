#include "policy/limits.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"

/* A spend limit's running sum: 61 slots of window/60 seconds each, so that the sum covers the
 * window and at most one slot more. */
#define LIM_SLOTS   61
#define LIM_SECONDS 3600 /* the ledgers' by-second part */

/* ---- 256-bit amounts ---------------------------------------------------------------------- */

void limits_u256_add(uint8_t acc[32], const uint8_t v[32])
{
	unsigned carry = 0;

	for (int i = 31; i >= 0; i--) {
		unsigned x = (unsigned)acc[i] + v[i] + carry;

		acc[i] = (uint8_t)x;
		carry = x >> 8;
	}
	if (carry != 0)
		memset(acc, 0xff, 32); /* saturate */
}

/* acc -= v, floored at zero (a release of what a rolled-over slot no longer holds). */
static void u256_sub(uint8_t acc[32], const uint8_t v[32])
{
	int borrow = 0;

	for (int i = 31; i >= 0; i--) {
		int x = (int)acc[i] - (int)v[i] - borrow;

		borrow = x < 0;
		acc[i] = (uint8_t)(x & 0xff);
	}
	if (borrow)
		memset(acc, 0, 32);
}

static bool u256_is_zero(const uint8_t v[32])
{
	for (int i = 0; i < 32; i++)
		if (v[i] != 0)
			return false;
	return true;
}

static void u256_from_u64(uint64_t n, uint8_t out[32])
{
	memset(out, 0, 32);
	for (int i = 31; i >= 24; i--, n >>= 8)
		out[i] = (uint8_t)n;
}

static uint64_t u256_low_u64(const uint8_t v[32])
{
	uint64_t n = 0;

	for (int i = 0; i < 24; i++)
		if (v[i] != 0)
			return UINT64_MAX;
	for (int i = 24; i < 32; i++)
		n = n << 8 | v[i];
	return n;
}

bool limits_u256_decimal(const char *text, uint8_t out[32])
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
		if (carry != 0)
			return false; /* over 2^256 - 1 */
	}
	return true;
}

/* ---- the ledgers -------------------------------------------------------------------------- */

struct lim_entry {
	int64_t idx; /* second, or minute, since the epoch */
	uint8_t v[32];
};

/* Entries in increasing idx, live from head for len. */
struct lim_series {
	struct lim_entry *e;
	size_t head, len, cap;
};

struct lim_ledger {
	char a[64];               /* key, or client */
	char b[POLICY_ASSET_MAX]; /* asset, or operation */
	double created;           /* wall time: records dropped before it may be missing */
	struct lim_series sec, min;
};

/* The ledgers of one kind (spends, or signatures per client and operation). */
struct lim_book {
	struct lim_ledger *ls;
	size_t n;
	bool spends;     /* the spend book (a limit's tracks watch it), or the rate book */
	int64_t horizon; /* seconds a record is kept */
	/* the first and the latest time a record was not kept because the book was full (0:
	 * never): a ledger made after the first may lack what was dropped before it */
	double overflow_first, overflow_last;
	double compacted_at; /* the book is compacted at most once a minute when full */
};

static void series_free(struct lim_series *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static void series_expire(struct lim_series *s, int64_t min_idx)
{
	while (s->len > 0 && s->e[s->head].idx < min_idx) {
		s->head++;
		s->len--;
	}
	if (s->len == 0)
		s->head = 0;
}

/* Adds (sign > 0) or takes back (sign < 0) v at idx; false when memory is short. */
static bool series_add(struct lim_series *s, int64_t idx, const uint8_t v[32], int sign)
{
	size_t i = s->len;

	/* mostly the last entry, or after it: search from the end */
	while (i > 0 && s->e[s->head + i - 1].idx > idx)
		i--;
	if (i > 0 && s->e[s->head + i - 1].idx == idx) {
		uint8_t *acc = s->e[s->head + i - 1].v;

		if (sign > 0)
			limits_u256_add(acc, v);
		else
			u256_sub(acc, v);
		return true;
	}
	if (sign < 0)
		return true; /* that slot is gone already */
	if (s->head + s->len == s->cap) {
		if (s->head > 0) {
			memmove(s->e, s->e + s->head, s->len * sizeof(*s->e));
			s->head = 0;
		} else {
			size_t cap = s->cap == 0 ? 16 : s->cap * 2;
			struct lim_entry *grown = realloc(s->e, cap * sizeof(*grown));

			if (grown == NULL)
				return false;
			s->e = grown;
			s->cap = cap;
		}
	}
	memmove(s->e + s->head + i + 1, s->e + s->head + i, (s->len - i) * sizeof(*s->e));
	s->e[s->head + i].idx = idx;
	memcpy(s->e[s->head + i].v, v, 32);
	s->len++;
	return true;
}

static struct lim_entry *series_at(const struct lim_series *s, size_t i)
{
	return &s->e[s->head + i];
}

/* ---- the limits in force ------------------------------------------------------------------ */

struct lim_track {
	char key[64];
	char asset[POLICY_ASSET_MAX];
	uint64_t window;
	double unknown_until; /* built without its ledger after an overflow: nothing fits before */
	int64_t index[LIM_SLOTS];
	uint8_t sum[LIM_SLOTS][32];
};

struct lim_bucket {
	char client[64];
	char operation[65];
	uint64_t per_minute, burst;
	double tokens;
	double updated;
};

struct limits {
	pthread_mutex_t mu;
	double clock; /* the latest wall time seen: a clock stepping back is ignored */
	struct lim_book spend, rate;
	struct lim_track *tracks;
	size_t n_tracks;
	struct lim_bucket *buckets;
	size_t n_buckets;
	double gap_at; /* records were lost then (0: never): spends until a window has passed */
};

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time to count at: never after the latest time seen, and that time moved on to now. */
static double lim_tick(struct limits *l, double t)
{
	double now = wall_now();

	if (now > l->clock)
		l->clock = now;
	return t > l->clock ? l->clock : t;
}

int limits_new(struct limits **out)
{
	struct limits *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return sg_fail(SG_ERR_NOMEM, "the limits");
	pthread_mutex_init(&l->mu, NULL);
	l->clock = wall_now();
	l->spend = (struct lim_book){.spends = true, .horizon = LIMITS_SPEND_HORIZON};
	l->rate = (struct lim_book){.spends = false, .horizon = LIMITS_RATE_HORIZON};
	*out = l;
	return SG_OK;
}

static void ledgers_free(struct lim_ledger *ls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		series_free(&ls[i].sec);
		series_free(&ls[i].min);
	}
	free(ls);
}

void limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	ledgers_free(l->spend.ls, l->spend.n);
	ledgers_free(l->rate.ls, l->rate.n);
	free(l->tracks);
	free(l->buckets);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static struct lim_ledger *ledger_find(struct lim_ledger *ls, size_t n, const char *a, const char *b)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ls[i].a, a) == 0 && strcmp(ls[i].b, b) == 0)
			return &ls[i];
	return NULL;
}

static bool ledger_tracked(const struct limits *l, const struct lim_book *book, const char *a,
			   const char *b)
{
	if (book->spends) {
		for (size_t i = 0; i < l->n_tracks; i++)
			if (strcmp(l->tracks[i].key, a) == 0 && strcmp(l->tracks[i].asset, b) == 0)
				return true;
	} else {
		for (size_t i = 0; i < l->n_buckets; i++)
			if (strcmp(l->buckets[i].client, a) == 0 &&
			    strcmp(l->buckets[i].operation, b) == 0)
				return true;
	}
	return false;
}

static void ledger_expire(const struct limits *l, struct lim_ledger *e, int64_t horizon)
{
	series_expire(&e->sec, (int64_t)floor(l->clock) - LIM_SECONDS);
	series_expire(&e->min, (int64_t)floor((l->clock - (double)horizon) / 60) - 1);
}

/* Lets go of the ledgers that hold nothing any more and no limit in force watches. */
static void ledgers_compact(struct limits *l, struct lim_book *book)
{
	size_t kept = 0;

	for (size_t i = 0; i < book->n; i++) {
		struct lim_ledger *e = &book->ls[i];

		ledger_expire(l, e, book->horizon);
		if (e->sec.len == 0 && e->min.len == 0 && !ledger_tracked(l, book, e->a, e->b)) {
			series_free(&e->sec);
			series_free(&e->min);
			continue;
		}
		book->ls[kept++] = *e;
	}
	book->n = kept;
	book->compacted_at = l->clock;
}

static struct lim_ledger *ledger_new(struct lim_book *book, const char *a, const char *b,
				     double created)
{
	struct lim_ledger *e, *grown = realloc(book->ls, (book->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return NULL;
	book->ls = grown;
	e = &grown[book->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->a, sizeof(e->a), "%s", a);
	snprintf(e->b, sizeof(e->b), "%s", b);
	e->created = created;
	return e;
}

/* The ledger of (a, b), made when there is none. At most LIMITS_LEDGERS_MAX ledgers of a kind
 * are kept for pairs no limit in force watches (any pair a limit watches always gets its
 * ledger): past that, NULL with *full set, and the record is not kept. A full book is compacted
 * at most once a minute, so that a flood of new pairs does not walk it on every record. NULL
 * with *full clear: out of memory. */
static struct lim_ledger *ledger_get(struct limits *l, struct lim_book *book, const char *a,
				     const char *b, double t, bool *full)
{
	struct lim_ledger *e = ledger_find(book->ls, book->n, a, b);

	*full = false;
	if (e != NULL)
		return e;
	if (book->n >= LIMITS_LEDGERS_MAX && !ledger_tracked(l, book, a, b)) {
		if (l->clock >= book->compacted_at + 60 || l->clock < book->compacted_at)
			ledgers_compact(l, book);
		if (book->n >= LIMITS_LEDGERS_MAX) {
			*full = true;
			return NULL;
		}
	}
	return ledger_new(book, a, b, t);
}

/* A record of the book at t was not kept. */
static void book_overflow(struct lim_book *book, double t)
{
	if (book->overflow_first == 0 || t < book->overflow_first)
		book->overflow_first = t;
	if (t > book->overflow_last)
		book->overflow_last = t;
}

/* Until when a limit built from e (NULL: none) cannot know what was spent: records dropped
 * while the book was full, before e existed, may have been of its pair. 0: it knows. */
static double book_unknown_since(const struct lim_book *book, const struct lim_ledger *e)
{
	double created = e != NULL ? e->created : INFINITY;

	if (book->overflow_first == 0 || book->overflow_first >= created)
		return 0;
	return book->overflow_last < created ? book->overflow_last : created;
}

/* Counts v at time t in a ledger, by second and by minute, and lets go of what is older than
 * its horizon. */
static bool ledger_add(struct limits *l, struct lim_ledger *e, double t, const uint8_t v[32],
		       int sign, int64_t horizon)
{
	bool ok = series_add(&e->sec, (int64_t)floor(t), v, sign) &&
		  series_add(&e->min, (int64_t)floor(t / 60), v, sign);

	ledger_expire(l, e, horizon);
	return ok;
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
		u256_sub(t->sum[slot], v);
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
	const struct lim_ledger *e = ledger_find(l->spend.ls, l->spend.n, t->key, t->asset);
	double unknown = book_unknown_since(&l->spend, e);
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
		const struct lim_entry *en = series_at(s, i);
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
	const struct lim_ledger *e = ledger_find(l->rate.ls, l->rate.n, b->client, b->operation);
	double unknown = book_unknown_since(&l->rate, e);
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
			const struct lim_entry *en = series_at(s, i);
			double at = part == 0 ? ((double)en->idx + 1) * 60 : (double)en->idx + 1;
			uint64_t count = u256_low_u64(en->v);

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
	struct lim_ledger *e = ledger_get(l, &l->rate, client, op, t, &full);
	uint8_t one[32];

	if (e == NULL && full) {
		/* no rate limit watches this pair: not kept, and a limit that starts watching it
		 * (with no ledger to start from) starts used up */
		if (sign > 0)
			book_overflow(&l->rate, t);
		return true;
	}
	u256_from_u64(1, one);
	return e != NULL && ledger_add(l, e, t, one, sign, l->rate.horizon);
}

/* Counts spends of key at t in its ledger and in the sums of the limits in force. */
static bool spend_count(struct limits *l, const char *key, const struct policy_spend *spends,
			size_t n, double t, int sign)
{
	bool ok = true;

	for (size_t k = 0; k < n; k++) {
		struct lim_ledger *e;
		bool full;

		if (u256_is_zero(spends[k].amount))
			continue;
		e = ledger_get(l, &l->spend, key, spends[k].asset, t, &full);
		if (e == NULL && full) {
			/* no limit watches this pair (or it would have its ledger): not kept, and
			 * a limit that starts watching it fails closed for its window */
			if (sign > 0)
				book_overflow(&l->spend, t);
			continue;
		}
		ok &= e != NULL && ledger_add(l, e, t, spends[k].amount, sign, l->spend.horizon);
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
			    !u256_is_zero(spends[k].amount)) {
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
			if (now < t->unknown_until && !u256_is_zero(spends[k].amount)) {
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

/* ---- checkpoints -------------------------------------------------------------------------- */

static json_t *series_json(const struct lim_series *s)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < s->len; i++) {
		const struct lim_entry *e = series_at(s, i);
		char hex[65];

		if (hex_encode(e->v, 32, hex, sizeof(hex)) != SG_OK ||
		    json_array_append_new(list, json_pack("[I, s]", (json_int_t)e->idx, hex)) !=
			    0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static json_t *ledgers_json(const struct lim_book *book, const char *a, const char *b)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < book->n; i++) {
		const struct lim_ledger *e = &book->ls[i];
		json_t *sec = series_json(&e->sec), *min = series_json(&e->min);

		if (sec == NULL || min == NULL ||
		    json_array_append_new(list,
					  json_pack("{s:s, s:s, s:f, s:o, s:o}", a, e->a, b, e->b,
						    "c", e->created, "s", sec, "m", min)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

void limits_ledger_counts(struct limits *l, size_t *spend, size_t *rate)
{
	pthread_mutex_lock(&l->mu);
	*spend = l->spend.n;
	*rate = l->rate.n;
	pthread_mutex_unlock(&l->mu);
}

int limits_snapshot(struct limits *l, json_t **out)
{
	json_t *spend, *rate;

	pthread_mutex_lock(&l->mu);
	spend = ledgers_json(&l->spend, "key", "asset");
	rate = ledgers_json(&l->rate, "client", "operation");
	*out = spend != NULL && rate != NULL
		       ? json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o}", "version", 1,
				   "clock", l->clock, "gap_at", l->gap_at, "spend_overflow_first",
				   l->spend.overflow_first, "spend_overflow_at",
				   l->spend.overflow_last, "rate_overflow_first",
				   l->rate.overflow_first, "rate_overflow_at",
				   l->rate.overflow_last, "spend", spend, "rate", rate)
		       : NULL;
	pthread_mutex_unlock(&l->mu);
	if (*out == NULL) {
		json_decref(spend);
		json_decref(rate);
		return sg_fail(SG_ERR_NOMEM, "the limits' checkpoint");
	}
	return SG_OK;
}

static bool series_from_json(json_t *list, struct lim_series *s)
{
	json_t *item;
	size_t i;
	int64_t last = INT64_MIN;

	if (!json_is_array(list))
		return false;
	json_array_foreach (list, i, item) {
		const char *hex = json_string_value(json_array_get(item, 1));
		uint8_t v[32];
		size_t n;
		int64_t idx;

		if (!json_is_array(item) || json_array_size(item) != 2 ||
		    !json_is_integer(json_array_get(item, 0)) || hex == NULL || strlen(hex) != 64 ||
		    hex_decode(hex, 64, v, sizeof(v), &n) != SG_OK || n != 32)
			return false;
		idx = (int64_t)json_integer_value(json_array_get(item, 0));
		if (idx <= last || !series_add(s, idx, v, 1))
			return false; /* in order, each once */
		last = idx;
	}
	return true;
}

static double number_or(json_t *v, double otherwise)
{
	return json_is_number(v) ? json_number_value(v) : otherwise;
}

/* A checkpoint's ledgers into book; a ledger saved without its creation time (before
 * signerd kept it) counts as made at restored_at, the strict side. */
static bool ledgers_from_json(json_t *list, const char *a, const char *b, struct lim_book *book,
			      double restored_at)
{
	json_t *item;
	size_t i;

	if (!json_is_array(list))
		return false;
	json_array_foreach (list, i, item) {
		const char *av = json_string_value(json_object_get(item, a));
		const char *bv = json_string_value(json_object_get(item, b));
		struct lim_ledger *e;

		if (av == NULL || bv == NULL || strlen(av) >= sizeof(e->a) ||
		    strlen(bv) >= sizeof(e->b) || ledger_find(book->ls, book->n, av, bv) != NULL)
			return false;
		/* the checkpoint is anchored: no cap */
		e = ledger_new(book, av, bv, number_or(json_object_get(item, "c"), restored_at));
		if (e == NULL || !series_from_json(json_object_get(item, "s"), &e->sec) ||
		    !series_from_json(json_object_get(item, "m"), &e->min))
			return false;
	}
	return true;
}

int limits_restore(struct limits *l, json_t *snapshot)
{
	struct lim_book spend = {.spends = true, .horizon = LIMITS_SPEND_HORIZON};
	struct lim_book rate = {.spends = false, .horizon = LIMITS_RATE_HORIZON};
	double now = wall_now();

	if (!json_is_object(snapshot) ||
	    json_integer_value(json_object_get(snapshot, "version")) != 1 ||
	    !ledgers_from_json(json_object_get(snapshot, "spend"), "key", "asset", &spend, now) ||
	    !ledgers_from_json(json_object_get(snapshot, "rate"), "client", "operation", &rate,
			       now)) {
		ledgers_free(spend.ls, spend.n);
		ledgers_free(rate.ls, rate.n);
		return sg_fail(SG_ERR_MALFORMED, "the limits' checkpoint does not read");
	}
	spend.overflow_last = number_or(json_object_get(snapshot, "spend_overflow_at"), 0);
	rate.overflow_last = number_or(json_object_get(snapshot, "rate_overflow_at"), 0);
	/* a checkpoint from before the first time was kept: the strict side is the earliest */
	spend.overflow_first = number_or(json_object_get(snapshot, "spend_overflow_first"),
					 spend.overflow_last > 0 ? 1 : 0);
	rate.overflow_first = number_or(json_object_get(snapshot, "rate_overflow_first"),
					rate.overflow_last > 0 ? 1 : 0);
	pthread_mutex_lock(&l->mu);
	ledgers_free(l->spend.ls, l->spend.n);
	ledgers_free(l->rate.ls, l->rate.n);
	l->spend = spend;
	l->rate = rate;
	l->gap_at = number_or(json_object_get(snapshot, "gap_at"), 0);
	(void)lim_tick(l, 0);
	for (size_t i = 0; i < l->spend.n; i++)
		ledger_expire(l, &l->spend.ls[i], l->spend.horizon);
	for (size_t i = 0; i < l->rate.n; i++)
		ledger_expire(l, &l->rate.ls[i], l->rate.horizon);
	pthread_mutex_unlock(&l->mu);
	return SG_OK;
}
