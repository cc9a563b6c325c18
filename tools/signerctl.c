/* signerctl: the operator's command line. Exit 0 on success, 1 on failure (one line on stderr
 * saying what and why), 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/encoding.h"
#include "common/err.h"
#include "keystore/keystore.h"
#include "signer/config.h"
#include "policy/policy.h"
#include "signer/audit.h"
#include "signer/keyinfo.h"
#include "signer/signer.h"

#include <sodium.h>

#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: signerctl [--config FILE] COMMAND ...\n"
	"\n"
	"  key create --name NAME --chain solana|evm [--json]   generate a key inside the token\n"
	"  key list [--json]                                    list the keys\n"
	"  key show NAME [--json]                               show one key\n"
	"  token init --so-pin-file FILE                        initialise the configured token\n"
	"                                                       in an empty slot\n"
	"  sign --key NAME --operation OP PAYLOAD [--request-id ID] [--json]\n"
	"       PAYLOAD: --solana-message B64 | --evm-transaction 0xHEX | --evm-message 0xHEX\n"
	"                | --evm-typed-data FILE\n"
	"                                                       sign locally, as client 'local'\n"
	"  audit verify FILE                                    check the audit log's hash chain\n"
	"  policy lint FILE                                     check a policy file (and, with a\n"
	"                                                       config, its keys in the token)\n"
	"  policy explain --client C --key K --operation O PAYLOAD [--json]\n"
	"                                                       each check and its outcome, without\n"
	"                                                       signing\n"
	"\n"
	"--config defaults to $SIGNER_CONFIG, then " SIGNER_CONFIG_DEFAULT_PATH ".\n";

static int usage(const char *problem)
{
	if (problem != NULL)
		fprintf(stderr, "signerctl: %s\n", problem);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(int code, const char *what)
{
	fprintf(stderr, "signerctl: %s: %s\n", what, sg_errmsg(code));
	return EXIT_FAILURE;
}

struct ctl {
	const char *config_path;
	bool config_explicit; /* --config or $SIGNER_CONFIG given */
	struct signer_config cfg;
	bool cfg_loaded;
	struct keystore *ks;
	struct signer *signer;
};

#define SIGN_PAYLOAD_MAX (64 * 1024)

static int ctl_config(struct ctl *ctl)
{
	int r;

	if (ctl->cfg_loaded)
		return SG_OK;
	r = signer_config_load(ctl->config_path, &ctl->cfg);
	if (r == SG_OK)
		r = signer_config_apply_env(&ctl->cfg);
	ctl->cfg_loaded = r == SG_OK;
	return r;
}

static int ctl_keystore(struct ctl *ctl)
{
	struct ks_config kc;
	int r = ctl_config(ctl);

	if (r != SG_OK)
		return r;
	kc = (struct ks_config){
		.module_path = ctl->cfg.token.module,
		.token_label = ctl->cfg.token.label,
		.pin_file = ctl->cfg.token.pin_file,
		.sessions = 1,
	};
	return ks_open(&kc, &ctl->ks);
}

static int print_json(json_t *j)
{
	int r = j == NULL ? -1 : json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (r != 0) {
		fprintf(stderr, "signerctl: cannot write JSON output\n");
		return EXIT_FAILURE;
	}
	putchar('\n');
	return EXIT_SUCCESS;
}

static int print_key(const struct ks_key *key, bool as_json)
{
	char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];
	int r;

	r = signer_key_texts(key, pub, address);
	if (r != SG_OK)
		return fail(r, key->name);
	if (as_json)
		return print_json(signer_key_json(key));
	printf("name:       %s\nchain:      %s\nversion:    %u\nstate:      %s\n"
	       "address:    %s\npublic key: %s\n",
	       key->name, ks_chain_name(key->chain), key->version, ks_state_name(key->state),
	       address, pub);
	return EXIT_SUCCESS;
}

