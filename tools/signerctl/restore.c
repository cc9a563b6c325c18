/* signerctl restore and dr drill (API.md section 6; docs/backup.md): the newest backup that
 * checks out, into an empty token (restore) or a scratch token made for the drill; every
 * version with its state, each key pair checked against the backup's public key, a probe
 * signature per active version, the audit log and its anchor. A restore cut short (kill -9)
 * finishes when run again: the token remembers which backup it was restoring. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backup/keywrap.h"
#include "chain/evm/sig.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ctl_backup.h"
#include "signer/keyinfo.h"

#define RESTORE_MARK "restore"

static const char *base_of(const char *name)
{
	const char *b = strrchr(name, '/');

	return b != NULL ? b + 1 : name;
}

/* The manifest of that id on t (a restore resumed), or the newest that checks out. */
static int manifest_pick(struct backup_target *t, const struct bundle_auth *auth, const char *id,
			 json_t **out)
{
	char **names = NULL, why[600];
	size_t n = 0;
	int r;

	if (id == NULL)
		return bundle_newest_good(t, auth, out);
	*out = NULL;
	if ((r = bundle_manifests(t, &names, &n)) != SG_OK)
		return r;
	r = sg_fail(SG_ERR_NOT_FOUND,
		    "%s does not hold backup %s, which this token was being "
		    "restored from",
		    backup_target_name(t), id);
	for (size_t k = 0; k < n; k++) {
		json_t *m = NULL;

		if (strstr(base_of(names[k]), id) == NULL ||
		    bundle_manifest_get(t, names[k], auth, &m) != SG_OK)
			continue;
		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0 &&
		    (r = bundle_manifest_verify(t, m, why, sizeof(why))) == SG_OK) {
			*out = m;
			break;
		}
		json_decref(m);
	}
	backup_names_free(names, n);
	return r;
}

/* The newest backup that checks out, across every target ("the newest backup" is the newest
 * across all targets, API.md section 9): from the target asked for when it holds it; from
 * another when from's copy fails its checks, or from is down, or lacks it. An older backup of
 * from is never preferred to a newer one elsewhere (it would lose the versions made since). */
static int source_pick(struct bundle_targets *ts, const struct bundle_auth *auth, const char *from,
		       const char *id, struct backup_target **src, json_t **m)
{
	struct backup_target *t = bundle_target_find(ts, from);
	json_int_t best_at = -1;

	*m = NULL;
	if (t == NULL)
		return sg_fail(SG_ERR_NOT_FOUND, "no backup target named '%s'", from);
	for (size_t k = 0; k <= ts->n; k++) {
		/* from first, so that it wins a tie */
		struct backup_target *cand_t = k == 0 ? t : ts->t[k - 1];
		json_t *cand = NULL;
		int r;

		if (k > 0 && cand_t == t)
			continue;
		if ((r = manifest_pick(cand_t, auth, id, &cand)) != SG_OK) {
			sg_log("restore: %s: %s", backup_target_name(cand_t), sg_errmsg(r));
			continue;
		}
		if (*m == NULL || bundle_created_ns(cand) > best_at) {
			json_decref(*m);
			*m = cand;
			*src = cand_t;
			best_at = bundle_created_ns(cand);
		} else {
			json_decref(cand);
		}
	}
	if (*m == NULL)
		return sg_fail(SG_ERR_NOT_FOUND, "no target holds a backup that passes its checks");
	if (*src != t)
		sg_log("restore: restoring from %s: it holds the newest backup that passes its "
		       "checks",
		       backup_target_name(*src));
	return SG_OK;
}

/* The kid a share line names ("signerd-share-1 <kid> ..."): public, read to find the backups
 * of that key. */
static int share_kid(const struct backup_secret *line, char kid[BACKUP_KID_LEN + 1])
{
	static const char prefix[] = "signerd-share-1 ";

	if (line->len < sizeof(prefix) - 1 + BACKUP_KID_LEN ||
	    memcmp(line->bytes, prefix, sizeof(prefix) - 1) != 0)
		return sg_fail(SG_ERR_PERMISSION, "share 1 is not a share (signerd-share-1 ...)");
	memcpy(kid, line->bytes + sizeof(prefix) - 1, BACKUP_KID_LEN);
	kid[BACKUP_KID_LEN] = '\0';
	if (strspn(kid, "0123456789abcdef") != BACKUP_KID_LEN)
		return sg_fail(SG_ERR_PERMISSION, "share 1 is not a share (its key id)");
	return SG_OK;
}

