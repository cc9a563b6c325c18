/* signerctl key create | list | show | versions | rotate | activate | suspend | resume |
 * deactivate | compromise | destroy: the keys in the token, as the API shows them, and their
 * lifecycle (API.md section 4), each change audited through the signer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl.h"
#include "ctl_backup.h"
#include "signer/keyinfo.h"

static int print_key(const struct ks_key *key, bool as_json)
{
	char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];
	int r;

	r = signer_key_texts(key, pub, address);
	if (r != SG_OK)
		return ctl_fail(r, key->name);
	if (as_json)
		return ctl_print_json(signer_key_json(key));
	printf("name:       %s\nchain:      %s\nversion:    %u\nstate:      %s\n"
	       "address:    %s\npublic key: %s\n",
	       key->name, ks_chain_name(key->chain), key->version, ks_state_name(key->state),
	       address, pub);
	return EXIT_SUCCESS;
}

/* A KEY (from the signer) as JSON or as the text print_key gives; takes key. */
static int print_key_json(json_t *key, bool as_json)
{
	if (as_json)
		return ctl_print_json(key);
	printf("name:       %s\nchain:      %s\nversion:    %lld\nstate:      %s\n"
	       "address:    %s\npublic key: %s\n",
	       json_string_value(json_object_get(key, "name")),
	       json_string_value(json_object_get(key, "chain")),
	       (long long)json_integer_value(json_object_get(key, "version")),
	       json_string_value(json_object_get(key, "state")),
	       json_string_value(json_object_get(key, "address")),
	       json_string_value(json_object_get(key, "public_key")));
	json_decref(key);
	return EXIT_SUCCESS;
}

/* --version N: 1 to 9999; false (and said) otherwise. */
static bool version_arg(const struct ctl *ctl, const struct ctl_args *a, bool required,
			uint32_t *out)
{
	const char *text = a->value[CTL_OPT_VERSION];

	*out = 0;
	if (text == NULL)
		return !required || (ctl_usage_error(ctl, "--version N is needed"), false);
	if (!ctl_version_parse(text, out)) {
		(void)ctl_usage_error(ctl, "--version must be a number from 1 to 9999");
		return false;
	}
	return true;
}

int ctl_ceremonies_refuse(struct ctl *ctl, const char *action)
{
	int r = ctl_config(ctl);

	if (r != SG_OK)
		return ctl_fail(r, "key");
	if (!ctl->cfg.ceremonies.present)
		return 0;
	sg_log("key %s: %s configures ceremonies: a change of a key needs one "
	       "(signerctl ceremony plan key-%s ...)",
	       action, ctl->cfg.path != NULL ? ctl->cfg.path : "the config", action);
	return EXIT_FAILURE;
}

/* Runs a change through the signer (token, then audit record) and prints the KEY. */
static int key_change(struct ctl *ctl, const struct ctl_args *a, struct signer_key_change *c,
		      bool as_json)
{
	struct ctl_backup backup = {0};
	json_t *key;
	char what[160];
	bool makes = c->action == SIGNER_KEY_CREATE || c->action == SIGNER_KEY_ROTATE;
	int r;

	snprintf(what, sizeof(what), "key %s %s", signer_key_action_name(c->action), c->name);
	if ((r = ctl_ceremonies_refuse(ctl, signer_key_action_name(c->action))) != 0)
		return r;
	if ((r = ctl_setup(ctl)) != SG_OK)
		return ctl_fail(r, what);
	/* with backups, a new version is backed up before it can sign, and activation asks
	 * that its backup is durable (docs/backup.md) */
	if (ctl->cfg.backup.present && (makes || c->action == SIGNER_KEY_ACTIVATE)) {
		if ((r = ctl_backup_begin(ctl, makes ? a : NULL, signer_keystore(ctl->signer), NULL,
					  &backup)) != SG_OK) {
			ctl_backup_end(&backup);
			return ctl_fail(r, what);
		}
		c->backup_ctx = &backup;
		c->make = makes ? ctl_backup_make : NULL;
		c->backup_check = makes ? NULL : ctl_backup_check;
	} else if (a->count[CTL_OPT_SHARE] > 0) {
		sg_log("%s: no backup: is configured, so no share is needed; the %u given are not "
		       "read",
		       what, a->count[CTL_OPT_SHARE]);
	}
	r = signer_key_change(ctl->signer, c, &key);
	ctl_backup_end(&backup);
	if (r != SG_OK)
		return ctl_fail(r, what);
	return print_key_json(key, as_json);
}

int cmd_key_create(struct ctl *ctl, const struct ctl_args *a)
{
	const char *name = a->value[CTL_OPT_NAME], *chain_text = a->value[CTL_OPT_CHAIN];
	struct signer_key_change c = {.action = SIGNER_KEY_CREATE, .name = name};
	enum ks_chain chain;
	int r;

	if (name == NULL || chain_text == NULL || a->argc != 0)
		return ctl_usage_error(ctl, "key create needs --name NAME and --chain solana|evm");
	if ((r = ks_name_check(name)) != SG_OK ||
	    (r = ks_chain_parse(chain_text, &chain)) != SG_OK) {
		sg_log("%s", sg_errmsg(r));
		return CTL_EXIT_USAGE;
	}
	c.chain = ks_chain_name(chain);
	if ((r = ctl_ceremonies_refuse(ctl, "create")) != 0)
		return r;
	if (ctl->cfg.audit.path == NULL && ctl->cfg.backup.present) {
		sg_log("key create: %s has backup: but no audit.path: a backed-up key is made "
		       "with its audit record",
		       ctl->cfg.path);
		return EXIT_FAILURE;
	}
	if (ctl->cfg.audit.path == NULL) {
		/* a token set up before the service's config has an audit log (tools/dev-env
		 * makes its keys so): the catalogue records it, there is no log to record it in */
		struct ks_key key;

		if ((r = ctl_keystore(ctl)) != SG_OK ||
		    (r = ks_key_generate(ctl->ks, name, chain, &key)) != SG_OK)
			return ctl_fail(r, "key create");
		sg_log("key create: %s has no audit.path: '%s' is recorded in the token's "
		       "catalogue only",
		       ctl->cfg.path != NULL ? ctl->cfg.path : "the config", name);
		return print_key(&key, ctl_flag(a, CTL_OPT_JSON));
	}
	if ((r = ctl_signer(ctl, 0)) != SG_OK)
		return ctl_fail(r, "key create");
	return key_change(ctl, a, &c, ctl_flag(a, CTL_OPT_JSON));
}

