/* The catalogue record of a key version, stored as JSON in a data object of the token:
 *   {"format":1,"name":"polygon-dev","chain":"evm","version":1,
 *    "transitions":[{"state":"pre-activation","at":"2026-11-27T13:05:00Z"},...],
 *    "origin":"ceremony"}
 * The state is the last transition's; created_at the first's. origin is absent for a key the
 * token generated (KS_ORIGIN_TOKEN), so that records written before origins read the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/timefmt.h"
#include "p11.h"

#define KS_RECORD_FORMAT 1

int ks_record_encode(const struct ks_key *key, uint8_t **blob, size_t *len)
{
	json_t *root = NULL, *list;
	char when[TIME_RFC3339_LEN];
	char *text = NULL;
	int r = SG_OK;

	root = json_pack("{s:i, s:s, s:s, s:I, s:[]}", "format", KS_RECORD_FORMAT, "name",
			 key->name, "chain", ks_chain_name(key->chain), "version",
			 (json_int_t)key->version, "transitions");
	if (root == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "building the catalogue record");
		goto out;
	}
	if (key->origin != KS_ORIGIN_TOKEN &&
	    json_object_set_new(root, "origin", json_string(ks_origin_name(key->origin))) != 0) {
		r = sg_fail(SG_ERR_NOMEM, "building the catalogue record");
		goto out;
	}
	list = json_object_get(root, "transitions");
	for (size_t i = 0; i < key->n_transitions; i++) {
		r = time_format_rfc3339(key->transitions[i].at, when);
		if (r != SG_OK)
			goto out;
		if (json_array_append_new(list, json_pack("{s:s, s:s}", "state",
							  ks_state_name(key->transitions[i].state),
							  "at", when)) != 0) {
			r = sg_fail(SG_ERR_NOMEM, "building the catalogue record");
			goto out;
		}
	}
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "serialising the catalogue record");
		goto out;
	}
	*len = strlen(text);
	*blob = (uint8_t *)text;
	text = NULL;
out:
	free(text);
	json_decref(root);
	return r;
}

int ks_record_decode(const uint8_t *blob, size_t len, struct ks_key *key)
{
	json_t *root, *list, *item;
	json_error_t jerr;
	const char *name, *chain, *state, *at, *origin = NULL;
	json_int_t format, version;
	size_t i;
	int r = SG_OK;

	memset(key, 0, sizeof(*key));
	root = json_loadb((const char *)blob, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return sg_fail(SG_ERR_MALFORMED, "catalogue record is not JSON: %s", jerr.text);
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:I, s:s, s:s, s:I, s:o, s?:s}", "format",
			   &format, "name", &name, "chain", &chain, "version", &version,
			   "transitions", &list, "origin", &origin) != 0) {
		r = sg_fail(SG_ERR_MALFORMED, "catalogue record: %s", jerr.text);
		goto out;
	}
	if (format != KS_RECORD_FORMAT) {
		r = sg_fail(SG_ERR_UNSUPPORTED, "catalogue record format %lld is not %d",
			    (long long)format, KS_RECORD_FORMAT);
		goto out;
	}
	if ((r = ks_name_check(name)) != SG_OK || (r = ks_chain_parse(chain, &key->chain)) != SG_OK)
		goto out;
	if (origin != NULL && ((r = ks_origin_parse(origin, &key->origin)) != SG_OK ||
			       key->origin == KS_ORIGIN_TOKEN)) {
		r = sg_fail(SG_ERR_MALFORMED, "catalogue record has an unknown origin");
		goto out;
	}
	if (version < 1 || version > KS_VERSION_MAX) {
		r = sg_fail(SG_ERR_MALFORMED, "catalogue record version %lld out of range",
			    (long long)version);
		goto out;
	}
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > KS_TRANSITIONS_MAX) {
		r = sg_fail(SG_ERR_MALFORMED, "catalogue record needs 1 to %d transitions",
			    KS_TRANSITIONS_MAX);
		goto out;
	}
	snprintf(key->name, sizeof(key->name), "%s", name);
	key->version = (uint32_t)version;
	json_array_foreach (list, i, item) {
		struct ks_transition *t = &key->transitions[i];

		if (json_unpack_ex(item, &jerr, JSON_STRICT, "{s:s, s:s}", "state", &state, "at",
				   &at) != 0) {
			r = sg_fail(SG_ERR_MALFORMED, "catalogue record transition %zu: %s", i,
				    jerr.text);
			goto out;
		}
		if ((r = ks_state_parse(state, &t->state)) != SG_OK ||
		    (r = time_parse_rfc3339(at, &t->at)) != SG_OK)
			goto out;
		if (i == 0 ? t->state != KS_STATE_PRE_ACTIVATION
			   : !ks_state_transition_allowed(key->transitions[i - 1].state,
							  t->state)) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "catalogue record of %s v%u has an impossible transition to %s",
				    key->name, key->version, state);
			goto out;
		}
	}
	key->n_transitions = json_array_size(list);
	key->state = key->transitions[key->n_transitions - 1].state;
	key->created_at = key->transitions[0].at;
out:
	json_decref(root);
	return r;
}
