/* What a Solana message spends for its signer: native SOL (transfers, account funding, the fee
 * and the priority fee), and the SPL tokens of the instructions that move them. */
#include "spends_internal.h"

/* ---- Solana -------------------------------------------------------------------------------- */

const uint8_t policy_sol_system_program[32] = {0};
/* ComputeBudget111111111111111111111111111111 */
const uint8_t policy_sol_compute_budget_program[32] = {
	0x03, 0x06, 0x46, 0x6f, 0xe5, 0x21, 0x17, 0x32, 0xff, 0xec, 0xad,
	0xba, 0x72, 0xc3, 0x9b, 0xe7, 0xbc, 0x8c, 0xe5, 0xbb, 0xc5, 0xf7,
	0x12, 0x6b, 0x2c, 0x43, 0x9b, 0x3a, 0x40, 0x00, 0x00, 0x00};
/* TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA */
const uint8_t policy_sol_token_program[32] = {0x06, 0xdd, 0xf6, 0xe1, 0xd7, 0x65, 0xa1, 0x93,
					      0xd9, 0xcb, 0xe1, 0x46, 0xce, 0xeb, 0x79, 0xac,
					      0x1c, 0xb4, 0x85, 0xed, 0x5f, 0x5b, 0x37, 0x91,
					      0x3a, 0x8c, 0xf5, 0x85, 0x7e, 0xff, 0x00, 0xa9};
/* TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb */
const uint8_t policy_sol_token_2022_program[32] = {0x06, 0xdd, 0xf6, 0xe1, 0xee, 0x75, 0x8f, 0xde,
						   0x18, 0x42, 0x5d, 0xbc, 0xe4, 0x6c, 0xcd, 0xda,
						   0xb6, 0x1a, 0xfc, 0x4d, 0x83, 0xb9, 0x0d, 0x27,
						   0xfe, 0xbd, 0xf9, 0x28, 0xd8, 0xa1, 0x8b, 0xfc};
/* Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo */
static const uint8_t memo_v1_program[32] = {0x05, 0x4a, 0x53, 0x50, 0xf8, 0x5d, 0xc8, 0x82,
					    0xd6, 0x14, 0xa5, 0x56, 0x72, 0x78, 0x8a, 0x29,
					    0x6d, 0xdf, 0x1e, 0xab, 0xab, 0xd0, 0xa6, 0x06,
					    0x78, 0x88, 0x49, 0x32, 0xf4, 0xee, 0xf6, 0xa0};
/* MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr */
static const uint8_t memo_v2_program[32] = {0x05, 0x4a, 0x53, 0x5a, 0x99, 0x29, 0x21, 0x06,
					    0x4d, 0x24, 0xe8, 0x71, 0x60, 0xda, 0x38, 0x7c,
					    0x7c, 0x35, 0xb5, 0xdd, 0xbc, 0x92, 0xbb, 0x81,
					    0xe4, 0x1f, 0xa8, 0x40, 0x41, 0x05, 0x44, 0x8d};
/* the signature-verification precompiles, whose signatures are charged like the transaction's:
 * Ed25519SigVerify111111111111111111111111111, KeccakSecp256k11111111111111111111111111111,
 * Secp256r1SigVerify1111111111111111111111111 */
static const uint8_t precompile_programs[3][32] = {
	{0x03, 0x7d, 0x46, 0xd6, 0x7c, 0x93, 0xfb, 0xbe, 0x12, 0xf9, 0x42,
	 0x8f, 0x83, 0x8d, 0x40, 0xff, 0x05, 0x70, 0x74, 0x49, 0x27, 0xf4,
	 0x8a, 0x64, 0xfc, 0xca, 0x70, 0x44, 0x80, 0x00, 0x00, 0x00},
	{0x04, 0xc6, 0xfc, 0x20, 0xf0, 0x50, 0xcc, 0xf0, 0x55, 0x84, 0xd7,
	 0x21, 0x1c, 0x9f, 0x8c, 0xf5, 0x9e, 0xc1, 0x47, 0x85, 0xbb, 0x16,
	 0x6a, 0x1e, 0x28, 0x30, 0xe8, 0x12, 0x20, 0x00, 0x00, 0x00},
	{0x06, 0x92, 0x0d, 0xec, 0x2f, 0xea, 0x71, 0xb5, 0xb7, 0x23, 0x81,
	 0x4d, 0x74, 0x2d, 0xa9, 0x03, 0x1c, 0x83, 0xe7, 0x5f, 0xdb, 0x79,
	 0x5d, 0x56, 0x8e, 0x75, 0x47, 0x80, 0x20, 0x00, 0x00, 0x00},
};

