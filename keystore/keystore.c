/* The generic half of the keystore: names, versions, lifecycle rules and the catalogue cache,
 * over a backend (PKCS#11) that stores key pairs and catalogue records. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/names.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "ks_internal.h"
#include "p11.h"

static const char *const ks_state_names[KS_STATE_COUNT_] = {
	[KS_STATE_PRE_ACTIVATION] = "pre-activation", [KS_STATE_ACTIVE] = "active",
	[KS_STATE_SUSPENDED] = "suspended",           [KS_STATE_DEACTIVATED] = "deactivated",
	[KS_STATE_COMPROMISED] = "compromised",       [KS_STATE_DESTROYED] = "destroyed",
};

int ks_name_check(const char *name)
{
	if (!name_valid(name))
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "key name '%.64s' must be 1 to %d of a-z, 0-9 and '-', not starting "
			       "with '-'",
			       name != NULL ? name : "", KS_NAME_MAX);
	return SG_OK;
}

const char *ks_chain_name(enum ks_chain chain)
{
	switch (chain) {
	case KS_CHAIN_SOLANA:
		return "solana";
	case KS_CHAIN_EVM:
		return "evm";
	}
	return "unknown";
}

int ks_chain_parse(const char *text, enum ks_chain *out)
{
	if (strcmp(text, "solana") == 0)
		*out = KS_CHAIN_SOLANA;
	else if (strcmp(text, "evm") == 0)
		*out = KS_CHAIN_EVM;
	else
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "chain '%s' is neither solana nor evm",
			       text);
	return SG_OK;
}

const char *ks_state_name(enum ks_state state)
{
	return (unsigned)state < KS_STATE_COUNT_ ? ks_state_names[state] : "unknown";
}

int ks_state_parse(const char *text, enum ks_state *out)
{
	for (int i = 0; i < KS_STATE_COUNT_; i++) {
		if (strcmp(text, ks_state_names[i]) == 0) {
			*out = (enum ks_state)i;
			return SG_OK;
		}
	}
	return sg_fail(SG_ERR_INVALID_ARGUMENT, "'%s' is not a key state", text);
}

const char *ks_origin_name(enum ks_origin origin)
{
	return origin == KS_ORIGIN_CEREMONY ? "ceremony" : "token";
}

int ks_origin_parse(const char *text, enum ks_origin *out)
{
	if (strcmp(text, "token") == 0)
		*out = KS_ORIGIN_TOKEN;
	else if (strcmp(text, "ceremony") == 0)
		*out = KS_ORIGIN_CEREMONY;
	else
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "'%s' is not a key origin", text);
	return SG_OK;
}

/* SP 800-57 part 1 rev. 5, figure 3: pre-activation -> active | compromised | destroyed;
 * active -> suspended | deactivated | compromised; suspended -> active | deactivated |
 * compromised; deactivated -> compromised | destroyed; compromised -> destroyed. */
bool ks_state_transition_allowed(enum ks_state from, enum ks_state to)
{
	static const unsigned allowed[KS_STATE_COUNT_] = {
		[KS_STATE_PRE_ACTIVATION] = 1u << KS_STATE_ACTIVE | 1u << KS_STATE_COMPROMISED |
					    1u << KS_STATE_DESTROYED,
		[KS_STATE_ACTIVE] = 1u << KS_STATE_SUSPENDED | 1u << KS_STATE_DEACTIVATED |
				    1u << KS_STATE_COMPROMISED,
		[KS_STATE_SUSPENDED] = 1u << KS_STATE_ACTIVE | 1u << KS_STATE_DEACTIVATED |
				       1u << KS_STATE_COMPROMISED,
		[KS_STATE_DEACTIVATED] = 1u << KS_STATE_COMPROMISED | 1u << KS_STATE_DESTROYED,
		[KS_STATE_COMPROMISED] = 1u << KS_STATE_DESTROYED,
		[KS_STATE_DESTROYED] = 0,
	};

	if ((unsigned)from >= KS_STATE_COUNT_ || (unsigned)to >= KS_STATE_COUNT_)
		return false;
	return (allowed[from] >> to & 1u) != 0;
}

void ks_label_format(char *out, size_t outsz, const char *name, uint32_t version)
{
	snprintf(out, outsz, "signerd/%s/%u", name, version);
}

void ks_records_free(struct ks_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(recs[i].blob);
	free(recs);
}

static int ks_entry_compare(const void *a, const void *b)
{
	const struct ks_key *x = &((const struct ks_entry *)a)->key;
	const struct ks_key *y = &((const struct ks_entry *)b)->key;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->version < y->version ? -1 : x->version > y->version;
}

