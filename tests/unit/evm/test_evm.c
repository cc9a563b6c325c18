/* RLP, transactions, signatures, EIP-191 and EIP-712 against the shared vectors, and every
 * malformed class refused. */
#include "../../support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"
#include "chain/evm/eip712.h"
#include "chain/evm/rlp.h"
#include "chain/evm/sig.h"
#include "chain/evm/tx.h"

static void assert_hex_equal(const uint8_t *got, size_t len, const char *want_hex)
{
	size_t n;
	uint8_t *want = tv_hex(want_hex, &n);

	if (n != len || memcmp(got, want, len) != 0)
		fail_msg("bytes differ from %s", want_hex);
	free(want);
}

static void pubkey_of(const char *sk_hex, uint8_t pub[65])
{
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_pubkey pk;
	size_t n, len = 65;
	uint8_t *sk = tv_hex(sk_hex, &n);

	assert_int_equal(secp256k1_ec_pubkey_create(ctx, &pk, sk), 1);
	secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	secp256k1_context_destroy(ctx);
	free(sk);
}

/* n - s: the high-S twin of a signature */
static void mirror_s(uint8_t s[32])
{
	static const uint8_t order[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
					  0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
					  0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
	int borrow = 0;

	for (int i = 31; i >= 0; i--) {
		int x = order[i] - s[i] - borrow;

		borrow = x < 0;
		s[i] = (uint8_t)(x + (borrow ? 256 : 0));
	}
}

/* One vector: decode the unsigned bytes, the signing hash, the signed encoding from the
 * vector's r, s and recid, the transaction hash, and the signature checks. */
static void check_tx(json_t *enc, const char *sk_hex, const char *address, long long want_v)
{
	size_t ulen, n;
	uint8_t *unsigned_tx = tv_hex(tv_str(enc, "unsigned"), &ulen);
	uint8_t hash[32], pub[65], raw[64], addr[20], v[33];
	uint8_t *r = tv_hex(tv_str(enc, "r"), &n), *s;
	struct evm_tx tx;
	struct evm_sig sig;
	struct rlp_buf signed_tx;
	size_t v_len;
	int recid = (int)json_integer_value(json_object_get(enc, "recid"));
	int rc;

	assert_int_equal(n, 32);
	s = tv_hex(tv_str(enc, "s"), &n);
	assert_int_equal(n, 32);
	rc = evm_tx_decode(unsigned_tx, ulen, &tx);
	if (rc != 0)
		fail_msg("%s: %s", tv_str(enc, "unsigned"), sg_errmsg(rc));
	evm_tx_signing_hash(&tx, hash);
	assert_hex_equal(hash, 32, tv_str(enc, "signingHash"));

	assert_sg_ok(evm_tx_encode_signed(&tx, recid, r, s, &signed_tx, v, &v_len));
	assert_hex_equal(signed_tx.data, signed_tx.len, tv_str(enc, "signed"));
	keccak256(signed_tx.data, signed_tx.len, hash);
	assert_hex_equal(hash, 32, tv_str(enc, "txHash"));
	if (want_v >= 0) {
		long long got = 0;

		for (size_t i = 0; i < v_len; i++)
			got = got << 8 | v[i];
		assert_int_equal(got, want_v);
	}
	rlp_buf_free(&signed_tx);

	/* the token's raw signature, low-S and mirrored high-S: both finish to the vector's */
	evm_tx_signing_hash(&tx, hash);
	pubkey_of(sk_hex, pub);
	for (int mirror = 0; mirror < 2; mirror++) {
		memcpy(raw, r, 32);
		memcpy(raw + 32, s, 32);
		if (mirror)
			mirror_s(raw + 32);
		assert_sg_ok(evm_sig_finish(hash, raw, pub, &sig));
		assert_memory_equal(sig.r, r, 32);
		assert_memory_equal(sig.s, s, 32);
		assert_int_equal(sig.recid, recid);
	}
	assert_sg_ok(evm_sig_recover_address(hash, &sig, addr));
	assert_hex_equal(addr, 20, address);
	/* a signature over another digest does not finish for this key */
	hash[0] ^= 1;
	assert_int_equal(evm_sig_finish(hash, raw, pub, &sig), SG_ERR_VERIFY);
	free(unsigned_tx);
	free(r);
	free(s);
}

/* Random keys and digests, signed with both recovery ids: evm_sig_finish finds the id the
 * signer drew (id 1 takes the pair check, Q0 + Q1 = -2 z r^-1 G), the key that id 0 recovers
 * to (a valid key for the same signature) gets id 0 back, and a stranger's key, the key's
 * negation (the x of the right key, the other y) and a changed digest are refused. */
static void test_sig_recovery_ids(void **state)
{
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	int seen[2] = {0, 0};

	(void)state;
	for (int i = 0; i < 400; i++) {
		uint8_t sk[32], digest[32], compact[64], pub[65], other[65], neg[65];
		secp256k1_ecdsa_recoverable_signature rsig, flipped;
		secp256k1_pubkey pk, pk_other, pk_neg;
		struct evm_sig sig;
		size_t len;
		int recid;

		do
			randombytes_buf(sk, sizeof(sk));
		while (!secp256k1_ec_seckey_verify(ctx, sk));
		randombytes_buf(digest, sizeof(digest));
		assert_int_equal(secp256k1_ec_pubkey_create(ctx, &pk, sk), 1);
		assert_int_equal(
			secp256k1_ecdsa_sign_recoverable(ctx, &rsig, digest, sk, NULL, NULL), 1);
		secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, compact, &recid,
									&rsig);
		assert_true(recid == 0 || recid == 1);
		seen[recid]++;
		len = 65;
		secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
		assert_sg_ok(evm_sig_finish(digest, compact, pub, &sig));
		assert_int_equal(sig.recid, recid);
		assert_memory_equal(sig.r, compact, 32);
		assert_memory_equal(sig.s, compact + 32, 32);

		/* the key the other id recovers: the same signature verifies for it */
		assert_int_equal(secp256k1_ecdsa_recoverable_signature_parse_compact(
					 ctx, &flipped, compact, 1 - recid),
				 1);
		assert_int_equal(secp256k1_ecdsa_recover(ctx, &pk_other, &flipped, digest), 1);
		len = 65;
		secp256k1_ec_pubkey_serialize(ctx, other, &len, &pk_other,
					      SECP256K1_EC_UNCOMPRESSED);
		assert_sg_ok(evm_sig_finish(digest, compact, other, &sig));
		assert_int_equal(sig.recid, 1 - recid);

		/* -Q: not a key this signature verifies for */
		pk_neg = pk;
		assert_int_equal(secp256k1_ec_pubkey_negate(ctx, &pk_neg), 1);
		len = 65;
		secp256k1_ec_pubkey_serialize(ctx, neg, &len, &pk_neg, SECP256K1_EC_UNCOMPRESSED);
		assert_int_equal(evm_sig_finish(digest, compact, neg, &sig), SG_ERR_VERIFY);

		/* a stranger's key, and the signature over another digest */
		sk[31] ^= 1;
		if (secp256k1_ec_seckey_verify(ctx, sk)) {
			uint8_t stranger[65];

			assert_int_equal(secp256k1_ec_pubkey_create(ctx, &pk, sk), 1);
			len = 65;
			secp256k1_ec_pubkey_serialize(ctx, stranger, &len, &pk,
						      SECP256K1_EC_UNCOMPRESSED);
			assert_int_equal(evm_sig_finish(digest, compact, stranger, &sig),
					 SG_ERR_VERIFY);
		}
		digest[i % 32] ^= 0x80;
		assert_int_equal(evm_sig_finish(digest, compact, pub, &sig), SG_ERR_VERIFY);
	}
	/* both ids came up (each about 200 times out of 400) */
	assert_true(seen[0] > 100 && seen[1] > 100);
	secp256k1_context_destroy(ctx);
}

