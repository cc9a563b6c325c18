/* The keystore's part of the backups (keystore.h, "backups"): the backup key loaded for this
 * process, new versions made with their wrapped copy, and restored versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ks_internal.h"

int ks_backup_key_load(struct keystore *ks, const char *so_pin_file, const uint8_t *key,
		       size_t key_len)
{
	return ks->ops->backup_key_load(ks->backend, so_pin_file, key, key_len);
}

void ks_backup_key_unload(struct keystore *ks)
{
	if (ks != NULL)
		ks->ops->backup_key_unload(ks->backend);
}

int ks_wrap_supported(struct keystore *ks, enum ks_chain chain, bool *supported)
{
	return ks->ops->wrap_supported(ks->backend, chain, supported);
}

/* The version a new one gets (1 for a new key, else the newest + 1) and its chain; with ks->mu
 * held. */
static int ks_next_version(struct keystore *ks, const char *name, bool new_key,
			   enum ks_chain *chain, uint32_t *version)
{
	struct ks_entry *newest = NULL;
	int r;

	if ((r = ks_name_check(name)) != SG_OK || (r = ks_catalogue_refresh(ks)) != SG_OK)
		return r;
	for (size_t i = 0; i < ks->n_entries; i++)
		if (strcmp(ks->entries[i].key.name, name) == 0)
			newest = &ks->entries[i]; /* sorted by version */
	if (new_key) {
		if (newest != NULL)
			return sg_fail(SG_ERR_EXISTS, "key '%s' already exists", name);
		if (*chain != KS_CHAIN_SOLANA && *chain != KS_CHAIN_EVM)
			return sg_fail(SG_ERR_INVALID_ARGUMENT, "unknown chain %d", (int)*chain);
		*version = 1;
		return SG_OK;
	}
	if (newest == NULL)
		return sg_fail(SG_ERR_NOT_FOUND, "no key named '%s'", name);
	if (newest->key.version >= KS_VERSION_MAX)
		return sg_fail(SG_ERR_OVERFLOW, "key '%s' has %d versions already", name,
			       KS_VERSION_MAX);
	*chain = newest->key.chain;
	*version = newest->key.version + 1;
	return SG_OK;
}

static void ks_key_new(struct ks_key *key, const char *name, enum ks_chain chain, uint32_t version,
		       enum ks_origin origin)
{
	int64_t now = (int64_t)time(NULL);

	memset(key, 0, sizeof(*key));
	snprintf(key->name, sizeof(key->name), "%s", name);
	key->chain = chain;
	key->version = version;
	key->transitions[0] = (struct ks_transition){.state = KS_STATE_PRE_ACTIVATION, .at = now};
	key->n_transitions = 1;
	key->state = KS_STATE_PRE_ACTIVATION;
	key->created_at = now;
	key->origin = origin;
}

