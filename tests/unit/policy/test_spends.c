/* What a payload spends (policy/spends.c), table-driven: each named row is a payload, whether its
 * spends can be read, and what it spends of which asset (fees included), with bounds just inside
 * and just outside a limit. The EVM selector table is checked against keccak256 of its
 * signatures, so a wrong selector cannot hide. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"
#include "policy/limits.h"
#include "policy/policy.h"
#include "policy_internal.h"
#include "chain/evm/eip712.h"
#include "chain/evm/rlp.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

#define U256_MAX "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define U255     "57896044618658097711785492504343953926634992332820282019728792003956564819968"

/* A decimal number as 256 bits, big-endian. */
static void u256_dec(const char *dec, uint8_t out[32])
{
	if (!limits_u256_decimal(dec, out))
		fail_msg("'%s' is not a decimal number of 256 bits", dec);
}

/* What spends say of asset: absent when want is NULL, else exactly want (decimal). */
static void check_amount(const char *row, const struct policy_spend *sp, size_t n,
			 const char *asset, const char *want)
{
	const struct policy_spend *e = NULL;
	uint8_t w[32];
	char got[80];

	for (size_t i = 0; i < n && e == NULL; i++)
		if (strcmp(sp[i].asset, asset) == 0)
			e = &sp[i];
	if (want == NULL) {
		if (e != NULL)
			fail_msg("%s: spends %s, which it should not", row, asset);
		return;
	}
	if (e == NULL)
		fail_msg("%s: no %s spend, want %s", row, asset, want);
	u256_dec(want, w);
	if (memcmp(e->amount, w, 32) != 0) {
		evm_uint_decimal(e->amount, 32, got);
		fail_msg("%s: %s is %s, want %s", row, asset, got, want);
	}
}

/* Whether the native spend is within max (a limit of max), as the limit would judge it. */
static void check_bound(const char *row, const struct policy_spend *sp, size_t n, const char *max,
			bool over)
{
	uint8_t m[32], zero[32] = {0};
	const uint8_t *amount = zero;

	if (max == NULL)
		return;
	u256_dec(max, m);
	for (size_t i = 0; i < n; i++)
		if (strcmp(sp[i].asset, "native") == 0)
			amount = sp[i].amount;
	if ((memcmp(amount, m, 32) > 0) != over)
		fail_msg("%s: the native spend is %s the limit %s, want %s", row,
			 over ? "within" : "over", max, over ? "over" : "within");
}

/* ---- 256-bit arithmetic ------------------------------------------------------------------ */

static void test_u256(void **state)
{
	static const struct {
		const char *name;
		const char *a, *b, *product; /* product NULL: does not fit (saturates) */
	} rows[] = {
		{.name = "zero", .a = "0", .b = U256_MAX, .product = "0"},
		{.name = "small", .a = "21000", .b = "50000000000", .product = "1050000000000000"},
		{.name = "(2^128-1)^2 fits",
		 .a = "340282366920938463463374607431768211455",
		 .b = "340282366920938463463374607431768211455",
		 .product = "1157920892373161954235709850086879078525894199317986871125308347930495"
			    "93217025"},
		{.name = "2^128 x 2^128 does not",
		 .a = "340282366920938463463374607431768211456",
		 .b = "340282366920938463463374607431768211456"},
		{.name = "2^255 x 1 fits", .a = U255, .b = "1", .product = U255},
		{.name = "2^255 x 2 does not", .a = U255, .b = "2"},
		{.name = "max x 1 fits", .a = U256_MAX, .b = "1", .product = U256_MAX},
	};
	uint8_t a[32], b[32], p[32], want[32], max[32];

	(void)state;
	u256_dec(U256_MAX, max);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool fits;

		u256_dec(rows[i].a, a);
		u256_dec(rows[i].b, b);
		fits = policy_u256_mul(a, b, p);
		if (fits != (rows[i].product != NULL))
			fail_msg("%s: fits is %d", rows[i].name, fits);
		u256_dec(rows[i].product != NULL ? rows[i].product : U256_MAX, want);
		if (memcmp(p, want, 32) != 0)
			fail_msg("%s: wrong product", rows[i].name);
		/* the other order gives the same */
		assert_int_equal(policy_u256_mul(b, a, p), fits);
		assert_memory_equal(p, want, 32);
	}
	/* addition saturates */
	u256_dec(U256_MAX, a);
	u256_dec("1", b);
	assert_false(policy_u256_add(a, b));
	assert_memory_equal(a, max, 32);
	u256_dec("115792089237316195423570985008687907853269984665640564039457584007913129639934",
		 a);
	assert_true(policy_u256_add(a, b));
	assert_memory_equal(a, max, 32);
}

/* ---- EVM: the selector table ---------------------------------------------------------------- */

/* What the table must say of calls the review named (and those found since). */
static const char *const required_unreadable[] = {
	"transferAndCall(address,uint256)",
	"transferAndCall(address,uint256,bytes)",
	"transferFromAndCall(address,address,uint256)",
	"transferFromAndCall(address,address,uint256,bytes)",
	"approveAndCall(address,uint256)",
	"approveAndCall(address,uint256,bytes)",
	"send(address,uint256,bytes)",
	"operatorSend(address,address,uint256,bytes,bytes)",
	"authorizeOperator(address)",
	"burn(uint256,bytes)",
	"operatorBurn(address,uint256,bytes,bytes)",
	"setApprovalForAll(address,bool)",
	"safeTransferFrom(address,address,uint256)",
	"safeTransferFrom(address,address,uint256,bytes)",
	"safeTransferFrom(address,address,uint256,uint256,bytes)",
	"safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
	"permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
	"permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)",
	"approve(address,address,uint160,uint48)",
	"transferFrom(address,address,uint160,address)",
	"permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)",
	"permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)",
	"multicall(bytes[])",
	"multicall(uint256,bytes[])",
	"execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,"
	"bytes)",
	"transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,"
	"bytes32)",
};
static const char *const required_read[] = {
	"transfer(address,uint256)",
	"transferFrom(address,address,uint256)",
	"approve(address,uint256)",
	"increaseAllowance(address,uint256)",
};

static const struct policy_evm_call *call_named(const char *signature)
{
	for (size_t i = 0; i < policy_evm_calls_count; i++)
		if (strcmp(policy_evm_calls[i].signature, signature) == 0)
			return &policy_evm_calls[i];
	return NULL;
}

