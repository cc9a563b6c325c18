#include "common/jsonw.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w)
{
	w->buf = w->first;
	w->len = 0;
	w->cap = sizeof(w->first);
	w->heap = false;
	w->failed = false;
	w->more = false;
	w->buf[0] = '\0';
}

void jsonw_free(struct jsonw *w)
{
	if (w->heap)
		free(w->buf);
	jsonw_init(w);
}

static bool jsonw_room(struct jsonw *w, size_t more)
{
	size_t cap = w->cap;
	char *grown;

	if (w->failed)
		return false;
	if (w->len + more + 1 <= w->cap)
		return true;
	while (cap < w->len + more + 1) {
		if (cap > SIZE_MAX / 2) {
			w->failed = true;
			return false;
		}
		cap *= 2;
	}
	grown = w->heap ? realloc(w->buf, cap) : malloc(cap);
	if (grown == NULL) {
		w->failed = true;
		return false;
	}
	if (!w->heap)
		memcpy(grown, w->buf, w->len + 1);
	w->buf = grown;
	w->cap = cap;
	w->heap = true;
	return true;
}

void jsonw_append(struct jsonw *w, const char *text, size_t len)
{
	if (!jsonw_room(w, len))
		return;
	memcpy(w->buf + w->len, text, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

/* One UTF-8 sequence at s (n bytes left): its code point and length, or 0 when it is not a
 * well-formed one (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t jsonw_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void jsonw_string(struct jsonw *w, const char *value, size_t len)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t i = 0;

	jsonw_append(w, "\"", 1);
	while (i < len && !w->failed) {
		size_t run = i, step;
		uint32_t cp;
		char seq[13];
		const char *text = seq;
		int n = 2;

		/* the plain run first, as it is */
		while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i) {
			jsonw_append(w, value + i, run - i);
			i = run;
			continue;
		}
		step = jsonw_utf8(s + i, len - i, &cp);
		if (step == 0) {
			step = 1;
			cp = 0xfffd;
		}
		switch (cp) {
		case '\\':
			text = "\\\\";
			break;
		case '"':
			text = "\\\"";
			break;
		case '\b':
			text = "\\b";
			break;
		case '\f':
			text = "\\f";
			break;
		case '\n':
			text = "\\n";
			break;
		case '\r':
			text = "\\r";
			break;
		case '\t':
			text = "\\t";
			break;
		default:
			if (cp < 0x10000) {
				n = snprintf(seq, sizeof(seq), "\\u%04X", (unsigned)cp);
			} else {
				uint32_t v = cp - 0x10000;

				n = snprintf(seq, sizeof(seq), "\\u%04X\\u%04X",
					     (unsigned)(0xd800 | (v >> 10)),
					     (unsigned)(0xdc00 | (v & 0x3ff)));
			}
		}
		jsonw_append(w, text, (size_t)n);
		i += step;
	}
	jsonw_append(w, "\"", 1);
}

/* The separator, then "key": when there is a key. */
static void jsonw_key(struct jsonw *w, const char *key)
{
	if (w->more)
		jsonw_append(w, ",", 1);
	w->more = true;
	if (key != NULL) {
		jsonw_string(w, key, strlen(key));
		jsonw_append(w, ":", 1);
	}
}

void jsonw_begin(struct jsonw *w, const char *key, char open)
{
	jsonw_key(w, key);
	jsonw_append(w, &open, 1);
	w->more = false;
}

void jsonw_end(struct jsonw *w, char close)
{
	jsonw_append(w, &close, 1);
	w->more = true;
}

void jsonw_str(struct jsonw *w, const char *key, const char *value)
{
	jsonw_key(w, key);
	if (value == NULL)
		jsonw_append(w, "null", 4);
	else
		jsonw_string(w, value, strlen(value));
}

void jsonw_int(struct jsonw *w, const char *key, long long value)
{
	char dec[24];
	int n = snprintf(dec, sizeof(dec), "%lld", value);

	jsonw_key(w, key);
	jsonw_append(w, dec, (size_t)n);
}

void jsonw_null(struct jsonw *w, const char *key)
{
	jsonw_key(w, key);
	jsonw_append(w, "null", 4);
}

void jsonw_bool(struct jsonw *w, const char *key, bool value)
{
	jsonw_key(w, key);
	jsonw_append(w, value ? "true" : "false", value ? 4 : 5);
}

void jsonw_raw(struct jsonw *w, const char *key, const char *text, size_t len)
{
	jsonw_key(w, key);
	jsonw_append(w, text, len);
}
