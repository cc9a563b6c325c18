/* The keystore: keys that live in a token and never leave it in the clear.
 *
 * A key has a name, a chain and versions 1..n; each version has a NIST SP 800-57 lifecycle state
 * with the time of every transition. The token is the single source of truth: the key pairs and
 * one data object per version (the catalogue record) live in it, so a copy, a replica or a
 * restore of the token carries the catalogue along.
 *
 * Thread-safe: any number of threads may call ks_sign() at once; each takes one session of the
 * pool for the duration of the call. The signing path re-reads the catalogue from the token when
 * it is more than 5 seconds old, so a state change made elsewhere takes effect within 5 s.
 * One keystore per process: ks_close() finalises the PKCS#11 module. */
#ifndef SIGNER_KEYSTORE_KEYSTORE_H
#define SIGNER_KEYSTORE_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KS_NAME_MAX        63
#define KS_PUBKEY_MAX      65
#define KS_SIGNATURE_MAX   64
#define KS_TRANSITIONS_MAX 16
#define KS_VERSION_MAX     9999

enum ks_chain {
	KS_CHAIN_SOLANA = 1, /* Ed25519, CKM_EDDSA over the message */
	KS_CHAIN_EVM = 2,    /* secp256k1, CKM_ECDSA over a 32-byte digest */
};

/* NIST SP 800-57 part 1, section 7: the states of a key and the transitions between them. */
enum ks_state {
	KS_STATE_PRE_ACTIVATION = 0,
	KS_STATE_ACTIVE,
	KS_STATE_SUSPENDED,
	KS_STATE_DEACTIVATED,
	KS_STATE_COMPROMISED,
	KS_STATE_DESTROYED,
	KS_STATE_COUNT_
};

struct ks_transition {
	enum ks_state state;
	int64_t at; /* seconds since the epoch, UTC */
};

/* One version of one key, as the catalogue records it. */
struct ks_key {
	char name[KS_NAME_MAX + 1];
	enum ks_chain chain;
	uint32_t version;
	enum ks_state state;               /* the last transition's */
	uint8_t public_key[KS_PUBKEY_MAX]; /* Ed25519: 32 bytes; secp256k1: 0x04 || X || Y */
	size_t public_key_len;
	int64_t created_at;
	struct ks_transition transitions[KS_TRANSITIONS_MAX];
	size_t n_transitions;
};

struct ks_config {
	const char *module_path; /* the PKCS#11 module to dlopen */
	const char *token_label; /* the token is found by its label */
	const char *pin_file;    /* the user PIN: a file only its owner can read */
	unsigned sessions;       /* the size of the session pool (one per worker) */
};

struct keystore;

/* Counters a daemon exports; read with ks_stats(). */
struct ks_stats {
	uint64_t sign_ok;
	uint64_t sign_errors;
	uint64_t recoveries;      /* whole-token recoveries (re-initialise, re-login) */
	uint64_t session_reopens; /* single sessions replaced */
	unsigned sessions_busy;
	unsigned sessions_idle;
	bool logged_in;
};

/* Loads the module, finds the token by label, logs in and opens the session pool. */
SG_MUST_CHECK int ks_open(const struct ks_config *cfg, struct keystore **out);
void ks_close(struct keystore *ks);

/* Generates version 1 of a new key inside the token and records it active. */
SG_MUST_CHECK int ks_key_generate(struct keystore *ks, const char *name, enum ks_chain chain,
				  struct ks_key *out);
/* Makes version N+1 of a key (N its newest), of the same chain, in pre-activation: a new key
 * pair, so a new address. */
SG_MUST_CHECK int ks_key_rotate(struct keystore *ks, const char *name, struct ks_key *out);
/* Makes a pre-activation version active; the version active before it (its number in *was, 0
 * when none) is deactivated in the same step: no moment has two active versions or none. An
 * older version than the active one is refused. Run again after a crash, it finishes. */
SG_MUST_CHECK int ks_key_activate(struct keystore *ks, const char *name, uint32_t version,
				  uint32_t *was);
/* Every version of every key, sorted by name then version. Free with free(). */
SG_MUST_CHECK int ks_key_list(struct keystore *ks, struct ks_key **keys, size_t *n);
/* The current version of every key (as ks_key_get(name, 0) picks it), sorted by name. */
SG_MUST_CHECK int ks_key_list_current(struct keystore *ks, struct ks_key **keys, size_t *n);
/* One version of a key; version 0 means the current one (the newest active version, else the
 * newest). SG_ERR_NOT_FOUND when there is none. */
