/* Backup bundles: writing a backup to every target, reading and checking it (bundle.h). */
#include "backup/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "signer/keyinfo.h"

#define BUNDLE_STATE_FILE_MAX (256u * 1024 * 1024)

int bundle_targets_open(const struct signer_config *cfg, struct bundle_targets *out)
{
	int r = SG_OK;

	memset(out, 0, sizeof(*out));
	if (!cfg->backup.present)
		return sg_fail(SG_ERR_CONFIG, "%s has no backup: section (docs/backup.md)",
			       cfg->path);
	for (size_t i = 0; i < cfg->backup.n_targets && r == SG_OK; i++) {
		const struct signer_config_target *c = &cfg->backup.targets[i];
		struct backup_target_config tc = {
			.name = c->name,
			.kind = c->dir != NULL ? BACKUP_TARGET_DIR : BACKUP_TARGET_S3,
			.dir = c->dir,
			.s3 = {.endpoint = c->s3.endpoint,
			       .region = c->s3.region,
			       .bucket = c->s3.bucket,
			       .prefix = c->s3.prefix,
			       .credentials_file = c->s3.credentials_file,
			       .profile = c->s3.profile,
			       .ca_file = c->s3.ca_file},
		};

		r = backup_target_open(&tc, &out->t[out->n]);
		if (r == SG_OK)
			out->n++;
	}
	out->min_targets = cfg->backup.min_targets;
	if (r != SG_OK)
		bundle_targets_close(out);
	return r;
}

void bundle_targets_close(struct bundle_targets *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		backup_target_close(ts->t[i]);
	ts->n = 0;
}

struct backup_target *bundle_target_find(const struct bundle_targets *ts, const char *name)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(backup_target_name(ts->t[i]), name) == 0)
			return ts->t[i];
	return NULL;
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static bool sha256_valid(const char *s)
{
	return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int bundle_object_get(struct backup_target *t, const char *sha256, size_t size, uint8_t **data)
{
	char name[80], got[65];
	size_t len = 0;
	int r;

	*data = NULL;
	if (!sha256_valid(sha256))
		return sg_fail(SG_ERR_MALFORMED, "an object's sha256 is not 64 hex digits");
	snprintf(name, sizeof(name), "objects/%s", sha256);
	if ((r = backup_target_get(t, name, BACKUP_OBJECT_MAX, data, &len)) != SG_OK)
		return r;
	sha256_hex(*data, len, got);
	if (len != size || strcmp(got, sha256) != 0) {
		free(*data);
		*data = NULL;
		return sg_fail(SG_ERR_VERIFY,
			       "%s: %s is %zu bytes with SHA-256 %.12s..., not %zu "
			       "bytes with %.12s...",
			       backup_target_name(t), name, len, got, size, sha256);
	}
	return SG_OK;
}

int bundle_object_put(struct backup_target *t, const uint8_t *data, size_t len, char sha256[65])
{
	char name[80];

	sha256_hex(data, len, sha256);
	snprintf(name, sizeof(name), "objects/%s", sha256);
	return backup_target_put(t, name, data, len);
}

int bundle_key_record_load(struct keystore *ks, struct backup_key_record *rec)
{
	struct ks_blob *v = NULL;
	size_t n = 0;
	json_t *j;
	json_error_t jerr;
	int r;

	if ((r = ks_state_get(ks, "backup-key", &v, &n)) != SG_OK)
		return r;
	if (n == 0) {
		ks_blobs_free(v, n);
		return sg_fail(SG_ERR_NOT_FOUND, "the token has no backup key yet: run a "
						 "backup-key-create ceremony (docs/backup.md)");
	}
	j = json_loadb((const char *)v[0].data, v[0].len, JSON_REJECT_DUPLICATES, &jerr);
	ks_blobs_free(v, n);
	if (j == NULL)
		return sg_fail(SG_ERR_MALFORMED, "the token's backup key record: %s", jerr.text);
	r = backup_key_record_parse(j, rec);
	json_decref(j);
	return r;
}

int bundle_key_record_store(struct keystore *ks, const struct backup_key_record *rec)
{
	json_t *j = backup_key_record_json(rec);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int r;

	json_decref(j);
	if (text == NULL)
		return sg_fail(SG_ERR_NOMEM, "the backup key record");
	r = ks_state_put(ks, "backup-key", (const uint8_t *)text, strlen(text));
	free(text);
	return r;
}

int bundle_key_parse(json_t *e, struct ks_key *key)
{
	const char *name, *chain, *pub_hex, *origin = "token", *state, *at;
	json_int_t version;
	json_t *transitions, *t;
	json_error_t jerr;
	size_t i;
	int r;

	memset(key, 0, sizeof(*key));
	if (json_unpack_ex(e, &jerr, 0, "{s:s, s:s, s:I, s:s, s:o, s?:s}", "name", &name, "chain",
			   &chain, "version", &version, "public_key_hex", &pub_hex, "transitions",
			   &transitions, "origin", &origin) != 0)
		return sg_fail(SG_ERR_MALFORMED, "a key of the manifest: %s", jerr.text);
	if ((r = ks_name_check(name)) != SG_OK ||
	    (r = ks_chain_parse(chain, &key->chain)) != SG_OK ||
	    (r = ks_origin_parse(origin, &key->origin)) != SG_OK)
		return sg_context(SG_ERR_MALFORMED, "a key of the manifest");
	if (version < 1 || version > KS_VERSION_MAX || !json_is_array(transitions) ||
	    json_array_size(transitions) == 0 || json_array_size(transitions) > KS_TRANSITIONS_MAX)
		return sg_fail(SG_ERR_MALFORMED, "key %s of the manifest: bad version or history",
			       name);
	snprintf(key->name, sizeof(key->name), "%s", name);
	key->version = (uint32_t)version;
	if (sodium_hex2bin(key->public_key, sizeof(key->public_key), pub_hex, strlen(pub_hex), NULL,
			   &key->public_key_len, NULL) != 0 ||
	    key->public_key_len != (key->chain == KS_CHAIN_SOLANA ? 32u : 65u))
		return sg_fail(SG_ERR_MALFORMED, "key %s v%u of the manifest: bad public key", name,
			       key->version);
	json_array_foreach (transitions, i, t) {
		if (json_unpack_ex(t, &jerr, 0, "{s:s, s:s}", "state", &state, "at", &at) != 0 ||
		    ks_state_parse(state, &key->transitions[i].state) != SG_OK ||
		    time_parse_rfc3339(at, &key->transitions[i].at) != SG_OK)
			return sg_fail(SG_ERR_MALFORMED,
				       "key %s v%u of the manifest: bad transition", name,
				       key->version);
		if (i == 0 ? key->transitions[0].state != KS_STATE_PRE_ACTIVATION
			   : !ks_state_transition_allowed(key->transitions[i - 1].state,
							  key->transitions[i].state))
			return sg_fail(SG_ERR_MALFORMED,
				       "key %s v%u of the manifest: impossible transition to %s",
				       name, key->version, state);
	}
	key->n_transitions = json_array_size(transitions);
	key->state = key->transitions[key->n_transitions - 1].state;
	key->created_at = key->transitions[0].at;
	return SG_OK;
}

/* A manifest's object name: its time to the nanosecond and its id, so that names sort by time
 * (the newest is the last). A manifest under another name (renamed by a target's writer to
 * pass for newer or older) is refused by bundle_manifest_get. */
void bundle_manifest_name(int64_t ns, const char *id, char out[BACKUP_OBJECT_NAME_MAX + 1])
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	char stamp[32];

	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dt%H%M%S", &tm);
	snprintf(out, BACKUP_OBJECT_NAME_MAX + 1, "backups/%s.%09lldz-%s.json", stamp,
		 (long long)(ns % 1000000000), id);
}

