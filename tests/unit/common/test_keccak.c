#include "../../support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"

/* Every vector of keccak256_kat.json, one-shot and fed in uneven pieces (which crosses the
 * 136-byte block edge at different points). */
static void test_keccak_kat(void **state)
{
	json_t *doc = tv_load("evm/keccak256_kat.json"), *v;
	json_t *vectors = json_object_get(doc, "vectors");
	size_t i, edges = 0;

	(void)state;
	assert_true(json_array_size(vectors) >= 8);
	json_array_foreach (vectors, i, v) {
		size_t in_len, want_len;
		uint8_t *in = tv_hex(tv_str(v, "input_hex"), &in_len);
		uint8_t *want = tv_hex(tv_str(v, "keccak256"), &want_len);
		uint8_t got[KECCAK256_DIGEST_LEN];
		struct keccak256_ctx ctx;

		assert_int_equal(want_len, 32);
		keccak256(in, in_len, got);
		assert_memory_equal(got, want, 32);

		keccak256_init(&ctx);
		for (size_t off = 0, step = 1; off < in_len; off += step, step = step * 3 + 1)
			keccak256_update(&ctx, in + off, step < in_len - off ? step : in_len - off);
		keccak256_final(&ctx, got);
		assert_memory_equal(got, want, 32);
		if (in_len >= 135 && in_len <= 137)
			edges++;
		free(in);
		free(want);
	}
	assert_true(edges >= 3); /* the 135/136/137-byte block edges are covered */
	json_decref(doc);
}

/* SHA3-256("") must not come out: that would be FIPS padding, not Keccak's. */
static void test_not_sha3(void **state)
{
	static const uint8_t sha3_empty[] = {0xa7, 0xff, 0xc6, 0xf8, 0xbf, 0x1e, 0xd7, 0x66};
	uint8_t got[32];

	(void)state;
	keccak256("", 0, got);
	assert_memory_not_equal(got, sha3_empty, sizeof(sha3_empty));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keccak_kat),
		cmocka_unit_test(test_not_sha3),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
