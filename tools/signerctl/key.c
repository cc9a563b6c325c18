/* signerctl key create | list | show: the keys in the token, as the API shows them. */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "ctl.h"
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

int cmd_key_create(struct ctl *ctl, const struct ctl_args *a)
{
	const char *name = a->value[CTL_OPT_NAME], *chain_text = a->value[CTL_OPT_CHAIN];
	enum ks_chain chain;
	struct ks_key key;
	int r;

	if (name == NULL || chain_text == NULL || a->argc != 0)
		return ctl_usage_error(ctl, "key create needs --name NAME and --chain solana|evm");
	if ((r = ks_name_check(name)) != SG_OK ||
	    (r = ks_chain_parse(chain_text, &chain)) != SG_OK) {
		sg_log("%s", sg_errmsg(r));
		return CTL_EXIT_USAGE;
	}
	if ((r = ctl_setup(ctl)) != SG_OK ||
	    (r = ks_key_generate(ctl->ks, name, chain, &key)) != SG_OK)
		return ctl_fail(r, "key create");
	return print_key(&key, ctl_flag(a, CTL_OPT_JSON));
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
	const char *name;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "key show needs one NAME");
	name = a->argv[0];
	if ((r = ctl_setup(ctl)) != SG_OK || (r = ks_key_get(ctl->ks, name, 0, &key)) != SG_OK)
		return ctl_fail(r, name);
	return print_key(&key, ctl_flag(a, CTL_OPT_JSON));
}
