/* Backup targets: where backups are written, one per region. A target is a flat store of named
 * objects: a directory (each object written to a temporary name, fsync'd, renamed, the
 * directory fsync'd) or an S3 bucket (libcurl, AWS Signature V4, real HTTP). Object names are
 * 1..200 of [a-z0-9._-/], no leading '/', no empty or "." or ".." segment. */
#ifndef SIGNER_BACKUP_TARGET_H
#define SIGNER_BACKUP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BACKUP_TARGET_NAME_MAX 63
#define BACKUP_OBJECT_NAME_MAX 200
#define BACKUP_OBJECT_MAX      (256u * 1024 * 1024)

enum backup_target_kind {
	BACKUP_TARGET_DIR = 1,
	BACKUP_TARGET_S3 = 2,
};

struct backup_target_config {
	char *name; /* the region's name ("eu-west") */
	enum backup_target_kind kind;
	char *dir; /* DIR: an absolute path */
	struct {
		char *endpoint;         /* "https://s3.eu-west-1.amazonaws.com"; http:// only to a
					 * loopback address */
		char *region;           /* "eu-west-1" */
		char *bucket;           /* path-style: endpoint/bucket/prefix+name */
		char *prefix;           /* "" or ending in '/' */
		char *credentials_file; /* AWS shared-credentials format, owner-only */
		char *profile;          /* its section; "default" when NULL */
		char *ca_file;          /* extra CA bundle for the endpoint; NULL: the system's */
	} s3;
};

struct backup_target;

/* Checks the config (an S3 target reads its credentials file here, into locked memory); does not
 * touch the network or the directory yet. */
SG_MUST_CHECK int backup_target_open(const struct backup_target_config *cfg,
				     struct backup_target **out);
void backup_target_close(struct backup_target *t);
const char *backup_target_name(const struct backup_target *t);

/* Writes an object whole, replacing any of the name: a reader sees the old or the new bytes,
 * never a part. SG_ERR_IO with a sentence naming the target when it cannot be reached or said
 * no (HTTP status and S3 error code). */
SG_MUST_CHECK int backup_target_put(struct backup_target *t, const char *name, const uint8_t *data,
				    size_t len);
/* Reads an object whole (at most max bytes, else SG_ERR_OVERFLOW); SG_ERR_NOT_FOUND when there
 * is none. Free *data with free(). */
SG_MUST_CHECK int backup_target_get(struct backup_target *t, const char *name, size_t max,
				    uint8_t **data, size_t *len);
/* The names of every object whose name starts with prefix (may be ""), sorted. Free with
 * backup_names_free. */
SG_MUST_CHECK int backup_target_list(struct backup_target *t, const char *prefix, char ***names,
				     size_t *n);
void backup_names_free(char **names, size_t n);
/* Whether name is an object name by the rules above (every target checks them; so can a caller
 * before it builds a name from parts). */
bool backup_object_name_valid(const char *name);
/* Removes an object; none there is SG_OK. */
SG_MUST_CHECK int backup_target_delete(struct backup_target *t, const char *name);

#endif
