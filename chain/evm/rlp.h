/* Recursive Length Prefix, strictly canonical (Ethereum Yellow Paper, appendix B). Decoding is
 * flat: rlp_item_next() reads one item from a cursor; a list's payload is read with a cursor of
 * its own, so depth is the caller's loop, never recursion. */
#ifndef SIGNER_CHAIN_EVM_RLP_H
#define SIGNER_CHAIN_EVM_RLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "common/err.h"

#define RLP_MAX_SIZE (1u << 20) /* nothing we sign comes near a megabyte */

struct rlp_item {
	bool is_list;
	const uint8_t *payload; /* the string's bytes, or the list's encoded items */
	size_t len;
	const uint8_t *raw; /* the whole encoding, prefix included */
	size_t raw_len;
};

/* Reads the next item. Canonical form only: a single byte below 0x80 is never wrapped, lengths
 * use the short form when they can and have no leading zero bytes. */
SG_MUST_CHECK int rlp_item_next(struct cursor *c, struct rlp_item *item);
/* The whole buffer is exactly one item. */
SG_MUST_CHECK int rlp_decode_one(const uint8_t *buf, size_t len, struct rlp_item *item);
/* A cursor over a list's items. */
SG_MUST_CHECK int rlp_list_cursor(const struct rlp_item *list, struct cursor *c);

/* A string item as an unsigned integer of at most maxlen bytes, big-endian, no leading zero
 * (zero is the empty string). */
SG_MUST_CHECK int rlp_item_uint(const struct rlp_item *item, size_t maxlen, const char *what);
SG_MUST_CHECK int rlp_item_u64(const struct rlp_item *item, const char *what, uint64_t *out);

/* A growing output buffer. */
struct rlp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed; /* out of memory or too large: every later put is ignored */
};

void rlp_buf_free(struct rlp_buf *b);
void rlp_put_raw(struct rlp_buf *b, const uint8_t *p, size_t n);
/* A string item. */
void rlp_put_bytes(struct rlp_buf *b, const uint8_t *p, size_t n);
/* An unsigned integer given big-endian (leading zeros are dropped). */
void rlp_put_uint_be(struct rlp_buf *b, const uint8_t *p, size_t n);
void rlp_put_u64(struct rlp_buf *b, uint64_t v);
/* Wraps the bytes from offset start to the end in a list header. */
void rlp_wrap_list(struct rlp_buf *b, size_t start);
SG_MUST_CHECK int rlp_buf_status(const struct rlp_buf *b);

#endif
