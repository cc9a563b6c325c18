/* What a payload spends, per asset, read from the decoded transaction, message or typed data (never
 * from anything the client says about it). A payload whose spends cannot be read gives false: the
 * signing door refuses it (spend_unreadable) where a spend limit watches the key. What counts as a
 * spend of which asset, what is harmless and what is unreadable: docs/policy.md, "What each limit
 * reads". Every amount is 256 bits, summed per asset, saturating at 2^256-1. */
#include "spends_internal.h"

/* ---- 256-bit amounts ------------------------------------------------------------------- */

void policy_u256_from_evm(const struct evm_uint *u, uint8_t out[32])
{
	if (u->len > 32) { /* the decoder never gives one; if it did, the worst case */
		memset(out, 0xff, 32);
		return;
	}
	memset(out, 0, 32);
	if (u->len > 0)
		memcpy(out + 32 - u->len, u->be, u->len);
}

void policy_u256_from_u64(uint64_t v, uint8_t out[32])
{
	memset(out, 0, 32);
	for (int i = 31; i >= 24; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/* Schoolbook, base 256, over the significant bytes only: acc[k] gathers the digit products of
 * weight 256^k (each at most 255 x 255, at most 32 of them meet in one place: under 2^21), then
 * one carry pass. A digit left at weight 256^32 or above is an overflow. */
static size_t u256_significant(const uint8_t v[32])
{
	size_t n = 32;

	while (n > 0 && v[32 - n] == 0)
		n--;
	return n;
}

bool policy_u256_mul(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
	uint32_t acc[64] = {0};
	size_t na = u256_significant(a), nb = u256_significant(b);
	bool fits = true;

	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			acc[i + j] += (uint32_t)a[31 - i] * b[31 - j];
	for (size_t k = 0; k < 64; k++) {
		if (k + 1 < 64)
			acc[k + 1] += acc[k] >> 8;
		if (k < 32)
			out[31 - k] = (uint8_t)acc[k];
		else if (acc[k] != 0)
			fits = false;
	}
	if (!fits)
		memset(out, 0xff, 32);
	return fits;
}

bool policy_u256_add(uint8_t acc[32], const uint8_t v[32])
{
	unsigned carry = 0;

	for (int i = 31; i >= 0; i--) {
		unsigned x = (unsigned)acc[i] + v[i] + carry;

		acc[i] = (uint8_t)x;
		carry = x >> 8;
	}
	if (carry != 0) {
		memset(acc, 0xff, 32);
		return false;
	}
	return true;
}

static bool u256_is_zero(const uint8_t v[32])
{
	uint8_t any = 0;

	for (int i = 0; i < 32; i++)
		any |= v[i];
	return any == 0;
}

/* Adds amount to the asset's entry (saturating); false when a new asset would be one more than
 * POLICY_SPENDS_MAX. */
bool spend_add(struct policy_spend *out, size_t *n, const char *asset, const uint8_t amount[32])
{
	struct policy_spend *e = NULL;

	for (size_t i = 0; i < *n && e == NULL; i++)
		if (strcmp(out[i].asset, asset) == 0)
			e = &out[i];
	if (e == NULL) {
		if (*n == POLICY_SPENDS_MAX)
			return false;
		e = &out[(*n)++];
		memset(e, 0, sizeof(*e));
		snprintf(e->asset, sizeof(e->asset), "%s", asset);
	}
	(void)policy_u256_add(e->amount, amount); /* saturates: the limit then refuses */
	return true;
}

/* ---- EVM ----------------------------------------------------------------------------------- */

/* Every call the spend reader knows, by selector: the ones whose amount it reads (the exact
 * length, the amount in the last word, the contract as the asset erc20:<to>), and the ones that
 * move or give away value in a way it does not read, sent to whatever contract. The unit test
 * computes keccak256 of each signature and checks it against the selector. Any other selector
 * (decreaseAllowance, mint, a contract's own functions) spends nothing but its value and gas;
 * what a contract may be called with is for the content rules (recipients, selectors). */
const struct policy_evm_call policy_evm_calls[] = {
	/* read */
	{.selector = {0xa9, 0x05, 0x9c, 0xbb},
	 .signature = "transfer(address,uint256)",
	 .read_len = 4 + 2 * 32,
	 .why = "ERC-20: moves the amount to `to`"},
	{.selector = {0x23, 0xb8, 0x72, 0xdd},
	 .signature = "transferFrom(address,address,uint256)",
	 .read_len = 4 + 3 * 32,
	 .why = "ERC-20: moves the amount from `from` (an allowance)"},
	{.selector = {0x09, 0x5e, 0xa7, 0xb3},
	 .signature = "approve(address,uint256)",
	 .read_len = 4 + 2 * 32,
	 .why = "ERC-20: lets the spender take the amount"},
	{.selector = {0x39, 0x50, 0x93, 0x51},
	 .signature = "increaseAllowance(address,uint256)",
	 .read_len = 4 + 2 * 32,
	 .why = "OpenZeppelin ERC-20: lets the spender take the amount more"},
	{.selector = {0xd7, 0x3d, 0xd6, 0x23},
	 .signature = "increaseApproval(address,uint256)",
	 .read_len = 4 + 2 * 32,
	 .why = "older OpenZeppelin ERC-20: as increaseAllowance"},
	/* ERC-677 / ERC-1363: a transfer or approval that also calls the receiver */
	{.selector = {0x12, 0x96, 0xee, 0x62},
	 .signature = "transferAndCall(address,uint256)",
	 .why = "ERC-1363: a transfer that calls the receiver"},
	{.selector = {0x40, 0x00, 0xae, 0xa0},
	 .signature = "transferAndCall(address,uint256,bytes)",
	 .why = "ERC-677 / ERC-1363: a transfer that calls the receiver"},
	{.selector = {0xd8, 0xfb, 0xe9, 0x94},
	 .signature = "transferFromAndCall(address,address,uint256)",
	 .why = "ERC-1363: a transferFrom that calls the receiver"},
	{.selector = {0xc1, 0xd3, 0x4b, 0x89},
	 .signature = "transferFromAndCall(address,address,uint256,bytes)",
	 .why = "ERC-1363: a transferFrom that calls the receiver"},
	{.selector = {0x31, 0x77, 0x02, 0x9f},
	 .signature = "approveAndCall(address,uint256)",
	 .why = "ERC-1363: an approval that calls the spender (which can spend it at once)"},
	{.selector = {0xca, 0xe9, 0xca, 0x51},
	 .signature = "approveAndCall(address,uint256,bytes)",
	 .why = "ERC-1363: an approval that calls the spender (which can spend it at once)"},
	{.selector = {0xbe, 0x45, 0xfd, 0x62},
	 .signature = "transfer(address,uint256,bytes)",
	 .why = "ERC-223: a transfer that calls the receiver"},
	/* ERC-777 */
	{.selector = {0x9b, 0xd9, 0xbb, 0xc6},
	 .signature = "send(address,uint256,bytes)",
	 .why = "ERC-777: moves tokens"},
	{.selector = {0x62, 0xad, 0x1b, 0x83},
	 .signature = "operatorSend(address,address,uint256,bytes,bytes)",
	 .why = "ERC-777: an operator moves a holder's tokens"},
	{.selector = {0x95, 0x9b, 0x8c, 0x3f},
	 .signature = "authorizeOperator(address)",
	 .why = "ERC-777: lets the operator move all of the signer's tokens"},
	{.selector = {0xfe, 0x9d, 0x93, 0x03},
	 .signature = "burn(uint256,bytes)",
	 .why = "ERC-777: destroys the signer's tokens"},
	{.selector = {0xfc, 0x67, 0x3c, 0x4f},
	 .signature = "operatorBurn(address,uint256,bytes,bytes)",
	 .why = "ERC-777: an operator destroys a holder's tokens"},
	/* burns (ERC20Burnable) */
	{.selector = {0x42, 0x96, 0x6c, 0x68},
	 .signature = "burn(uint256)",
	 .why = "ERC20Burnable: destroys the signer's tokens"},
	{.selector = {0x79, 0xcc, 0x67, 0x90},
	 .signature = "burnFrom(address,uint256)",
	 .why = "ERC20Burnable: destroys tokens through an allowance"},
	/* ERC-721 / ERC-1155 */
	{.selector = {0xa2, 0x2c, 0xb4, 0x65},
	 .signature = "setApprovalForAll(address,bool)",
	 .why = "ERC-721 / ERC-1155: lets the operator move every token of the collection"},
	{.selector = {0x42, 0x84, 0x2e, 0x0e},
	 .signature = "safeTransferFrom(address,address,uint256)",
	 .why = "ERC-721: moves a token"},
	{.selector = {0xb8, 0x8d, 0x4f, 0xde},
	 .signature = "safeTransferFrom(address,address,uint256,bytes)",
	 .why = "ERC-721: moves a token"},
	{.selector = {0xf2, 0x42, 0x43, 0x2a},
	 .signature = "safeTransferFrom(address,address,uint256,uint256,bytes)",
	 .why = "ERC-1155: moves an amount of a token"},
	{.selector = {0x2e, 0xb2, 0xc2, 0xd6},
	 .signature = "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
	 .why = "ERC-1155: moves amounts of several tokens"},
	/* permits: a signed approval, submitted */
	{.selector = {0xd5, 0x05, 0xac, 0xcf},
	 .signature = "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
	 .why = "EIP-2612: sets an allowance from a signature"},
	{.selector = {0x8f, 0xcb, 0xaf, 0x0c},
	 .signature = "permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)",
	 .why = "DAI: sets an unlimited allowance from a signature"},
	{.selector = {0xda, 0xea, 0x85, 0xc5},
	 .signature = "approve(address)",
	 .why = "DSToken (MKR): an unlimited approval"},
	/* DAI / DSToken aliases of transferFrom */
	{.selector = {0xb7, 0x53, 0xa9, 0x8c},
	 .signature = "push(address,uint256)",
	 .why = "DAI / DSToken: transferFrom(msg.sender, usr, wad)"},
	{.selector = {0xf2, 0xd5, 0xd5, 0x6b},
	 .signature = "pull(address,uint256)",
	 .why = "DAI / DSToken: transferFrom(usr, msg.sender, wad)"},
	{.selector = {0xbb, 0x35, 0x78, 0x3b},
	 .signature = "move(address,address,uint256)",
	 .why = "DAI / DSToken: transferFrom(src, dst, wad)"},
	/* EIP-3009 (USDC): a signed transfer, submitted */
	{.selector = {0xe3, 0xee, 0x16, 0x0e},
	 .signature =
		 "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,"
		 "bytes32,bytes32)",
	 .why = "EIP-3009: a transfer from a signature"},
	{.selector = {0xcf, 0x09, 0x29, 0x95},
	 .signature =
		 "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
	 .why = "EIP-3009 (USDC v2.2): a transfer from a signature"},
	{.selector = {0xef, 0x55, 0xbe, 0xc6},
	 .signature =
		 "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,"
		 "bytes32,bytes32)",
	 .why = "EIP-3009: a transfer from a signature"},
	{.selector = {0x88, 0xb7, 0xab, 0x63},
	 .signature =
		 "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
	 .why = "EIP-3009 (USDC v2.2): a transfer from a signature"},
	/* Permit2 (0x000000000022D473030F116dDEE9F6B43aC78BA3) */
	{.selector = {0x87, 0x51, 0x7c, 0x45},
	 .signature = "approve(address,address,uint160,uint48)",
	 .why = "Permit2: an allowance over the signer's ERC-20 approvals to Permit2"},
	{.selector = {0x36, 0xc7, 0x85, 0x16},
	 .signature = "transferFrom(address,address,uint160,address)",
	 .why = "Permit2: moves tokens through a Permit2 allowance"},
	{.selector = {0x0d, 0x58, 0xb1, 0xdb},
	 .signature = "transferFrom((address,address,uint160,address)[])",
	 .why = "Permit2: moves tokens through Permit2 allowances"},
	{.selector = {0x2b, 0x67, 0xb5, 0x70},
	 .signature = "permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)",
	 .why = "Permit2: sets an allowance from a signature (PermitSingle)"},
	{.selector = {0x2a, 0x2d, 0x80, 0xd1},
	 .signature = "permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)",
	 .why = "Permit2: sets allowances from a signature (PermitBatch)"},
	{.selector = {0x30, 0xf2, 0x8b, 0x7a},
	 .signature = "permitTransferFrom(((address,uint256),uint256,uint256),(address,uint256),"
		      "address,bytes)",
	 .why = "Permit2: a transfer from a signature"},
	{.selector = {0xed, 0xd9, 0x44, 0x4b},
	 .signature =
		 "permitTransferFrom(((address,uint256)[],uint256,uint256),(address,uint256)[],"
		 "address,bytes)",
	 .why = "Permit2: transfers from a signature"},
	{.selector = {0x13, 0x7c, 0x29, 0xfe},
	 .signature =
		 "permitWitnessTransferFrom(((address,uint256),uint256,uint256),(address,uint256),"
		 "address,bytes32,string,bytes)",
	 .why = "Permit2: a transfer from a signature with a witness (UniswapX orders)"},
	{.selector = {0xfe, 0x8e, 0xc1, 0xa7},
	 .signature = "permitWitnessTransferFrom(((address,uint256)[],uint256,uint256),(address,"
		      "uint256)[],address,bytes32,string,bytes)",
	 .why = "Permit2: transfers from a signature with a witness"},
	/* batches that call the same contract with the signer as msg.sender */
	{.selector = {0xac, 0x96, 0x50, 0xd8},
	 .signature = "multicall(bytes[])",
	 .why = "OpenZeppelin / Uniswap: delegatecalls itself, so each call keeps msg.sender (a "
		"transfer inside is the signer's)"},
	{.selector = {0x5a, 0xe4, 0x01, 0xdc},
	 .signature = "multicall(uint256,bytes[])",
	 .why = "Uniswap (deadline): as multicall(bytes[])"},
	{.selector = {0x1f, 0x04, 0x64, 0xd1},
	 .signature = "multicall(bytes32,bytes[])",
	 .why = "Uniswap (previous block hash): as multicall(bytes[])"},
	/* accounts the signer owns that move their own funds */
	{.selector = {0x6a, 0x76, 0x12, 0x02},
	 .signature = "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,"
		      "address,bytes)",
	 .why = "Safe: executes any call (or delegatecall) of the Safe"},
	{.selector = {0x46, 0x87, 0x21, 0xa7},
	 .signature = "execTransactionFromModule(address,uint256,bytes,uint8)",
	 .why = "Safe: a module executes any call of the Safe"},
	{.selector = {0xd4, 0xd9, 0xbd, 0xcd},
	 .signature = "approveHash(bytes32)",
	 .why = "Safe: an owner's approval of a Safe transaction, for anyone to execute"},
	{.selector = {0xb6, 0x1d, 0x27, 0xf6},
	 .signature = "execute(address,uint256,bytes)",
	 .why = "ERC-4337 / ERC-725 smart accounts: executes any call of the account"},
	{.selector = {0x47, 0xe1, 0xda, 0x2a},
	 .signature = "executeBatch(address[],uint256[],bytes[])",
	 .why = "ERC-4337 smart accounts: executes calls of the account"},
	{.selector = {0x34, 0xfc, 0xd5, 0xbe},
	 .signature = "executeBatch((address,uint256,bytes)[])",
	 .why = "ERC-4337 smart accounts (Coinbase): executes calls of the account"},
	{.selector = {0xe9, 0xae, 0x5c, 0x53},
	 .signature = "execute(bytes32,bytes)",
	 .why = "ERC-7579 smart accounts: executes calls of the account"},
	{.selector = {0x1c, 0xff, 0x79, 0xcd},
	 .signature = "execute(address,bytes)",
	 .why = "DSProxy: delegatecalls any code as the proxy"},
	/* vault shares and contract control */
	{.selector = {0xb4, 0x60, 0xaf, 0x94},
	 .signature = "withdraw(uint256,address,address)",
	 .why = "ERC-4626: burns the owner's shares, sends the assets to the receiver"},
	{.selector = {0xba, 0x08, 0x76, 0x52},
	 .signature = "redeem(uint256,address,address)",
	 .why = "ERC-4626: burns the owner's shares, sends the assets to the receiver"},
	{.selector = {0xf2, 0xfd, 0xe3, 0x8b},
	 .signature = "transferOwnership(address)",
	 .why = "Ownable: gives the contract (its mint rights, its treasury) to someone else"},
};
const size_t policy_evm_calls_count = sizeof(policy_evm_calls) / sizeof(policy_evm_calls[0]);

bool policy_spends_evm(const struct evm_tx *tx, struct policy_spend *out, size_t *n)
{
	const struct policy_evm_call *call = NULL;
	uint8_t native[32], gas[32], price[32], fee[32];
	char asset[POLICY_ASSET_MAX], addr[EVM_ADDRESS_TEXT_LEN];

	*n = 0;
	/* native: the value plus the most the sender can be charged for gas, gas limit x
	 * maxFeePerGas (EIP-1559: base fee and tip together never exceed it) or x gasPrice */
	policy_u256_from_evm(&tx->value, native);
	policy_u256_from_evm(&tx->gas_limit, gas);
	policy_u256_from_evm(tx->type == EVM_TX_DYNAMIC_FEE ? &tx->max_fee : &tx->gas_price, price);
	(void)policy_u256_mul(gas, price, fee); /* both saturate: the limit then refuses */
	(void)policy_u256_add(native, fee);
	if (!u256_is_zero(native) && !spend_add(out, n, "native", native))
		return false;
	if (tx->is_create || tx->data_len < 4)
		return true;
	for (size_t i = 0; i < policy_evm_calls_count && call == NULL; i++)
		if (memcmp(tx->data, policy_evm_calls[i].selector, 4) == 0)
			call = &policy_evm_calls[i];
	if (call == NULL)
		return true;
	/* not read, or trailing bytes (which Solidity ignores) that leave the amount where it is
	 * not read here: refuse to guess */
	if (call->read_len == 0 || tx->data_len != call->read_len)
		return false;
	addr_evm_checksum(tx->to, addr);
	snprintf(asset, sizeof(asset), "erc20:%s", addr);
	return spend_add(out, n, asset, tx->data + tx->data_len - 32);
}

/* ---- EIP-712 ------------------------------------------------------------------------------- */

/* Struct types named like these (case-insensitively, anywhere in the name) sign away value: a
 * permit sets an allowance, an order or a meta-transaction lets someone move the signer's assets
 * on its behalf. */
static const char *const eip712_value_names[] = {
	"permit", /* EIP-2612 and DAI Permit; Permit2 PermitSingle, PermitBatch, PermitDetails,
		     PermitTransferFrom, PermitBatchTransferFrom, PermitWitness*TransferFrom */
	"order",  /* Seaport OrderComponents and BulkOrder; 0x LimitOrder, RfqOrder, OtcOrder; the
		     Order of CoW, 1inch, Blur, Rarible; UniswapX *Order witnesses */
	"forwardrequest",  /* EIP-2771 forwarders: ForwardRequest, ForwardRequestData */
	"metatransaction", /* Biconomy / Polygon MetaTransaction, 0x MetaTransactionV2 */
	"metatx",          /* the same, shortened */
	"safetx",          /* Safe: a transaction of the Safe */
	"safemessage",     /* Safe: an EIP-1271 message of the Safe, such as a permit */
	"authorization", /* EIP-3009 TransferWithAuthorization / ReceiveWithAuthorization, Compound
			    III Authorization */
	"useroperation", /* ERC-4337 PackedUserOperation */
	"delegation",    /* ERC-7710 Delegation */
};

/* Address fields named like these grant someone the signer's assets. */
static const char *const eip712_value_fields[] = {"spender", "operator"};

static bool ascii_lower_equal(char a, char b)
{
	if (a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b;
}

/* Whether word (lower case) occurs in name, ignoring case. */
static bool name_contains(const char *name, const char *word)
{
	size_t nl = strlen(name), wl = strlen(word);

	for (size_t i = 0; wl <= nl && i <= nl - wl; i++) {
		size_t k = 0;

		while (k < wl && ascii_lower_equal(name[i + k], word[k]))
			k++;
		if (k == wl)
			return true;
	}
	return false;
}

static bool name_equal(const char *name, const char *word)
{
	return strlen(name) == strlen(word) && name_contains(name, word);
}

bool policy_spends_eip712(const struct eip712 *td, struct policy_spend *out, size_t *n)
{
	(void)out;
	*n = 0;
	/* the decoder names at least the primary type; facts it could not record in full are not
	 * read */
	if (td->n_struct_types == 0 || td->n_struct_types > EIP712_TYPES_MAX ||
	    td->n_address_fields > EIP712_ADDRESS_FIELDS_MAX || td->address_fields_incomplete)
		return false;
	for (size_t i = 0; i < td->n_struct_types; i++)
		for (size_t k = 0; k < sizeof(eip712_value_names) / sizeof(eip712_value_names[0]);
		     k++)
			if (name_contains(td->struct_types[i], eip712_value_names[k]))
				return false;
	for (size_t i = 0; i < td->n_address_fields; i++)
		for (size_t k = 0; k < sizeof(eip712_value_fields) / sizeof(eip712_value_fields[0]);
		     k++)
			if (name_equal(td->address_fields[i], eip712_value_fields[k]))
				return false;
	return true;
}