/* The backup key from the shares and the manifests' MAC key from a backup of that key (each
 * backup carries the MAC key wrapped under it): the record the shares are checked against
 * comes from a backup of their kid; a forged record (its share hashes not the custodians')
 * makes the next backup's be tried, and the first refusal is the one reported. */
static int keys_rebuild(const struct ctl_args *a, struct bundle_targets *ts,
			struct backup_key_record *rec, struct backup_secret *key,
			struct backup_secret *mac, char kid[BACKUP_KID_LEN + 1])
{
	struct backup_secret first = {0};
	int r, first_err = SG_OK;
	char first_msg[512] = "";
	bool found = false;

	if (a->count[CTL_OPT_SHARE] == 0)
		return sg_fail(SG_ERR_PERMISSION, "no share given (--share FILE, repeated)");
	if ((r = backup_share_read(a->all[CTL_OPT_SHARE][0], &first)) != SG_OK)
		return sg_context(r, "share 1");
	r = share_kid(&first, kid);
	backup_secret_free(&first);
	if (r != SG_OK)
		return r;
	for (size_t i = 0; i < ts->n && mac->bytes == NULL; i++) {
		char **names = NULL;
		size_t n = 0;

		if (bundle_manifests(ts->t[i], &names, &n) != SG_OK)
			continue;
		for (size_t k = n; k-- > 0 && mac->bytes == NULL;) {
			json_t *m = NULL;
			uint8_t wrapped[64];
			size_t wrapped_len = 0;
			const char *hex;

			if (bundle_manifest_get(ts->t[i], names[k], NULL, &m) != SG_OK ||
			    strcmp(json_string_value(json_object_get(
					   json_object_get(m, "backup_key"), "kid")),
				   kid) != 0) {
				json_decref(m);
				continue;
			}
			found = true;
			if (key->bytes == NULL &&
			    (r = backup_key_record_parse(json_object_get(m, "backup_key"), rec)) ==
				    SG_OK &&
			    (r = ctl_shares_rebuild(a, rec, key)) != SG_OK && first_err == SG_OK) {
				first_err = r;
				snprintf(first_msg, sizeof(first_msg), "%s", sg_errmsg(r));
			}
			hex = json_string_value(json_object_get(m, "mac_key_wrapped"));
			if (key->bytes != NULL && hex != NULL &&
			    sodium_hex2bin(wrapped, sizeof(wrapped), hex, strlen(hex), NULL,
					   &wrapped_len, NULL) == 0 &&
			    keywrap_pad_unwrap(key->bytes, key->len, wrapped, wrapped_len, mac) ==
				    SG_OK &&
			    mac->len != KS_MAC_LEN)
				backup_secret_free(mac);
			json_decref(m);
		}
		backup_names_free(names, n);
	}
	if (mac->bytes != NULL)
		return SG_OK;
	if (first_err != SG_OK)
		return sg_fail(first_err, "%s", first_msg);
	if (!found)
		return sg_fail(SG_ERR_NOT_FOUND,
			       "no target holds a backup of backup key %s (the shares' key)", kid);
	return sg_fail(SG_ERR_VERIFY, "no backup of backup key %s holds a MAC key it unwraps", kid);
}

/* A backup that says two versions of one key are active is refused (the catalogue allows one). */
static int one_active_each(const json_t *m)
{
	json_t *e, *f;
	size_t i, j;

	json_array_foreach (json_object_get(m, "keys"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "state")), "active") != 0)
			continue;
		json_array_foreach (json_object_get(m, "keys"), j, f)
			if (j > i &&
			    strcmp(json_string_value(json_object_get(f, "state")), "active") == 0 &&
			    strcmp(json_string_value(json_object_get(f, "name")),
				   json_string_value(json_object_get(e, "name"))) == 0)
				return sg_fail(SG_ERR_MALFORMED,
					       "the backup has two active versions of '%s'",
					       json_string_value(json_object_get(e, "name")));
	}
	return SG_OK;
}

