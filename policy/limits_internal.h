/* The limits' parts: the ledgers and their checkpoints (limits_ledger.c), and the limits in
 * force built from them (limits.c). */
#ifndef SIGNER_POLICY_LIMITS_INTERNAL_H
#define SIGNER_POLICY_LIMITS_INTERNAL_H

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

void lim_u256_sub(uint8_t acc[32], const uint8_t v[32]);
bool lim_u256_is_zero(const uint8_t v[32]);
void lim_u256_from_u64(uint64_t n, uint8_t out[32]);
uint64_t lim_u256_low_u64(const uint8_t v[32]);
struct lim_entry *lim_series_at(const struct lim_series *s, size_t i);
double lim_wall_now(void);
double lim_tick(struct limits *l, double t);
void lim_ledgers_free(struct lim_ledger *ls, size_t n);
struct lim_ledger *lim_ledger_find(struct lim_ledger *ls, size_t n, const char *a, const char *b);
struct lim_ledger *lim_ledger_get(struct limits *l, struct lim_book *book, const char *a,
				  const char *b, double t, bool *full);
void lim_book_overflow(struct lim_book *book, double t);
double lim_book_unknown_since(const struct lim_book *book, const struct lim_ledger *e);
bool lim_ledger_add(struct limits *l, struct lim_ledger *e, double t, const uint8_t v[32], int sign,
		    int64_t horizon);

#endif
