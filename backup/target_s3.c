/* An S3 bucket as a backup target, over libcurl: path-style URLs (ENDPOINT/BUCKET/PREFIX+NAME),
 * AWS Signature V4 by libcurl itself (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"), every request
 * carrying x-amz-content-sha256, the hex SHA-256 of its body (of the empty body for GET, DELETE
 * and the listing), which curl signs with the other x-amz-* headers, so that the server checks
 * the bytes as well as the signature. PUT, GET, DELETE and ListObjectsV2, whose XML a small
 * strict scanner reads (target_s3_xml.c). TLS is verified; http:// is allowed only to a loopback
 * address (the tests' S3-protocol server); redirects are not followed.
 *
 * The credentials come from a file in the AWS shared-credentials format, which must be
 * owner-only (target_s3_credentials.c); they are kept in locked memory (sodium_malloc). libcurl
 * keeps its own copy of the user and password while a request runs and frees it without wiping;
 * that copy is curl's, not ours to reach. No error and no log line holds the secret. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "target_internal.h"

#define S3_CONNECT_TIMEOUT_MS 5000L
#define S3_TIMEOUT_MS         60000L
#define S3_ERROR_BODY_MAX     65536 /* bytes of an error answer read */
#define S3_LIST_BODY_MAX      (16u * 1024 * 1024)
#define S3_LIST_NAMES_MAX     (1u << 24)
#define S3_URL_MAX            8192

struct s3_target {
	char *endpoint; /* scheme://host[:port], no trailing '/' */
	char *bucket;
	char *prefix; /* "" or ending in '/' */
	char *ca_file;
	char sigv4[96]; /* "aws:amz:REGION:s3" */
	bool https;
	bool loopback;
	struct backup_s3_credentials creds;
	CURL *curl;
	pthread_mutex_t lock; /* one request at a time on the handle */
};

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static CURLcode s3_global_rc = CURLE_FAILED_INIT;

