/* The lifecycle: new keys and versions, and their NIST SP 800-57 transitions, each written to
 * the token's catalogue so that a kill -9 at any step leaves the catalogue as it was before the
 * step or after it, and the same call again finishes it:
 * - a new version: the key pair and its record are made in one backend call; a key pair left
 *   without its record (a crash between the two) has never signed and is removed by the next
 *   generation of that version;
 * - activation: the new version's record is written active first, which is the switch (the
 *   catalogue reads an older active version as deactivated from then on, ks_entries_one_active),
 *   then the old version's record;
 * - destruction: the private key is destroyed first, then the record says destroyed; a crash
 *   between leaves the record as it was (the key cannot sign anyway), and destroying again
 *   finds no private key and writes the record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fault.h"
#include "ks_internal.h"

/* Makes version (state, pre-activation or active) of name in the token, with ks->mu held. */
static int ks_version_make(struct keystore *ks, const char *name, enum ks_chain chain,
			   uint32_t version, enum ks_state state, struct ks_key *out)
{
	struct ks_key key;
	char label[96];
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int64_t now = (int64_t)time(NULL);
	int r;

	memset(&key, 0, sizeof(key));
	snprintf(key.name, sizeof(key.name), "%s", name);
	key.chain = chain;
	key.version = version;
	key.transitions[0] = (struct ks_transition){.state = KS_STATE_PRE_ACTIVATION, .at = now};
	key.n_transitions = 1;
	if (state == KS_STATE_ACTIVE)
		key.transitions[key.n_transitions++] =
			(struct ks_transition){.state = KS_STATE_ACTIVE, .at = now};
	key.state = state;
	key.created_at = now;
	ks_label_format(label, sizeof(label), name, key.version);
	if ((r = ks_record_encode(&key, &blob, &blob_len)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->generate(ks->backend, label, chain, blob, blob_len, key.public_key,
			      &key.public_key_len);
	pthread_mutex_unlock(&ks->create_mu);
	free(blob);
	if (r != SG_OK)
		return sg_context(r, "generating key '%s' version %u", name, version);
	r = ks_catalogue_refresh(ks);
	if (r == SG_OK && out != NULL)
		*out = key;
	return r;
}

int ks_key_generate(struct keystore *ks, const char *name, enum ks_chain chain, struct ks_key *out)
{
	int r;

	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	if (chain != KS_CHAIN_SOLANA && chain != KS_CHAIN_EVM)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "unknown chain %d", (int)chain);
	pthread_mutex_lock(&ks->mu);
	if ((r = ks_catalogue_refresh(ks)) != SG_OK)
		goto out;
	if (ks_entry_find(ks, name, 0) != NULL) {
		r = sg_fail(SG_ERR_EXISTS, "key '%s' already exists", name);
		goto out;
	}
	r = ks_version_make(ks, name, chain, 1, KS_STATE_ACTIVE, out);
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_rotate(struct keystore *ks, const char *name, struct ks_key *out)
{
	struct ks_entry *newest;
	int r;

	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->mu);
	if ((r = ks_catalogue_refresh(ks)) != SG_OK)
		goto out;
	newest = NULL;
	for (size_t i = 0; i < ks->n_entries; i++)
		if (strcmp(ks->entries[i].key.name, name) == 0)
			newest = &ks->entries[i]; /* sorted by version */
	if (newest == NULL) {
		r = sg_fail(SG_ERR_NOT_FOUND, "no key named '%s'", name);
		goto out;
	}
	if (newest->key.version >= KS_VERSION_MAX) {
		r = sg_fail(SG_ERR_OVERFLOW, "key '%s' has %d versions already", name,
			    KS_VERSION_MAX);
		goto out;
	}
	r = ks_version_make(ks, name, newest->key.chain, newest->key.version + 1,
			    KS_STATE_PRE_ACTIVATION, out);
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

/* Writes key (a changed copy of e's) to e's record; with ks->mu held. */
static int ks_record_write(struct keystore *ks, struct ks_entry *e, const struct ks_key *key)
{
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int r = ks_record_encode(key, &blob, &blob_len);

	if (r != SG_OK)
		return r;
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->record_update(ks->backend, e->label, blob, blob_len);
	pthread_mutex_unlock(&ks->create_mu);
	free(blob);
	if (r == SG_OK)
		e->key = *key;
	return r;
}

/* key with one more transition, to state, now. */
static int ks_key_moved(const struct ks_key *from, enum ks_state state, struct ks_key *to)
{
	*to = *from;
	ks_transition_add(to, state, (int64_t)time(NULL));
	return SG_OK;
}

/* Writes the records of name that the token holds otherwise than the catalogue reads them (an
 * older version still marked active after a switch a crash cut short) as they read; *was: the
 * newest version so written (0: none). With ks->mu held, the catalogue fresh. */
static int ks_repair(struct keystore *ks, const char *name, uint32_t *was)
{
	struct ks_entry *raw;
	size_t n;
	int r;

	*was = 0;
	if ((r = ks_catalogue_read_raw(ks, &raw, &n)) != SG_OK)
		return r;
	for (size_t i = 0; i < n && r == SG_OK; i++) {
		struct ks_entry *e = &raw[i], *read;

		if (strcmp(e->key.name, name) != 0 || e->key.state != KS_STATE_ACTIVE)
			continue;
		read = ks_entry_find(ks, name, e->key.version);
		if (read == NULL || read->key.state == KS_STATE_ACTIVE)
			continue;
		if ((r = ks_record_write(ks, read, &read->key)) == SG_OK)
			*was = e->key.version;
	}
	free(raw);
	if (r == SG_OK)
		r = ks_catalogue_refresh(ks);
	return r;
}

/* The version a change is about, from a fresh catalogue whose records the token holds as they
 * read (so that "done already" means done in the token too); with ks->mu held. */
static int ks_version_to_change(struct keystore *ks, const char *name, uint32_t version,
				struct ks_entry **e)
{
	uint32_t repaired;
	int r;

	*e = NULL;
	if ((r = ks_catalogue_refresh(ks)) != SG_OK ||
	    (r = ks_repair(ks, name, &repaired)) != SG_OK)
		return r;
	*e = ks_entry_find(ks, name, version);
	return *e != NULL ? SG_OK
			  : sg_fail(SG_ERR_NOT_FOUND, "key '%s' has no version %u", name, version);
}

int ks_key_activate(struct keystore *ks, const char *name, uint32_t version, uint32_t *was)
{
	struct ks_entry *e, *current;
	struct ks_key moved;
	int r;

	*was = 0;
	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->mu);
	if ((r = ks_version_to_change(ks, name, version, &e)) != SG_OK)
		goto out;
	current = ks_entry_find(ks, name, 0);
	if (current != NULL && current->key.state == KS_STATE_ACTIVE && current != e) {
		if (current->key.version > version) {
			r = sg_fail(SG_ERR_STATE,
				    "key '%s' version %u is active; version %u is older and cannot "
				    "replace it",
				    name, current->key.version, version);
			goto out;
		}
		*was = current->key.version;
	}
	if (e->key.state == KS_STATE_ACTIVE) {
		/* done before (perhaps cut short after the switch): finish it, and say which
		 * version the switch deactivated */
		int64_t at = 0;

		for (size_t i = 0; i < e->key.n_transitions; i++)
			if (e->key.transitions[i].state == KS_STATE_ACTIVE && at == 0)
				at = e->key.transitions[i].at;
		for (size_t i = 0; *was == 0 && i < ks->n_entries; i++) {
			const struct ks_key *k = &ks->entries[i].key;

			if (strcmp(k->name, name) == 0 && k->version < version &&
			    k->state == KS_STATE_DEACTIVATED &&
			    k->transitions[k->n_transitions - 1].at == at)
				*was = k->version;
		}
		goto out;
	}
	if (e->key.state != KS_STATE_PRE_ACTIVATION) {
		r = sg_fail(SG_ERR_STATE,
			    "key '%s' version %u is %s: only a pre-activation version is activated "
			    "(a suspended one is resumed)",
			    name, version, ks_state_name(e->key.state));
		goto out;
	}
	/* the switch: from this write on, this version signs and the old one does not */
	if ((r = ks_key_moved(&e->key, KS_STATE_ACTIVE, &moved)) != SG_OK ||
	    (r = ks_record_write(ks, e, &moved)) != SG_OK)
		goto out;
	SG_FAULT("activate.after_switch");
	if ((r = ks_catalogue_refresh(ks)) == SG_OK) {
		uint32_t wrote;

		r = ks_repair(ks, name, &wrote);
	}
out:
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int ks_key_set_state(struct keystore *ks, const char *name, uint32_t version, enum ks_state state)
{
	struct ks_entry *e;
	struct ks_key key;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int r;

	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	pthread_mutex_lock(&ks->mu);
	if ((r = ks_version_to_change(ks, name, version, &e)) != SG_OK)
		goto out;
	key = e->key;
	if (state == KS_STATE_ACTIVE && key.state == KS_STATE_PRE_ACTIVATION) {
		r = sg_fail(SG_ERR_STATE, "key '%s' version %u is activated with ks_key_activate",
			    name, key.version);
		goto out;
	}
	if (state == KS_STATE_ACTIVE) {
		/* a resume: never beside another active version */
		struct ks_entry *current = ks_entry_find(ks, name, 0);

		if (current != NULL && current != e && current->key.state == KS_STATE_ACTIVE) {
			r = sg_fail(SG_ERR_STATE,
				    "key '%s' version %u is active; version %u cannot be resumed "
				    "beside it",
				    name, current->key.version, key.version);
			goto out;
		}
	}
	if (key.state == state) {
		r = SG_OK; /* done already (perhaps by a run cut short before it was recorded) */
		goto out;
	}
	if (!ks_state_transition_allowed(key.state, state)) {
		r = sg_fail(SG_ERR_STATE, "key '%s' version %u cannot go from %s to %s", name,
			    key.version, ks_state_name(key.state), ks_state_name(state));
		goto out;
	}
	ks_transition_add(&key, state, (int64_t)time(NULL));
	if ((r = ks_record_encode(&key, &blob, &blob_len)) != SG_OK)
		goto out;
	/* SP 800-57 "destroyed": the key material is gone. The private key is destroyed first:
	 * should the record then fail to update, the key cannot sign anyway, and the same call
	 * again finishes the job. The public key stays, to verify old signatures. */
	if (state == KS_STATE_DESTROYED &&
	    (r = ks->ops->destroy_private(ks->backend, e->label)) != SG_OK)
		goto out;
	if (state == KS_STATE_DESTROYED)
		SG_FAULT("destroy.after_private");
	pthread_mutex_lock(&ks->create_mu);
	r = ks->ops->record_update(ks->backend, e->label, blob, blob_len);
	pthread_mutex_unlock(&ks->create_mu);
	if (r != SG_OK)
		goto out;
	e->key = key;
out:
	pthread_mutex_unlock(&ks->mu);
	free(blob);
	return r;
}

int ks_key_private_present(struct keystore *ks, const char *name, uint32_t version, bool *present)
{
	char label[96];
	int r;

	*present = true;
	if ((r = ks_name_check(name)) != SG_OK)
		return r;
	ks_label_format(label, sizeof(label), name, version);
	return ks->ops->private_present(ks->backend, label, present);
}
