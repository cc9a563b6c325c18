/* The sign request's body (POST /v1/keys/{name}/sign), read into a signer_request. */
#ifndef SIGNER_API_REQUEST_H
#define SIGNER_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "signer/signer.h"

/* Reads len bytes of text (NULL: none) into req's operation, request_id, key_version, kind and
 * payload. The strings req points at live in *doc, the payload in *bytes: the caller frees both
 * (json_decref, free), also when it fails. False: err says why (an invalid_request, or internal
 * when memory runs out); req->request_id is set already when the body named a valid one, so
 * that the refusal can name it. */
bool api_sign_body_parse(const char *text, size_t len, struct signer_request *req, json_t **doc,
			 uint8_t **bytes, struct signer_error *err);

#endif