static void test_evm_selectors(void **state)
{
	(void)state;
	assert_true(policy_evm_calls_count >= sizeof(required_unreadable) / sizeof(char *));
	for (size_t i = 0; i < policy_evm_calls_count; i++) {
		const struct policy_evm_call *c = &policy_evm_calls[i];
		uint8_t h[32];

		keccak256(c->signature, strlen(c->signature), h);
		if (memcmp(h, c->selector, 4) != 0)
			fail_msg("%s: the table says %02x%02x%02x%02x, keccak256 says "
				 "%02x%02x%02x%02x",
				 c->signature, c->selector[0], c->selector[1], c->selector[2],
				 c->selector[3], h[0], h[1], h[2], h[3]);
		if (strchr(c->signature, ' ') != NULL || c->why == NULL || c->why[0] == '\0')
			fail_msg("%s: not canonical, or no reason given", c->signature);
		if (c->read_len != 0 && (c->read_len < 4 + 32 || (c->read_len - 4) % 32 != 0))
			fail_msg("%s: a read length that is not whole words", c->signature);
		for (size_t k = i + 1; k < policy_evm_calls_count; k++)
			if (memcmp(policy_evm_calls[k].selector, c->selector, 4) == 0)
				fail_msg("%s and %s share a selector", c->signature,
					 policy_evm_calls[k].signature);
	}
	for (size_t i = 0; i < sizeof(required_unreadable) / sizeof(required_unreadable[0]); i++) {
		const struct policy_evm_call *c = call_named(required_unreadable[i]);

		if (c == NULL || c->read_len != 0)
			fail_msg("%s must be in the table as unreadable", required_unreadable[i]);
	}
	for (size_t i = 0; i < sizeof(required_read) / sizeof(required_read[0]); i++) {
		const struct policy_evm_call *c = call_named(required_read[i]);

		if (c == NULL || c->read_len == 0)
			fail_msg("%s must be in the table as read", required_read[i]);
	}
	/* decreaseAllowance only lowers an allowance: it is not in the table */
	assert_null(call_named("decreaseAllowance(address,uint256)"));
}

/* ---- EVM: transactions ------------------------------------------------------------------ */

#define TOKEN       "0x00000000000000000000000000000000000000cc"
#define STRANGER    "0x00000000000000000000000000000000000000dd" /* a contract no rule names */
#define TOKEN_ASSET "erc20:0x00000000000000000000000000000000000000cc"
#define W_OTHER     "00000000000000000000000000000000000000000000000000000000000000bb"
#define W_MINTER    "00000000000000000000000000000000000000000000000000000000000000aa"
#define W_500       "00000000000000000000000000000000000000000000000000000000000001f4"
#define W_MAX       "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

struct evm_row {
	const char *name;
	int type;          /* 0 legacy (EIP-155), 1 EIP-2930, 2 EIP-1559 */
	const char *to;    /* NULL: contract creation */
	const char *data;  /* hex */
	const char *value; /* decimal; NULL: 0 */
	const char *gas;
	const char *fee; /* gasPrice, or maxFeePerGas for type 2 */
	const char *tip; /* maxPriorityFeePerGas (type 2) */
	bool unreadable;
	const char *native; /* decimal; NULL: no native spend */
	const char *erc20;  /* of TOKEN; NULL: none */
	const char *max;    /* a native limit the spend is within, or over when .over */
	bool over;
};

static void put_dec(struct rlp_buf *b, const char *dec)
{
	uint8_t v[32];

	u256_dec(dec != NULL ? dec : "0", v);
	rlp_put_uint_be(b, v, 32);
}

/* Builds and decodes the row's transaction into tx (pointing into *b). */
static void evm_build(const struct evm_row *row, struct rlp_buf *b, struct evm_tx *tx)
{
	uint8_t to[20], data[600];
	size_t data_len = 0, start;
	int r;

	if (row->type != 0)
		rlp_put_raw(b, (const uint8_t[]){(uint8_t)row->type}, 1);
	start = b->len;
	if (row->type != 0)
		rlp_put_u64(b, 137);
	rlp_put_u64(b, 1); /* nonce */
	if (row->type == 2)
		put_dec(b, row->tip);
	put_dec(b, row->fee);
	put_dec(b, row->gas);
	if (row->to != NULL) {
		assert_sg_ok(addr_evm_parse(row->to, to));
		rlp_put_bytes(b, to, 20);
	} else {
		rlp_put_bytes(b, NULL, 0);
	}
	put_dec(b, row->value);
	if (row->data != NULL &&
	    hex_decode(row->data, strlen(row->data), data, sizeof(data), &data_len) != 0)
		fail_msg("%s: bad hex", row->name);
	rlp_put_bytes(b, data, data_len);
	if (row->type != 0) {
		size_t al = b->len;

		rlp_wrap_list(b, al); /* an empty access list */
	} else {
		rlp_put_u64(b, 137);
		rlp_put_u64(b, 0);
		rlp_put_u64(b, 0);
	}
	rlp_wrap_list(b, start);
	assert_sg_ok(rlp_buf_status(b));
	if ((r = evm_tx_decode(b->data, b->len, tx)) != 0)
		fail_msg("%s: does not decode: %s", row->name, sg_errmsg(r));
}

static void check_evm_row(const struct evm_row *row)
{
	struct rlp_buf b = {0};
	struct evm_tx tx;
	struct policy_spend sp[POLICY_SPENDS_MAX];
	size_t n = 0;
	bool readable;

	evm_build(row, &b, &tx);
	readable = policy_spends_evm(&tx, sp, &n);
	if (readable == row->unreadable)
		fail_msg("%s: %s, want %s", row->name, readable ? "readable" : "unreadable",
			 row->unreadable ? "unreadable" : "readable");
	if (readable) {
		check_amount(row->name, sp, n, "native", row->native);
		check_amount(row->name, sp, n, TOKEN_ASSET, row->erc20);
		check_bound(row->name, sp, n, row->max, row->over);
	}
	rlp_buf_free(&b);
}