/* The current version of each key: the API's view (one KEY per name). */
static int cmd_key_list(struct ctl *ctl, bool as_json)
{
	struct ks_key *keys = NULL;
	size_t n = 0;
	json_t *list = NULL;
	int r, rc = EXIT_FAILURE;

	if ((r = ctl_keystore(ctl)) != SG_OK ||
	    (r = ks_key_list_current(ctl->ks, &keys, &n)) != SG_OK)
		return fail(r, "listing keys");
	if (as_json && (list = json_array()) == NULL) {
		fprintf(stderr, "signerctl: out of memory\n");
		goto out;
	}
	if (!as_json)
		printf("%-32s %-7s %-7s %-15s %s\n", "NAME", "CHAIN", "VERSION", "STATE",
		       "ADDRESS");
	for (size_t i = 0; i < n; i++) {
		char pub[SIGNER_PUBKEY_TEXT_MAX], address[SIGNER_ADDRESS_TEXT_MAX];

		if ((r = signer_key_texts(&keys[i], pub, address)) != SG_OK) {
			rc = fail(r, keys[i].name);
			goto out;
		}
		if (as_json) {
			if (json_array_append_new(list, signer_key_json(&keys[i])) != 0) {
				fprintf(stderr, "signerctl: %s: cannot build its JSON\n", keys[i].name);
				goto out;
			}
			continue;
		}
		printf("%-32s %-7s %-7u %-15s %s\n", keys[i].name, ks_chain_name(keys[i].chain),
		       keys[i].version, ks_state_name(keys[i].state), address);
	}
	rc = as_json ? print_json(json_pack("{s:O}", "keys", list)) : EXIT_SUCCESS;
out:
	json_decref(list);
	free(keys);
	return rc;
}

static int cmd_key_show(struct ctl *ctl, const char *name, bool as_json)
{
	struct ks_key key;
	int r;

	if ((r = ctl_keystore(ctl)) != SG_OK || (r = ks_key_get(ctl->ks, name, 0, &key)) != SG_OK)
		return fail(r, name);
	return print_key(&key, as_json);
}

static int cmd_key_create(struct ctl *ctl, const char *name, const char *chain_text,
			  bool as_json)
{
	enum ks_chain chain;
	struct ks_key key;
	int r;

	if ((r = ks_name_check(name)) != SG_OK || (r = ks_chain_parse(chain_text, &chain)) != SG_OK) {
		fprintf(stderr, "signerctl: %s\n", sg_errmsg(r));
		return EXIT_USAGE;
	}
	if ((r = ctl_keystore(ctl)) != SG_OK ||
	    (r = ks_key_generate(ctl->ks, name, chain, &key)) != SG_OK)
		return fail(r, "key create");
	return print_key(&key, as_json);
}

static int cmd_token_init(struct ctl *ctl, const char *so_pin_file)
{
	int r = ctl_config(ctl);

	if (r != SG_OK)
		return fail(r, "token init");
	r = ks_token_init(ctl->cfg.token.module, ctl->cfg.token.label, so_pin_file,
			  ctl->cfg.token.pin_file);
	if (r != SG_OK)
		return fail(r, "token init");
	printf("token '%s' initialised\n", ctl->cfg.token.label);
	return EXIT_SUCCESS;
}

/* Reads the payload an option gives into a malloc'd buffer: base64, 0x-hex or a file. A payload
 * that cannot be read is an invalid_request, as the API would say. */
static int sign_payload(enum signer_payload kind, const char *arg, uint8_t **out, size_t *len,
			struct signer_error *err)
{
	size_t cap = SIGN_PAYLOAD_MAX, n = strlen(arg);
	const char *end = NULL;
	FILE *f;

