/* Backup bundles (docs/backup.md): what a backup writes to every target, and how it is read
 * back and checked without any secret.
 *
 * A target holds content-addressed objects and manifests:
 *   objects/<sha256>                  a wrapped private key, a state file, an audit segment
 *   backups/<created>-<id>.json       a manifest (the newest sorts last)
 *   backup-keys/<kid>.json            the backup key's record (kid, threshold, share hashes)
 *   shares/<kid>/<custodian>.asc      each custodian's share, encrypted to them
 * A manifest file is an envelope: the manifest's JSON text, the kid of its backup key and its
 * HMAC-SHA256 under the manifests' MAC key, a key of the token (ks_mac) that is also in every
 * manifest wrapped under the backup key, so that a restore (holding the shares, not the token)
 * checks it too. Only authentic manifests are restored, carried forward, synced or counted.
 * A manifest names the token, the backup key's record, every key version (its KEY, public key,
 * state, origin and wrapped blob), the state objects, the audit head, and size and SHA-256 of
 * every object it refers to. */
#ifndef SIGNER_BACKUP_BUNDLE_H
#define SIGNER_BACKUP_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backup/shares.h"
#include "backup/target.h"
#include "common/err.h"
#include "keystore/keystore.h"
#include "signer/config.h"

#define BUNDLE_FORMAT       "signerd-backup-1"
#define BUNDLE_ENVELOPE     "signerd-backup-envelope-1"
#define BUNDLE_TARGETS_MAX  SIGNER_BACKUP_TARGETS_MAX
#define BUNDLE_MANIFEST_MAX (16u * 1024 * 1024)

/* How manifests are authenticated: by the token's MAC key of backup key kid (ks), or by the MAC
 * key itself (key, 32 bytes: a restore, which unwrapped it with the rebuilt backup key). */
struct bundle_auth {
	struct keystore *ks;
	const uint8_t *key;
	const char *kid;
};

struct bundle_targets {
	struct backup_target *t[BUNDLE_TARGETS_MAX];
	size_t n;
	unsigned min_targets;
};

/* The targets of cfg's backup: section (none opened on failure). */
SG_MUST_CHECK int bundle_targets_open(const struct signer_config *cfg, struct bundle_targets *out);
void bundle_targets_close(struct bundle_targets *ts);
/* The target of that name; NULL when there is none. */
struct backup_target *bundle_target_find(const struct bundle_targets *ts, const char *name);

/* A new version's wrapped private key, to go into the next backup. */
struct bundle_blob {
	const char *name;
	uint32_t version;
	const uint8_t *data;
	size_t len;
};

/* The state files of a state backup (NULL: not part of it). */
struct bundle_state {
	const char *config_path;
	const char *policy_path;
	const char *audit_path; /* the log; its rotated segments beside it come along */
};

/* Writes a new backup to every target: every key version of the token (from the catalogue),
 * each with its wrapped blob (from blobs, else from the newest backup that holds it; a version
 * with none anywhere is listed with "wrapped": null), the backup key's record, and the state
 * files when state is given. Objects first, the manifest last. *durable: the targets that now
 * hold it; a target that failed is named on stderr. SG_OK when at least min_targets hold it. */
SG_MUST_CHECK int bundle_write(struct bundle_targets *ts, struct keystore *ks,
			       const char *token_label, const struct backup_key_record *rec,
			       const struct bundle_blob *blobs, size_t n_blobs,
			       const struct bundle_state *state, unsigned *durable,
			       json_t **manifest);

/* When a manifest says it was made, in ns since the epoch (created_at_ns, else created_at): the
 * order of "the newest backup", taken from the authenticated content, not from object names a
 * target's writer could change. */
int64_t bundle_created_ns(const json_t *m);
/* When the state a manifest carries was made (its state.made_at, seconds since the epoch: a
 * backup of keys carries the state it was made after), or -1 when it carries none. */
int64_t bundle_state_made_at(const json_t *m);

/* A manifest's object name from its time (ns since the epoch) and id: where bundle_manifest_get
 * expects it ("backups/<time>z-<id>.json", sorting by time). */
void bundle_manifest_name(int64_t ns, const char *id, char out[BACKUP_OBJECT_NAME_MAX + 1]);
/* The names of a target's manifests, oldest first. */
SG_MUST_CHECK int bundle_manifests(struct backup_target *t, char ***names, size_t *n);
/* One manifest, parsed (its format and fields checked); with auth, refused (SG_ERR_VERIFY)
 * unless it is authentic. */
SG_MUST_CHECK int bundle_manifest_get(struct backup_target *t, const char *name,
				      const struct bundle_auth *auth, json_t **out);
/* Every object of m on t, with its size and SHA-256; the first failure in why. */
SG_MUST_CHECK int bundle_manifest_verify(struct backup_target *t, const json_t *m, char *why,
					 size_t why_len);
/* The newest manifest of t whose objects all verify (SG_ERR_NOT_FOUND: none; the newest's
 * failure is in the error when it failed). */
SG_MUST_CHECK int bundle_newest_good(struct backup_target *t, const struct bundle_auth *auth,
				     json_t **out);
/* Reads an object of m's ("objects/<sha256>") and checks it against the sha256. */
SG_MUST_CHECK int bundle_object_get(struct backup_target *t, const char *sha256, size_t size,
				    uint8_t **data);
/* Writes data as objects/<sha256> unless the target has it. */
SG_MUST_CHECK int bundle_object_put(struct backup_target *t, const uint8_t *data, size_t len,
				    char sha256[65]);

/* The backup key's record: kept in the token (state "backup-key") and on every target. */
SG_MUST_CHECK int bundle_key_record_load(struct keystore *ks, struct backup_key_record *rec);
SG_MUST_CHECK int bundle_key_record_store(struct keystore *ks, const struct backup_key_record *rec);

/* A manifest's key entry back into a ks_key (name, chain, version, transitions, origin, public
 * key). */
SG_MUST_CHECK int bundle_key_parse(json_t *entry, struct ks_key *key);

/* Re-reads what each target holds (its newest good backup) into the token's record that
 * signerd's metrics read (signer_backup_last_success_timestamp_seconds, _keys_missing). */
void bundle_status_refresh(struct bundle_targets *ts, const struct bundle_auth *auth);

/* Copies to every target what it lacks of the others' manifests and objects (verified before
 * copying). *copied: objects and manifests written. */
SG_MUST_CHECK int bundle_sync(struct bundle_targets *ts, const struct bundle_auth *auth,
			      unsigned *copied, unsigned *still_missing);

#endif