static void test_evm_spends(void **state)
{
	static const struct evm_row rows[] = {
		/* fees count: value + gas limit x (maxFeePerGas | gasPrice) */
		{.name = "legacy: value + gas x gasPrice",
		 .type = 0,
		 .to = STRANGER,
		 .value = "1000",
		 .gas = "21000",
		 .fee = "50",
		 .native = "1051000"},
		{.name = "EIP-2930: gas x gasPrice",
		 .type = 1,
		 .to = STRANGER,
		 .gas = "21000",
		 .fee = "7",
		 .native = "147000"},
		{.name = "EIP-1559: gas x maxFeePerGas, not the tip",
		 .type = 2,
		 .to = STRANGER,
		 .gas = "21000",
		 .fee = "100",
		 .tip = "2",
		 .native = "2100000"},
		{.name = "value + fee exactly at the limit",
		 .type = 2,
		 .to = STRANGER,
		 .value = "4000000000000000",
		 .gas = "50000",
		 .fee = "20000000000",
		 .tip = "1",
		 .native = "5000000000000000",
		 .max = "5000000000000000"},
		{.name = "one gas more is over the limit",
		 .type = 2,
		 .to = STRANGER,
		 .value = "4000000000000000",
		 .gas = "50001",
		 .fee = "20000000000",
		 .tip = "1",
		 .native = "5000020000000000",
		 .max = "5000000000000000",
		 .over = true},
		{.name = "the fee alone is over a limit the value is within",
		 .type = 0,
		 .to = STRANGER,
		 .value = "1",
		 .gas = "21000",
		 .fee = "1",
		 .native = "21001",
		 .max = "21000",
		 .over = true},
		{.name = "nothing to pay: no native spend", .type = 2, .to = STRANGER},
		{.name = "gas x price past 2^256 saturates",
		 .type = 2,
		 .to = STRANGER,
		 .gas = U255,
		 .fee = "2",
		 .native = U256_MAX},
		{.name = "value + fee past 2^256 saturates",
		 .type = 0,
		 .to = STRANGER,
		 .value = U256_MAX,
		 .gas = "1",
		 .fee = "1",
		 .native = U256_MAX},
		/* token calls that are read, with their fee */
		{.name = "transfer",
		 .type = 2,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000",
		 .erc20 = "500"},
		{.name = "transferFrom",
		 .type = 2,
		 .to = TOKEN,
		 .data = "23b872dd" W_MINTER W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000",
		 .erc20 = "500"},
		{.name = "approve, unlimited",
		 .type = 2,
		 .to = TOKEN,
		 .data = "095ea7b3" W_OTHER W_MAX,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000",
		 .erc20 = U256_MAX},
		{.name = "increaseAllowance",
		 .type = 2,
		 .to = TOKEN,
		 .data = "39509351" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000",
		 .erc20 = "500"},
		{.name = "increaseApproval",
		 .type = 2,
		 .to = TOKEN,
		 .data = "d73dd623" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000",
		 .erc20 = "500"},
		/* a wrong length leaves the amount where it is not read */
		{.name = "transfer with a trailing byte",
		 .type = 2,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER W_500 "00",
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		{.name = "transfer one word short",
		 .type = 2,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER,
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		{.name = "transferFrom of a transfer's length",
		 .type = 2,
		 .to = TOKEN,
		 .data = "23b872dd" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		/* calls that move nothing of the signer's (beyond value and gas) */
		{.name = "decreaseAllowance is harmless",
		 .type = 2,
		 .to = TOKEN,
		 .data = "a457c2d7" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000"},
		{.name = "mint(address,uint256) is harmless",
		 .type = 2,
		 .to = STRANGER,
		 .data = "40c10f19" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .native = "60000"},
		{.name = "fewer than 4 bytes of data",
		 .type = 2,
		 .to = STRANGER,
		 .data = "4000ae",
		 .gas = "21000",
		 .fee = "1",
		 .native = "21000"},
		{.name = "creation: init code is no call",
		 .type = 2,
		 .to = NULL,
		 .data = "4000aea0" W_OTHER W_500,
		 .gas = "100000",
		 .fee = "1",
		 .native = "100000"},
		/* calls that move value in ways not read, to a contract no rule names */
		{.name = "transferAndCall(address,uint256,bytes) to a stranger",
		 .type = 2,
		 .to = STRANGER,
		 .data = "4000aea0" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		{.name = "transferAndCall(address,uint256) to a stranger",
		 .type = 2,
		 .to = STRANGER,
		 .data = "1296ee62" W_OTHER W_500,
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		{.name = "setApprovalForAll",
		 .type = 0,
		 .to = STRANGER,
		 .data = "a22cb465" W_OTHER
			 "0000000000000000000000000000000000000000000000000000000000000001",
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
		{.name = "multicall(bytes[]) with no calls",
		 .type = 2,
		 .to = STRANGER,
		 .data = "ac9650d8"
			 "0000000000000000000000000000000000000000000000000000000000000020"
			 "0000000000000000000000000000000000000000000000000000000000000000",
		 .gas = "60000",
		 .fee = "1",
		 .unreadable = true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_evm_row(&rows[i]);
}

/* Every call the table does not read is unreadable sent to any contract, at any length; every
 * call it reads is unreadable at any length but its own. */
static void test_evm_table_calls(void **state)
{
	static const size_t arg_bytes[] = {0, 1, 31, 32, 64, 65, 96, 128, 196, 260};

	(void)state;
	for (size_t i = 0; i < policy_evm_calls_count; i++) {
		const struct policy_evm_call *c = &policy_evm_calls[i];

		for (size_t k = 0; k < sizeof(arg_bytes) / sizeof(arg_bytes[0]); k++) {
			char hex[2 * (4 + 260) + 1], name[200];
			struct evm_row row = {
				.type = 2, .to = STRANGER, .gas = "60000", .fee = "1"};
			bool exact = c->read_len == 4 + arg_bytes[k];

			assert_sg_ok(hex_encode(c->selector, 4, hex, sizeof(hex)));
			memset(hex + 8, '0', 2 * arg_bytes[k]);
			hex[8 + 2 * arg_bytes[k]] = '\0';
			snprintf(name, sizeof(name), "%s with %zu bytes of arguments", c->signature,
				 arg_bytes[k]);
			row.name = name;
			row.data = hex;
			row.unreadable = !exact;
			row.native = "60000";
			row.erc20 = NULL; /* the asset is the stranger contract, not TOKEN */
			check_evm_row(&row);
		}
	}
}

/* ---- EIP-712 -------------------------------------------------------------------------------- */

struct typed_row {
	const char *name;
	const char *types; /* as encodeType writes them: "Name(type field,...)Other(...)" */
	const char *primary;
	const char *message; /* the message object */
	bool unreadable;
};

#define DOMAIN                                                                                     \
	"{\"name\":\"FanPass\",\"version\":\"1\",\"chainId\":137,"                                 \
	"\"verifyingContract\":\"0x00000000000000000000000000000000000000cc\"}"
#define A_AA "\"0x00000000000000000000000000000000000000aa\""
#define A_BB "\"0x00000000000000000000000000000000000000bb\""

/* "A(uint256 x,B b)B(address c)" as the members of a "types" object. */
static void types_json(const char *spec, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = spec;

	while (*p) {
		const char *open = strchr(p, '('), *close = strchr(p, ')');

		if (open == NULL || close == NULL || close < open)
			fail_msg("bad types '%s'", spec);
		o += (size_t)snprintf(out + o, outsz - o, "%s\"%.*s\":[", o ? "," : "",
				      (int)(open - p), p);
		for (const char *f = open + 1; f < close;) {
			const char *end = memchr(f, ',', (size_t)(close - f)), *sp;

			if (end == NULL)
				end = close;
			sp = memchr(f, ' ', (size_t)(end - f));
			if (sp == NULL)
				fail_msg("bad field in '%s'", spec);
			o += (size_t)snprintf(out + o, outsz - o,
					      "%s{\"name\":\"%.*s\",\"type\":\"%.*s\"}",
					      f == open + 1 ? "" : ",", (int)(end - sp - 1), sp + 1,
					      (int)(sp - f), f);
			f = end == close ? close : end + 1;
		}
		o += (size_t)snprintf(out + o, outsz - o, "]");
		if (o >= outsz)
			fail_msg("types '%s' too long", spec);
		p = close + 1;
	}
}

static void test_eip712_spends(void **state)
{
	static const struct typed_row rows[] = {
		{.name = "a login",
		 .types = "Login(string who)",
		 .primary = "Login",
		 .message = "{\"who\":\"fan\"}"},
		{.name = "EIP-2612 Permit",
		 .types = "Permit(address owner,address spender,uint256 value,uint256 nonce,"
			  "uint256 deadline)",
		 .primary = "Permit",
		 .message = "{\"owner\":" A_AA ",\"spender\":" A_BB
			    ",\"value\":1,\"nonce\":0,\"deadline\":1}",
		 .unreadable = true},
		{.name = "DAI Permit",
		 .types = "Permit(address holder,address spender,uint256 nonce,uint256 expiry,"
			  "bool allowed)",
		 .primary = "Permit",
		 .message = "{\"holder\":" A_AA ",\"spender\":" A_BB
			    ",\"nonce\":0,\"expiry\":1,\"allowed\":true}",
		 .unreadable = true},
		{.name = "Permit2 PermitSingle",
		 .types = "PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)"
			  "PermitDetails(address token,uint160 amount,uint48 expiration,uint48 "
			  "nonce)",
		 .primary = "PermitSingle",
		 .message = "{\"details\":{\"token\":" A_AA ",\"amount\":1,\"expiration\":1,"
			    "\"nonce\":0},\"spender\":" A_BB ",\"sigDeadline\":1}",
		 .unreadable = true},
		{.name = "Permit2 PermitBatchTransferFrom",
		 .types = "PermitBatchTransferFrom(TokenPermissions[] permitted,address spender,"
			  "uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 "
			  "amount)",
		 .primary = "PermitBatchTransferFrom",
		 .message = "{\"permitted\":[{\"token\":" A_AA ",\"amount\":1}],\"spender\":" A_BB
			    ",\"nonce\":0,\"deadline\":1}",
		 .unreadable = true},
		{.name = "Permit2 PermitWitnessTransferFrom",
		 .types = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,"
			  "uint256 nonce,uint256 deadline,Witness witness)"
			  "TokenPermissions(address token,uint256 amount)Witness(address user)",
		 .primary = "PermitWitnessTransferFrom",
		 .message = "{\"permitted\":{\"token\":" A_AA ",\"amount\":1},\"spender\":" A_BB
			    ",\"nonce\":0,\"deadline\":1,\"witness\":{\"user\":" A_AA "}}",
		 .unreadable = true},
		/* the name alone, in any case, with no address field at all */
		{.name = "a type named like a permit, in lower case",
		 .types = "mypermitnote(uint256 x)",
		 .primary = "mypermitnote",
		 .message = "{\"x\":1}",
		 .unreadable = true},
		{.name = "a type named PERMIT",
		 .types = "PERMIT(uint256 x)",
		 .primary = "PERMIT",
		 .message = "{\"x\":1}",
		 .unreadable = true},
		{.name = "a permit two references deep",
		 .types = "Login(Wrapper w)Wrapper(PermitData[] p)PermitData(uint256 x)",
		 .primary = "Login",
		 .message = "{\"w\":{\"p\":[{\"x\":1}]}}",
		 .unreadable = true},
		/* orders and meta-transactions */
		{.name = "Seaport OrderComponents",
		 .types = "OrderComponents(address offerer,address zone,uint256 counter)",
		 .primary = "OrderComponents",
		 .message = "{\"offerer\":" A_AA ",\"zone\":" A_BB ",\"counter\":0}",
		 .unreadable = true},
		{.name = "EIP-2771 ForwardRequest",
		 .types = "ForwardRequest(address from,address to,uint256 value,uint256 gas,"
			  "uint256 nonce,bytes data)",
		 .primary = "ForwardRequest",
		 .message = "{\"from\":" A_AA ",\"to\":" A_BB
			    ",\"value\":0,\"gas\":1,\"nonce\":0,\"data\":\"0x\"}",
		 .unreadable = true},
		{.name = "MetaTransaction",
		 .types = "MetaTransaction(uint256 nonce,address from,bytes functionSignature)",
		 .primary = "MetaTransaction",
		 .message = "{\"nonce\":0,\"from\":" A_AA ",\"functionSignature\":\"0x\"}",
		 .unreadable = true},
		{.name = "Safe SafeTx",
		 .types = "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 "
			  "nonce)",
		 .primary = "SafeTx",
		 .message = "{\"to\":" A_BB
			    ",\"value\":1,\"data\":\"0x\",\"operation\":0,\"nonce\":0}",
		 .unreadable = true},
		{.name = "EIP-3009 TransferWithAuthorization",
		 .types = "TransferWithAuthorization(address from,address to,uint256 value,"
			  "uint256 validAfter,uint256 validBefore,bytes32 nonce)",
		 .primary = "TransferWithAuthorization",
		 .message = "{\"from\":" A_AA ",\"to\":" A_BB ",\"value\":1,\"validAfter\":0,"
			    "\"validBefore\":1,\"nonce\":\"0x" W_500 "\"}",
		 .unreadable = true},
		/* address fields named spender or operator, anywhere in what is signed */
		{.name = "an address field named spender",
		 .types = "Approval(address spender,uint256 amount)",
		 .primary = "Approval",
		 .message = "{\"spender\":" A_BB ",\"amount\":1}",
		 .unreadable = true},
		{.name = "an address field named Operator",
		 .types = "Grant(address Operator,bool ok)",
		 .primary = "Grant",
		 .message = "{\"Operator\":" A_BB ",\"ok\":true}",
		 .unreadable = true},
		{.name = "an array of addresses named spender",
		 .types = "Session(address[] spender)",
		 .primary = "Session",
		 .message = "{\"spender\":[" A_BB "]}",
		 .unreadable = true},
		{.name = "a spender in a referenced struct",
		 .types = "Login(string who,Session s)Session(address spender)",
		 .primary = "Login",
		 .message = "{\"who\":\"fan\",\"s\":{\"spender\":" A_BB "}}",
		 .unreadable = true},
		/* what is not signed, or not an address, does not count */
		{.name = "a string field named spender",
		 .types = "Note(string spender)",
		 .primary = "Note",
		 .message = "{\"spender\":\"me\"}"},
		{.name = "an address field that only starts with spender",
		 .types = "Login(address spenderAccount)",
		 .primary = "Login",
		 .message = "{\"spenderAccount\":" A_AA "}"},
		{.name = "a Permit type defined but not referenced",
		 .types = "Login(string who)Permit(address spender)",
		 .primary = "Login",
		 .message = "{\"who\":\"fan\"}"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char types[2048], *text = NULL;
		struct eip712 td;
		struct policy_spend sp[POLICY_SPENDS_MAX];
		size_t n = 99;
		bool readable;
		int r;

		types_json(rows[i].types, types, sizeof(types));
		assert_true(asprintf(&text,
				     "{\"types\":{%s},\"primaryType\":\"%s\",\"domain\":" DOMAIN
				     ",\"message\":%s}",
				     types, rows[i].primary, rows[i].message) > 0);
		if ((r = eip712_hash_text(text, strlen(text), &td)) != 0)
			fail_msg("%s: does not decode: %s", rows[i].name, sg_errmsg(r));
		readable = policy_spends_eip712(&td, sp, &n);
		if (readable == rows[i].unreadable)
			fail_msg("%s: %s", rows[i].name, readable ? "readable" : "unreadable");
		assert_int_equal(n, 0);
		free(text);
	}
}

/* More address fields than the decoder keeps, and a view the decoder did not fill. */
static void test_eip712_incomplete(void **state)
{
	struct eip712 td;
	struct policy_spend sp[POLICY_SPENDS_MAX];
	size_t n;

	(void)state;
	memset(&td, 0, sizeof(td));
	assert_false(policy_spends_eip712(&td, sp, &n));
	td.n_struct_types = 1;
	snprintf(td.struct_types[0], sizeof(td.struct_types[0]), "Login");
	assert_true(policy_spends_eip712(&td, sp, &n));
	td.address_fields_incomplete = true;
	assert_false(policy_spends_eip712(&td, sp, &n));
	td.address_fields_incomplete = false;
	td.n_struct_types = EIP712_TYPES_MAX + 1;
	assert_false(policy_spends_eip712(&td, sp, &n));
}

/* ---- Solana ----------------------------------------------------------------------------- */

/* The accounts of every message: two possible signers, writable accounts, then the programs
 * (read-only). K_LOADED is the one address a v0 lookup table loads. */
enum {
	K_ME,       /* the signing key */
	K_COSIGNER, /* a second signer when .signers is 2 */
	K_DEST,
	K_MINT,
	K_SOURCE,
	K_SYSTEM,
	K_BUDGET,
	K_TOKEN,
	K_TOKEN22,
	K_MEMO1,
	K_MEMO2,
	K_OTHER, /* a program no table knows */
	K_ED25519,
	K_COUNT,
	K_LOADED = K_COUNT,
};
#define N_PROGRAMS (K_COUNT - K_SYSTEM)

static const char *const program_ids[N_PROGRAMS] = {
	"11111111111111111111111111111111",
	"ComputeBudget111111111111111111111111111111",
	"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
	"TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
	"Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
	"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
	NULL, /* K_OTHER: 0x44 x 32 */
	"Ed25519SigVerify111111111111111111111111111",
};

struct sol_ix_spec {
	uint8_t program;     /* a K_ */
	uint8_t accounts[6]; /* K_ */
	uint8_t n_accounts;
	const char *data; /* hex */
};

struct sol_row {
	const char *name;
	uint8_t signers;          /* 1 (the default) or 2 */
	bool payer_other;         /* the cosigner is the fee payer (account 0) */
	bool lookup;              /* v0, with a lookup table that loads K_LOADED */
	struct sol_ix_spec ix[9]; /* up to the first with no program */
	bool unreadable;
	const char *native; /* decimal; NULL: no native spend */
	const char *spl;    /* of spl:<K_MINT> */
	const char *max;    /* a native limit the spend is within, or over when .over */
	bool over;
};

static void put_shortvec(uint8_t *m, size_t *o, size_t v)
{
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		m[(*o)++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v);
}

static void key_of(int k, uint8_t out[32])
{
	static const uint8_t fill[K_SYSTEM] = {0x11, 0x12, 0x22, 0x72, 0x71};

	if (k < K_SYSTEM)
		memset(out, fill[k], 32);
	else if (program_ids[k - K_SYSTEM] == NULL)
		memset(out, 0x44, 32);
	else
		assert_sg_ok(addr_solana_parse(program_ids[k - K_SYSTEM], out));
}

/* The position of an account in the message (the payer first). */
static uint8_t position(const struct sol_row *row, uint8_t k)
{
	if (row->payer_other && (k == K_ME || k == K_COSIGNER))
		return k == K_ME ? K_COSIGNER : K_ME;
	return k;
}

static size_t sol_build(const struct sol_row *row, uint8_t *m)
{
	size_t o = 0, n_ix = 0;

	while (n_ix < sizeof(row->ix) / sizeof(row->ix[0]) && row->ix[n_ix].program != K_ME)
		n_ix++; /* K_ME (account 0, the fee payer) is never a program */

	if (row->lookup)
		m[o++] = 0x80;
	m[o++] = row->signers == 0 ? 1 : row->signers;
	m[o++] = 0;
	m[o++] = N_PROGRAMS;
	put_shortvec(m, &o, K_COUNT);
	for (int pos = 0; pos < K_COUNT; pos++) {
		int k = pos;

		if (row->payer_other && pos <= K_COSIGNER)
			k = pos == K_ME ? K_COSIGNER : K_ME;
		key_of(k, m + o);
		o += 32;
	}
	memset(m + o, 0x55, 32), o += 32; /* blockhash */
	put_shortvec(m, &o, n_ix);
	for (size_t i = 0; i < n_ix; i++) {
		const struct sol_ix_spec *ix = &row->ix[i];
		size_t len = 0;

		m[o++] = position(row, ix->program);
		put_shortvec(m, &o, ix->n_accounts);
		for (size_t a = 0; a < ix->n_accounts; a++)
			m[o++] = position(row, ix->accounts[a]);
		if (ix->data != NULL &&
		    hex_decode(ix->data, strlen(ix->data), m + o + 2, 300, &len) != 0)
			fail_msg("%s: bad hex in instruction %zu", row->name, i);
		/* the data after a shortvec of its length (one or two bytes) */
		if (len < 0x80) {
			memmove(m + o + 1, m + o + 2, len);
			m[o++] = (uint8_t)len;
		} else {
			m[o++] = (uint8_t)(len | 0x80);
			m[o++] = (uint8_t)(len >> 7);
		}
		o += len;
	}
	if (row->lookup) {
		m[o++] = 1;
		memset(m + o, 0x66, 32), o += 32;
		m[o++] = 1, m[o++] = 0; /* one writable address */
		m[o++] = 0;
	}
	return o;
}

static void check_sol_row(const struct sol_row *row)
{
	uint8_t buf[1232], me[32], mint[32];
	char asset[80] = "spl:";
	size_t len = sol_build(row, buf), n = 0;
	struct sol_message m;
	struct policy_spend sp[POLICY_SPENDS_MAX];
	bool readable;
	int r;

	if ((r = sol_message_decode(buf, len, &m)) != 0)
		fail_msg("%s: does not decode: %s", row->name, sg_errmsg(r));
	key_of(K_ME, me);
	key_of(K_MINT, mint);
	assert_sg_ok(addr_solana_encode(mint, asset + 4, sizeof(asset) - 4));
	readable = policy_spends_solana(&m, me, sp, &n);
	if (readable == row->unreadable)
		fail_msg("%s: %s, want %s", row->name, readable ? "readable" : "unreadable",
			 row->unreadable ? "unreadable" : "readable");
	if (readable) {
		check_amount(row->name, sp, n, "native", row->native);
		check_amount(row->name, sp, n, asset, row->spl);
		check_bound(row->name, sp, n, row->max, row->over);
	}
	sol_message_free(&m);
}

/* little-endian values */
#define LE64_0       "0000000000000000"
#define LE64_300     "2c01000000000000"
#define LE64_400     "9001000000000000"
#define LE64_700     "bc02000000000000"
#define LE64_1000    "e803000000000000"
#define LE64_995000  "b82e0f0000000000"
#define LE64_995001  "b92e0f0000000000"
#define LE64_1000000 "40420f0000000000"
#define LE64_1000001 "41420f0000000000"
#define LE64_MAX     "ffffffffffffffff"
#define LE32_0       "00000000"
#define LE32_1       "01000000"
#define LE32_32K     "00800000"
#define LE32_1399999 "bf5c1500"
#define LE32_1400000 "c05c1500"
#define LE32_2000000 "80841e00"
#define H8(b)        b b b b b b b b
#define H32(b)       H8(b) H8(b) H8(b) H8(b)
#define PUBKEY       H32("44")

/* System Program (u32 tag, bincode) */
#define SYS_CREATE(lamports)              "00000000" lamports LE64_0 PUBKEY
#define SYS_TRANSFER(lamports)            "02000000" lamports
#define SEED_ORG                          "03000000000000006f7267" /* "org" */
#define SYS_CREATE_SEED(seed, lamports)   "03000000" PUBKEY seed lamports LE64_0 PUBKEY
#define SYS_WITHDRAW_NONCE(lamports)      "05000000" lamports
#define SYS_TRANSFER_SEED(lamports, seed) "0b000000" lamports seed PUBKEY
/* SPL Token (u8 tag): amount, decimals */
#define TOKEN_CHECKED(tag, amount) tag amount "06"
/* Compute Budget (u8 tag) */
#define CU_LIMIT(le32) "02" le32
#define CU_PRICE(le64) "03" le64

#define TRANSFER_0                                                                                 \
	{                                                                                          \
		.program = K_SYSTEM, .accounts = {K_ME, K_DEST}, .n_accounts = 2,                  \
		.data = SYS_TRANSFER(LE64_0)                                                       \
	}
#define MEMO                                                                                       \
	{                                                                                          \
		.program = K_MEMO1, .data = "6869"                                                 \
	}

static void test_solana_fees(void **state)
{
	static const struct sol_row rows[] = {
		{.name = "a transfer and its base fee",
		 .ix = {{.program = K_SYSTEM,
			 .accounts = {K_ME, K_DEST},
			 .n_accounts = 2,
			 .data = SYS_TRANSFER(LE64_1000)}},
		 .native = "6000"},
		{.name = "two signatures, two base fees",
		 .signers = 2,
		 .ix = {{.program = K_SYSTEM,
			 .accounts = {K_ME, K_DEST},
			 .n_accounts = 2,
			 .data = SYS_TRANSFER(LE64_1000)}},
		 .native = "11000"},
		{.name = "someone else pays the fee",
		 .signers = 2,
		 .payer_other = true,
		 .ix = {{.program = K_SYSTEM,
			 .accounts = {K_ME, K_DEST},
			 .n_accounts = 2,
			 .data = SYS_TRANSFER(LE64_1000)}},
		 .native = "1000"},
		{.name = "transfer + fee exactly at the limit",
		 .ix = {{.program = K_SYSTEM,
			 .accounts = {K_ME, K_DEST},
			 .n_accounts = 2,
			 .data = SYS_TRANSFER(LE64_995000)}},
		 .native = "1000000",
		 .max = "1000000"},
		{.name = "one lamport more is over the limit",
		 .ix = {{.program = K_SYSTEM,
			 .accounts = {K_ME, K_DEST},
			 .n_accounts = 2,
			 .data = SYS_TRANSFER(LE64_995001)}},
		 .native = "1000001",
		 .max = "1000000",
		 .over = true},
		/* priority fee = ceil(price x limit / 10^6), limit 200,000 per instruction by
		 * default
		 */
		{.name = "price 5 x 200,000 units is exactly 1 lamport",
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE("0500000000000000")}, TRANSFER_0},
		 .native = "5001",
		 .max = "5001"},
		{.name = "price 6 x 200,000 units rounds up to 2",
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE("0600000000000000")}, TRANSFER_0},
		 .native = "5002",
		 .max = "5001",
		 .over = true},
		{.name = "price 1 x 200,000 units rounds up to 1",
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE("0100000000000000")}, TRANSFER_0},
		 .native = "5001"},
		{.name = "a limit of 1 unit at 10^6 micro-lamports is 1 lamport",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			TRANSFER_0},
		 .native = "5001",
		 .max = "5001"},
		{.name = "a limit of 1 unit at 10^6 + 1 micro-lamports is 2",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_1000001)},
			TRANSFER_0},
		 .native = "5002",
		 .max = "5001",
		 .over = true},
		{.name = "a limit just under the cap",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1399999)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			TRANSFER_0},
		 .native = "1404999"},
		{.name = "a limit at the cap",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1400000)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			TRANSFER_0},
		 .native = "1405000"},
		{.name = "a limit over the cap counts the cap",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_2000000)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			TRANSFER_0},
		 .native = "1405000"},
		{.name = "a limit of 0: no priority fee",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_0)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_MAX)},
			TRANSFER_0},
		 .native = "5000"},
		{.name = "six instructions by default: 1,200,000 units",
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO},
		 .native = "1205000"},
		{.name = "eight instructions by default: capped at 1,400,000",
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE(LE64_1000000)},
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO,
			MEMO},
		 .native = "1405000"},
		{.name = "the largest price at the largest limit, in 256 bits",
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1400000)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_MAX)},
			TRANSFER_0},
		 .native = "25825441703193377261"},
		{.name = "heap frame and data size requests cost nothing",
		 .ix = {{.program = K_BUDGET, .data = "01" LE32_32K},
			{.program = K_BUDGET, .data = "04" LE32_32K},
			TRANSFER_0},
		 .native = "5000"},
		{.name = "signatures an Ed25519 precompile verifies are charged",
		 .ix = {{.program = K_ED25519, .data = "0200"}},
		 .native = "15000"},
		/* malformed or duplicated Compute Budget instructions */
		{.name = "a second SetComputeUnitPrice",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE(LE64_1000)},
			{.program = K_BUDGET, .data = CU_PRICE(LE64_0)}}},
		{.name = "a second SetComputeUnitLimit",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = CU_LIMIT(LE32_1)},
			{.program = K_BUDGET, .data = CU_LIMIT(LE32_1)}}},
		{.name = "a second RequestHeapFrame",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = "01" LE32_32K},
			{.program = K_BUDGET, .data = "01" LE32_32K}}},
		{.name = "a second SetLoadedAccountsDataSizeLimit",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = "04" LE32_32K},
			{.program = K_BUDGET, .data = "04" LE32_32K}}},
		{.name = "SetComputeUnitLimit cut short",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = "02010000"}}},
		{.name = "SetComputeUnitPrice with a trailing byte",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = CU_PRICE(LE64_1000) "00"}}},
		{.name = "the removed RequestUnits (0)",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = "00" LE32_1 LE32_1}}},
		{.name = "an unknown Compute Budget tag",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET, .data = "05" LE32_1}}},
		{.name = "an empty Compute Budget instruction",
		 .unreadable = true,
		 .ix = {{.program = K_BUDGET}}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_sol_row(&rows[i]);
}

