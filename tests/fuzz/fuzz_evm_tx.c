/* Fuzz target: RLP and the EVM transaction decoder. An accepted transaction must encode to a
 * signed form that decodes again, field for field. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chain/evm/rlp.h"
#include "chain/evm/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t r[32] = {0x01, 0x02}, s[32] = {0x7f, 0xff};
	struct evm_tx tx;
	struct rlp_buf out = {0};
	struct rlp_item list, item;
	struct cursor c;
	uint8_t digest[32], v[33];
	size_t v_len, offset, fields = 0;
	char text[80];

	/* the bare RLP decoder on any input */
	if (rlp_decode_one(data, size, &item) == 0 && item.raw_len != size)
		abort();
	if (evm_tx_decode(data, size, &tx) != 0)
		return 0;
	evm_tx_signing_hash(&tx, digest);
	evm_uint_decimal(tx.value.be, tx.value.len, text);
	if (tx.chain_id.len == 0 || tx.chain_id.len > 32)
		abort();
	if (evm_tx_encode_signed(&tx, 1, r, s, &out, v, &v_len) != 0)
		abort();
	offset = tx.type == EVM_TX_LEGACY ? 0 : 1;
	if (offset == 1 && out.data[0] != (uint8_t)tx.type)
		abort();
	if (rlp_decode_one(out.data + offset, out.len - offset, &list) != 0 || !list.is_list ||
	    rlp_list_cursor(&list, &c) != 0)
		abort();
	while (cursor_remaining(&c) > 0) {
		if (rlp_item_next(&c, &item) != 0)
			abort();
		if (fields < tx.n_signed_fields &&
		    (item.raw_len != tx.fields[fields].raw_len ||
		     memcmp(item.raw, tx.fields[fields].raw, item.raw_len) != 0))
			abort();
		fields++;
	}
	if (fields != tx.n_signed_fields + 3)
		abort();
	rlp_buf_free(&out);
	return 0;
}