/* Whether an object reference {sha256, size} is well formed and among the manifest's objects. */
static bool object_listed(const json_t *objects, const json_t *ref)
{
	const char *sha = json_string_value(json_object_get(ref, "sha256"));
	json_t *size = json_object_get(ref, "size"), *o;
	size_t i;

	if (!sha256_valid(sha) || !json_is_integer(size) || json_integer_value(size) < 0)
		return false;
	json_array_foreach (objects, i, o)
		if (strcmp(json_string_value(json_object_get(o, "sha256")), sha) == 0 &&
		    json_integer_value(json_object_get(o, "size")) == json_integer_value(size))
			return true;
	return false;
}

/* Every field a reader relies on, checked once here: a target's bytes are untrusted until
 * then (and not authentic until their MAC verifies). */
static int manifest_check(json_t *m)
{
	const char *format, *id, *created, *token;
	json_t *bkey, *keys, *objects, *state = NULL, *o, *mac_key;
	struct backup_key_record rec;
	json_error_t jerr;
	int64_t t;
	size_t i;

	if (json_unpack_ex(m, &jerr, 0, "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s?:o}", "format",
			   &format, "id", &id, "created_at", &created, "token", &token,
			   "backup_key", &bkey, "keys", &keys, "objects", &objects,
			   "mac_key_wrapped", &mac_key, "state", &state) != 0)
		return sg_fail(SG_ERR_MALFORMED, "not a backup manifest: %s", jerr.text);
	if (strcmp(format, BUNDLE_FORMAT) != 0)
		return sg_fail(SG_ERR_UNSUPPORTED, "manifest format '%.40s' is not %s", format,
			       BUNDLE_FORMAT);
	if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16 ||
	    time_parse_rfc3339(created, &t) != SG_OK || t < 0 || t > INT64_MAX / 1000000000 ||
	    (json_object_get(m, "created_at_ns") != NULL &&
	     (!json_is_integer(json_object_get(m, "created_at_ns")) ||
	      json_integer_value(json_object_get(m, "created_at_ns")) < 0)) ||
	    !json_is_array(keys) || !json_is_array(objects) || !json_is_string(mac_key) ||
	    backup_key_record_parse(bkey, &rec) != SG_OK)
		return sg_fail(SG_ERR_MALFORMED,
			       "manifest %.20s: bad id, created_at, created_at_ns, keys, objects, "
			       "mac_key_wrapped "
			       "or backup_key",
			       id);
	json_array_foreach (objects, i, o) {
		const char *sha;
		json_int_t size;

		if (json_unpack_ex(o, &jerr, 0, "{s:s, s:I}", "sha256", &sha, "size", &size) != 0 ||
		    !sha256_valid(sha) || size < 0)
			return sg_fail(SG_ERR_MALFORMED, "manifest %s: a bad object entry", id);
	}
	json_array_foreach (keys, i, o) {
		struct ks_key key;
		json_t *w = json_object_get(o, "wrapped");

		if (bundle_key_parse(o, &key) != SG_OK)
			return sg_context(SG_ERR_MALFORMED, "manifest %s: key %zu", id, i + 1);
		if (!json_is_null(w) && !(json_is_object(w) && object_listed(objects, w)))
			return sg_fail(
				SG_ERR_MALFORMED,
				"manifest %s: %s v%u: its wrapped key is not a listed object", id,
				key.name, key.version);
		if (key.state == KS_STATE_DESTROYED && !json_is_null(w))
			return sg_fail(SG_ERR_MALFORMED,
				       "manifest %s: %s v%u is destroyed but has a wrapped key", id,
				       key.name, key.version);
	}
	if (state != NULL && !json_is_null(state)) {
		json_t *audit = json_object_get(state, "audit");

		if (!json_is_object(state) || (audit != NULL && !json_is_array(audit)))
			return sg_fail(SG_ERR_MALFORMED, "manifest %s: a bad state", id);
		json_array_foreach (audit, i, o)
			if (!json_is_string(json_object_get(o, "file")) ||
			    !object_listed(objects, o))
				return sg_fail(SG_ERR_MALFORMED,
					       "manifest %s: a bad audit file entry", id);
		for (const char *const *f = (const char *const[]){"config", "policy", NULL}; *f;
		     f++)
			if (json_object_get(state, *f) != NULL &&
			    !object_listed(objects, json_object_get(state, *f)))
				return sg_fail(SG_ERR_MALFORMED, "manifest %s: a bad %s entry", id,
					       *f);
	}
	return SG_OK;
}

