/* The ledgers: what was signed, per (key, asset) and per (client, operation), by second and by
 * minute, bounded in number; and their checkpoint as JSON. */
#include "limits_internal.h"

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
void lim_u256_sub(uint8_t acc[32], const uint8_t v[32])
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

bool lim_u256_is_zero(const uint8_t v[32])
{
	for (int i = 0; i < 32; i++)
		if (v[i] != 0)
			return false;
	return true;
}

void lim_u256_from_u64(uint64_t n, uint8_t out[32])
{
	memset(out, 0, 32);
	for (int i = 31; i >= 24; i--, n >>= 8)
		out[i] = (uint8_t)n;
}

uint64_t lim_u256_low_u64(const uint8_t v[32])
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
			lim_u256_sub(acc, v);
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

struct lim_entry *lim_series_at(const struct lim_series *s, size_t i)
{
	return &s->e[s->head + i];
}

double lim_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time to count at: never after the latest time seen, and that time moved on to now. */
double lim_tick(struct limits *l, double t)
{
	double now = lim_wall_now();

	if (now > l->clock)
		l->clock = now;
	return t > l->clock ? l->clock : t;
}

void lim_ledgers_free(struct lim_ledger *ls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		series_free(&ls[i].sec);
		series_free(&ls[i].min);
	}
	free(ls);
}

struct lim_ledger *lim_ledger_find(struct lim_ledger *ls, size_t n, const char *a, const char *b)
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
struct lim_ledger *lim_ledger_get(struct limits *l, struct lim_book *book, const char *a,
				  const char *b, double t, bool *full)
{
	struct lim_ledger *e = lim_ledger_find(book->ls, book->n, a, b);

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
void lim_book_overflow(struct lim_book *book, double t)
{
	if (book->overflow_first == 0 || t < book->overflow_first)
		book->overflow_first = t;
	if (t > book->overflow_last)
		book->overflow_last = t;
}

/* Until when a limit built from e (NULL: none) cannot know what was spent: records dropped
 * while the book was full, before e existed, may have been of its pair. 0: it knows. */
double lim_book_unknown_since(const struct lim_book *book, const struct lim_ledger *e)
{
	double created = e != NULL ? e->created : INFINITY;

	if (book->overflow_first == 0 || book->overflow_first >= created)
		return 0;
	return book->overflow_last < created ? book->overflow_last : created;
}

/* Counts v at time t in a ledger, by second and by minute, and lets go of what is older than
 * its horizon. */
bool lim_ledger_add(struct limits *l, struct lim_ledger *e, double t, const uint8_t v[32], int sign,
		    int64_t horizon)
{
	bool ok = series_add(&e->sec, (int64_t)floor(t), v, sign) &&
		  series_add(&e->min, (int64_t)floor(t / 60), v, sign);

	ledger_expire(l, e, horizon);
	return ok;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static json_t *series_json(const struct lim_series *s)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < s->len; i++) {
		const struct lim_entry *e = lim_series_at(s, i);
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
		    strlen(bv) >= sizeof(e->b) ||
		    lim_ledger_find(book->ls, book->n, av, bv) != NULL)
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
	double now = lim_wall_now();

	if (!json_is_object(snapshot) ||
	    json_integer_value(json_object_get(snapshot, "version")) != 1 ||
	    !ledgers_from_json(json_object_get(snapshot, "spend"), "key", "asset", &spend, now) ||
	    !ledgers_from_json(json_object_get(snapshot, "rate"), "client", "operation", &rate,
			       now)) {
		lim_ledgers_free(spend.ls, spend.n);
		lim_ledgers_free(rate.ls, rate.n);
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
	lim_ledgers_free(l->spend.ls, l->spend.n);
	lim_ledgers_free(l->rate.ls, l->rate.n);
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
