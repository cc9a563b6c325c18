/* signerctl token init: a new token in an empty slot of the configured module. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"

int cmd_token_init(struct ctl *ctl, const struct ctl_args *a)
{
	const char *so_pin_file = a->value[CTL_OPT_SO_PIN_FILE];
	int r;

	if (so_pin_file == NULL || a->argc != 0)
		return ctl_usage_error(ctl, "token init needs --so-pin-file FILE");
	if ((r = ctl_setup(ctl)) != SG_OK)
		return ctl_fail(r, "token init");
	r = ks_token_init(ctl->cfg.token.module, ctl->cfg.token.label, so_pin_file,
			  ctl->cfg.token.pin_file);
	if (r != SG_OK)
		return ctl_fail(r, "token init");
	printf("token '%s' initialised\n", ctl->cfg.token.label);
	return EXIT_SUCCESS;
}