int bundle_manifests(struct backup_target *t, char ***names, size_t *n)
{
	return backup_target_list(t, "backups/", names, n);
}

/* A manifest file: {"format": BUNDLE_ENVELOPE, "kid", "mac": hex HMAC-SHA256 of the manifest
 * text, "manifest": the manifest's JSON text}. */
static int mac_of(const struct bundle_auth *auth, const char *text, size_t len,
		  uint8_t mac[KS_MAC_LEN])
{
	if (auth->ks != NULL)
		return ks_mac(auth->ks, auth->kid, (const uint8_t *)text, len, mac);
	if (auth->key == NULL)
		return sg_fail(SG_ERR_INTERNAL, "no MAC key to check a manifest with");
	crypto_auth_hmacsha256(mac, (const uint8_t *)text, len, auth->key);
	return SG_OK;
}

int bundle_manifest_get(struct backup_target *t, const char *name, const struct bundle_auth *auth,
			json_t **out)
{
	uint8_t *data = NULL, want[KS_MAC_LEN], got[KS_MAC_LEN];
	size_t len = 0, mac_len = 0;
	const char *format, *kid, *mac, *text;
	json_t *env;
	json_error_t jerr;
	int r;

	*out = NULL;
	if ((r = backup_target_get(t, name, BUNDLE_MANIFEST_MAX, &data, &len)) != SG_OK)
		return r;
	env = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (env == NULL)
		return sg_fail(SG_ERR_MALFORMED, "%s: %s is not JSON: %s", backup_target_name(t),
			       name, jerr.text);
	if (json_unpack_ex(env, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s}", "format", &format,
			   "kid", &kid, "mac", &mac, "manifest", &text) != 0 ||
	    strcmp(format, BUNDLE_ENVELOPE) != 0 ||
	    sodium_hex2bin(got, sizeof(got), mac, strlen(mac), NULL, &mac_len, NULL) != 0 ||
	    mac_len != sizeof(got)) {
		json_decref(env);
		return sg_fail(SG_ERR_MALFORMED, "%s: %s is not a signerd backup manifest",
			       backup_target_name(t), name);
	}
	if (auth != NULL) {
		/* authentic: made under this backup key by a holder of the token's MAC key */
		r = strcmp(kid, auth->kid) != 0
			    ? sg_fail(SG_ERR_VERIFY, "%s: %s is of backup key %.16s, not %s",
				      backup_target_name(t), name, kid, auth->kid)
			    : mac_of(auth, text, strlen(text), want);
		if (r == SG_OK && sodium_memcmp(want, got, sizeof(want)) != 0)
			r = sg_fail(SG_ERR_VERIFY,
				    "%s: %s is not authentic: its MAC does not verify (forged or "
				    "changed)",
				    backup_target_name(t), name);
		if (r != SG_OK) {
			json_decref(env);
			return r;
		}
	}
	*out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		r = sg_fail(SG_ERR_MALFORMED, "%s: %s: the manifest is not JSON: %s",
			    backup_target_name(t), name, jerr.text);
	else if ((r = manifest_check(*out)) != SG_OK)
		r = sg_context(r, "%s: %s", backup_target_name(t), name);
	else if (strcmp(json_string_value(
				json_object_get(json_object_get(*out, "backup_key"), "kid")),
			kid) != 0)
		r = sg_fail(SG_ERR_MALFORMED, "%s: %s: its envelope and its record name two keys",
			    backup_target_name(t), name);
	else {
		char placed[BACKUP_OBJECT_NAME_MAX + 1];

		bundle_manifest_name(bundle_created_ns(*out),
				     json_string_value(json_object_get(*out, "id")), placed);
		if (strcmp(placed, name) != 0)
			r = sg_fail(SG_ERR_MALFORMED,
				    "%s: %s is not where its own time and id put it (%s): renamed",
				    backup_target_name(t), name, placed);
	}
	json_decref(env);
	if (r != SG_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

int bundle_manifest_verify(struct backup_target *t, const json_t *m, char *why, size_t why_len)
{
	json_t *o;
	size_t i;
	int r;

	json_array_foreach (json_object_get(m, "objects"), i, o) {
		uint8_t *data = NULL;

		r = bundle_object_get(t, json_string_value(json_object_get(o, "sha256")),
				      (size_t)json_integer_value(json_object_get(o, "size")),
				      &data);
		free(data);
		if (r != SG_OK) {
			snprintf(why, why_len, "%s", sg_errmsg(r));
			return r;
		}
	}
	why[0] = '\0';
	return SG_OK;
}

int bundle_newest_good(struct backup_target *t, const struct bundle_auth *auth, json_t **out)
{
	char **names = NULL, why[512];
	size_t n = 0;
	int r, first = SG_OK;
	char first_why[600] = "";

	*out = NULL;
	if ((r = bundle_manifests(t, &names, &n)) != SG_OK)
		return r;
	for (size_t i = n; i-- > 0;) {
		json_t *m = NULL;

		r = bundle_manifest_get(t, names[i], auth, &m);
		if (r == SG_OK)
			r = bundle_manifest_verify(t, m, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", sg_errmsg(r));
		if (r == SG_OK) {
			*out = m;
			break;
		}
		json_decref(m);
		/* a newer backup passed over is said, with why */
		sg_log("backup: %s: %s is passed over: %s", backup_target_name(t), names[i], why);
		if (first == SG_OK) {
			first = r;
			snprintf(first_why, sizeof(first_why), "%s: %s", names[i], why);
		}
	}
	backup_names_free(names, n);
	if (*out != NULL)
		return SG_OK;
	if (first != SG_OK)
		return sg_fail(SG_ERR_VERIFY, "%s: no backup passes its checks (the newest: %s)",
			       backup_target_name(t), first_why);
	return sg_fail(SG_ERR_NOT_FOUND, "%s holds no backup", backup_target_name(t));
}

int64_t bundle_state_made_at(const json_t *m)
{
	json_t *st = json_object_get(m, "state");
	int64_t at;

	if (!json_is_object(st) ||
	    time_parse_rfc3339(json_string_value(json_object_get(st, "made_at")), &at) != SG_OK)
		return -1;
	return at;
}

int64_t bundle_created_ns(const json_t *m)
{
	json_t *ns = json_object_get(m, "created_at_ns");
	int64_t at = 0;

	if (json_is_integer(ns))
		return json_integer_value(ns);
	if (time_parse_rfc3339(json_string_value(json_object_get(m, "created_at")), &at) != SG_OK ||
	    at < 0 || at > INT64_MAX / 1000000000)
		return 0; /* manifest_check refuses such times; this is for any other JSON */
	return at * 1000000000;
}

/* The newest authentic manifest across the targets (each target's newest authentic one, the
 * latest by bundle_created_ns), for the wrapped keys and the state it carries forward; NULL when
 * none has one. A manifest that is not authentic, or of another token, is passed over (it could
 * carry nothing forward, or a stranger's keys). */
static json_t *newest_anywhere(struct bundle_targets *ts, const struct bundle_auth *auth,
			       const char *token_label)
{
	json_t *best = NULL;

	for (size_t i = 0; i < ts->n; i++) {
		char **names = NULL;
		size_t n = 0;

		if (bundle_manifests(ts->t[i], &names, &n) != SG_OK)
			continue;
		for (size_t k = n; k-- > 0;) {
			json_t *m;

			if (bundle_manifest_get(ts->t[i], names[k], auth, &m) != SG_OK)
				continue;
			if (strcmp(json_string_value(json_object_get(m, "token")), token_label) !=
			    0) {
				json_decref(m);
				continue;
			}
			if (best == NULL || bundle_created_ns(m) > bundle_created_ns(best)) {
				json_decref(best);
				best = m;
			} else {
				json_decref(m);
			}
			break;
		}
		backup_names_free(names, n);
	}
	return best;
}

/* The wrapped key an earlier manifest holds of this version, when it is the same key pair. */
static json_t *wrapped_of(const json_t *m, const struct ks_key *key)
{
	char hex[2 * KS_PUBKEY_MAX + 1];
	json_t *e;
	size_t i;

	sodium_bin2hex(hex, sizeof(hex), key->public_key, key->public_key_len);
	json_array_foreach (json_object_get(m, "keys"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "name")), key->name) == 0 &&
		    json_integer_value(json_object_get(e, "version")) == (json_int_t)key->version &&
		    strcmp(json_string_value(json_object_get(e, "public_key_hex")), hex) == 0)
			return json_object_get(e, "wrapped");
	return NULL;
}

