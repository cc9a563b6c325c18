/* The S3 target's credentials: [profile] of a file in the AWS shared-credentials format
 * (aws_access_key_id, aws_secret_access_key, optional aws_session_token), which must be
 * owner-only (file_check_trusted). The file is read into locked memory and wiped; what curl
 * needs ("ID:SECRET", the x-amz-security-token header) is kept in locked memory too. No
 * sentence of an error quotes a value: they name the file, the line and the key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/files.h"
#include "target_internal.h"

#define S3_CREDENTIALS_MAX 65536 /* bytes of the credentials file */

struct s3_span {
	const char *p;
	size_t len;
	unsigned line;
};

static void s3_trim(const char **p, size_t *len)
{
	while (*len > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 &&
	       ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t' || (*p)[*len - 1] == '\r'))
		(*len)--;
}

static bool s3_printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* Finds aws_access_key_id, aws_secret_access_key and aws_session_token in [profile] of the
 * text; the values stay where they are (in locked memory). */
static int s3_credentials_parse(const char *path, const char *profile, const char *text, size_t len,
				struct s3_span *id, struct s3_span *secret, struct s3_span *token)
{
	bool in = false, seen = false;
	unsigned line = 0;

	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		size_t n = (size_t)((nl == NULL ? end : nl) - p), klen, vlen;
		const char *k = p, *v;
		struct s3_span *slot;

		line++;
		p = nl == NULL ? end : nl + 1;
		s3_trim(&k, &n);
		if (n == 0 || k[0] == '#' || k[0] == ';')
			continue;
		if (k[0] == '[') {
			const char *name = k + 1;
			size_t nn = n - 1;

			if (k[n - 1] != ']')
				return sg_fail(SG_ERR_CONFIG,
					       "S3 credentials file %s:%u: a section line must end "
					       "with ']'",
					       path, line);
			nn--;
			s3_trim(&name, &nn);
			in = nn == strlen(profile) && memcmp(name, profile, nn) == 0;
			if (in && seen)
				return sg_fail(
					SG_ERR_CONFIG,
					"S3 credentials file %s:%u: profile [%s] appears twice",
					path, line, profile);
			seen = seen || in;
			continue;
		}
		if (!in)
			continue;
		eq = memchr(k, '=', n);
		if (eq == NULL)
			return sg_fail(SG_ERR_CONFIG,
				       "S3 credentials file %s:%u: not a \"key = value\" line",
				       path, line);
		klen = (size_t)(eq - k);
		v = eq + 1;
		vlen = n - klen - 1;
		s3_trim(&k, &klen);
		s3_trim(&v, &vlen);
		if (klen == 17 && memcmp(k, "aws_access_key_id", 17) == 0)
			slot = id;
		else if (klen == 21 && memcmp(k, "aws_secret_access_key", 21) == 0)
			slot = secret;
		else if (klen == 17 && memcmp(k, "aws_session_token", 17) == 0)
			slot = token;
		else
			continue;
		if (slot->p != NULL)
			return sg_fail(SG_ERR_CONFIG,
				       "S3 credentials file %s:%u: %.*s is given twice in [%s]",
				       path, line, (int)klen, k, profile);
		*slot = (struct s3_span){.p = v, .len = vlen, .line = line};
	}
	if (!seen)
		return sg_fail(SG_ERR_CONFIG, "S3 credentials file %s has no profile [%s]", path,
			       profile);
	if (id->p == NULL || secret->p == NULL)
		return sg_fail(SG_ERR_CONFIG,
			       "S3 credentials file %s: profile [%s] needs aws_access_key_id and "
			       "aws_secret_access_key",
			       path, profile);
	for (size_t i = 0; i < id->len; i++)
		if (!((id->p[i] >= 'A' && id->p[i] <= 'Z') ||
		      (id->p[i] >= 'a' && id->p[i] <= 'z') || (id->p[i] >= '0' && id->p[i] <= '9')))
			return sg_fail(
				SG_ERR_CONFIG,
				"S3 credentials file %s:%u: aws_access_key_id must be letters "
				"and digits",
				path, id->line);
	if (id->len == 0 || id->len > 128)
		return sg_fail(SG_ERR_CONFIG,
			       "S3 credentials file %s:%u: aws_access_key_id must be 1 to 128 "
			       "characters",
			       path, id->line);
	if (secret->len == 0 || secret->len > 256 || !s3_printable(secret->p, secret->len))
		return sg_fail(SG_ERR_CONFIG,
			       "S3 credentials file %s:%u: aws_secret_access_key must be 1 to 256 "
			       "printable characters without spaces",
			       path, secret->line);
	if (token->p != NULL &&
	    (token->len == 0 || token->len > 8192 || !s3_printable(token->p, token->len)))
		return sg_fail(SG_ERR_CONFIG,
			       "S3 credentials file %s:%u: aws_session_token must be 1 to 8192 "
			       "printable characters without spaces",
			       path, token->line);
	return SG_OK;
}