static void s3_global_init(void)
{
	s3_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the config ---- */

static bool s3_region_valid(const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* S3's bucket naming rules: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit,
 * no "..". */
static bool s3_bucket_valid(const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');

		if (!alnum && s[i] != '.' && s[i] != '-')
			return false;
		if (!alnum && (i == 0 || i == n - 1))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* "" or an object name followed by '/'. */
static bool s3_prefix_valid(const char *s)
{
	size_t n = strlen(s);
	char copy[BACKUP_OBJECT_NAME_MAX + 1];

	if (n == 0)
		return true;
	if (n > BACKUP_OBJECT_NAME_MAX || s[n - 1] != '/')
		return false;
	memcpy(copy, s, n - 1);
	copy[n - 1] = '\0';
	return backup_object_name_valid(copy);
}

static bool s3_profile_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/* endpoint: https://HOST[:PORT][/] or http:// to 127.0.0.1, [::1] or localhost. HOST is a name,
 * an IPv4 address or a bracketed IPv6 one; nothing else (no user, path or query). */
static int s3_endpoint_parse(const struct backup_target *t, const char *ep, struct s3_target *s)
{
	const char *auth, *host_end, *end;
	size_t hlen;

	if (ep == NULL || ep[0] == '\0')
		return sg_fail(SG_ERR_CONFIG, "backup target %s: no s3 endpoint", t->name);
	if (strncmp(ep, "https://", 8) == 0) {
		s->https = true;
		auth = ep + 8;
	} else if (strncmp(ep, "http://", 7) == 0) {
		auth = ep + 7;
	} else {
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 endpoint must start with https:// (or "
			       "http:// to a loopback address)",
			       t->name);
	}
	end = auth + strcspn(auth, "/");
	if (end == auth || (end[0] == '/' && end[1] != '\0') || end - ep > 255)
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 endpoint must be SCHEME://HOST[:PORT], "
			       "without a path",
			       t->name);
	for (const char *p = auth; p < end; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':' ||
		      *p == '[' || *p == ']'))
			return sg_fail(SG_ERR_CONFIG,
				       "backup target %s: the s3 endpoint's host has a character "
				       "outside [A-Za-z0-9.:-] (and [] around an IPv6 address)",
				       t->name);
	if (auth[0] == '[') {
		host_end = memchr(auth, ']', (size_t)(end - auth));
		if (host_end == NULL)
			return sg_fail(
				SG_ERR_CONFIG,
				"backup target %s: the s3 endpoint's IPv6 address has no ']'",
				t->name);
		host_end++;
	} else {
		host_end = memchr(auth, ':', (size_t)(end - auth));
		if (host_end == NULL)
			host_end = end;
	}
	hlen = (size_t)(host_end - auth);
	if (hlen == 0)
		return sg_fail(SG_ERR_CONFIG, "backup target %s: the s3 endpoint has no host",
			       t->name);
	if (host_end < end) {
		unsigned long port = 0;
		const char *p = host_end + 1;

		if (*host_end != ':' || p == end || end - p > 5)
			return sg_fail(SG_ERR_CONFIG,
				       "backup target %s: the s3 endpoint's port is not a number",
				       t->name);
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return sg_fail(SG_ERR_CONFIG,
					       "backup target %s: the s3 endpoint's port is not a "
					       "number",
					       t->name);
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return sg_fail(SG_ERR_CONFIG,
				       "backup target %s: the s3 endpoint's port %lu is not 1 to "
				       "65535",
				       t->name, port);
	}
	s->loopback = (hlen == 9 && strncmp(auth, "127.0.0.1", 9) == 0) ||
		      (hlen == 5 && strncmp(auth, "[::1]", 5) == 0) ||
		      (hlen == 9 && strncasecmp(auth, "localhost", 9) == 0);
	if (!s->https && !s->loopback)
		return sg_fail(
			SG_ERR_CONFIG,
			"backup target %s: s3 endpoint %.*s is plain http:// to a host that "
			"is not a loopback address (127.0.0.1, ::1, localhost); use https://",
			t->name, (int)(end - ep), ep);
	s->endpoint = strndup(ep, (size_t)(end - ep));
	if (s->endpoint == NULL)
		return sg_fail(SG_ERR_NOMEM, "no memory for backup target %s", t->name);
	return SG_OK;
}

/* ---- requests ---- */

struct s3_body {
	uint8_t *p;
	size_t len, cap, limit;
	bool over;  /* more than limit */
	bool nomem; /* no memory for it */
};

struct s3_upload {
	const uint8_t *data;
	size_t len, off;
};

static size_t s3_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct s3_body *b = ud;
	size_t n = size * nmemb;

	if (n > b->limit - b->len) {
		b->over = true;
		return 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap == 0 ? 16384 : b->cap;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->limit)
			cap = b->limit;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->nomem = true;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

static size_t s3_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct s3_upload *u = ud;
	size_t n = size * nitems;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

/* curl rewinds an upload when it sends it again (on a kept-alive connection the server closed). */
static int s3_seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct s3_upload *u = ud;

	if (origin != SEEK_SET || offset < 0 || (uintmax_t)offset > u->len)
		return CURL_SEEKFUNC_FAIL;
	u->off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* The AWS URI encoding of a query value: unreserved characters as they are, the rest %XX. */
static int s3_query_encode(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';

		if (k + (plain ? 1 : 3) >= outsz)
			return -1;
		if (plain) {
			out[k++] = (char)c;
		} else {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
	return 0;
}

static void s3_headers_free(struct curl_slist *h)
{
	/* the session token went into curl's list: wipe it there too */
	for (struct curl_slist *p = h; p != NULL; p = p->next)
		sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

static bool s3_connect_failure(CURL *c, CURLcode rc)
{
	curl_off_t connected = 0;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		return curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected) == CURLE_OK &&
		       connected == 0;
	default:
		return false;
	}
}

struct s3_request {
	const char *method; /* "PUT", "GET", "DELETE" */
	const char *what;   /* for messages: "PUT bundles/x" */
	const char *url;
	const uint8_t *body; /* PUT */
	size_t len;
	size_t limit; /* of the answer's body */
};