/* Two records of one version exist for a moment while one replaces the other (and after a crash
 * at that moment): transitions only ever grow, so the one with more of them is the newer. Takes
 * sorted entries, keeps one per version, returns how many. */
static size_t ks_entries_dedup(struct ks_entry *entries, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (out > 0 && ks_entry_compare(&entries[out - 1], &entries[i]) == 0) {
			if (entries[i].key.n_transitions > entries[out - 1].key.n_transitions)
				entries[out - 1] = entries[i];
			continue;
		}
		entries[out++] = entries[i];
	}
	return out;
}

/* Drops from a full history what it can lose and still read as a chain of allowed transitions:
 * the oldest round trip (active -> suspended -> active drops its middle two), else the oldest
 * entry its neighbours join without it. The first (the creation) always stays. */
static void ks_transitions_make_room(struct ks_key *k)
{
	struct ks_transition *t = k->transitions;
	size_t n = k->n_transitions;

	for (size_t i = 1; i + 1 < n; i++) {
		if (t[i - 1].state == t[i + 1].state) {
			memmove(&t[i], &t[i + 2], (n - i - 2) * sizeof(t[0]));
			k->n_transitions -= 2;
			return;
		}
	}
	for (size_t i = 1; i + 1 < n; i++) {
		if (ks_state_transition_allowed(t[i - 1].state, t[i + 1].state)) {
			memmove(&t[i], &t[i + 1], (n - i - 1) * sizeof(t[0]));
			k->n_transitions--;
			return;
		}
	}
	/* cannot happen with SP 800-57's states (no chain of 16 without a repeat): keep the
	 * newest, as the catalogue must still record the change */
	memmove(&t[1], &t[2], (n - 2) * sizeof(t[0]));
	k->n_transitions--;
}

void ks_transition_add(struct ks_key *k, enum ks_state state, int64_t at)
{
	/* full: the audit log keeps every change; the record keeps the creation, the latest
	 * ones, and a chain that still reads, so that a key is never stuck for lack of room */
	if (k->n_transitions == KS_TRANSITIONS_MAX)
		ks_transitions_make_room(k);
	k->transitions[k->n_transitions++] = (struct ks_transition){.state = state, .at = at};
	k->state = state;
}

/* The first time a version was active; 0 when it never was. */
static int64_t ks_first_active(const struct ks_key *k)
{
	for (size_t i = 0; i < k->n_transitions; i++)
		if (k->transitions[i].state == KS_STATE_ACTIVE)
			return k->transitions[i].at;
	return 0;
}

/* At most one active version per key, whatever a crash left: activation writes the new active
 * version's record first, then the old one's (deactivated). Between the two writes, the newest
 * active version is the active one and an older one still marked active reads as deactivated
 * from that moment: so the switch is one record write, and a reader never sees two active
 * versions or none. ks_key_activate run again writes the old record. Takes sorted entries. */
static void ks_entries_one_active(struct ks_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ks_key *k = &entries[i].key;
		int64_t switched = 0;

		if (k->state != KS_STATE_ACTIVE)
			continue;
		/* a newer version that was ever activated retired this one when it was: whatever
		 * became of the newer one since (suspended, compromised) */
		for (size_t j = i + 1; j < n && strcmp(entries[j].key.name, k->name) == 0; j++) {
			int64_t at = ks_first_active(&entries[j].key);

			if (at != 0 && (switched == 0 || at < switched))
				switched = at;
		}
		if (switched != 0)
			ks_transition_add(k, KS_STATE_DEACTIVATED, switched);
	}
}

/* Re-reads the catalogue from the token; called with ks->mu held. A record whose label does
 * not match its content, or that has no key pair, is a damaged token: say so, don't guess. */