static void test_ethers_vectors(void **state)
{
	json_t *doc = tv_load("evm/ethers_tx_vectors.json"), *v;
	size_t i, checked = 0;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		json_t *encs = json_object_get(v, "encodings");
		const char *sk = tv_str(v, "privateKey"), *addr = tv_str(v, "address");
		json_t *legacy = json_object_get(encs, "legacy");
		struct evm_tx tx;
		size_t n;
		uint8_t *pre155 = tv_hex(tv_str(legacy, "unsigned"), &n);

		check_tx(json_object_get(encs, "eip155"), sk, addr,
			 json_integer_value(json_object_get(json_object_get(encs, "eip155"), "v")));
		check_tx(json_object_get(encs, "eip2930"), sk, addr, -1);
		check_tx(json_object_get(encs, "eip1559"), sk, addr, -1);
		/* the pre-EIP-155 form carries no chain id: refused */
		assert_int_equal(evm_tx_decode(pre155, n, &tx), SG_ERR_MALFORMED);
		assert_non_null(strstr(sg_errmsg(SG_ERR_MALFORMED), "EIP-155"));
		free(pre155);
		checked += 3;
	}
	assert_true(checked >= 27);
	json_decref(doc);
}

static void test_polygon_vectors(void **state)
{
	json_t *doc = tv_load("evm/polygon_generated_tx.json"), *v;
	size_t i;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		json_t *txj = json_object_get(v, "tx");
		long long want_v = json_integer_value(json_object_get(txj, "type")) == 0
					   ? json_integer_value(json_object_get(v, "v_field"))
					   : -1;
		size_t n;
		uint8_t *u = tv_hex(tv_str(v, "unsigned"), &n);
		struct evm_tx tx;

		check_tx(v, tv_str(v, "privateKey"), tv_str(v, "from"), want_v);
		assert_sg_ok(evm_tx_decode(u, n, &tx));
		assert_int_equal(tx.nonce, json_integer_value(json_object_get(txj, "nonce")));
		assert_int_equal(tx.type, json_integer_value(json_object_get(txj, "type")));
		assert_int_equal(tx.is_create, json_object_get(txj, "to") == NULL ||
						       json_is_null(json_object_get(txj, "to")));
		free(u);
	}
	assert_true(i >= 6);
	json_decref(doc);
}