#define SYS(data_hex)                                                                              \
	{                                                                                          \
		.program = K_SYSTEM, .accounts = {K_ME, K_DEST, K_SOURCE}, .n_accounts = 3,        \
		.data = data_hex                                                                   \
	}

static void test_solana_system(void **state)
{
	static const struct sol_row rows[] = {
		/* read: their lamports count, whoever funds them */
		{.name = "CreateAccount", .ix = {SYS(SYS_CREATE(LE64_300))}, .native = "5300"},
		{.name = "CreateAccount and Transfer sum",
		 .ix = {SYS(SYS_CREATE(LE64_300)), SYS(SYS_TRANSFER(LE64_700))},
		 .native = "6000"},
		{.name = "CreateAccountWithSeed",
		 .ix = {SYS(SYS_CREATE_SEED(SEED_ORG, LE64_300))},
		 .native = "5300"},
		{.name = "CreateAccountWithSeed, a 32-byte seed",
		 .ix = {SYS(SYS_CREATE_SEED("2000000000000000" H32("61"), LE64_300))},
		 .native = "5300"},
		{.name = "CreateAccountWithSeed, an empty seed",
		 .ix = {SYS(SYS_CREATE_SEED(LE64_0, LE64_300))},
		 .native = "5300"},
		{.name = "CreateAccountWithSeed, a three-byte UTF-8 character",
		 .ix = {SYS(SYS_CREATE_SEED("0300000000000000"
					    "e282ac",
					    LE64_300))},
		 .native = "5300"},
		{.name = "CreateAccountWithSeed, a seed length one more than the seed",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("0400000000000000"
					    "6f7267",
					    LE64_300))}},
		{.name = "CreateAccountWithSeed, a two-byte UTF-8 character",
		 .ix = {SYS(SYS_CREATE_SEED("0200000000000000"
					    "c3a9",
					    LE64_300))},
		 .native = "5300"},
		{.name = "WithdrawNonceAccount",
		 .ix = {SYS(SYS_WITHDRAW_NONCE(LE64_700))},
		 .native = "5700"},
		{.name = "TransferWithSeed",
		 .ix = {SYS(SYS_TRANSFER_SEED(LE64_400, SEED_ORG))},
		 .native = "5400"},
		/* harmless */
		{.name = "AdvanceNonceAccount", .ix = {SYS("04000000")}, .native = "5000"},
		{.name = "Allocate", .ix = {SYS("08000000" LE64_300)}, .native = "5000"},
		{.name = "UpgradeNonceAccount", .ix = {SYS("0c000000")}, .native = "5000"},
		/* not exactly their encoding */
		{.name = "CreateAccount a byte short",
		 .unreadable = true,
		 .ix = {SYS("00000000" LE64_300 LE64_0 H8("44") H8("44")
				    H8("44") "44444444444444")}},
		{.name = "CreateAccount with a trailing byte",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE(LE64_300) "00")}},
		{.name = "Transfer a byte short",
		 .unreadable = true,
		 .ix = {SYS("02000000"
			    "e8030000000000")}},
		{.name = "Transfer with a trailing byte",
		 .unreadable = true,
		 .ix = {SYS(SYS_TRANSFER(LE64_1000) "00")}},
		{.name = "AdvanceNonceAccount with a trailing byte",
		 .unreadable = true,
		 .ix = {SYS("04000000"
			    "00")}},
		{.name = "a kind cut short", .unreadable = true, .ix = {SYS("020000")}},
		{.name = "seed of 33 bytes",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("2100000000000000" H32("61") "61", LE64_300))}},
		{.name = "seed that is not UTF-8",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("0100000000000000"
					    "ff",
					    LE64_300))}},
		{.name = "seed with an overlong NUL",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("0200000000000000"
					    "c080",
					    LE64_300))}},
		{.name = "seed with a surrogate",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("0300000000000000"
					    "eda080",
					    LE64_300))}},
		{.name = "seed length of 2^63",
		 .unreadable = true,
		 .ix = {SYS(SYS_CREATE_SEED("0000000000000080"
					    "6f7267",
					    LE64_300))}},
		{.name = "CreateAccountWithSeed without its owner",
		 .unreadable = true,
		 .ix = {SYS("03000000" PUBKEY SEED_ORG LE64_300 LE64_0)}},
		{.name = "TransferWithSeed, seed of 33 bytes",
		 .unreadable = true,
		 .ix = {SYS(SYS_TRANSFER_SEED(LE64_400, "2100000000000000" H32("61") "61"))}},
		/* not read */
		{.name = "Assign", .unreadable = true, .ix = {SYS("01000000" PUBKEY)}},
		{.name = "InitializeNonceAccount",
		 .unreadable = true,
		 .ix = {SYS("06000000" PUBKEY)}},
		{.name = "AuthorizeNonceAccount",
		 .unreadable = true,
		 .ix = {SYS("07000000" PUBKEY)}},
		{.name = "AllocateWithSeed",
		 .unreadable = true,
		 .ix = {SYS("09000000" PUBKEY SEED_ORG LE64_300 PUBKEY)}},
		{.name = "AssignWithSeed",
		 .unreadable = true,
		 .ix = {SYS("0a000000" PUBKEY SEED_ORG PUBKEY)}},
		{.name = "an unknown System instruction",
		 .unreadable = true,
		 .ix = {SYS("0d000000")}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_sol_row(&rows[i]);
}

