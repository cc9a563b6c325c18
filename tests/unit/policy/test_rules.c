/* Content rules, table-driven: each rule allowed just inside its bound and denied just outside,
 * with the reason code and the rule that decided. */
#include "../../support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/address.h"
#include "common/encoding.h"
#include "policy/policy.h"
#include "chain/evm/eip712.h"
#include "chain/evm/rlp.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

static struct policy *pol;

/* addresses and keys used below */
#define MINTER "0x00000000000000000000000000000000000000aa"
#define OTHER  "0x00000000000000000000000000000000000000bb"
#define TOKEN  "0x00000000000000000000000000000000000000cc"
static uint8_t payer[32], dest[32], stranger[32];

static const char policy_text[] =
	"grants:\n"
	"  - client: local\n    key: k\n    operations: [mint, pay, sign-in, notes]\n"
	"rules:\n"
	"  mint:\n"
	"    evm:\n"
	"      chain_ids: [137, 80002]\n"
	"      recipients:\n"
	"        - address: '" MINTER "'\n"
	"          selectors: ['0x40c10f19']\n"
	"        - address: '" OTHER "'\n"
	"          selectors: []\n"
	"        - address: '" TOKEN "'\n"
	"      max_value_wei: '1000'\n"
	"      max_gas: 100000\n"
	"      max_fee_per_gas_wei: '100000000000'\n"
	"      max_priority_fee_per_gas_wei: '2000000000'\n"
	"      max_gas_price_wei: '50000000000'\n"
	"      max_total_fee_wei: '5000000000000000'\n"
	"      erc20:\n"
	"        - token: '" TOKEN "'\n"
	"          recipients: ['" OTHER "']\n"
	"          spenders: ['" OTHER "']\n"
	"          max_amount: '500'\n"
	"  pay:\n"
	"    solana:\n"
	"      programs: ['11111111111111111111111111111111', "
	"'ComputeBudget111111111111111111111111111111',\n"
	"                 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA']\n"
	"      spl:\n"
	"        - mint: MINT\n"
	"          max_amount: 1000\n"
	"      max_instructions: 3\n"
	"      max_compute_unit_price: 5000\n"
	"      system_transfer:\n"
	"        destinations: [DEST]\n"
	"        max_lamports: 1000000\n"
	"  sign-in:\n"
	"    eip712:\n"
	"      domains:\n"
	"        - name: FanPass\n"
	"          chain_id: 137\n"
	"      primary_types: [Login]\n"
	"    eip191:\n"
	"      max_length: 64\n";

