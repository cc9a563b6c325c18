/* signerctl ceremony plan | show | run (API.md section 5): a plan of one lifecycle action (or
 * one key-sign), shown to the custodians, approved by their detached OpenPGP signatures over the
 * plan file's bytes, and carried out once through the signer, which records it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ceremony/ceremony.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ctl.h"
#include "ctl_backup.h"
#include "ctl_ceremony.h"
#include "signer/keyinfo.h"

/* The lifecycle actions a plan may carry, and the signer's action for each. */
static const struct {
	const char *action;
	enum signer_key_action key_action;
	bool needs_version;
} lifecycle[] = {
	{.action = "key-create", .key_action = SIGNER_KEY_CREATE},
	{.action = "key-rotate", .key_action = SIGNER_KEY_ROTATE},
	{.action = "key-activate", .key_action = SIGNER_KEY_ACTIVATE, .needs_version = true},
	{.action = "key-suspend", .key_action = SIGNER_KEY_SUSPEND, .needs_version = true},
	{.action = "key-resume", .key_action = SIGNER_KEY_RESUME, .needs_version = true},
	{.action = "key-deactivate", .key_action = SIGNER_KEY_DEACTIVATE, .needs_version = true},
	{.action = "key-compromise", .key_action = SIGNER_KEY_COMPROMISE, .needs_version = true},
	{.action = "key-destroy", .key_action = SIGNER_KEY_DESTROY, .needs_version = true},
};

static int lifecycle_find(const char *action)
{
	for (size_t i = 0; i < sizeof(lifecycle) / sizeof(lifecycle[0]); i++)
		if (strcmp(lifecycle[i].action, action) == 0)
			return (int)i;
	return -1;
}

