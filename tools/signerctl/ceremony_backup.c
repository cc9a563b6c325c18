/* The backup ceremonies (API.md sections 5, 6 and 9): backup-key-create and restore plans, and
 * their runs. key-create and key-rotate runs with backup: configured get their backup hooks
 * here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl_backup.h"
#include "ctl_ceremony.h"

static bool uint_arg(const char *text, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return false;
	v = strtoul(text, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

int ctl_plan_backup_args(struct ctl *ctl, const struct ctl_args *a, const char *action,
			 json_t *args)
{
	if (!ctl->cfg.backup.present) {
		sg_log("ceremony plan: %s needs a backup: section in %s (docs/backup.md)", action,
		       ctl->cfg.path);
		return EXIT_FAILURE;
	}
	if (strcmp(action, "restore") == 0) {
		const char *from = a->value[CTL_OPT_FROM];
		bool known = false;

		if (from == NULL || a->argc != 1)
			return ctl_usage_error(ctl, "restore needs --from TARGET");
		for (size_t i = 0; i < ctl->cfg.backup.n_targets; i++)
			known |= strcmp(ctl->cfg.backup.targets[i].name, from) == 0;
		if (!known) {
			sg_log("ceremony plan: no backup target named '%s'", from);
			return EXIT_FAILURE;
		}
		json_object_set_new(args, "from", json_string(from));
		return EXIT_SUCCESS;
	}
	{
		unsigned shares = (unsigned)ctl->cfg.ceremonies.n_custodians;
		unsigned threshold = ctl->cfg.backup.share_threshold;

		if (a->argc != 1 ||
		    (a->value[CTL_OPT_SHARES] != NULL &&
		     !uint_arg(a->value[CTL_OPT_SHARES], 2, BACKUP_SHARES_MAX, &shares)) ||
		    (a->value[CTL_OPT_THRESHOLD] != NULL &&
		     !uint_arg(a->value[CTL_OPT_THRESHOLD], 2, BACKUP_SHARES_MAX, &threshold)))
			return ctl_usage_error(ctl, "backup-key-create takes [--shares N] "
						    "[--threshold M], 2 to 16 each");
		if (shares > ctl->cfg.ceremonies.n_custodians || threshold > shares) {
			sg_log("ceremony plan: %u shares with threshold %u: need threshold <= "
			       "shares <= %zu (the custodians)",
			       shares, threshold, ctl->cfg.ceremonies.n_custodians);
			return EXIT_FAILURE;
		}
		json_object_set_new(args, "shares", json_integer(shares));
		json_object_set_new(args, "threshold", json_integer(threshold));
		return EXIT_SUCCESS;
	}
}

void ctl_plan_backup_describe(const struct ceremony_plan *p, FILE *f)
{
	if (strcmp(p->action, "restore") == 0)
		fprintf(f,
			"restores the newest good backup of target '%s' into the token (which "
			"must hold no keys): every key version with its state, and the audit log\n",
			json_string_value(json_object_get(p->args, "from")));
	else
		fprintf(f,
			"makes a new backup key and splits it into %lld shares, any %lld of which "
			"rebuild it, one per custodian in the config's order, each encrypted to "
			"that custodian's OpenPGP key\n",
			(long long)json_integer_value(json_object_get(p->args, "shares")),
			(long long)json_integer_value(json_object_get(p->args, "threshold")));
}

int ctl_run_backup_key_create(struct ctl *ctl, const struct ctl_args *a,
			      const struct ceremony_plan *p, const json_t *ceremony,
			      json_t **result)
{
	json_t *shares = json_object_get(p->args, "shares"),
	       *threshold = json_object_get(p->args, "threshold"), *fields;
	int r;

	if (!ctl->cfg.backup.present)
		return sg_fail(SG_ERR_CONFIG, "%s has no backup: section", ctl->cfg.path);
	if (!json_is_integer(shares) || !json_is_integer(threshold))
		return sg_fail(SG_ERR_MALFORMED, "the plan's args lack shares or threshold");
	r = ctl_backup_key_create(
		ctl, signer_keystore(ctl->signer), (unsigned)json_integer_value(shares),
		(unsigned)json_integer_value(threshold), a->value[CTL_OPT_OUT], result);
	if (r != SG_OK)
		return r;
	fields = json_pack("{s:O, s:O, s:O, s:O}", "kid", json_object_get(*result, "kid"),
			   "threshold", threshold, "shares", shares, "ceremony", ceremony);
	return signer_record_event(ctl->signer, "backup_key_create", fields, NULL);
}

int ctl_run_restore(struct ctl *ctl, const struct ctl_args *a, const struct ceremony_plan *p,
		    const json_t *ceremony, json_t **result)
{
	const char *from = json_string_value(json_object_get(p->args, "from"));
	json_t *fields;
	int r;

	*result = NULL;
	if (from == NULL)
		return sg_fail(SG_ERR_MALFORMED, "the plan's args lack from");
	if (ctl->cfg.token.so_pin_file == NULL)
		return sg_fail(SG_ERR_CONFIG, "%s: restore needs token.so_pin_file", ctl->cfg.path);
	/* the token first (its audit log comes back from the backup), the signer after, to
	 * record the ceremony in the restored log */
	if ((r = ctl_keystore(ctl)) != SG_OK)
		return r;
	r = ctl_restore_run(ctl, a, ctl->ks, from, ctl->cfg.token.so_pin_file, ctl->cfg.audit.path,
			    result);
	ks_close(ctl->ks);
	ctl->ks = NULL;
	if (r != SG_OK)
		return r;
	if ((r = ctl_signer(ctl, 0)) != SG_OK ||
	    (r = signer_ceremony_mark(ctl->signer, p->id, p->sha256)) != SG_OK)
		return r;
	fields = json_pack("{s:O, s:O, s:s, s:O}", "backup_id",
			   json_object_get(*result, "backup_id"), "target",
			   json_object_get(*result, "target"), "from", from, "ceremony", ceremony);
	return signer_record_event(ctl->signer, "restore", fields, NULL);
}
