#include "chain/evm/tx.h"

#include <string.h>

#include "common/keccak.h"

static int tx_uint(const struct rlp_item *item, const char *what, struct evm_uint *out)
{
	int r = rlp_item_uint(item, EVM_UINT_MAX_LEN, what);

	if (r == SG_OK) {
		out->be = item->payload;
		out->len = item->len;
	}
	return r;
}

static int tx_to(const struct rlp_item *item, struct evm_tx *tx)
{
	if (item->is_list)
		return sg_fail(SG_ERR_MALFORMED, "the recipient must be an address, not a list");
	if (item->len == 0) {
		tx->is_create = true;
		return SG_OK;
	}
	if (item->len != EVM_ADDR_LEN)
		return sg_fail(SG_ERR_MALFORMED, "the recipient is %zu bytes; an address has 20",
			       item->len);
	tx->to = item->payload;
	return SG_OK;
}

/* EIP-2930: accessList = [[address, [storageKey, ...]], ...], addresses of 20 bytes, keys of 32. */
static int tx_access_list(const struct rlp_item *item, struct evm_tx *tx)
{
	struct cursor entries;
	int r;

	if ((r = rlp_list_cursor(item, &entries)) != SG_OK)
		return sg_context(r, "access list");
	tx->has_access_list = true;
	while (cursor_remaining(&entries) > 0) {
		struct rlp_item entry, addr, keys, key;
		struct cursor fields, kc;

		if ((r = rlp_item_next(&entries, &entry)) != SG_OK ||
		    (r = rlp_list_cursor(&entry, &fields)) != SG_OK ||
		    (r = rlp_item_next(&fields, &addr)) != SG_OK ||
		    (r = rlp_item_next(&fields, &keys)) != SG_OK ||
		    (r = cursor_expect_end(&fields)) != SG_OK)
			return sg_context(r, "access list entry %zu", tx->access_list_addresses);
		if (addr.is_list || addr.len != EVM_ADDR_LEN)
			return sg_fail(SG_ERR_MALFORMED,
				       "access list entry %zu: not a 20-byte address",
				       tx->access_list_addresses);
		if ((r = rlp_list_cursor(&keys, &kc)) != SG_OK)
			return sg_context(r, "access list entry %zu storage keys",
					  tx->access_list_addresses);
		while (cursor_remaining(&kc) > 0) {
			if ((r = rlp_item_next(&kc, &key)) != SG_OK)
				return sg_context(r, "access list storage key");
			if (key.is_list || key.len != 32)
				return sg_fail(SG_ERR_MALFORMED,
					       "access list entry %zu: a storage key is 32 bytes",
					       tx->access_list_addresses);
			tx->access_list_storage_keys++;
		}
		tx->access_list_addresses++;
	}
	return SG_OK;
}

static int tx_data(const struct rlp_item *item, struct evm_tx *tx)
{
	if (item->is_list)
		return sg_fail(SG_ERR_MALFORMED, "the call data must be bytes, not a list");
	tx->data = item->payload;
	tx->data_len = item->len;
	return SG_OK;
}

static int tx_fields(const struct rlp_item *list, struct evm_tx *tx, size_t want)
{
	struct cursor c;
	int r;

	if ((r = rlp_list_cursor(list, &c)) != SG_OK)
		return sg_context(r, "transaction");
	tx->n_signed_fields = 0;
	while (cursor_remaining(&c) > 0) {
		if (tx->n_signed_fields == EVM_TX_FIELDS_MAX)
			return sg_fail(SG_ERR_MALFORMED, "the transaction has more than %zu fields",
				       want);
		if ((r = rlp_item_next(&c, &tx->fields[tx->n_signed_fields])) != SG_OK)
			return sg_context(r, "transaction field %zu", tx->n_signed_fields);
		tx->n_signed_fields++;
	}
	return SG_OK;
}