/* A whole file, at most max bytes; NULL (said) when it cannot be read. */
static uint8_t *file_read(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf;

	*len = 0;
	if (f == NULL) {
		sg_log("ceremony: cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	if (buf != NULL)
		*len = fread(buf, 1, max + 1, f);
	fclose(f);
	if (buf == NULL || *len > max) {
		sg_log("ceremony: %s is over %zu bytes", path, max);
		free(buf);
		return NULL;
	}
	return buf;
}

static bool ceremonies_configured(struct ctl *ctl)
{
	if (ctl->cfg.ceremonies.present)
		return true;
	sg_log("ceremony: %s has no ceremonies: section (custodians and quorum)",
	       ctl->cfg.path != NULL ? ctl->cfg.path : "the config");
	return false;
}

/* --version N of a plan: 1 to 9999. */
static bool plan_version(const struct ctl_args *a, uint32_t *out)
{
	return ctl_version_parse(a->value[CTL_OPT_VERSION], out);
}

/* The arguments of a key-sign plan: the key, its version, the operation and the exact payload
 * (its kind and bytes, in hex). */
static int plan_key_sign_args(struct ctl *ctl, const struct ctl_args *a, json_t *args)
{
	struct ctl_payload p;
	struct signer_error err = {0};
	uint8_t *bytes = NULL;
	size_t len = 0;
	uint32_t version;
	char *hex;

	if (a->value[CTL_OPT_KEY] == NULL || a->value[CTL_OPT_OPERATION] == NULL ||
	    !plan_version(a, &version) || ctl_payload_pick(a, &p) != 1)
		return ctl_usage_error(ctl, "key-sign needs --key NAME --version N --operation OP "
					    "and one payload");
	if (ctl_payload_read(&p, &bytes, &len, &err) != 0) {
		free(bytes);
		sg_log("ceremony plan: %s", err.code != NULL ? err.message : "out of memory");
		return EXIT_FAILURE;
	}
	hex = malloc(2 * len + 1);
	if (hex == NULL || hex_encode(bytes, len, hex, 2 * len + 1) != SG_OK) {
		free(bytes);
		free(hex);
		sg_log("ceremony plan: out of memory");
		return EXIT_FAILURE;
	}
	{
		/* the version's address, so that the plan signs with that key pair and no other
		 * (a token restored or replaced under the same label) */
		struct ks_key key;
		char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];
		int r;

		if ((r = ctl_keystore(ctl)) != SG_OK ||
		    (r = ks_key_get(ctl->ks, a->value[CTL_OPT_KEY], version, &key)) != SG_OK ||
		    (r = signer_key_texts(&key, pub, address)) != SG_OK) {
			free(bytes);
			free(hex);
			return ctl_fail(r, "ceremony plan");
		}
		json_object_set_new(args, "address", json_string(address));
	}
	json_object_set_new(args, "key", json_string(a->value[CTL_OPT_KEY]));
	json_object_set_new(args, "version", json_integer(version));
	json_object_set_new(args, "operation", json_string(a->value[CTL_OPT_OPERATION]));
	json_object_set_new(args, "payload_kind", json_string(signer_payload_name(p.kind)));
	json_object_set_new(args, "payload_hex", json_string(hex));
	free(bytes);
	free(hex);
	return EXIT_SUCCESS;
}

/* The arguments of a lifecycle plan, as the matching signerctl key command takes them. */
static int plan_lifecycle_args(struct ctl *ctl, const struct ctl_args *a, int i, json_t *args)
{
	const char *name = lifecycle[i].key_action == SIGNER_KEY_CREATE ? a->value[CTL_OPT_NAME]
			   : a->argc == 2                               ? a->argv[1]
									: NULL;
	uint32_t version = 0;
	int r;

	if (name == NULL || ks_name_check(name) != SG_OK)
		return ctl_usage_error(ctl, lifecycle[i].key_action == SIGNER_KEY_CREATE
						    ? "key-create needs --name NAME --chain C"
						    : "needs the key's NAME");
	json_object_set_new(args, "name", json_string(name));
	if (lifecycle[i].key_action == SIGNER_KEY_CREATE) {
		enum ks_chain chain;

		if (a->value[CTL_OPT_CHAIN] == NULL ||
		    ks_chain_parse(a->value[CTL_OPT_CHAIN], &chain) != SG_OK)
			return ctl_usage_error(ctl, "key-create needs --chain solana|evm");
		json_object_set_new(args, "chain", json_string(ks_chain_name(chain)));
	} else if (lifecycle[i].key_action == SIGNER_KEY_ROTATE) {
		/* the version it will make, so that the plan runs once however it ends */
		struct ks_key *keys = NULL;
		size_t n = 0;

		if ((r = ctl_keystore(ctl)) != SG_OK ||
		    (r = ks_key_list(ctl->ks, &keys, &n)) != SG_OK)
			return ctl_fail(r, "ceremony plan");
		for (size_t k = 0; k < n; k++)
			if (strcmp(keys[k].name, name) == 0 && keys[k].version > version)
				version = keys[k].version;
		free(keys);
		if (version == 0) {
			sg_log("ceremony plan: no key named '%s'", name);
			return EXIT_FAILURE;
		}
		json_object_set_new(args, "version", json_integer(version + 1));
	} else {
		if (!plan_version(a, &version))
			return ctl_usage_error(ctl, "needs --version N (1 to 9999)");
		json_object_set_new(args, "version", json_integer(version));
	}
	if (a->value[CTL_OPT_REASON] != NULL) {
		/* refused now, not when the approved plan runs */
		if (!signer_reason_valid(a->value[CTL_OPT_REASON]))
			return ctl_usage_error(ctl,
					       "--reason is 1 to 256 characters, none of them a "
					       "control character");
		json_object_set_new(args, "reason", json_string(a->value[CTL_OPT_REASON]));
	}
	return EXIT_SUCCESS;
}

int cmd_ceremony_plan(struct ctl *ctl, const struct ctl_args *a)
{
	const char *action, *out = a->value[CTL_OPT_OUT];
	long hours = 24;
	json_t *args;
	char *text = NULL;
	FILE *f;
	int i, r, rc;

	if (a->argc < 1 || out == NULL)
		return ctl_usage_error(ctl, "needs an ACTION and --out PLAN");
	action = a->argv[0];
	if (a->value[CTL_OPT_VALID_HOURS] != NULL) {
		char *end;

		hours = strtol(a->value[CTL_OPT_VALID_HOURS], &end, 10);
		if (*end != '\0' || hours < 1 || hours > 720)
			return ctl_usage_error(ctl, "--valid-hours is 1 to 720");
	}
	if ((r = ctl_config(ctl)) != SG_OK)
		return ctl_fail(r, "ceremony plan");
	if (!ceremonies_configured(ctl))
		return EXIT_FAILURE;
	if (!signer_ceremony_action_known(action))
		return ctl_usage_error(ctl, "unknown ACTION");
	if ((args = json_object()) == NULL)
		return ctl_fail(sg_fail(SG_ERR_NOMEM, "the plan"), "ceremony plan");
	if (strcmp(action, "key-sign") == 0)
		rc = plan_key_sign_args(ctl, a, args);
	else if ((i = lifecycle_find(action)) >= 0)
		rc = plan_lifecycle_args(ctl, a, i, args);
	else
		rc = ctl_plan_backup_args(ctl, a, action, args);
	if (rc == EXIT_SUCCESS && (r = ceremony_plan_write(action, args, ctl->cfg.token.label,
							   signer_config_quorum(&ctl->cfg, action),
							   hours * 3600, &text)) != SG_OK)
		rc = ctl_fail(r, "ceremony plan");
	json_decref(args);
	if (rc != EXIT_SUCCESS)
		return rc;
	/* a new file: a plan is never overwritten (its approvals are over its bytes) */
	f = fopen(out, "wxe");
	if (f == NULL) {
		sg_log("ceremony plan: cannot write %s: %s", out, strerror(errno));
		free(text);
		return EXIT_FAILURE;
	}
	if (fputs(text, f) < 0 || fclose(f) != 0) {
		sg_log("ceremony plan: cannot write %s: %s", out, strerror(errno));
		unlink(out); /* no half plan left to block the next */
		free(text);
		return EXIT_FAILURE;
	}
	free(text);
	printf("%s: a plan of %s; each custodian checks it (signerctl ceremony show %s) and "
	       "approves it with\n  gpg --detach-sign --armor %s\n",
	       out, action, out, out);
	return EXIT_SUCCESS;
}

/* What a plan will do, in a sentence a custodian can check. */
static void plan_describe(const struct ceremony_plan *p, FILE *f)
{
	const char *name = json_string_value(json_object_get(p->args, "name"));
	json_int_t version = json_integer_value(json_object_get(p->args, "version"));

	if (strcmp(p->action, "key-sign") == 0) {
		const char *hex = json_string_value(json_object_get(p->args, "payload_hex"));

		fprintf(f,
			"signs ONE payload with key '%s' version %lld, whatever its state (not "
			"destroyed or compromised), for operation '%s':\n  %s, %zu bytes: %s\n",
			json_string_value(json_object_get(p->args, "key")), (long long)version,
			json_string_value(json_object_get(p->args, "operation")),
			json_string_value(json_object_get(p->args, "payload_kind")),
			hex != NULL ? strlen(hex) / 2 : 0, hex != NULL ? hex : "?");
	} else if (strcmp(p->action, "backup-key-create") == 0 ||
		   strcmp(p->action, "restore") == 0) {
		ctl_plan_backup_describe(p, f);
	} else if (strcmp(p->action, "key-create") == 0) {
		fprintf(f, "creates key '%s' of chain %s (version 1, active)\n", name,
			json_string_value(json_object_get(p->args, "chain")));
	} else if (strcmp(p->action, "key-rotate") == 0) {
		fprintf(f, "makes version %lld of key '%s' (a new address), in pre-activation\n",
			(long long)version, name);
	} else {
		fprintf(f, "%s: key '%s' version %lld%s%s\n", p->action + 4, name,
			(long long)version,
			json_object_get(p->args, "reason") != NULL ? ", reason: " : "",
			json_object_get(p->args, "reason") != NULL
				? json_string_value(json_object_get(p->args, "reason"))
				: "");
	}
}

int cmd_ceremony_show(struct ctl *ctl, const struct ctl_args *a)
{
	struct ceremony_plan p;
	char created[TIME_RFC3339_LEN], until[TIME_RFC3339_LEN];
	size_t len;
	uint8_t *bytes;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "needs one PLAN");
	if ((bytes = file_read(a->argv[0], CEREMONY_PLAN_MAX, &len)) == NULL)
		return EXIT_FAILURE;
	r = ceremony_plan_read(bytes, len, &p);
	free(bytes);
	if (r != SG_OK)
		return ctl_fail(r, a->argv[0]);
	if (time_format_rfc3339(p.created_at, created) != SG_OK ||
	    time_format_rfc3339(p.not_after, until) != SG_OK)
		snprintf(created, sizeof(created), "?");
	printf("ceremony   %s\naction     %s\ntoken      %s\ncreated    %s\nnot after  %s%s\n"
	       "quorum     %u distinct custodians\nsha256     %s\nit         ",
	       p.id, p.action, p.token, created, until,
	       p.not_after < (int64_t)time(NULL) ? " (expired)" : "", p.quorum, p.sha256);
	plan_describe(&p, stdout);
	ceremony_plan_free(&p);
	return EXIT_SUCCESS;
}

