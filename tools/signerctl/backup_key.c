/* The backup key in signerctl (docs/backup.md): rebuilt from the custodians' shares for one
 * command, loaded into the token as a trusted session object, wiped after; new versions made
 * with their wrapped copy and backed up before they can be activated; the activation check
 * (backup_missing); and the backup-key-create ceremony. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "backup/keywrap.h"
#include "common/log.h"
#include "ctl_backup.h"

int ctl_shares_rebuild(const struct ctl_args *a, const struct backup_key_record *rec,
		       struct backup_secret *key)
{
	struct backup_secret lines[CTL_REPEAT_MAX] = {{0}};
	unsigned n = a->count[CTL_OPT_SHARE];
	int r = SG_OK;

	memset(key, 0, sizeof(*key));
	if (n < rec->threshold)
		return sg_fail(SG_ERR_PERMISSION,
			       "backup key %s needs %u shares (--share FILE, repeated); %u given",
			       rec->kid, rec->threshold, n);
	for (unsigned i = 0; i < n && r == SG_OK; i++)
		if ((r = backup_share_read(a->all[CTL_OPT_SHARE][i], &lines[i])) != SG_OK)
			r = sg_context(r, "share %u", i + 1);
	if (r == SG_OK)
		r = backup_shares_combine(rec, lines, n, key);
	for (unsigned i = 0; i < n; i++)
		backup_secret_free(&lines[i]);
	return r;
}

int ctl_backup_begin(struct ctl *ctl, const struct ctl_args *a, struct keystore *ks,
		     const struct backup_key_record *rec, struct ctl_backup *b)
{
	int r;

	memset(b, 0, sizeof(*b));
	b->ctl = ctl;
	if ((r = bundle_targets_open(&ctl->cfg, &b->targets)) != SG_OK)
		return r;
	b->targets_open = true;
	if (rec != NULL)
		b->rec = *rec;
	else if ((r = bundle_key_record_load(ks, &b->rec)) != SG_OK)
		return r;
	if (a == NULL) /* the activation check needs no secret */
		return SG_OK;
	if (ctl->cfg.token.so_pin_file == NULL)
		return sg_fail(SG_ERR_CONFIG,
			       "%s: token.so_pin_file is needed: only the security officer can "
			       "mark the backup key trusted for wrapping (docs/backup.md)",
			       ctl->cfg.path);
	if ((r = ctl_shares_rebuild(a, &b->rec, &b->key)) != SG_OK)
		return r;
	if ((r = ks_backup_key_load(ks, ctl->cfg.token.so_pin_file, b->key.bytes, b->key.len)) !=
	    SG_OK)
		return sg_context(r, "loading the backup key into the token");
	b->ks = ks;
	return SG_OK;
}

void ctl_backup_end(struct ctl_backup *b)
{
	if (b->ks != NULL)
		ks_backup_key_unload(b->ks);
	b->ks = NULL;
	backup_secret_free(&b->key);
	if (b->targets_open)
		bundle_targets_close(&b->targets);
	b->targets_open = false;
}

/* An Ed25519 version the token cannot wrap: the seed made here in locked memory, wrapped here
 * under the backup key (RFC 5649 over PKCS#8, as the token would), imported, wiped. */
static int make_in_ceremony(struct ctl_backup *b, struct keystore *ks,
			    const struct signer_key_change *c, bool new_key, struct ks_key *key,
			    uint8_t *wrapped, size_t *wrapped_len)
{
	struct backup_secret seed = {0}, der = {0};
	int r;

	if ((r = backup_secret_random(32, &seed)) != SG_OK ||
	    (r = backup_secret_new(PKCS8_ED25519_LEN, &der)) != SG_OK)
		goto out;
	pkcs8_ed25519_encode(seed.bytes, der.bytes);
	if (keywrap_pad_wrapped_len(der.len) > KS_WRAPPED_MAX) {
		r = sg_fail(SG_ERR_INTERNAL, "the wrapped key would not fit");
		goto out;
	}
	if ((r = keywrap_pad_wrap(b->key.bytes, b->key.len, der.bytes, der.len, wrapped,
				  wrapped_len)) != SG_OK)
		goto out;
	r = ks_key_import(ks, c->name, KS_CHAIN_SOLANA, new_key, seed.bytes, seed.len, key);
out:
	backup_secret_free(&der);
	backup_secret_free(&seed);
	return r;
}

