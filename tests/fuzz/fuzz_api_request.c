/* Fuzz target: the sign request's body (api_sign_body_parse), the first thing a client's bytes
 * reach. Reading is deterministic, a refusal is an invalid_request with a sentence, and an
 * accepted body, written again from what was read (the payload re-encoded), reads back to the
 * same request and the same payload bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/request.h"
#include "common/encoding.h"
#include "common/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct parsed {
	bool ok;
	struct signer_request req;
	struct signer_error err;
	json_t *doc;
	uint8_t *bytes;
};

static void parse(const char *text, size_t len, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	p->ok = api_sign_body_parse(text, len, &p->req, &p->doc, &p->bytes, &p->err);
}

static void parsed_free(struct parsed *p)
{
	json_decref(p->doc);
	free(p->bytes);
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void same_request(const struct parsed *a, const struct parsed *b)
{
	if (a->ok != b->ok || !same_str(a->req.operation, b->req.operation) ||
	    !same_str(a->req.request_id, b->req.request_id) ||
	    a->req.key_version != b->req.key_version || a->req.kind != b->req.kind ||
	    a->req.payload_len != b->req.payload_len ||
	    (a->ok && a->req.payload_len > 0 &&
	     memcmp(a->req.payload, b->req.payload, a->req.payload_len) != 0))
		abort();
}

/* The body again, from what was read: the payload in the encoding its field takes. */
static char *rewrite(const struct parsed *p)
{
	json_t *o = json_object(), *payload = NULL;
	char *text = NULL, *enc;
	size_t cap = p->req.payload_len * 2 + 3;

	if (o == NULL)
		abort();
	json_object_set_new(o, "operation", json_string(p->req.operation));
	if (p->req.request_id != NULL)
		json_object_set_new(o, "request_id", json_string(p->req.request_id));
	if (p->req.key_version != 0)
		json_object_set_new(o, "key_version", json_integer(p->req.key_version));
	enc = malloc(
		cap < sodium_base64_ENCODED_LEN(p->req.payload_len, sodium_base64_VARIANT_ORIGINAL)
			? sodium_base64_ENCODED_LEN(p->req.payload_len,
						    sodium_base64_VARIANT_ORIGINAL)
			: cap);
	if (enc == NULL)
		abort();
	switch (p->req.kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		sodium_bin2base64(enc,
				  sodium_base64_ENCODED_LEN(p->req.payload_len,
							    sodium_base64_VARIANT_ORIGINAL),
				  p->req.payload, p->req.payload_len,
				  sodium_base64_VARIANT_ORIGINAL);
		payload = json_string(enc);
		break;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		enc[0] = '0';
		enc[1] = 'x';
		if (hex_encode(p->req.payload, p->req.payload_len, enc + 2, cap - 2) != SG_OK)
			abort();
		payload = json_string(enc);
		break;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		payload = json_loadb((const char *)p->req.payload, p->req.payload_len, 0, NULL);
		break;
	}
	free(enc);
	if (payload == NULL)
		abort(); /* an accepted payload always encodes again */
	json_object_set_new(o, signer_payload_name(p->req.kind), payload);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parsed a, b, c;
	char *text;

	parse((const char *)data, size, &a);
	parse((const char *)data, size, &b);
	same_request(&a, &b);
	if (strcmp(a.err.message, b.err.message) != 0 || !same_str(a.err.code, b.err.code))
		abort();
	if (a.req.request_id != NULL && !request_id_valid(a.req.request_id))
		abort();
	if (!a.ok) {
		/* a client's mistake, said in a sentence; internal only when memory ran out */
		if (a.err.code == NULL || a.err.message[0] == '\0' ||
		    (a.err.status != 400 && strcmp(a.err.code, "internal") != 0) ||
		    a.req.payload != NULL || a.req.payload_len != 0)
			abort();
		goto out;
	}
	if (a.req.operation == NULL || a.req.kind < SIGNER_PAYLOAD_SOLANA_MESSAGE ||
	    a.req.kind > SIGNER_PAYLOAD_EVM_TYPED_DATA || a.req.key_version > 9999 ||
	    a.req.payload != a.bytes)
		abort();
	/* base64 and hex only shrink; typed data is the object written compactly, and may grow
	 * only by what JSON escapes add */
	if (a.req.kind != SIGNER_PAYLOAD_EVM_TYPED_DATA && a.req.payload_len > size)
		abort();
	text = rewrite(&a);
	parse(text, strlen(text), &c);
	if (!c.ok)
		abort();
	same_request(&a, &c);
	parsed_free(&c);
	free(text);
out:
	parsed_free(&a);
	parsed_free(&b);
	return 0;
}
