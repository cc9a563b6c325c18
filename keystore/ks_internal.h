/* The keystore's shared parts: the catalogue cache (keystore.c) and the lifecycle that writes it
 * (lifecycle.c). Not exported. */
#ifndef SIGNER_KEYSTORE_KS_INTERNAL_H
#define SIGNER_KEYSTORE_KS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "keystore/keystore.h"
#include "p11.h"

struct ks_entry {
	struct ks_key key;
	char label[96];
};

/* The signing path re-reads the catalogue when it is older than this, so that a state change
 * made by another process (a key suspended, compromised) stops signatures well within the 5 s
 * API.md allows. */
#define KS_CATALOGUE_TTL_NS (2LL * 1000000000LL)
/* A cache this old that cannot be re-read signs nothing. */
#define KS_CATALOGUE_STALE_NS (5LL * 1000000000LL)
/* A name that is not in the catalogue re-reads it at most this often. */
#define KS_MISS_REFRESH_NS (1LL * 1000000000LL)

struct keystore {
	const struct ks_backend_ops *ops;
	void *backend;
	/* token objects are created one at a time (SoftHSM2's issue #573): after mu, never
	 * before it */
	pthread_mutex_t create_mu;
	pthread_mutex_t mu; /* guards the catalogue cache below */
	struct ks_entry *entries;
	size_t n_entries;
	int64_t refreshed_ns;   /* when the cache was last read from the token */
	uint64_t catalogue_gen; /* bumped by every install */
	bool refreshing;        /* a signing-path refresh is reading the token */
};

/* Appends a transition (state, at) and makes it the key's state; a full history drops its oldest
 * transition after the first. */
void ks_transition_add(struct ks_key *k, enum ks_state state, int64_t at);
/* The token label of a version: "signerd/NAME/VERSION". */
void ks_label_format(char *out, size_t outsz, const char *name, uint32_t version);
/* Re-reads the catalogue from the token; with ks->mu held (the writers' path). */
int ks_catalogue_refresh(struct keystore *ks);
/* The records as the token holds them (sorted, one per version), before ks_entries_one_active
 * reads an older active version as deactivated. Free with free(). */
int ks_catalogue_read_raw(struct keystore *ks, struct ks_entry **out, size_t *out_n);
/* Adds a version just written to the token to the cache without reading the token again (a
 * restore of many versions would read the whole catalogue once per version); with ks->mu
 * held. */
int ks_entry_add(struct keystore *ks, const struct ks_key *key, const char *label);
/* With ks->mu held. version 0: the active version, else the newest. */
struct ks_entry *ks_entry_find(struct keystore *ks, const char *name, uint32_t version);

#endif
