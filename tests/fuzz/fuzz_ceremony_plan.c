/* Fuzz target: a ceremony plan's bytes (ceremony_plan_read), the file custodians sign and
 * signerctl later carries out. Reading is deterministic; a refusal says why; an accepted plan is
 * exactly what its bytes say (the action, token and id whole, not cut at a NUL, the hash of those
 * very bytes), and the plan written again from what was read (its id, times and all) is the same
 * bytes, so the same hash: custodians approve one text, and it has one meaning. The same action,
 * arguments, token and quorum written by ceremony_plan_write read back the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ceremony/ceremony.h"
#include "common/encoding.h"
#include "common/timefmt.h"

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

/* The plan's file as ceremony_plan_write lays it out, from the values read (not from the JSON
 * text): the same bytes as the input when the reader took each field as its one spelling. */
static void same_bytes(const struct ceremony_plan *p, const uint8_t *data, size_t size)
{
	char created[TIME_RFC3339_LEN], until[TIME_RFC3339_LEN], *dumped;
	json_t *doc;
	size_t n;

	if (time_format_rfc3339(p->created_at, created) != SG_OK ||
	    time_format_rfc3339(p->not_after, until) != SG_OK)
		abort();
	doc = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:I}", "ceremony", p->id, "action",
			p->action, "args", p->args, "token", p->token, "created_at", created,
			"not_after", until, "quorum", (json_int_t)p->quorum);
	dumped = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
			     : NULL;
	if (dumped == NULL)
		abort();
	n = strlen(dumped);
	if (n + 1 != size || memcmp(dumped, data, n) != 0 || data[n] != '\n')
		abort();
	free(dumped);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ceremony_plan a, b, c;
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[65], msg[256], *again = NULL;
	json_t *doc;
	int r1 = ceremony_plan_read(data, size, &a);
	int r2;

	snprintf(msg, sizeof(msg), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = ceremony_plan_read(data, size, &b);
	if (r1 != r2)
		abort();
	if (r1 != SG_OK) {
		/* a refusal is a malformed plan, with a sentence, the same each time */
		if (r1 != SG_ERR_MALFORMED || a.args != NULL || b.args != NULL || msg[0] == '\0' ||
		    strncmp(msg, sg_errmsg(r2), sizeof(msg) - 1) != 0)
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
	    strlen(a.id) != CEREMONY_ID_LEN || !json_equal(json_object_get(doc, "args"), a.args))
		abort();
	json_decref(doc);
	same_bytes(&a, data, size);
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
