/* The one table of the API's errors: kind -> HTTP status -> code -> the default sentence; and
 * the JSON every error is answered with. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "signer/signer.h"

static const struct {
	int status;
	const char *code;
	const char *message; /* when the caller gives none */
} errors[SIGNER_E_COUNT_] = {
	[SIGNER_E_INVALID_REQUEST] = {.status = 400,
				      .code = "invalid_request",
				      .message = "the request is not valid"},
	[SIGNER_E_INVALID_PAYLOAD] = {.status = 400,
				      .code = "invalid_payload",
				      .message = "the payload does not decode"},
	[SIGNER_E_NOT_A_SIGNER] = {.status = 400,
				   .code = "not_a_signer",
				   .message = "the key is not a signer of this payload"},
	[SIGNER_E_WRONG_CHAIN] = {.status = 400,
				  .code = "wrong_chain",
				  .message = "the key is of another chain"},
	[SIGNER_E_FORBIDDEN] = {.status = 403,
				.code = "forbidden",
				.message = "no grant allows this"},
	[SIGNER_E_POLICY_DENIED] = {.status = 403,
				    .code = "policy_denied",
				    .message = "the policy denies this"},
	[SIGNER_E_NOT_FOUND] = {.status = 404, .code = "not_found", .message = "no such path"},
	[SIGNER_E_KEY_NOT_FOUND] = {.status = 404,
				    .code = "key_not_found",
				    .message = "no such key"},
	[SIGNER_E_METHOD_NOT_ALLOWED] = {.status = 405,
					 .code = "method_not_allowed",
					 .message = "the method is not allowed here"},
	[SIGNER_E_KEY_NOT_ACTIVE] = {.status = 409,
				     .code = "key_not_active",
				     .message = "the key is not active"},
	[SIGNER_E_PAYLOAD_TOO_LARGE] = {.status = 413,
					.code = "payload_too_large",
					.message = "the body is too large"},
	[SIGNER_E_UNSUPPORTED_MEDIA] = {.status = 415,
					.code = "unsupported_media_type",
					.message = "the body must be application/json"},
	[SIGNER_E_RATE_LIMITED] = {.status = 429,
				   .code = "rate_limited",
				   .message = "rate limited; retry later"},
	[SIGNER_E_INTERNAL] = {.status = 500, .code = "internal", .message = "internal error"},
	[SIGNER_E_UNAVAILABLE] = {.status = 503,
				  .code = "unavailable",
				  .message = "the key store is unavailable; retry later"},
};

int signer_error_set(struct signer_error *err, int cause, enum signer_errkind kind, const char *fmt,
		     ...)
{
	va_list ap;

	if (kind <= 0 || kind >= SIGNER_E_COUNT_)
		kind = SIGNER_E_INTERNAL;
	memset(err, 0, sizeof(*err));
	err->kind = kind;
	err->status = errors[kind].status;
	err->code = errors[kind].code;
	if (fmt == NULL || kind == SIGNER_E_INTERNAL) {
		snprintf(err->message, sizeof(err->message), "%s", errors[kind].message);
	} else {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	if (err->status >= 500) {
		/* the cause: what the client is not told (the token's CKR_, a write's errno) */
		if (kind == SIGNER_E_INTERNAL && fmt != NULL) {
			char what[sizeof(err->message)];

			va_start(ap, fmt);
			vsnprintf(what, sizeof(what), fmt, ap);
			va_end(ap);
			sg_log("%d %s: %s: %s", err->status, err->code, what,
			       cause != 0 ? sg_errmsg(cause) : "no cause recorded");
		} else {
			sg_log("%d %s: %s: %s", err->status, err->code, err->message,
			       cause != 0 ? sg_errmsg(cause) : "no cause recorded");
		}
	}
	return cause;
}

void signer_result_free(struct signer_result *result)
{
	if (result->has_response)
		jsonw_free(&result->response);
	result->has_response = false;
	json_decref(result->view);
	result->view = NULL;
}

json_t *signer_result_response(const struct signer_result *result)
{
	struct jsonw whole;
	json_t *j = NULL;

	if (!result->has_response || result->response.failed)
		return NULL;
	jsonw_init(&whole);
	jsonw_append(&whole, "{", 1);
	jsonw_append(&whole, result->response.buf, result->response.len);
	jsonw_append(&whole, "}", 1);
	if (!whole.failed)
		j = json_loadb(whole.buf, whole.len, 0, NULL);
	jsonw_free(&whole);
	return j;
}

json_t *signer_error_json(const struct signer_error *err, const char *request_id)
{
	json_t *e = json_pack("{s:s, s:s}", "code", err->code != NULL ? err->code : "internal",
			      "message", err->message);

	if (e != NULL && request_id != NULL)
		json_object_set_new(e, "request_id", json_string(request_id));
	if (e != NULL && err->audit_id[0] != '\0')
		json_object_set_new(e, "audit_id", json_string(err->audit_id));
	if (e != NULL && err->reason[0] != '\0') {
		json_object_set_new(e, "reason", json_string(err->reason));
		json_object_set_new(e, "rule", json_string(err->rule));
	}
	return json_pack("{s:o}", "error", e);
}
