#include "../../support/testutil.h"

#include <string.h>

#include "common/cursor.h"

static void test_reads_in_order(void **state)
{
	static const uint8_t buf[] = {0x01, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0xaa, 0xbb,
				      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	struct cursor c;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;

	(void)state;
	cursor_init(&c, buf, sizeof(buf));
	assert_sg_ok(cursor_get_u8(&c, &u8));
	assert_int_equal(u8, 0x01);
	assert_sg_ok(cursor_get_u16le(&c, &u16));
	assert_int_equal(u16, 0x1234);
	assert_sg_ok(cursor_get_u32le(&c, &u32));
	assert_int_equal(u32, 0x12345678);
	assert_sg_ok(cursor_get_bytes(&c, 2, &p));
	assert_int_equal(p[0], 0xaa);
	assert_int_equal(p[1], 0xbb);
	assert_sg_ok(cursor_get_u64le(&c, &u64));
	assert_true(u64 == 0x0102030405060708ULL);
	assert_int_equal(cursor_remaining(&c), 0);
	assert_sg_ok(cursor_expect_end(&c));
}

static void test_short_read_fails_and_does_not_move(void **state)
{
	static const uint8_t buf[] = {1, 2, 3};
	struct cursor c;
	uint32_t u32;
	uint8_t u8;

	(void)state;
	cursor_init(&c, buf, sizeof(buf));
	assert_int_equal(cursor_get_u32le(&c, &u32), SG_ERR_TRUNCATED);
	assert_int_equal(cursor_offset(&c), 0);
	assert_sg_ok(cursor_get_u8(&c, &u8));
	assert_int_equal(cursor_skip(&c, 3), SG_ERR_TRUNCATED);
	assert_int_equal(cursor_offset(&c), 1);
	assert_int_equal(cursor_expect_end(&c), SG_ERR_TRAILING);
}

static void test_huge_lengths_do_not_overflow(void **state)
{
	static const uint8_t buf[] = {1, 2, 3, 4};
	struct cursor c, sub;
	const uint8_t *p = NULL;

	(void)state;
	cursor_init(&c, buf, sizeof(buf));
	assert_sg_ok(cursor_skip(&c, 2));
	/* off + n would wrap around: must still be refused */
	assert_int_equal(cursor_get_bytes(&c, SIZE_MAX, &p), SG_ERR_TRUNCATED);
	assert_int_equal(cursor_get_bytes(&c, SIZE_MAX - 1, &p), SG_ERR_TRUNCATED);
	assert_null(p);
	assert_int_equal(cursor_get_sub(&c, 3, &sub), SG_ERR_TRUNCATED);
	assert_sg_ok(cursor_get_sub(&c, 2, &sub));
	assert_int_equal(cursor_remaining(&sub), 2);
	assert_sg_ok(cursor_expect_end(&c));
}

static void test_sub_cursor_is_bounded(void **state)
{
	static const uint8_t buf[] = {9, 8, 7, 6};
	struct cursor c, sub;
	uint8_t u8;
	uint16_t u16;

	(void)state;
	cursor_init(&c, buf, sizeof(buf));
	assert_sg_ok(cursor_get_sub(&c, 1, &sub));
	assert_int_equal(cursor_get_u16le(&sub, &u16), SG_ERR_TRUNCATED);
	assert_sg_ok(cursor_get_u8(&sub, &u8));
	assert_int_equal(u8, 9);
	assert_sg_ok(cursor_peek_u8(&c, &u8));
	assert_int_equal(u8, 8);
	assert_int_equal(cursor_offset(&c), 1);
}

static void test_empty_and_null(void **state)
{
	struct cursor c;
	uint8_t u8;
	uint32_t be;
	static const uint8_t buf[] = {0xde, 0xad, 0xbe, 0xef};

	(void)state;
	cursor_init(&c, NULL, 10);
	assert_int_equal(cursor_remaining(&c), 0);
	assert_int_equal(cursor_get_u8(&c, &u8), SG_ERR_TRUNCATED);
	assert_sg_ok(cursor_expect_end(&c));
	cursor_init(&c, buf, sizeof(buf));
	assert_sg_ok(cursor_get_u32be(&c, &be));
	assert_int_equal(be, 0xdeadbeef);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_in_order),
		cmocka_unit_test(test_short_read_fails_and_does_not_move),
		cmocka_unit_test(test_huge_lengths_do_not_overflow),
		cmocka_unit_test(test_sub_cursor_is_bounded),
		cmocka_unit_test(test_empty_and_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