static int setup(void **state)
{
	char text[4096], b58[64];
	const char *at, *path;

	(void)state;
	if (tu_tmpdir("rules") == NULL)
		return -1;
	memset(payer, 0x11, 32);
	memset(dest, 0x22, 32);
	memset(stranger, 0x33, 32);
	if (addr_solana_encode(dest, b58, sizeof(b58)) != 0)
		return -1;
	{
		char step[4096], mint_b58[64];
		uint8_t mint[32];

		memset(mint, 0x72, 32);
		if (addr_solana_encode(mint, mint_b58, sizeof(mint_b58)) != 0)
			return -1;
		at = strstr(policy_text, "DEST");
		snprintf(step, sizeof(step), "%.*s'%s'%s", (int)(at - policy_text), policy_text,
			 b58, at + 4);
		at = strstr(step, "MINT");
		snprintf(text, sizeof(text), "%.*s'%s'%s", (int)(at - step), step, mint_b58,
			 at + 4);
	}
	path = tu_write_file("policy.yaml", text);
	if (policy_load(path, &pol) != 0) {
		fprintf(stderr, "%s\n", sg_errmsg(SG_ERR_CONFIG));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	policy_free(pol);
	return tu_tmpdir_remove();
}

/* ---- EVM --------------------------------------------------------------------------- */

struct evm_case {
	int type; /* 0 legacy, 2 dynamic fee */
	uint64_t chain;
	const char *to;   /* NULL: creation */
	const char *data; /* hex, no 0x */
	uint64_t value;
	uint64_t gas;
	uint64_t fee; /* gasPrice or maxFeePerGas */
	uint64_t priority;
	bool access_list;
	const char *reason; /* NULL: allowed */
};

static void put_u64(struct rlp_buf *b, uint64_t v)
{
	rlp_put_u64(b, v);
}

static void check_evm(const struct evm_case *c, size_t i)
{
	struct rlp_buf b = {0};
	struct evm_tx tx;
	struct policy_decision d;
	uint8_t to[20], data[200];
	size_t data_len = 0;
	int r;

	if (c->type == 2)
		rlp_put_raw(&b, (const uint8_t[]){0x02}, 1);
	{
		size_t start = b.len;

		if (c->type == 2) {
			put_u64(&b, c->chain);
			put_u64(&b, 1);
			put_u64(&b, c->priority);
			put_u64(&b, c->fee);
		} else {
			put_u64(&b, 1);
			put_u64(&b, c->fee);
		}
		put_u64(&b, c->gas);
		if (c->to != NULL) {
			assert_sg_ok(addr_evm_parse(c->to, to));
			rlp_put_bytes(&b, to, 20);
		} else {
			rlp_put_bytes(&b, NULL, 0);
		}
		put_u64(&b, c->value);
		if (c->data != NULL)
			assert_int_equal(
				hex_decode(c->data, strlen(c->data), data, sizeof(data), &data_len),
				0);
		rlp_put_bytes(&b, data, data_len);
		if (c->type == 2) {
			size_t al = b.len;

			if (c->access_list) {
				size_t entry = b.len, keys;

				rlp_put_bytes(&b, to, 20);
				keys = b.len;
				rlp_wrap_list(&b, keys);
				rlp_wrap_list(&b, entry);
			}
			rlp_wrap_list(&b, al);
		} else {
			put_u64(&b, c->chain);
			put_u64(&b, 0);
			put_u64(&b, 0);
		}
		rlp_wrap_list(&b, start);
	}
	assert_sg_ok(rlp_buf_status(&b));
	r = evm_tx_decode(b.data, b.len, &tx);
	if (r != 0)
		fail_msg("case %zu does not decode: %s", i, sg_errmsg(r));
	policy_check_evm_tx(pol, "mint", &tx, &d);
	if (c->reason == NULL && !d.allowed)
		fail_msg("case %zu denied: %s (%s)", i, d.reason, d.message);
	if (c->reason != NULL && (d.allowed || strcmp(d.reason, c->reason) != 0))
		fail_msg("case %zu: got %s, wanted %s", i, d.allowed ? "allowed" : d.reason,
			 c->reason);
	if (!d.allowed)
		assert_non_null(strstr(d.rule, "rules.mint.evm"));
	rlp_buf_free(&b);
}

/* ABI words */
#define W_OTHER  "00000000000000000000000000000000000000000000000000000000000000bb"
#define W_MINTER "00000000000000000000000000000000000000000000000000000000000000aa"
#define W_DIRTY  "01000000000000000000000000000000000000000000000000000000000000bb"
#define W_1      "0000000000000000000000000000000000000000000000000000000000000001"
#define W_500    "00000000000000000000000000000000000000000000000000000000000001f4"
#define W_501    "00000000000000000000000000000000000000000000000000000000000001f5"
#define W_MAX    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void test_evm(void **state)
{
	/* mint(address,uint256) = 0x40c10f19 */
	static const char mint[] =
		"40c10f19000000000000000000000000000000000000000000000000000000000000000a";
	static const struct evm_case cases[] = {
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 50000,
		 .fee = 100000000000,
		 .priority = 2000000000,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 100000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 80002,
		 .to = MINTER,
		 .data = mint,
		 .value = 1000,
		 .gas = 50000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 1,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.chain_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = "0x00000000000000000000000000000000000000dd",
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.recipient_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = "a9059cbb",
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.selector_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = NULL,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.selector_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = OTHER,
		 .data = NULL,
		 .value = 5,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL}, /* selectors: [] = plain transfers */
		{.type = 2,
		 .chain = 137,
		 .to = OTHER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.selector_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = NULL,
		 .data = "6080",
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.create_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 1001,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.value_exceeded"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 100001,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.gas_limit_exceeded"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 100000000001,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.max_fee_exceeded"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 2000000001,
		 .access_list = false,
		 .reason = "evm.priority_fee_exceeded"},
		/* total fee: 50000 x 100 gwei = 5e15 exactly, then one gas more */
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 50000,
		 .fee = 100000000000,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 50001,
		 .fee = 100000000000,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.total_fee_exceeded"},
		{.type = 2,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = true,
		 .reason = "evm.access_list_not_allowed"},
		{.type = 0,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 50000000000,
		 .priority = 0,
		 .access_list = false,
		 .reason = NULL},
		{.type = 0,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 21000,
		 .fee = 50000000001,
		 .priority = 0,
		 .access_list = false,
		 .reason = "evm.gas_price_exceeded"},
		{.type = 0,
		 .chain = 137,
		 .to = MINTER,
		 .data = mint,
		 .value = 0,
		 .gas = 100000,
		 .fee = 50000000000,
		 .priority = 0,
		 .access_list = false,
		 .reason = NULL},
		/* ERC-20 on TOKEN: recipients and spenders [OTHER], at most 500, no unlimited */
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER W_500,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER W_501,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_amount_exceeded"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_MINTER W_1,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_recipient_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "095ea7b3" W_OTHER W_500,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "095ea7b3" W_OTHER W_MAX,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_unlimited_approval"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "095ea7b3" W_MINTER W_1,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_spender_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "23b872dd" W_MINTER W_OTHER W_1,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = NULL},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "23b872dd" W_OTHER W_MINTER W_1,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_recipient_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_malformed"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_DIRTY W_1,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_malformed"},
		/* other calls to a token with an erc20 rule: refused unless listed */
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "313ce567",
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_call_not_allowed"},
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "39509351" W_MINTER W_MAX,
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_call_not_allowed"}, /* increaseAllowance */
		{.type = 2,
		 .chain = 137,
		 .to = TOKEN,
		 .data = "a9059cbb" W_OTHER W_1 "00",
		 .value = 0,
		 .gas = 60000,
		 .fee = 1,
		 .priority = 1,
		 .access_list = false,
		 .reason = "evm.erc20_malformed"}, /* a trailing byte */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_evm(&cases[i], i);
}