/* token accounts: [source, mint, destination, owner] and the others */
#define TOK(prog, data_hex)                                                                        \
	{                                                                                          \
		.program = prog, .accounts = {K_SOURCE, K_MINT, K_DEST, K_ME}, .n_accounts = 4,    \
		.data = data_hex                                                                   \
	}

static void test_solana_tokens(void **state)
{
	static const struct sol_row rows[] = {
		{.name = "TransferChecked",
		 .ix = {TOK(K_TOKEN, TOKEN_CHECKED("0c", LE64_700))},
		 .native = "5000",
		 .spl = "700"},
		{.name = "Token-2022 TransferChecked",
		 .ix = {TOK(K_TOKEN22, TOKEN_CHECKED("0c", LE64_700))},
		 .native = "5000",
		 .spl = "700"},
		{.name = "ApproveChecked",
		 .ix = {TOK(K_TOKEN, TOKEN_CHECKED("0d", LE64_700))},
		 .native = "5000",
		 .spl = "700"},
		{.name = "MintToChecked: the mint is account 0",
		 .ix = {{.program = K_TOKEN,
			 .accounts = {K_MINT, K_DEST, K_ME},
			 .n_accounts = 3,
			 .data = TOKEN_CHECKED("0e", LE64_700)}},
		 .native = "5000",
		 .spl = "700"},
		{.name = "BurnChecked",
		 .ix = {{.program = K_TOKEN,
			 .accounts = {K_SOURCE, K_MINT, K_ME},
			 .n_accounts = 3,
			 .data = TOKEN_CHECKED("0f", LE64_700)}},
		 .native = "5000",
		 .spl = "700"},
		{.name = "two transfers of one mint sum",
		 .ix = {TOK(K_TOKEN, TOKEN_CHECKED("0c", LE64_700)),
			TOK(K_TOKEN22, TOKEN_CHECKED("0c", LE64_300))},
		 .native = "5000",
		 .spl = "1000"},
		/* harmless */
		{.name = "Revoke", .ix = {TOK(K_TOKEN, "05")}, .native = "5000"},
		{.name = "SyncNative", .ix = {TOK(K_TOKEN, "11")}, .native = "5000"},
		{.name = "InitializeAccount3", .ix = {TOK(K_TOKEN, "12" PUBKEY)}, .native = "5000"},
		{.name = "InitializeMint2",
		 .ix = {TOK(K_TOKEN22, "14"
				       "06" PUBKEY "00")},
		 .native = "5000"},
		{.name = "InitializeImmutableOwner",
		 .ix = {TOK(K_TOKEN22, "16")},
		 .native = "5000"},
		/* not read */
		{.name = "TransferChecked a byte short",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, "0c" LE64_700)}},
		{.name = "TransferChecked with a trailing byte",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, TOKEN_CHECKED("0c", LE64_700) "00")}},
		{.name = "TransferChecked with three accounts",
		 .unreadable = true,
		 .ix = {{.program = K_TOKEN,
			 .accounts = {K_SOURCE, K_MINT, K_DEST},
			 .n_accounts = 3,
			 .data = TOKEN_CHECKED("0c", LE64_700)}}},
		{.name = "TransferChecked of a mint in a lookup table",
		 .lookup = true,
		 .unreadable = true,
		 .ix = {{.program = K_TOKEN,
			 .accounts = {K_SOURCE, K_LOADED, K_DEST, K_ME},
			 .n_accounts = 4,
			 .data = TOKEN_CHECKED("0c", LE64_700)}}},
		{.name = "Transfer (no mint)",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, "03" LE64_700)}},
		{.name = "Approve (no mint)",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, "04" LE64_700)}},
		{.name = "SetAuthority",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, "06"
				     "02"
				     "01" PUBKEY)}},
		{.name = "MintTo (no mint checked)",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, "07" LE64_700)}},
		{.name = "Burn", .unreadable = true, .ix = {TOK(K_TOKEN, "08" LE64_700)}},
		{.name = "CloseAccount", .unreadable = true, .ix = {TOK(K_TOKEN, "09")}},
		{.name = "Token-2022 CloseAccount",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN22, "09")}},
		{.name = "FreezeAccount", .unreadable = true, .ix = {TOK(K_TOKEN, "0a")}},
		{.name = "GetAccountDataSize", .unreadable = true, .ix = {TOK(K_TOKEN, "15")}},
		{.name = "Token-2022 transfer fee extension",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN22, "1a"
				       "01" LE64_700 "06" LE64_0)}},
		{.name = "Token-2022 confidential transfer extension",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN22, "1b"
				       "07")}},
		{.name = "an empty token instruction",
		 .unreadable = true,
		 .ix = {TOK(K_TOKEN, NULL)}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_sol_row(&rows[i]);
}