/* One request; *status its HTTP status; the answer's body in *resp (free resp->p). Fails (the
 * sentence naming the target and what) when there was no HTTP answer. */
static int s3_perform(struct backup_target *t, const struct s3_request *rq, struct s3_body *resp,
		      long *status)
{
	struct s3_target *s = t->impl;
	struct s3_upload up = {.data = rq->body, .len = rq->len};
	struct curl_slist *h = NULL, *h2;
	unsigned char sha[crypto_hash_sha256_BYTES];
	char content_sha[32 + 2 * crypto_hash_sha256_BYTES + 1],
		hexsha[2 * crypto_hash_sha256_BYTES + 1];
	char errbuf[CURL_ERROR_SIZE] = "";
	bool put = strcmp(rq->method, "PUT") == 0, ok;
	CURL *c = s->curl;
	CURLcode rc;
	int r = SG_OK;

	*resp = (struct s3_body){.limit = rq->limit};
	*status = 0;
	crypto_hash_sha256(sha, rq->body == NULL ? (const unsigned char *)"" : rq->body,
			   (unsigned long long)rq->len);
	sodium_bin2hex(hexsha, sizeof(hexsha), sha, sizeof(sha));
	snprintf(content_sha, sizeof(content_sha), "x-amz-content-sha256: %s", hexsha);
	const char *fixed[] = {
		/* no "Expect:" to turn off 100-continue: curl 7.88 signs the header it removes,
		 * and the signature then names a header the request does not carry */
		content_sha,
		put ? "Content-Type: application/octet-stream" : NULL,
		s->creds.token_header,
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (fixed[i] == NULL)
			continue;
		h2 = curl_slist_append(h, fixed[i]);
		if (h2 == NULL) {
			s3_headers_free(h);
			return sg_fail(SG_ERR_NOMEM, "backup target %s: %s: no memory", t->name,
				       rq->what);
		}
		h = h2;
	}
	curl_easy_reset(c);
	ok = curl_easy_setopt(c, CURLOPT_URL, rq->url) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, s->https ? "https" : "http") == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, S3_CONNECT_TIMEOUT_MS) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, S3_TIMEOUT_MS) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	     (s->ca_file == NULL || curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file) == CURLE_OK) &&
	     /* a proxy from the environment never sits between us and a loopback server */
	     (!s->loopback || curl_easy_setopt(c, CURLOPT_PROXY, "") == CURLE_OK) &&
	     curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_USERPWD, s->creds.userpwd) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_USERAGENT, "signerd") == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_write_cb) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_WRITEDATA, resp) == CURLE_OK;
	if (ok && put)
		ok = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->len) ==
			     CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_read_cb) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_READDATA, &up) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, s3_seek_cb) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_SEEKDATA, &up) == CURLE_OK;
	else if (ok && strcmp(rq->method, "GET") != 0)
		ok = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method) == CURLE_OK;
	if (!ok) {
		r = sg_fail(SG_ERR_INTERNAL, "backup target %s: %s: libcurl refused an option",
			    t->name, rq->what);
		goto out;
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

		if (resp->nomem)
			r = sg_fail(SG_ERR_NOMEM, "backup target %s: %s: no memory for the answer",
				    t->name, rq->what);
		else if (resp->over)
			r = sg_fail(SG_ERR_OVERFLOW,
				    "backup target %s: %s: the answer is larger than %zu bytes",
				    t->name, rq->what, rq->limit);
		else if (s3_connect_failure(c, rc))
			r = sg_fail(SG_ERR_IO, "backup target %s: cannot connect to %s: %s",
				    t->name, s->endpoint, why);
		else
			r = sg_fail(SG_ERR_IO, "backup target %s: %s: %s: %s", t->name, rq->what,
				    s->endpoint, why);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) {
		r = sg_fail(SG_ERR_INTERNAL, "backup target %s: %s: no HTTP status", t->name,
			    rq->what);
		goto out;
	}
out:
	/* curl keeps the options until the next reset: drop its copy of the credentials now */
	curl_easy_reset(c);
	s3_headers_free(h);
	if (r != SG_OK) {
		free(resp->p);
		*resp = (struct s3_body){.p = NULL};
	}
	return r;
}