int ctl_backup_make(void *ctx, struct keystore *ks, const struct signer_key_change *c,
		    struct ks_key *key)
{
	struct ctl_backup *b = ctx;
	bool new_key = c->action == SIGNER_KEY_CREATE, can_wrap = false;
	enum ks_chain chain = KS_CHAIN_SOLANA;
	uint8_t wrapped[KS_WRAPPED_MAX];
	size_t wrapped_len = 0;
	unsigned durable = 0;
	struct bundle_blob blob;
	int r;

	if (new_key) {
		struct ks_key left;

		if (c->chain == NULL || (r = ks_chain_parse(c->chain, &chain)) != SG_OK)
			return sg_fail(SG_ERR_INVALID_ARGUMENT, "no chain");
		/* a version 1 left by a run cut short before its backup was durable (it never
		 * signed: pre-activation, one transition) is discarded and made again */
		if (ks_key_get(ks, c->name, 1, &left) == SG_OK && left.n_transitions == 1 &&
		    left.state == KS_STATE_PRE_ACTIVATION &&
		    ctl_backup_check(b, ks, c->name, 1) != SG_OK &&
		    (r = ks_key_discard(ks, c->name, 1)) != SG_OK)
			return r;
	} else {
		struct ks_key cur;

		if ((r = ks_key_get(ks, c->name, 0, &cur)) != SG_OK)
			return r;
		chain = cur.chain;
	}
	if ((r = ks_wrap_supported(ks, chain, &can_wrap)) != SG_OK)
		return r;
	if (can_wrap)
		r = ks_key_generate_wrapped(ks, c->name, chain, new_key, key, wrapped,
					    &wrapped_len);
	else if (chain == KS_CHAIN_SOLANA)
		r = make_in_ceremony(b, ks, c, new_key, key, wrapped, &wrapped_len);
	else
		r = sg_fail(SG_ERR_UNSUPPORTED, "the token cannot wrap a %s key",
			    ks_chain_name(chain));
	if (r != SG_OK)
		return r;
	blob = (struct bundle_blob){
		.name = key->name, .version = key->version, .data = wrapped, .len = wrapped_len};
	r = bundle_write(&b->targets, ks, b->ctl->cfg.token.label, &b->rec, &blob, 1, NULL,
			 &durable, NULL);
	sodium_memzero(wrapped, sizeof(wrapped));
	if (r != SG_OK) {
		/* no version that is not backed up: it never signed, it goes */
		int d = ks_key_discard(ks, key->name, key->version);

		return sg_context(r, "%s v%u %s", key->name, key->version,
				  d == SG_OK ? "was not kept"
					     : "could not be backed up nor removed; remove it");
	}
	return SG_OK;
}