/* ---- Solana ------------------------------------------------------------------------ */

struct sol_ix {
	int program; /* 0 system, 1 compute budget, 2 stranger program */
	uint32_t kind;
	uint64_t amount;
	int to; /* account index of the destination */
};

/* A legacy message: keys [fee payer, dest, stranger, system, compute budget, other program]. */
static size_t build_message(uint8_t *m, const uint8_t *fee_payer, const struct sol_ix *ixs,
			    size_t n)
{
	static const uint8_t budget[32] = {0x03, 0x06, 0x46, 0x6f, 0xe5, 0x21, 0x17, 0x32,
					   0xff, 0xec, 0xad, 0xba, 0x72, 0xc3, 0x9b, 0xe7,
					   0xbc, 0x8c, 0xe5, 0xbb, 0xc5, 0xf7, 0x12, 0x6b,
					   0x2c, 0x43, 0x9b, 0x3a, 0x40, 0x00, 0x00, 0x00};
	uint8_t other_program[32];
	size_t o = 0;

	memset(other_program, 0x44, 32);
	m[o++] = 1; /* signers */
	m[o++] = 0;
	m[o++] = 3; /* read-only unsigned: the three programs */
	m[o++] = 6;
	memcpy(m + o, fee_payer, 32), o += 32;
	memcpy(m + o, dest, 32), o += 32;
	memcpy(m + o, stranger, 32), o += 32;
	memset(m + o, 0, 32), o += 32;
	memcpy(m + o, budget, 32), o += 32;
	memcpy(m + o, other_program, 32), o += 32;
	memset(m + o, 0x55, 32), o += 32; /* blockhash */
	m[o++] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		if (ixs[i].program == 1) { /* .to: trailing bytes after the u64 */
			m[o++] = 4;
			m[o++] = 0;
			m[o++] = (uint8_t)(9 + ixs[i].to);
			m[o++] = (uint8_t)ixs[i].kind;
			for (int b = 0; b < 8; b++)
				m[o++] = (uint8_t)(ixs[i].amount >> (8 * b));
			memset(m + o, 0, (size_t)ixs[i].to);
			o += (size_t)ixs[i].to;
			continue;
		}
		m[o++] = ixs[i].program == 0 ? 3 : 5;
		m[o++] = 2;
		m[o++] = 0;
		m[o++] = (uint8_t)ixs[i].to;
		/* CreateAccount: kind, lamports, space, owner (52 bytes); the others: kind, u64 */
		m[o++] = ixs[i].program == 0 && ixs[i].kind == 0 ? 52 : 12;
		for (int b = 0; b < 4; b++)
			m[o++] = (uint8_t)(ixs[i].kind >> (8 * b));
		for (int b = 0; b < 8; b++)
			m[o++] = (uint8_t)(ixs[i].amount >> (8 * b));
		if (ixs[i].program == 0 && ixs[i].kind == 0) {
			memset(m + o, 0, 40);
			o += 40;
		}
	}
	return o;
}

static void check_solana(const uint8_t *fee_payer, const struct sol_ix *ixs, size_t n,
			 const char *reason, const char *what)
{
	uint8_t buf[1232];
	size_t len = build_message(buf, fee_payer, ixs, n);
	struct sol_message m;
	struct policy_decision d;
	int r = sol_message_decode(buf, len, &m);

	if (r != 0)
		fail_msg("%s: does not decode: %s", what, sg_errmsg(r));
	policy_check_solana(pol, "pay", &m, payer, &d);
	if (reason == NULL && !d.allowed)
		fail_msg("%s: denied: %s (%s)", what, d.reason, d.message);
	if (reason != NULL && (d.allowed || strcmp(d.reason, reason) != 0))
		fail_msg("%s: got %s, wanted %s", what, d.allowed ? "allowed" : d.reason, reason);
	sol_message_free(&m);
}

