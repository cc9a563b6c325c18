/* The backup section of signerd.yaml (signer/config.h; docs/backup.md). */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

static int config_target_name(struct ydoc *d, yaml_node_t *node, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return ydoc_fail(d, node, "backup target name '%.64s' must be 1 to 63 of a-z 0-9 -",
				 name);
	return SG_OK;
}

static int config_target_s3(struct ydoc *d, yaml_node_t *node, struct signer_config_target *t)
{
	static const char *const fields[] = {"endpoint",         "region",  "bucket",  "prefix",
					     "credentials_file", "profile", "ca_file", NULL};
	char *creds = NULL, *ca = NULL;
	size_t n;
	int r;

	if ((r = ydoc_expect_map(d, node, "backup.targets[].s3", fields)) != SG_OK ||
	    (r = config_string(d, node, "endpoint", "s3.endpoint", true, &t->s3.endpoint)) !=
		    SG_OK ||
	    (r = config_string(d, node, "region", "s3.region", true, &t->s3.region)) != SG_OK ||
	    (r = config_string(d, node, "bucket", "s3.bucket", true, &t->s3.bucket)) != SG_OK ||
	    (r = config_string(d, node, "prefix", "s3.prefix", false, &t->s3.prefix)) != SG_OK ||
	    (r = config_string(d, node, "credentials_file", "s3.credentials_file", true, &creds)) !=
		    SG_OK ||
	    (r = config_string(d, node, "profile", "s3.profile", false, &t->s3.profile)) != SG_OK ||
	    (r = config_string(d, node, "ca_file", "s3.ca_file", false, &ca)) != SG_OK)
		goto out;
	if (strncmp(t->s3.endpoint, "https://", 8) != 0 &&
	    strncmp(t->s3.endpoint, "http://", 7) != 0) {
		r = ydoc_fail(d, ydoc_map_get(d, node, "endpoint"),
			      "s3.endpoint must be an https:// URL");
		goto out;
	}
	n = t->s3.prefix != NULL ? strlen(t->s3.prefix) : 0;
	if (n > 0 && (t->s3.prefix[n - 1] != '/' || t->s3.prefix[0] == '/')) {
		r = ydoc_fail(d, ydoc_map_get(d, node, "prefix"),
			      "s3.prefix must end in '/' and not start with one");
		goto out;
	}
	if ((r = config_path_resolve(d->path, creds, &t->s3.credentials_file)) != SG_OK)
		goto out;
	if (ca != NULL)
		r = config_path_resolve(d->path, ca, &t->s3.ca_file);
out:
	free(creds);
	free(ca);
	return r;
}

static int config_target(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	static const char *const fields[] = {"name", "s3", "dir", NULL};
	struct signer_config_target *t;
	yaml_node_t *s3, *dir;
	char *path = NULL;
	int r;

	if (cfg->backup.n_targets == SIGNER_BACKUP_TARGETS_MAX)
		return ydoc_fail(d, node, "backup.targets has more than %d targets",
				 SIGNER_BACKUP_TARGETS_MAX);
	t = &cfg->backup.targets[cfg->backup.n_targets++];
	if ((r = ydoc_expect_map(d, node, "a backup target", fields)) != SG_OK ||
	    (r = config_string(d, node, "name", "backup target name", true, &t->name)) != SG_OK ||
	    (r = config_target_name(d, ydoc_map_get(d, node, "name"), t->name)) != SG_OK)
		return r;
	for (size_t i = 0; i + 1 < cfg->backup.n_targets; i++)
		if (strcmp(cfg->backup.targets[i].name, t->name) == 0)
			return ydoc_fail(d, node, "backup target '%s' is given twice", t->name);
	s3 = ydoc_map_get(d, node, "s3");
	dir = ydoc_map_get(d, node, "dir");
	if ((s3 == NULL) == (dir == NULL))
		return ydoc_fail(d, node, "backup target '%s' needs exactly one of s3 and dir",
				 t->name);
	if (s3 != NULL)
		return config_target_s3(d, s3, t);
	if ((r = config_string(d, node, "dir", "backup target dir", true, &path)) != SG_OK)
		return r;
	r = config_path_resolve(d->path, path, &t->dir);
	free(path);
	return r;
}

int config_backup(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	static const char *const fields[] = {"targets", "min_targets", "share_threshold", NULL};
	yaml_node_t *targets, *n;
	uint64_t v;
	int r;

	if (node == NULL)
		return SG_OK;
	if ((r = ydoc_expect_map(d, node, "backup", fields)) != SG_OK)
		return r;
	targets = ydoc_map_get(d, node, "targets");
	if (targets == NULL || targets->type != YAML_SEQUENCE_NODE ||
	    targets->data.sequence.items.top == targets->data.sequence.items.start)
		return ydoc_fail(d, targets != NULL ? targets : node,
				 "backup.targets must list at least one target");
	for (yaml_node_item_t *it = targets->data.sequence.items.start;
	     it < targets->data.sequence.items.top; it++)
		if ((r = config_target(d, yaml_document_get_node(&d->doc, *it), cfg)) != SG_OK)
			return r;
	cfg->backup.min_targets = cfg->backup.n_targets < 2 ? (unsigned)cfg->backup.n_targets : 2;
	if ((n = ydoc_map_get(d, node, "min_targets")) != NULL) {
		if ((r = ydoc_uint(d, n, "backup.min_targets", 1, cfg->backup.n_targets, &v)) !=
		    SG_OK)
			return r;
		cfg->backup.min_targets = (unsigned)v;
	}
	cfg->backup.share_threshold = 2;
	if ((n = ydoc_map_get(d, node, "share_threshold")) != NULL) {
		if ((r = ydoc_uint(d, n, "backup.share_threshold", 2, 16, &v)) != SG_OK)
			return r;
		cfg->backup.share_threshold = (unsigned)v;
	}
	cfg->backup.present = true;
	return SG_OK;
}

void config_backup_free(struct signer_config *cfg)
{
	for (size_t i = 0; i < cfg->backup.n_targets; i++) {
		struct signer_config_target *t = &cfg->backup.targets[i];

		free(t->name);
		free(t->dir);
		free(t->s3.endpoint);
		free(t->s3.region);
		free(t->s3.bucket);
		free(t->s3.prefix);
		free(t->s3.credentials_file);
		free(t->s3.profile);
		free(t->s3.ca_file);
	}
	cfg->backup.n_targets = 0;
}