/* Reads the catalogue from the token into a new sorted array; needs no lock of ours. */
static int ks_catalogue_load(struct keystore *ks, struct ks_entry **out, size_t *out_n,
			     bool as_read)
{
	struct ks_record *recs = NULL;
	struct ks_entry *entries = NULL;
	size_t n = 0, n_recs = 0;
	int r;

	*out = NULL;
	*out_n = 0;
	r = ks->ops->records_load(ks->backend, &recs, &n_recs);
	n = n_recs;
	if (r != SG_OK)
		return r;
	entries = calloc(n == 0 ? 1 : n, sizeof(*entries));
	if (entries == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "loading the key catalogue");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct ks_entry *e = &entries[i];
		char expect[sizeof(e->label)];

		r = ks_record_decode(recs[i].blob, recs[i].blob_len, &e->key);
		if (r != SG_OK) {
			r = sg_context(r, "token object '%s'", recs[i].label);
			goto out;
		}
		ks_label_format(expect, sizeof(expect), e->key.name, e->key.version);
		if (strcmp(expect, recs[i].label) != 0) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "token object '%s' holds the record of '%s', not its own",
				    recs[i].label, expect);
			goto out;
		}
		memcpy(e->label, recs[i].label, sizeof(e->label));
		memcpy(e->key.public_key, recs[i].public_key, recs[i].public_key_len);
		e->key.public_key_len = recs[i].public_key_len;
	}
	qsort(entries, n, sizeof(*entries), ks_entry_compare);
	*out_n = ks_entries_dedup(entries, n);
	if (as_read)
		ks_entries_one_active(entries, *out_n);
	*out = entries;
	entries = NULL;
out:
	free(entries);
	ks_records_free(recs, n_recs);
	return r;
}

static int ks_catalogue_read(struct keystore *ks, struct ks_entry **out, size_t *out_n)
{
	return ks_catalogue_load(ks, out, out_n, true);
}

int ks_catalogue_read_raw(struct keystore *ks, struct ks_entry **out, size_t *out_n)
{
	return ks_catalogue_load(ks, out, out_n, false);
}

/* With ks->mu held. */
static void ks_catalogue_install(struct keystore *ks, struct ks_entry *entries, size_t n)
{
	free(ks->entries);
	ks->entries = entries;
	ks->n_entries = n;
	ks->refreshed_ns = time_monotonic_ns();
	ks->catalogue_gen++;
}

int ks_entry_add(struct keystore *ks, const struct ks_key *key, const char *label)
{
	struct ks_entry *entries = calloc(ks->n_entries + 1, sizeof(*entries));

	if (entries == NULL)
		return sg_fail(SG_ERR_NOMEM, "the key catalogue");
	memcpy(entries, ks->entries, ks->n_entries * sizeof(*entries));
	entries[ks->n_entries].key = *key;
	snprintf(entries[ks->n_entries].label, sizeof(entries[0].label), "%s", label);
	qsort(entries, ks->n_entries + 1, sizeof(*entries), ks_entry_compare);
	free(ks->entries);
	ks->entries = entries;
	ks->n_entries++;
	ks->catalogue_gen++; /* its refresh time stays: the next refresh reads the token anyway */
	return SG_OK;
}

/* Re-reads the catalogue from the token; called with ks->mu held (the writers' path: nothing
 * else may change the catalogue meanwhile). */
int ks_catalogue_refresh(struct keystore *ks)
{
	struct ks_entry *entries;
	size_t n;
	int r = ks_catalogue_read(ks, &entries, &n);

	if (r == SG_OK)
		ks_catalogue_install(ks, entries, n);
	return r;
}

/* The signing path's refresh, with ks->mu held on entry and exit: the token is read without
 * the lock, so that other signers go on with the cache meanwhile, and one refresh runs at a
 * time. A writer that installed a newer catalogue meanwhile wins. */
static int ks_catalogue_refresh_unlocked(struct keystore *ks)
{
	struct ks_entry *entries;
	uint64_t gen = ks->catalogue_gen;
	size_t n;
	int r;

	if (ks->refreshing)
		return SG_OK;
	ks->refreshing = true;
	pthread_mutex_unlock(&ks->mu);
	r = ks_catalogue_read(ks, &entries, &n);
	pthread_mutex_lock(&ks->mu);
	ks->refreshing = false;
	if (r != SG_OK)
		return r;
	if (ks->catalogue_gen != gen) {
		free(entries);
		return SG_OK;
	}
	ks_catalogue_install(ks, entries, n);
	return SG_OK;
}

/* With ks->mu held. version 0: the newest active version, else the newest. */
struct ks_entry *ks_entry_find(struct keystore *ks, const char *name, uint32_t version)
{
	struct ks_entry *newest = NULL, *active = NULL;

	for (size_t i = 0; i < ks->n_entries; i++) {
		struct ks_entry *e = &ks->entries[i];

		if (strcmp(e->key.name, name) != 0)
			continue;
		if (version != 0 && e->key.version == version)
			return e;
		newest = e; /* sorted by version */
		if (e->key.state == KS_STATE_ACTIVE)
			active = e;
	}
	if (version != 0)
		return NULL;
	return active != NULL ? active : newest;
}

