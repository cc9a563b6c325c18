/* signerctl's shared parts: the context every command gets, the command table's row, the options
 * commands may take, and the small helpers (failure lines, JSON output, lazy setup).
 *
 * A command is one row of the table in main.c and one cmd_* function in its group's file
 * (key.c, sign.c, policy.c, audit.c, token.c), like git's builtin/. Each row names its own
 * options: main.c parses them and refuses any other (exit 2), so a command reads only the
 * values in its struct ctl_args. */
#ifndef SIGNER_TOOLS_SIGNERCTL_CTL_H
#define SIGNER_TOOLS_SIGNERCTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/err.h"
#include "keystore/keystore.h"
#include "signer/config.h"
#include "signer/signer.h"

#define CTL_EXIT_USAGE 2

/* The options of every command, as getopt_long's val. Small numbers: getopt returns '?', ':'
 * and 'h' beside them. */
enum ctl_opt {
	CTL_OPT_JSON = 1,
	CTL_OPT_NAME,
	CTL_OPT_CHAIN,
	CTL_OPT_SO_PIN_FILE,
	CTL_OPT_KEY,
	CTL_OPT_CLIENT,
	CTL_OPT_OPERATION,
	CTL_OPT_REQUEST_ID,
	CTL_OPT_SOLANA_MESSAGE, /* the four payloads, in the order of enum signer_payload */
	CTL_OPT_EVM_TRANSACTION,
	CTL_OPT_EVM_MESSAGE,
	CTL_OPT_EVM_TYPED_DATA,
	CTL_OPT_REASON,
	CTL_OPT_LIMITS,
	CTL_OPT_VERSION,
	CTL_OPT_OUT,
	CTL_OPT_APPROVAL,
	CTL_OPT_VALID_HOURS,
	CTL_OPT_SHARE,
	CTL_OPT_FROM,
	CTL_OPT_TARGET,
	CTL_OPT_SHARES,
	CTL_OPT_THRESHOLD,
	CTL_OPT_COUNT,
};
_Static_assert(CTL_OPT_COUNT < ':', "option values must stay below getopt's ':' and '?'");

#define CTL_OPTION_VERSION                                                                         \
	{                                                                                          \
		.name = "version", .has_arg = required_argument, .val = CTL_OPT_VERSION            \
	}
#define CTL_OPTION_REASON                                                                          \
	{                                                                                          \
		.name = "reason", .has_arg = required_argument, .val = CTL_OPT_REASON              \
	}
#define CTL_OPTION_TARGET                                                                          \
	{                                                                                          \
		.name = "target", .has_arg = required_argument, .val = CTL_OPT_TARGET              \
	}
#define CTL_OPTION_FROM                                                                            \
	{                                                                                          \
		.name = "from", .has_arg = required_argument, .val = CTL_OPT_FROM                  \
	}
#define CTL_OPTION_SHARE                                                                           \
	{                                                                                          \
		.name = "share", .has_arg = required_argument, .val = CTL_OPT_SHARE                \
	}
#define CTL_OPTION_JSON                                                                            \
	{                                                                                          \
		.name = "json", .has_arg = no_argument, .val = CTL_OPT_JSON                        \
	}
/* the payload of sign and policy explain: exactly one of them */
#define CTL_OPTIONS_PAYLOAD                                                                        \
	{.name = "solana-message", .has_arg = required_argument, .val = CTL_OPT_SOLANA_MESSAGE},   \
		{.name = "evm-transaction",                                                        \
		 .has_arg = required_argument,                                                     \
		 .val = CTL_OPT_EVM_TRANSACTION},                                                  \
		{.name = "evm-message", .has_arg = required_argument, .val = CTL_OPT_EVM_MESSAGE}, \
	{                                                                                          \
		.name = "evm-typed-data", .has_arg = required_argument,                            \
		.val = CTL_OPT_EVM_TYPED_DATA                                                      \
	}
#define CTL_OPTIONS_END                                                                            \
	{                                                                                          \
		0                                                                                  \
	}

/* What a command needs set up; ctl_setup() does it when the command is ready to use it. */
enum ctl_needs {
	CTL_NEEDS_NOTHING,
	CTL_NEEDS_CONFIG,          /* signerd.yaml, loaded and its token.environment applied */
	CTL_NEEDS_KEYSTORE,        /* the config and the token, logged in */
	CTL_NEEDS_SIGNER,          /* the config and the signing door (policy, audit log, token) */
	CTL_NEEDS_SIGNER_READONLY, /* the same, to read: nothing appended or anchored */
};

/* What the command line gave a command: its options (the last value of each; "" for a flag)
 * and the operands left after them. */
#define CTL_REPEAT_MAX 16 /* a repeatable option (--approval, --share): this many at most */
struct ctl_args {
	const char *value[CTL_OPT_COUNT];
	unsigned count[CTL_OPT_COUNT];
	const char *all[CTL_OPT_COUNT][CTL_REPEAT_MAX]; /* every value, in order */
	int argc;
	char **argv;
};

