#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"

json_t *tv_load(const char *relpath)
{
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", SIGNER_TESTVECTORS_DIR, relpath);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		fail_msg("cannot load %s: %s (line %d)", path, err.text, err.line);
	return j;
}

uint8_t *tv_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out;

	if (n >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
		hex += 2;
		n -= 2;
	}
	out = malloc(n / 2 + 1);
	assert_non_null(out);
	if (hex_decode(hex, n, out, n / 2 + 1, len) != 0)
		fail_msg("bad hex in a vector: %.40s", hex);
	return out;
}

const char *tv_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("vector has no string '%s'", key);
	return json_string_value(v);
}

static char tu_dir[64];

const char *tu_tmpdir(const char *tag)
{
	snprintf(tu_dir, sizeof(tu_dir), "/tmp/signer-%s-XXXXXX", tag);
	return mkdtemp(tu_dir);
}

int tu_tmpdir_remove(void)
{
	char cmd[128];

	if (tu_dir[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
	return system(cmd) == 0 ? 0 : -1;
}

const char *tu_write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tu_dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		fail_msg("cannot write %s", path);
	if (fputs(text, f) == EOF || fclose(f) != 0)
		fail_msg("cannot write %s", path);
	return path;
}
