/* The Solana message decoder: the shared vectors decode to what their JSON says, and every
 * malformed class is refused. */
#include "../../support/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "chain/solana/message.h"

static const char *const vector_files[] = {
	"solana/web3js-legacy-system-transfer.json",
	"solana/generated-legacy-two-signers-priority-fee.json",
	"solana/generated-v0-transfer-memo-with-alt.json",
};

static void test_shortvec_vectors(void **state)
{
	json_t *doc = tv_load("solana/shortvec_vectors.json"), *v;
	size_t i;

	(void)state;
	json_array_foreach (json_object_get(doc, "valid"), i, v) {
		size_t n;
		uint8_t *b = tv_hex(tv_str(v, "hex"), &n);
		struct cursor c;
		uint16_t got;

		cursor_init(&c, b, n);
		assert_sg_ok(sol_shortvec_decode(&c, &got));
		assert_int_equal(got, json_integer_value(json_object_get(v, "value")));
		assert_sg_ok(cursor_expect_end(&c));
		free(b);
	}
	json_array_foreach (json_object_get(doc, "invalid"), i, v) {
		size_t n;
		uint8_t *b = tv_hex(tv_str(v, "hex"), &n);
		struct cursor c;
		uint16_t got;
		int r;

		cursor_init(&c, b, n);
		r = sol_shortvec_decode(&c, &got);
		/* "too long" and friends may decode a prefix: then bytes must be left over */
		if (r == 0 && cursor_expect_end(&c) == 0)
			fail_msg("invalid shortvec %s (%s) accepted", tv_str(v, "hex"),
				 tv_str(v, "why"));
		free(b);
	}
	json_decref(doc);
}

static void check_vector(const char *file)
{
	json_t *doc = tv_load(file), *ix, *signer;
	json_t *header = json_object_get(doc, "header");
	json_t *keys = json_object_get(doc, "account_keys_base58");
	size_t len, i;
	uint8_t *msg = tv_hex(tv_str(doc, "message_hex"), &len);
	struct sol_message m;

	assert_sg_ok(sol_message_decode(msg, len, &m));
	assert_int_equal(m.version,
			 json_is_string(json_object_get(doc, "version")) ? SOL_LEGACY : SOL_V0);
	assert_int_equal(m.num_required_signatures,
			 json_integer_value(json_object_get(header, "numRequiredSignatures")));
	assert_int_equal(m.num_readonly_signed,
			 json_integer_value(json_object_get(header, "numReadonlySignedAccounts")));
	assert_int_equal(m.num_readonly_unsigned, json_integer_value(json_object_get(
							  header, "numReadonlyUnsignedAccounts")));
	assert_int_equal(m.n_keys, json_array_size(keys));
	for (i = 0; i < m.n_keys; i++) {
		char b58[64];

		assert_sg_ok(addr_solana_encode(sol_message_key(&m, i), b58, sizeof(b58)));
		assert_string_equal(b58, json_string_value(json_array_get(keys, i)));
	}
	{
		char b58[64];

		assert_sg_ok(addr_solana_encode(m.recent_blockhash, b58, sizeof(b58)));
		assert_string_equal(b58, tv_str(doc, "recent_blockhash_base58"));
	}
	assert_int_equal(m.n_instructions, json_array_size(json_object_get(doc, "instructions")));
	json_array_foreach (json_object_get(doc, "instructions"), i, ix) {
		json_t *accts = json_object_get(ix, "accountKeyIndexes");
		size_t dlen;
		uint8_t *data = tv_hex(tv_str(ix, "data_hex"), &dlen);

		assert_int_equal(m.instructions[i].program_id_index,
				 json_integer_value(json_object_get(ix, "programIdIndex")));
		assert_int_equal(m.instructions[i].n_accounts, json_array_size(accts));
		for (size_t k = 0; k < json_array_size(accts); k++)
			assert_int_equal(m.instructions[i].accounts[k],
					 json_integer_value(json_array_get(accts, k)));
		assert_int_equal(m.instructions[i].data_len, dlen);
		assert_memory_equal(m.instructions[i].data, data, dlen);
		free(data);
	}
	if (m.version == SOL_V0) {
		json_t *lookups = json_object_get(doc, "address_table_lookups");

		assert_int_equal(m.n_lookups, json_array_size(lookups));
		assert_int_equal(m.lookups[0].n_writable,
				 json_array_size(json_object_get(json_array_get(lookups, 0),
								 "writable_indexes")));
		assert_true(m.n_loaded_writable + m.n_loaded_readonly >= 1);
		/* index space: static keys, loaded writable, then loaded read-only */
		assert_true(sol_message_is_writable(&m, m.n_keys));
	}
	json_array_foreach (json_object_get(doc, "signers"), i, signer) {
		size_t n, index;
		uint8_t *pub = tv_hex(tv_str(signer, "pubkey_hex"), &n);

		assert_true(sol_message_signer_index(&m, pub, &index));
		assert_int_equal(index, json_integer_value(json_object_get(signer, "index")));
		free(pub);
	}
	/* the fee payer is writable, the system program (last, read-only) is not */
	assert_true(sol_message_is_writable(&m, 0));
	{
		uint8_t stranger[32] = {0xee};
		size_t index;

		assert_false(sol_message_signer_index(&m, stranger, &index));
	}
	sol_message_free(&m);
	free(msg);
	json_decref(doc);
}

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vector_files) / sizeof(vector_files[0]); i++)
		check_vector(vector_files[i]);
}

/* A copy of a vector's message with one change; NULL-safe for size changes. */
struct mutant {
	uint8_t buf[1400];
	size_t len;
};