/* An object the manifest needs, with the bytes when they are at hand (else fetched). */
struct pending {
	char sha256[65];
	size_t size;
	const uint8_t *data; /* borrowed, or NULL: to be fetched from src */
	uint8_t *owned;
};

static int pending_add(struct pending **p, size_t *n, json_t *objects, const uint8_t *data,
		       size_t len, const char *sha, size_t size)
{
	struct pending *grown = realloc(*p, (*n + 1) * sizeof(**p));

	if (grown == NULL)
		return sg_fail(SG_ERR_NOMEM, "the backup");
	*p = grown;
	memset(&grown[*n], 0, sizeof(grown[*n]));
	if (data != NULL) {
		sha256_hex(data, len, grown[*n].sha256);
		grown[*n].size = len;
		grown[*n].data = data;
	} else {
		snprintf(grown[*n].sha256, 65, "%s", sha);
		grown[*n].size = size;
	}
	json_array_append_new(objects, json_pack("{s:s, s:I}", "sha256", grown[*n].sha256, "size",
						 (json_int_t)grown[*n].size));
	(*n)++;
	return SG_OK;
}

static int file_slurp(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size;

	*data = NULL;
	if (f == NULL)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s: %s", path,
			       strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (unsigned long)size > BUNDLE_STATE_FILE_MAX) {
		fclose(f);
		return sg_fail(SG_ERR_IO, "%s: cannot be read whole", path);
	}
	*data = malloc((size_t)size + 1);
	if (*data == NULL || fread(*data, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(*data);
		*data = NULL;
		return sg_fail(SG_ERR_IO, "%s: cannot be read", path);
	}
	fclose(f);
	*len = (size_t)size;
	return SG_OK;
}