static void test_solana(void **state)
{
	const struct sol_ix transfer_cap = {.program = 0, .kind = 2, .amount = 1000000, .to = 1},
			    transfer_over = {.program = 0, .kind = 2, .amount = 1000001, .to = 1};
	const struct sol_ix transfer_stranger = {.program = 0, .kind = 2, .amount = 1, .to = 2},
			    create_over = {.program = 0, .kind = 0, .amount = 1000001, .to = 1};
	const struct sol_ix price_cap = {.program = 1, .kind = 3, .amount = 5000, .to = 0},
			    price_over = {.program = 1, .kind = 3, .amount = 5001, .to = 0};
	const struct sol_ix other = {.program = 2, .kind = 0, .amount = 0, .to = 1};
	struct sol_ix four[4] = {transfer_cap, transfer_cap, transfer_cap, transfer_cap};

	(void)state;
	check_solana(payer, &transfer_cap, 1, NULL, "a transfer at the cap");
	check_solana(payer, &transfer_over, 1, "solana.lamports_exceeded", "one lamport over");
	check_solana(payer, &create_over, 1, "solana.lamports_exceeded", "CreateAccount over");
	check_solana(payer, &transfer_stranger, 1, "solana.transfer_destination_not_allowed",
		     "to a stranger");
	check_solana(payer, (struct sol_ix[]){price_cap, transfer_cap}, 2, NULL,
		     "price at the cap");
	check_solana(payer, (struct sol_ix[]){price_over, transfer_cap}, 2,
		     "solana.compute_unit_price_exceeded", "price over");
	check_solana(payer, (struct sol_ix[]){{1, 3, 5001, 1}, transfer_cap}, 2,
		     "solana.compute_unit_price_exceeded", "price over, with a trailing byte");
	check_solana(payer, &other, 1, "solana.program_not_allowed", "another program");
	check_solana(payer, (struct sol_ix[]){{0, 11, 1, 1}}, 1,
		     "solana.system_instruction_not_allowed", "TransferWithSeed");
	check_solana(payer, (struct sol_ix[]){{0, 1, 0, 1}}, 1,
		     "solana.system_instruction_not_allowed", "Assign");
	check_solana(payer, (struct sol_ix[]){{0, 5, 1, 1}}, 1,
		     "solana.system_instruction_not_allowed", "WithdrawNonceAccount");
	check_solana(payer, four, 3, NULL, "three instructions");
	check_solana(payer, four, 4, "solana.too_many_instructions", "four instructions");
	{
		uint8_t someone[32];

		memset(someone, 0x66, 32);
		check_solana(someone, &transfer_cap, 1, "solana.fee_payer_not_allowed",
			     "someone else pays");
	}
}

/* One System Program instruction, given as its accounts and data, against the "pay" rules
 * (destinations [DEST], at most 1,000,000 lamports): keys [payer, dest, stranger, system, ...]. */
struct system_row {
	const char *name;
	uint8_t accounts[3];
	uint8_t n_accounts;
	const char *data;   /* hex */
	const char *reason; /* NULL: allowed */
	const char *rule;   /* the rule that decides, after "rules.pay.solana." */
};

#define P_PAYER                       0
#define P_DEST                        1
#define P_STRANGER                    2
#define LE64_1M                       "40420f0000000000"
#define LE64_1M_1                     "41420f0000000000"
#define KEY32                         "4444444444444444444444444444444444444444444444444444444444444444"
#define SEED_ORG                      "03000000000000006f7267" /* "org" */
#define SEED_33                       "2100000000000000616161616161616161616161616161616161616161616161616161616161616161"
#define CREATE(lamports)              "00000000" lamports "0000000000000000" KEY32
#define CREATE_SEED(seed, lamports)   "03000000" KEY32 seed lamports "0000000000000000" KEY32
#define TRANSFER_SEED(lamports, seed) "0b000000" lamports seed KEY32