static void test_eip155_example(void **state)
{
	json_t *doc = tv_load("evm/eip155_spec_example.json");
	json_t *v = json_object_get(doc, "vector");
	json_t *enc = json_pack(
		"{s:O, s:O, s:O, s:O, s:O, s:O, s:i}", "unsigned",
		json_object_get(v, "signingData"), "signingHash", json_object_get(v, "signingHash"),
		"signed", json_object_get(v, "signedTx"), "txHash",
		json_object_get(v, "txHash") ? json_object_get(v, "txHash")
					     : json_object_get(v, "hash"),
		"r", json_object_get(v, "r"), "s", json_object_get(v, "s"), "recid", 0);
	uint8_t pub[65], addr[20];

	(void)state;
	assert_non_null(enc);
	pubkey_of(tv_str(v, "privateKey"), pub);
	assert_sg_ok(addr_evm_from_pubkey(pub, 65, addr));
	{
		char text[43];

		addr_evm_checksum(addr, text);
		check_tx(enc, tv_str(v, "privateKey"), text, 37);
	}
	json_decref(enc);
	json_decref(doc);
}

/* ---- malformed transactions ------------------------------------------------------------ */

static void expect_tx_refused(const char *hex, int code, const char *words)
{
	size_t n;
	uint8_t *b = tv_hex(hex, &n);
	struct evm_tx tx;
	int r = evm_tx_decode(b, n, &tx);

	if (r == 0)
		fail_msg("accepted %s", hex);
	if (code != 0 && r != code)
		fail_msg("%s: code %d, wanted %d (%s)", hex, r, code, sg_errmsg(r));
	if (words != NULL && strstr(sg_errmsg(r), words) == NULL)
		fail_msg("%s: '%s' does not say '%s'", hex, sg_errmsg(r), words);
	free(b);
}

/* The EIP-155 example's items (chain 1, nonce 9), each as raw RLP hex. */
static const char *const legacy_items[9] = {
	"09",
	"8504a817c800",
	"825208",
	"943535353535353535353535353535353535353535",
	"880de0b6b3a7640000",
	"80",
	"01",
	"80",
	"80",
};

/* A transaction from raw items: type byte (or -1 for legacy), then an RLP list of them, with
 * item `replace` swapped for `with` (NULL: dropped), and `extra` appended when not NULL. */
static char *build_tx(int type, const char *const *items, size_t n, size_t replace,
		      const char *with, const char *extra)
{
	struct rlp_buf b = {0};
	char *hex;
	uint8_t *raw;
	size_t len;

	if (type >= 0)
		rlp_put_raw(&b, (const uint8_t[]){(uint8_t)type}, 1);
	for (size_t i = 0; i <= n; i++) {
		const char *item = i == replace ? with : i < n ? items[i] : extra;

		if (item == NULL)
			continue;
		raw = tv_hex(item, &len);
		rlp_put_raw(&b, raw, len);
		free(raw);
	}
	rlp_wrap_list(&b, type >= 0 ? 1 : 0);
	hex = malloc(2 * b.len + 3);
	assert_non_null(hex);
	hex[0] = '0';
	hex[1] = 'x';
	assert_sg_ok(hex_encode(b.data, b.len, hex + 2, 2 * b.len + 1));
	rlp_buf_free(&b);
	return hex;
}

static void expect_built_refused(char *hex, int code, const char *words)
{
	expect_tx_refused(hex, code, words);
	free(hex);
}