/* Adds one file of the audit log (its active segment, "current", or a rotated one). */
static int audit_file_add(const char *path, const char *file, json_t *audit, json_t *objects,
			  struct pending **p, size_t *n, uint8_t **data_out, size_t *len_out)
{
	uint8_t *data;
	size_t len;
	int r;

	if ((r = file_slurp(path, &data, &len)) != SG_OK)
		return r;
	if ((r = pending_add(p, n, objects, data, len, NULL, 0)) != SG_OK) {
		free(data);
		return r;
	}
	(*p)[*n - 1].owned = data;
	json_array_append_new(audit, json_pack("{s:s, s:s, s:I}", "file", file, "sha256",
					       (*p)[*n - 1].sha256, "size", (json_int_t)len));
	if (data_out != NULL) {
		*data_out = data;
		*len_out = len;
	}
	return SG_OK;
}

/* The rotated segments beside the log: PATH.<digits>. */
static int audit_segments_add(const char *path, json_t *audit, json_t *objects, struct pending **p,
			      size_t *n)
{
	char *copy = strdup(path), *dir, *base;
	struct dirent **ents = NULL;
	int count, r = SG_OK;

	if (copy == NULL)
		return sg_fail(SG_ERR_NOMEM, "the backup");
	base = strrchr(copy, '/');
	dir = copy;
	if (base == NULL) {
		dir = ".";
		base = copy;
	} else {
		*base++ = '\0';
	}
	count = scandir(dir[0] != '\0' ? dir : "/", &ents, NULL, alphasort);
	if (count < 0) {
		free(copy);
		return sg_fail(SG_ERR_IO, "the audit log's directory: %s", strerror(errno));
	}
	for (int i = 0; i < count; i++) {
		const char *name = ents[i]->d_name;
		size_t bl = strlen(base);

		if (r == SG_OK && strncmp(name, base, bl) == 0 && name[bl] == '.' &&
		    name[bl + 1] != '\0' &&
		    strspn(name + bl + 1, "0123456789") == strlen(name + bl + 1)) {
			char *full = NULL;

			if (asprintf(&full, "%s/%s", dir, name) < 0)
				r = sg_fail(SG_ERR_NOMEM, "the backup");
			else
				r = audit_file_add(full, name + bl + 1, audit, objects, p, n, NULL,
						   NULL);
			free(full);
		}
		free(ents[i]);
	}
	free(ents);
	free(copy);
	return r;
}

/* The state part: config, policy, the audit log and its segments, its head, the token's anchor.
 */
static int state_add(struct keystore *ks, const struct bundle_state *st, json_t *state,
		     json_t *objects, struct pending **p, size_t *n)
{
	struct {
		const char *field, *path;
	} files[] = {{"config", st->config_path}, {"policy", st->policy_path}};
	json_t *audit = json_array();
	int r;

	if (audit == NULL)
		return sg_fail(SG_ERR_NOMEM, "the backup");
	json_object_set_new(state, "audit", audit);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t *data;
		size_t len;

		if (files[i].path == NULL)
			continue;
		if ((r = file_slurp(files[i].path, &data, &len)) != SG_OK)
			return r;
		if ((r = pending_add(p, n, objects, data, len, NULL, 0)) != SG_OK) {
			free(data);
			return r;
		}
		(*p)[*n - 1].owned = data;
		json_object_set_new(state, files[i].field,
				    json_pack("{s:s, s:I}", "sha256", (*p)[*n - 1].sha256, "size",
					      (json_int_t)len));
	}
	if (st->audit_path != NULL) {
		uint8_t *data = NULL;
		size_t len = 0;
		const char *nl;
		struct ks_blob *anchors = NULL;
		size_t n_anchors = 0;

		/* the anchor before the log: the log read after it reaches at least as far */
		if ((r = ks_state_get(ks, "audit-anchor", &anchors, &n_anchors)) != SG_OK)
			return r;
		if (n_anchors > 0) {
			json_t *list = json_array();

			for (size_t k = 0; list != NULL && k < n_anchors; k++)
				json_array_append_new(list,
						      json_stringn((const char *)anchors[k].data,
								   anchors[k].len));
			json_object_set_new(state, "audit_anchor", list);
		}
		ks_blobs_free(anchors, n_anchors);
		if ((r = audit_segments_add(st->audit_path, audit, objects, p, n)) != SG_OK)
			return r;
		r = audit_file_add(st->audit_path, "current", audit, objects, p, n, &data, &len);
		if (r == SG_ERR_NOT_FOUND)
			return SG_OK;
		if (r != SG_OK)
			return r;
		/* the head: the last record's seq and hash */
		if (len > 1) {
			json_t *last;
			size_t end = len - 1;

			nl = NULL;
			for (size_t k = end; k-- > 0;)
				if (data[k] == '\n') {
					nl = (const char *)data + k;
					break;
				}
			last = json_loadb(nl != NULL ? nl + 1 : (const char *)data,
					  (size_t)((const char *)data + end -
						   (nl != NULL ? nl + 1 : (const char *)data)),
					  0, NULL);
			if (last != NULL) {
				json_object_set_new(state, "audit_head",
						    json_pack("{s:O?, s:O?}", "seq",
							      json_object_get(last, "seq"), "hash",
							      json_object_get(last, "hash")));
				json_decref(last);
			}
		}
	}
	return SG_OK;
}

