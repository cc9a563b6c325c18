/* Fuzz target: the audit log's reader, on a file an attacker may have written (start-up replay
 * and `signerctl audit verify` read it). Each line: audit_line_parse is deterministic, hashes the
 * line's exact bytes, and a record it accepts, written again member by member the way the writer
 * writes a record (common/jsonw.h, which must match jansson's compact dump byte for byte), is
 * accepted with the same seq and fields and the hash of the new line, and written once more is
 * the same line. The whole input as a log: audit_verify and audit_verify_file agree; a refusal
 * names, in its numbers and in its sentence, a line the file has; and when they accept, the
 * chain holds when walked again here, independently: one record per line, seqs consecutive
 * (from 1 with a zero prev when the log starts there), each prev the hash of the line before,
 * the head the last. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/jsonw.h"
#include "fuzz_file.h"
#include "signer/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hex(const uint8_t h[AUDIT_HASH_LEN], char out[2 * AUDIT_HASH_LEN + 1])
{
	sodium_bin2hex(out, 2 * AUDIT_HASH_LEN + 1, h, AUDIT_HASH_LEN);
}

/* The record's members written as the writer writes them: strings, integers, booleans and
 * nulls by jsonw itself, nested values and reals as jansson dumps them (jsonw_raw). */
static char *write_like_the_writer(json_t *rec)
{
	struct jsonw w;
	const char *key;
	json_t *v;
	char *line;

	jsonw_init(&w);
	jsonw_append(&w, "{", 1);
	json_object_foreach (rec, key, v) {
		char *raw;

		switch (json_typeof(v)) {
		case JSON_STRING:
			jsonw_str(&w, key, json_string_value(v));
			break;
		case JSON_INTEGER:
			jsonw_int(&w, key, (long long)json_integer_value(v));
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			jsonw_bool(&w, key, json_is_true(v));
			break;
		case JSON_NULL:
			jsonw_null(&w, key);
			break;
		default:
			raw = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
			if (raw == NULL)
				abort();
			jsonw_raw(&w, key, raw, strlen(raw));
			free(raw);
		}
	}
	jsonw_append(&w, "}", 1);
	if (w.failed || (line = strdup(w.buf)) == NULL)
		abort();
	jsonw_free(&w);
	return line;
}

static void check_line(const char *line, size_t len)
{
	json_t *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	uint64_t sa = 0, sb = 0, sc = 0, sd = 0;
	uint8_t ha[AUDIT_HASH_LEN], hb[AUDIT_HASH_LEN], hc[AUDIT_HASH_LEN], hd[AUDIT_HASH_LEN],
		want[AUDIT_HASH_LEN];
	int r1 = audit_line_parse(line, len, &a, &sa, ha);
	int r2 = audit_line_parse(line, len, &b, &sb, hb);
	char *again, *dumped, *thrice;

	if (r1 != r2 || (r1 == SG_OK) != (a != NULL))
		abort();
	if (r1 != SG_OK) {
		if (r1 != SG_ERR_MALFORMED || b != NULL || sg_errmsg(r1)[0] == '\0')
			abort();
		return;
	}
	crypto_hash_sha256(want, (const uint8_t *)line, len);
	if (sa != sb || sa < 1 || memcmp(ha, hb, sizeof(ha)) != 0 ||
	    memcmp(ha, want, sizeof(ha)) != 0 || !json_equal(a, b) || !json_is_object(a) ||
	    (uint64_t)json_integer_value(json_object_get(a, "seq")) != sa)
		abort();
	again = write_like_the_writer(a);
	dumped = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (dumped == NULL || strcmp(again, dumped) != 0)
		abort();
	crypto_hash_sha256(want, (const uint8_t *)again, strlen(again));
	if (audit_line_parse(again, strlen(again), &c, &sc, hc) != SG_OK || sc != sa ||
	    !json_equal(a, c) || memcmp(hc, want, sizeof(hc)) != 0 ||
	    (strlen(again) == len && memcmp(again, line, len) == 0 &&
	     memcmp(hc, ha, sizeof(hc)) != 0))
		abort();
	thrice = write_like_the_writer(c);
	if (strcmp(thrice, again) != 0 ||
	    audit_line_parse(thrice, strlen(thrice), &d, &sd, hd) != SG_OK ||
	    memcmp(hd, hc, sizeof(hd)) != 0 || sd != sa)
		abort();
	free(again);
	free(dumped);
	free(thrice);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
}