int ks_key_generate_wrapped(struct keystore *ks, const char *name, enum ks_chain chain,
			    bool new_key, struct ks_key *out, uint8_t *wrapped, size_t *wrapped_len)
{
	struct ks_key key;
	char label[96];
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	uint32_t version = 0;
	int r;

	pthread_mutex_lock(&ks->mu);
	if ((r = ks_next_version(ks, name, new_key, &chain, &version)) != SG_OK)
		goto out;
	ks_key_new(&key, name, chain, version, KS_ORIGIN_TOKEN);
	ks_label_format(label, sizeof(label), name, version);
	if ((r = ks_record_encode(&key, &blob, &blob_len)) != SG_OK)
		goto out;
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->generate_wrapped(ks->backend, label, chain, blob, blob_len, key.public_key,
				      &key.public_key_len, wrapped, wrapped_len);
	pthread_mutex_unlock(&ks->create_mu);
	if (r != SG_OK) {
		r = sg_context(r, "generating key '%s' version %u", name, version);
		goto out;
	}
	r = ks_catalogue_refresh(ks);
	if (r == SG_OK)
		*out = key;
out:
	free(blob);
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_import(struct keystore *ks, const char *name, enum ks_chain chain, bool new_key,
		  const uint8_t *priv, size_t priv_len, struct ks_key *out)
{
	struct ks_key key;
	char label[96];
	uint8_t *blob = NULL, sk[crypto_sign_SECRETKEYBYTES];
	size_t blob_len = 0;
	uint32_t version = 0;
	int r;

	pthread_mutex_lock(&ks->mu);
	if ((r = ks_next_version(ks, name, new_key, &chain, &version)) != SG_OK)
		goto out;
	if (chain != KS_CHAIN_SOLANA || priv_len != crypto_sign_SEEDBYTES) {
		r = sg_fail(SG_ERR_INVALID_ARGUMENT, "only an Ed25519 seed can be imported");
		goto out;
	}
	ks_key_new(&key, name, chain, version, KS_ORIGIN_CEREMONY);
	if (crypto_sign_seed_keypair(key.public_key, sk, priv) != 0) {
		r = sg_fail(SG_ERR_INTERNAL, "deriving the Ed25519 public key");
		goto out;
	}
	key.public_key_len = crypto_sign_PUBLICKEYBYTES;
	ks_label_format(label, sizeof(label), name, version);
	if ((r = ks_record_encode(&key, &blob, &blob_len)) != SG_OK)
		goto out;
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->import(ks->backend, label, chain, priv, priv_len, NULL, 0, key.public_key,
			    key.public_key_len, blob, blob_len);
	pthread_mutex_unlock(&ks->create_mu);
	if (r != SG_OK) {
		r = sg_context(r, "importing key '%s' version %u", name, version);
		goto out;
	}
	r = ks_catalogue_refresh(ks);
	if (r == SG_OK)
		*out = key;
out:
	sodium_memzero(sk, sizeof(sk));
	free(blob);
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_restore(struct keystore *ks, const struct ks_key *key, const uint8_t *wrapped,
		   size_t wrapped_len, const uint8_t *priv, size_t priv_len)
{
	struct ks_entry *have;
	char label[96];
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int r;

	if ((r = ks_name_check(key->name)) != SG_OK)
		return r;
	if (key->version < 1 || key->version > KS_VERSION_MAX || key->n_transitions == 0)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "%s: no version or no history", key->name);
	if (key->state == KS_STATE_DESTROYED && (wrapped != NULL || priv != NULL))
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "%s v%u is destroyed: its private key is not restored", key->name,
			       key->version);
	/* the cache, not the token: a restore is the token's only writer (it refuses a token
	 * that holds keys it did not restore), and it read the catalogue when it began */
	pthread_mutex_lock(&ks->mu);
	have = NULL;
	for (size_t i = 0; i < ks->n_entries; i++)
		if (strcmp(ks->entries[i].key.name, key->name) == 0 &&
		    ks->entries[i].key.version == key->version)
			have = &ks->entries[i];
	if (have != NULL) { /* restored before (a run cut short after this version) */
		if (have->key.public_key_len != key->public_key_len ||
		    memcmp(have->key.public_key, key->public_key, key->public_key_len) != 0)
			r = sg_fail(SG_ERR_EXISTS,
				    "the token already holds %s v%u with another public key",
				    key->name, key->version);
		goto out;
	}
	ks_label_format(label, sizeof(label), key->name, key->version);
	if ((r = ks_record_encode(key, &blob, &blob_len)) != SG_OK)
		goto out;
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->import(ks->backend, label, key->chain, priv, priv_len, wrapped, wrapped_len,
			    key->public_key, key->public_key_len, blob, blob_len);
	pthread_mutex_unlock(&ks->create_mu);
	if (r != SG_OK) {
		r = sg_context(r, "restoring %s v%u", key->name, key->version);
		goto out;
	}
	r = ks_entry_add(ks, key, label);
out:
	free(blob);
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_discard(struct keystore *ks, const char *name, uint32_t version)
{
	struct ks_entry *e;
	char label[96];
	int r;

	pthread_mutex_lock(&ks->mu);
	if ((r = ks_catalogue_refresh(ks)) != SG_OK)
		goto out;
	e = ks_entry_find(ks, name, version);
	if (e == NULL) {
		r = sg_fail(SG_ERR_NOT_FOUND, "no version %u of '%s'", version, name);
		goto out;
	}
	if (e->key.state != KS_STATE_PRE_ACTIVATION || e->key.n_transitions != 1) {
		r = sg_fail(SG_ERR_STATE, "%s v%u has been %s: only a new version is discarded",
			    name, version, ks_state_name(e->key.state));
		goto out;
	}
	snprintf(label, sizeof(label), "%s", e->label);
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->discard(ks->backend, label);
	pthread_mutex_unlock(&ks->create_mu);
	if (r == SG_OK)
		r = ks_catalogue_refresh(ks);
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

static int ks_mac_label(const char *kid, char label[64])
{
	size_t n = strlen(kid);

	if (n == 0 || n > 32 || strspn(kid, "0123456789abcdef") != n)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a backup key id is hex");
	snprintf(label, 64, "signerd-backup-mac/%s", kid);
	return SG_OK;
}

int ks_mac_key_store(struct keystore *ks, const char *kid, const uint8_t *key, size_t len)
{
	char label[64];
	int r;

	if ((r = ks_mac_label(kid, label)) != SG_OK)
		return r;
	if (len != KS_MAC_LEN)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "the MAC key is %zu bytes, not 32", len);
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->mac_key_store(ks->backend, label, key, len);
	pthread_mutex_unlock(&ks->create_mu);
	return r;
}

int ks_mac(struct keystore *ks, const char *kid, const uint8_t *data, size_t len,
	   uint8_t out[KS_MAC_LEN])
{
	char label[64];
	int r;

	if ((r = ks_mac_label(kid, label)) != SG_OK)
		return r;
	return ks->ops->mac(ks->backend, label, data, len, out);
}
