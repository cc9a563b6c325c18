/* Fuzz target: the readers of an S3 server's XML answers (backup/target_s3_xml.c), which a
 * hostile or broken endpoint writes. A ListObjectsV2 page: read the same twice; refused, it is
 * left empty; accepted, a truncated page has its continuation token within bounds, and the keys
 * and token written again as XML (every byte that needs it as a character reference) read back
 * the same. An <Error>'s code: the same twice, empty or 1 to 64 of [A-Za-z0-9.]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *buf;
	size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (o->buf == NULL)
			abort();
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static void out_text(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char ref[8];

		if (c < 0x20 || c == '&' || c == '<' || c == '>') {
			snprintf(ref, sizeof(ref), "&#%u;", c);
			out_add(o, ref, strlen(ref));
		} else {
			out_add(o, s, 1);
		}
	}
}

static void same_page(const struct backup_s3_list_page *a, const struct backup_s3_list_page *b)
{
	if (a->keys.n != b->keys.n || a->truncated != b->truncated ||
	    (a->next_token == NULL) != (b->next_token == NULL) ||
	    (a->next_token != NULL && strcmp(a->next_token, b->next_token) != 0))
		abort();
	for (size_t i = 0; i < a->keys.n; i++)
		if (strcmp(a->keys.v[i], b->keys.v[i]) != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_s3_list_page a = {0}, b = {0}, c = {0};
	char code_a[BACKUP_S3_CODE_MAX + 1], code_b[BACKUP_S3_CODE_MAX + 1];
	struct out o = {0};
	int r1 = backup_s3_list_parse((const char *)data, size, &a);
	int r2 = backup_s3_list_parse((const char *)data, size, &b);
	size_t n;

	if (r1 != r2)
		abort();
	same_page(&a, &b);
	if (r1 != SG_OK) {
		if (a.keys.n != 0 || a.next_token != NULL || a.truncated)
			abort();
	} else {
		if (a.truncated && (a.next_token == NULL || a.next_token[0] == '\0' ||
				    strlen(a.next_token) > BACKUP_S3_TOKEN_MAX))
			abort();
		out_str(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
		for (size_t i = 0; i < a.keys.n; i++) {
			out_str(&o, "<Contents><Key>");
			out_text(&o, a.keys.v[i]);
			out_str(&o, "</Key><Size>1</Size></Contents>");
		}
		out_str(&o, a.truncated ? "<IsTruncated>true</IsTruncated>"
					: "<IsTruncated>false</IsTruncated>");
		if (a.next_token != NULL) {
			out_str(&o, "<NextContinuationToken>");
			out_text(&o, a.next_token);
			out_str(&o, "</NextContinuationToken>");
		}
		out_str(&o, "</ListBucketResult>");
		if (backup_s3_list_parse(o.buf, o.len, &c) != SG_OK)
			abort();
		same_page(&a, &c);
		backup_s3_list_page_free(&c);
		free(o.buf);
	}
	backup_s3_list_page_free(&a);
	backup_s3_list_page_free(&b);
	backup_s3_error_code((const char *)data, size, code_a);
	backup_s3_error_code((const char *)data, size, code_b);
	n = strlen(code_a);
	if (strcmp(code_a, code_b) != 0 || n > BACKUP_S3_CODE_MAX ||
	    strspn(code_a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.") != n)
		abort();
	return 0;
}