struct ctl;

struct ctl_command {
	const char *group; /* "key" */
	const char *verb;  /* "create"; NULL for a group that is one command ("sign") */
	const char *args;  /* its usage after the verb: "--name NAME --chain solana|evm [--json]" */
	const char *summary;          /* one line: what it does */
	const char *details;          /* NULL, or more lines for its help, each ending in '\n' */
	const struct option *options; /* the only options it takes, CTL_OPTIONS_END last */
	enum ctl_needs needs;
	int (*run)(struct ctl *ctl, const struct ctl_args *args);
};

struct ctl {
	const struct ctl_command *cmd; /* the command being run */
	const char *config_path;
	bool config_explicit; /* --config or $SIGNER_CONFIG given */
	const char *pin_file; /* --pin-file: the token's PIN for this command, or NULL */
	struct signer_config cfg;
	bool cfg_loaded;
	struct keystore *ks;
	struct signer *signer;
};

/* main.c: "usage: signerctl [GLOBAL OPTIONS] GROUP VERB ARGS" of one command. */
void ctl_command_usage(FILE *f, const struct ctl_command *c);

/* "signerctl: WHAT: the error's message" on stderr; returns EXIT_FAILURE. */
int ctl_fail(int code, const char *what);
/* "signerctl: GROUP VERB: PROBLEM" and the command's usage line on stderr; returns 2. */
int ctl_usage_error(const struct ctl *ctl, const char *problem);
/* Prints j (and takes it) as indented JSON on stdout; EXIT_SUCCESS or EXIT_FAILURE. */
int ctl_print_json(json_t *j);
/* Sets up what ctl->cmd needs, at most once each. */
SG_MUST_CHECK int ctl_setup(struct ctl *ctl);
SG_MUST_CHECK int ctl_config(struct ctl *ctl);
/* The config and the token (at most once). */
SG_MUST_CHECK int ctl_keystore(struct ctl *ctl);
/* The config and the signing door (at most once); flags as signer_open_with's. */
SG_MUST_CHECK int ctl_signer(struct ctl *ctl, unsigned flags);
/* Releases what ctl_setup() opened. */
void ctl_teardown(struct ctl *ctl);

/* A key version as an option gives it: 1 to 9999, digits only. */
bool ctl_version_parse(const char *text, uint32_t *out);

static inline bool ctl_flag(const struct ctl_args *a, enum ctl_opt opt)
{
	return a->count[opt] > 0;
}

/* sign.c: the payload options of sign and policy explain. */
struct ctl_payload {
	enum signer_payload kind;
	const char *arg;
};
/* The number of payload options given; with exactly one, *p is it. */
unsigned ctl_payload_pick(const struct ctl_args *a, struct ctl_payload *p);
/* Reads the payload into a malloc'd buffer: base64, 0x-hex or a file. A payload that cannot be
 * read is an invalid_request (err set), as the API would say; out of memory leaves err->code
 * NULL. Returns 0 or -1; *out is to be freed in both cases. */
int ctl_payload_read(const struct ctl_payload *p, uint8_t **out, size_t *len,
		     struct signer_error *err);

/* The commands, one function each. */
int cmd_key_create(struct ctl *ctl, const struct ctl_args *a);
int cmd_key_list(struct ctl *ctl, const struct ctl_args *a);
int cmd_key_show(struct ctl *ctl, const struct ctl_args *a);
int cmd_key_versions(struct ctl *ctl, const struct ctl_args *a);
int cmd_ceremony_plan(struct ctl *ctl, const struct ctl_args *a);
int cmd_ceremony_show(struct ctl *ctl, const struct ctl_args *a);
int cmd_ceremony_run(struct ctl *ctl, const struct ctl_args *a);
/* key.c: a lifecycle change refused while ceremonies: is configured (exit 1, naming the plan
 * to make instead); 0 when direct changes are allowed */
int ctl_ceremonies_refuse(struct ctl *ctl, const char *action);
int cmd_key_rotate(struct ctl *ctl, const struct ctl_args *a);
/* activate, suspend, resume, deactivate, compromise, destroy: NAME --version N */
int cmd_key_set(struct ctl *ctl, const struct ctl_args *a);
int cmd_token_init(struct ctl *ctl, const struct ctl_args *a);
int cmd_sign(struct ctl *ctl, const struct ctl_args *a);
int cmd_policy_lint(struct ctl *ctl, const struct ctl_args *a);
int cmd_policy_explain(struct ctl *ctl, const struct ctl_args *a);
int cmd_audit_verify(struct ctl *ctl, const struct ctl_args *a);
int cmd_audit_accept_loss(struct ctl *ctl, const struct ctl_args *a);

#endif
