/* Backup target internals shared by its files: the ops table a kind fills in (target_dir.c,
 * target_s3.c) and the name list they build. Not installed; target.c does the checks every kind
 * shares (names, lengths, bounds) before it calls one. */
#ifndef SIGNER_BACKUP_TARGET_INTERNAL_H
#define SIGNER_BACKUP_TARGET_INTERNAL_H

#include "backup/target.h"

/* A growing list of object names, each malloc'd. */
struct backup_names {
	char **v;
	size_t n, cap;
};

/* Appends a copy of the len bytes at s. */
SG_MUST_CHECK int backup_names_add(struct backup_names *l, const char *s, size_t len);
/* Sorts them (strcmp, byte order) and drops duplicates. */
void backup_names_sort(struct backup_names *l);
void backup_names_clear(struct backup_names *l);

/* The operations of a kind. Names and prefixes are checked, data is not NULL when len > 0, len
 * is at most BACKUP_OBJECT_MAX and max at most BACKUP_OBJECT_MAX by the time they are called. */
struct backup_target_ops {
	int (*put)(struct backup_target *t, const char *name, const uint8_t *data, size_t len);
	int (*get)(struct backup_target *t, const char *name, size_t max, uint8_t **data,
		   size_t *len);
	int (*list)(struct backup_target *t, const char *prefix, struct backup_names *out);
	int (*del)(struct backup_target *t, const char *name);
	void (*close)(struct backup_target *t);
};

struct backup_target {
	const struct backup_target_ops *ops;
	char name[BACKUP_TARGET_NAME_MAX + 1];
	void *impl; /* the kind's own state */
};

/* Each kind checks its part of cfg and fills in t->ops and t->impl (t->name is set). */
SG_MUST_CHECK int backup_target_dir_open(const struct backup_target_config *cfg,
					 struct backup_target *t);
SG_MUST_CHECK int backup_target_s3_open(const struct backup_target_config *cfg,
					struct backup_target *t);

/* The characters of object names and prefixes: [a-z0-9._-/]. */
bool backup_object_char(char c);

/* target_s3_credentials.c: the S3 target's credentials, [profile] of an AWS shared-credentials
 * file that must be owner-only, in locked memory. target names the target in the errors, which
 * never quote a value. */
struct backup_s3_credentials {
	char *userpwd;      /* sodium_malloc'd "ID:SECRET", for CURLOPT_USERPWD */
	char *token_header; /* sodium_malloc'd "x-amz-security-token: TOKEN"; NULL when none */
};
SG_MUST_CHECK int backup_s3_credentials_read(const char *target, const char *path,
					     const char *profile,
					     struct backup_s3_credentials *out);
/* Wipes and frees; an empty one is fine. */
void backup_s3_credentials_free(struct backup_s3_credentials *c);

/* target_s3_xml.c: the readers of S3's XML answers. One page of a ListObjectsV2 answer
 * (<ListBucketResult>): every <Contents><Key>, decoded, as the server sent them (the caller
 * checks them), <IsTruncated> (required) and <NextContinuationToken> (required when truncated).
 * SG_ERR_MALFORMED (or TRUNCATED, TRAILING, OVERFLOW) for anything else, the page left empty. */
struct backup_s3_list_page {
	struct backup_names keys;
	bool truncated;
	char *next_token; /* malloc'd; NULL when none */
};
SG_MUST_CHECK int backup_s3_list_parse(const char *xml, size_t len,
				       struct backup_s3_list_page *page);
void backup_s3_list_page_free(struct backup_s3_list_page *page);

/* The <Code> of an S3 <Error> answer, when it is one and its code is 1 to 64 of [A-Za-z0-9.];
 * "" otherwise. */
#define BACKUP_S3_CODE_MAX  64
#define BACKUP_S3_TOKEN_MAX 4096 /* bytes of a continuation token */
void backup_s3_error_code(const char *xml, size_t len, char code[BACKUP_S3_CODE_MAX + 1]);

#endif
