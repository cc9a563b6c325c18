#include "../../support/testutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>

#include "common/address.h"

/* The examples of the EIP-55 text: each is its own checksummed form. */
static const char *const eip55_examples[] = {
	"0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
};

static void test_eip55_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(eip55_examples) / sizeof(eip55_examples[0]); i++) {
		uint8_t addr[EVM_ADDRESS_LEN];
		char text[EVM_ADDRESS_TEXT_LEN];

		assert_sg_ok(addr_evm_parse(eip55_examples[i], addr));
		addr_evm_checksum(addr, text);
		assert_string_equal(text, eip55_examples[i]);
	}
}

static void test_eip55_rejects(void **state)
{
	uint8_t addr[EVM_ADDRESS_LEN];

	(void)state;
	/* one letter's case flipped: the checksum no longer holds */
	assert_int_equal(addr_evm_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", addr),
			 SG_ERR_MALFORMED);
	assert_sg_ok(addr_evm_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", addr));
	assert_int_equal(addr_evm_parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", addr),
			 SG_ERR_MALFORMED);
	assert_int_equal(addr_evm_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", addr),
			 SG_ERR_MALFORMED);
	assert_int_equal(addr_evm_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beagg", addr),
			 SG_ERR_MALFORMED);
}

/* The private keys of the ethers vectors: their public keys (by libsecp256k1) must give the
 * vectors' addresses. */
static void test_evm_address_from_public_key(void **state)
{
	json_t *doc = tv_load("evm/ethers_tx_vectors.json"), *v;
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	size_t i;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		size_t sk_len, want_len, pub_len = 65;
		uint8_t *sk = tv_hex(tv_str(v, "privateKey"), &sk_len);
		uint8_t *want = tv_hex(tv_str(v, "address"), &want_len);
		uint8_t pub[65], addr[EVM_ADDRESS_LEN];
		secp256k1_pubkey pk;
		char text[EVM_ADDRESS_TEXT_LEN];

		assert_int_equal(secp256k1_ec_pubkey_create(ctx, &pk, sk), 1);
		secp256k1_ec_pubkey_serialize(ctx, pub, &pub_len, &pk, SECP256K1_EC_UNCOMPRESSED);
		assert_sg_ok(addr_evm_from_pubkey(pub, pub_len, addr));
		assert_memory_equal(addr, want, EVM_ADDRESS_LEN);
		addr_evm_checksum(addr, text);
		for (size_t k = 0; k < 40; k++) /* same letters, checksum case */
			assert_int_equal(tolower((unsigned char)text[2 + k]),
					 tolower((unsigned char)tv_str(v, "address")[2 + k]));
		assert_sg_ok(addr_evm_parse(text, addr));
		free(sk);
		free(want);
	}
	assert_true(i >= 9);
	/* compressed or truncated public keys are refused */
	{
		uint8_t pub[65] = {0x02}, addr[EVM_ADDRESS_LEN];

		assert_int_equal(addr_evm_from_pubkey(pub, 65, addr), SG_ERR_MALFORMED);
		pub[0] = 0x04;
		assert_int_equal(addr_evm_from_pubkey(pub, 33, addr), SG_ERR_MALFORMED);
	}
	secp256k1_context_destroy(ctx);
	json_decref(doc);
}

/* Solana: the signers of the web3.js vector, hex public key <-> base58 address. */
static void test_solana_address(void **state)
{
	json_t *doc = tv_load("solana/web3js-legacy-system-transfer.json"), *signer;
	size_t i;

	(void)state;
	json_array_foreach (json_object_get(doc, "signers"), i, signer) {
		size_t n;
		uint8_t *pub = tv_hex(tv_str(signer, "pubkey_hex"), &n);
		uint8_t back[SOLANA_PUBKEY_LEN];
		char text[SOLANA_ADDRESS_TEXT_MAX];

		assert_int_equal(n, 32);
		assert_sg_ok(addr_solana_encode(pub, text, sizeof(text)));
		assert_string_equal(text, tv_str(signer, "pubkey_base58"));
		assert_sg_ok(addr_solana_parse(text, back));
		assert_memory_equal(back, pub, 32);
		free(pub);
	}
	assert_true(i >= 1);
	{
		uint8_t back[SOLANA_PUBKEY_LEN];

		/* the System Program id is 32 zero bytes */
		assert_sg_ok(addr_solana_parse("11111111111111111111111111111111", back));
		/* 31 bytes, or 33 bytes, are not a public key */
		assert_int_equal(addr_solana_parse("1111111111111111111111111111111", back),
				 SG_ERR_MALFORMED);
		assert_int_equal(
			addr_solana_parse("2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1z", back),
			SG_ERR_MALFORMED);
	}
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eip55_examples),
		cmocka_unit_test(test_eip55_rejects),
		cmocka_unit_test(test_evm_address_from_public_key),
		cmocka_unit_test(test_solana_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