int backup_s3_credentials_read(const char *target, const char *path, const char *profile,
			       struct backup_s3_credentials *out)
{
	struct s3_span id = {.p = NULL}, secret = {.p = NULL}, token = {.p = NULL};
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	if (path == NULL || path[0] == '\0')
		return sg_fail(SG_ERR_CONFIG, "backup target %s: no s3 credentials file", target);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_PERMISSION,
			       "backup target %s: S3 credentials file %s: %s", target, path,
			       strerror(errno));
	if ((r = file_check_trusted(fd, path, "S3 credentials file", true)) != SG_OK) {
		r = sg_context(r, "backup target %s", target);
		goto out;
	}
	text = sodium_malloc(S3_CREDENTIALS_MAX + 1);
	if (text == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "no secure memory for the S3 credentials");
		goto out;
	}
	while (len < S3_CREDENTIALS_MAX + 1) {
		ssize_t got = read(fd, text + len, S3_CREDENTIALS_MAX + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = sg_fail(SG_ERR_IO, "backup target %s: S3 credentials file %s: %s",
				    target, path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > S3_CREDENTIALS_MAX) {
		r = sg_fail(SG_ERR_CONFIG,
			    "backup target %s: S3 credentials file %s is longer than %d bytes",
			    target, path, S3_CREDENTIALS_MAX);
		goto out;
	}
	r = s3_credentials_parse(path, profile, text, len, &id, &secret, &token);
	if (r != SG_OK) {
		r = sg_context(r, "backup target %s", target);
		goto out;
	}
	out->userpwd = sodium_malloc(id.len + 1 + secret.len + 1);
	if (out->userpwd == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "no secure memory for the S3 credentials");
		goto out;
	}
	memcpy(out->userpwd, id.p, id.len);
	out->userpwd[id.len] = ':';
	memcpy(out->userpwd + id.len + 1, secret.p, secret.len);
	out->userpwd[id.len + 1 + secret.len] = '\0';
	if (token.p != NULL) {
		static const char h[] = "x-amz-security-token: ";

		size_t n = sizeof(h) - 1 + token.len + 1;

		out->token_header = sodium_malloc(n);
		if (out->token_header == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "no secure memory for the S3 credentials");
			goto out;
		}
		memcpy(out->token_header, h, sizeof(h) - 1);
		memcpy(out->token_header + sizeof(h) - 1, token.p, token.len);
		out->token_header[n - 1] = '\0';
	}
out:
	if (text != NULL) {
		sodium_memzero(text, S3_CREDENTIALS_MAX + 1);
		sodium_free(text);
	}
	close(fd);
	if (r != SG_OK)
		backup_s3_credentials_free(out);
	return r;
}

void backup_s3_credentials_free(struct backup_s3_credentials *c)
{
	/* sodium_free wipes before it frees */
	if (c->userpwd != NULL)
		sodium_free(c->userpwd);
	if (c->token_header != NULL)
		sodium_free(c->token_header);
	*c = (struct backup_s3_credentials){.userpwd = NULL};
}
