/* Backup targets: the checks every kind shares (the target's name, object names, lengths and
 * bounds), then the kind's own operation through its ops table (target_dir.c, target_s3.c). */
#include "backup/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/names.h"
#include "target_internal.h"

bool backup_object_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '/';
}

/* NULL when name is an object name, else why not (after "object name X "); *echo: whether the
 * name itself may go in the sentence (it is made of a name's characters and not too long). */
static const char *backup_object_name_problem(const char *name, bool *echo)
{
	size_t len = strnlen(name, BACKUP_OBJECT_NAME_MAX + 1), seg = 0;

	*echo = false;
	if (len == 0)
		return "is empty";
	if (len > BACKUP_OBJECT_NAME_MAX)
		return "is longer than 200 characters";
	for (size_t i = 0; i < len; i++)
		if (!backup_object_char(name[i]))
			return "has a character outside [a-z0-9._/-]";
	*echo = true;
	if (name[0] == '/')
		return "starts with '/'";
	/* every segment between slashes: not empty, not "." and not ".." */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		if (i == seg || (i - seg == 1 && name[seg] == '.') ||
		    (i - seg == 2 && name[seg] == '.' && name[seg + 1] == '.'))
			return "has an empty, \".\" or \"..\" segment";
		seg = i + 1;
	}
	return NULL;
}

bool backup_object_name_valid(const char *name)
{
	bool echo;

	return name != NULL && backup_object_name_problem(name, &echo) == NULL;
}

static int backup_name_check(const struct backup_target *t, const char *name)
{
	const char *why;
	bool echo;

	if (name == NULL)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: no object name",
			       t->name);
	why = backup_object_name_problem(name, &echo);
	if (why == NULL)
		return SG_OK;
	if (!echo)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: an object name %s",
			       t->name, why);
	return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: object name \"%s\" %s", t->name,
		       name, why);
}

int backup_names_add(struct backup_names *l, const char *s, size_t len)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 64 : l->cap * 2;
		char **v = reallocarray(l->v, cap, sizeof(*v));

		if (v == NULL)
			return sg_fail(SG_ERR_NOMEM, "no memory for a list of %zu object names",
				       cap);
		l->v = v;
		l->cap = cap;
	}
	copy = strndup(s, len);
	if (copy == NULL)
		return sg_fail(SG_ERR_NOMEM, "no memory for an object name");
	l->v[l->n++] = copy;
	return SG_OK;
}

static int backup_names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void backup_names_sort(struct backup_names *l)
{
	size_t k = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), backup_names_cmp);
	for (size_t i = 1; i < l->n; i++) {
		if (strcmp(l->v[i], l->v[k]) == 0)
			free(l->v[i]);
		else
			l->v[++k] = l->v[i];
	}
	l->n = k + 1;
}

void backup_names_clear(struct backup_names *l)
{
	backup_names_free(l->v, l->n);
	*l = (struct backup_names){.v = NULL};
}

void backup_names_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int backup_target_open(const struct backup_target_config *cfg, struct backup_target **out)
{
	struct backup_target *t = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup_target_open: no config");
	if (cfg->name == NULL || !name_valid(cfg->name))
		return sg_fail(
			SG_ERR_CONFIG,
			"a backup target's name must be 1 to %d of [a-z0-9-], starting with a "
			"letter or digit",
			BACKUP_TARGET_NAME_MAX);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return sg_fail(SG_ERR_NOMEM, "no memory for backup target %s", cfg->name);
	snprintf(t->name, sizeof(t->name), "%s", cfg->name);
	switch (cfg->kind) {
	case BACKUP_TARGET_DIR:
		r = backup_target_dir_open(cfg, t);
		break;
	case BACKUP_TARGET_S3:
		r = backup_target_s3_open(cfg, t);
		break;
	default:
		r = sg_fail(SG_ERR_CONFIG, "backup target %s: unknown kind %d (dir or s3)", t->name,
			    (int)cfg->kind);
		break;
	}
	if (r != SG_OK) {
		free(t);
		return r;
	}
	*out = t;
	return SG_OK;
}

void backup_target_close(struct backup_target *t)
{
	if (t == NULL)
		return;
	if (t->ops != NULL)
		t->ops->close(t);
	free(t);
}

const char *backup_target_name(const struct backup_target *t)
{
	return t->name;
}

int backup_target_put(struct backup_target *t, const char *name, const uint8_t *data, size_t len)
{
	int r;

	if ((r = backup_name_check(t, name)) != SG_OK)
		return r;
	if (data == NULL && len > 0)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: PUT %s: no data",
			       t->name, name);
	if (len > BACKUP_OBJECT_MAX)
		return sg_fail(SG_ERR_OVERFLOW,
			       "backup target %s: PUT %s: %zu bytes is more than the %u an object "
			       "may hold",
			       t->name, name, len, BACKUP_OBJECT_MAX);
	return t->ops->put(t, name, len == 0 ? (const uint8_t *)"" : data, len);
}

int backup_target_get(struct backup_target *t, const char *name, size_t max, uint8_t **data,
		      size_t *len)
{
	int r;

	if (data == NULL || len == NULL)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: GET: nowhere to put it",
			       t->name);
	*data = NULL;
	*len = 0;
	if ((r = backup_name_check(t, name)) != SG_OK)
		return r;
	if (max > BACKUP_OBJECT_MAX)
		max = BACKUP_OBJECT_MAX;
	return t->ops->get(t, name, max, data, len);
}

int backup_target_list(struct backup_target *t, const char *prefix, char ***names, size_t *n)
{
	struct backup_names l = {.v = NULL};
	size_t plen;
	int r;

	if (names == NULL || n == NULL)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "backup target %s: LIST: nowhere to put it",
			       t->name);
	*names = NULL;
	*n = 0;
	if (prefix == NULL)
		prefix = "";
	plen = strnlen(prefix, BACKUP_OBJECT_NAME_MAX + 1);
	if (plen > BACKUP_OBJECT_NAME_MAX)
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "backup target %s: a prefix is longer than 200 characters", t->name);
	for (size_t i = 0; i < plen; i++)
		if (!backup_object_char(prefix[i]))
			return sg_fail(SG_ERR_INVALID_ARGUMENT,
				       "backup target %s: a prefix has a character outside "
				       "[a-z0-9._/-]",
				       t->name);
	if (prefix[0] == '/')
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "backup target %s: prefix \"%s\" starts with '/'", t->name, prefix);
	r = t->ops->list(t, prefix, &l);
	if (r != SG_OK) {
		backup_names_clear(&l);
		return r;
	}
	backup_names_sort(&l);
	*names = l.v;
	*n = l.n;
	return SG_OK;
}

int backup_target_delete(struct backup_target *t, const char *name)
{
	int r;

	if ((r = backup_name_check(t, name)) != SG_OK)
		return r;
	return t->ops->del(t, name);
}
