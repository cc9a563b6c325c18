/* signerctl readiness: the backups (every version that can sign or soon will in min_targets
 * targets' newest good backups, and a fresh state backup), the targets themselves, and the
 * ceremonies' custodians (their keys in the keyring, the quorums, the backup key's record). The
 * backups are read as backup verify and the activation check read them: each target's newest
 * good backup (bundle_newest_good: authentic, every object checked), of this token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <gpgme.h>
#include <sodium.h>

#include "backup/bundle.h"
#include "ctl_readiness.h"

/* The RPO of the state backups is the hourly timer's hour: past it plus the timer's random delay
 * (5 min) and some slack the newest state backup is late; past a day, the timer has stopped. */
#define STATE_WARN_SECONDS (70 * 60)
#define STATE_FAIL_SECONDS (24 * 3600)

/* Reads every target's newest good backup once (with the token's MAC key when the token and its
 * backup key record can be read; integrity alone otherwise). */
static void targets_read(struct rd_ctx *c)
{
	struct bundle_targets ts;
	struct backup_key_record rec;
	struct bundle_auth auth;
	int r;

	if (c->targets_read)
		return;
	c->targets_read = true;
	if (c->ks != NULL && (r = bundle_key_record_load(c->ks, &rec)) == SG_OK) {
		auth = (struct bundle_auth){.ks = c->ks, .kid = rec.kid};
		c->have_auth = true;
	} else {
		snprintf(c->record_error, sizeof(c->record_error), "%s",
			 c->ks == NULL ? "the token failed" : sg_errmsg(r));
	}
	if ((r = bundle_targets_open(c->cfg, &ts)) != SG_OK) {
		snprintf(c->targets_error, sizeof(c->targets_error), "%s", sg_errmsg(r));
		return;
	}
	c->n_targets = ts.n;
	for (size_t i = 0; i < ts.n; i++) {
		struct rd_target *t = &c->targets[i];
		char **names = NULL;
		json_t *m = NULL;

		r = bundle_manifests(ts.t[i], &names, &t->n_backups);
		backup_names_free(names, t->n_backups);
		if (r != SG_OK) {
			snprintf(t->why, sizeof(t->why), "%s", sg_errmsg(r));
			continue;
		}
		t->listed = true;
		r = bundle_newest_good(ts.t[i], c->have_auth ? &auth : NULL, &m);
		if (r != SG_OK) {
			snprintf(t->why, sizeof(t->why), "%s", sg_errmsg(r));
			continue;
		}
		if (strcmp(json_string_value(json_object_get(m, "token")), c->cfg->token.label) !=
		    0) {
			snprintf(t->why, sizeof(t->why),
				 "its newest good backup is of token '%s', not '%s'",
				 json_string_value(json_object_get(m, "token")),
				 c->cfg->token.label);
			json_decref(m);
			continue;
		}
		t->newest = m;
		t->authentic = c->have_auth;
	}
	bundle_targets_close(&ts);
}

void rd_targets_free(struct rd_ctx *c)
{
	for (size_t i = 0; i < c->n_targets; i++) {
		json_decref(c->targets[i].newest);
		c->targets[i].newest = NULL;
	}
	c->n_targets = 0;
}

/* Whether a manifest holds this version, the same key pair, with its wrapped key. */
static bool manifest_holds(const json_t *m, const struct ks_key *k)
{
	char hex[2 * KS_PUBKEY_MAX + 1];
	json_t *e;
	size_t i;

	if (m == NULL)
		return false;
	sodium_bin2hex(hex, sizeof(hex), k->public_key, k->public_key_len);
	json_array_foreach (json_object_get(m, "keys"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "name")), k->name) == 0 &&
		    json_integer_value(json_object_get(e, "version")) == (json_int_t)k->version &&
		    strcmp(json_string_value(json_object_get(e, "public_key_hex")), hex) == 0 &&
		    json_is_object(json_object_get(e, "wrapped")))
			return true;
	return false;
}

/* The newest state backup's time across the targets' newest good backups (a backup of keys
 * carries the state it was made after, with that state's made_at), or -1. */
