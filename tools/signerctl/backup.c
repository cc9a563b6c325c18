/* signerctl backup list | verify | state | sync (API.md section 6; docs/backup.md). None needs
 * a secret: the manifests and objects are checked against their sizes and SHA-256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl_backup.h"

static int targets_open(struct ctl *ctl, const struct ctl_args *a, struct bundle_targets *ts)
{
	const char *only = a->value[CTL_OPT_TARGET];
	int r;

	if ((r = ctl_config(ctl)) != SG_OK || (r = bundle_targets_open(&ctl->cfg, ts)) != SG_OK)
		return r;
	if (only != NULL && bundle_target_find(ts, only) == NULL) {
		bundle_targets_close(ts);
		return sg_fail(SG_ERR_NOT_FOUND, "no backup target named '%s' in %s", only,
			       ctl->cfg.path);
	}
	return SG_OK;
}

static bool target_wanted(const struct ctl_args *a, struct backup_target *t)
{
	return a->value[CTL_OPT_TARGET] == NULL ||
	       strcmp(a->value[CTL_OPT_TARGET], backup_target_name(t)) == 0;
}

static const char *manifest_base(const char *name)
{
	const char *b = strrchr(name, '/');

	return b != NULL ? b + 1 : name;
}

int cmd_backup_list(struct ctl *ctl, const struct ctl_args *a)
{
	struct bundle_targets ts;
	json_t *out, *list;
	int r;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "backup list takes only --target NAME and --json");
	if ((r = targets_open(ctl, a, &ts)) != SG_OK)
		return ctl_fail(r, "backup list");
	out = json_pack("{s:[]}", "targets");
	list = json_object_get(out, "targets");
	for (size_t i = 0; i < ts.n; i++) {
		char **names = NULL;
		size_t n = 0;
		json_t *t, *backups;

		if (!target_wanted(a, ts.t[i]))
			continue;
		r = bundle_manifests(ts.t[i], &names, &n);
		t = json_pack("{s:s, s:b, s:[]}", "name", backup_target_name(ts.t[i]), "reachable",
			      r == SG_OK, "backups");
		if (r != SG_OK)
			json_object_set_new(t, "error", json_string(sg_errmsg(r)));
		backups = json_object_get(t, "backups");
		for (size_t k = 0; k < n; k++) {
			json_t *m = NULL;
			int mr = bundle_manifest_get(ts.t[i], names[k], NULL, &m);

			if (mr != SG_OK) {
				json_array_append_new(backups,
						      json_pack("{s:s, s:s}", "object", names[k],
								"error", sg_errmsg(mr)));
				continue;
			}
			json_array_append_new(
				backups,
				json_pack("{s:O, s:O, s:I, s:s, s:b, s:s}", "id",
					  json_object_get(m, "id"), "created_at",
					  json_object_get(m, "created_at"), "keys",
					  (json_int_t)json_array_size(json_object_get(m, "keys")),
					  "object", names[k], "state",
					  json_is_object(json_object_get(m, "state")), "token",
					  json_string_value(json_object_get(m, "token"))));
			json_decref(m);
		}
		backup_names_free(names, n);
		json_array_append_new(list, t);
	}
	bundle_targets_close(&ts);
	if (ctl_flag(a, CTL_OPT_JSON))
		return ctl_print_json(out);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *t = json_array_get(list, i), *b;
		size_t k;

		printf("%s: %s\n", json_string_value(json_object_get(t, "name")),
		       json_is_true(json_object_get(t, "reachable"))
			       ? ""
			       : json_string_value(json_object_get(t, "error")));
		json_array_foreach (json_object_get(t, "backups"), k, b) {
			if (json_object_get(b, "error") != NULL) {
				printf("  %s: %s\n",
				       json_string_value(json_object_get(b, "object")),
				       json_string_value(json_object_get(b, "error")));
				continue;
			}
			printf("  %s  %s  %lld keys%s\n",
			       json_string_value(json_object_get(b, "created_at")),
			       json_string_value(json_object_get(b, "id")),
			       (long long)json_integer_value(json_object_get(b, "keys")),
			       json_is_true(json_object_get(b, "state")) ? "  with state" : "");
		}
	}
	json_decref(out);
	return EXIT_SUCCESS;
}

/* Every target's manifests checked, and the newest across all of them required on each. */
int cmd_backup_verify(struct ctl *ctl, const struct ctl_args *a)
{
	struct bundle_targets ts;
	char newest[BACKUP_OBJECT_NAME_MAX + 1] = "";
	struct backup_key_record rec;
	struct bundle_auth auth, *authp = NULL;
	json_t *out, *list;
	bool ok = true;
	int r;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "backup verify takes only --target NAME and --json");
	if ((r = targets_open(ctl, a, &ts)) != SG_OK)
		return ctl_fail(r, "backup verify");
	/* authenticity needs the token's MAC key; without the token, integrity alone is checked,
	 * and the report says so */
	if (ctl_keystore(ctl) == SG_OK && bundle_key_record_load(ctl->ks, &rec) == SG_OK) {
		auth = (struct bundle_auth){.ks = ctl->ks, .kid = rec.kid};
		authp = &auth;
	} else {
		sg_log("backup verify: the token or its backup key record cannot be read: the "
		       "manifests' integrity is checked, not their authenticity");
	}
	/* "the newest backup" is the newest across all targets (API.md section 9) */
	for (size_t i = 0; i < ts.n; i++) {
		char **names = NULL;
		size_t n = 0;

		if (bundle_manifests(ts.t[i], &names, &n) == SG_OK && n > 0 &&
		    strcmp(manifest_base(names[n - 1]), newest) > 0)
			snprintf(newest, sizeof(newest), "%s", manifest_base(names[n - 1]));
		backup_names_free(names, n);
	}
	out = json_pack("{s:s?, s:[]}", "newest", newest[0] != '\0' ? newest : NULL, "targets");
	list = json_object_get(out, "targets");
	for (size_t i = 0; i < ts.n; i++) {
		char **names = NULL, why[600];
		size_t n = 0, good = 0;
		bool has_newest = false;
		json_t *t, *failures;

		if (!target_wanted(a, ts.t[i]))
			continue;
		r = bundle_manifests(ts.t[i], &names, &n);
		t = json_pack("{s:s, s:b, s:[]}", "name", backup_target_name(ts.t[i]), "reachable",
			      r == SG_OK, "failures");
		failures = json_object_get(t, "failures");
		if (r != SG_OK) {
			json_array_append_new(failures, json_string(sg_errmsg(r)));
			ok = false;
		}
		for (size_t k = 0; k < n; k++) {
			json_t *m = NULL;
			int mr = bundle_manifest_get(ts.t[i], names[k], authp, &m);

			if (mr == SG_OK)
				mr = bundle_manifest_verify(ts.t[i], m, why, sizeof(why));
			else
				snprintf(why, sizeof(why), "%s", sg_errmsg(mr));
			json_decref(m);
			if (mr != SG_OK) {
				char line[800];

				snprintf(line, sizeof(line), "%s: %s", names[k], why);
				json_array_append_new(failures, json_string(line));
				ok = false;
				continue;
			}
			good++;
			if (strcmp(manifest_base(names[k]), newest) == 0)
				has_newest = true;
		}
		if (r == SG_OK && newest[0] != '\0' && !has_newest) {
			char line[300];

			snprintf(line, sizeof(line),
				 "lacks the newest backup %s (backup sync copies it)", newest);
			json_array_append_new(failures, json_string(line));
			ok = false;
		}
		if (newest[0] == '\0') {
			json_array_append_new(failures, json_string("no backup anywhere"));
			ok = false;
		}
		json_object_set_new(t, "backups", json_integer((json_int_t)n));
		json_object_set_new(t, "good", json_integer((json_int_t)good));
		json_object_set_new(t, "has_newest", json_boolean(has_newest));
		backup_names_free(names, n);
		json_array_append_new(list, t);
	}
	bundle_targets_close(&ts);
	json_object_set_new(out, "ok", json_boolean(ok));
	json_object_set_new(out, "authenticated", json_boolean(authp != NULL));
	if (ctl_flag(a, CTL_OPT_JSON)) {
		r = ctl_print_json(out);
		return ok && r == EXIT_SUCCESS ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *t = json_array_get(list, i), *f;
		size_t k;

		printf("%s: %lld backups, %lld good%s\n",
		       json_string_value(json_object_get(t, "name")),
		       (long long)json_integer_value(json_object_get(t, "backups")),
		       (long long)json_integer_value(json_object_get(t, "good")),
		       json_is_true(json_object_get(t, "has_newest")) ? ", the newest among them"
								      : "");
		json_array_foreach (json_object_get(t, "failures"), k, f)
			printf("  FAIL %s\n", json_string_value(f));
	}
	json_decref(out);
	if (!ok)
		sg_log("backup verify: a target lacks the newest backup or an object fails "
		       "(above)");
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