/* The sentence of an HTTP answer that is not 2xx: SG_ERR_NOT_FOUND for 404, else SG_ERR_IO. */
static int s3_http_failure(const struct backup_target *t, const char *what, long status,
			   const struct s3_body *b, char code[BACKUP_S3_CODE_MAX + 1])
{
	backup_s3_error_code((const char *)b->p, b->len, code);
	return sg_fail(status == 404 ? SG_ERR_NOT_FOUND : SG_ERR_IO,
		       "backup target %s: %s: HTTP %ld%s%s", t->name, what, status,
		       code[0] != '\0' ? " " : "", code);
}

static int s3_object_url(const struct backup_target *t, const char *name, char *url, size_t n)
{
	const struct s3_target *s = t->impl;
	int k = snprintf(url, n, "%s/%s/%s%s", s->endpoint, s->bucket, s->prefix, name);

	if (k < 0 || (size_t)k >= n)
		return sg_fail(SG_ERR_OVERFLOW, "backup target %s: the URL of %s is too long",
			       t->name, name);
	return SG_OK;
}

static int s3_put(struct backup_target *t, const char *name, const uint8_t *data, size_t len)
{
	struct s3_target *s = t->impl;
	char url[S3_URL_MAX], what[BACKUP_OBJECT_NAME_MAX * 2 + 8], code[BACKUP_S3_CODE_MAX + 1];
	struct s3_body b;
	long status;
	int r;

	snprintf(what, sizeof(what), "PUT %s%s", s->prefix, name);
	if ((r = s3_object_url(t, name, url, sizeof(url))) != SG_OK)
		return r;
	pthread_mutex_lock(&s->lock);
	r = s3_perform(t,
		       &(struct s3_request){.method = "PUT",
					    .what = what,
					    .url = url,
					    .body = data,
					    .len = len,
					    .limit = S3_ERROR_BODY_MAX},
		       &b, &status);
	pthread_mutex_unlock(&s->lock);
	if (r != SG_OK)
		return r;
	if (status < 200 || status > 299)
		r = s3_http_failure(t, what, status, &b, code);
	free(b.p);
	return r;
}

static int s3_get(struct backup_target *t, const char *name, size_t max, uint8_t **data,
		  size_t *len)
{
	struct s3_target *s = t->impl;
	char url[S3_URL_MAX], what[BACKUP_OBJECT_NAME_MAX * 2 + 8], code[BACKUP_S3_CODE_MAX + 1];
	struct s3_body b;
	long status;
	int r;

	snprintf(what, sizeof(what), "GET %s%s", s->prefix, name);
	if ((r = s3_object_url(t, name, url, sizeof(url))) != SG_OK)
		return r;
	pthread_mutex_lock(&s->lock);
	/* room for an error's XML even when max is small; the object itself is held to max below */
	r = s3_perform(t,
		       &(struct s3_request){.method = "GET",
					    .what = what,
					    .url = url,
					    .limit = max > S3_ERROR_BODY_MAX ? max + 1
									     : S3_ERROR_BODY_MAX},
		       &b, &status);
	pthread_mutex_unlock(&s->lock);
	if (r == SG_ERR_OVERFLOW)
		return sg_fail(SG_ERR_OVERFLOW,
			       "backup target %s: %s: the object is more than the %zu bytes "
			       "allowed",
			       t->name, what, max);
	if (r != SG_OK)
		return r;
	if (status < 200 || status > 299) {
		r = s3_http_failure(t, what, status, &b, code);
		free(b.p);
		return r;
	}
	if (b.len > max) {
		free(b.p);
		return sg_fail(SG_ERR_OVERFLOW,
			       "backup target %s: %s: the object is more than the %zu bytes "
			       "allowed",
			       t->name, what, max);
	}
	if (b.p == NULL && (b.p = malloc(1)) == NULL)
		return sg_fail(SG_ERR_NOMEM, "backup target %s: %s: no memory", t->name, what);
	*data = b.p;
	*len = b.len;
	return SG_OK;
}