static int64_t newest_state_at(const struct rd_ctx *c)
{
	int64_t newest = -1;

	for (size_t i = 0; i < c->n_targets; i++) {
		int64_t at = bundle_state_made_at(c->targets[i].newest);

		if (at > newest)
			newest = at;
	}
	return newest;
}

void rd_check_backups(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config *cfg = c->cfg;
	struct ks_key *keys = NULL;
	size_t n = 0, checked = 0;
	int64_t state_at, age;
	char when[32], span[32];
	int r;

	if (!cfg->backup.present) {
		rd_warn(res, "no backup configured: a lost token loses its keys (docs/backup.md)");
		return;
	}
	if (c->ks == NULL) {
		rd_warn(res, "not checked: the token failed");
		return;
	}
	targets_read(c);
	if (c->targets_error[0] != '\0') {
		rd_fail(res, "%s", c->targets_error);
		return;
	}
	if (!c->have_auth) {
		rd_fail(res, "the token's backup key record cannot be read: %s", c->record_error);
		return;
	}
	if ((r = ks_key_list(c->ks, &keys, &n)) != SG_OK) {
		rd_fail(res, "the token's catalogue: %s", sg_errmsg(r));
		return;
	}
	for (size_t k = 0; k < n; k++) {
		char missing[700] = "";
		size_t used = 0;
		unsigned held = 0;

		if (keys[k].state != KS_STATE_ACTIVE && keys[k].state != KS_STATE_PRE_ACTIVATION)
			continue;
		checked++;
		for (size_t i = 0; i < c->n_targets; i++) {
			const struct rd_target *t = &c->targets[i];
			const char *name = cfg->backup.targets[i].name;

			if (manifest_holds(t->newest, &keys[k]))
				held++;
			else if (used < sizeof(missing))
				used += (size_t)snprintf(missing + used, sizeof(missing) - used,
							 "%s%s: %s", used > 0 ? "; " : "", name,
							 t->newest == NULL ? t->why
									   : "its newest backup "
									     "lacks it");
		}
		if (held < cfg->backup.min_targets)
			rd_fail(res,
				"%s v%u (%s) is backed up in %u target(s); backup.min_targets is "
				"%u "
				"(%s)",
				keys[k].name, keys[k].version, ks_state_name(keys[k].state), held,
				cfg->backup.min_targets, missing);
	}
	free(keys);
	state_at = newest_state_at(c);
	age = (int64_t)time(NULL) - state_at;
	rd_time_text(state_at, when);
	rd_span_text(age, span);
	if (state_at < 0)
		rd_fail(res, "no state backup in any target's newest good backup: run signerctl "
			     "backup state (signerd-backup-state.timer, hourly)");
	else if (age > STATE_FAIL_SECONDS)
		rd_fail(res,
			"the newest state backup was made %s ago (%s): over 24 h; is "
			"signerd-backup-state.timer running?",
			span, when);
	else if (age > STATE_WARN_SECONDS)
		rd_warn(res,
			"the newest state backup was made %s ago (%s): over the hourly timer's 1 h "
			"RPO",
			span, when);
	rd_pass(res,
		"%zu key version%s (active or pre-activation) each in at least %u of %zu targets' "
		"newest good backups; newest state backup %s old (%s)",
		checked, checked == 1 ? "" : "s", cfg->backup.min_targets, c->n_targets, span,
		when);
}

/* Every target reachable (its backups listed), a directory target there and writable, and each
 * holding a good backup, the newest across all targets among them (as backup verify requires).
 * Nothing is written to a target: an S3 bucket under object lock would keep every probe. */
