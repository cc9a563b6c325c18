/* signerctl: the operator's command line. Exit 0 on success, 1 on failure (one line on stderr
 * saying what and why), 2 on a usage error.
 *
 * This file holds the global options, the table of commands and the dispatch: a command is one
 * row below and one cmd_* function in its group's file. Each row names the options it takes;
 * any other option is a usage error that names it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl.h"
#include "ctl_backup.h"
#include "ctl_readiness.h"

#ifndef SIGNER_VERSION
#define SIGNER_VERSION "unknown"
#endif

#define PAYLOAD_DETAILS                                                                            \
	"       PAYLOAD: --solana-message B64 | --evm-transaction 0xHEX | --evm-message 0xHEX\n"   \
	"                | --evm-typed-data FILE\n"

static const struct ctl_command commands[] = {
	{
		.group = "key",
		.verb = "create",
		.args = "--name NAME --chain solana|evm [--share FILE...] [--json]",
		.summary = "generate a key inside the token",
		.details = "  With backup: configured, --share gives the shares that rebuild the "
			   "backup\n  key: version 1 is backed up before it becomes active.\n",
		.options =
			(const struct option[]){
				{.name = "name", .has_arg = required_argument, .val = CTL_OPT_NAME},
				{.name = "chain",
				 .has_arg = required_argument,
				 .val = CTL_OPT_CHAIN},
				CTL_OPTION_SHARE,
				CTL_OPTION_JSON,
				CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG, /* then the signer, or the token alone: cmd_key_create */
		.run = cmd_key_create,
	},
	{
		.group = "key",
		.verb = "list",
		.args = "[--json]",
		.summary = "list the keys",
		.options = (const struct option[]){CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_KEYSTORE,
		.run = cmd_key_list,
	},
	{
		.group = "key",
		.verb = "show",
		.args = "NAME [--version N] [--json]",
		.summary = "show one key (default: its active\nversion, else its newest)",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_KEYSTORE,
		.run = cmd_key_show,
	},
	{
		.group = "key",
		.verb = "versions",
		.args = "NAME [--json]",
		.summary = "every version of a key",
		.options = (const struct option[]){CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER_READONLY,
		.run = cmd_key_versions,
	},
	{
		.group = "key",
		.verb = "rotate",
		.args = "NAME [--share FILE...] [--json]",
		.summary = "make version N+1 (pre-activation, a new\naddress) and print it",
		.options =
			(const struct option[]){CTL_OPTION_SHARE, CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_rotate,
	},
	{
		.group = "key",
		.verb = "activate",
		.args = "NAME --version N [--json]",
		.summary = "make version N active; the active one\nbecomes deactivated in the same "
			   "step",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "key",
		.verb = "suspend",
		.args = "NAME --version N [--json]",
		.summary = "stop version N signing for now",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "key",
		.verb = "resume",
		.args = "NAME --version N [--json]",
		.summary = "let a suspended version N sign again",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "key",
		.verb = "deactivate",
		.args = "NAME --version N [--json]",
		.summary = "stop version N signing for good",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "key",
		.verb = "compromise",
		.args = "NAME --version N [--reason TEXT] [--json]",
		.summary = "mark version N compromised: it never\nsigns again",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_REASON,
						   CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "key",
		.verb = "destroy",
		.args = "NAME --version N [--json]",
		.summary = "remove version N's private key from the\ntoken (its public key and "
			   "record stay)",
		.options = (const struct option[]){CTL_OPTION_VERSION, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_key_set,
	},
	{
		.group = "ceremony",
		.verb = "plan",
		.args = "ACTION [NAME] [ACTION'S OPTIONS] --out PLAN [--valid-hours H]",
		.summary = "write a plan of one action for the\ncustodians to approve",
		.details = "  ACTION: key-create --name N --chain C | key-rotate NAME |\n"
			   "  key-activate|suspend|resume|deactivate|destroy NAME --version N |\n"
			   "  key-compromise NAME --version N [--reason TEXT] |\n"
			   "  key-sign --key NAME --version N --operation OP PAYLOAD\n"
			   "  A plan is valid for --valid-hours (default 24).\n",
		.options =
			(const struct option[]){
				{.name = "out", .has_arg = required_argument, .val = CTL_OPT_OUT},
				{.name = "valid-hours",
				 .has_arg = required_argument,
				 .val = CTL_OPT_VALID_HOURS},
				{.name = "name", .has_arg = required_argument, .val = CTL_OPT_NAME},
				{.name = "chain",
				 .has_arg = required_argument,
				 .val = CTL_OPT_CHAIN},
				{.name = "key", .has_arg = required_argument, .val = CTL_OPT_KEY},
				{.name = "operation",
				 .has_arg = required_argument,
				 .val = CTL_OPT_OPERATION},
				CTL_OPTION_VERSION,
				CTL_OPTION_REASON,
				CTL_OPTIONS_PAYLOAD,
				CTL_OPTION_FROM,
				{.name = "shares",
				 .has_arg = required_argument,
				 .val = CTL_OPT_SHARES},
				{.name = "threshold",
				 .has_arg = required_argument,
				 .val = CTL_OPT_THRESHOLD},
				CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_ceremony_plan,
	},
	{
		.group = "ceremony",
		.verb = "show",
		.args = "PLAN",
		.summary = "what a plan will do, for a custodian\nabout to approve it",
		.options = (const struct option[]){CTL_OPTIONS_END},
		.needs = CTL_NEEDS_NOTHING,
		.run = cmd_ceremony_show,
	},
	{
		.group = "ceremony",
		.verb = "run",
		.args = "PLAN --approval FILE... [--share FILE...] [--out DIR] [--json]",
		.summary = "check the approvals and carry the plan\nout, once",
		.options =
			(const struct option[]){
				{.name = "approval",
				 .has_arg = required_argument,
				 .val = CTL_OPT_APPROVAL},
				CTL_OPTION_SHARE,
				{.name = "out", .has_arg = required_argument, .val = CTL_OPT_OUT},
				CTL_OPTION_JSON,
				CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_ceremony_run,
	},
	{
		.group = "backup",
		.verb = "list",
		.args = "[--target NAME] [--json]",
		.summary = "the backups each target holds",
		.options = (const struct option[]){CTL_OPTION_TARGET, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_backup_list,
	},
	{
		.group = "backup",
		.verb = "verify",
		.args = "[--target NAME] [--json]",
		.summary = "every backup's objects checked, no secret\nneeded; exit 1 unless each "
			   "target\nholds the newest backup",
		.options = (const struct option[]){CTL_OPTION_TARGET, CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_backup_verify,
	},
	{
		.group = "backup",
		.verb = "state",
		.args = "[--json]",
		.summary = "back up the catalogue, policy, config and\naudit log to every target",
		.options = (const struct option[]){CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_backup_state,
	},
	{
		.group = "backup",
		.verb = "sync",
		.args = "",
		.summary = "copy to each target what it lacks of\nthe others' good backups",
		.options = (const struct option[]){CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_backup_sync,
	},
	{
		.group = "restore",
		.verb = NULL,
		.args = "--from TARGET --share FILE... [--json]",
		.summary = "restore the newest good backup into the\nconfigured (new, empty) token",
		.options = (const struct option[]){CTL_OPTION_FROM, CTL_OPTION_SHARE,
						   CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_restore,
	},
	{
		.group = "dr",
		.verb = "drill",
		.args = "--from TARGET --share FILE... [--json]",
		.summary = "restore into a scratch token, probe every\nactive key, measure RTO "
			   "and RPO",
		.options = (const struct option[]){CTL_OPTION_FROM, CTL_OPTION_SHARE,
						   CTL_OPTION_JSON, CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_dr_drill,
	},
	{
		.group = "readiness",
		.verb = NULL,
		.args = "[--json] [--textfile FILE]",
		.summary = "the operational readiness checks; exit 1\nwhen one fails (a warning "
			   "is ready)",
		.details = "  --textfile FILE also writes the result as Prometheus text (for\n"
			   "  node_exporter's textfile collector), atomically.\n",
		.options = (const struct option[]){{.name = "textfile",
						    .has_arg = required_argument,
						    .val = CTL_OPT_TEXTFILE},
						   CTL_OPTION_JSON,
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_NOTHING, /* the config, the token: each check opens them */
		.run = cmd_readiness,
	},
	{
		.group = "token",
		.verb = "init",
		.args = "--so-pin-file FILE",
		.summary = "initialise the configured token\nin an empty slot",
		.options = (const struct option[]){{.name = "so-pin-file",
						    .has_arg = required_argument,
						    .val = CTL_OPT_SO_PIN_FILE},
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_token_init,
	},
	{
		.group = "sign",
		.verb = NULL,
		.args = "--key NAME [--key-version N] --operation OP PAYLOAD [--request-id ID] "
			"[--json]",
		.summary = "sign locally, as client 'local'",
		.details = PAYLOAD_DETAILS,
		.options =
			(const struct option[]){
				{.name = "key", .has_arg = required_argument, .val = CTL_OPT_KEY},
				{.name = "operation",
				 .has_arg = required_argument,
				 .val = CTL_OPT_OPERATION},
				{.name = "request-id",
				 .has_arg = required_argument,
				 .val = CTL_OPT_REQUEST_ID},
				{.name = "key-version",
				 .has_arg = required_argument,
				 .val = CTL_OPT_VERSION},
				CTL_OPTIONS_PAYLOAD,
				CTL_OPTION_JSON,
				CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER,
		.run = cmd_sign,
	},
	{
		.group = "audit",
		.verb = "verify",
		.args = "[FILE|DIRECTORY]",
		.summary =
			"check the audit log's hash chain (all its\nsegments) and, with a config, "
			"that it\nreaches the token's anchor",
		.details = "  FILE is the log's active segment (audit.path), DIRECTORY one holding "
			   "its\n"
			   "  segments; without either, the config's audit.path.\n",
		.options = (const struct option[]){CTL_OPTIONS_END},
		.needs = CTL_NEEDS_NOTHING, /* the token only with a config: cmd_audit_verify */
		.run = cmd_audit_verify,
	},
	{
		.group = "audit",
		.verb = "accept-loss",
		.args = "--reason TEXT [--limits exhausted|reset]",
		.summary = "record that the log lost what the token's\nanchor names, and anchor "
			   "it anew",
		.details =
			"  For a log that does not reach its anchor (truncated, deleted, "
			"rewritten)\n"
			"  and cannot be restored. With --limits exhausted (the default) every\n"
			"  spend limit counts as used up until its window has passed; with reset,\n"
			"  the limits count only what the log still holds.\n",
		.options = (const struct option[]){{.name = "reason",
						    .has_arg = required_argument,
						    .val = CTL_OPT_REASON},
						   {.name = "limits",
						    .has_arg = required_argument,
						    .val = CTL_OPT_LIMITS},
						   CTL_OPTIONS_END},
		.needs = CTL_NEEDS_CONFIG,
		.run = cmd_audit_accept_loss,
	},
	{
		.group = "policy",
		.verb = "lint",
		.args = "FILE",
		.summary = "check a policy file (and, with a\nconfig, its keys in the token)",
		.options = (const struct option[]){CTL_OPTIONS_END},
		.needs = CTL_NEEDS_KEYSTORE, /* only with a config: cmd_policy_lint decides */
		.run = cmd_policy_lint,
	},
	{
		.group = "policy",
		.verb = "explain",
		.args = "--client C --key K --operation O PAYLOAD [--json]",
		.summary = "each check and its outcome, without\nsigning",
		.details = PAYLOAD_DETAILS,
		.options =
			(const struct option[]){
				{.name = "client",
				 .has_arg = required_argument,
				 .val = CTL_OPT_CLIENT},
				{.name = "key", .has_arg = required_argument, .val = CTL_OPT_KEY},
				{.name = "operation",
				 .has_arg = required_argument,
				 .val = CTL_OPT_OPERATION},
				CTL_OPTIONS_PAYLOAD,
				CTL_OPTION_JSON,
				CTL_OPTIONS_END},
		.needs = CTL_NEEDS_SIGNER_READONLY,
		.run = cmd_policy_explain,
	},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

#define SYNOPSIS                                                                                   \
	"usage: signerctl [--config FILE] [--pin-file FILE] COMMAND ...\n"                         \
	"       signerctl help [COMMAND]\n"                                                        \
	"       signerctl --version\n"

static const char global_options_text[] =
	"global options:\n"
	"  --config FILE    the configuration; default $SIGNER_CONFIG, then\n"
	"                   " SIGNER_CONFIG_DEFAULT_PATH "\n"
	"  --pin-file FILE  read the token's user PIN from FILE (owner-only) for this command,\n"
	"                   instead of the config's token.pin_file or token.pin_credential\n"
	"  -h, --help       this help; 'signerctl help COMMAND' or 'signerctl COMMAND --help'\n"
	"                   for one command or group\n"
	"  --version        print signerctl's version\n"
	"\n"
	"Exit status: 0 success, 1 failure (one line on stderr says what and why), 2 usage "
	"error.\n";

#define SUMMARY_COLUMN 55

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static int print_name(FILE *f, const struct ctl_command *c)
{
	return fprintf(f, "%s%s%s", c->group, c->verb != NULL ? " " : "",
		       c->verb != NULL ? c->verb : "");
}

void ctl_command_usage(FILE *f, const struct ctl_command *c)
{
	fputs("usage: signerctl [GLOBAL OPTIONS] ", f);
	print_name(f, c);
	fprintf(f, " %s\n", c->args);
	if (c->details != NULL)
		fputs(c->details, f);
}

/* One command in a list: its name and arguments, its details, then its summary from column 55
 * (on the same line when that fits). */
static void list_command(FILE *f, const struct ctl_command *c)
{
	int col = fprintf(f, "  ") + print_name(f, c) + fprintf(f, " %s", c->args);
	const char *s = c->summary;

	if (c->details != NULL) {
		fprintf(f, "\n%s", c->details);
		col = 0;
	} else if (col >= SUMMARY_COLUMN - 1) {
		fputc('\n', f);
		col = 0;
	}
	while (*s != '\0') {
		size_t n = strcspn(s, "\n");

		fprintf(f, "%*s%.*s\n", SUMMARY_COLUMN - col, "", (int)n, s);
		col = 0;
		s += n;
		if (*s == '\n')
			s++;
	}
}

static void list_group(FILE *f, const char *group)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (group == NULL || strcmp(commands[i].group, group) == 0)
			list_command(f, &commands[i]);
}

static int help_all(void)
{
	fputs(SYNOPSIS "\ncommands:\n", stdout);
	list_group(stdout, NULL);
	fputc('\n', stdout);
	fputs(global_options_text, stdout);
	return EXIT_SUCCESS;
}

static void help_group(FILE *f, const char *group)
{
	fprintf(f, "usage: signerctl [GLOBAL OPTIONS] %s COMMAND ...\n\n", group);
	list_group(f, group);
}

static int help_command(const struct ctl_command *c)
{
	ctl_command_usage(stdout, c);
	fputc('\n', stdout);
	for (const char *s = c->summary; *s != '\0'; s++) /* the summary as one sentence */
		fputc(*s == '\n' ? ' ' : *s, stdout);
	fputs(".\n\n'signerctl --help' lists the global options.\n", stdout);
	return EXIT_SUCCESS;
}

static int usage_error(const char *problem, const char *quoted)
{
	if (quoted != NULL)
		sg_log("%s '%s'", problem, quoted);
	else
		sg_log("%s", problem);
	fputs(SYNOPSIS "'signerctl --help' lists the commands.\n", stderr);
	return CTL_EXIT_USAGE;
}

static const struct ctl_command *find_group(const char *group)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].group, group) == 0)
			return &commands[i];
	return NULL;
}

static const struct ctl_command *find_command(const char *group, const char *verb)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].group, group) == 0 && commands[i].verb != NULL &&
		    strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

/* The sentence for an option getopt_long refused (it returned c); arg is the argument it was
 * reading. An unknown long option is named without its "=value". Only 'h' is a short option, and
 * the long options' values are not printable: a printable optopt other than 'h' is an unknown
 * short option (arg may then be the argument before it, inside a cluster such as -xy). */
static void option_problem(char *buf, size_t size, int c, const char *arg,
			   const struct option *opts)
{
	const char *eq;
	size_t name_len, prefixed = 0;
	const struct option *exact = NULL;

	if (c == ':') {
		for (const struct option *o = opts; o->name != NULL; o++)
			if (o->val == optopt) {
				snprintf(buf, size, "option '--%s' needs an argument", o->name);
				return;
			}
		snprintf(buf, size, "option '-%c' needs an argument", optopt);
		return;
	}
	if ((optopt > ' ' && optopt != 'h') || arg == NULL || strncmp(arg, "--", 2) != 0) {
		snprintf(buf, size, "unknown option '-%c'", optopt != 0 ? optopt : '?');
		return;
	}
	eq = strchr(arg, '=');
	name_len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	for (const struct option *o = opts; o->name != NULL; o++) {
		if (strncmp(o->name, arg + 2, name_len) != 0)
			continue;
		prefixed++;
		if (o->name[name_len] == '\0')
			exact = o;
	}
	if (exact != NULL && eq != NULL && exact->has_arg == no_argument)
		snprintf(buf, size, "option '--%s' takes no argument", exact->name);
	else if (exact == NULL && prefixed > 1)
		snprintf(buf, size, "option '--%.*s' is ambiguous", (int)name_len, arg + 2);
	else
		snprintf(buf, size, "unknown option '--%.*s'", (int)name_len, arg + 2);
}

#define OPTIONS_MAX 32

/* Parses a command's options (argv[0] is its name); returns -1 to run it, or the exit code. */
static int command_parse(struct ctl *ctl, int argc, char **argv, struct ctl_args *a)
{
	const struct ctl_command *cmd = ctl->cmd;
	struct option opts[OPTIONS_MAX];
	size_t n = 0;
	char problem[160], what[200];
	int c;

	for (const struct option *o = cmd->options; o->name != NULL && n < OPTIONS_MAX - 2; o++)
		opts[n++] = *o;
	opts[n++] = (struct option){.name = "help", .has_arg = no_argument, .val = 'h'};
	opts[n] = (struct option){0};
	memset(a, 0, sizeof(*a));
	/* optind 0 resets getopt, which permutes: options may follow the operands */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return help_command(cmd);
		if (c > 0 && c < CTL_OPT_COUNT) {
			a->value[c] = optarg != NULL ? optarg : "";
			if (a->count[c] < CTL_REPEAT_MAX)
				a->all[c][a->count[c]] = a->value[c];
			else
				return ctl_usage_error(ctl, "an option is repeated too often");
			a->count[c]++;
			continue;
		}
		option_problem(problem, sizeof(problem), c, argv[optind - 1], opts);
		snprintf(what, sizeof(what), "%s%s%s: %s", cmd->group, cmd->verb != NULL ? " " : "",
			 cmd->verb != NULL ? cmd->verb : "", problem);
		return ctl_usage_error(ctl, what);
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	return -1;
}

/* signerctl help [GROUP [VERB]] */
static int help(int argc, char **argv)
{
	const struct ctl_command *c;

	if (argc == 0 || is_help(argv[0]))
		return help_all();
	c = find_group(argv[0]);
	if (c == NULL || argc > 2 || (argc == 2 && c->verb == NULL))
		return usage_error("help: unknown command", argc == 1 ? argv[0] : NULL);
	if (argc == 2) {
		char name[160];

		c = find_command(argv[0], argv[1]);
		snprintf(name, sizeof(name), "%s %s", argv[0], argv[1]);
		if (c == NULL)
			return usage_error("help: unknown command", name);
		return help_command(c);
	}
	if (c->verb == NULL)
		return help_command(c);
	help_group(stdout, argv[0]);
	return EXIT_SUCCESS;
}

/* argv[0] is the command's group. */
static int run(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_args args;
	char what[160];
	int rc;

	if (strcmp(argv[0], "help") == 0)
		return help(argc - 1, argv + 1);
	ctl->cmd = find_group(argv[0]);
	if (ctl->cmd == NULL)
		return usage_error("unknown command", argv[0]);
	if (ctl->cmd->verb != NULL) { /* "sign" has no verb: its options start at once */
		if (argc < 2 || is_help(argv[1])) {
			if (argc >= 2) {
				help_group(stdout, argv[0]);
				return EXIT_SUCCESS;
			}
			sg_log("%s: missing command", argv[0]);
			help_group(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
		ctl->cmd = find_command(argv[0], argv[1]);
		if (ctl->cmd == NULL) {
			snprintf(what, sizeof(what), "%s %s", argv[0], argv[1]);
			sg_log("unknown command '%s'", what);
			help_group(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
		argc--;
		argv++;
	}
	rc = command_parse(ctl, argc, argv, &args);
	if (rc >= 0)
		return rc;
	return ctl->cmd->run(ctl, &args);
}

/* One check of standard output for every command: output that could not be written (a full
 * disk, /dev/full) is a failure, not a silent success. */
static int stdout_close(int rc)
{
	int err = 0;

	errno = 0;
	if (fflush(stdout) != 0)
		err = errno != 0 ? errno : EIO;
	else if (ferror(stdout))
		err = EIO;
	if (fclose(stdout) != 0 && err == 0)
		err = errno != 0 ? errno : EIO;
	if (err == 0 || rc != EXIT_SUCCESS)
		return rc;
	sg_log("cannot write to standard output: %s", strerror(err));
	return EXIT_FAILURE;
}

enum { GLOBAL_CONFIG = 1, GLOBAL_PIN_FILE, GLOBAL_VERSION }; /* below ' ', as the commands' */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{.name = "config", .has_arg = required_argument, .val = GLOBAL_CONFIG},
		{.name = "pin-file", .has_arg = required_argument, .val = GLOBAL_PIN_FILE},
		{.name = "help", .has_arg = no_argument, .val = 'h'},
		{.name = "version", .has_arg = no_argument, .val = GLOBAL_VERSION},
		{0},
	};
	struct ctl ctl;
	const char *config_arg = NULL;
	char problem[160];
	int c, rc = -1;

	sg_log_program("signerctl");

	memset(&ctl, 0, sizeof(ctl));
	opterr = 0;
	/* "+": the global options end at the command */
	while (rc < 0 && (c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case GLOBAL_CONFIG:
			config_arg = optarg;
			break;
		case GLOBAL_PIN_FILE:
			if (optarg[0] == '\0')
				rc = usage_error("option '--pin-file' needs a FILE", NULL);
			ctl.pin_file = optarg;
			break;
		case 'h':
			rc = help_all();
			break;
		case GLOBAL_VERSION:
			printf("signerctl %s\n", SIGNER_VERSION);
			rc = EXIT_SUCCESS;
			break;
		default:
			option_problem(problem, sizeof(problem), c, argv[optind - 1], opts);
			rc = usage_error(problem, NULL);
			break;
		}
	}
	if (rc < 0 && optind >= argc)
		rc = usage_error("missing command", NULL);
	if (rc < 0) {
		ctl.config_path = signer_config_path(config_arg);
		ctl.config_explicit = config_arg != NULL || (getenv("SIGNER_CONFIG") != NULL &&
							     getenv("SIGNER_CONFIG")[0] != '\0');
		rc = run(&ctl, argc - optind, argv + optind);
	}
	ctl_teardown(&ctl);
	return stdout_close(rc);
}