/* The fee rules, as Agave applies them:
 * - the base fee is lamports_per_signature (5,000 on every cluster today) for each signature the
 *   transaction carries (num_required_signatures) and each one its Ed25519, secp256k1 and
 *   secp256r1 precompile instructions verify (the first byte of their data, 0 when empty):
 *   solana-fee calculate_signature_fee, runtime-transaction signature_details.rs
 *   get_num_signatures_in_instruction; solana.com/docs/core/fees ("5000 lamports per signature");
 * - the prioritization fee is ceil(compute_unit_price x compute_unit_limit / 1,000,000)
 *   lamports: prioritization_fee.rs (micro_lamport_fee + MICRO_LAMPORTS_PER_LAMPORT - 1) /
 *   MICRO_LAMPORTS_PER_LAMPORT, solana.com/docs/core/fees;
 * - the compute unit limit is SetComputeUnitLimit's value when given, else
 *   DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT (200,000) for each instruction that is not Compute
 *   Budget, either way at most MAX_COMPUTE_UNIT_LIMIT (1,400,000):
 *   compute_budget_instruction_details.rs sanitize_and_convert_to_compute_budget_limits. (SIMD-0170
 *   gives builtin instructions 3,000 instead of 200,000; counting 200,000 for every one is the
 *   worst case.) */
#define SOL_LAMPORTS_PER_SIGNATURE       5000u
#define SOL_MICRO_LAMPORTS_PER_LAMPORT   1000000u
#define SOL_DEFAULT_INSTRUCTION_CU_LIMIT 200000u
#define SOL_MAX_CU_LIMIT                 1400000u

/* What the Compute Budget instructions asked for. */
struct sol_budget {
	bool has_heap, has_cu_limit, has_cu_price, has_data_size;
	uint32_t cu_limit;
	uint64_t cu_price;
};

/* A Compute Budget instruction: a Borsh enum, a u8 tag and its value. 1 RequestHeapFrame(u32),
 * 2 SetComputeUnitLimit(u32), 3 SetComputeUnitPrice(u64), 4 SetLoadedAccountsDataSizeLimit(u32);
 * Agave refuses the transaction for tag 0 (the removed RequestUnits), unknown tags
 * (InvalidInstructionData) and a second instruction of one kind (DuplicateInstruction). It reads
 * with try_from_slice_unchecked, which ignores trailing bytes: here they are unreadable. */
static bool sol_budget_read(const struct sol_instruction *ix, struct sol_budget *b)
{
	struct cursor c;
	uint8_t tag;
	uint32_t v32 = 0;
	uint64_t v64 = 0;
	bool *seen;
	int r;

	cursor_init(&c, ix->data, ix->data_len);
	if (cursor_get_u8(&c, &tag) != SG_OK)
		return false;
	switch (tag) {
	case 1:
		seen = &b->has_heap;
		break;
	case 2:
		seen = &b->has_cu_limit;
		break;
	case 3:
		seen = &b->has_cu_price;
		break;
	case 4:
		seen = &b->has_data_size;
		break;
	default:
		return false;
	}
	if (*seen)
		return false;
	r = tag == 3 ? cursor_get_u64le(&c, &v64) : cursor_get_u32le(&c, &v32);
	if (r != SG_OK || cursor_expect_end(&c) != SG_OK)
		return false;
	*seen = true;
	if (tag == 2)
		b->cu_limit = v32;
	if (tag == 3)
		b->cu_price = v64;
	return true;
}

/* ceil(price x limit / 10^6) in 256 bits, for limit <= SOL_MAX_CU_LIMIT: with price = q x 10^6 +
 * rest, it is q x limit + ceil(rest x limit / 10^6), and rest x limit < 1.4 x 10^12 fits. */