/* The token's record of what each target holds, for signerd's metrics (signer_backup_status):
 * per target, the time of the newest backup it holds whole and its versions with a wrapped key.
 * A failure here costs the metrics only: it is logged, the backup stands. */
static json_t *status_load(struct keystore *ks)
{
	struct ks_blob *v = NULL;
	size_t nv = 0;
	json_t *status = NULL;

	if (ks_state_get(ks, "backup-status", &v, &nv) == SG_OK && nv > 0)
		status = json_loadb((const char *)v[0].data, v[0].len, 0, NULL);
	ks_blobs_free(v, nv);
	if (!json_is_object(json_object_get(status, "targets"))) {
		json_decref(status);
		status = json_pack("{s:{}}", "targets");
	}
	return status;
}

static void status_set(json_t *status, const char *target, const json_t *m)
{
	json_t *versions = json_array(), *e;
	int64_t at = 0;
	size_t i;

	json_array_foreach (json_object_get(m, "keys"), i, e) {
		char id[96];

		if (!json_is_object(json_object_get(e, "wrapped")))
			continue;
		snprintf(id, sizeof(id), "%s/%lld", json_string_value(json_object_get(e, "name")),
			 (long long)json_integer_value(json_object_get(e, "version")));
		json_array_append_new(versions, json_string(id));
	}
	if (time_parse_rfc3339(json_string_value(json_object_get(m, "created_at")), &at) != SG_OK)
		at = 0;
	json_object_set_new(json_object_get(status, "targets"), target,
			    json_pack("{s:I, s:o}", "at", (json_int_t)at, "versions", versions));
}

static void status_store(struct keystore *ks, json_t *status)
{
	char *text = json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS);

	if (text == NULL ||
	    ks_state_put(ks, "backup-status", (const uint8_t *)text, strlen(text)) != SG_OK)
		sg_log("backup: the token's record of the backups could not be written (the "
		       "metrics lag): %s",
		       sg_errmsg(SG_ERR_IO));
	free(text);
}

static void status_record(struct keystore *ks, const json_t *m, const struct bundle_targets *ts,
			  const bool *held)
{
	json_t *status = status_load(ks);

	for (size_t t = 0; t < ts->n; t++)
		if (held[t])
			status_set(status, backup_target_name(ts->t[t]), m);
	status_store(ks, status);
	json_decref(status);
}

void bundle_status_refresh(struct bundle_targets *ts, const struct bundle_auth *auth)
{
	struct keystore *ks = auth->ks;
	json_t *status = status_load(ks);

	for (size_t t = 0; t < ts->n; t++) {
		json_t *m = NULL;

		if (bundle_newest_good(ts->t[t], auth, &m) == SG_OK)
			status_set(status, backup_target_name(ts->t[t]), m);
		json_decref(m);
	}
	status_store(ks, status);
	json_decref(status);
}

