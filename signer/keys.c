/* The keys a client sees through the door: the current version of each key a grant lets it
 * use, as the API's KEY objects. */
#include <stdlib.h>

#include "signer/keyinfo.h"
#include "signer_internal.h"

static bool signer_client_may(struct signer *s, const char *client, const char *key)
{
	struct policy_ref *ref;
	bool ok;

	if (client == NULL)
		return true;
	ref = signer_policy_acquire(s);
	ok = policy_client_has_key(ref->policy, client, key);
	signer_policy_release(ref);
	return ok;
}

int signer_keys_json(struct signer *s, const char *client, json_t **out)
{
	struct ks_key *keys;
	size_t n;
	json_t *list;
	int r = ks_key_list_current(s->ks, &keys, &n);

	if (r != SG_OK)
		return r;
	list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++) {
		json_t *k;

		if (!signer_client_may(s, client, keys[i].name))
			continue;
		k = signer_key_json(&keys[i]);
		if (k == NULL || json_array_append_new(list, k) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	free(keys);
	*out = list == NULL ? NULL : json_pack("{s:o}", "keys", list);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "listing keys") : SG_OK;
}

int signer_key_json_get(struct signer *s, const char *client, const char *name, json_t **out)
{
	struct ks_key key;
	int r;

	*out = NULL;
	if (ks_name_check(name) != SG_OK || !signer_client_may(s, client, name))
		return sg_fail(SG_ERR_NOT_FOUND, "no key named '%.64s'", name);
	r = ks_key_lookup(s->ks, name, 0, &key);
	if (r != SG_OK)
		return r;
	*out = signer_key_json(&key);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "key %s", name) : SG_OK;
}