static int tx_decode_legacy(struct evm_tx *tx)
{
	struct rlp_item list;
	struct rlp_item *f = tx->fields;
	int r;

	if ((r = rlp_decode_one(tx->unsigned_bytes, tx->unsigned_len, &list)) != SG_OK)
		return r;
	if ((r = tx_fields(&list, tx, 9)) != SG_OK)
		return r;
	/* EIP-155: the unsigned form carries [chainId, 0, 0]; the 6-field form of before it can be
	 * replayed on every chain and is refused */
	if (tx->n_signed_fields == 6)
		return sg_fail(SG_ERR_MALFORMED,
			       "a legacy transaction without an EIP-155 chain id is refused (it "
			       "could be replayed on any chain)");
	if (tx->n_signed_fields != 9)
		return sg_fail(SG_ERR_MALFORMED, "a legacy transaction has 9 fields, not %zu",
			       tx->n_signed_fields);
	if ((r = rlp_item_u64(&f[0], "nonce", &tx->nonce)) != SG_OK ||
	    (r = tx_uint(&f[1], "gasPrice", &tx->gas_price)) != SG_OK ||
	    (r = tx_uint(&f[2], "gasLimit", &tx->gas_limit)) != SG_OK ||
	    (r = tx_to(&f[3], tx)) != SG_OK || (r = tx_uint(&f[4], "value", &tx->value)) != SG_OK ||
	    (r = tx_data(&f[5], tx)) != SG_OK ||
	    (r = tx_uint(&f[6], "chainId", &tx->chain_id)) != SG_OK)
		return r;
	if (f[7].is_list || f[7].len != 0 || f[8].is_list || f[8].len != 0)
		return sg_fail(
			SG_ERR_MALFORMED,
			"the EIP-155 unsigned form ends in [chainId, 0, 0]; this one does not");
	tx->n_signed_fields = 6;
	return SG_OK;
}

static int tx_decode_typed(struct evm_tx *tx)
{
	struct rlp_item list;
	struct rlp_item *f = tx->fields;
	size_t want = tx->type == EVM_TX_ACCESS_LIST ? 8 : 9;
	int r;

	if ((r = rlp_decode_one(tx->unsigned_bytes + 1, tx->unsigned_len - 1, &list)) != SG_OK)
		return r;
	if ((r = tx_fields(&list, tx, want)) != SG_OK)
		return r;
	if (tx->n_signed_fields != want)
		return sg_fail(SG_ERR_MALFORMED,
			       "an unsigned type %d transaction has %zu fields, not %zu", tx->type,
			       want, tx->n_signed_fields);
	if ((r = tx_uint(&f[0], "chainId", &tx->chain_id)) != SG_OK ||
	    (r = rlp_item_u64(&f[1], "nonce", &tx->nonce)) != SG_OK)
		return r;
	if (tx->type == EVM_TX_ACCESS_LIST) {
		/* EIP-2930: [chainId, nonce, gasPrice, gasLimit, to, value, data, accessList] */
		r = tx_uint(&f[2], "gasPrice", &tx->gas_price);
		f += 3;
	} else {
		/* EIP-1559: [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to,
		 * value, data, accessList] */
		r = tx_uint(&f[2], "maxPriorityFeePerGas", &tx->max_priority_fee);
		if (r == SG_OK)
			r = tx_uint(&f[3], "maxFeePerGas", &tx->max_fee);
		f += 4;
	}
	if (r != SG_OK || (r = tx_uint(&f[0], "gasLimit", &tx->gas_limit)) != SG_OK ||
	    (r = tx_to(&f[1], tx)) != SG_OK || (r = tx_uint(&f[2], "value", &tx->value)) != SG_OK ||
	    (r = tx_data(&f[3], tx)) != SG_OK || (r = tx_access_list(&f[4], tx)) != SG_OK)
		return r;
	return SG_OK;
}

