/* The signer's parts, shared by its lifecycle (signer.c), the door (door.c), explain
 * (explain.c), the key listing (keys.c) and the views (views.c). */
#ifndef SIGNER_SIGNER_INTERNAL_H
#define SIGNER_SIGNER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "keystore/keystore.h"
#include "policy/limits.h"
#include "policy/policy.h"
#include "signer/audit.h"
#include "chain/evm/eip712.h"
#include "chain/evm/tx.h"
#include "signer/journal.h"
#include "refusals.h"
#include "signer/signer.h"
#include "chain/solana/message.h"

/* One loaded policy, shared by the requests that started under it: a request takes one
 * reference when it starts and decides everything under that one policy, however many reloads
 * happen meanwhile. */
struct policy_ref {
	struct policy *policy;
	atomic_uint refs;
	uint64_t generation;
};

struct signer {
	struct keystore *ks;
	struct audit_log *audit;
	struct limits *limits;
	struct refusals *refusals; /* NULL: every refusal gets its own record (signerctl) */
	char *audit_path;
	unsigned flags;
	pthread_mutex_t policy_mu;
	struct policy_ref *policy; /* the one in force */
	_Atomic uint64_t policy_gen;
	/* the anchor and checkpoints (signer_tick, signer_close) */
	pthread_mutex_t tick_mu;
	struct journal_recovery recovery;
	struct journal_anchor anchor; /* the last one written or read */
	double anchor_written_at;     /* monotonic */
	double checkpoint_at;         /* monotonic */
	double audit_probe_at;        /* monotonic: the last audit_writable record tried */
	uint64_t checkpoint_seq;
	atomic_uint_fast64_t anchor_failures;
	atomic_uint_fast64_t anchored_seq;
	atomic_bool anchor_failing;
	/* lifecycle changes and ceremonies, one process at a time (signer_lifecycle_lock) */
	int lifecycle_fd;
	unsigned lifecycle_depth;
};

struct policy_ref *signer_policy_acquire(struct signer *s);
void signer_policy_release(struct policy_ref *ref);

/* Whether the key's chain is the one the payload needs; when not, says so in buf. */
bool signer_chain_matches(const struct ks_key *key, enum signer_payload kind, char *buf, size_t n);

/* Whether any spend limit of p watches key. */
bool signer_key_watched(const struct policy *p, const char *key);

/* views.c: what was decoded, as JSON (signer_result.view), and JSON helpers of the responses */
json_t *signer_solana_view(const struct sol_message *m);
json_t *signer_evm_tx_view(const struct evm_tx *tx);
json_t *signer_eip712_view(const struct eip712 *td);
json_t *signer_hex_json(const uint8_t *p, size_t n);
json_t *signer_quantity_json(const uint8_t *be, size_t n);
json_t *signer_b58_json(const uint8_t *p, size_t n);
json_t *signer_address_json(const uint8_t addr[20]);
/* The same, written as "key":"text" into a response's members (w->failed when they cannot). */
void signer_hex_w(struct jsonw *w, const char *key, const uint8_t *p, size_t n);
void signer_quantity_w(struct jsonw *w, const char *key, const uint8_t *be, size_t n);
void signer_b58_w(struct jsonw *w, const char *key, const uint8_t *p, size_t n);
void signer_address_w(struct jsonw *w, const char *key, const uint8_t addr[20]);

double signer_wall_seconds(void);

#endif