int ctl_backup_check(void *ctx, struct keystore *ks, const char *name, uint32_t version)
{
	struct ctl_backup *b = ctx;
	struct bundle_auth auth = {.ks = ks, .kid = b->rec.kid};
	struct ks_key key;
	char hex[2 * KS_PUBKEY_MAX + 1], missing[512] = "";
	unsigned held = 0;
	size_t used = 0;
	int r;

	if (name == NULL)
		return sg_fail(SG_ERR_MALFORMED, "no key name to check the backup of");
	if ((r = ks_key_get(ks, name, version, &key)) != SG_OK)
		return r;
	sodium_bin2hex(hex, sizeof(hex), key.public_key, key.public_key_len);
	for (size_t i = 0; i < b->targets.n; i++) {
		struct backup_target *t = b->targets.t[i];
		json_t *m = NULL, *e;
		size_t k;
		bool ok = false;
		const char *why = "its newest backup lacks it";
		int mr = bundle_newest_good(t, &auth, &m);

		/* held: in the target's newest authentic and whole backup of this token, the same
		 * key pair, with its wrapped key (an object that backup verified) */
		if (mr != SG_OK) {
			why = sg_errmsg(mr);
		} else if (strcmp(json_string_value(json_object_get(m, "token")),
				  b->ctl->cfg.token.label) == 0) {
			json_array_foreach (json_object_get(m, "keys"), k, e)
				if (strcmp(json_string_value(json_object_get(e, "name")), name) ==
					    0 &&
				    json_integer_value(json_object_get(e, "version")) ==
					    (json_int_t)version &&
				    strcmp(json_string_value(json_object_get(e, "public_key_hex")),
					   hex) == 0 &&
				    json_is_object(json_object_get(e, "wrapped")))
					ok = true;
		}
		json_decref(m);
		if (ok)
			held++;
		else if (used < sizeof(missing))
			used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%s: %s",
						 used > 0 ? "; " : "", backup_target_name(t), why);
	}
	if (held >= b->targets.min_targets)
		return SG_OK;
	return sg_fail(SG_ERR_STATE,
		       "backup_missing: %s v%u is backed up in %u target(s); backup.min_targets "
		       "is %u (%s); run 'signerctl backup sync' or back it up again",
		       name, version, held, b->targets.min_targets, missing);
}

/* ---- backup-key-create --------------------------------------------------------------- */

static int write_owner_only(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(text);

	if (fd < 0)
		return sg_fail(SG_ERR_IO, "%s: %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		int e = errno;

		close(fd);
		return sg_fail(SG_ERR_IO, "%s: %s", path, strerror(e));
	}
	return close(fd) == 0 ? SG_OK : sg_fail(SG_ERR_IO, "%s: %s", path, strerror(errno));
}

