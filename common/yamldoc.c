#include "common/yamldoc.h"

#include "common/files.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser's complaint, where it stopped. */
static int parser_fail(const char *path, const yaml_parser_t *parser)
{
	return sg_fail(SG_ERR_CONFIG, "%s:%lu: %s%s%s", path,
		       (unsigned long)(parser->problem_mark.line + 1),
		       parser->problem ? parser->problem : "invalid YAML",
		       parser->context ? " " : "", parser->context ? parser->context : "");
}

int ydoc_load_file(const char *path, const char *what, struct ydoc *out)
{
	yaml_parser_t parser;
	FILE *f;
	int r = SG_OK;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "re");
	if (f == NULL)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s: %s", path,
			       strerror(errno));
	/* what the file says is what signerd does: nobody but its owner may change it (checked
	 * on the open file, so that it is the file that is read) */
	if ((r = file_check_trusted(fileno(f), path, what, false)) != SG_OK) {
		fclose(f);
		return r;
	}
	out->path = strdup(path);
	if (out->path == NULL || !yaml_parser_initialize(&parser)) {
		fclose(f);
		free(out->path);
		out->path = NULL;
		return sg_fail(SG_ERR_NOMEM, "%s: cannot set up the YAML parser", path);
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &out->doc)) {
		r = parser_fail(path, &parser);
		goto out;
	}
	out->loaded = true;
	if (yaml_document_get_root_node(&out->doc) == NULL) {
		r = sg_fail(SG_ERR_CONFIG, "%s:1: the file is empty", path);
		goto out;
	}
	/* one document: what follows a "---" would otherwise be left unread without a word, a
	 * second set of grants, or a broken one, that a review of the file would take as read */
	{
		yaml_document_t next;

		if (!yaml_parser_load(&parser, &next)) {
			r = parser_fail(path, &parser);
			goto out;
		}
		if (yaml_document_get_root_node(&next) != NULL) {
			r = sg_fail(SG_ERR_CONFIG,
				    "%s:%lu: a second YAML document: the file must hold one (no "
				    "'---' after the first)",
				    path, (unsigned long)(next.start_mark.line + 1));
			yaml_document_delete(&next);
			goto out;
		}
		yaml_document_delete(&next);
	}
out:
	yaml_parser_delete(&parser);
	fclose(f);
	if (r != SG_OK)
		ydoc_free(out);
	return r;
}

void ydoc_free(struct ydoc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	free(d->path);
	memset(d, 0, sizeof(*d));
}

yaml_node_t *ydoc_root(struct ydoc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

unsigned long ydoc_line(const yaml_node_t *node)
{
	return node == NULL ? 1 : (unsigned long)node->start_mark.line + 1;
}

int ydoc_fail(const struct ydoc *d, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sg_fail(SG_ERR_CONFIG, "%s:%lu: %s", d->path, ydoc_line(node), msg);
}

static const char *ydoc_key_text(const yaml_node_t *key)
{
	return key != NULL && key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value
							    : NULL;
}

int ydoc_expect_map(struct ydoc *d, yaml_node_t *node, const char *what, const char *const *allowed)
{
	yaml_node_pair_t *p, *q;

	if (node == NULL || node->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, node, "%s must be a mapping", what);
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(&d->doc, p->key);
		const char *name = ydoc_key_text(key);
		bool known = false;

		if (name == NULL)
			return ydoc_fail(d, key, "%s has a key that is not a plain name", what);
		for (size_t i = 0; allowed[i] != NULL; i++)
			known |= strcmp(allowed[i], name) == 0;
		if (!known)
			return ydoc_fail(d, key, "unknown field '%s' in %s", name, what);
		for (q = node->data.mapping.pairs.start; q < p; q++) {
			const char *other = ydoc_key_text(yaml_document_get_node(&d->doc, q->key));

			if (other != NULL && strcmp(other, name) == 0)
				return ydoc_fail(d, key, "field '%s' appears twice in %s", name,
						 what);
		}
	}
	return SG_OK;
}

yaml_node_t *ydoc_map_get(struct ydoc *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *name = ydoc_key_text(yaml_document_get_node(&d->doc, p->key));

		if (name != NULL && strcmp(name, key) == 0)
			return yaml_document_get_node(&d->doc, p->value);
	}
	return NULL;
}

int ydoc_scalar(struct ydoc *d, yaml_node_t *node, const char *what, const char **out)
{
	if (node == NULL || node->type != YAML_SCALAR_NODE)
		return ydoc_fail(d, node, "%s must be a single value", what);
	if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length)
		return ydoc_fail(d, node, "%s contains a NUL character", what);
	*out = (const char *)node->data.scalar.value;
	return SG_OK;
}

int ydoc_uint(struct ydoc *d, yaml_node_t *node, const char *what, uint64_t min, uint64_t max,
	      uint64_t *out)
{
	const char *text;
	char *end;
	unsigned long long v;
	int r = ydoc_scalar(d, node, what, &text);

	if (r != SG_OK)
		return r;
	if (text[0] < '0' || text[0] > '9')
		return ydoc_fail(d, node, "%s must be a whole number, not '%s'", what, text);
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return ydoc_fail(d, node, "%s must be a whole number from %llu to %llu, not '%s'",
				 what, (unsigned long long)min, (unsigned long long)max, text);
	*out = v;
	return SG_OK;
}