SG_MUST_CHECK int ks_key_get(struct keystore *ks, const char *name, uint32_t version,
			     struct ks_key *out);
/* Like ks_key_get, from the catalogue cache the signing path uses (re-read when older than 5 s):
 * cheap enough for every request. */
SG_MUST_CHECK int ks_key_lookup(struct keystore *ks, const char *name, uint32_t version,
				struct ks_key *out);
/* Moves a version to a new lifecycle state, if SP 800-57 allows that transition: suspend,
 * resume (refused beside another active version), deactivate, compromise, destroy. Moving to
 * destroyed destroys the private key in the token (the public key and the record stay); a
 * version already in the state asked for is SG_OK (a rerun after a crash). Activation is
 * ks_key_activate. */
SG_MUST_CHECK int ks_key_set_state(struct keystore *ks, const char *name, uint32_t version,
				   enum ks_state state);

/* Whether the token still holds the private key of a version (a destroyed one must not). */
SG_MUST_CHECK int ks_key_private_present(struct keystore *ks, const char *name, uint32_t version,
					 bool *present);

/* Signs with an active key version: Ed25519 over msg (any length), or ECDSA secp256k1 over a
 * 32-byte digest (raw r || s, as the token returns it, not normalised). */
SG_MUST_CHECK int ks_sign(struct keystore *ks, const char *name, uint32_t version,
			  const uint8_t *msg, size_t len, uint8_t sig[KS_SIGNATURE_MAX],
			  size_t *siglen);

/* As ks_sign, with a named version in any state but destroyed or compromised: for a key-sign
 * ceremony's one approved payload (the last transactions of a retired key). */
SG_MUST_CHECK int ks_sign_retired(struct keystore *ks, const char *name, uint32_t version,
				  const uint8_t *msg, size_t len, uint8_t sig[KS_SIGNATURE_MAX],
				  size_t *siglen);

/* ---- signerd's own state, kept in the token ------------------------------------------------
 * Small named records that must travel with the token (a copy, a backup or a restore of the
 * token carries them), such as the audit log's anchor: private token data objects of
 * application "signerd-state", labelled with the name. Writing needs the login, so that nobody
 * without the PIN can change them. */
#define KS_STATE_NAME_MAX  64
#define KS_STATE_VALUE_MAX 4096

struct ks_blob {
	uint8_t *data;
	size_t len;
};

/* Replaces what is stored under name (1 to KS_STATE_NAME_MAX of a-z 0-9 - .) by data. */
SG_MUST_CHECK int ks_state_put(struct keystore *ks, const char *name, const uint8_t *data,
			       size_t len);
/* Every value stored under name: none, one, or (after a crash inside ks_state_put) two, in no
 * particular order: the values themselves must tell which is newer. Free with ks_blobs_free. */
SG_MUST_CHECK int ks_state_get(struct keystore *ks, const char *name, struct ks_blob **values,
			       size_t *n);
void ks_blobs_free(struct ks_blob *values, size_t n);

/* SG_OK when the token answers and the session is logged in; recovers if it can. */
SG_MUST_CHECK int ks_health(struct keystore *ks);
void ks_stats(struct keystore *ks, struct ks_stats *out);
/* Every token error seen in this process, by function and CKR_ name, with its count. */
void ks_errors_foreach(void (*cb)(const char *function, const char *rv, uint64_t count, void *ctx),
		       void *ctx);

/* Initialises an empty slot of the module as a new token with this label, sets the SO PIN and
 * the user PIN from their files (read, used, wiped). SG_ERR_EXISTS when a token with the label
 * is already there. */
SG_MUST_CHECK int ks_token_init(const char *module_path, const char *label, const char *so_pin_file,
				const char *pin_file);

/* Names and states. */
SG_MUST_CHECK int ks_name_check(const char *name);
const char *ks_chain_name(enum ks_chain chain);
SG_MUST_CHECK int ks_chain_parse(const char *text, enum ks_chain *out);
const char *ks_state_name(enum ks_state state);
SG_MUST_CHECK int ks_state_parse(const char *text, enum ks_state *out);
/* Whether SP 800-57 allows moving from one state to the other. */
bool ks_state_transition_allowed(enum ks_state from, enum ks_state to);

#endif
