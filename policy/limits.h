/* The running state of the rate and spend limits: what was signed, and how much of each limit
 * is used.
 *
 * Two ledgers, independent of any policy, record what was signed: per (key, asset) the amounts
 * spent, and per (client, operation) the signatures made, by second for the last hour and by
 * minute for the last 7 days (spends) or 24 hours (signatures). The limits in force (a spend
 * limit's running sum over its window, a rate limit's token bucket) are built from the ledgers
 * whenever the policy changes: a limit a reload adds, or whose window or rate it changes,
 * starts from what the audit log says was signed, never from zero. The ledgers are rebuilt from
 * the audit log (every signed record) when signerd starts, and count what other processes
 * (signerctl) sign on the same log as soon as it is read.
 *
 * A spend counted at second resolution (windows of at most 1 h) or at minute resolution (longer
 * windows, each minute's spends counted at the minute's end) errs on the strict side: a sum
 * covers the window and at most one slot of window/60 (and one minute) more.
 *
 * Thread-safe. */
#ifndef SIGNER_POLICY_LIMITS_H
#define SIGNER_POLICY_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "policy/policy.h"

#define LIMITS_SPEND_HORIZON (7 * 86400) /* the longest spend window */
#define LIMITS_RATE_HORIZON  86400       /* how far back a rate limit's bucket is rebuilt */
/* At most this many ledgers of a kind for pairs no limit in force watches (a pair a limit
 * watches always has its ledger); past that, after letting go of the empty ones, a record of a
 * new pair is not kept, and a limit a reload adds on a pair without a ledger starts used up
 * (spends nothing for its window, or has no token of its burst) for as long as that may hide
 * something it should count. */
#define LIMITS_LEDGERS_MAX 4096

struct limits;

/* What one request took from the limits: given back (limits_release) when no signature leaves,
 * kept otherwise. */
struct limits_hold {
	bool rate_taken;
	char client[64];
	char operation[65];
	double rate_at;
	bool spent;
	char key[64];
	struct policy_spend spends[POLICY_SPENDS_MAX];
	size_t n_spends;
	double spend_at;
};

SG_MUST_CHECK int limits_new(struct limits **out);
void limits_free(struct limits *l);

/* The policy in force is p from now on: the buckets of its rate limits and the running sums of
 * its spend limits are built from the ledgers. */
SG_MUST_CHECK int limits_apply_policy(struct limits *l, const struct policy *p);

/* A signed record of the audit log (replayed at start, or appended by another process): its
 * signature and spends at time at (wall seconds) are counted in the ledgers and in the limits
 * in force. client, operation or key may be NULL (then that part is not counted). */
void limits_record(struct limits *l, const char *client, const char *operation, const char *key,
		   const struct policy_spend *spends, size_t n_spends, double at);

/* The audit log lost records (a loss accepted with signerctl audit accept-loss) at time at: what
 * they spent is not known, so every spend limit counts as used up until its window has passed
 * since then. */
void limits_record_gap(struct limits *l, double at);

/* Takes a token of rl's bucket at now; false, with *retry_after in seconds, when none is left
 * (or, failing closed, when memory is short). */
bool limits_rate_take(struct limits *l, const struct policy_rate_limit *rl, double now,
		      struct limits_hold *hold, double *retry_after);
/* A signature of (client, operation) no rate limit watches: counted all the same (a rate limit
 * a reload adds starts from it), and given back by limits_release when no signature leaves. */
void limits_rate_count(struct limits *l, const char *client, const char *operation, double now,
		       struct limits_hold *hold);
/* The tokens rl's bucket holds at now, without taking one. */
double limits_rate_peek(struct limits *l, const struct policy_rate_limit *rl, double now);

/* Checks spends against every spend limit of p on (key, asset) and, when all fit, reserves
 * them in hold; otherwise false, and d says which limit (spend_limit_exceeded), or that memory
 * is short (spend_unreadable: fail closed). */
bool limits_spend_reserve(struct limits *l, const struct policy *p, const char *key,
			  const struct policy_spend *spends, size_t n, double now,
			  struct limits_hold *hold, struct policy_decision *d);
/* What limits_spend_reserve would decide now, reserving nothing (signerctl explain). */
bool limits_spend_fits(struct limits *l, const struct policy *p, const char *key,
		       const struct policy_spend *spends, size_t n, double now,
		       struct policy_decision *d);
/* Whether what hold reserved still fits every limit of p, now that records of other processes
 * may have been counted since it was reserved; false with d filled when not. */
bool limits_spend_still_fits(struct limits *l, const struct policy *p,
			     const struct limits_hold *hold, struct policy_decision *d);
/* No signature left: gives back hold's token and reservation. */
void limits_release(struct limits *l, struct limits_hold *hold);

/* What key spent of asset within the last window seconds, as the limit over that window of
 * the policy in force counts it (0 when no such limit is in force). */
void limits_spent(struct limits *l, const char *key, const char *asset, uint64_t window, double now,
		  uint8_t total[32]);

/* How many ledgers there are of each kind. */
void limits_ledger_counts(struct limits *l, size_t *spend, size_t *rate);

/* The ledgers as JSON (for a checkpoint), and back. limits_restore replaces the ledgers; call
 * limits_apply_policy after it. */
SG_MUST_CHECK int limits_snapshot(struct limits *l, json_t **out);
SG_MUST_CHECK int limits_restore(struct limits *l, json_t *snapshot);

/* 256-bit helpers (big-endian): acc += v, saturating; a decimal string, false if not one. */
void limits_u256_add(uint8_t acc[32], const uint8_t v[32]);
bool limits_u256_decimal(const char *text, uint8_t out[32]);

#endif