static void sol_priority_fee(uint64_t price, uint64_t limit, uint8_t out[32])
{
	uint8_t q[32], l[32], tail[32];
	uint64_t rest = price % SOL_MICRO_LAMPORTS_PER_LAMPORT;

	policy_u256_from_u64(price / SOL_MICRO_LAMPORTS_PER_LAMPORT, q);
	policy_u256_from_u64(limit, l);
	(void)policy_u256_mul(q, l, out); /* under 2^85: fits */
	policy_u256_from_u64((rest * limit + SOL_MICRO_LAMPORTS_PER_LAMPORT - 1) /
				     SOL_MICRO_LAMPORTS_PER_LAMPORT,
			     tail);
	(void)policy_u256_add(out, tail);
}

/* RFC 3629 UTF-8, as Rust's String (from_utf8) requires it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		size_t len;
		uint32_t cp, min;

		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xe0) == 0xc0) {
			len = 2, cp = b & 0x1fu, min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			len = 3, cp = b & 0x0fu, min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			len = 4, cp = b & 0x07u, min = 0x10000;
		} else {
			return false;
		}
		if (len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* A seed: a bincode String (u64 little-endian length, then the bytes), at most MAX_SEED_LEN (32)
 * bytes of UTF-8 (Pubkey::create_with_seed refuses longer ones). */
static int sol_seed_read(struct cursor *c)
{
	uint64_t len;
	const uint8_t *seed;
	int r;

	if ((r = cursor_get_u64le(c, &len)) != SG_OK)
		return r;
	if (len > 32)
		return sg_fail(SG_ERR_MALFORMED, "a seed of %llu bytes; at most 32",
			       (unsigned long long)len);
	if ((r = cursor_get_bytes(c, (size_t)len, &seed)) != SG_OK)
		return r;
	if (!utf8_valid(seed, (size_t)len))
		return sg_fail(SG_ERR_MALFORMED, "the seed is not UTF-8");
	return SG_OK;
}

/* system_instruction.rs, bincode: a u32 tag, then the fields in order, u64 little-endian, Pubkey
 * 32 bytes. The System program ignores trailing bytes (limited_deserialize); here every byte must
 * be the instruction's. */
int policy_sol_system_decode(const struct sol_instruction *ix, struct policy_sol_system *out)
{
	struct cursor c;
	int r;

	*out = (struct policy_sol_system){.kind = UINT32_MAX};
	cursor_init(&c, ix->data, ix->data_len);
	if (cursor_get_u32le(&c, &out->kind) != SG_OK)
		return sg_fail(SG_ERR_TRUNCATED,
			       "a System Program instruction shorter than its kind");
	switch (out->kind) {
	case POLICY_SOL_CREATE_ACCOUNT: /* lamports, space, owner; [funding, new account] */
		out->moves_lamports = true;
		out->to = 1;
		if ((r = cursor_get_u64le(&c, &out->lamports)) != SG_OK ||
		    (r = cursor_skip(&c, 8 + 32)) != SG_OK)
			return r;
		break;
	/* Transfer: lamports; [from, to]. WithdrawNonceAccount: lamports; [nonce account,
	 * recipient, RecentBlockhashes, Rent, authority] */
	case POLICY_SOL_TRANSFER:
	case POLICY_SOL_WITHDRAW_NONCE_ACCOUNT:
		out->moves_lamports = true;
		out->to = 1;
		if ((r = cursor_get_u64le(&c, &out->lamports)) != SG_OK)
			return r;
		break;
	case POLICY_SOL_CREATE_ACCOUNT_WITH_SEED:
		/* base, seed, lamports, space, owner; [funding, created account, base] */
		out->moves_lamports = true;
		out->to = 1;
		if ((r = cursor_skip(&c, 32)) != SG_OK || (r = sol_seed_read(&c)) != SG_OK ||
		    (r = cursor_get_u64le(&c, &out->lamports)) != SG_OK ||
		    (r = cursor_skip(&c, 8 + 32)) != SG_OK)
			return r;
		break;
	case POLICY_SOL_TRANSFER_WITH_SEED:
		/* lamports, from_seed, from_owner; [funding (derived), base, recipient] */
		out->moves_lamports = true;
		out->to = 2;
		if ((r = cursor_get_u64le(&c, &out->lamports)) != SG_OK ||
		    (r = sol_seed_read(&c)) != SG_OK || (r = cursor_skip(&c, 32)) != SG_OK)
			return r;
		break;
	case POLICY_SOL_ALLOCATE: /* space */
		if ((r = cursor_skip(&c, 8)) != SG_OK)
			return r;
		break;
	case POLICY_SOL_ADVANCE_NONCE_ACCOUNT:
	case POLICY_SOL_UPGRADE_NONCE_ACCOUNT:
		break;
	default:
		return sg_fail(SG_ERR_UNSUPPORTED, "System Program instruction %u is not read",
			       out->kind);
	}
	return cursor_expect_end(&c);
}