static void test_tx_malformed(void **state)
{
	static const char *const typed2[9] = {
		"64", "80", "80", "80", "80", "948f3e9c1bd65eb267d19b176a73217524dc21a5ca",
		"80", "80", "c0",
	};
	char *ok = build_tx(-1, legacy_items, 9, 99, NULL, NULL);
	size_t n;
	uint8_t *b = tv_hex(ok, &n);
	struct evm_tx tx;

	(void)state;
	assert_string_equal(ok, "0xec098504a817c800825208943535353535353535353535353535353535353535"
				"880de0b6b3a764000080018080");
	assert_sg_ok(evm_tx_decode(b, n, &tx));
	assert_int_equal(tx.nonce, 9);
	free(b);
	free(ok);
	ok = build_tx(2, typed2, 9, 99, NULL, NULL);
	b = tv_hex(ok, &n);
	assert_sg_ok(evm_tx_decode(b, n, &tx));
	assert_true(tx.has_access_list);
	free(b);
	free(ok);

	expect_tx_refused("0x", SG_ERR_TRUNCATED, NULL);
	expect_tx_refused("0xec098504a817c800825208943535353535353535353535353535353535353535"
			  "880de0b6b3a76400008001808000",
			  SG_ERR_TRAILING, NULL);
	expect_tx_refused("0xec098504a817c800825208943535353535353535353535353535353535353535"
			  "880de0b6b3a7640000800180",
			  SG_ERR_TRUNCATED, NULL);
	/* the list header in long form for a short length */
	expect_tx_refused("0xf82c098504a817c800825208943535353535353535353535353535353535353535"
			  "880de0b6b3a764000080018080",
			  SG_ERR_MALFORMED, "long form");
	/* nonce 9 written as 81 09: a byte below 0x80 wrapped */
	expect_built_refused(build_tx(-1, legacy_items, 9, 0, "8109", NULL), SG_ERR_MALFORMED,
			     "encodes itself");
	/* gasPrice with a leading zero byte */
	expect_built_refused(build_tx(-1, legacy_items, 9, 1, "860004a817c800", NULL),
			     SG_ERR_MALFORMED, "leading zero");
	/* a 9-byte nonce (EIP-2681: below 2^64) */
	expect_built_refused(build_tx(-1, legacy_items, 9, 0, "89010000000000000000", NULL),
			     SG_ERR_MALFORMED, "nonce");
	/* a 33-byte value */
	expect_built_refused(
		build_tx(-1, legacy_items, 9, 4,
			 "a1010000000000000000000000000000000000000000000000000000000000000000",
			 NULL),
		SG_ERR_MALFORMED, "at most 32");
	/* a 19-byte recipient */
	expect_built_refused(
		build_tx(-1, legacy_items, 9, 3, "9335353535353535353535353535353535353535", NULL),
		SG_ERR_MALFORMED, "20");
	/* a list where an integer belongs */
	expect_built_refused(build_tx(-1, legacy_items, 9, 2, "c0", NULL), SG_ERR_MALFORMED,
			     "not a list");
	/* chain id 0; [chainId, 1, 0]; a 10th field */
	expect_built_refused(build_tx(-1, legacy_items, 9, 6, "80", NULL), SG_ERR_MALFORMED,
			     "chain id is zero");
	expect_built_refused(build_tx(-1, legacy_items, 9, 7, "01", NULL), SG_ERR_MALFORMED,
			     "[chainId, 0, 0]");
	expect_built_refused(build_tx(-1, legacy_items, 9, 99, NULL, "80"), SG_ERR_MALFORMED,
			     "more than");
	/* pre-EIP-155: six fields */
	expect_built_refused(build_tx(-1, legacy_items, 6, 99, NULL, NULL), SG_ERR_MALFORMED,
			     "EIP-155");
	/* types 3, 4 and an unknown one; a byte that starts nothing */
	expect_tx_refused("0x03c0", SG_ERR_UNSUPPORTED, "blob");
	expect_tx_refused("0x04c0", SG_ERR_UNSUPPORTED, "set-code");
	expect_tx_refused("0x05c0", SG_ERR_UNSUPPORTED, "0x05");
	expect_tx_refused("0x80", SG_ERR_MALFORMED, NULL);
	/* typed: a field missing, one too many, a 19-byte access-list address, a 31-byte
	 * storage key, an access-list entry of three items, an access list that is a string */
	expect_built_refused(build_tx(2, typed2, 9, 8, NULL, NULL), SG_ERR_MALFORMED, "fields");
	expect_built_refused(build_tx(2, typed2, 9, 99, NULL, "80"), SG_ERR_MALFORMED, "fields");
	expect_built_refused(
		build_tx(2, typed2, 9, 8, "d6d59300000000000000000000000000000000000000c0", NULL),
		SG_ERR_MALFORMED, "address");
	expect_built_refused(
		build_tx(2, typed2, 9, 8,
			 "f7f6940000000000000000000000000000000000000000e09f"
			 "00000000000000000000000000000000000000000000000000000000000000",
			 NULL),
		SG_ERR_MALFORMED, "storage key");
	expect_built_refused(build_tx(2, typed2, 9, 8,
				      "d8d7940000000000000000000000000000000000000000c080", NULL),
			     SG_ERR_TRAILING, "access list entry");
	expect_built_refused(build_tx(2, typed2, 9, 8, "80", NULL), SG_ERR_MALFORMED,
			     "access list");
	/* type 1 with type 2's field count */
	expect_built_refused(build_tx(1, typed2, 9, 99, NULL, NULL), SG_ERR_MALFORMED, "fields");
}

