/* keyscan: the proof that a copy of the token directory and of every backup target, without the
 * shares, opens no wrapped key (docs/backup.md, "Threat model").
 *
 *   keyscan scan BLOB_LIST FILE...    tries every 32-byte window of every FILE as the AES key of
 *                                     every wrapped blob named in BLOB_LIST (one path a line);
 *                                     prints "windows N opened M"
 *   keyscan plant RECORD SHARE SHARE... BLOB_LIST
 *                                     the positive control: rebuilds the key from the shares,
 *                                     hides it at a random offset of random bytes and scans
 *                                     them: the scanner must find it
 * Exit 0 when it ran; the caller checks the counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "backup/keywrap.h"
#include "backup/shares.h"

struct blob {
	uint8_t *data;
	size_t len;
};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			uint8_t *g = realloc(buf, cap = cap * 2 + 65536);

			if (g == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = g;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

static size_t blobs_load(const char *list, struct blob **out)
{
	FILE *f = fopen(list, "r");
	char line[4096];
	size_t n = 0;

	*out = NULL;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct blob *g;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || (g = realloc(*out, (n + 1) * sizeof(**out))) == NULL)
			continue;
		*out = g;
		if ((g[n].data = slurp(line, &g[n].len)) != NULL)
			n++;
	}
	fclose(f);
	return n;
}

static unsigned long scan(const uint8_t *buf, size_t len, const struct blob *blobs, size_t n_blobs,
			  unsigned long *windows)
{
	unsigned long opened = 0;

	for (size_t off = 0; off + 32 <= len; off++) {
		(*windows)++;
		for (size_t b = 0; b < n_blobs; b++) {
			struct backup_secret out = {0};

			if (keywrap_pad_unwrap(buf + off, 32, blobs[b].data, blobs[b].len, &out) ==
			    SG_OK)
				opened++;
			backup_secret_free(&out);
		}
	}
	return opened;
}

int main(int argc, char **argv)
{
	struct blob *blobs = NULL;
	size_t n_blobs;
	unsigned long windows = 0, opened = 0;

	if (sodium_init() < 0 || argc < 3)
		return 2;
	if (strcmp(argv[1], "scan") == 0) {
		n_blobs = blobs_load(argv[2], &blobs);
		for (int i = 3; i < argc; i++) {
			size_t len = 0;
			uint8_t *buf = slurp(argv[i], &len);

			if (buf != NULL)
				opened += scan(buf, len, blobs, n_blobs, &windows);
			free(buf);
		}
	} else if (strcmp(argv[1], "plant") == 0 && argc >= 6) {
		struct backup_key_record rec;
		struct backup_secret key = {0}, lines[BACKUP_SHARES_MAX] = {{0}};
		size_t n_lines = (size_t)argc - 4, len = 0;
		json_t *j = json_load_file(argv[2], 0, NULL);
		uint8_t *buf = malloc(4096);

		if (j == NULL || buf == NULL || n_lines > BACKUP_SHARES_MAX ||
		    backup_key_record_parse(j, &rec) != SG_OK)
			return 1;
		for (size_t i = 0; i < n_lines; i++)
			if (backup_share_read(argv[3 + i], &lines[i]) != SG_OK)
				return 1;
		if (backup_shares_combine(&rec, lines, n_lines, &key) != SG_OK)
			return 1;
		randombytes_buf(buf, 4096);
		len = 1000 + randombytes_uniform(3000);
		memcpy(buf + len, key.bytes, 32);
		backup_secret_free(&key);
		n_blobs = blobs_load(argv[argc - 1], &blobs);
		opened = scan(buf, 4096, blobs, n_blobs, &windows);
		sodium_memzero(buf, 4096);
		free(buf);
		json_decref(j);
	} else {
		return 2;
	}
	printf("blobs %zu windows %lu opened %lu\n", n_blobs, windows, opened);
	for (size_t b = 0; b < n_blobs; b++)
		free(blobs[b].data);
	free(blobs);
	return 0;
}
