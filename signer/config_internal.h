/* The config reader's parts shared by its files (config.c, config_backup.c). */
#ifndef SIGNER_SIGNER_CONFIG_INTERNAL_H
#define SIGNER_SIGNER_CONFIG_INTERNAL_H

#include <stdbool.h>

#include "common/yamldoc.h"
#include "signer/config.h"

/* A path from the file, made absolute against the config file's directory. */
int config_path_resolve(const char *cfg_path, const char *value, char **out);
/* A non-empty scalar field of map (a copy in *out; left alone when absent and not required). */
int config_string(struct ydoc *d, yaml_node_t *map, const char *key, const char *what,
		  bool required, char **out);
/* backup: {targets, min_targets, share_threshold} (config_backup.c) */
int config_backup(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg);
void config_backup_free(struct signer_config *cfg);

#endif