static void test_rlp(void **state)
{
	struct rlp_item item;
	struct rlp_buf b = {0};
	static const uint8_t long_string[] = {0xb8, 0x38}; /* 56 bytes follow */
	uint8_t buf[58];
	uint8_t big[70];

	(void)state;
	/* encoder: single bytes, empty, short and long strings, lists */
	rlp_put_bytes(&b, (const uint8_t *)"\x00", 1);
	rlp_put_bytes(&b, (const uint8_t *)"\x7f", 1);
	rlp_put_bytes(&b, (const uint8_t *)"\x80", 1);
	rlp_put_bytes(&b, NULL, 0);
	rlp_put_u64(&b, 0);
	rlp_put_u64(&b, 1024);
	assert_sg_ok(rlp_buf_status(&b));
	assert_hex_equal(b.data, b.len, "0x007f81808080820400");
	rlp_wrap_list(&b, 0);
	assert_hex_equal(b.data, b.len, "0xc9007f81808080820400");
	assert_sg_ok(rlp_decode_one(b.data, b.len, &item));
	assert_true(item.is_list);
	assert_int_equal(item.len, 9);
	rlp_buf_free(&b);
	memset(big, 0xaa, sizeof(big));
	rlp_put_bytes(&b, big, 56);
	assert_int_equal(b.data[0], 0xb8);
	assert_int_equal(b.data[1], 56);
	rlp_buf_free(&b);

	/* decoder: 56 bytes in long form is canonical; 55 in long form is not */
	memcpy(buf, long_string, 2);
	memset(buf + 2, 0xaa, 56);
	assert_sg_ok(rlp_decode_one(buf, 58, &item));
	assert_int_equal(item.len, 56);
	buf[1] = 55;
	assert_int_equal(rlp_decode_one(buf, 57, &item), SG_ERR_MALFORMED);
	/* a length with a leading zero byte */
	{
		static const uint8_t z[] = {0xb9, 0x00, 0x38};

		assert_int_equal(rlp_decode_one(z, sizeof(z), &item), SG_ERR_MALFORMED);
	}
	/* a length of 2^40 */
	{
		static const uint8_t huge[] = {0xbc, 0x01, 0x00, 0x00, 0x00, 0x00};

		assert_int_equal(rlp_decode_one(huge, sizeof(huge), &item), SG_ERR_MALFORMED);
	}
	/* a list whose header claims more than there is */
	{
		static const uint8_t cut[] = {0xc3, 0x01, 0x02};

		assert_int_equal(rlp_decode_one(cut, sizeof(cut), &item), SG_ERR_TRUNCATED);
	}
}

static void test_quantity_hex(void **state)
{
	char out[70];
	static const uint8_t v[] = {0x00, 0x01, 0x35};

	(void)state;
	evm_quantity_hex(v, 3, out);
	assert_string_equal(out, "0x135");
	evm_quantity_hex(v, 1, out);
	assert_string_equal(out, "0x0");
	evm_quantity_hex(v, 0, out);
	assert_string_equal(out, "0x0");
}

static void test_eip191(void **state)
{
	json_t *doc = tv_load("evm/eip191_personal_sign.json"), *v;
	size_t i, signed_vectors = 0;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		size_t n;
		uint8_t *msg = tv_hex(tv_str(v, "message_hex"), &n), hash[32];

		evm_personal_hash(msg, n, hash);
		assert_hex_equal(hash, 32, tv_str(v, "hash"));
		if (json_object_get(v, "signature") != NULL) {
			size_t sl;
			uint8_t *sigb = tv_hex(tv_str(v, "signature"), &sl), addr[20];
			struct evm_sig sig;

			assert_int_equal(sl, 65);
			memcpy(sig.r, sigb, 32);
			memcpy(sig.s, sigb + 32, 32);
			sig.recid = sigb[64] - 27;
			assert_sg_ok(evm_sig_recover_address(hash, &sig, addr));
			assert_hex_equal(addr, 20, tv_str(v, "address"));
			signed_vectors++;
			free(sigb);
		}
		free(msg);
	}
	assert_true(signed_vectors >= 1);
	json_decref(doc);
}

static void test_eip712_mail(void **state)
{
	json_t *doc = tv_load("evm/eip712_typed_data.json");
	json_t *td = json_object_get(doc, "typedData"), *want = json_object_get(doc, "expected");
	struct eip712 out;
	char *type;
	uint8_t th[32], addr[20];
	struct evm_sig sig;
	size_t n;
	uint8_t *sigb;

	(void)state;
	assert_sg_ok(eip712_encode_type(json_object_get(td, "types"), "Mail", &type));
	assert_string_equal(type, tv_str(want, "encodeType_Mail"));
	keccak256(type, strlen(type), th);
	assert_hex_equal(th, 32, tv_str(want, "typeHash_Mail"));
	free(type);
	assert_sg_ok(eip712_hash(td, &out));
	assert_hex_equal(out.domain_separator, 32, tv_str(want, "domainSeparator"));
	assert_hex_equal(out.struct_hash, 32, tv_str(want, "hashStruct_Mail"));
	assert_hex_equal(out.digest, 32, tv_str(want, "signingHash"));
	assert_string_equal(out.primary_type, "Mail");
	assert_true(out.has_name && out.has_version && out.has_chain_id &&
		    out.has_verifying_contract);
	assert_string_equal(out.name, "Ether Mail");
	assert_int_equal(out.chain_id[31], 1);
	sigb = tv_hex(tv_str(want, "signature"), &n);
	memcpy(sig.r, sigb, 32);
	memcpy(sig.s, sigb + 32, 32);
	sig.recid = sigb[64] - 27;
	assert_sg_ok(evm_sig_recover_address(out.digest, &sig, addr));
	assert_hex_equal(addr, 20, tv_str(want, "address"));
	free(sigb);
	json_decref(doc);
}

/* Typed data with every kind of field, checked against digests computed independently (ethers
 * 6 TypedDataEncoder.hash), and the same shape made wrong in each way we refuse. */