int cmd_backup_state(struct ctl *ctl, const struct ctl_args *a)
{
	struct bundle_targets ts;
	struct backup_key_record rec;
	struct bundle_state st;
	unsigned durable = 0;
	json_t *m = NULL;
	int r;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "backup state takes only --json");
	if ((r = ctl_keystore(ctl)) != SG_OK)
		return ctl_fail(r, "backup state");
	if ((r = bundle_key_record_load(ctl->ks, &rec)) != SG_OK)
		return ctl_fail(r, "backup state");
	if ((r = bundle_targets_open(&ctl->cfg, &ts)) != SG_OK)
		return ctl_fail(r, "backup state");
	st = (struct bundle_state){.config_path = ctl->cfg.path,
				   .policy_path = ctl->cfg.policy.path,
				   .audit_path = ctl->cfg.audit.path};
	r = bundle_write(&ts, ctl->ks, ctl->cfg.token.label, &rec, NULL, 0, &st, &durable, &m);
	bundle_targets_close(&ts);
	if (r != SG_OK)
		return ctl_fail(r, "backup state");
	if (ctl_flag(a, CTL_OPT_JSON))
		return ctl_print_json(json_pack(
			"{s:O, s:O, s:i, s:I}", "id", json_object_get(m, "id"), "created_at",
			json_object_get(m, "created_at"), "targets", (int)durable, "keys",
			(json_int_t)json_array_size(json_object_get(m, "keys"))));
	printf("backup %s (%s): %zu key versions and the state, in %u target(s)\n",
	       json_string_value(json_object_get(m, "id")),
	       json_string_value(json_object_get(m, "created_at")),
	       json_array_size(json_object_get(m, "keys")), durable);
	json_decref(m);
	return EXIT_SUCCESS;
}

int cmd_backup_sync(struct ctl *ctl, const struct ctl_args *a)
{
	struct bundle_targets ts;
	struct backup_key_record rec;
	struct bundle_auth auth;
	unsigned copied = 0, missing = 0;
	int r;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "backup sync takes no operands");
	/* only authentic backups are copied: the token's MAC key says which */
	if ((r = ctl_keystore(ctl)) != SG_OK ||
	    (r = bundle_key_record_load(ctl->ks, &rec)) != SG_OK ||
	    (r = bundle_targets_open(&ctl->cfg, &ts)) != SG_OK)
		return ctl_fail(r, "backup sync");
	auth = (struct bundle_auth){.ks = ctl->ks, .kid = rec.kid};
	r = bundle_sync(&ts, &auth, &copied, &missing);
	/* what each target holds now, for the metrics */
	if (r == SG_OK)
		bundle_status_refresh(&ts, &auth);
	bundle_targets_close(&ts);
	if (r != SG_OK)
		return ctl_fail(r, "backup sync");
	printf("backup sync: %u objects and manifests copied\n", copied);
	if (missing > 0) {
		sg_log("backup sync: %u backup(s) could not be copied where they are missing "
		       "(above)",
		       missing);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