int bundle_write(struct bundle_targets *ts, struct keystore *ks, const char *token_label,
		 const struct backup_key_record *rec, const struct bundle_blob *blobs,
		 size_t n_blobs, const struct bundle_state *state, unsigned *durable,
		 json_t **manifest_out)
{
	struct ks_key *keys = NULL;
	size_t n_keys = 0, n_pending = 0;
	struct pending *pending = NULL;
	struct bundle_auth auth = {.ks = ks, .kid = rec->kid};
	struct ks_blob *mk = NULL;
	size_t n_mk = 0;
	json_t *prior = NULL, *m = NULL, *jkeys, *objects;
	char *env = NULL;
	uint8_t idb[8];
	char id[17], created[TIME_RFC3339_LEN], mname[BACKUP_OBJECT_NAME_MAX + 1];
	char *text = NULL;
	struct timespec ts_now;
	bool held[BUNDLE_TARGETS_MAX] = {false};
	int64_t now;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts_now);
	now = (int64_t)ts_now.tv_sec;
	*durable = 0;
	if (manifest_out != NULL)
		*manifest_out = NULL;
	randombytes_buf(idb, sizeof(idb));
	sodium_bin2hex(id, sizeof(id), idb, sizeof(idb));
	if ((r = time_format_rfc3339(now, created)) != SG_OK ||
	    (r = ks_key_list(ks, &keys, &n_keys)) != SG_OK)
		return r;
	/* the MAC key, wrapped under the backup key: a restore unwraps it to check manifests */
	if ((r = ks_state_get(ks, "backup-mac", &mk, &n_mk)) != SG_OK)
		return r;
	if (n_mk == 0) {
		ks_blobs_free(mk, n_mk);
		free(keys);
		return sg_fail(SG_ERR_NOT_FOUND,
			       "the token has no MAC key for the backups' manifests: made by the "
			       "backup-key-create ceremony (docs/backup.md)");
	}
	prior = newest_anywhere(ts, &auth, token_label);
	m = json_pack("{s:s, s:s, s:s, s:s, s:o, s:[], s:[], s:s%}", "format", BUNDLE_FORMAT, "id",
		      id, "created_at", created, "token", token_label, "backup_key",
		      backup_key_record_json(rec), "keys", "objects", "mac_key_wrapped",
		      (const char *)mk[0].data, mk[0].len);
	ks_blobs_free(mk, n_mk);
	if (m == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "the backup manifest");
		goto out;
	}
	json_object_set_new(m, "created_at_ns",
			    json_integer((json_int_t)ts_now.tv_sec * 1000000000 + ts_now.tv_nsec));
	jkeys = json_object_get(m, "keys");
	objects = json_object_get(m, "objects");
	for (size_t i = 0; i < n_keys; i++) {
		json_t *e = signer_key_json(&keys[i]), *w = NULL, *old;
		char hex[2 * KS_PUBKEY_MAX + 1];

		if (e == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "the backup manifest");
			goto out;
		}
		sodium_bin2hex(hex, sizeof(hex), keys[i].public_key, keys[i].public_key_len);
		json_object_set_new(e, "public_key_hex", json_string(hex));
		for (size_t b = 0; b < n_blobs; b++)
			if (strcmp(blobs[b].name, keys[i].name) == 0 &&
			    blobs[b].version == keys[i].version) {
				if ((r = pending_add(&pending, &n_pending, objects, blobs[b].data,
						     blobs[b].len, NULL, 0)) != SG_OK) {
					json_decref(e);
					goto out;
				}
				w = json_pack("{s:s, s:I}", "sha256", pending[n_pending - 1].sha256,
					      "size", (json_int_t)blobs[b].len);
			}
		if (w == NULL && keys[i].state != KS_STATE_DESTROYED &&
		    (old = wrapped_of(prior, &keys[i])) != NULL && json_is_object(old)) {
			const char *sha = json_string_value(json_object_get(old, "sha256"));
			json_int_t size = json_integer_value(json_object_get(old, "size"));

			if (sha256_valid(sha)) {
				if ((r = pending_add(&pending, &n_pending, objects, NULL, 0, sha,
						     (size_t)size)) != SG_OK) {
					json_decref(e);
					goto out;
				}
				w = json_pack("{s:s, s:I}", "sha256", sha, "size", size);
			}
		}
		/* a destroyed version keeps no private key in any new backup */
		json_object_set_new(e, "wrapped", w != NULL ? w : json_null());
		json_array_append_new(jkeys, e);
	}
	if (state != NULL) {
		json_t *st = json_object();

		json_object_set_new(m, "state", st);
		if (st == NULL ||
		    (r = state_add(ks, state, st, objects, &pending, &n_pending)) != SG_OK)
			goto out;
		/* the state's own time: a later backup of keys carries it forward unchanged */
		json_object_set_new(st, "made_at", json_string(created));
	} else if (json_is_object(json_object_get(prior, "state"))) {
		/* a backup of keys only carries the last state forward: every backup restores
		 * the audit log as the last state backup had it */
		json_t *st = json_object_get(prior, "state"), *o;
		size_t k;

		json_object_set(m, "state", st);
		json_array_foreach (json_object_get(prior, "objects"), k, o) {
			const char *sha = json_string_value(json_object_get(o, "sha256"));
			bool needed = false;
			size_t a;
			json_t *f;

			json_array_foreach (json_object_get(st, "audit"), a, f)
				needed |= strcmp(json_string_value(json_object_get(f, "sha256")),
						 sha) == 0;
			for (const char *const *n = (const char *const[]){"config", "policy", NULL};
			     *n; n++)
				needed |= json_object_get(st, *n) != NULL &&
					  strcmp(json_string_value(json_object_get(
							 json_object_get(st, *n), "sha256")),
						 sha) == 0;
			if (needed && (r = pending_add(&pending, &n_pending, objects, NULL, 0, sha,
						       (size_t)json_integer_value(json_object_get(
							       o, "size")))) != SG_OK)
				goto out;
		}
	}
	text = json_dumps(m, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (text == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "the backup manifest");
		goto out;
	}
	{
		uint8_t mac[KS_MAC_LEN];
		char mac_hex[2 * KS_MAC_LEN + 1];
		json_t *e;

		if ((r = ks_mac(ks, rec->kid, (const uint8_t *)text, strlen(text), mac)) != SG_OK)
			goto out;
		sodium_bin2hex(mac_hex, sizeof(mac_hex), mac, sizeof(mac));
		e = json_pack("{s:s, s:s, s:s, s:s}", "format", BUNDLE_ENVELOPE, "kid", rec->kid,
			      "mac", mac_hex, "manifest", text);
		env = e != NULL ? json_dumps(e, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
		json_decref(e);
		if (env == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "the backup manifest");
			goto out;
		}
	}
	bundle_manifest_name((int64_t)ts_now.tv_sec * 1000000000 + ts_now.tv_nsec, id, mname);
	/* objects first, the manifest last: a manifest names only what its target holds */
	for (size_t i = 0; i < ts->n; i++) {
		struct backup_target *t = ts->t[i];
		char **have = NULL;
		size_t n_have = 0;
		int tr = backup_target_list(t, "objects/", &have, &n_have);

		for (size_t k = 0; tr == SG_OK && k < n_pending; k++) {
			char oname[80];
			bool present = false;
			uint8_t *fetched = NULL;
			char sha[65];

			snprintf(oname, sizeof(oname), "objects/%s", pending[k].sha256);
			for (size_t h = 0; h < n_have && !present; h++)
				present = strcmp(have[h], oname) == 0;
			if (present)
				continue;
			if (pending[k].data == NULL && pending[k].owned == NULL) {
				/* an earlier backup's blob this target lacks: from a target that
				 * holds it, checked on the way */
				tr = SG_ERR_NOT_FOUND;
				for (size_t s = 0; s < ts->n && tr != SG_OK; s++)
					if (s != i)
						tr = bundle_object_get(ts->t[s], pending[k].sha256,
								       pending[k].size, &fetched);
				if (tr != SG_OK) {
					tr = sg_fail(
						SG_ERR_NOT_FOUND,
						"object %.12s... of an earlier backup is on no "
						"reachable target",
						pending[k].sha256);
					break;
				}
				tr = bundle_object_put(t, fetched, pending[k].size, sha);
				free(fetched);
			} else {
				tr = bundle_object_put(t,
						       pending[k].data != NULL ? pending[k].data
									       : pending[k].owned,
						       pending[k].size, sha);
			}
		}
		backup_names_free(have, n_have);
		if (tr == SG_OK)
			tr = backup_target_put(t, mname, (const uint8_t *)env, strlen(env));
		held[i] = tr == SG_OK;
		if (tr == SG_OK)
			(*durable)++;
		else
			sg_log("backup: target %s does not hold backup %s: %s",
			       backup_target_name(t), id, sg_errmsg(tr));
	}
	status_record(ks, m, ts, held);
	if (*durable < ts->min_targets) {
		r = sg_fail(SG_ERR_IO,
			    "backup %s is durable in %u target(s); backup.min_targets is %u", id,
			    *durable, ts->min_targets);
		goto out;
	}
	if (manifest_out != NULL)
		*manifest_out = json_incref(m);