int ks_open(const struct ks_config *cfg, struct keystore **out)
{
	struct keystore *ks;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return sg_fail(SG_ERR_NOMEM, "opening the keystore");
	ks->ops = &ks_pkcs11_ops;
	pthread_mutex_init(&ks->mu, NULL);
	pthread_mutex_init(&ks->create_mu, NULL);
	r = ks->ops->open(cfg, &ks->backend);
	if (r != SG_OK)
		goto out;
	pthread_mutex_lock(&ks->mu);
	r = ks_catalogue_refresh(ks);
	pthread_mutex_unlock(&ks->mu);
	if (r != SG_OK)
		goto out;
	*out = ks;
	ks = NULL;
out:
	ks_close(ks);
	return r;
}

void ks_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	if (ks->backend != NULL)
		ks->ops->close(ks->backend);
	pthread_mutex_destroy(&ks->mu);
	pthread_mutex_destroy(&ks->create_mu);
	free(ks->entries);
	free(ks);
}

/* Every version, or (current_only) the current version of each key. */
static int ks_key_list_some(struct keystore *ks, bool current_only, struct ks_key **keys, size_t *n)
{
	int r;

	*keys = NULL;
	*n = 0;
	pthread_mutex_lock(&ks->mu);
	r = ks_catalogue_refresh(ks);
	if (r != SG_OK)
		goto out;
	*keys = calloc(ks->n_entries == 0 ? 1 : ks->n_entries, sizeof(**keys));
	if (*keys == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "listing keys");
		goto out;
	}
	for (size_t i = 0; i < ks->n_entries; i++) {
		struct ks_entry *e = &ks->entries[i];

		if (current_only) {
			/* entries are sorted by name: pick at the last of a run of one name */
			if (i + 1 < ks->n_entries &&
			    strcmp(e->key.name, ks->entries[i + 1].key.name) == 0)
				continue;
			e = ks_entry_find(ks, e->key.name, 0);
			if (e == NULL)
				continue;
		}
		(*keys)[(*n)++] = e->key;
	}
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_list(struct keystore *ks, struct ks_key **keys, size_t *n)
{
	return ks_key_list_some(ks, false, keys, n);
}

int ks_key_list_current(struct keystore *ks, struct ks_key **keys, size_t *n)
{
	return ks_key_list_some(ks, true, keys, n);
}

int ks_key_get(struct keystore *ks, const char *name, uint32_t version, struct ks_key *out)
{
	struct ks_entry *e;
	int r;

	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->mu);
	r = ks_catalogue_refresh(ks);
	if (r != SG_OK)
		goto out;
	e = ks_entry_find(ks, name, version);
	if (e == NULL) {
		r = version == 0 ? sg_fail(SG_ERR_NOT_FOUND, "no key named '%s'", name)
				 : sg_fail(SG_ERR_NOT_FOUND, "key '%s' has no version %u", name,
					   version);
		goto out;
	}
	*out = e->key;
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

/* The signing path's lookup, with ks->mu held: the cache, re-read when older than the TTL, and
 * once more (at most every second) for a name it does not know. */
static struct ks_entry *ks_entry_lookup(struct keystore *ks, const char *name, uint32_t version,
					int *err)
{
	int64_t now = time_monotonic_ns();
	struct ks_entry *e;

	*err = SG_ERR_NOT_FOUND;
	if (now - ks->refreshed_ns > KS_CATALOGUE_TTL_NS) {
		int r = ks_catalogue_refresh_unlocked(ks);

		/* a cache that cannot be re-read may hide a compromise made since: past the
		 * bound on how stale it may be, nothing signs */
		if (r != SG_OK && time_monotonic_ns() - ks->refreshed_ns > KS_CATALOGUE_STALE_NS) {
			*err = sg_context(r == SG_ERR_PKCS11 ? SG_ERR_TOKEN_UNAVAILABLE : r,
					  "the key catalogue could not be read for %lld s",
					  (long long)((time_monotonic_ns() - ks->refreshed_ns) /
						      1000000000LL));
			return NULL;
		}
	}
	e = ks_entry_find(ks, name, version);
	if (e == NULL && now - ks->refreshed_ns > KS_MISS_REFRESH_NS &&
	    ks_catalogue_refresh_unlocked(ks) == SG_OK)
		e = ks_entry_find(ks, name, version); /* created by another process since */
	if (e == NULL)
		(void)(version == 0 ? sg_fail(SG_ERR_NOT_FOUND, "no key named '%s'", name)
				    : sg_fail(SG_ERR_NOT_FOUND, "key '%s' has no version %u", name,
					      version));
	return e;
}