void rd_check_backup_targets(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config *cfg = c->cfg;
	int64_t newest_ns = 0;
	const char *newest_id = NULL;
	char names[600] = "";
	size_t used = 0;

	if (!cfg->backup.present) {
		rd_warn(res, "no backup configured: no targets to check");
		return;
	}
	targets_read(c);
	if (c->targets_error[0] != '\0') {
		rd_fail(res, "%s", c->targets_error);
		return;
	}
	for (size_t i = 0; i < c->n_targets; i++)
		if (c->targets[i].newest != NULL &&
		    bundle_created_ns(c->targets[i].newest) > newest_ns) {
			newest_ns = bundle_created_ns(c->targets[i].newest);
			newest_id = json_string_value(json_object_get(c->targets[i].newest, "id"));
		}
	for (size_t i = 0; i < c->n_targets; i++) {
		const struct signer_config_target *tc = &cfg->backup.targets[i];
		const struct rd_target *t = &c->targets[i];

		if (used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
						 used > 0 ? ", " : "", tc->name);
		if (tc->dir != NULL) {
			struct stat st;
			struct statvfs vfs;

			if (stat(tc->dir, &st) != 0) {
				rd_fail(res, "target %s: directory %s: %s", tc->name, tc->dir,
					strerror(errno));
				continue;
			}
			if (!S_ISDIR(st.st_mode)) {
				rd_fail(res, "target %s: %s is not a directory", tc->name, tc->dir);
				continue;
			}
			if (access(tc->dir, W_OK | X_OK) != 0) {
				rd_fail(res, "target %s: directory %s is not writable: %s",
					tc->name, tc->dir, strerror(errno));
				continue;
			}
			if (statvfs(tc->dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
				rd_fail(res, "target %s: directory %s is on a read-only filesystem",
					tc->name, tc->dir);
				continue;
			}
		}
		if (!t->listed) {
			rd_fail(res, "target %s is not reachable: %s", tc->name, t->why);
			continue;
		}
		if (t->newest == NULL) {
			rd_fail(res, "target %s: %s", tc->name, t->why);
			continue;
		}
		if (bundle_created_ns(t->newest) < newest_ns)
			rd_fail(res,
				"target %s lacks the newest backup %s: its newest good one is %s "
				"(signerctl backup sync copies it)",
				tc->name, newest_id,
				json_string_value(json_object_get(t->newest, "id")));
	}
	if (!c->have_auth)
		rd_warn(res,
			"the targets' backups are checked for integrity only (not authenticity): "
			"%s",
			c->record_error);
	rd_pass(res, "%zu target%s (%s) reachable, each holding the newest good backup %s",
		c->n_targets, c->n_targets == 1 ? "" : "s", names,
		newest_id != NULL ? newest_id : "");
}

/* ---- ceremonies ----------------------------------------------------------------------- */

static bool subkey_usable(gpgme_subkey_t s)
{
	return !s->revoked && !s->expired && !s->disabled && !s->invalid;
}

/* The custodian's pinned key in the keyring: its primary key's fingerprint the pinned one, a
 * usable key that signs (approvals) and one that encrypts (the backup key's shares). */
static void custodian_check(gpgme_ctx_t ctx, const char *home,
			    const struct signer_config_custodian *cu, struct rd_result *res)
{
	gpgme_key_t key = NULL;
	gpgme_error_t e = gpgme_get_key(ctx, cu->fingerprint, &key, 0);
	bool sign = false, encrypt = false;

	if (e != GPG_ERR_NO_ERROR || key == NULL) {
		rd_fail(res, "custodian %s: key %s is not in the keyring %s%s%s", cu->name,
			cu->fingerprint, home, gpg_err_code(e) == GPG_ERR_EOF ? "" : ": ",
			gpg_err_code(e) == GPG_ERR_EOF ? "" : gpgme_strerror(e));
		gpgme_key_unref(key);
		return;
	}
	if (key->subkeys == NULL || key->subkeys->fpr == NULL ||
	    strcasecmp(key->subkeys->fpr, cu->fingerprint) != 0) {
		rd_fail(res, "custodian %s: %s is not a primary key's fingerprint in %s", cu->name,
			cu->fingerprint, home);
		gpgme_key_unref(key);
		return;
	}
	for (gpgme_subkey_t s = key->subkeys; s != NULL; s = s->next) {
		sign |= s->can_sign && subkey_usable(s);
		encrypt |= s->can_encrypt && subkey_usable(s);
	}
	if (key->revoked || key->expired || key->disabled)
		rd_fail(res, "custodian %s: key %s is %s", cu->name, cu->fingerprint,
			key->revoked   ? "revoked"
			: key->expired ? "expired"
				       : "disabled");
	else if (!sign || !encrypt)
		rd_fail(res, "custodian %s: key %s has no usable %s%s%s subkey", cu->name,
			cu->fingerprint, !sign ? "signing" : "", !sign && !encrypt ? " or " : "",
			!encrypt ? "encryption" : "");
	gpgme_key_unref(key);
}

void rd_check_ceremonies(struct rd_ctx *c, struct rd_result *res)
{
	const struct signer_config *cfg = c->cfg;
	const char *home = cfg->ceremonies.gnupg_home;
	size_t n = cfg->ceremonies.n_custodians;
	gpgme_ctx_t ctx = NULL;
	gpgme_error_t e;
	struct stat st;
	char record[200] = "";

	if (!cfg->ceremonies.present) {
		rd_warn(res, "no ceremonies configured: lifecycle commands run without M-of-N "
			     "approval (docs/ceremonies.md)");
		return;
	}
	if (home == NULL) {
		rd_fail(res, "%s has no ceremonies.gnupg_home", cfg->path);
	} else if (stat(home, &st) != 0) {
		rd_fail(res, "ceremonies.gnupg_home %s: %s", home, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		rd_fail(res, "ceremonies.gnupg_home %s is not a directory", home);
	} else {
		gpgme_check_version(NULL);
		if ((e = gpgme_new(&ctx)) != GPG_ERR_NO_ERROR ||
		    (e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)) != GPG_ERR_NO_ERROR ||
		    (e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home)) !=
			    GPG_ERR_NO_ERROR) {
			rd_fail(res, "GPGME with %s: %s", home, gpgme_strerror(e));
		} else {
			gpgme_set_offline(ctx, 1);
			for (size_t i = 0; i < n; i++)
				custodian_check(ctx, home, &cfg->ceremonies.custodians[i], res);
		}
		gpgme_release(ctx);
	}
	/* the config refuses a quorum over the custodians; one equal to them stops every
	 * ceremony when a single custodian is away */
	if (cfg->ceremonies.quorum_default > n)
		rd_fail(res, "the default quorum %u is more than the %zu custodians",
			cfg->ceremonies.quorum_default, n);
	for (size_t i = 0; i < cfg->ceremonies.n_quorum; i++)
		if (cfg->ceremonies.quorum[i].quorum > n)
			rd_fail(res, "the quorum of %s (%u) is more than the %zu custodians",
				cfg->ceremonies.quorum[i].action, cfg->ceremonies.quorum[i].quorum,
				n);
	if (cfg->ceremonies.quorum_default == n && n > 1)
		rd_warn(res,
			"the default quorum is every custodian (%zu): one away stops every "
			"ceremony",
			n);
	if (cfg->backup.present) {
		struct backup_key_record rec;
		int r;

		if (cfg->backup.share_threshold > n)
			rd_fail(res, "backup.share_threshold %u is more than the %zu custodians",
				cfg->backup.share_threshold, n);
		if (c->ks == NULL) {
			rd_warn(res, "the backup key's record is not checked: the token failed");
		} else if ((r = bundle_key_record_load(c->ks, &rec)) != SG_OK) {
			rd_fail(res, "the backup key's record: %s", sg_errmsg(r));
		} else {
			for (size_t s = 0; s < rec.n_shares; s++) {
				bool pinned = false;

				for (size_t i = 0; i < n; i++)
					pinned |= strcmp(rec.shares[s].custodian,
							 cfg->ceremonies.custodians[i].name) == 0;
				if (!pinned)
					rd_warn(res,
						"share %u of backup key %s was given to '%s', who "
						"is "
						"not a custodian now",
						rec.shares[s].index, rec.kid,
						rec.shares[s].custodian);
			}
			snprintf(record, sizeof(record), "; backup key %s: %zu shares, %u needed",
				 rec.kid, rec.n_shares, rec.threshold);
		}
	}
	rd_pass(res, "%zu custodians, each key in %s able to sign and encrypt; quorum %u%s", n,
		home, cfg->ceremonies.quorum_default, record);
}