/* Signs a random challenge with an active version and verifies it with the backup's key. */
static bool probe(struct keystore *ks, const struct ks_key *k)
{
	uint8_t msg[32], sig[KS_SIGNATURE_MAX];
	size_t sig_len = 0;
	struct evm_sig es;

	randombytes_buf(msg, sizeof(msg));
	if (ks_sign(ks, k->name, k->version, msg, sizeof(msg), sig, &sig_len) != SG_OK ||
	    sig_len != 64)
		return false;
	if (k->chain == KS_CHAIN_SOLANA)
		return crypto_sign_verify_detached(sig, msg, sizeof(msg), k->public_key) == 0;
	/* the door's own check of a secp256k1 signature: it verifies for the key's point */
	return k->public_key_len == 65 && evm_sig_finish(msg, sig, k->public_key, &es) == SG_OK;
}

static int restore_version(struct ctl_backup *b, struct backup_target *src, struct keystore *ks,
			   json_t *e, struct ks_key *key)
{
	json_t *w = json_object_get(e, "wrapped");
	uint8_t *blob = NULL;
	struct backup_secret der = {0};
	uint8_t seed[32];
	int r;

	if ((r = bundle_key_parse(e, key)) != SG_OK)
		return r;
	if (key->state == KS_STATE_DESTROYED)
		return ks_key_restore(ks, key, NULL, 0, NULL, 0);
	if (!json_is_object(w))
		return sg_fail(SG_ERR_NOT_FOUND,
			       "the backup holds no wrapped private key of %s v%u", key->name,
			       key->version);
	if ((r = bundle_object_get(src, json_string_value(json_object_get(w, "sha256")),
				   (size_t)json_integer_value(json_object_get(w, "size")),
				   &blob)) != SG_OK)
		return r;
	if (key->chain == KS_CHAIN_EVM) {
		r = ks_key_restore(ks, key, blob,
				   (size_t)json_integer_value(json_object_get(w, "size")), NULL, 0);
	} else {
		/* SoftHSM2 2.6 cannot unwrap an Ed25519 key: unwrapped here, in locked memory */
		r = keywrap_pad_unwrap(b->key.bytes, b->key.len, blob,
				       (size_t)json_integer_value(json_object_get(w, "size")),
				       &der);
		if (r == SG_OK)
			r = pkcs8_ed25519_decode(der.bytes, der.len, seed);
		if (r == SG_OK)
			r = ks_key_restore(ks, key, NULL, 0, seed, sizeof(seed));
		sodium_memzero(seed, sizeof(seed));
		backup_secret_free(&der);
	}
	free(blob);
	return r;
}

/* Writes an object of the backup to path (a temporary name, fsync, rename): none there, or the
 * same bytes (a rerun). */