int evm_tx_decode(const uint8_t *buf, size_t len, struct evm_tx *tx)
{
	int r;

	memset(tx, 0, sizeof(*tx));
	if (len == 0)
		return sg_fail(SG_ERR_TRUNCATED, "the transaction is empty");
	tx->unsigned_bytes = buf;
	tx->unsigned_len = len;
	/* EIP-2718: a first byte of 0xc0 or more is a legacy RLP list; 0x00-0x7f is a type */
	if (buf[0] >= 0xc0) {
		tx->type = EVM_TX_LEGACY;
		r = tx_decode_legacy(tx);
	} else if (buf[0] == 0x01 || buf[0] == 0x02) {
		tx->type = (enum evm_tx_type)buf[0];
		r = tx_decode_typed(tx);
	} else if (buf[0] == 0x03) {
		return sg_fail(SG_ERR_UNSUPPORTED, "blob transactions (type 3, EIP-4844) are not "
						   "signed here");
	} else if (buf[0] == 0x04) {
		return sg_fail(SG_ERR_UNSUPPORTED, "set-code transactions (type 4, EIP-7702) are "
						   "not signed here");
	} else if (buf[0] <= 0x7f) {
		return sg_fail(SG_ERR_UNSUPPORTED, "transaction type 0x%02x is not supported",
			       buf[0]);
	} else {
		return sg_fail(SG_ERR_MALFORMED,
			       "0x%02x starts neither a typed transaction nor an RLP list", buf[0]);
	}
	if (r != SG_OK)
		return r;
	if (tx->chain_id.len == 0)
		return sg_fail(SG_ERR_MALFORMED, "the chain id is zero");
	return SG_OK;
}

void evm_tx_signing_hash(const struct evm_tx *tx, uint8_t out[32])
{
	keccak256(tx->unsigned_bytes, tx->unsigned_len, out);
}

/* v = chainId * 2 + 35 + recid, in big-endian bytes (chain ids of any size). */
static void tx_eip155_v(const struct evm_uint *chain_id, int recid, uint8_t v[33], size_t *v_len)
{
	unsigned carry = 35u + (unsigned)recid;

	memset(v, 0, 33);
	for (size_t i = 0; i < chain_id->len; i++)
		v[33 - chain_id->len + i] = chain_id->be[i];
	for (int i = 32; i >= 0; i--) {
		unsigned x = (unsigned)v[i] * 2u + carry;

		v[i] = (uint8_t)x;
		carry = x >> 8;
	}
	*v_len = 33;
	while (*v_len > 0 && v[33 - *v_len] == 0)
		(*v_len)--;
	memmove(v, v + 33 - *v_len, *v_len);
}

int evm_tx_encode_signed(const struct evm_tx *tx, int recid, const uint8_t r[32],
			 const uint8_t s[32], struct rlp_buf *out, uint8_t v[33], size_t *v_len)
{
	size_t start;

	if (recid < 0 || recid > 1)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "recovery id %d is not 0 or 1", recid);
	memset(out, 0, sizeof(*out));
	if (tx->type == EVM_TX_LEGACY) {
		tx_eip155_v(&tx->chain_id, recid, v, v_len);
	} else {
		v[0] = (uint8_t)recid;
		*v_len = recid == 0 ? 0 : 1;
		rlp_put_raw(out, (const uint8_t[]){(uint8_t)tx->type}, 1);
	}
	start = out->len;
	for (size_t i = 0; i < tx->n_signed_fields; i++)
		rlp_put_raw(out, tx->fields[i].raw, tx->fields[i].raw_len);
	rlp_put_uint_be(out, v, *v_len);
	rlp_put_uint_be(out, r, 32);
	rlp_put_uint_be(out, s, 32);
	rlp_wrap_list(out, start);
	return rlp_buf_status(out);
}

void evm_quantity_hex(const uint8_t *be, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 2;
	bool started = false;

	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		unsigned hi = be[i] >> 4, lo = be[i] & 0x0f;

		if (started || hi != 0) {
			out[o++] = digits[hi];
			started = true;
		}
		if (started || lo != 0) {
			out[o++] = digits[lo];
			started = true;
		}
	}
	if (!started)
		out[o++] = '0';
	out[o] = '\0';
}

void evm_uint_decimal(const uint8_t *be, size_t len, char out[80])
{
	uint8_t n[32] = {0};
	char digits[80];
	size_t nd = 0;
	bool zero;

	if (len > 32)
		len = 32;
	memcpy(n + 32 - len, be, len);
	/* repeated division by 10, most significant byte first */
	do {
		unsigned rem = 0;

		zero = true;
		for (size_t i = 0; i < 32; i++) {
			unsigned cur = rem << 8 | n[i];

			n[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
			zero &= n[i] == 0;
		}
		digits[nd++] = (char)('0' + rem);
	} while (!zero);
	for (size_t i = 0; i < nd; i++)
		out[i] = digits[nd - 1 - i];
	out[nd] = '\0';
}