static const char *const everything_types =
	"\"types\":{\"Item\":[{\"name\":\"id\",\"type\":\"uint256\"},{\"name\":\"tags\",\"type\":"
	"\"string[]\"}],"
	"\"Order\":[{\"name\":\"buyer\",\"type\":\"address\"},{\"name\":\"items\",\"type\":\"Item["
	"2]\"},"
	"{\"name\":\"delta\",\"type\":\"int32\"},{\"name\":\"ok\",\"type\":\"bool\"},"
	"{\"name\":\"blob\",\"type\":\"bytes\"},{\"name\":\"tag\",\"type\":\"bytes4\"},"
	"{\"name\":\"grid\",\"type\":\"uint8[][]\"}]}";

static char *everything(const char *domain, const char *message)
{
	char *s = NULL;

	if (asprintf(&s, "{%s,\"primaryType\":\"Order\",\"domain\":%s,\"message\":%s}",
		     everything_types, domain, message) < 0)
		return NULL;
	return s;
}

static const char *const everything_message =
	"{\"buyer\":\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\","
	"\"items\":[{\"id\":"
	"\"115792089237316195423570985008687907853269984665640564039457584007913129639935\","
	"\"tags\":[\"a\",\"\"]},"
	"{\"id\":7,\"tags\":[]}],\"delta\":-2147483648,\"ok\":true,\"blob\":\"0x0102\","
	"\"tag\":\"0xdeadbeef\",\"grid\":[[1,2],[],[255]]}";

static void test_eip712_everything(void **state)
{
	char *text = everything("{\"name\":\"signerd\",\"chainId\":\"0x89\"}", everything_message);
	struct eip712 out, again;
	char *type;
	json_t *j;

	(void)state;
	assert_sg_ok(eip712_hash_text(text, strlen(text), &out));
	j = json_loads(text, 0, NULL);
	assert_sg_ok(eip712_encode_type(json_object_get(j, "types"), "Order", &type));
	assert_string_equal(type,
			    "Order(address buyer,Item[2] items,int32 delta,bool ok,bytes blob,"
			    "bytes4 tag,uint8[][] grid)Item(uint256 id,string[] tags)");
	free(type);
	json_decref(j);
	/* the derived domain type is (string name, uint256 chainId) */
	assert_true(out.has_name && out.has_chain_id && !out.has_version);
	assert_int_equal(out.chain_id[31], 0x89);
	assert_hex_equal(out.digest, 32,
			 "0xc61bfe779e5d76f6f0ca156657a75c0ce695f9ef8ba12d57a8ba8a2c2117954a");
	free(text);
	/* the same value written another way encodes the same */
	text = everything(
		"{\"chainId\":137,\"name\":\"signerd\"}",
		"{\"grid\":[[\"1\",\"0x2\"],[],[255]],\"tag\":\"0xDEADBEEF\",\"blob\":\"0x0102\","
		"\"ok\":true,\"delta\":\"-2147483648\",\"items\":[{\"tags\":[\"a\",\"\"],"
		"\"id\":\"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"},"
		"{\"id\":\"7\",\"tags\":[]}],\"buyer\":"
		"\"0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826\"}");
	assert_sg_ok(eip712_hash_text(text, strlen(text), &again));
	assert_memory_equal(again.digest, out.digest, 32);
	free(text);
}

/* What the decoder records of the message's make-up, for the policy: the struct types of
 * encodeType(primaryType) in its order, and the distinct names of their address fields. */