static int file_restore(struct backup_target *src, const json_t *o, const char *path, mode_t mode)
{
	uint8_t *data = NULL, *have = NULL;
	size_t size = (size_t)json_integer_value(json_object_get(o, "size"));
	char *tmp = NULL;
	struct stat st;
	int fd = -1, r;

	if ((r = bundle_object_get(src, json_string_value(json_object_get(o, "sha256")), size,
				   &data)) != SG_OK)
		return r;
	if (stat(path, &st) == 0) {
		FILE *f = fopen(path, "rb");

		have = f != NULL && (size_t)st.st_size == size ? malloc(size + 1) : NULL;
		r = have != NULL && fread(have, 1, size, f) == size && memcmp(have, data, size) == 0
			    ? SG_OK
			    : sg_fail(SG_ERR_EXISTS,
				      "%s exists and is not the backup's: move it away first",
				      path);
		if (f != NULL)
			fclose(f);
		goto out;
	}
	if (asprintf(&tmp, "%s.restore.tmp", path) < 0) {
		tmp = NULL;
		r = sg_fail(SG_ERR_NOMEM, "%s", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || fsync(fd) != 0 ||
	    rename(tmp, path) != 0) {
		r = sg_fail(SG_ERR_IO, "%s: %s", path, strerror(errno));
		(void)unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(have);
	free(data);
	return r;
}

/* The audit log (its segments and active file) and the token's anchor. */
static int audit_restore(struct backup_target *src, struct keystore *ks, const json_t *state,
			 const char *audit_path, json_t *report)
{
	json_t *o, *anchors = json_object_get(state, "audit_anchor");
	size_t i;
	int r;

	json_array_foreach (json_object_get(state, "audit"), i, o) {
		const char *file = json_string_value(json_object_get(o, "file"));
		char *path = NULL;

		if (file == NULL ||
		    (strcmp(file, "current") != 0 && strspn(file, "0123456789") != strlen(file)))
			return sg_fail(SG_ERR_MALFORMED, "the backup names an audit file '%.40s'",
				       file != NULL ? file : "");
		if (strcmp(file, "current") == 0)
			path = strdup(audit_path);
		else if (asprintf(&path, "%s.%s", audit_path, file) < 0)
			path = NULL;
		if (path == NULL)
			return sg_fail(SG_ERR_NOMEM, "the audit log");
		r = file_restore(src, o, path, 0600);
		free(path);
		if (r != SG_OK)
			return r;
	}
	/* the anchor furthest on (the one before it is kept beside it) */
	if (json_array_size(anchors) > 0) {
		const char *best = NULL;
		json_int_t best_seq = -1;

		json_array_foreach (anchors, i, o) {
			json_t *j = json_loads(json_string_value(o), 0, NULL);
			json_int_t seq = json_integer_value(json_object_get(j, "seq"));

			if (j != NULL && seq > best_seq) {
				best_seq = seq;
				best = json_string_value(o);
			}
			json_decref(j);
		}
		if (best != NULL && (r = ks_state_put(ks, "audit-anchor", (const uint8_t *)best,
						      strlen(best))) != SG_OK)
			return r;
	}
	json_object_set_new(report, "audit_restored", json_true());
	return SG_OK;
}

/* When the newest authentic state backup across the targets was made, or -1. */
static int64_t newest_state_at(struct bundle_targets *ts, const struct bundle_auth *auth)
{
	int64_t newest = -1;

	for (size_t i = 0; i < ts->n; i++) {
		char **names = NULL;
		size_t n = 0;

		if (bundle_manifests(ts->t[i], &names, &n) != SG_OK)
			continue;
		for (size_t k = n; k-- > 0;) {
			json_t *m = NULL;
			int64_t at;

			if (bundle_manifest_get(ts->t[i], names[k], auth, &m) != SG_OK)
				continue;
			/* a backup of keys carries the state it was made after: the state's own
			 * time is that of the newest backup made by backup state */
			at = bundle_state_made_at(m);
			json_decref(m);
			if (at >= 0) {
				if (at > newest)
					newest = at;
				break;
			}
		}
		backup_names_free(names, n);
	}
	return newest;
}

int ctl_restore_run(struct ctl *ctl, const struct ctl_args *a, struct keystore *ks,
		    const char *from, const char *so_pin_file, const char *audit_path,
		    json_t **result)
{
	struct ctl_backup b;
	struct backup_key_record rec;
	struct backup_secret mac = {0};
	struct bundle_auth auth;
	char kid[BACKUP_KID_LEN + 1] = "";
	struct backup_target *src = NULL;
	struct ks_key *have = NULL;
	size_t n_have = 0;
	struct ks_blob *mark = NULL;
	size_t n_mark = 0;
	char resume[40] = "";
	json_t *m = NULL, *keys, *e, *report = NULL;
	bool all = true;
	size_t i;
	int r;

	*result = NULL;
	memset(&b, 0, sizeof(b));
	if ((r = bundle_targets_open(&ctl->cfg, &b.targets)) != SG_OK)
		return r;
	b.targets_open = true;
	b.ctl = ctl;
	/* an empty token, or one this restore was cut short in */
	if ((r = ks_key_list(ks, &have, &n_have)) != SG_OK ||
	    (r = ks_state_get(ks, RESTORE_MARK, &mark, &n_mark)) != SG_OK)
		goto out;
	for (size_t k = 0; k < n_mark; k++)
		if (mark[k].len > 8 && memcmp(mark[k].data, "running ", 8) == 0 &&
		    mark[k].len - 8 < sizeof(resume))
			snprintf(resume, sizeof(resume), "%.*s", (int)(mark[k].len - 8),
				 (const char *)mark[k].data + 8);
	if (n_have > 0 && resume[0] == '\0') {
		r = sg_fail(SG_ERR_EXISTS,
			    "the token holds %zu key versions: restore needs a new token "
			    "(signerctl token init) that holds none",
			    n_have);
		goto out;
	}
	/* the shares before anything changes: too few or a wrong one leaves the token as it was;
	 * then only authentic backups (their MAC under the key the shares unlock) count */
	if ((r = keys_rebuild(a, &b.targets, &rec, &b.key, &mac, kid)) != SG_OK)
		goto out;
	auth = (struct bundle_auth){.key = mac.bytes, .kid = kid};
	if ((r = source_pick(&b.targets, &auth, from, resume[0] != '\0' ? resume : NULL, &src,
			     &m)) != SG_OK)
		goto out;
	if (strcmp(json_string_value(json_object_get(m, "token")), ctl->cfg.token.label) != 0) {
		r = sg_fail(SG_ERR_PERMISSION,
			    "backup %s is of token '%s'; this config's token is '%s': a foreign "
			    "token's backup is not restored",
			    json_string_value(json_object_get(m, "id")),
			    json_string_value(json_object_get(m, "token")), ctl->cfg.token.label);
		goto out;
	}
	if ((r = backup_key_record_parse(json_object_get(m, "backup_key"), &rec)) != SG_OK ||
	    (r = one_active_each(m)) != SG_OK)
		goto out;
	if (resume[0] == '\0') {
		char text[48];

		snprintf(text, sizeof(text), "running %s",
			 json_string_value(json_object_get(m, "id")));
		if ((r = ks_state_put(ks, RESTORE_MARK, (const uint8_t *)text, strlen(text))) !=
		    SG_OK)
			goto out;
	}
	SG_FAULT("restore.after_mark");
	if ((r = ks_backup_key_load(ks, so_pin_file, b.key.bytes, b.key.len)) != SG_OK) {
		r = sg_context(r, "loading the backup key into the token");
		goto out;
	}
	b.ks = ks;
	report = json_pack("{s:s, s:O, s:O, s:[]}", "target", backup_target_name(src), "backup_id",
			   json_object_get(m, "id"), "backup_created_at",
			   json_object_get(m, "created_at"), "keys");
	{
		int64_t st = newest_state_at(&b.targets, &auth);
		char when[TIME_RFC3339_LEN];

		json_object_set_new(report, "state_backup_created_at",
				    st >= 0 && time_format_rfc3339(st, when) == SG_OK
					    ? json_string(when)
					    : json_null());
	}
	keys = json_object_get(report, "keys");
	json_array_foreach (json_object_get(m, "keys"), i, e) {
		struct ks_key key;
		char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX] = "";
		int kr = restore_version(&b, src, ks, e, &key);
		const char *pr = "skipped";

		if (kr == SG_OK && key.state == KS_STATE_ACTIVE)
			pr = probe(ks, &key) ? "signed" : "failed";
		if (kr != SG_OK)
			sg_log("restore: %s v%lld: %s",
			       json_string_value(json_object_get(e, "name")),
			       (long long)json_integer_value(json_object_get(e, "version")),
			       sg_errmsg(kr));
		if (kr != SG_OK || strcmp(pr, "failed") == 0)
			all = false;
		SG_FAULT("restore.after_version");
		if (signer_key_texts(&key, pub, address) != SG_OK)
			address[0] = '\0';
		json_array_append_new(
			keys, json_pack("{s:O, s:O, s:O, s:s, s:b, s:s}", "name",
					json_object_get(e, "name"), "version",
					json_object_get(e, "version"), "state",
					json_object_get(e, "state"), "address",
					address[0] != '\0'
						? address
						: json_string_value(json_object_get(e, "address")),
					"restored", kr == SG_OK, "probe", pr));
	}
	json_object_set_new(report, "audit_restored", json_false());
	SG_FAULT("restore.before_audit");
	if (json_is_object(json_object_get(m, "state")) && audit_path != NULL &&
	    (r = audit_restore(src, ks, json_object_get(m, "state"), audit_path, report)) != SG_OK)
		goto out;
	/* the restored token backs up as the old one did: its backup key's record, the MAC key
	 * (in the token, and wrapped for the manifests) */
	if (all) {
		const char *hex = json_string_value(json_object_get(m, "mac_key_wrapped"));

		if ((r = ks_mac_key_store(ks, kid, mac.bytes, mac.len)) != SG_OK ||
		    (r = ks_state_put(ks, "backup-mac", (const uint8_t *)hex, strlen(hex))) !=
			    SG_OK ||
		    (r = bundle_key_record_store(ks, &rec)) != SG_OK)
			goto out;
	}
	SG_FAULT("restore.before_done");
	if (all) {
		char text[48];

		snprintf(text, sizeof(text), "done %s",
			 json_string_value(json_object_get(m, "id")));
		if ((r = ks_state_put(ks, RESTORE_MARK, (const uint8_t *)text, strlen(text))) !=
		    SG_OK)
			goto out;
	}
	json_object_set_new(report, "result", json_string(all ? "pass" : "fail"));
	*result = report;
	report = NULL;
	r = all ? SG_OK : sg_fail(SG_ERR_VERIFY, "not every key version was restored and probed");
out:
	ctl_backup_end(&b);
	backup_secret_free(&mac);
	ks_blobs_free(mark, n_mark);
	free(have);
	json_decref(m);
	json_decref(report);
	return r;
}

static int print_report(const struct ctl_args *a, json_t *rep)
{
	json_t *k;
	size_t i;

	if (ctl_flag(a, CTL_OPT_JSON))
		return ctl_print_json(rep);
	printf("from %s, backup of %s:\n", json_string_value(json_object_get(rep, "target")),
	       json_string_value(json_object_get(rep, "backup_created_at")));
	json_array_foreach (json_object_get(rep, "keys"), i, k)
		printf("  %-24s v%-4lld %-15s %-44s %s %s\n",
		       json_string_value(json_object_get(k, "name")),
		       (long long)json_integer_value(json_object_get(k, "version")),
		       json_string_value(json_object_get(k, "state")),
		       json_string_value(json_object_get(k, "address")),
		       json_is_true(json_object_get(k, "restored")) ? "restored" : "NOT RESTORED",
		       json_string_value(json_object_get(k, "probe")));
	if (json_object_get(rep, "rto_seconds") != NULL) {
		json_t *rpo = json_object_get(rep, "rpo_seconds");

		printf("RTO %.3f s, ", json_number_value(json_object_get(rep, "rto_seconds")));
		if (json_is_null(rpo))
			printf("RPO unknown (no state backup)");
		else
			printf("RPO %.0f s", json_number_value(rpo));
		printf(": %s\n", json_string_value(json_object_get(rep, "result")));
	}
	json_decref(rep);
	return EXIT_SUCCESS;
}

int cmd_restore(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *rep = NULL;
	int r, rc;

	if (a->argc != 0 || a->value[CTL_OPT_FROM] == NULL)
		return ctl_usage_error(ctl, "restore needs --from TARGET and --share FILE...");
	if ((r = ctl_config(ctl)) != SG_OK)
		return ctl_fail(r, "restore");
	if (ctl->cfg.ceremonies.present) {
		sg_log("restore: ceremonies: is configured: restore is a ceremony: signerctl "
		       "ceremony plan restore --from %s --out PLAN",
		       a->value[CTL_OPT_FROM]);
		return EXIT_FAILURE;
	}
	if (ctl->cfg.token.so_pin_file == NULL)
		return ctl_fail(sg_fail(SG_ERR_CONFIG, "%s: restore needs token.so_pin_file",
					ctl->cfg.path),
				"restore");
	if ((r = ctl_keystore(ctl)) != SG_OK)
		return ctl_fail(r, "restore");
	r = ctl_restore_run(ctl, a, ctl->ks, a->value[CTL_OPT_FROM], ctl->cfg.token.so_pin_file,
			    ctl->cfg.audit.path, &rep);
	if (rep == NULL)
		return ctl_fail(r, "restore");
	rc = print_report(a, rep);
	if (r != SG_OK)
		return ctl_fail(r, "restore");
	return rc;
}

/* ---- dr drill -------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int secret_file(const char *dir, const char *name, char **path)
{
	uint8_t raw[16];
	char hex[33];
	int fd;

	if (asprintf(path, "%s/%s", dir, name) < 0) {
		*path = NULL;
		return sg_fail(SG_ERR_NOMEM, "the drill");
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0 || write(fd, hex, 32) != 32) {
		if (fd >= 0)
			close(fd);
		sodium_memzero(hex, sizeof(hex));
		return sg_fail(SG_ERR_IO, "%s: %s", *path, strerror(errno));
	}
	sodium_memzero(hex, sizeof(hex));
	return close(fd) == 0 ? SG_OK : sg_fail(SG_ERR_IO, "%s", *path);
}

/* Scratch directories of drills whose process is gone (killed before it could remove its own):
 * each holds a token with every key and its PINs, so none is left to a later reader. */
static void drills_stale_remove(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[300];
		long pid;
		char *end;

		if (strncmp(e->d_name, "signerd-drill-", 14) != 0)
			continue;
		pid = strtol(e->d_name + 14, &end, 10);
		if (pid <= 0 || *end != '-' || (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
		if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
			sg_log("dr drill: removed %s, left by drill %ld, which was killed", path,
			       pid);
	}
	closedir(d);
}

int cmd_dr_drill(struct ctl *ctl, const struct ctl_args *a)
{
	char dir[64];
	char *conf = NULL, *pin = NULL, *so_pin = NULL, *audit = NULL, *tokens = NULL;
	struct keystore *ks = NULL;
	struct timespec t0, t1;
	json_t *rep = NULL;
	double rpo;
	FILE *f;
	int r;

	if (a->argc != 0 || a->value[CTL_OPT_FROM] == NULL)
		return ctl_usage_error(ctl, "dr drill needs --from TARGET and --share FILE...");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = ctl_config(ctl)) != SG_OK)
		return ctl_fail(r, "dr drill");
	drills_stale_remove();
	snprintf(dir, sizeof(dir), "/tmp/signerd-drill-%ld-XXXXXX", (long)getpid());
	if (mkdtemp(dir) == NULL)
		return ctl_fail(sg_fail(SG_ERR_IO, "a scratch directory: %s", strerror(errno)),
				"dr drill");
	/* a scratch SoftHSM2 token of its own: the drill never opens the configured one */
	if (asprintf(&conf, "%s/softhsm2.conf", dir) < 0 ||
	    asprintf(&tokens, "%s/tokens", dir) < 0 || asprintf(&audit, "%s/audit.log", dir) < 0) {
		r = sg_fail(SG_ERR_NOMEM, "the drill");
		goto out;
	}
	if (mkdir(tokens, 0700) != 0 || (f = fopen(conf, "w")) == NULL) {
		r = sg_fail(SG_ERR_IO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		tokens);
	if (fclose(f) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0) {
		r = sg_fail(SG_ERR_IO, "%s", conf);
		goto out;
	}
	if ((r = secret_file(dir, "pin", &pin)) != SG_OK ||
	    (r = secret_file(dir, "so-pin", &so_pin)) != SG_OK ||
	    (r = ks_token_init(ctl->cfg.token.module, ctl->cfg.token.label, so_pin, pin)) != SG_OK)
		goto out;
	{
		struct ks_config kc = {.module_path = ctl->cfg.token.module,
				       .token_label = ctl->cfg.token.label,
				       .pin_file = pin,
				       .sessions = 1};

		if ((r = ks_open(&kc, &ks)) != SG_OK)
			goto out;
	}
	r = ctl_restore_run(ctl, a, ks, a->value[CTL_OPT_FROM], so_pin, audit, &rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rep != NULL) {
		json_t *at = json_object_get(rep, "state_backup_created_at");
		int64_t t = -1;

		if (json_is_string(at) && time_parse_rfc3339(json_string_value(at), &t) != SG_OK)
			t = -1;
		rpo = t < 0 ? -1 : (double)((int64_t)time(NULL) - t);
		json_object_set_new(rep, "rto_seconds",
				    json_real((double)(t1.tv_sec - t0.tv_sec) +
					      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
		json_object_set_new(rep, "rpo_seconds", rpo < 0 ? json_null() : json_real(rpo));
		/* where it ran (removed below): a drill's leftovers can be looked for */
		json_object_set_new(rep, "scratch_dir", json_string(dir));
	}
out:
	ks_close(ks);
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(conf);
	free(tokens);
	free(pin);
	free(so_pin);
	free(audit);
	if (rep == NULL)
		return ctl_fail(r, "dr drill");
	{
		int rc = print_report(a, rep);

		if (r != SG_OK)
			return ctl_fail(r, "dr drill");
		return rc;
	}
}
