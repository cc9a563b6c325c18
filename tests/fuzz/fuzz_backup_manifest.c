/* Fuzz target: a backup manifest as a target holds it (bundle_manifest_get on a directory
 * target), the first thing a restore or a DR drill reads from storage others can write. Read
 * twice, the same answer; never accepted under the backup key unless its MAC, computed again
 * here, is that of its manifest text under that key; accepted, with or without the key, every
 * key entry reads back as a key and every object reference is a SHA-256 and a size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "fuzz_file.h"
#include "backup/bundle.h"
#include "backup/target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The backup key the seeds' envelopes are MAC'd under (tests/fuzz/corpus/backup_manifest), and
 * their key id. */
static const uint8_t fuzz_mac_key[32] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
					 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
					 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
					 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};
#define FUZZ_KID "219ad705c34deb3c"

static struct backup_target *target;
static char dir[256];

static void target_close(void)
{
	char cmd[300];

	backup_target_close(target);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_backup_manifest: %s stays\n", dir);
}

static void target_open(void)
{
	struct backup_target_config cfg = {.name = "fuzz", .kind = BACKUP_TARGET_DIR};

	fuzz_temp_dir(dir, sizeof(dir));
	cfg.dir = dir;
	if (backup_target_open(&cfg, &target) != SG_OK)
		abort();
	atexit(target_close);
}

/* Where the manifest's own time and id place it, as bundle_manifest_get expects (so that an
 * input can be accepted at all); "backups/input.json" when they do not read. */
static void place(const uint8_t *data, size_t size, char name[BACKUP_OBJECT_NAME_MAX + 1])
{
	json_t *env = json_loadb((const char *)data, size, 0, NULL);
	json_t *m = json_loads(json_string_value(json_object_get(env, "manifest")), 0, NULL);
	const char *id = json_string_value(json_object_get(m, "id"));
	int64_t ns = m != NULL ? bundle_created_ns(m) : -1;

	snprintf(name, BACKUP_OBJECT_NAME_MAX + 1, "backups/input.json");
	if (id != NULL && ns >= 0 && strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16)
		bundle_manifest_name(ns, id, name);
	json_decref(m);
	json_decref(env);
}

/* The envelope's MAC is the HMAC-SHA256 of its manifest text under the key. */
static bool mac_is_right(const uint8_t *data, size_t size)
{
	json_t *env = json_loadb((const char *)data, size, 0, NULL);
	const char *text = json_string_value(json_object_get(env, "manifest"));
	const char *mac = json_string_value(json_object_get(env, "mac"));
	uint8_t want[32], got[32];
	size_t n = 0;
	bool ok = false;

	if (text != NULL && mac != NULL &&
	    sodium_hex2bin(got, sizeof(got), mac, strlen(mac), NULL, &n, NULL) == 0 &&
	    n == sizeof(got)) {
		crypto_auth_hmacsha256(want, (const uint8_t *)text, strlen(text), fuzz_mac_key);
		ok = sodium_memcmp(want, got, sizeof(want)) == 0 &&
		     strcmp(json_string_value(json_object_get(env, "kid")), FUZZ_KID) == 0;
	}
	json_decref(env);
	return ok;
}

static void check_accepted(json_t *m)
{
	json_t *o;
	size_t i;

	/* what restore and readiness ask of an accepted manifest, read without a crash: its time
	 * (created_at_ns, else created_at, which the check made sure reads) and its state's */
	if (!json_is_integer(json_object_get(m, "created_at_ns")) && bundle_created_ns(m) <= 0)
		abort();
	(void)bundle_state_made_at(m);

	json_array_foreach (json_object_get(m, "keys"), i, o) {
		struct ks_key key;

		if (bundle_key_parse(o, &key) != SG_OK || key.name[0] == '\0' || key.version == 0)
			abort();
	}
	json_array_foreach (json_object_get(m, "objects"), i, o) {
		const char *sha = json_string_value(json_object_get(o, "sha256"));

		if (sha == NULL || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
		    !json_is_integer(json_object_get(o, "size")) ||
		    json_integer_value(json_object_get(o, "size")) < 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_auth auth = {.key = fuzz_mac_key, .kid = FUZZ_KID};
	char name[BACKUP_OBJECT_NAME_MAX + 1];
	json_t *a = NULL, *b = NULL, *c = NULL;
	int r1, r2, r3;

	if (target == NULL)
		target_open();
	if (size == 0 || size > 256 * 1024)
		return 0;
	place(data, size, name);
	if (backup_target_put(target, name, data, size) != SG_OK)
		abort();
	r1 = bundle_manifest_get(target, name, NULL, &a);
	r2 = bundle_manifest_get(target, name, NULL, &b);
	r3 = bundle_manifest_get(target, name, &auth, &c);
	if (r1 != r2 || (r1 == SG_OK) != (a != NULL) || (a != NULL && !json_equal(a, b)))
		abort();
	/* authentic only with the right MAC, and then also readable without the key */
	if (r3 == SG_OK && (!mac_is_right(data, size) || r1 != SG_OK || !json_equal(a, c)))
		abort();
	if (r3 != SG_OK && c != NULL)
		abort();
	if (r1 == SG_OK)
		check_accepted(a);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	if (backup_target_delete(target, name) != SG_OK)
		abort();
	return 0;
}