int ctl_backup_key_create(struct ctl *ctl, struct keystore *ks, unsigned n_shares,
			  unsigned threshold, const char *out_dir, json_t **result)
{
	struct bundle_targets ts;
	struct backup_key_record rec, existing;
	struct backup_secret key = {0}, mac = {0}, lines[BACKUP_SHARES_MAX] = {{0}};
	char *armored[BACKUP_SHARES_MAX] = {NULL};
	uint8_t mac_wrapped[64];
	size_t mac_wrapped_len = 0;
	char mac_hex[2 * sizeof(mac_wrapped) + 1];
	unsigned durable = 0;
	json_t *shares = NULL, *rj = NULL;
	int r;

	*result = NULL;
	if (n_shares > ctl->cfg.ceremonies.n_custodians || threshold > n_shares || threshold < 2)
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "%u shares with threshold %u: need 2 <= threshold <= shares <= %zu "
			       "custodians",
			       n_shares, threshold, ctl->cfg.ceremonies.n_custodians);
	r = bundle_key_record_load(ks, &existing);
	if (r == SG_OK)
		return sg_fail(SG_ERR_EXISTS,
			       "the token has backup key %s already (made %lld); its keys are "
			       "wrapped under it",
			       existing.kid, (long long)existing.created_at);
	if (r != SG_ERR_NOT_FOUND)
		return r;
	if ((r = bundle_targets_open(&ctl->cfg, &ts)) != SG_OK)
		return r;
	if ((r = backup_secret_random(BACKUP_KEY_LEN, &key)) != SG_OK ||
	    (r = backup_shares_split(&key, threshold, n_shares, lines, &rec)) != SG_OK)
		goto out;
	for (unsigned i = 0; i < n_shares; i++) {
		const struct signer_config_custodian *c = &ctl->cfg.ceremonies.custodians[i];

		snprintf(rec.shares[i].custodian, sizeof(rec.shares[i].custodian), "%s", c->name);
		if ((r = backup_share_encrypt(ctl->cfg.ceremonies.gnupg_home, c->fingerprint,
					      &lines[i], &armored[i])) != SG_OK) {
			r = sg_context(r, "the share of %s", c->name);
			goto out;
		}
	}
	/* the manifests' MAC key: in the token (never extractable), and wrapped under the backup
	 * key for every manifest, so that a restore can check manifests with the shares alone */
	if ((r = backup_secret_random(KS_MAC_LEN, &mac)) != SG_OK ||
	    (r = keywrap_pad_wrap(key.bytes, key.len, mac.bytes, mac.len, mac_wrapped,
				  &mac_wrapped_len)) != SG_OK)
		goto out;
	sodium_bin2hex(mac_hex, sizeof(mac_hex), mac_wrapped, mac_wrapped_len);
	/* the whole key is needed no more: wiped before anything is written */
	backup_secret_free(&key);
	for (unsigned i = 0; i < n_shares; i++)
		backup_secret_free(&lines[i]);
	rj = backup_key_record_json(&rec);
	if (rj == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "the backup key record");
		goto out;
	}
	/* every target gets the record and the encrypted shares; enough of them must hold them
	 * before the token records the key */
	for (size_t t = 0; t < ts.n; t++) {
		char name[BACKUP_OBJECT_NAME_MAX + 1];
		char *text = json_dumps(rj, JSON_INDENT(1) | JSON_SORT_KEYS);
		int tr;

		snprintf(name, sizeof(name), "backup-keys/%s.json", rec.kid);
		tr = text != NULL
			     ? backup_target_put(ts.t[t], name, (const uint8_t *)text, strlen(text))
			     : sg_fail(SG_ERR_NOMEM, "the backup key record");
		free(text);
		for (unsigned i = 0; tr == SG_OK && i < n_shares; i++) {
			snprintf(name, sizeof(name), "shares/%s/%s.asc", rec.kid,
				 rec.shares[i].custodian);
			tr = backup_target_put(ts.t[t], name, (const uint8_t *)armored[i],
					       strlen(armored[i]));
		}
		if (tr == SG_OK)
			durable++;
		else
			sg_log("backup-key-create: target %s: %s", backup_target_name(ts.t[t]),
			       sg_errmsg(tr));
	}
	if (durable < ts.min_targets) {
		r = sg_fail(
			SG_ERR_IO,
			"the backup key's shares are in %u target(s); backup.min_targets is %u: "
			"the key is not kept",
			durable, ts.min_targets);
		goto out;
	}
	if (out_dir != NULL) {
		for (unsigned i = 0; i < n_shares && r == SG_OK; i++) {
			char *path = NULL;

			if (asprintf(&path, "%s/%s.asc", out_dir, rec.shares[i].custodian) < 0) {
				r = sg_fail(SG_ERR_NOMEM, "a share's path");
				break;
			}
			r = write_owner_only(path, armored[i]);
			free(path);
		}
		if (r != SG_OK)
			goto out;
	}
	/* the MAC key before the record: a token with a backup key has its MAC key */
	if ((r = ks_mac_key_store(ks, rec.kid, mac.bytes, mac.len)) != SG_OK ||
	    (r = ks_state_put(ks, "backup-mac", (const uint8_t *)mac_hex, strlen(mac_hex))) !=
		    SG_OK ||
	    (r = bundle_key_record_store(ks, &rec)) != SG_OK)
		goto out;
	shares = json_array();
	for (unsigned i = 0; shares != NULL && i < n_shares; i++)
		json_array_append_new(shares,
				      json_pack("{s:s, s:i, s:s}", "custodian",
						rec.shares[i].custodian, "index",
						(int)rec.shares[i].index, "encrypted", armored[i]));
	*result = json_pack("{s:s, s:i, s:i, s:o, s:i}", "kid", rec.kid, "threshold",
			    (int)rec.threshold, "shares_made", (int)n_shares, "shares", shares,
			    "targets", (int)durable);
	if (*result == NULL)
		r = sg_fail(SG_ERR_NOMEM, "the result");
out:
	json_decref(rj);
	backup_secret_free(&key);
	backup_secret_free(&mac);
	for (unsigned i = 0; i < BACKUP_SHARES_MAX; i++) {
		backup_secret_free(&lines[i]);
		free(armored[i]);
	}
	bundle_targets_close(&ts);
	return r;
}