/* SPL Token and Token-2022 (same tags for what is read here): the instructions whose amount is
 * read (u8 tag, u64 amount, u8 decimals: exactly 10 bytes), with where their mint is, and the
 * ones that move nothing. Every other tag is unreadable: Transfer (3), Approve (4) and MintTo (7)
 * and Burn (8) name no mint; SetAuthority (6), CloseAccount (9), Freeze/Thaw (10, 11), the
 * queries (21, 23, 24) and every Token-2022 extension (25 and up) are not read. */
enum sol_token_what { SOL_TOKEN_HARMLESS, SOL_TOKEN_READ };

static const struct sol_token_kind {
	uint8_t kind;
	enum sol_token_what what;
	size_t mint_at;      /* READ: the mint's position among the instruction's accounts */
	size_t min_accounts; /* READ */
	const char *name;
} sol_token_kinds[] = {
	{.kind = 0, .what = SOL_TOKEN_HARMLESS, .name = "InitializeMint"},
	{.kind = 1, .what = SOL_TOKEN_HARMLESS, .name = "InitializeAccount"},
	{.kind = 2, .what = SOL_TOKEN_HARMLESS, .name = "InitializeMultisig"},
	{.kind = 5, .what = SOL_TOKEN_HARMLESS, .name = "Revoke"},
	{.kind = 12,
	 .what = SOL_TOKEN_READ,
	 .mint_at = 1,
	 .min_accounts = 4,
	 .name = "TransferChecked"}, /* [source, mint, destination, owner] */
	{.kind = 13,
	 .what = SOL_TOKEN_READ,
	 .mint_at = 1,
	 .min_accounts = 4,
	 .name = "ApproveChecked"}, /* [source, mint, delegate, owner] */
	{.kind = 14,
	 .what = SOL_TOKEN_READ,
	 .mint_at = 0,
	 .min_accounts = 3,
	 .name = "MintToChecked"}, /* [mint, destination, authority] */
	{.kind = 15,
	 .what = SOL_TOKEN_READ,
	 .mint_at = 1,
	 .min_accounts = 3,
	 .name = "BurnChecked"}, /* [account, mint, owner] */
	{.kind = 16, .what = SOL_TOKEN_HARMLESS, .name = "InitializeAccount2"},
	{.kind = 17, .what = SOL_TOKEN_HARMLESS, .name = "SyncNative"},
	{.kind = 18, .what = SOL_TOKEN_HARMLESS, .name = "InitializeAccount3"},
	{.kind = 19, .what = SOL_TOKEN_HARMLESS, .name = "InitializeMultisig2"},
	{.kind = 20, .what = SOL_TOKEN_HARMLESS, .name = "InitializeMint2"},
	{.kind = 22, .what = SOL_TOKEN_HARMLESS, .name = "InitializeImmutableOwner"},
};

/* A harmless instruction is known by its tag alone (whatever follows, the program reads that
 * instruction or fails); one that is read must be exactly its encoding, with a mint the signer
 * can see (not in a lookup table). */
static bool sol_token_spend(const struct sol_message *m, const struct sol_instruction *ix,
			    struct policy_spend *out, size_t *n)
{
	const struct sol_token_kind *k = NULL;
	struct cursor c;
	uint8_t tag, decimals, v[32];
	uint64_t amount;
	const uint8_t *mint;
	char asset[POLICY_ASSET_MAX], b58[SOLANA_ADDRESS_TEXT_MAX];

