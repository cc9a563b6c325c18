#include "common/cursor.h"

#include <string.h>

void cursor_init(struct cursor *c, const uint8_t *buf, size_t len)
{
	c->buf = buf;
	c->len = buf == NULL ? 0 : len;
	c->off = 0;
}

size_t cursor_remaining(const struct cursor *c)
{
	return c->len - c->off;
}

size_t cursor_offset(const struct cursor *c)
{
	return c->off;
}

/* The single bounds check: compares against what is left, so off + n never overflows. */
static int cursor_need(const struct cursor *c, size_t n)
{
	if (c->off > c->len || n > c->len - c->off)
		return sg_fail(SG_ERR_TRUNCATED, "need %zu bytes at offset %zu, %zu left", n,
			       c->off, c->off > c->len ? (size_t)0 : c->len - c->off);
	return SG_OK;
}

int cursor_get_bytes(struct cursor *c, size_t n, const uint8_t **p)
{
	int r = cursor_need(c, n);

	if (r != SG_OK)
		return r;
	*p = c->buf + c->off;
	c->off += n;
	return SG_OK;
}

int cursor_peek_u8(const struct cursor *c, uint8_t *v)
{
	int r = cursor_need(c, 1);

	if (r != SG_OK)
		return r;
	*v = c->buf[c->off];
	return SG_OK;
}

int cursor_get_u8(struct cursor *c, uint8_t *v)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, 1, &p);

	if (r == SG_OK)
		*v = p[0];
	return r;
}

int cursor_get_u16le(struct cursor *c, uint16_t *v)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, 2, &p);

	if (r == SG_OK)
		*v = (uint16_t)(p[0] | (uint16_t)p[1] << 8);
	return r;
}

int cursor_get_u32le(struct cursor *c, uint32_t *v)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, 4, &p);

	if (r == SG_OK)
		*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return r;
}

int cursor_get_u32be(struct cursor *c, uint32_t *v)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, 4, &p);

	if (r == SG_OK)
		*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
		     (uint32_t)p[3];
	return r;
}

int cursor_get_u64le(struct cursor *c, uint64_t *v)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, 8, &p);

	if (r != SG_OK)
		return r;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = *v << 8 | p[i];
	return SG_OK;
}

int cursor_get_copy(struct cursor *c, void *dst, size_t n)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, n, &p);

	if (r == SG_OK && n > 0)
		memcpy(dst, p, n);
	return r;
}

int cursor_skip(struct cursor *c, size_t n)
{
	const uint8_t *p;

	return cursor_get_bytes(c, n, &p);
}

int cursor_get_sub(struct cursor *c, size_t n, struct cursor *sub)
{
	const uint8_t *p;
	int r = cursor_get_bytes(c, n, &p);

	if (r == SG_OK)
		cursor_init(sub, p, n);
	return r;
}

int cursor_expect_end(const struct cursor *c)
{
	if (c->off != c->len)
		return sg_fail(SG_ERR_TRAILING, "%zu unexpected bytes after offset %zu",
			       c->len - c->off, c->off);
	return SG_OK;
}