int cmd_key_rotate(struct ctl *ctl, const struct ctl_args *a)
{
	struct signer_key_change c = {.action = SIGNER_KEY_ROTATE};

	if (a->argc != 1)
		return ctl_usage_error(ctl, "key rotate needs one NAME");
	c.name = a->argv[0];
	return key_change(ctl, a, &c, ctl_flag(a, CTL_OPT_JSON));
}

int cmd_key_set(struct ctl *ctl, const struct ctl_args *a)
{
	static const struct {
		const char *verb;
		enum signer_key_action action;
	} verbs[] = {
		{.verb = "activate", .action = SIGNER_KEY_ACTIVATE},
		{.verb = "suspend", .action = SIGNER_KEY_SUSPEND},
		{.verb = "resume", .action = SIGNER_KEY_RESUME},
		{.verb = "deactivate", .action = SIGNER_KEY_DEACTIVATE},
		{.verb = "compromise", .action = SIGNER_KEY_COMPROMISE},
		{.verb = "destroy", .action = SIGNER_KEY_DESTROY},
	};
	struct signer_key_change c = {.reason = a->value[CTL_OPT_REASON]};

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].verb, ctl->cmd->verb) == 0)
			c.action = verbs[i].action;
	if (c.action == 0)
		return ctl_usage_error(ctl, "unknown lifecycle command");
	if (a->argc != 1)
		return ctl_usage_error(ctl, "needs one NAME and --version N");
	c.name = a->argv[0];
	if (!version_arg(ctl, a, true, &c.version))
		return CTL_EXIT_USAGE;
	return key_change(ctl, a, &c, ctl_flag(a, CTL_OPT_JSON));
}

int cmd_key_versions(struct ctl *ctl, const struct ctl_args *a)
{
	json_t *out;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "key versions needs one NAME");
	if ((r = ctl_setup(ctl)) != SG_OK ||
	    (r = signer_key_versions_json(ctl->signer, a->argv[0], &out)) != SG_OK)
		return ctl_fail(r, a->argv[0]);
	if (ctl_flag(a, CTL_OPT_JSON))
		return ctl_print_json(out);
	printf("%-7s %-15s %s\n", "VERSION", "STATE", "ADDRESS");
	for (size_t i = 0; i < json_array_size(json_object_get(out, "versions")); i++) {
		json_t *k = json_array_get(json_object_get(out, "versions"), i);

		printf("%-7lld %-15s %s\n",
		       (long long)json_integer_value(json_object_get(k, "version")),
		       json_string_value(json_object_get(k, "state")),
		       json_string_value(json_object_get(k, "address")));
	}
	json_decref(out);
	return EXIT_SUCCESS;
}

/* The current version of each key: the API's view (one KEY per name). */
int cmd_key_list(struct ctl *ctl, const struct ctl_args *a)
{
	bool as_json = ctl_flag(a, CTL_OPT_JSON);
	struct ks_key *keys = NULL;
	size_t n = 0;
	json_t *list = NULL;
	int r, rc = EXIT_FAILURE;

	if (a->argc != 0)
		return ctl_usage_error(ctl, "key list takes only --json");
	if ((r = ctl_setup(ctl)) != SG_OK || (r = ks_key_list_current(ctl->ks, &keys, &n)) != SG_OK)
		return ctl_fail(r, "listing keys");
	if (as_json && (list = json_array()) == NULL) {
		sg_log("out of memory");
		goto out;
	}
	if (!as_json)
		printf("%-32s %-7s %-7s %-15s %s\n", "NAME", "CHAIN", "VERSION", "STATE",
		       "ADDRESS");
	for (size_t i = 0; i < n; i++) {
		char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];

		if ((r = signer_key_texts(&keys[i], pub, address)) != SG_OK) {
			rc = ctl_fail(r, keys[i].name);
			goto out;
		}
		if (as_json) {
			if (json_array_append_new(list, signer_key_json(&keys[i])) != 0) {
				sg_log("%s: cannot build its JSON", keys[i].name);
				goto out;
			}
			continue;
		}
		printf("%-32s %-7s %-7u %-15s %s\n", keys[i].name, ks_chain_name(keys[i].chain),
		       keys[i].version, ks_state_name(keys[i].state), address);
	}
	rc = as_json ? ctl_print_json(json_pack("{s:O}", "keys", list)) : EXIT_SUCCESS;
out:
	json_decref(list);
	free(keys);
	return rc;
}

int cmd_key_show(struct ctl *ctl, const struct ctl_args *a)
{
	struct ks_key key;
	uint32_t version;
	const char *name;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "key show needs one NAME");
	if (!version_arg(ctl, a, false, &version))
		return CTL_EXIT_USAGE;
	name = a->argv[0];
	if ((r = ctl_setup(ctl)) != SG_OK ||
	    (r = ks_key_get(ctl->ks, name, version, &key)) != SG_OK)
		return ctl_fail(r, name);
	return print_key(&key, ctl_flag(a, CTL_OPT_JSON));
}