static void load_message(const char *file, struct mutant *m)
{
	json_t *doc = tv_load(file);
	uint8_t *msg = tv_hex(tv_str(doc, "message_hex"), &m->len);

	memcpy(m->buf, msg, m->len);
	free(msg);
	json_decref(doc);
}

static void expect_refused(const struct mutant *m, const char *why)
{
	struct sol_message out;
	int r = sol_message_decode(m->buf, m->len, &out);

	if (r == 0)
		fail_msg("accepted a message with %s", why);
	assert_null(out.instructions);
}

/* legacy transfer layout: [0..2] header, [3] key count 3, keys at 4..99, blockhash 100..131,
 * [132] instruction count 1, [133] program index 2, [134] 2 accounts, [135,136] indexes,
 * [137] data length 12, data 138..149. */
static void test_legacy_malformed(void **state)
{
	const char *file = vector_files[0];
	struct mutant m;
	struct sol_message ok;

	(void)state;
	load_message(file, &m);
	assert_int_equal(m.len, 150);
	assert_sg_ok(sol_message_decode(m.buf, m.len, &ok));
	sol_message_free(&ok);

	load_message(file, &m);
	m.buf[m.len++] = 0;
	expect_refused(&m, "a trailing byte");
	load_message(file, &m);
	m.len -= 1;
	expect_refused(&m, "a missing byte");
	load_message(file, &m);
	m.len = 0;
	expect_refused(&m, "no bytes");
	load_message(file, &m);
	m.len = 3;
	expect_refused(&m, "only a header");
	load_message(file, &m);
	m.buf[0] = 0;
	expect_refused(&m, "no signer");
	load_message(file, &m);
	m.buf[1] = 1;
	expect_refused(&m, "a read-only fee payer");
	load_message(file, &m);
	m.buf[2] = 3;
	expect_refused(&m, "more read-only accounts than keys");
	load_message(file, &m);
	m.buf[133] = 3;
	expect_refused(&m, "a program index out of range");
	load_message(file, &m);
	m.buf[133] = 0;
	expect_refused(&m, "the fee payer as program");
	load_message(file, &m);
	m.buf[136] = 3;
	expect_refused(&m, "an account index out of range");
	load_message(file, &m);
	m.buf[137] = 13;
	expect_refused(&m, "data running past the end");
	load_message(file, &m);
	m.buf[132] = 2;
	expect_refused(&m, "an instruction count too high");
	load_message(file, &m);
	memcpy(m.buf + 36, m.buf + 4, 32);
	expect_refused(&m, "a key listed twice");
	load_message(file, &m);
	m.buf[0] = 0x81;
	expect_refused(&m, "version 1");
	load_message(file, &m);
	m.buf[0] = 0xff;
	expect_refused(&m, "version 127");

	/* the key count as the alias 83 00 of 3: a byte longer, refused */
	load_message(file, &m);
	memmove(m.buf + 5, m.buf + 4, m.len - 4);
	m.buf[3] = 0x83;
	m.buf[4] = 0x00;
	m.len++;
	expect_refused(&m, "a non-minimal compact-u16");

	/* grow the data of the one instruction until the transaction passes 1232 bytes:
	 * 1 + 64 (one signature) + message */
	load_message(file, &m);
	{
		size_t data_len = 1232 - 65 - 139 + 1; /* one byte over: 65 + 139 + data */

		m.buf[137] = (uint8_t)(0x80 | (data_len & 0x7f));
		memmove(m.buf + 139, m.buf + 138, 12);
		m.buf[138] = (uint8_t)(data_len >> 7);
		memset(m.buf + 151, 0, data_len - 12);
		m.len = 139 + data_len;
		expect_refused(&m, "a transaction over 1232 bytes");
		m.buf[137] = (uint8_t)(0x80 | ((data_len - 1) & 0x7f));
		m.buf[138] = (uint8_t)((data_len - 1) >> 7);
		m.len--;
		assert_int_equal(sol_message_decode(m.buf, m.len, &ok), 0); /* exactly 1232 */
		sol_message_free(&ok);
	}
}

static void test_v0_malformed(void **state)
{
	const char *file = vector_files[2];
	struct mutant m;
	struct sol_message ok;
	size_t lookup_at;

	(void)state;
	load_message(file, &m);
	assert_sg_ok(sol_message_decode(m.buf, m.len, &ok));
	sol_message_free(&ok);
	/* the message ends: [count 1] [table 32] [1 writable: 00] [1 read-only: 01] */
	lookup_at = m.len - 37;
	assert_int_equal(m.buf[lookup_at], 1);

	load_message(file, &m);
	m.len -= 1;
	expect_refused(&m, "a cut lookup");
	load_message(file, &m);
	m.buf[m.len++] = 0;
	expect_refused(&m, "a trailing byte");
	load_message(file, &m);
	m.buf[lookup_at] = 2;
	expect_refused(&m, "a missing lookup");
	load_message(file, &m);
	m.buf[m.len - 2] = 5;
	expect_refused(&m, "a lookup list past the end");
	/* a lookup that loads nothing: [00] [00] */
	load_message(file, &m);
	m.buf[m.len - 4] = 0;
	m.buf[m.len - 3] = 0;
	m.len -= 2;
	expect_refused(&m, "a lookup that loads no address");
	/* no lookups at all: then index 4 (a loaded address) is out of range */
	load_message(file, &m);
	m.buf[lookup_at] = 0;
	m.len = lookup_at + 1;
	expect_refused(&m, "an index into loaded addresses that are not there");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shortvec_vectors),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_legacy_malformed),
		cmocka_unit_test(test_v0_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
