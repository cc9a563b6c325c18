/* The backup ceremonies' parts of ceremony plan | show | run (ceremony_backup.c). */
#ifndef SIGNER_TOOLS_SIGNERCTL_CTL_CEREMONY_H
#define SIGNER_TOOLS_SIGNERCTL_CTL_CEREMONY_H

#include <stdio.h>

#include "ceremony/ceremony.h"
#include "ctl.h"

/* The args of a backup-key-create or restore plan; an exit code. */
int ctl_plan_backup_args(struct ctl *ctl, const struct ctl_args *a, const char *action,
			 json_t *args);
void ctl_plan_backup_describe(const struct ceremony_plan *p, FILE *f);
/* The runs, once approved; *result: what to print. */
SG_MUST_CHECK int ctl_run_backup_key_create(struct ctl *ctl, const struct ctl_args *a,
					    const struct ceremony_plan *p, const json_t *ceremony,
					    json_t **result);
/* Restore opens the token itself, before the signer (whose audit log it brings back). */
SG_MUST_CHECK int ctl_run_restore(struct ctl *ctl, const struct ctl_args *a,
				  const struct ceremony_plan *p, const json_t *ceremony,
				  json_t **result);

#endif
