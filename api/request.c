/* The sign request's body, read into a signer_request: the JSON members the API names, the
 * payload decoded from its text (base64, 0x-hex, or the typed data's JSON). Nothing here reaches
 * the token or the policy: it is the part of a request an unauthenticated peer's bytes reach
 * first, fuzzed alone (tests/fuzz/fuzz_api_request.c). */
#include "api/request.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/encoding.h"
#include "common/names.h"

/* Decodes the payload field into bytes for the signer. */
static bool api_payload(enum signer_payload kind, json_t *v, uint8_t **out, size_t *len,
			struct signer_error *err)
{
	const char *text;
	size_t n;

	*out = NULL;
	if (kind == SIGNER_PAYLOAD_EVM_TYPED_DATA) {
		char *dumped;

		if (!json_is_object(v)) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
					 "evm_typed_data must be an object");
			return false;
		}
		dumped = json_dumps(v, JSON_COMPACT);
		if (dumped == NULL) {
			signer_error_set(err, sg_fail(SG_ERR_NOMEM, "out of memory"),
					 SIGNER_E_INTERNAL, "reading the payload");
			return false;
		}
		*out = (uint8_t *)dumped;
		*len = strlen(dumped);
		return true;
	}
	if (!json_is_string(v)) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s must be a string",
				 signer_payload_name(kind));
		return false;
	}
	text = json_string_value(v);
	n = json_string_length(v);
	*out = malloc(n + 1);
	if (*out == NULL) {
		signer_error_set(err, sg_fail(SG_ERR_NOMEM, "out of memory"), SIGNER_E_INTERNAL,
				 "reading the payload");
		return false;
	}
	if (kind == SIGNER_PAYLOAD_SOLANA_MESSAGE) {
		const char *end = NULL;

		if (sodium_base642bin(*out, n + 1, text, n, NULL, len, &end,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    end != text + n) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
					 "solana_message is not base64");
			return false;
		}
		return true;
	}
	if (hex_decode_0x(text, n, *out, n + 1, len) != SG_OK) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s is not 0x-hex: %s",
				 signer_payload_name(kind), sg_errmsg(SG_ERR_MALFORMED));
		return false;
	}
	return true;
}

bool api_sign_body_parse(const char *text, size_t len, struct signer_request *req, json_t **doc,
			 uint8_t **bytes, struct signer_error *err)
{
	json_t *body, *v, *payload = NULL;
	json_error_t jerr;
	const char *field;
	int payloads = 0;

	*bytes = NULL;
	*doc = body = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL || !json_is_object(body)) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
				 "the body is not a JSON object%s%s", body == NULL ? ": " : "",
				 body == NULL ? jerr.text : "");
		return false;
	}
	/* the request id first, so that any refusal can name it */
	v = json_object_get(body, "request_id");
	if (v != NULL && json_is_string(v) && request_id_valid(json_string_value(v)))
		req->request_id = json_string_value(v);
	json_object_foreach (body, field, v) {
		enum signer_payload kind = signer_payload_parse(field);

		if (kind != 0) {
			payloads++;
			req->kind = kind;
			payload = v;
		} else if (strcmp(field, "operation") == 0) {
			if (!json_is_string(v)) {
				signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
						 "operation must be a string");
				return false;
			}
			req->operation = json_string_value(v);
		} else if (strcmp(field, "request_id") == 0) {
			if (!json_is_string(v) || !request_id_valid(json_string_value(v))) {
				signer_error_set(
					err, 0, SIGNER_E_INVALID_REQUEST,
					"request_id must be 1 to 128 printable ASCII characters");
				return false;
			}
		} else if (strcmp(field, "key_version") == 0) {
			/* an integer 1..9999, not a string or a float that looks like one */
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > SIGNER_KEY_VERSION_MAX) {
				signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
						 "key_version must be an integer from 1 to %d",
						 SIGNER_KEY_VERSION_MAX);
				return false;
			}
			req->key_version = (uint32_t)json_integer_value(v);
		} else {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "unknown field '%.64s'",
					 field);
			return false;
		}
	}
	if (req->operation == NULL) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "operation is missing");
		return false;
	}
	if (payloads != 1) {
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
				 "exactly one of solana_message, evm_transaction, evm_message, "
				 "evm_typed_data is needed (%d given)",
				 payloads);
		return false;
	}
	if (!api_payload(req->kind, payload, bytes, &req->payload_len, err)) {
		req->payload_len = 0; /* what was decoded before the error is no payload */
		return false;
	}
	req->payload = *bytes;
	return true;
}