/* key-sign: the approved payload through the signing door, with the ceremony named. */
static int run_key_sign(struct ctl *ctl, const struct ceremony_plan *p, const json_t *ceremony,
			json_t **result)
{
	const char *hex = json_string_value(json_object_get(p->args, "payload_hex"));
	struct signer_request req = {
		.client = "local",
		.key = json_string_value(json_object_get(p->args, "key")),
		.key_version = (uint32_t)json_integer_value(json_object_get(p->args, "version")),
		.operation = json_string_value(json_object_get(p->args, "operation")),
		.kind = signer_payload_parse(
			json_string_value(json_object_get(p->args, "payload_kind")) != NULL
				? json_string_value(json_object_get(p->args, "payload_kind"))
				: ""),
		.ceremony = ceremony,
	};
	struct signer_result res;
	struct signer_error err;
	uint8_t *bytes;
	size_t len = 0;
	int r;

	if (hex == NULL || req.key == NULL || req.operation == NULL ||
	    !json_is_integer(json_object_get(p->args, "version")) ||
	    json_integer_value(json_object_get(p->args, "version")) < 1 ||
	    json_integer_value(json_object_get(p->args, "version")) > SIGNER_KEY_VERSION_MAX)
		return sg_fail(SG_ERR_MALFORMED, "the key-sign plan lacks its key, version (1 to "
						 "9999), operation or payload");
	{
		json_t *key = NULL;
		const char *want = json_string_value(json_object_get(p->args, "address"));
		int k = signer_key_version_json(ctl->signer, req.key, req.key_version, &key);
		bool same = k == SG_OK && want != NULL &&
			    strcmp(json_string_value(json_object_get(key, "address")), want) == 0;

		json_decref(key);
		if (!same)
			return sg_fail(
				SG_ERR_PERMISSION,
				"key '%s' version %u is not the key pair the plan names (%s)",
				req.key, req.key_version, want != NULL ? want : "none");
	}
	if ((bytes = malloc(strlen(hex) / 2 + 1)) == NULL)
		return sg_fail(SG_ERR_NOMEM, "the payload");
	if ((r = hex_decode(hex, strlen(hex), bytes, strlen(hex) / 2 + 1, &len)) != SG_OK) {
		free(bytes);
		return sg_fail(SG_ERR_MALFORMED, "the plan's payload_hex is not hex");
	}
	req.payload = bytes;
	req.payload_len = len;
	r = signer_sign(ctl->signer, &req, &res, &err);
	free(bytes);
	if (r != SG_OK)
		return sg_fail(SG_ERR_PERMISSION, "the signer refused it: %s (%s)", err.message,
			       err.code != NULL ? err.code : "?");
	*result = signer_result_response(&res);
	signer_result_free(&res);
	return SG_OK;
}