static int s3_del(struct backup_target *t, const char *name)
{
	struct s3_target *s = t->impl;
	char url[S3_URL_MAX], what[BACKUP_OBJECT_NAME_MAX * 2 + 11], code[BACKUP_S3_CODE_MAX + 1];
	struct s3_body b;
	long status;
	int r;

	snprintf(what, sizeof(what), "DELETE %s%s", s->prefix, name);
	if ((r = s3_object_url(t, name, url, sizeof(url))) != SG_OK)
		return r;
	pthread_mutex_lock(&s->lock);
	r = s3_perform(
		t,
		&(struct s3_request){
			.method = "DELETE", .what = what, .url = url, .limit = S3_ERROR_BODY_MAX},
		&b, &status);
	pthread_mutex_unlock(&s->lock);
	if (r != SG_OK)
		return r;
	if (status < 200 || status > 299) {
		r = s3_http_failure(t, what, status, &b, code);
		/* none there is done; a missing bucket is not */
		if (r == SG_ERR_NOT_FOUND && strcmp(code, "NoSuchKey") == 0) {
			sg_errclear();
			r = SG_OK;
		}
	}
	free(b.p);
	return r;
}

static int s3_list(struct backup_target *t, const char *prefix, struct backup_names *out)
{
	struct s3_target *s = t->impl;
	char full[2 * BACKUP_OBJECT_NAME_MAX + 1], what[BACKUP_OBJECT_NAME_MAX * 2 + 16];
	char enc_prefix[3 * sizeof(full)], enc_token[3 * BACKUP_S3_TOKEN_MAX + 1],
		url[S3_URL_MAX * 2];
	char code[BACKUP_S3_CODE_MAX + 1], *token = NULL;
	size_t slen = strlen(s->prefix), flen;
	int r = SG_OK;

	snprintf(full, sizeof(full), "%s%s", s->prefix, prefix);
	flen = strlen(full);
	snprintf(what, sizeof(what), "LIST %s", flen > 0 ? full : "(all)");
	if (s3_query_encode(enc_prefix, sizeof(enc_prefix), full) != 0)
		return sg_fail(SG_ERR_OVERFLOW, "backup target %s: %s: the prefix is too long",
			       t->name, what);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct backup_s3_list_page page;
		struct s3_body b;
		long status;
		int k;

		/* the query in the canonical order SigV4 signs: keys sorted, values encoded */
		if (token != NULL && s3_query_encode(enc_token, sizeof(enc_token), token) != 0) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "backup target %s: %s: a continuation token "
				    "too long",
				    t->name, what);
			break;
		}
		k = snprintf(url, sizeof(url), "%s/%s?%s%s%slist-type=2%s%s", s->endpoint,
			     s->bucket, token != NULL ? "continuation-token=" : "",
			     token != NULL ? enc_token : "", token != NULL ? "&" : "",
			     flen > 0 ? "&prefix=" : "", enc_prefix);
		if (k < 0 || (size_t)k >= sizeof(url)) {
			r = sg_fail(SG_ERR_OVERFLOW, "backup target %s: %s: the URL is too long",
				    t->name, what);
			break;
		}
		r = s3_perform(t,
			       &(struct s3_request){.method = "GET",
						    .what = what,
						    .url = url,
						    .limit = S3_LIST_BODY_MAX},
			       &b, &status);
		if (r != SG_OK)
			break;
		if (status < 200 || status > 299) {
			r = s3_http_failure(t, what, status, &b, code);
			free(b.p);
			break;
		}
		r = backup_s3_list_parse((const char *)b.p, b.len, &page);
		free(b.p);
		if (r != SG_OK) {
			r = sg_context(r, "backup target %s: %s", t->name, what);
			break;
		}
		for (size_t i = 0; r == SG_OK && i < page.keys.n; i++) {
			const char *key = page.keys.v[i];

			if (strncmp(key, full, flen) != 0)
				r = sg_fail(SG_ERR_MALFORMED,
					    "backup target %s: %s: the server listed a key outside "
					    "the prefix",
					    t->name, what);
			else if (out->n >= S3_LIST_NAMES_MAX)
				r = sg_fail(SG_ERR_OVERFLOW,
					    "backup target %s: %s: more than %u objects", t->name,
					    what, S3_LIST_NAMES_MAX);
			/* what is not an object name is not one of ours */
			else if (backup_object_name_valid(key + slen))
				r = backup_names_add(out, key + slen, strlen(key + slen));
		}
		free(token);
		token = page.truncated ? page.next_token : NULL;
		if (!page.truncated)
			free(page.next_token);
		page.next_token = NULL;
		backup_s3_list_page_free(&page);
		if (r != SG_OK || token == NULL)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	free(token);
	return r;
}