out:
	for (size_t k = 0; k < n_pending; k++)
		free(pending[k].owned);
	free(pending);
	free(text);
	free(env);
	free(keys);
	json_decref(prior);
	json_decref(m);
	return r;
}

int bundle_sync(struct bundle_targets *ts, const struct bundle_auth *auth, unsigned *copied,
		unsigned *still_missing)
{
	*copied = 0;
	*still_missing = 0;
	for (size_t i = 0; i < ts->n; i++) {
		char **names = NULL;
		size_t n = 0;
		int lr = bundle_manifests(ts->t[i], &names, &n);

		if (lr != SG_OK) {
			sg_log("backup sync: %s cannot be listed: %s", backup_target_name(ts->t[i]),
			       sg_errmsg(lr));
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			json_t *m = NULL, *o;
			char why[512];
			size_t x;
			uint8_t *raw = NULL;
			size_t raw_len = 0;
			/* only what is authentic and whole is copied, byte for byte */
			int r = bundle_manifest_get(ts->t[i], names[k], auth, &m);

			if (r == SG_OK)
				r = bundle_manifest_verify(ts->t[i], m, why, sizeof(why));
			if (r == SG_OK)
				r = backup_target_get(ts->t[i], names[k], BUNDLE_MANIFEST_MAX, &raw,
						      &raw_len);
			if (r != SG_OK) {
				json_decref(m);
				continue;
			}
			for (size_t j = 0; j < ts->n; j++) {
				json_t *theirs = NULL;
				bool ok = true;

				if (j == i)
					continue;
				if (bundle_manifest_get(ts->t[j], names[k], auth, &theirs) ==
					    SG_OK &&
				    bundle_manifest_verify(ts->t[j], theirs, why, sizeof(why)) ==
					    SG_OK) {
					json_decref(theirs);
					continue;
				}
				json_decref(theirs);
				json_array_foreach (json_object_get(m, "objects"), x, o) {
					const char *sha =
						json_string_value(json_object_get(o, "sha256"));
					size_t size = (size_t)json_integer_value(
						json_object_get(o, "size"));
					uint8_t *data = NULL;
					char got[65];

					if (bundle_object_get(ts->t[j], sha, size, &data) ==
					    SG_OK) {
						free(data);
						continue;
					}
					if (bundle_object_get(ts->t[i], sha, size, &data) !=
						    SG_OK ||
					    bundle_object_put(ts->t[j], data, size, got) != SG_OK)
						ok = false;
					else
						(*copied)++;
					free(data);
				}
				if (ok &&
				    backup_target_put(ts->t[j], names[k], raw, raw_len) == SG_OK)
					(*copied)++;
				else
					ok = false;
				if (!ok) {
					(*still_missing)++;
					sg_log("backup sync: %s still lacks %s",
					       backup_target_name(ts->t[j]), names[k]);
				}
			}
			free(raw);
			json_decref(m);
		}
		backup_names_free(names, n);
	}
	return SG_OK;
}