/* A lifecycle plan through the signer. A key-rotate plan names the version it makes: made
 * already (a run cut short), it is not made again. */
static int run_lifecycle(struct ctl *ctl, const struct ceremony_plan *p, int i,
			 const json_t *ceremony, struct ctl_backup *b, json_t **result)
{
	struct signer_key_change c = {
		.action = lifecycle[i].key_action,
		.name = json_string_value(json_object_get(p->args, "name")),
		.chain = json_string_value(json_object_get(p->args, "chain")),
		.version = (uint32_t)json_integer_value(json_object_get(p->args, "version")),
		.reason = json_string_value(json_object_get(p->args, "reason")),
		.by = "ceremony",
		.ceremony = ceremony,
		.backup_ctx = b,
	};

	if (b->targets_open && (c.action == SIGNER_KEY_CREATE || c.action == SIGNER_KEY_ROTATE))
		c.make = ctl_backup_make;
	if (b->targets_open && c.action == SIGNER_KEY_ACTIVATE)
		c.backup_check = ctl_backup_check;

	if (c.name == NULL ||
	    ((lifecycle[i].needs_version || c.action == SIGNER_KEY_ROTATE) &&
	     (!json_is_integer(json_object_get(p->args, "version")) ||
	      json_integer_value(json_object_get(p->args, "version")) < 1 ||
	      json_integer_value(json_object_get(p->args, "version")) > SIGNER_KEY_VERSION_MAX)))
		return sg_fail(SG_ERR_MALFORMED,
			       "the plan's args lack the key's name or its version (1 to 9999)");
	if (c.action == SIGNER_KEY_ROTATE) {
		json_t *versions = NULL;
		json_int_t newest = 0;
		int r = signer_key_versions_json(ctl->signer, c.name, &versions);

		if (r != SG_OK)
			return r;
		for (size_t k = 0; k < json_array_size(json_object_get(versions, "versions")); k++)
			newest = json_integer_value(json_object_get(
				json_array_get(json_object_get(versions, "versions"), k),
				"version"));
		json_decref(versions);
		/* made already (a run cut short): done, unless its backup never became durable;
		 * then it never signed, and is discarded and made again */
		if (newest == (json_int_t)c.version && b->targets_open &&
		    ctl_backup_check(b, signer_keystore(ctl->signer), c.name, c.version) != SG_OK) {
			if ((r = ks_key_discard(signer_keystore(ctl->signer), c.name, c.version)) !=
			    SG_OK)
				return r;
			newest--;
		}
		if (newest == (json_int_t)c.version)
			return signer_key_version_json(ctl->signer, c.name, c.version, result);
		if (newest + 1 != (json_int_t)c.version)
			return sg_fail(SG_ERR_STATE,
				       "the plan makes version %u of '%s', but its newest is %lld: "
				       "the key changed since the plan was made; make a new plan",
				       c.version, c.name, (long long)newest);
	}
	return signer_key_change(ctl->signer, &c, result);
}