static void check_system_row(const struct system_row *row)
{
	uint8_t m[1232], data[300];
	size_t o = 0, len = 0;
	struct sol_message msg;
	struct policy_decision d;
	char rule[96];
	int r;

	/* the keys and header of build_message, one instruction */
	o = build_message(m, payer, NULL, 0) - 1;
	m[o++] = 1;
	m[o++] = 3; /* the System Program */
	m[o++] = row->n_accounts;
	memcpy(m + o, row->accounts, row->n_accounts), o += row->n_accounts;
	assert_sg_ok(hex_decode(row->data, strlen(row->data), data, sizeof(data), &len));
	assert_true(len < 0x80);
	m[o++] = (uint8_t)len;
	memcpy(m + o, data, len), o += len;
	if ((r = sol_message_decode(m, o, &msg)) != 0)
		fail_msg("%s: does not decode: %s", row->name, sg_errmsg(r));
	policy_check_solana(pol, "pay", &msg, payer, &d);
	if (row->reason == NULL && !d.allowed)
		fail_msg("%s: denied: %s (%s)", row->name, d.reason, d.message);
	if (row->reason != NULL && (d.allowed || strcmp(d.reason, row->reason) != 0))
		fail_msg("%s: got %s, wanted %s", row->name, d.allowed ? "allowed" : d.reason,
			 row->reason);
	snprintf(rule, sizeof(rule), "rules.pay.solana.%s (line ", row->rule ? row->rule : "");
	if (row->reason != NULL && strncmp(d.rule, rule, strlen(rule)) != 0)
		fail_msg("%s: rule '%s', wanted '%s...'", row->name, d.rule, rule);
	sol_message_free(&msg);
}

