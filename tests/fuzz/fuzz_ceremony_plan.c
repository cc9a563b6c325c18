/* Fuzz target: a ceremony plan's bytes (ceremony_plan_read), the file custodians sign and
 * signerctl later carries out. Reading is deterministic; an accepted plan is exactly what its
 * bytes say (the action, token and id whole, not cut at a NUL, the hash of those very bytes);
 * and the same action, arguments, token and quorum written again by ceremony_plan_write read
 * back the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ceremony/ceremony.h"
#include "common/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The string field as the JSON holds it, all of it. */
static bool field_is(json_t *doc, const char *field, const char *value)
{
	json_t *v = json_object_get(doc, field);

	return json_is_string(v) && json_string_length(v) == strlen(value) &&
	       memcmp(json_string_value(v), value, strlen(value)) == 0;
}

static void same_plan(const struct ceremony_plan *a, const struct ceremony_plan *b)
{
	if (strcmp(a->id, b->id) != 0 || strcmp(a->action, b->action) != 0 ||
	    strcmp(a->token, b->token) != 0 || a->quorum != b->quorum ||
	    !json_equal(a->args, b->args))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ceremony_plan a, b, c;
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[65], *again = NULL;
	json_t *doc;
	int r1 = ceremony_plan_read(data, size, &a);
	int r2 = ceremony_plan_read(data, size, &b);

	if (r1 != r2)
		abort();
	if (r1 != SG_OK) {
		if (r1 != SG_ERR_MALFORMED || a.args != NULL || b.args != NULL)
			abort();
		return 0;
	}
	same_plan(&a, &b);
	if (a.created_at != b.created_at || a.not_after != b.not_after ||
	    strcmp(a.sha256, b.sha256) != 0)
		abort();
	crypto_hash_sha256(h, data, size);
	if (hex_encode(h, sizeof(h), hex, sizeof(hex)) != SG_OK || strcmp(hex, a.sha256) != 0)
		abort();
	doc = json_loadb((const char *)data, size, 0, NULL);
	if (doc == NULL || !field_is(doc, "ceremony", a.id) || !field_is(doc, "action", a.action) ||
	    !field_is(doc, "token", a.token) || a.quorum < 1 || a.quorum > 64 ||
	    !json_equal(json_object_get(doc, "args"), a.args))
		abort();
	json_decref(doc);
	if (a.not_after >= a.created_at &&
	    ceremony_plan_write(a.action, a.args, a.token, a.quorum, a.not_after - a.created_at,
				&again) == SG_OK) {
		if (ceremony_plan_read((const uint8_t *)again, strlen(again), &c) != SG_OK)
			abort();
		if (strcmp(a.action, c.action) != 0 || strcmp(a.token, c.token) != 0 ||
		    a.quorum != c.quorum || !json_equal(a.args, c.args) ||
		    c.not_after - c.created_at != a.not_after - a.created_at)
			abort();
		ceremony_plan_free(&c);
		free(again);
	}
	ceremony_plan_free(&a);
	ceremony_plan_free(&b);
	return 0;
}