	cursor_init(&c, ix->data, ix->data_len);
	if (cursor_get_u8(&c, &tag) != SG_OK)
		return false;
	for (size_t i = 0; i < sizeof(sol_token_kinds) / sizeof(sol_token_kinds[0]) && k == NULL;
	     i++)
		if (sol_token_kinds[i].kind == tag)
			k = &sol_token_kinds[i];
	if (k == NULL)
		return false;
	if (k->what == SOL_TOKEN_HARMLESS)
		return true;
	if (cursor_get_u64le(&c, &amount) != SG_OK || cursor_get_u8(&c, &decimals) != SG_OK ||
	    cursor_expect_end(&c) != SG_OK || ix->n_accounts < k->min_accounts ||
	    (mint = sol_message_key(m, ix->accounts[k->mint_at])) == NULL ||
	    addr_solana_encode(mint, b58, sizeof(b58)) != SG_OK)
		return false;
	if (snprintf(asset, sizeof(asset), "spl:%s", b58) < 0)
		return false;
	policy_u256_from_u64(amount, v);
	return spend_add(out, n, asset, v);
}

/* Whether the instruction lists key among its accounts. A static position is enough: the signer
 * is a static key, and a lookup table that loaded its address again would name one account twice,
 * which the runtime refuses (AccountLoadedTwice). */
static bool sol_lists_key(const struct sol_message *m, const struct sol_instruction *ix,
			  const uint8_t key[32])
{
	for (size_t k = 0; k < ix->n_accounts; k++) {
		const uint8_t *a = sol_message_key(m, ix->accounts[k]);

		if (a != NULL && memcmp(a, key, 32) == 0)
			return true;
	}
	return false;
}

bool policy_spends_solana(const struct sol_message *m, const uint8_t signer[32],
			  struct policy_spend *out, size_t *n)
{
	struct sol_budget budget = {0};
	uint64_t not_budget = 0, signatures = m->num_required_signatures;
	const uint8_t *payer = sol_message_fee_payer(m);
	uint8_t v[32];

	*n = 0;
	for (size_t i = 0; i < m->n_instructions; i++) {
		const struct sol_instruction *ix = &m->instructions[i];
		const uint8_t *prog = sol_instruction_program(m, ix);

		if (memcmp(prog, policy_sol_compute_budget_program, 32) == 0) {
			if (!sol_budget_read(ix, &budget))
				return false;
			continue;
		}
		not_budget++;
		if (memcmp(prog, policy_sol_system_program, 32) == 0) {
			struct policy_sol_system s;

			if (policy_sol_system_decode(ix, &s) != SG_OK)
				return false;
			policy_u256_from_u64(s.lamports, v);
			if (s.moves_lamports && !spend_add(out, n, "native", v))
				return false;
		} else if (memcmp(prog, policy_sol_token_program, 32) == 0 ||
			   memcmp(prog, policy_sol_token_2022_program, 32) == 0) {
			if (!sol_token_spend(m, ix, out, n))
				return false;
		} else if (memcmp(prog, memo_v1_program, 32) != 0 &&
			   memcmp(prog, memo_v2_program, 32) != 0) {
			/* Memo logs its data and checks that the accounts it lists signed. Any
			 * other program given the key can move its lamports or tokens through a
			 * cross-program invocation signed with it; one not given the key cannot */
			for (size_t k = 0; k < 3; k++)
				if (memcmp(prog, precompile_programs[k], 32) == 0 &&
				    ix->data_len > 0)
					signatures += ix->data[0];
			if (sol_lists_key(m, ix, signer))
				return false;
		}
	}
	/* the fee, when the key pays it */
	if (payer != NULL && memcmp(payer, signer, 32) == 0) {
		uint64_t limit = budget.has_cu_limit ? budget.cu_limit
						     : SOL_DEFAULT_INSTRUCTION_CU_LIMIT *
							       not_budget; /* < 2^40 */
		uint8_t fee[32];

		if (limit > SOL_MAX_CU_LIMIT)
			limit = SOL_MAX_CU_LIMIT;
		sol_priority_fee(budget.cu_price, limit, fee);
		/* signatures < 256 + 255 x the instructions that fit in a packet */
		policy_u256_from_u64(SOL_LAMPORTS_PER_SIGNATURE * signatures, v);
		(void)policy_u256_add(fee, v);
		if (!spend_add(out, n, "native", fee))
			return false;
	}
	return true;
}
