/* A YAML file loaded whole (libyaml's document API) with the line of every node, so that the
 * config and policy readers can say FILE:LINE: message. Mappings are checked for duplicate and
 * unknown keys. */
#ifndef SIGNER_COMMON_YAMLDOC_H
#define SIGNER_COMMON_YAMLDOC_H

#include <stdbool.h>
#include <stdint.h>

#include <yaml.h>

#include "common/err.h"

struct ydoc {
	char *path;
	yaml_document_t doc;
	bool loaded;
};

/* Loads one YAML document from a regular file that group and others cannot change (else
 * SG_ERR_PERMISSION, naming it as what: "config file"). Errors in the YAML come back as
 * SG_ERR_CONFIG with "FILE:LINE: message". */
SG_MUST_CHECK int ydoc_load_file(const char *path, const char *what, struct ydoc *out);
void ydoc_free(struct ydoc *d);

yaml_node_t *ydoc_root(struct ydoc *d);
unsigned long ydoc_line(const yaml_node_t *node);

/* SG_ERR_CONFIG with "FILE:LINE: " and the message. */
int ydoc_fail(const struct ydoc *d, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A mapping whose keys are all scalars from allowed (NULL-terminated) and each at most once. */
SG_MUST_CHECK int ydoc_expect_map(struct ydoc *d, yaml_node_t *node, const char *what,
				  const char *const *allowed);
/* The value node of key in a mapping, or NULL. */
yaml_node_t *ydoc_map_get(struct ydoc *d, yaml_node_t *map, const char *key);

/* The scalar's text; SG_ERR_CONFIG when the node is not a scalar. */
SG_MUST_CHECK int ydoc_scalar(struct ydoc *d, yaml_node_t *node, const char *what,
			      const char **out);
/* A scalar as an unsigned integer within [min, max]. */
SG_MUST_CHECK int ydoc_uint(struct ydoc *d, yaml_node_t *node, const char *what, uint64_t min,
			    uint64_t max, uint64_t *out);

#endif