static void test_solana_other_programs(void **state)
{
	static const struct sol_row rows[] = {
		{.name = "Memo v1 listing the key",
		 .ix = {{.program = K_MEMO1, .accounts = {K_ME}, .n_accounts = 1, .data = "6869"}},
		 .native = "5000"},
		{.name = "Memo v2 listing the key",
		 .ix = {{.program = K_MEMO2, .accounts = {K_ME}, .n_accounts = 1, .data = "6869"}},
		 .native = "5000"},
		{.name = "another program listing the key",
		 .unreadable = true,
		 .ix = {{.program = K_OTHER, .accounts = {K_ME}, .n_accounts = 1, .data = "00"}}},
		{.name = "another program listing the key after others",
		 .unreadable = true,
		 .ix = {{.program = K_OTHER,
			 .accounts = {K_DEST, K_SOURCE, K_ME},
			 .n_accounts = 3}}},
		{.name = "another program listing the key when someone else pays",
		 .signers = 2,
		 .payer_other = true,
		 .unreadable = true,
		 .ix = {{.program = K_OTHER, .accounts = {K_ME}, .n_accounts = 1}}},
		{.name = "another program not listing the key",
		 .ix = {{.program = K_OTHER, .accounts = {K_DEST, K_COSIGNER}, .n_accounts = 2}},
		 .native = "5000"},
		{.name = "another program with no accounts",
		 .ix = {{.program = K_OTHER, .data = "0102"}},
		 .native = "5000"},
		{.name = "another program given a looked-up account",
		 .lookup = true,
		 .ix = {{.program = K_OTHER, .accounts = {K_LOADED}, .n_accounts = 1}},
		 .native = "5000"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_sol_row(&rows[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u256),          cmocka_unit_test(test_evm_selectors),
		cmocka_unit_test(test_evm_spends),    cmocka_unit_test(test_evm_table_calls),
		cmocka_unit_test(test_eip712_spends), cmocka_unit_test(test_eip712_incomplete),
		cmocka_unit_test(test_solana_fees),   cmocka_unit_test(test_solana_system),
		cmocka_unit_test(test_solana_tokens), cmocka_unit_test(test_solana_other_programs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