int cmd_ceremony_run(struct ctl *ctl, const struct ctl_args *a)
{
	struct ceremony_approval approvals[CTL_REPEAT_MAX];
	struct ceremony_custodian custodians[SIGNER_CUSTODIANS_MAX];
	const char *approvers[SIGNER_CUSTODIANS_MAX];
	struct ceremony_plan p = {0};
	uint8_t *plan_bytes = NULL, *approval_bytes[CTL_REPEAT_MAX] = {NULL};
	size_t plan_len, n_approvers = 0, n_approvals = a->count[CTL_OPT_APPROVAL];
	unsigned need;
	json_t *ceremony = NULL, *result = NULL, *names;
	struct ctl_backup backup = {0};
	bool done, locked = false;
	int r, rc = EXIT_FAILURE, i;

	if (a->argc != 1 || n_approvals == 0)
		return ctl_usage_error(ctl, "needs one PLAN and --approval FILE (repeated)");
	if ((r = ctl_config(ctl)) != SG_OK)
		return ctl_fail(r, "ceremony run");
	if (!ceremonies_configured(ctl))
		return EXIT_FAILURE;
	/* shares are the backup key's (backup: configured, the backup ceremonies): without it,
	 * no action needs one (API.md section 9) */
	if (a->count[CTL_OPT_SHARE] > 0 && !ctl->cfg.backup.present)
		sg_log("ceremony run: no backup: is configured, so no share is needed; the %u "
		       "given "
		       "are not read",
		       a->count[CTL_OPT_SHARE]);
	if ((plan_bytes = file_read(a->argv[0], CEREMONY_PLAN_MAX, &plan_len)) == NULL)
		return EXIT_FAILURE;
	if ((r = ceremony_plan_read(plan_bytes, plan_len, &p)) != SG_OK) {
		rc = ctl_fail(r, a->argv[0]);
		goto out;
	}
	/* the plan's own terms first: its token, its time, its quorum */
	if (strcmp(p.token, ctl->cfg.token.label) != 0) {
		sg_log("ceremony run: the plan is for token '%s'; this config's token is '%s'",
		       p.token, ctl->cfg.token.label);
		goto out;
	}
	if ((int64_t)time(NULL) > p.not_after) {
		char until[TIME_RFC3339_LEN] = "?";

		if (time_format_rfc3339(p.not_after, until) != SG_OK)
			snprintf(until, sizeof(until), "?");
		sg_log("ceremony run: the plan expired at %s; make a new plan", until);
		goto out;
	}
	need = signer_config_quorum(&ctl->cfg, p.action);
	if (p.quorum < need) {
		sg_log("ceremony run: the plan asks for %u approvals; %s needs %u here", p.quorum,
		       p.action, need);
		goto out;
	}
	for (size_t k = 0; k < ctl->cfg.ceremonies.n_custodians; k++)
		custodians[k] = (struct ceremony_custodian){
			.name = ctl->cfg.ceremonies.custodians[k].name,
			.fingerprint = ctl->cfg.ceremonies.custodians[k].fingerprint};
	for (size_t k = 0; k < n_approvals; k++) {
		const char *file = a->all[CTL_OPT_APPROVAL][k];

		if ((approval_bytes[k] =
			     file_read(file, CEREMONY_APPROVAL_MAX, &approvals[k].len)) == NULL)
			goto out;
		approvals[k].file = file;
		approvals[k].data = approval_bytes[k];
	}
	r = ceremony_approvals_check(ctl->cfg.ceremonies.gnupg_home, custodians,
				     ctl->cfg.ceremonies.n_custodians, plan_bytes, plan_len,
				     approvals, n_approvals, p.quorum, approvers, &n_approvers);
	if (r != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	names = json_array();
	for (size_t k = 0; names != NULL && k < n_approvers; k++)
		json_array_append_new(names, json_string(approvers[k]));
	ceremony = json_pack("{s:s, s:s, s:s, s:o}", "id", p.id, "plan_sha256", p.sha256, "action",
			     p.action, "approvers", names);
	if (ceremony == NULL) {
		rc = ctl_fail(sg_fail(SG_ERR_NOMEM, "the ceremony"), "ceremony run");
		goto out;
	}
	/* a restore runs until it is done (a run cut short is run again: the empty token it
	 * fills refuses a second restore), and is marked once done */
	if (strcmp(p.action, "restore") == 0) {
		r = ctl_run_restore(ctl, a, &p, ceremony, &result);
		goto done;
	}
	/* approved: once only. The check, the mark and the action hold the lifecycle lock, so
	 * that two runs of one plan cannot both pass the check; the mark comes first, so that a
	 * plan runs at most once even across a crash (a run cut short needs a new plan, which
	 * finishes the step: docs/ceremonies.md) */
	if ((r = ctl_signer(ctl, 0)) != SG_OK ||
	    (r = signer_lifecycle_lock(ctl->signer)) != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	locked = true;
	if ((r = signer_ceremony_done(ctl->signer, p.id, &done)) != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	if (done) {
		sg_log("ceremony run: plan %s was carried out already: a plan runs once; make a "
		       "new "
		       "one",
		       p.id);
		goto out;
	}
	/* the shares before the mark: too few or a wrong one leaves the plan unspent */
	if (ctl->cfg.backup.present &&
	    (strcmp(p.action, "key-create") == 0 || strcmp(p.action, "key-rotate") == 0 ||
	     strcmp(p.action, "key-activate") == 0) &&
	    (r = ctl_backup_begin(ctl, strcmp(p.action, "key-activate") == 0 ? NULL : a,
				  signer_keystore(ctl->signer), NULL, &backup)) != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	/* an activation the backups do not allow spends no plan either */
	if (backup.targets_open && strcmp(p.action, "key-activate") == 0 &&
	    (r = ctl_backup_check(
		     &backup, signer_keystore(ctl->signer),
		     json_string_value(json_object_get(p.args, "name")),
		     (uint32_t)json_integer_value(json_object_get(p.args, "version")))) != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	if ((r = signer_ceremony_mark(ctl->signer, p.id, p.sha256)) != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	if (strcmp(p.action, "key-sign") == 0)
		r = run_key_sign(ctl, &p, ceremony, &result);
	else if ((i = lifecycle_find(p.action)) >= 0)
		r = run_lifecycle(ctl, &p, i, ceremony, &backup, &result);
	else if (strcmp(p.action, "backup-key-create") == 0)
		r = ctl_run_backup_key_create(ctl, a, &p, ceremony, &result);
	else
		r = sg_fail(SG_ERR_UNSUPPORTED, "%s is not a ceremony's action", p.action);
done:
	if (r != SG_OK) {
		rc = ctl_fail(r, "ceremony run");
		goto out;
	}
	if (ctl_flag(a, CTL_OPT_JSON)) {
		json_object_set(ceremony, "result", result);
		rc = ctl_print_json(json_incref(ceremony));
	} else {
		printf("ceremony %s: %s carried out, approved by", p.id, p.action);
		for (size_t k = 0; k < n_approvers; k++)
			printf("%s %s", k > 0 ? "," : "", approvers[k]);
		printf("\n");
		rc = EXIT_SUCCESS;
	}
out:
	ctl_backup_end(&backup);
	if (locked)
		signer_lifecycle_unlock(ctl->signer);
	json_decref(result);
	json_decref(ceremony);
	ceremony_plan_free(&p);
	free(plan_bytes);
	for (size_t k = 0; k < n_approvals && k < CTL_REPEAT_MAX; k++)
		free(approval_bytes[k]);
	return rc;
}