/* The chain of an accepted log, walked again line by line. */
static void check_chain(const uint8_t *data, size_t size, const struct audit_verify_result *res)
{
	char prev_hex[2 * AUDIT_HASH_LEN + 1], zeros[2 * AUDIT_HASH_LEN + 1];
	uint8_t hash[AUDIT_HASH_LEN] = {0};
	uint64_t seq = 0, first = 0;
	unsigned long n = 0;
	size_t at = 0;

	memset(zeros, '0', 2 * AUDIT_HASH_LEN);
	zeros[2 * AUDIT_HASH_LEN] = '\0';
	while (at < size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len;
		json_t *rec;
		uint64_t s;
		const char *prev;

		if (nl == NULL)
			abort(); /* a torn last line is never accepted */
		len = (size_t)(nl - (data + at));
		if (audit_line_parse((const char *)data + at, len, &rec, &s, hash) != SG_OK)
			abort();
		prev = json_string_value(json_object_get(rec, "prev"));
		if (n == 0) {
			first = s;
			if (s == 1 && strcmp(prev, zeros) != 0)
				abort();
		} else if (s != seq + 1 || strcmp(prev, prev_hex) != 0) {
			abort();
		}
		json_decref(rec);
		seq = s;
		hex(hash, prev_hex);
		n++;
		at += len + 1;
	}
	if (n != res->records || (n > 0 && (res->first_seq != first || res->last.seq != seq ||
					    memcmp(res->last.hash, hash, AUDIT_HASH_LEN) != 0)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_result a;
	unsigned long bad_line = 0, records = 0;
	char msg[512];
	size_t at = 0;
	const char *path;
	int r1, r2;

	/* every line alone */
	while (at <= size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;

		check_line((const char *)data + at, len);
		at += len + 1;
	}
	/* the input as a whole log, when its first line is a record: a refusal of the first line is
	 * the line parser's, checked above, and audit_verify waits 5 ms before it reads a refused
	 * log again (a writer may have been mid-line), which would leave the fuzzer at 80 runs/s */
	{
		const uint8_t *nl = memchr(data, '\n', size);
		json_t *rec = NULL;
		uint64_t seq;
		uint8_t hash[AUDIT_HASH_LEN];

		if (size > 0 &&
		    audit_line_parse((const char *)data, nl != NULL ? (size_t)(nl - data) : size,
				     &rec, &seq, hash) != SG_OK)
			return 0;
		json_decref(rec);
	}
	path = fuzz_file("audit.log", data, size);
	memset(&a, 0, sizeof(a));
	r1 = audit_verify(path, &a);
	snprintf(msg, sizeof(msg), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = audit_verify_file(path, &bad_line, &records);
	if (r1 != r2 || a.records != records || a.bad_line != bad_line ||
	    (r1 != SG_OK && strcmp(msg, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* the line it names is one the file has (a last line without its newline counts),
		 * and its sentence names the same one: "FILE:LINE: why" */
		unsigned long lines = 0;
		char where[400];

		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		lines += size > 0 && data[size - 1] != '\n';
		snprintf(where, sizeof(where), "%s:%lu: ", path, a.bad_line);
		if (msg[0] == '\0' || a.bad_line < 1 || a.bad_line > lines ||
		    strncmp(msg, where, strlen(where)) != 0)
			abort();
		return 0;
	}
	check_chain(data, size, &a);
	return 0;
}
