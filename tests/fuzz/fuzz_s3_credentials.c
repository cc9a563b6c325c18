/* Fuzz target: a backup target's S3 credentials file (backup_s3_credentials_read), in the AWS
 * shared-credentials format. Read the same twice; a refusal never quotes a secret (no value
 * given for aws_secret_access_key or aws_session_token appears in the message); an accepted
 * file gives "ID:SECRET" with an ID of letters and digits, and the token header when there is a
 * token. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fuzz_file.h"
#include "target_internal.h"

/* The message less what it may name that is not the file's (the file's path and the profile's
 * name), so that a "secret" that happens to be those words is not taken for one quoted. */
static const char *without(const char *msg, const char *path)
{
	static char out[1024];
	const char *drop[] = {path, "[backup]"};

	snprintf(out, sizeof(out), "%s", msg);
	for (size_t i = 0; i < 2; i++) {
		char *at;

		while ((at = strstr(out, drop[i])) != NULL)
			memmove(at, at + strlen(drop[i]), strlen(at + strlen(drop[i])) + 1);
	}
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether msg holds the value of a secret line of the input ("KEY = VALUE", the value trimmed),
 * for values long enough (20 bytes) not to be words the message has anyway. */
static bool quotes_a_secret(const uint8_t *data, size_t size, const char *msg)
{
	static const char *const keys[] = {"aws_secret_access_key", "aws_session_token"};

	for (size_t at = 0; at < size;) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
		const char *line = (const char *)data + at;
		const char *eq = memchr(line, '=', len);

		at += len + 1;
		if (eq == NULL)
			continue;
		for (size_t k = 0; k < 2; k++) {
			const char *v = eq + 1, *end = line + len;

			if (memmem(line, (size_t)(eq - line), keys[k], strlen(keys[k])) == NULL)
				continue;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
				end--;
			if (end - v >= 20 && memmem(msg, strlen(msg), v, (size_t)(end - v)) != NULL)
				return true;
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_s3_credentials a = {0}, b = {0};
	const char *path = fuzz_file("credentials", data, size);
	char msg[1024];
	int r1, r2;

	if (sodium_init() <
	    0) /* as signerd and signerctl do first: the file is read into guarded memory */
		abort();
	if (chmod(path, 0600) != 0) /* the file must be owner-only, as the reader checks */
		abort();
	r1 = backup_s3_credentials_read("fuzz", path, "backup", &a);
	snprintf(msg, sizeof(msg), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = backup_s3_credentials_read("fuzz", path, "backup", &b);
	if (r1 != r2 || (r1 != SG_OK && strcmp(msg, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		if (msg[0] == '\0' || quotes_a_secret(data, size, without(msg, path)) ||
		    a.userpwd != NULL)
			abort();
		goto out;
	}
	{
		const char *colon = strchr(a.userpwd, ':');
		size_t id_len = colon != NULL ? (size_t)(colon - a.userpwd) : 0;

		if (colon == NULL || id_len == 0 || id_len > 128 || colon[1] == '\0' ||
		    strspn(a.userpwd,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
			    id_len ||
		    strcmp(a.userpwd, b.userpwd) != 0)
			abort();
		if ((a.token_header == NULL) != (b.token_header == NULL) ||
		    (a.token_header != NULL &&
		     (strncmp(a.token_header, "x-amz-security-token: ", 22) != 0 ||
		      strcmp(a.token_header, b.token_header) != 0)))
			abort();
	}
out:
	backup_s3_credentials_free(&a);
	backup_s3_credentials_free(&b);
	return 0;
}
