#include "../../support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"

/* Bitcoin Core's base58_encode_decode.json: [hex, base58] pairs, both directions. */
static void test_base58_bitcoin_vectors(void **state)
{
	json_t *vectors = tv_load("base58/base58_encode_decode.json"), *pair;
	size_t i;

	(void)state;
	assert_true(json_array_size(vectors) >= 20);
	json_array_foreach (vectors, i, pair) {
		const char *hex = json_string_value(json_array_get(pair, 0));
		const char *b58 = json_string_value(json_array_get(pair, 1));
		size_t raw_len, dec_len;
		uint8_t *raw = tv_hex(hex, &raw_len);
		uint8_t dec[512];
		char enc[1024];

		assert_sg_ok(b58_encode(raw, raw_len, enc, sizeof(enc)));
		assert_string_equal(enc, b58);
		assert_sg_ok(b58_decode(b58, strlen(b58), dec, sizeof(dec), &dec_len));
		assert_int_equal(dec_len, raw_len);
		assert_memory_equal(dec, raw, raw_len);
		free(raw);
	}
	json_decref(vectors);
}

static void test_base58_rejects(void **state)
{
	uint8_t out[64];
	size_t n;
	char small[4];
	static const uint8_t thirty_two[32] = {1};

	(void)state;
	/* 0, O, I and l are not in the alphabet; neither is anything outside it */
	assert_int_equal(b58_decode("3mJr0", 5, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(b58_decode("3mJrO", 5, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(b58_decode("3mJrI", 5, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(b58_decode("3mJrl", 5, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(b58_decode("3mJ r", 5, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(b58_decode("3m\0r", 4, out, sizeof(out), &n), SG_ERR_MALFORMED);
	/* a result larger than the buffer */
	assert_int_equal(b58_decode("1111111111", 10, out, 4, &n), SG_ERR_OVERFLOW);
	assert_int_equal(b58_encode(thirty_two, 32, small, sizeof(small)), SG_ERR_OVERFLOW);
	/* empty is empty */
	assert_sg_ok(b58_decode("", 0, out, sizeof(out), &n));
	assert_int_equal(n, 0);
}

static void test_hex(void **state)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff};
	uint8_t out[8];
	char text[16];
	size_t n;

	(void)state;
	assert_sg_ok(hex_encode(bytes, sizeof(bytes), text, sizeof(text)));
	assert_string_equal(text, "0001abff");
	assert_int_equal(hex_encode(bytes, sizeof(bytes), text, 8), SG_ERR_OVERFLOW);
	assert_sg_ok(hex_decode("0001ABff", 8, out, sizeof(out), &n));
	assert_int_equal(n, 4);
	assert_memory_equal(out, bytes, 4);
	assert_int_equal(hex_decode("abc", 3, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(hex_decode("zz", 2, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(hex_decode("0g", 2, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_int_equal(hex_decode("000000", 6, out, 2, &n), SG_ERR_OVERFLOW);
	assert_sg_ok(hex_decode_0x("0x00ff", 6, out, sizeof(out), &n));
	assert_int_equal(n, 2);
	assert_int_equal(hex_decode_0x("00ff", 4, out, sizeof(out), &n), SG_ERR_MALFORMED);
	assert_sg_ok(hex_decode_0x("0x", 2, out, sizeof(out), &n));
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base58_bitcoin_vectors),
		cmocka_unit_test(test_base58_rejects),
		cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
