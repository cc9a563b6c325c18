#include "chain/evm/rlp.h"

#include <stdlib.h>
#include <string.h>

/* A long-form length: lenlen big-endian bytes, the first not zero, the value above 55. */
static int rlp_long_length(struct cursor *c, uint8_t lenlen, size_t *out)
{
	const uint8_t *p;
	size_t v = 0;
	int r;

	if (lenlen > 4) /* 2^32 bytes and more are never ours */
		return sg_fail(SG_ERR_MALFORMED, "RLP length of %u bytes is too large", lenlen);
	if ((r = cursor_get_bytes(c, lenlen, &p)) != SG_OK)
		return sg_context(r, "RLP length");
	if (p[0] == 0)
		return sg_fail(SG_ERR_MALFORMED, "RLP length has a leading zero byte");
	for (uint8_t i = 0; i < lenlen; i++)
		v = v << 8 | p[i];
	if (v <= 55)
		return sg_fail(SG_ERR_MALFORMED, "RLP long form used for a length of %zu", v);
	*out = v;
	return SG_OK;
}

int rlp_item_next(struct cursor *c, struct rlp_item *item)
{
	size_t start = cursor_offset(c);
	const uint8_t *raw_start = c->buf + start;
	uint8_t prefix;
	size_t len;
	int r;

	memset(item, 0, sizeof(*item));
	if ((r = cursor_get_u8(c, &prefix)) != SG_OK)
		return sg_context(r, "RLP item");
	if (prefix < 0x80) {
		item->payload = raw_start;
		item->len = 1;
	} else if (prefix <= 0xb7) {
		len = prefix - 0x80;
		if ((r = cursor_get_bytes(c, len, &item->payload)) != SG_OK)
			return sg_context(r, "RLP string");
		/* a single byte below 0x80 is its own encoding */
		if (len == 1 && item->payload[0] < 0x80)
			return sg_fail(
				SG_ERR_MALFORMED,
				"RLP byte 0x%02x at offset %zu is wrapped; it encodes itself",
				item->payload[0], start);
		item->len = len;
	} else if (prefix <= 0xbf) {
		if ((r = rlp_long_length(c, prefix - 0xb7, &len)) != SG_OK ||
		    (r = cursor_get_bytes(c, len, &item->payload)) != SG_OK)
			return sg_context(r, "RLP string at offset %zu", start);
		item->len = len;
	} else if (prefix <= 0xf7) {
		len = prefix - 0xc0;
		if ((r = cursor_get_bytes(c, len, &item->payload)) != SG_OK)
			return sg_context(r, "RLP list");
		item->is_list = true;
		item->len = len;
	} else {
		if ((r = rlp_long_length(c, prefix - 0xf7, &len)) != SG_OK ||
		    (r = cursor_get_bytes(c, len, &item->payload)) != SG_OK)
			return sg_context(r, "RLP list at offset %zu", start);
		item->is_list = true;
		item->len = len;
	}
	item->raw = raw_start;
	item->raw_len = cursor_offset(c) - start;
	return SG_OK;
}

int rlp_decode_one(const uint8_t *buf, size_t len, struct rlp_item *item)
{
	struct cursor c;
	int r;

	if (len > RLP_MAX_SIZE)
		return sg_fail(SG_ERR_OVERFLOW, "RLP input of %zu bytes is too large", len);
	cursor_init(&c, buf, len);
	if ((r = rlp_item_next(&c, item)) != SG_OK)
		return r;
	if ((r = cursor_expect_end(&c)) != SG_OK)
		return sg_context(r, "after the RLP item");
	return SG_OK;
}

int rlp_list_cursor(const struct rlp_item *list, struct cursor *c)
{
	if (!list->is_list)
		return sg_fail(SG_ERR_MALFORMED, "RLP: a list was expected, not a string");
	cursor_init(c, list->payload, list->len);
	return SG_OK;
}

int rlp_item_uint(const struct rlp_item *item, size_t maxlen, const char *what)
{
	if (item->is_list)
		return sg_fail(SG_ERR_MALFORMED, "%s must be an integer, not a list", what);
	if (item->len > maxlen)
		return sg_fail(SG_ERR_MALFORMED, "%s is %zu bytes; at most %zu", what, item->len,
			       maxlen);
	/* integers are big-endian with no leading zeros; zero is the empty string */
	if (item->len > 0 && item->payload[0] == 0)
		return sg_fail(SG_ERR_MALFORMED, "%s has a leading zero byte", what);
	return SG_OK;
}

int rlp_item_u64(const struct rlp_item *item, const char *what, uint64_t *out)
{
	int r = rlp_item_uint(item, 8, what);

	if (r != SG_OK)
		return r;
	*out = 0;
	for (size_t i = 0; i < item->len; i++)
		*out = *out << 8 | item->payload[i];
	return SG_OK;
}

void rlp_buf_free(struct rlp_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool rlp_reserve(struct rlp_buf *b, size_t n)
{
	size_t cap;
	uint8_t *grown;

	if (b->failed)
		return false;
	if (n > RLP_MAX_SIZE || b->len > RLP_MAX_SIZE - n) {
		b->failed = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap == 0 ? 256 : b->cap;
	while (cap < b->len + n)
		cap *= 2;
	grown = realloc(b->data, cap);
	if (grown == NULL) {
		b->failed = true;
		return false;
	}
	b->data = grown;
	b->cap = cap;
	return true;
}

void rlp_put_raw(struct rlp_buf *b, const uint8_t *p, size_t n)
{
	if (n == 0 || !rlp_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* The header of a string (base 0x80) or list (base 0xc0) of n bytes. */
static size_t rlp_header(uint8_t base, size_t n, uint8_t out[9])
{
	size_t lenlen = 0;

	if (n <= 55) {
		out[0] = (uint8_t)(base + n);
		return 1;
	}
	for (size_t v = n; v > 0; v >>= 8)
		lenlen++;
	out[0] = (uint8_t)(base + 55 + lenlen);
	for (size_t i = 0; i < lenlen; i++)
		out[1 + i] = (uint8_t)(n >> (8 * (lenlen - 1 - i)));
	return 1 + lenlen;
}

void rlp_put_bytes(struct rlp_buf *b, const uint8_t *p, size_t n)
{
	uint8_t h[9];

	if (n == 1 && p[0] < 0x80) {
		rlp_put_raw(b, p, 1);
		return;
	}
	rlp_put_raw(b, h, rlp_header(0x80, n, h));
	rlp_put_raw(b, p, n);
}

void rlp_put_uint_be(struct rlp_buf *b, const uint8_t *p, size_t n)
{
	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	rlp_put_bytes(b, p, n);
}

void rlp_put_u64(struct rlp_buf *b, uint64_t v)
{
	uint8_t be[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		be[i] = (uint8_t)v;
	rlp_put_uint_be(b, be, 8);
}

void rlp_wrap_list(struct rlp_buf *b, size_t start)
{
	uint8_t h[9];
	size_t payload, hl;

	if (b->failed || start > b->len)
		return;
	payload = b->len - start;
	hl = rlp_header(0xc0, payload, h);
	if (!rlp_reserve(b, hl))
		return;
	memmove(b->data + start + hl, b->data + start, payload);
	memcpy(b->data + start, h, hl);
	b->len += hl;
}

int rlp_buf_status(const struct rlp_buf *b)
{
	return b->failed ? sg_fail(SG_ERR_NOMEM, "RLP encoding ran out of memory or size") : SG_OK;
}
