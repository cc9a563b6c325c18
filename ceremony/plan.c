/* Ceremony plans: written once, read strictly, named by the SHA-256 of their exact bytes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ceremony/ceremony.h"
#include "common/encoding.h"
#include "common/timefmt.h"

int ceremony_plan_write(const char *action, json_t *args, const char *token, unsigned quorum,
			int64_t valid_seconds, char **text)
{
	uint8_t raw[CEREMONY_ID_LEN / 2];
	char id[CEREMONY_ID_LEN + 1], created[TIME_RFC3339_LEN], until[TIME_RFC3339_LEN];
	int64_t now = (int64_t)time(NULL);
	json_t *doc;
	char *dumped;

	*text = NULL;
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	randombytes_buf(raw, sizeof(raw));
	if (hex_encode(raw, sizeof(raw), id, sizeof(id)) != SG_OK ||
	    time_format_rfc3339(now, created) != SG_OK ||
	    time_format_rfc3339(now + valid_seconds, until) != SG_OK)
		return sg_fail(SG_ERR_INTERNAL, "the plan's id or times");
	doc = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:I}", "ceremony", id, "action", action,
			"args", args, "token", token, "created_at", created, "not_after", until,
			"quorum", (json_int_t)quorum);
	if (doc == NULL)
		return sg_fail(SG_ERR_NOMEM, "the plan");
	dumped = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (dumped == NULL || (*text = malloc(strlen(dumped) + 2)) == NULL) {
		free(dumped);
		return sg_fail(SG_ERR_NOMEM, "the plan");
	}
	snprintf(*text, strlen(dumped) + 2, "%s\n", dumped);
	free(dumped);
	return SG_OK;
}

/* A time field of the plan, RFC 3339 in UTC, written the one way ceremony_plan_write writes it.
 * strptime takes a day past its month's end (2026-02-31), second 60, numbers padded with
 * spaces and years before 1000, and timegm carries them into another time: such a plan would
 * mean another time than the text custodians approved says, and could not be written again. */
static int plan_time(json_t *doc, const char *field, int64_t *out)
{
	const char *text = json_string_value(json_object_get(doc, field));
	char again[TIME_RFC3339_LEN];

	if (text == NULL || time_parse_rfc3339(text, out) != SG_OK ||
	    time_format_rfc3339(*out, again) != SG_OK || strcmp(again, text) != 0)
		return sg_fail(SG_ERR_MALFORMED, "the plan's %s is not a time (RFC 3339, UTC)",
			       field);
	return SG_OK;
}

int ceremony_plan_read(const uint8_t *bytes, size_t len, struct ceremony_plan *out)
{
	static const char *const fields[] = {"ceremony",   "action",    "args",   "token",
					     "created_at", "not_after", "quorum", NULL};
	uint8_t h[crypto_hash_sha256_BYTES];
	json_error_t jerr;
	json_t *doc;
	const char *id, *action, *token;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > CEREMONY_PLAN_MAX)
		return sg_fail(SG_ERR_MALFORMED, "a plan is 1 to %d bytes", CEREMONY_PLAN_MAX);
	doc = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return sg_fail(SG_ERR_MALFORMED, "the plan is not a JSON object: %s (line %d)",
			       jerr.text, jerr.line);
	}
	for (size_t i = 0; fields[i] != NULL; i++)
		n += json_object_get(doc, fields[i]) != NULL;
	id = json_string_value(json_object_get(doc, "ceremony"));
	action = json_string_value(json_object_get(doc, "action"));
	token = json_string_value(json_object_get(doc, "token"));
	if (n != json_object_size(doc) || n != 7) {
		r = sg_fail(SG_ERR_MALFORMED, "the plan must have exactly the fields ceremony, "
					      "action, args, token, created_at, not_after, quorum");
		goto out;
	}
	if (id == NULL || strlen(id) != CEREMONY_ID_LEN ||
	    strspn(id, "0123456789abcdef") != CEREMONY_ID_LEN || action == NULL ||
	    strlen(action) >= sizeof(out->action) || token == NULL ||
	    strlen(token) >= sizeof(out->token) || !json_is_object(json_object_get(doc, "args")) ||
	    !json_is_integer(json_object_get(doc, "quorum")) ||
	    json_integer_value(json_object_get(doc, "quorum")) < 1 ||
	    json_integer_value(json_object_get(doc, "quorum")) > 64) {
		r = sg_fail(SG_ERR_MALFORMED, "the plan's ceremony, action, args, token or quorum "
					      "is not of its kind");
		goto out;
	}
	if ((r = plan_time(doc, "created_at", &out->created_at)) != SG_OK ||
	    (r = plan_time(doc, "not_after", &out->not_after)) != SG_OK)
		goto out;
	{
		/* the bytes must be the plan as ceremony_plan_write wrote it: a signature in text
		 * mode also verifies other line endings, and an edit that parses the same is
		 * another file than the custodians checked */
		char *canonical =
			json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		bool same = canonical != NULL && strlen(canonical) + 1 == len &&
			    memcmp(canonical, bytes, len - 1) == 0 && bytes[len - 1] == '\n';

		free(canonical);
		if (!same) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "the plan is not written as signerctl ceremony plan writes it "
				    "(sorted, indented by 2, one newline at the end)");
			goto out;
		}
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->action, sizeof(out->action), "%s", action);
	snprintf(out->token, sizeof(out->token), "%s", token);
	out->quorum = (unsigned)json_integer_value(json_object_get(doc, "quorum"));
	out->args = json_incref(json_object_get(doc, "args"));
	crypto_hash_sha256(h, bytes, len);
	r = hex_encode(h, sizeof(h), out->sha256, sizeof(out->sha256));
out:
	json_decref(doc);
	if (r != SG_OK)
		ceremony_plan_free(out);
	return r;
}

void ceremony_plan_free(struct ceremony_plan *plan)
{
	json_decref(plan->args);
	plan->args = NULL;
}