static void test_solana_system_transfers(void **state)
{
	static const struct system_row rows[] = {
		/* CreateAccount: the new account (accounts[1]) is a destination */
		{.name = "CreateAccount funding a listed account at the cap",
		 .accounts = {P_PAYER, P_DEST},
		 .n_accounts = 2,
		 .data = CREATE(LE64_1M)},
		{.name = "CreateAccount funding an account not listed",
		 .accounts = {P_PAYER, P_STRANGER},
		 .n_accounts = 2,
		 .data = CREATE(LE64_1M),
		 .reason = "solana.transfer_destination_not_allowed",
		 .rule = "system_transfer.destinations"},
		{.name = "CreateAccount one lamport over the cap",
		 .accounts = {P_PAYER, P_DEST},
		 .n_accounts = 2,
		 .data = CREATE(LE64_1M_1),
		 .reason = "solana.lamports_exceeded",
		 .rule = "system_transfer.max_lamports"},
		/* CreateAccountWithSeed: allowed, the created account (accounts[1]) a destination
		 */
		{.name = "CreateAccountWithSeed funding a listed account at the cap",
		 .accounts = {P_PAYER, P_DEST, P_PAYER},
		 .n_accounts = 3,
		 .data = CREATE_SEED(SEED_ORG, LE64_1M)},
		{.name = "CreateAccountWithSeed one lamport over the cap",
		 .accounts = {P_PAYER, P_DEST, P_PAYER},
		 .n_accounts = 3,
		 .data = CREATE_SEED(SEED_ORG, LE64_1M_1),
		 .reason = "solana.lamports_exceeded",
		 .rule = "system_transfer.max_lamports"},
		{.name = "CreateAccountWithSeed funding an account not listed",
		 .accounts = {P_PAYER, P_STRANGER, P_PAYER},
		 .n_accounts = 3,
		 .data = CREATE_SEED(SEED_ORG, LE64_1M),
		 .reason = "solana.transfer_destination_not_allowed",
		 .rule = "system_transfer.destinations"},
		{.name = "CreateAccountWithSeed with a seed of 33 bytes",
		 .accounts = {P_PAYER, P_DEST, P_PAYER},
		 .n_accounts = 3,
		 .data = CREATE_SEED(SEED_33, LE64_1M),
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		{.name = "CreateAccountWithSeed with a trailing byte",
		 .accounts = {P_PAYER, P_DEST, P_PAYER},
		 .n_accounts = 3,
		 .data = CREATE_SEED(SEED_ORG, LE64_1M) "00",
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		/* TransferWithSeed: allowed, the recipient (accounts[2]) a destination */
		{.name = "TransferWithSeed to a listed recipient at the cap",
		 .accounts = {P_STRANGER, P_PAYER, P_DEST},
		 .n_accounts = 3,
		 .data = TRANSFER_SEED(LE64_1M, SEED_ORG)},
		{.name = "TransferWithSeed one lamport over the cap",
		 .accounts = {P_STRANGER, P_PAYER, P_DEST},
		 .n_accounts = 3,
		 .data = TRANSFER_SEED(LE64_1M_1, SEED_ORG),
		 .reason = "solana.lamports_exceeded",
		 .rule = "system_transfer.max_lamports"},
		{.name = "TransferWithSeed to a recipient not listed (a listed account second)",
		 .accounts = {P_PAYER, P_DEST, P_STRANGER},
		 .n_accounts = 3,
		 .data = TRANSFER_SEED(LE64_1M, SEED_ORG),
		 .reason = "solana.transfer_destination_not_allowed",
		 .rule = "system_transfer.destinations"},
		{.name = "TransferWithSeed without its recipient",
		 .accounts = {P_STRANGER, P_DEST},
		 .n_accounts = 2,
		 .data = TRANSFER_SEED(LE64_1M, SEED_ORG),
		 .reason = "solana.transfer_destination_not_allowed",
		 .rule = "system_transfer.destinations"},
		{.name = "TransferWithSeed with a seed that is not UTF-8",
		 .accounts = {P_STRANGER, P_PAYER, P_DEST},
		 .n_accounts = 3,
		 .data = TRANSFER_SEED(LE64_1M, "0100000000000000ff"),
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		/* the others, as before; and every read is exact */
		{.name = "Transfer with a trailing byte",
		 .accounts = {P_PAYER, P_DEST},
		 .n_accounts = 2,
		 .data = "02000000" LE64_1M "00",
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		{.name = "AdvanceNonceAccount",
		 .accounts = {P_DEST, P_PAYER},
		 .n_accounts = 2,
		 .data = "04000000"},
		{.name = "Allocate",
		 .accounts = {P_DEST},
		 .n_accounts = 1,
		 .data = "08000000"
			 "0001000000000000"},
		{.name = "WithdrawNonceAccount",
		 .accounts = {P_DEST, P_PAYER},
		 .n_accounts = 2,
		 .data = "05000000" LE64_1M,
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		{.name = "AuthorizeNonceAccount",
		 .accounts = {P_DEST, P_PAYER},
		 .n_accounts = 2,
		 .data = "07000000" KEY32,
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
		{.name = "UpgradeNonceAccount",
		 .accounts = {P_DEST},
		 .n_accounts = 1,
		 .data = "0c000000",
		 .reason = "solana.system_instruction_not_allowed",
		 .rule = "programs"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_system_row(&rows[i]);
}

/* A token instruction: keys [payer, source, mint, destination, token program]. */
static void check_spl(uint8_t kind, uint8_t mint_byte, uint64_t amount, const char *reason,
		      const char *what)
{
	static const uint8_t token_program[32] = {0x06, 0xdd, 0xf6, 0xe1, 0xd7, 0x65, 0xa1, 0x93,
						  0xd9, 0xcb, 0xe1, 0x46, 0xce, 0xeb, 0x79, 0xac,
						  0x1c, 0xb4, 0x85, 0xed, 0x5f, 0x5b, 0x37, 0x91,
						  0x3a, 0x8c, 0xf5, 0x85, 0x7e, 0xff, 0x00, 0xa9};
	uint8_t m[400];
	size_t o = 0;
	struct sol_message msg;
	struct policy_decision d;
	int r;

	m[o++] = 1, m[o++] = 0, m[o++] = 1, m[o++] = 5;
	memcpy(m + o, payer, 32), o += 32;
	memset(m + o, 0x71, 32), o += 32;
	memset(m + o, mint_byte, 32), o += 32;
	memset(m + o, 0x73, 32), o += 32;
	memcpy(m + o, token_program, 32), o += 32;
	memset(m + o, 0x55, 32), o += 32;
	m[o++] = 1;
	m[o++] = 4;
	if (kind == 12 || kind == 13) {
		m[o++] = 4, m[o++] = 1, m[o++] = 2, m[o++] = 3, m[o++] = 0;
		m[o++] = 10;
	} else {
		m[o++] = 3, m[o++] = 1, m[o++] = 3, m[o++] = 0;
		m[o++] = 9;
	}
	m[o++] = kind;
	for (int b = 0; b < 8; b++)
		m[o++] = (uint8_t)(amount >> (8 * b));
	if (kind == 12 || kind == 13)
		m[o++] = 6; /* decimals */
	r = sol_message_decode(m, o, &msg);
	if (r != 0)
		fail_msg("%s: does not decode: %s", what, sg_errmsg(r));
	policy_check_solana(pol, "pay", &msg, payer, &d);
	if (reason == NULL && !d.allowed)
		fail_msg("%s: denied: %s (%s)", what, d.reason, d.message);
	if (reason != NULL && (d.allowed || strcmp(d.reason, reason) != 0))
		fail_msg("%s: got %s, wanted %s", what, d.allowed ? "allowed" : d.reason, reason);
	sol_message_free(&msg);
}

static void test_spl(void **state)
{
	(void)state;
	check_spl(12, 0x72, 1000, NULL, "TransferChecked at the cap");
	check_spl(12, 0x72, 1001, "solana.spl_amount_exceeded", "TransferChecked over");
	check_spl(13, 0x72, 1000, NULL, "ApproveChecked at the cap");
	check_spl(12, 0x74, 1, "solana.spl_mint_not_allowed", "another mint");
	check_spl(3, 0x72, 1, "solana.spl_mint_unknown", "a Transfer that names no mint");
	check_spl(4, 0x72, 1, "solana.spl_mint_unknown", "an Approve that names no mint");
	check_spl(6, 0x72, 0, "solana.spl_instruction_not_allowed", "SetAuthority");
	check_spl(9, 0x72, 0, "solana.spl_instruction_not_allowed", "CloseAccount");
}

/* a v0 message with a lookup table, from the shared vectors */
static void test_solana_lookup_tables(void **state)
{
	json_t *doc = tv_load("solana/generated-v0-transfer-memo-with-alt.json");
	size_t n;
	uint8_t *msg = tv_hex(tv_str(doc, "message_hex"), &n);
	struct sol_message m;
	struct policy_decision d;

	(void)state;
	memcpy(msg + 5, payer, 32);
	assert_sg_ok(sol_message_decode(msg, n, &m));
	policy_check_solana(pol, "pay", &m, payer, &d);
	assert_false(d.allowed);
	assert_string_equal(d.reason, "solana.lookup_tables_not_allowed");
	/* and an EVM-only operation refuses Solana at all */
	policy_check_solana(pol, "mint", &m, payer, &d);
	assert_string_equal(d.reason, "solana.not_allowed");
	/* an operation without rules has no content restrictions */
	policy_check_solana(pol, "notes", &m, payer, &d);
	assert_true(d.allowed);
	sol_message_free(&m);
	free(msg);
	json_decref(doc);
}

/* ---- EIP-712 and EIP-191 ------------------------------------------------------------ */

static void check_typed(const char *domain, const char *primary, const char *reason)
{
	char text[1024];
	struct eip712 td;
	struct policy_decision d;

	snprintf(text, sizeof(text),
		 "{\"types\":{\"Login\":[{\"name\":\"who\",\"type\":\"string\"}],"
		 "\"Other\":[{\"name\":\"who\",\"type\":\"string\"}]},\"primaryType\":\"%s\","
		 "\"domain\":%s,\"message\":{\"who\":\"fan\"}}",
		 primary, domain);
	assert_sg_ok(eip712_hash_text(text, strlen(text), &td));
	policy_check_eip712(pol, "sign-in", &td, &d);
	if (reason == NULL && !d.allowed)
		fail_msg("%s/%s denied: %s", domain, primary, d.reason);
	if (reason != NULL && (d.allowed || strcmp(d.reason, reason) != 0))
		fail_msg("%s/%s: got %s, wanted %s", domain, primary,
			 d.allowed ? "allowed" : d.reason, reason);
}

static void test_eip712_eip191(void **state)
{
	struct policy_decision d;

	(void)state;
	check_typed("{\"name\":\"FanPass\",\"chainId\":137}", "Login", NULL);
	check_typed("{\"name\":\"FanPass\",\"version\":\"2\",\"chainId\":137}", "Login", NULL);
	check_typed("{\"name\":\"FanPass\",\"chainId\":1}", "Login", "eip712.domain_not_allowed");
	check_typed("{\"name\":\"Phish\",\"chainId\":137}", "Login", "eip712.domain_not_allowed");
	check_typed("{\"chainId\":137}", "Login", "eip712.domain_not_allowed");
	check_typed("{\"name\":\"FanPass\",\"chainId\":137}", "Other",
		    "eip712.primary_type_not_allowed");
	policy_check_eip191(pol, "sign-in", 64, &d);
	assert_true(d.allowed);
	policy_check_eip191(pol, "sign-in", 65, &d);
	assert_string_equal(d.reason, "eip191.too_long");
	policy_check_eip191(pol, "mint", 1, &d);
	assert_string_equal(d.reason, "eip191.not_allowed");
	assert_non_null(strstr(d.rule, "rules.mint.eip191"));
}

/* ---- lint ---------------------------------------------------------------------------- */

static void test_lint(void **state)
{
	static const struct {
		const char *rules;
		int line;
		const char *words;
	} cases[] = {
		{.rules = "  ghost:\n    eip191: {}\n", .line = 6, .words = "which no grant names"},
		{.rules = "  op:\n    evm:\n      recipients: []\n",
		 .line = 8,
		 .words = "chain_ids"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      recipients: []\n",
		 .line = 8,
		 .words = "can never match"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      recipients:\n        - "
			  "address: "
			  "'0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'\n",
		 .line = 10,
		 .words = "checksum"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      recipients:\n        - "
			  "address: "
			  "'0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'\n          selectors: "
			  "['0x1234']\n",
		 .line = 11,
		 .words = "8 hex digits"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      max_value_wei: 'lots'\n",
		 .line = 9,
		 .words = "whole number"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      colour: red\n",
		 .line = 9,
		 .words = "unknown field"},
		{.rules = "  op:\n    solana:\n      max_instructions: 3\n",
		 .line = 8,
		 .words = "need programs"},
		{.rules = "  op:\n    solana:\n      programs: ['notbase58!']\n",
		 .line = 8,
		 .words = "not a Solana address"},
		{.rules = "  op:\n    eip712:\n      domains: [{}]\n      primary_types: [A]\n",
		 .line = 8,
		 .words = "at least one field"},
		{.rules = "  op:\n    eip191:\n      max_length: -1\n",
		 .line = 8,
		 .words = "whole number"},
		{.rules = "  op:\n    bitcoin: {}\n",
		 .line = 7,
		 .words = "unknown field 'bitcoin'"},
		{.rules = "  op:\n    evm:\n      chain_ids: []\n",
		 .line = 8,
		 .words = "chain_ids must list at least one entry"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      recipients: 7\n",
		 .line = 9,
		 .words = "recipients must be a list"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      recipients:\n        - "
			  "address: "
			  "'0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'\n          selectors: "
			  "'0x12345678'\n",
		 .line = 11,
		 .words = "selectors must be a list"},
		{.rules = "  op:\n    evm:\n      chain_ids: [1]\n      erc20: []\n",
		 .line = 9,
		 .words = "erc20 must list at least one entry"},
		{.rules = "  op:\n    solana:\n      programs: []\n",
		 .line = 8,
		 .words = "must list at least one entry"},
		{.rules = "  op:\n    eip712:\n      domains: []\n      primary_types: [A]\n",
		 .line = 8,
		 .words = "domains must list at least one entry"},
		{.rules = "  op:\n    eip712:\n      domains: [{name: A}]\n      primary_types: "
			  "{}\n",
		 .line = 9,
		 .words = "primary_types must be a list"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[2048], prefix[200];
		const char *path, *msg;
		struct policy *p = NULL;

		snprintf(text, sizeof(text),
			 "grants:\n  - client: local\n    key: k\n    operations: [op]\nrules:\n%s",
			 cases[i].rules);
		path = tu_write_file("lint.yaml", text);
		if (policy_load(path, &p) != SG_ERR_CONFIG)
			fail_msg("lint case %zu accepted", i);
		msg = sg_errmsg(SG_ERR_CONFIG);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(msg, prefix, strlen(prefix)) != 0 ||
		    strstr(msg, cases[i].words) == NULL)
			fail_msg("lint case %zu: got '%s', want '%s...%s'", i, msg, prefix,
				 cases[i].words);
	}
}

static void test_spend_limit_lint(void **state)
{
	static const struct {
		const char *limits;
		int line;
		const char *words;
	} cases[] = {
		{.limits = "  - key: ghost\n    asset: native\n    window: 1h\n    max: '1'\n",
		 .line = 6,
		 .words = "key 'ghost' is not named"},
		{.limits = "  - key: k\n    asset: gold\n    window: 1h\n    max: '1'\n",
		 .line = 7,
		 .words = "not native, erc20"},
		{.limits = "  - key: k\n    asset: "
			   "'erc20:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'\n"
			   "    window: 1h\n    max: '1'\n",
		 .line = 7,
		 .words = "checksum"},
		{.limits = "  - key: k\n    asset: native\n    window: 1y\n    max: '1'\n",
		 .line = 8,
		 .words = "s, m, h or d"},
		{.limits = "  - key: k\n    asset: native\n    window: 30d\n    max: '1'\n",
		 .line = 8,
		 .words = "1m to 7d"},
		{.limits = "  - key: k\n    asset: native\n    window: 1h\n    max: lots\n",
		 .line = 9,
		 .words = "whole number"},
		{.limits = "  - key: k\n    asset: native\n    window: 1h\n",
		 .line = 6,
		 .words = "needs max"},
		{.limits = "  key: k\n", .line = 6, .words = "spend_limits must be a list"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024], prefix[200];
		const char *path, *msg;
		struct policy *p = NULL;

		snprintf(text, sizeof(text),
			 "grants:\n  - client: local\n    key: k\n    operations: [op]\n"
			 "spend_limits:\n%s",
			 cases[i].limits);
		path = tu_write_file("spend.yaml", text);
		if (policy_load(path, &p) != SG_ERR_CONFIG)
			fail_msg("spend case %zu accepted", i);
		msg = sg_errmsg(SG_ERR_CONFIG);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(msg, prefix, strlen(prefix)) != 0 ||
		    strstr(msg, cases[i].words) == NULL)
			fail_msg("spend case %zu: got '%s', want '%s...%s'", i, msg, prefix,
				 cases[i].words);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spend_limit_lint),
		cmocka_unit_test(test_evm),
		cmocka_unit_test(test_solana),
		cmocka_unit_test(test_solana_system_transfers),
		cmocka_unit_test(test_spl),
		cmocka_unit_test(test_solana_lookup_tables),
		cmocka_unit_test(test_eip712_eip191),
		cmocka_unit_test(test_lint),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