static void test_eip712_composition(void **state)
{
	static const char permit2[] =
		"{\"types\":{\"PermitSingle\":[{\"name\":\"details\",\"type\":\"PermitDetails\"},"
		"{\"name\":\"spender\",\"type\":\"address\"},"
		"{\"name\":\"sigDeadline\",\"type\":\"uint256\"}],"
		"\"PermitDetails\":[{\"name\":\"token\",\"type\":\"address\"},"
		"{\"name\":\"amount\",\"type\":\"uint160\"},"
		"{\"name\":\"expiration\",\"type\":\"uint48\"},{\"name\":\"nonce\",\"type\":"
		"\"uint48\"}],"
		"\"Unused\":[{\"name\":\"operator\",\"type\":\"address\"}]},"
		"\"primaryType\":\"PermitSingle\",\"domain\":{\"name\":\"Permit2\",\"chainId\":1},"
		"\"message\":{\"details\":{\"token\":"
		"\"0x00000000000000000000000000000000000000cc\","
		"\"amount\":1,\"expiration\":2,\"nonce\":3},"
		"\"spender\":\"0x00000000000000000000000000000000000000bb\",\"sigDeadline\":4}}";
	static const char nested[] =
		"{\"types\":{\"Mail\":[{\"name\":\"to\",\"type\":\"Person[]\"},"
		"{\"name\":\"cc\",\"type\":\"address[2][]\"},{\"name\":\"from\",\"type\":"
		"\"Person\"}],"
		"\"Person\":[{\"name\":\"wallet\",\"type\":\"address\"},"
		"{\"name\":\"to\",\"type\":\"string\"}],"
		"\"Group\":[{\"name\":\"x\",\"type\":\"uint8\"}]},"
		"\"primaryType\":\"Mail\",\"domain\":{\"name\":\"m\"},"
		"\"message\":{\"to\":[],\"cc\":[],"
		"\"from\":{\"wallet\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"x\"}}"
		"}";
	char *text = everything("{\"name\":\"signerd\",\"chainId\":\"0x89\"}", everything_message);
	struct eip712 out;

	(void)state;
	assert_sg_ok(eip712_hash_text(text, strlen(text), &out));
	assert_int_equal(out.n_struct_types, 2);
	assert_string_equal(out.struct_types[0], "Order");
	assert_string_equal(out.struct_types[1], "Item");
	assert_int_equal(out.n_address_fields, 1);
	assert_string_equal(out.address_fields[0], "buyer");
	assert_false(out.address_fields_incomplete);
	free(text);
	/* a referenced type is listed, an unreferenced one (and its fields) is not */
	assert_sg_ok(eip712_hash_text(permit2, sizeof(permit2) - 1, &out));
	assert_int_equal(out.n_struct_types, 2);
	assert_string_equal(out.struct_types[0], "PermitSingle");
	assert_string_equal(out.struct_types[1], "PermitDetails");
	assert_int_equal(out.n_address_fields, 2);
	assert_string_equal(out.address_fields[0], "spender");
	assert_string_equal(out.address_fields[1], "token");
	/* arrays of addresses count as address fields, a string field named like one does not */
	assert_sg_ok(eip712_hash_text(nested, sizeof(nested) - 1, &out));
	assert_int_equal(out.n_struct_types, 2);
	assert_string_equal(out.struct_types[1], "Person");
	assert_int_equal(out.n_address_fields, 2);
	assert_string_equal(out.address_fields[0], "cc");
	assert_string_equal(out.address_fields[1], "wallet");
	/* more distinct address fields than it keeps: the list says it is incomplete */
	for (int fields = EIP712_ADDRESS_FIELDS_MAX; fields <= EIP712_ADDRESS_FIELDS_MAX + 1;
	     fields++) {
		char big[16384];
		size_t o = 0;

		o += (size_t)snprintf(big + o, sizeof(big) - o, "{\"types\":{\"Many\":[");
		for (int i = 0; i < fields; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o,
					      "%s{\"name\":\"a%d\",\"type\":\"address\"}",
					      i ? "," : "", i);
		o += (size_t)snprintf(big + o, sizeof(big) - o,
				      "]},\"primaryType\":\"Many\",\"domain\":{\"name\":\"m\"},"
				      "\"message\":{");
		for (int i = 0; i < fields; i++)
			o += (size_t)snprintf(
				big + o, sizeof(big) - o,
				"%s\"a%d\":\"0x00000000000000000000000000000000000000aa\"",
				i ? "," : "", i);
		o += (size_t)snprintf(big + o, sizeof(big) - o, "}}");
		assert_true(o < sizeof(big));
		assert_sg_ok(eip712_hash_text(big, o, &out));
		assert_int_equal(out.n_address_fields, EIP712_ADDRESS_FIELDS_MAX);
		assert_int_equal(out.address_fields_incomplete, fields > EIP712_ADDRESS_FIELDS_MAX);
	}
}

static void test_eip712_refusals(void **state)
{
	static const struct {
		const char *domain;
		const char *message;
		const char *words;
	} cases[] = {
		{.domain = "{\"name\":\"x\",\"colour\":\"red\"}",
		 .message = NULL,
		 .words = "unknown field 'colour'"},
		{.domain = "{\"name\":\"x\",\"chainId\":-1}", .message = NULL, .words = "negative"},
		{.domain = "{\"name\":\"x\",\"verifyingContract\":\"0x1234\"}",
		 .message = NULL,
		 .words = "address"},
		{.domain = NULL,
		 .message = "{\"buyer\":\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD82\"}",
		 .words = "address"},
		{.domain = NULL, .message = "{\"extra\":1}", .words = "'extra'"},
		{.domain = NULL, .message = "{\"delta\":2147483648}", .words = "int32"},
		{.domain = NULL, .message = "{\"delta\":\"-2147483649\"}", .words = "int32"},
		{.domain = NULL,
		 .message = "{\"items\":[{\"id\":1,\"tags\":[]}]}",
		 .words = "2 elements"},
		{.domain = NULL, .message = "{\"grid\":[[256]]}", .words = "uint8"},
		{.domain = NULL, .message = "{\"grid\":[[-1]]}", .words = "negative"},
		{.domain = NULL, .message = "{\"grid\":[[1.5]]}", .words = "integer or a string"},
		{.domain = NULL, .message = "{\"tag\":\"0xdeadbe\"}", .words = "4 bytes"},
		{.domain = NULL, .message = "{\"blob\":\"0102\"}", .words = "0x-hex"},
		{.domain = NULL, .message = "{\"ok\":1}", .words = "true or false"},
		{.domain = NULL,
		 .message = "{\"items\":[{\"id\":"
			    "\"11579208923731619542357098500868790785326998466564056403945758400791"
			    "31296399360"
			    "\",\"tags\":[]},{\"id\":1,\"tags\":[]}]}",
		 .words = NULL},
	};
	const char *base_domain = "{\"name\":\"signerd\",\"chainId\":137}";

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* start from the good message and replace the fields the case names */
		json_t *msg = json_loads(everything_message, 0, NULL), *patch;
		char *msg_text, *text;
		struct eip712 out;
		int r;

		if (cases[i].message != NULL) {
			patch = json_loads(cases[i].message, 0, NULL);
			assert_non_null(patch);
			json_object_update(msg, patch);
			json_decref(patch);
		}
		msg_text = json_dumps(msg, JSON_COMPACT);
		text = everything(cases[i].domain ? cases[i].domain : base_domain, msg_text);
		r = eip712_hash_text(text, strlen(text), &out);
		if (r == 0)
			fail_msg("case %zu accepted", i);
		if (cases[i].words != NULL && strstr(sg_errmsg(r), cases[i].words) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, sg_errmsg(r),
				 cases[i].words);
		free(text);
		free(msg_text);
		json_decref(msg);
	}
}