int ks_key_lookup(struct keystore *ks, const char *name, uint32_t version, struct ks_key *out)
{
	struct ks_entry *e;
	int r;

	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->mu);
	e = ks_entry_lookup(ks, name, version, &r);
	if (e != NULL)
		*out = e->key;
	pthread_mutex_unlock(&ks->mu);
	return e != NULL ? SG_OK : r;
}

static int ks_sign_in(struct keystore *ks, const char *name, uint32_t version, const uint8_t *msg,
		      size_t len, uint8_t sig[KS_SIGNATURE_MAX], size_t *siglen, bool retired)
{
	struct ks_entry *e;
	char label[96];
	enum ks_chain chain;
	enum ks_state state;
	uint32_t found_version;
	int r;

	pthread_mutex_lock(&ks->mu);
	e = ks_entry_lookup(ks, name, version, &r);
	if (e == NULL) {
		pthread_mutex_unlock(&ks->mu);
		return r;
	}
	memcpy(label, e->label, sizeof(label));
	chain = e->key.chain;
	state = e->key.state;
	found_version = e->key.version;
	pthread_mutex_unlock(&ks->mu);

	if (retired ? state == KS_STATE_DESTROYED || state == KS_STATE_COMPROMISED
		    : state != KS_STATE_ACTIVE)
		return sg_fail(SG_ERR_STATE, "key '%s' version %u is %s, not %s", name,
			       found_version, ks_state_name(state),
			       retired ? "one that may sign" : "active");
	if (chain == KS_CHAIN_EVM && len != 32)
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "an ECDSA signature is over a 32-byte digest, not %zu bytes", len);
	return ks->ops->sign(ks->backend, label, chain, msg, len, sig, siglen);
}

int ks_sign(struct keystore *ks, const char *name, uint32_t version, const uint8_t *msg, size_t len,
	    uint8_t sig[KS_SIGNATURE_MAX], size_t *siglen)
{
	return ks_sign_in(ks, name, version, msg, len, sig, siglen, false);
}

int ks_sign_retired(struct keystore *ks, const char *name, uint32_t version, const uint8_t *msg,
		    size_t len, uint8_t sig[KS_SIGNATURE_MAX], size_t *siglen)
{
	if (version == 0)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a retired version is named by its number");
	return ks_sign_in(ks, name, version, msg, len, sig, siglen, true);
}

int ks_health(struct keystore *ks)
{
	return ks->ops->health(ks->backend);
}

void ks_stats(struct keystore *ks, struct ks_stats *out)
{
	memset(out, 0, sizeof(*out));
	ks->ops->stats(ks->backend, out);
}

/* ---- signerd's own state ------------------------------------------------------------------ */

static int ks_state_name_check(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > KS_STATE_NAME_MAX)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "state name of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-' || name[i] == '.'))
			return sg_fail(SG_ERR_INVALID_ARGUMENT, "state name '%s'", name);
	return SG_OK;
}

static int ks_state_write(struct keystore *ks, const char *name, const uint8_t *data, size_t len,
			  bool in_place)
{
	int r;

	if ((r = ks_state_name_check(name)) != SG_OK)
		return r;
	if (len == 0 || len > KS_STATE_VALUE_MAX)
		return sg_fail(SG_ERR_OVERFLOW, "token state '%s' of %zu bytes (1 to %d)", name,
			       len, KS_STATE_VALUE_MAX);
	pthread_mutex_lock(&ks->create_mu);
	r = in_place ? ks->ops->state_advance(ks->backend, name, data, len)
		     : ks->ops->state_put(ks->backend, name, data, len);
	pthread_mutex_unlock(&ks->create_mu);
	return r != SG_OK ? sg_context(r, "writing '%s' to the token", name) : SG_OK;
}

int ks_state_put(struct keystore *ks, const char *name, const uint8_t *data, size_t len)
{
	return ks_state_write(ks, name, data, len, false);
}

int ks_state_advance(struct keystore *ks, const char *name, const uint8_t *data, size_t len)
{
	return ks_state_write(ks, name, data, len, true);
}

int ks_state_get(struct keystore *ks, const char *name, struct ks_blob **values, size_t *n)
{
	int r;

	*values = NULL;
	*n = 0;
	if ((r = ks_state_name_check(name)) != SG_OK)
		return r;
	r = ks->ops->state_get(ks->backend, name, values, n);
	return r != SG_OK ? sg_context(r, "reading '%s' from the token", name) : SG_OK;
}

void ks_blobs_free(struct ks_blob *values, size_t n)
{
	for (size_t i = 0; values != NULL && i < n; i++)
		free(values[i].data);
	free(values);
}
