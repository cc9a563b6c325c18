/* A JSON object's members written straight into a buffer, byte for byte as jansson's
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) writes them in insertion order: "k":v,"k":v
 * (no braces). For the hot path (the audit record of every signature), where building a
 * jansson tree only to dump it again cost more than the rest of the record. */
#ifndef SIGNER_COMMON_JSONW_H
#define SIGNER_COMMON_JSONW_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
	char *buf; /* NUL-terminated while not failed */
	size_t len;
	size_t cap;
	bool heap;   /* buf was malloc'd here (jsonw_free frees it) */
	bool failed; /* out of memory: everything after is dropped */
	bool more;   /* a member or element was written: the next needs a comma */
	char first[1024];
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w);

/* "key":"value" with value escaped as jansson escapes it (\", \\, \b \f \n \r \t, \u00XX for
 * the other controls, \uXXXX and surrogate pairs for what is not ASCII); NULL gives null. Bytes
 * that are not UTF-8 are written as U+FFFD (jansson would refuse the whole string). */
void jsonw_str(struct jsonw *w, const char *key, const char *value);
void jsonw_int(struct jsonw *w, const char *key, long long value);
void jsonw_null(struct jsonw *w, const char *key);
void jsonw_bool(struct jsonw *w, const char *key, bool value);
/* "key":<text>, text a JSON value already encoded (a jansson dump, say). */
void jsonw_raw(struct jsonw *w, const char *key, const char *text, size_t len);
/* A nested object or array ('{' or '['): "key":{ (key NULL inside an array); its members or
 * elements follow, then jsonw_end with '}' or ']'. */
void jsonw_begin(struct jsonw *w, const char *key, char open);
void jsonw_end(struct jsonw *w, char close);
/* Bytes as they are (no separator). */
void jsonw_append(struct jsonw *w, const char *text, size_t len);
/* A JSON string's escaped form, quotes included, appended. */
void jsonw_string(struct jsonw *w, const char *value, size_t len);

#endif