static void test_eip712_bad_types(void **state)
{
	static const char *const bad[] = {
		/* undefined type */
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"B\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":{}}}",
		/* bad integer widths, bytes widths, array lengths */
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"uint7\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":1}}",
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"uint264\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":1}}",
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"bytes33\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":\"0x00\"}}",
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"uint8[0]\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":[]}}",
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"uint8[x]\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"b\":[]}}",
		/* a field twice; a field object with an extra key; a bad name */
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"b\",\"type\":"
		"\"bool\"}]},\"primaryType\":\"A\",\"domain\":{},\"message\":{\"b\":true}}",
		"{\"types\":{\"A\":[{\"name\":\"b\",\"type\":\"bool\",\"x\":1}]},\"primaryType\":"
		"\"A\",\"domain\":{},\"message\":{\"b\":true}}",
		"{\"types\":{\"A\":[{\"name\":\"b "
		"c\",\"type\":\"bool\"}]},\"primaryType\":\"A\",\"domain\":{},\"message\":{}}",
		/* the primary type undefined, or the domain itself */
		"{\"types\":{\"A\":[]},\"primaryType\":\"B\",\"domain\":{},\"message\":{}}",
		"{\"types\":{\"A\":[]},\"primaryType\":\"EIP712Domain\",\"domain\":{},\"message\":{"
		"}}",
		/* an EIP712Domain with a field EIP-712 does not define */
		"{\"types\":{\"EIP712Domain\":[{\"name\":\"owner\",\"type\":\"address\"}],\"A\":[]}"
		",\"primaryType\":\"A\",\"domain\":{},\"message\":{}}",
		/* a recursive type that nests without end */
		"{\"types\":{\"A\":[{\"name\":\"a\",\"type\":\"A[]\"}]},\"primaryType\":\"A\","
		"\"domain\":{},\"message\":{\"a\":[{\"a\":[{\"a\":[{\"a\":[{\"a\":[{\"a\":[{\"a\":["
		"{\"a\":[{\"a\":[{\"a\":[{\"a\":[{\"a\":[{\"a\":[]}]}]}]}]}]}]}]}]}]}]}]}]}}",
		/* top-level: an unknown key, a missing key, duplicate keys, not JSON */
		"{\"types\":{\"A\":[]},\"primaryType\":\"A\",\"domain\":{},\"message\":{},\"x\":1}",
		"{\"types\":{\"A\":[]},\"primaryType\":\"A\",\"domain\":{}}",
		"{\"types\":{\"A\":[]},\"primaryType\":\"A\",\"primaryType\":\"A\",\"domain\":{},"
		"\"message\":{}}",
		"{\"types\":",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct eip712 out;

		if (eip712_hash_text(bad[i], strlen(bad[i]), &out) == 0)
			fail_msg("case %zu accepted: %s", i, bad[i]);
	}
	/* and an empty struct with an empty domain is fine */
	{
		static const char ok[] =
			"{\"types\":{\"A\":[]},\"primaryType\":\"A\",\"domain\":{},\"message\":{}}";
		struct eip712 out;

		assert_sg_ok(eip712_hash_text(ok, sizeof(ok) - 1, &out));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rlp),
		cmocka_unit_test(test_quantity_hex),
		cmocka_unit_test(test_sig_recovery_ids),
		cmocka_unit_test(test_ethers_vectors),
		cmocka_unit_test(test_polygon_vectors),
		cmocka_unit_test(test_eip155_example),
		cmocka_unit_test(test_tx_malformed),
		cmocka_unit_test(test_eip191),
		cmocka_unit_test(test_eip712_mail),
		cmocka_unit_test(test_eip712_everything),
		cmocka_unit_test(test_eip712_composition),
		cmocka_unit_test(test_eip712_refusals),
		cmocka_unit_test(test_eip712_bad_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
