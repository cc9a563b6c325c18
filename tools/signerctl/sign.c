/* signerctl sign: signs locally through the signing door, as client 'local'; and the payload
 * options it shares with policy explain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/encoding.h"
#include "ctl.h"

#define SIGN_PAYLOAD_MAX (64 * 1024)

unsigned ctl_payload_pick(const struct ctl_args *a, struct ctl_payload *p)
{
	static const enum ctl_opt opts[] = {CTL_OPT_SOLANA_MESSAGE, CTL_OPT_EVM_TRANSACTION,
					    CTL_OPT_EVM_MESSAGE, CTL_OPT_EVM_TYPED_DATA};
	static const enum signer_payload kinds[] = {
		SIGNER_PAYLOAD_SOLANA_MESSAGE, SIGNER_PAYLOAD_EVM_TRANSACTION,
		SIGNER_PAYLOAD_EVM_MESSAGE, SIGNER_PAYLOAD_EVM_TYPED_DATA};
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (a->count[opts[i]] == 0)
			continue;
		n += a->count[opts[i]];
		*p = (struct ctl_payload){.kind = kinds[i], .arg = a->value[opts[i]]};
	}
	return n;
}

int ctl_payload_read(const struct ctl_payload *p, uint8_t **out, size_t *len,
		     struct signer_error *err)
{
	size_t cap = SIGN_PAYLOAD_MAX, n = strlen(p->arg);
	const char *end = NULL;
	FILE *f;

	*out = malloc(cap + 1);
	if (*out == NULL)
		return -1;
	switch (p->kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		if (sodium_base642bin(*out, cap, p->arg, n, NULL, len, &end,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    end != p->arg + n) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST,
					 "solana_message is not base64 (or is over 64 KiB)");
			return -1;
		}
		return 0;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		if (hex_decode_0x(p->arg, n, *out, cap, len) != SG_OK) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s is not 0x-hex: %s",
					 signer_payload_name(p->kind), sg_errmsg(SG_ERR_MALFORMED));
			return -1;
		}
		return 0;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		f = fopen(p->arg, "re");
		if (f == NULL) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "cannot read %s: %s",
					 p->arg, strerror(errno));
			return -1;
		}
		*len = fread(*out, 1, cap + 1, f);
		fclose(f);
		if (*len > cap) {
			signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "%s is over 64 KiB",
					 p->arg);
			return -1;
		}
		return 0;
	default:
		signer_error_set(err, 0, SIGNER_E_INVALID_REQUEST, "no payload");
		return -1;
	}
}

static int sign_failed(const struct signer_error *err, const char *request_id, bool as_json)
{
	if (as_json)
		(void)ctl_print_json(signer_error_json(err, request_id));
	sg_log("sign: %s (%s)", err->message, err->code);
	return EXIT_FAILURE;
}

static void print_response(json_t *response)
{
	const char *field;
	json_t *value;

	json_object_foreach (response, field, value) {
		if (json_is_string(value))
			printf("%-20s %s\n", field, json_string_value(value));
		else
			printf("%-20s %lld\n", field, (long long)json_integer_value(value));
	}
}

int cmd_sign(struct ctl *ctl, const struct ctl_args *a)
{
	bool as_json = ctl_flag(a, CTL_OPT_JSON);
	const char *request_id = a->value[CTL_OPT_REQUEST_ID];
	struct ctl_payload p;
	struct signer_request req = {.client = "local",
				     .key = a->value[CTL_OPT_KEY],
				     .operation = a->value[CTL_OPT_OPERATION],
				     .request_id = request_id};
	struct signer_result res;
	struct signer_error err;
	uint8_t *payload = NULL;
	size_t len = 0;
	int r, rc;

	if (req.key == NULL || req.operation == NULL || ctl_payload_pick(a, &p) != 1 ||
	    a->argc != 0)
		return ctl_usage_error(
			ctl, "sign needs --key, --operation and exactly one payload option");
	if (a->value[CTL_OPT_VERSION] != NULL &&
	    !ctl_version_parse(a->value[CTL_OPT_VERSION], &req.key_version))
		return ctl_usage_error(ctl, "--key-version must be a number from 1 to 9999");
	memset(&err, 0, sizeof(err));
	if (ctl_payload_read(&p, &payload, &len, &err) != 0) {
		free(payload);
		if (err.code == NULL) {
			sg_log("out of memory");
			return EXIT_FAILURE;
		}
		return sign_failed(&err, request_id, as_json);
	}
	if ((r = ctl_setup(ctl)) != SG_OK) {
		free(payload);
		return ctl_fail(r, "sign");
	}
	req.kind = p.kind;
	req.payload = payload;
	req.payload_len = len;
	r = signer_sign(ctl->signer, &req, &res, &err);
	free(payload);
	if (r != SG_OK) {
		if (strcmp(err.code, "internal") == 0) /* the operator may see what went wrong */
			sg_log("sign: %s", sg_errmsg(r));
		return sign_failed(&err, request_id, as_json);
	}
	if (as_json) {
		rc = ctl_print_json(signer_result_response(&res));
	} else {
		json_t *response = signer_result_response(&res);

		print_response(response);
		json_decref(response);
		rc = EXIT_SUCCESS;
	}
	signer_result_free(&res);
	return rc;
}