static void s3_free(struct s3_target *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	backup_s3_credentials_free(&s->creds);
	pthread_mutex_destroy(&s->lock);
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->ca_file);
	free(s);
}

static void s3_close(struct backup_target *t)
{
	s3_free(t->impl);
	t->impl = NULL;
}

static const struct backup_target_ops s3_ops = {
	.put = s3_put,
	.get = s3_get,
	.list = s3_list,
	.del = s3_del,
	.close = s3_close,
};

int backup_target_s3_open(const struct backup_target_config *cfg, struct backup_target *t)
{
	const char *prefix = cfg->s3.prefix == NULL ? "" : cfg->s3.prefix;
	const char *profile = cfg->s3.profile == NULL ? "default" : cfg->s3.profile;
	struct s3_target *s;
	int r;

	if (!s3_region_valid(cfg->s3.region))
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 region must be 1 to 63 of "
			       "[a-z0-9-]",
			       t->name);
	if (!s3_bucket_valid(cfg->s3.bucket))
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 bucket must be 3 to 63 of [a-z0-9.-], "
			       "starting and ending with a letter or digit",
			       t->name);
	if (!s3_prefix_valid(prefix))
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 prefix must be \"\" or an object name "
			       "ending in '/'",
			       t->name);
	if (!s3_profile_valid(profile))
		return sg_fail(SG_ERR_CONFIG,
			       "backup target %s: the s3 profile must be 1 to 64 of [A-Za-z0-9._-]",
			       t->name);
	if (cfg->s3.ca_file != NULL && access(cfg->s3.ca_file, R_OK) != 0)
		return sg_fail(SG_ERR_CONFIG, "backup target %s: s3 ca_file %s: %s", t->name,
			       cfg->s3.ca_file, strerror(errno));
	if (pthread_once(&s3_once, s3_global_init) != 0 || s3_global_rc != CURLE_OK)
		return sg_fail(SG_ERR_INTERNAL, "backup target %s: libcurl did not initialise: %s",
			       t->name, curl_easy_strerror(s3_global_rc));
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "backup target %s: libsodium did not initialise",
			       t->name);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sg_fail(SG_ERR_NOMEM, "no memory for backup target %s", t->name);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return sg_fail(SG_ERR_INTERNAL, "backup target %s: no mutex", t->name);
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", cfg->s3.region);
	if ((r = s3_endpoint_parse(t, cfg->s3.endpoint, s)) != SG_OK)
		goto fail;
	s->bucket = strdup(cfg->s3.bucket);
	s->prefix = strdup(prefix);
	s->ca_file = cfg->s3.ca_file == NULL ? NULL : strdup(cfg->s3.ca_file);
	if (s->bucket == NULL || s->prefix == NULL || (cfg->s3.ca_file != NULL && !s->ca_file)) {
		r = sg_fail(SG_ERR_NOMEM, "no memory for backup target %s", t->name);
		goto fail;
	}
	r = backup_s3_credentials_read(t->name, cfg->s3.credentials_file, profile, &s->creds);
	if (r != SG_OK)
		goto fail;
	s->curl = curl_easy_init();
	if (s->curl == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "backup target %s: no curl handle", t->name);
		goto fail;
	}
	t->impl = s;
	t->ops = &s3_ops;
	return SG_OK;
fail:
	s3_free(s);
	return r;
}
