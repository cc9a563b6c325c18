/* signerctl's backups (backup_key.c, backup.c, restore.c): the backup key rebuilt for one
 * command, and the commands of API.md section 6. */
#ifndef SIGNER_TOOLS_SIGNERCTL_CTL_BACKUP_H
#define SIGNER_TOOLS_SIGNERCTL_CTL_BACKUP_H

#include "backup/bundle.h"
#include "backup/secret.h"
#include "backup/shares.h"
#include "ctl.h"

/* The backup context of one command: the targets, and (when shares were given) the backup key
 * rebuilt from them and loaded into the token. */
struct ctl_backup {
	struct ctl *ctl;
	struct bundle_targets targets;
	bool targets_open;
	struct backup_key_record rec;
	struct backup_secret key;
	struct keystore *ks; /* the backup key is loaded into it */
};

/* Opens the targets; with a (its --share files), rebuilds the key of rec (NULL: the token's
 * backup key record) and loads it into ks. */
SG_MUST_CHECK int ctl_backup_begin(struct ctl *ctl, const struct ctl_args *a, struct keystore *ks,
				   const struct backup_key_record *rec, struct ctl_backup *b);
void ctl_backup_end(struct ctl_backup *b);
/* The backup key from the --share files: refused unless they are rec's and enough. */
SG_MUST_CHECK int ctl_shares_rebuild(const struct ctl_args *a, const struct backup_key_record *rec,
				     struct backup_secret *key);
/* signer_key_change's hooks (ctx: a struct ctl_backup) */
int ctl_backup_make(void *ctx, struct keystore *ks, const struct signer_key_change *c,
		    struct ks_key *key);
int ctl_backup_check(void *ctx, struct keystore *ks, const char *name, uint32_t version);
/* The backup-key-create ceremony's work: a new key split among the first n_shares custodians,
 * each share encrypted to them, on every target (and in out_dir/NAME.asc). */
SG_MUST_CHECK int ctl_backup_key_create(struct ctl *ctl, struct keystore *ks, unsigned n_shares,
					unsigned threshold, const char *out_dir, json_t **result);
/* Restores the newest good backup of target from (or, when it has none that checks out, of
 * another target) into ks, the shares of a rebuilding its key; so_pin_file: the token's SO
 * PIN; audit_path: where the audit log comes back (NULL: not restored). *result: the report
 * (dr drill's keys[], "backup_created_at", "target"). */
SG_MUST_CHECK int ctl_restore_run(struct ctl *ctl, const struct ctl_args *a, struct keystore *ks,
				  const char *from, const char *so_pin_file, const char *audit_path,
				  json_t **result);

int cmd_backup_list(struct ctl *ctl, const struct ctl_args *a);
int cmd_backup_verify(struct ctl *ctl, const struct ctl_args *a);
int cmd_backup_state(struct ctl *ctl, const struct ctl_args *a);
int cmd_backup_sync(struct ctl *ctl, const struct ctl_args *a);
int cmd_restore(struct ctl *ctl, const struct ctl_args *a);
int cmd_dr_drill(struct ctl *ctl, const struct ctl_args *a);

#endif
