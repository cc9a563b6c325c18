/* Fuzz target: the audit log's reader, on a file an attacker may have written (start-up replay
 * and `signerctl audit verify` read it). Each line: audit_line_parse is deterministic, hashes the
 * line's exact bytes, and a record it accepts, written again, is accepted with the same seq. The
 * whole input as a log: audit_verify is deterministic, and when it accepts, the chain holds when
 * walked again here, independently: one record per line, seqs consecutive (from 1 with a zero
 * prev when the log starts there), each prev the hash of the line before, the head the last. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "fuzz_file.h"
#include "signer/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hex(const uint8_t h[AUDIT_HASH_LEN], char out[2 * AUDIT_HASH_LEN + 1])
{
	sodium_bin2hex(out, 2 * AUDIT_HASH_LEN + 1, h, AUDIT_HASH_LEN);
}

static void check_line(const char *line, size_t len)
{
	json_t *a = NULL, *b = NULL, *c = NULL;
	uint64_t sa = 0, sb = 0, sc = 0;
	uint8_t ha[AUDIT_HASH_LEN], hb[AUDIT_HASH_LEN], hc[AUDIT_HASH_LEN], want[AUDIT_HASH_LEN];
	int r1 = audit_line_parse(line, len, &a, &sa, ha);
	int r2 = audit_line_parse(line, len, &b, &sb, hb);
	char *again;

	if (r1 != r2 || (r1 == SG_OK) != (a != NULL))
		abort();
	if (r1 != SG_OK) {
		if (r1 != SG_ERR_MALFORMED || b != NULL)
			abort();
		return;
	}
	crypto_hash_sha256(want, (const uint8_t *)line, len);
	if (sa != sb || sa < 1 || memcmp(ha, hb, sizeof(ha)) != 0 ||
	    memcmp(ha, want, sizeof(ha)) != 0 || !json_equal(a, b))
		abort();
	again = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (again == NULL || audit_line_parse(again, strlen(again), &c, &sc, hc) != SG_OK ||
	    sc != sa || !json_equal(a, c))
		abort();
	free(again);
	json_decref(a);
	json_decref(b);
	json_decref(c);
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
	struct audit_verify_result a, b;
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
	memset(&b, 0, sizeof(b));
	r1 = audit_verify(path, &a);
	snprintf(msg, sizeof(msg), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = audit_verify(path, &b);
	if (r1 != r2 || a.records != b.records || a.bad_line != b.bad_line ||
	    (r1 != SG_OK && strcmp(msg, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* the line it names is one the file has (or the one after its last) */
		unsigned long lines = 0;

		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (msg[0] == '\0' || a.bad_line > lines + 1)
			abort();
		return 0;
	}
	check_chain(data, size, &a);
	return 0;
}
