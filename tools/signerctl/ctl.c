/* signerctl's helpers: failure lines, JSON output, and the lazy setup of the config, the token
 * and the signing door. */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "ctl.h"

int ctl_fail(int code, const char *what)
{
	sg_log("%s: %s", what, sg_errmsg(code));
	return EXIT_FAILURE;
}

int ctl_usage_error(const struct ctl *ctl, const char *problem)
{
	sg_log("%s", problem);
	ctl_command_usage(stderr, ctl->cmd);
	return CTL_EXIT_USAGE;
}

int ctl_print_json(json_t *j)
{
	int r = j == NULL ? -1 : json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (r != 0) {
		sg_log("cannot write JSON output");
		return EXIT_FAILURE;
	}
	putchar('\n');
	return EXIT_SUCCESS;
}

int ctl_config(struct ctl *ctl)
{
	int r;

	if (ctl->cfg_loaded)
		return SG_OK;
	r = signer_config_load_pin(ctl->config_path, ctl->pin_file, &ctl->cfg);
	if (r != SG_OK)
		return r;
	ctl->cfg_loaded = true;
	return signer_config_apply_env(&ctl->cfg);
}

int ctl_keystore(struct ctl *ctl)
{
	struct ks_config kc;
	int r;

	if (ctl->ks != NULL)
		return SG_OK;
	if ((r = ctl_config(ctl)) != SG_OK)
		return r;
	kc = (struct ks_config){
		.module_path = ctl->cfg.token.module,
		.token_label = ctl->cfg.token.label,
		.pin_file = ctl->cfg.token.pin_file,
		.sessions = 1,
	};
	return ks_open(&kc, &ctl->ks);
}

int ctl_signer(struct ctl *ctl, unsigned flags)
{
	int r;

	if (ctl->signer != NULL)
		return SG_OK;
	if ((r = ctl_config(ctl)) != SG_OK)
		return r;
	return signer_open_with(&ctl->cfg, flags, &ctl->signer);
}

int ctl_setup(struct ctl *ctl)
{
	switch (ctl->cmd->needs) {
	case CTL_NEEDS_NOTHING:
		return SG_OK;
	case CTL_NEEDS_CONFIG:
		return ctl_config(ctl);
	case CTL_NEEDS_KEYSTORE:
		return ctl_keystore(ctl);
	case CTL_NEEDS_SIGNER:
		return ctl_signer(ctl, 0);
	case CTL_NEEDS_SIGNER_READONLY:
		return ctl_signer(ctl, SIGNER_OPEN_READONLY);
	}
	return SG_ERR_INTERNAL;
}

void ctl_teardown(struct ctl *ctl)
{
	signer_close(ctl->signer);
	ctl->signer = NULL;
	ks_close(ctl->ks);
	ctl->ks = NULL;
	if (ctl->cfg_loaded)
		signer_config_free(&ctl->cfg);
	ctl->cfg_loaded = false;
}

bool ctl_version_parse(const char *text, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (text == NULL || *text < '1' || *text > '9')
		return false;
	v = strtoul(text, &end, 10);
	if (*end != '\0' || v > SIGNER_KEY_VERSION_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}