	*out = malloc(cap + 1);
	if (*out == NULL)
		return -1;
	err->status = 400;
	err->code = "invalid_request";
	switch (kind) {
	case SIGNER_PAYLOAD_SOLANA_MESSAGE:
		if (sodium_base642bin(*out, cap, arg, n, NULL, len, &end,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    end != arg + n) {
			snprintf(err->message, sizeof(err->message),
				 "solana_message is not base64 (or is over 64 KiB)");
			return -1;
		}
		return 0;
	case SIGNER_PAYLOAD_EVM_TRANSACTION:
	case SIGNER_PAYLOAD_EVM_MESSAGE:
		if (hex_decode_0x(arg, n, *out, cap, len) != SG_OK) {
			snprintf(err->message, sizeof(err->message), "%s is not 0x-hex: %s",
				 signer_payload_name(kind), sg_errmsg(SG_ERR_MALFORMED));
			return -1;
		}
		return 0;
	case SIGNER_PAYLOAD_EVM_TYPED_DATA:
		f = fopen(arg, "re");
		if (f == NULL) {
			snprintf(err->message, sizeof(err->message), "cannot read %s: %s", arg,
				 strerror(errno));
			return -1;
		}
		*len = fread(*out, 1, cap + 1, f);
		fclose(f);
		if (*len > cap) {
			snprintf(err->message, sizeof(err->message), "%s is over 64 KiB", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int sign_failed(const struct signer_error *err, const char *request_id, bool as_json)
{
	if (as_json) {
		json_t *j = signer_error_json(err, request_id);

		(void)print_json(j);
	}
	fprintf(stderr, "signerctl: sign: %s (%s)\n", err->message, err->code);
	return EXIT_FAILURE;
}

static int cmd_sign(struct ctl *ctl, const char *key, const char *operation,
		    const char *request_id, enum signer_payload kind, const char *arg,
		    bool as_json)
{
	struct signer_request req = {.client = "local", .key = key, .operation = operation,
				     .request_id = request_id, .kind = kind};
	struct signer_result res;
	struct signer_error err;
	uint8_t *payload = NULL;
	size_t len = 0;
	const char *field;
	json_t *value;
	int r, rc;

	memset(&err, 0, sizeof(err));
	if (sign_payload(kind, arg, &payload, &len, &err) != 0) {
		free(payload);
		if (err.code == NULL) {
			fprintf(stderr, "signerctl: out of memory\n");
			return EXIT_FAILURE;
		}
		return sign_failed(&err, request_id, as_json);
	}
	if ((r = ctl_config(ctl)) != SG_OK || (r = signer_open(&ctl->cfg, &ctl->signer)) != SG_OK) {
		free(payload);
		return fail(r, "sign");
	}
	req.payload = payload;
	req.payload_len = len;
	r = signer_sign(ctl->signer, &req, &res, &err);
	free(payload);
	if (r != SG_OK) {
		if (strcmp(err.code, "internal") == 0) /* the operator may see what went wrong */
			fprintf(stderr, "signerctl: sign: %s\n", sg_errmsg(r));
		return sign_failed(&err, request_id, as_json);
	}
	if (as_json) {
		rc = print_json(json_incref(res.response));
	} else {
		json_object_foreach(res.response, field, value) {
			if (json_is_string(value))
				printf("%-20s %s\n", field, json_string_value(value));
			else
				printf("%-20s %lld\n", field, (long long)json_integer_value(value));
		}
		rc = EXIT_SUCCESS;
	}
	signer_result_free(&res);
	return rc;
}

/* Exit 0 when the policy would allow the request, 1 when it would not. */
static int cmd_policy_explain(struct ctl *ctl, const char *client, const char *key,
			      const char *operation, enum signer_payload kind, const char *arg,
			      bool as_json)
{
	struct signer_request req = {.client = client, .key = key, .operation = operation,
				     .kind = kind};
	struct signer_error err;
	uint8_t *payload = NULL;
	size_t len = 0;
	json_t *out = NULL, *c;
	size_t i;
	int r, rc;

	memset(&err, 0, sizeof(err));
	if (sign_payload(kind, arg, &payload, &len, &err) != 0) {
		free(payload);
		fprintf(stderr, "signerctl: policy explain: %s\n",
			err.code != NULL ? err.message : "out of memory");
		return EXIT_FAILURE;
	}
	if ((r = ctl_config(ctl)) != SG_OK || (r = signer_open(&ctl->cfg, &ctl->signer)) != SG_OK) {
		free(payload);
		return fail(r, "policy explain");
	}
	req.payload = payload;
	req.payload_len = len;
	r = signer_explain(ctl->signer, &req, &out);
	free(payload);
	if (r != SG_OK)
		return fail(r, "policy explain");
	rc = strcmp(json_string_value(json_object_get(out, "decision")), "allow") == 0
		     ? EXIT_SUCCESS
		     : EXIT_FAILURE;
	if (as_json)
		return print_json(out) == EXIT_SUCCESS ? rc : EXIT_FAILURE;
	json_array_foreach(json_object_get(out, "checks"), i, c) {
		const char *rule = json_string_value(json_object_get(c, "rule"));
		const char *reason = json_string_value(json_object_get(c, "reason"));
		const char *detail = json_string_value(json_object_get(c, "detail"));

		printf("%-12s %-5s%s%s%s%s%s%s\n", json_string_value(json_object_get(c, "check")),
		       json_string_value(json_object_get(c, "outcome")), reason ? "  " : "",
		       reason ? reason : "", rule ? "  [" : "", rule ? rule : "", rule ? "]" : "",
		       "");
		if (detail != NULL)
			printf("             %s\n", detail);
	}
	printf("decision     %s\n", json_string_value(json_object_get(out, "decision")));
	json_decref(out);
	return rc;
}

struct lint_keys {
	struct keystore *ks;
	const char *path;
	const char *label;
	int problems;
};

static void lint_key(const char *key, unsigned long line, void *ctx)
{
	struct lint_keys *lk = ctx;
	struct ks_key k;

	if (ks_key_get(lk->ks, key, 0, &k) == SG_OK)
		return;
	fprintf(stderr, "%s:%lu: key '%s' is not in token '%s'\n", lk->path, line, key, lk->label);
	lk->problems++;
}

/* Exit 0 when the policy is sound; 1 with "FILE:LINE: message" otherwise. With a config (the
 * --config option or $SIGNER_CONFIG), the keys the grants name are looked up in its token too. */
static int cmd_policy_lint(struct ctl *ctl, const char *path, bool with_token)
{
	struct policy *p;
	struct lint_keys lk = {NULL, path, NULL, 0};
	int r = policy_load(path, &p);

	if (r != SG_OK) {
		fprintf(stderr, "%s\n", sg_errmsg(r));
		return EXIT_FAILURE;
	}
	if (with_token) {
		if ((r = ctl_keystore(ctl)) != SG_OK) {
			policy_free(p);
			return fail(r, "policy lint: the token");
		}
		lk.ks = ctl->ks;
		lk.label = ctl->cfg.token.label;
		policy_keys_foreach(p, lint_key, &lk);
	}
	if (lk.problems == 0)
		printf("%s: %zu clients, %zu grants: no problems found%s\n", path,
		       policy_client_count(p), policy_grant_count(p),
		       with_token ? " (keys checked against the token)"
				  : " (keys not checked: no --config)");
	policy_free(p);
	return lk.problems == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Exit 0 when the chain holds; 1 with "FILE:LINE: what" for the first bad line. */
static int cmd_audit_verify(const char *path)
{
	unsigned long bad, lines;
	int r = audit_verify_file(path, &bad, &lines);

	if (r != SG_OK) {
		fprintf(stderr, "signerctl: audit verify: %s\n", sg_errmsg(r));
		return EXIT_FAILURE;
	}
	printf("%s: %lu records, chain intact\n", path, lines);
	return EXIT_SUCCESS;
}

enum {
	OPT_JSON = 1000,
	OPT_NAME,
	OPT_CHAIN,
	OPT_SO_PIN_FILE,
	OPT_KEY,
	OPT_OPERATION,
	OPT_REQUEST_ID,
	OPT_SOLANA_MESSAGE,
	OPT_EVM_TRANSACTION,
	OPT_EVM_MESSAGE,
	OPT_EVM_TYPED_DATA,
	OPT_CLIENT,
};

static int run(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"name", required_argument, NULL, OPT_NAME},
		{"chain", required_argument, NULL, OPT_CHAIN},
		{"so-pin-file", required_argument, NULL, OPT_SO_PIN_FILE},
		{"key", required_argument, NULL, OPT_KEY},
		{"client", required_argument, NULL, OPT_CLIENT},
		{"operation", required_argument, NULL, OPT_OPERATION},
		{"request-id", required_argument, NULL, OPT_REQUEST_ID},
		{"solana-message", required_argument, NULL, OPT_SOLANA_MESSAGE},
		{"evm-transaction", required_argument, NULL, OPT_EVM_TRANSACTION},
		{"evm-message", required_argument, NULL, OPT_EVM_MESSAGE},
		{"evm-typed-data", required_argument, NULL, OPT_EVM_TYPED_DATA},
		{NULL, 0, NULL, 0},
	};
	const char *name = NULL, *chain = NULL, *so_pin_file = NULL;
	const char *key = NULL, *operation = NULL, *request_id = NULL, *payload = NULL;
	const char *client = NULL;
	enum signer_payload kind = 0;
	int payloads = 0;
	const char *group, *verb;
	bool as_json = false;
	int c;

	if (argc < 1 || (argc < 2 && strcmp(argv[0], "sign") != 0))
		return usage("missing command");
	group = argv[0];
	verb = argv[1];
	if (strcmp(group, "sign") == 0) { /* "sign" has no verb: its options start at once */
		verb = "";
		argc++;
		argv--;
	}
	/* parse what follows the verb: the verb stands as argv[0] of the rest, and optind 0
	 * resets getopt (which permutes, so options may follow the operands) */
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			as_json = true;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case OPT_CHAIN:
			chain = optarg;
			break;
		case OPT_SO_PIN_FILE:
			so_pin_file = optarg;
			break;
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_CLIENT:
			client = optarg;
			break;
		case OPT_OPERATION:
			operation = optarg;
			break;
		case OPT_REQUEST_ID:
			request_id = optarg;
			break;
		case OPT_SOLANA_MESSAGE:
		case OPT_EVM_TRANSACTION:
		case OPT_EVM_MESSAGE:
		case OPT_EVM_TYPED_DATA:
			kind = (enum signer_payload)(SIGNER_PAYLOAD_SOLANA_MESSAGE + c -
						     OPT_SOLANA_MESSAGE);
			payload = optarg;
			payloads++;
			break;
		default:
			fprintf(stderr, "signerctl: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (strcmp(group, "key") == 0 && strcmp(verb, "create") == 0) {
		if (name == NULL || chain == NULL || optind != argc)
			return usage("key create needs --name NAME and --chain solana|evm");
		return cmd_key_create(ctl, name, chain, as_json);
	}
	if (strcmp(group, "key") == 0 && strcmp(verb, "list") == 0) {
		if (optind != argc || name != NULL || chain != NULL)
			return usage("key list takes only --json");
		return cmd_key_list(ctl, as_json);
	}
	if (strcmp(group, "key") == 0 && strcmp(verb, "show") == 0) {
		if (optind != argc - 1 || name != NULL || chain != NULL)
			return usage("key show needs one NAME");
		return cmd_key_show(ctl, argv[optind], as_json);
	}
	if (strcmp(group, "sign") == 0) {
		if (key == NULL || operation == NULL || payloads != 1 || optind != argc)
			return usage("sign needs --key, --operation and exactly one payload option");
		return cmd_sign(ctl, key, operation, request_id, kind, payload, as_json);
	}
	if (strcmp(group, "policy") == 0 && strcmp(verb, "explain") == 0) {
		if (client == NULL || key == NULL || operation == NULL || payloads != 1 ||
		    optind != argc)
			return usage("policy explain needs --client, --key, --operation and one "
				     "payload option");
		return cmd_policy_explain(ctl, client, key, operation, kind, payload, as_json);
	}
	if (strcmp(group, "policy") == 0 && strcmp(verb, "lint") == 0) {
		if (optind != argc - 1 || as_json)
			return usage("policy lint needs one FILE");
		return cmd_policy_lint(ctl, argv[optind], ctl->config_explicit);
	}
	if (strcmp(group, "audit") == 0 && strcmp(verb, "verify") == 0) {
		if (optind != argc - 1 || as_json)
			return usage("audit verify needs one FILE");
		return cmd_audit_verify(argv[optind]);
	}
	if (strcmp(group, "token") == 0 && strcmp(verb, "init") == 0) {
		if (so_pin_file == NULL || optind != argc)
			return usage("token init needs --so-pin-file FILE");
		return cmd_token_init(ctl, so_pin_file);
	}
	return usage("unknown command");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl ctl;
	const char *config_arg = NULL;
	int c, rc;

	memset(&ctl, 0, sizeof(ctl));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_arg = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		default:
			return usage("unknown or incomplete option");
		}
	}
	ctl.config_path = signer_config_path(config_arg);
	ctl.config_explicit = config_arg != NULL ||
			      (getenv("SIGNER_CONFIG") != NULL && getenv("SIGNER_CONFIG")[0] != '\0');
	rc = run(&ctl, argc - optind, argv + optind);
	signer_close(ctl.signer);
	ks_close(ctl.ks);
	if (ctl.cfg_loaded)
		signer_config_free(&ctl.cfg);
	return rc;
}
