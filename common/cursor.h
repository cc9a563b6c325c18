/* The bounded cursor: the only way signerd reads untrusted bytes. Every read checks the length
 * before it moves (in an order that cannot overflow), a failed read leaves the cursor where it
 * was, and a parse ends with cursor_expect_end(). */
#ifndef SIGNER_COMMON_CURSOR_H
#define SIGNER_COMMON_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct cursor {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

void cursor_init(struct cursor *c, const uint8_t *buf, size_t len);
size_t cursor_remaining(const struct cursor *c);
size_t cursor_offset(const struct cursor *c);

SG_MUST_CHECK int cursor_get_u8(struct cursor *c, uint8_t *v);
SG_MUST_CHECK int cursor_peek_u8(const struct cursor *c, uint8_t *v);
SG_MUST_CHECK int cursor_get_u16le(struct cursor *c, uint16_t *v);
SG_MUST_CHECK int cursor_get_u32le(struct cursor *c, uint32_t *v);
SG_MUST_CHECK int cursor_get_u64le(struct cursor *c, uint64_t *v);
SG_MUST_CHECK int cursor_get_u32be(struct cursor *c, uint32_t *v);
/* Points *p at the next n bytes (no copy) and moves past them. */
SG_MUST_CHECK int cursor_get_bytes(struct cursor *c, size_t n, const uint8_t **p);
SG_MUST_CHECK int cursor_get_copy(struct cursor *c, void *dst, size_t n);
SG_MUST_CHECK int cursor_skip(struct cursor *c, size_t n);
/* Takes the next n bytes as a cursor of their own and moves past them. */
SG_MUST_CHECK int cursor_get_sub(struct cursor *c, size_t n, struct cursor *sub);
/* SG_ERR_TRAILING unless every byte was read. */
SG_MUST_CHECK int cursor_expect_end(const struct cursor *c);

#endif
