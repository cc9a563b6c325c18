/* Fuzz target: the policy file loader (policy_load), on YAML an operator wrote. A refusal is
 * SG_ERR_CONFIG and says where and why (FILE:LINE: message). An accepted policy holds only what
 * the loader promises: names in their alphabets, rate and spend limits within their ranges,
 * assets in their canonical form. And the same file loaded twice decides everything the same
 * way: the grants for every (client, key, operation) among the names the file holds, the client
 * a peer is, the rate and spend limits (as the limits in force apply them), and the content rules
 * on a few fixed EVM transactions, Solana messages, EIP-712 typed data and EIP-191 lengths. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/names.h"
#include "fuzz_file.h"
#include "policy/limits.h"
#include "policy/policy.h"
#include "chain/evm/eip712.h"
#include "chain/evm/rlp.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAMES_MAX 24
#define SPKIS_MAX 4

/* ---- the requests the content rules are asked about -------------------------------------
 * Built once. Their addresses are the ones the seed corpus names (0x..aa a minter, 0x..bb a
 * recipient and spender, 0x..cc a token; Solana keys of 0x11, 0x22 bytes), so that rules
 * which match them are in reach of the fuzzer. */

#define EVM_REQUESTS    5
#define SOL_REQUESTS    2
#define EIP712_REQUESTS 2

struct evm_case {
	int type; /* 0 legacy, 2 dynamic fee */
	uint64_t chain;
	uint8_t to; /* the last byte of the recipient; 0: contract creation */
	uint8_t selector[4];
	uint8_t arg;     /* the address word's last byte */
	uint64_t amount; /* the amount word; UINT64_MAX: all ones (unlimited) */
	uint64_t value, gas, fee, priority;
	bool access_list;
};

static const struct evm_case evm_cases[EVM_REQUESTS] = {
	{.type = 2,
	 .chain = 137,
	 .to = 0xcc,
	 .selector = {0xa9, 0x05, 0x9c, 0xbb},
	 .arg = 0xbb,
	 .amount = 500,
	 .gas = 60000,
	 .fee = 100000000000,
	 .priority = 2000000000},
	{.type = 0,
	 .chain = 80002,
	 .to = 0xaa,
	 .selector = {0x40, 0xc1, 0x0f, 0x19},
	 .arg = 0xbb,
	 .amount = 1000,
	 .value = 1000,
	 .gas = 100000,
	 .fee = 50000000000},
	{.type = 2, .chain = 1, .to = 0, .gas = 500000, .fee = 30000000000, .priority = 1000000000},
	{.type = 2,
	 .chain = 137,
	 .to = 0xcc,
	 .selector = {0x09, 0x5e, 0xa7, 0xb3},
	 .arg = 0xbb,
	 .amount = UINT64_MAX,
	 .gas = 60000,
	 .fee = 100000000000,
	 .priority = 2000000000,
	 .access_list = true},
	{.type = 0,
	 .chain = 137,
	 .to = 0xbb,
	 .value = 1000000000000000000,
	 .gas = 21000,
	 .fee = 30000000000},
};

static const char *const typed_texts[EIP712_REQUESTS] = {
	"{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":"
	"\"chainId\",\"type\":\"uint256\"}],\"Login\":[{\"name\":\"user\",\"type\":\"address\"},"
	"{\"name\":\"nonce\",\"type\":\"uint256\"}]},\"primaryType\":\"Login\",\"domain\":{"
	"\"name\":\"FanPass\",\"chainId\":137},\"message\":{\"user\":"
	"\"0x00000000000000000000000000000000000000bb\",\"nonce\":1}}",
	"{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":"
	"\"version\",\"type\":\"string\"},{\"name\":\"chainId\",\"type\":\"uint256\"},{\"name\":"
	"\"verifyingContract\",\"type\":\"address\"}],\"Person\":[{\"name\":\"name\",\"type\":"
	"\"string\"},{\"name\":\"wallet\",\"type\":\"address\"}],\"Mail\":[{\"name\":\"from\","
	"\"type\":\"Person\"},{\"name\":\"to\",\"type\":\"Person\"},{\"name\":\"contents\","
	"\"type\":\"string\"}]},\"primaryType\":\"Mail\",\"domain\":{\"name\":\"Ether Mail\","
	"\"version\":\"1\",\"chainId\":1,\"verifyingContract\":"
	"\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"},\"message\":{\"from\":{\"name\":\"Cow\","
	"\"wallet\":\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"},\"to\":{\"name\":\"Bob\","
	"\"wallet\":\"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB\"},\"contents\":\"Hello, Bob!\"}}",
};

static const size_t eip191_lengths[] = {0, 32, 64, 65, 1u << 20};

static struct {
	bool ready;
	struct rlp_buf evm_buf[EVM_REQUESTS];
	struct evm_tx evm[EVM_REQUESTS];
	uint8_t sol_buf[SOL_REQUESTS][512];
	struct sol_message sol[SOL_REQUESTS];
	uint8_t signer[32];
	struct eip712 typed[EIP712_REQUESTS];
} req;

static void evm_word(uint8_t w[32], uint64_t v)
{
	memset(w, v == UINT64_MAX ? 0xff : 0, 32);
	for (int i = 31; i >= 24 && v != UINT64_MAX; i--, v >>= 8)
		w[i] = (uint8_t)v;
}

static void evm_build(const struct evm_case *c, struct rlp_buf *b, struct evm_tx *tx)
{
	uint8_t to[20] = {0}, call[68];
	size_t start, call_len = 0;

	to[19] = c->to;
	if (c->selector[0] != 0 || c->selector[1] != 0) {
		memcpy(call, c->selector, 4);
		evm_word(call + 4, c->arg);
		evm_word(call + 36, c->amount);
		call_len = sizeof(call);
	}
	if (c->type == 2)
		rlp_put_raw(b, (const uint8_t[]){0x02}, 1);
	start = b->len;
	if (c->type == 2) {
		rlp_put_u64(b, c->chain);
		rlp_put_u64(b, 1);
		rlp_put_u64(b, c->priority);
	} else {
		rlp_put_u64(b, 1);
	}
	rlp_put_u64(b, c->fee);
	rlp_put_u64(b, c->gas);
	rlp_put_bytes(b, c->to != 0 ? to : NULL, c->to != 0 ? 20 : 0);
	rlp_put_u64(b, c->value);
	rlp_put_bytes(b, call, call_len);
	if (c->type == 2) {
		size_t list = b->len;

		if (c->access_list) {
			size_t entry = b->len, keys;

			rlp_put_bytes(b, to, 20);
			keys = b->len;
			rlp_wrap_list(b, keys);
			rlp_wrap_list(b, entry);
		}
		rlp_wrap_list(b, list);
	} else {
		rlp_put_u64(b, c->chain);
		rlp_put_u64(b, 0);
		rlp_put_u64(b, 0);
	}
	rlp_wrap_list(b, start);
	if (rlp_buf_status(b) != SG_OK || evm_tx_decode(b->data, b->len, tx) != SG_OK)
		abort();
}

/* A legacy message of the fee payer 0x11..: an optional SetComputeUnitPrice, then a System
 * Program transfer of lamports to 0x22... */
static size_t sol_build(uint8_t *m, bool with_price, uint64_t lamports, uint64_t price)
{
	static const char compute_budget[] = "ComputeBudget111111111111111111111111111111";
	size_t n = 0, system = 2;

	m[n++] = 1;                  /* required signatures */
	m[n++] = 0;                  /* read-only signed */
	m[n++] = with_price ? 2 : 1; /* read-only unsigned: the programs */
	m[n++] = with_price ? 4 : 3;
	memset(m + n, 0x11, 32);
	memset(m + n + 32, 0x22, 32);
	memset(m + n + 64, 0, 32); /* the System Program */
	n += 96;
	if (with_price) {
		if (addr_solana_parse(compute_budget, m + n) != SG_OK)
			abort();
		n += 32;
	}
	memset(m + n, 0x44, 32); /* the recent blockhash */
	n += 32;
	m[n++] = with_price ? 2 : 1;
	if (with_price) {
		m[n++] = 3; /* program index */
		m[n++] = 0; /* no accounts */
		m[n++] = 9;
		m[n++] = 3; /* SetComputeUnitPrice */
		for (int i = 0; i < 8; i++)
			m[n++] = (uint8_t)(price >> (8 * i));
	}
	m[n++] = (uint8_t)system;
	m[n++] = 2;
	m[n++] = 0;
	m[n++] = 1;
	m[n++] = 12;
	m[n++] = 2; /* Transfer, a u32 */
	m[n++] = 0;
	m[n++] = 0;
	m[n++] = 0;
	for (int i = 0; i < 8; i++)
		m[n++] = (uint8_t)(lamports >> (8 * i));
	return n;
}

static void requests_build(void)
{
	size_t n;

	for (size_t i = 0; i < EVM_REQUESTS; i++)
		evm_build(&evm_cases[i], &req.evm_buf[i], &req.evm[i]);
	n = sol_build(req.sol_buf[0], false, 1000000, 0);
	if (sol_message_decode(req.sol_buf[0], n, &req.sol[0]) != SG_OK)
		abort();
	n = sol_build(req.sol_buf[1], true, 2000000, 5000);
	if (sol_message_decode(req.sol_buf[1], n, &req.sol[1]) != SG_OK)
		abort();
	memset(req.signer, 0x11, 32);
	for (size_t i = 0; i < EIP712_REQUESTS; i++)
		if (eip712_hash_text(typed_texts[i], strlen(typed_texts[i]), &req.typed[i]) !=
		    SG_OK)
			abort();
	req.ready = true;
}

/* ---- what is asked ------------------------------------------------------------------------ */

struct probes {
	char names[NAMES_MAX][OPERATION_MAX_LEN + 1]; /* clients, keys, operations, peer names */
	size_t n_names;
	uint8_t spki[SPKIS_MAX][32];
	size_t n_spki;
};

static bool name_char(uint8_t c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
}

/* The words of the input that could be names, a few fixed ones, and the 64-hex-digit words as
 * SPKI pins. */
static void probes_of(const uint8_t *data, size_t size, struct probes *pr)
{
	static const char *const fixed[] = {"local", "solana-adapter", "dev", "x"};

	memset(pr, 0, sizeof(*pr));
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		snprintf(pr->names[pr->n_names++], sizeof(pr->names[0]), "%s", fixed[i]);
	for (size_t i = 0; i < size;) {
		size_t j = i, got;

		while (j < size && j - i < OPERATION_MAX_LEN && name_char(data[j]))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		if (pr->n_names < NAMES_MAX) {
			memcpy(pr->names[pr->n_names], data + i, j - i);
			pr->names[pr->n_names++][j - i] = '\0';
		}
		if (j - i == 64 && pr->n_spki < SPKIS_MAX &&
		    hex_decode((const char *)data + i, 64, pr->spki[pr->n_spki], 32, &got) == SG_OK)
			pr->n_spki++;
		i = j;
	}
}

static bool bounded(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* ---- what an accepted policy holds -------------------------------------------------------- */

struct keys {
	char names[64][NAME_MAX_LEN + 1];
	unsigned long lines[64];
	size_t n, total;
};

static void key_seen(const char *key, unsigned long line, void *ctx)
{
	struct keys *k = ctx;

	/* a grant's key is a valid name, at a line of the file */
	if (key == NULL || !name_valid(key) || line == 0)
		abort();
	if (k->n < 64) {
		snprintf(k->names[k->n], sizeof(k->names[0]), "%s", key);
		k->lines[k->n++] = line;
	}
	k->total++;
}

static void check_sane(const struct policy *p, const struct keys *keys)
{
	for (size_t i = 0; i < policy_rate_limit_count(p); i++) {
		const struct policy_rate_limit *rl = policy_rate_limit_at(p, i);

		if (!bounded(rl->client, sizeof(rl->client)) ||
		    !bounded(rl->operation, sizeof(rl->operation)) ||
		    !bounded(rl->rule, sizeof(rl->rule)) || rl->rule[0] == '\0' ||
		    (strcmp(rl->client, POLICY_CLIENT_LOCAL) != 0 && !name_valid(rl->client)) ||
		    !operation_valid(rl->operation) || !policy_operation_named(p, rl->operation))
			abort();
		/* "per_minute: 1 to 1000000"; a burst of at least one signature */
		if (rl->per_minute < 1 || rl->per_minute > 1000000 || rl->burst < 1 ||
		    rl->burst > 1000000)
			abort();
		/* one limit per (client, operation): the one found for it is this one */
		if (policy_rate_limit_for(p, rl->client, rl->operation) != rl)
			abort();
	}
	if (policy_rate_limit_at(p, policy_rate_limit_count(p)) != NULL ||
	    policy_spend_limit_at(p, policy_spend_limit_count(p)) != NULL)
		abort();
	for (size_t i = 0; i < policy_spend_limit_count(p); i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(p, i);
		bool granted = false;
		uint8_t raw[32];
		char canon[EVM_ADDRESS_TEXT_LEN + 8];

		if (!bounded(sl->key, sizeof(sl->key)) || !bounded(sl->asset, sizeof(sl->asset)) ||
		    !bounded(sl->rule, sizeof(sl->rule)) || sl->rule[0] == '\0' ||
		    !name_valid(sl->key))
			abort();
		for (size_t k = 0; k < keys->n; k++)
			granted |= strcmp(keys->names[k], sl->key) == 0;
		if (!granted && keys->total == keys->n)
			abort();
		/* windows from 1 minute to 7 days */
		if (sl->window_seconds < 60 || sl->window_seconds > 7 * 86400)
			abort();
		/* an asset as the spend readers write it, so that the two compare as strings */
		if (strncmp(sl->asset, "erc20:", 6) == 0) {
			if (addr_evm_parse(sl->asset + 6, raw) != SG_OK)
				abort();
			addr_evm_checksum(raw, canon);
			if (strcmp(canon, sl->asset + 6) != 0)
				abort();
		} else if (strncmp(sl->asset, "spl:", 4) == 0) {
			if (addr_solana_parse(sl->asset + 4, raw) != SG_OK ||
			    addr_solana_encode(raw, canon, sizeof(canon)) != SG_OK ||
			    strcmp(canon, sl->asset + 4) != 0)
				abort();
		} else if (strcmp(sl->asset, "native") != 0) {
			abort();
		}
		for (size_t k = 0; k < i; k++) {
			const struct policy_spend_limit *o = policy_spend_limit_at(p, k);

			if (strcmp(o->key, sl->key) == 0 && strcmp(o->asset, sl->asset) == 0 &&
			    o->window_seconds == sl->window_seconds)
				abort();
		}
	}
}

/* The limits in force, built from this policy on empty ledgers: every bucket full, and every
 * spend limit lets exactly its max through (the smallest of those on the same key and asset),
 * not one base unit more. */
static void check_limits(const struct policy *p)
{
	struct limits *l;

	if (limits_new(&l) != SG_OK || limits_apply_policy(l, p) != SG_OK)
		abort();
	for (size_t i = 0; i < policy_rate_limit_count(p); i++) {
		const struct policy_rate_limit *rl = policy_rate_limit_at(p, i);

		if (limits_rate_peek(l, rl, 0) != (double)rl->burst)
			abort();
	}
	for (size_t i = 0; i < policy_spend_limit_count(p); i++) {
		const struct policy_spend_limit *sl = policy_spend_limit_at(p, i);
		struct policy_spend spend;
		struct policy_decision d;
		int carry = 1;

		memset(&spend, 0, sizeof(spend));
		snprintf(spend.asset, sizeof(spend.asset), "%s", sl->asset);
		memcpy(spend.amount, sl->max, 32);
		for (size_t k = 0; k < policy_spend_limit_count(p); k++) {
			const struct policy_spend_limit *o = policy_spend_limit_at(p, k);

			if (strcmp(o->key, sl->key) == 0 && strcmp(o->asset, sl->asset) == 0 &&
			    memcmp(o->max, spend.amount, 32) < 0)
				memcpy(spend.amount, o->max, 32);
		}
		if (!limits_spend_fits(l, p, sl->key, &spend, 1, 0, &d) || !d.allowed)
			abort();
		for (int k = 31; k >= 0 && carry; k--) {
			spend.amount[k] = (uint8_t)(spend.amount[k] + 1);
			carry = spend.amount[k] == 0;
		}
		if (carry)
			continue; /* the max was 2^256 - 1: nothing is more */
		if (limits_spend_fits(l, p, sl->key, &spend, 1, 0, &d) || d.allowed ||
		    strcmp(d.reason, "spend_limit_exceeded") != 0 || d.rule[0] == '\0' ||
		    d.message[0] == '\0')
			abort();
	}
	limits_free(l);
}

/* ---- the same answers from both loads ----------------------------------------------------- */

static void same_decision(const struct policy *p, const char *op, const struct policy_decision *x,
			  const struct policy_decision *y)
{
	if (!bounded(x->reason, sizeof(x->reason)) || !bounded(x->rule, sizeof(x->rule)) ||
	    !bounded(x->message, sizeof(x->message)) || !bounded(y->reason, sizeof(y->reason)) ||
	    !bounded(y->rule, sizeof(y->rule)) || !bounded(y->message, sizeof(y->message)))
		abort();
	if (x->allowed != y->allowed || strcmp(x->reason, y->reason) != 0 ||
	    strcmp(x->rule, y->rule) != 0 || strcmp(x->message, y->message) != 0)
		abort();
	/* a refusal says why (a stable code), where, and in a sentence */
	if (!x->allowed && (x->reason[0] == '\0' || x->rule[0] == '\0' || x->message[0] == '\0'))
		abort();
	/* rules can only be given for an operation a grant names: any other has none */
	if (!x->allowed && !policy_operation_named(p, op))
		abort();
}

/* The decisions start from different garbage, so that a field left unset shows. */
static void fill(struct policy_decision *x, struct policy_decision *y)
{
	memset(x, 0xa5, sizeof(*x));
	memset(y, 0x5a, sizeof(*y));
}

static void same_content_rules(const struct policy *a, const struct policy *b, const char *op)
{
	struct policy_decision da, db;

	for (size_t i = 0; i < EVM_REQUESTS; i++) {
		fill(&da, &db);
		policy_check_evm_tx(a, op, &req.evm[i], &da);
		policy_check_evm_tx(b, op, &req.evm[i], &db);
		same_decision(a, op, &da, &db);
	}
	for (size_t i = 0; i < SOL_REQUESTS; i++) {
		fill(&da, &db);
		policy_check_solana(a, op, &req.sol[i], req.signer, &da);
		policy_check_solana(b, op, &req.sol[i], req.signer, &db);
		same_decision(a, op, &da, &db);
	}
	for (size_t i = 0; i < EIP712_REQUESTS; i++) {
		fill(&da, &db);
		policy_check_eip712(a, op, &req.typed[i], &da);
		policy_check_eip712(b, op, &req.typed[i], &db);
		same_decision(a, op, &da, &db);
	}
	for (size_t i = 0; i < sizeof(eip191_lengths) / sizeof(eip191_lengths[0]); i++) {
		fill(&da, &db);
		policy_check_eip191(a, op, eip191_lengths[i], &da);
		policy_check_eip191(b, op, eip191_lengths[i], &db);
		same_decision(a, op, &da, &db);
	}
}

static void same_client(const struct policy *a, const struct policy *b,
			const struct policy_peer *peer)
{
	const char *ca = policy_client_for(a, peer), *cb = policy_client_for(b, peer);

	if ((ca == NULL) != (cb == NULL))
		abort();
	/* a peer is a client the file defines, never the console operator */
	if (ca != NULL &&
	    (strcmp(ca, cb) != 0 || !name_valid(ca) || strcmp(ca, POLICY_CLIENT_LOCAL) == 0))
		abort();
}

static void same_decisions(const struct policy *a, const struct policy *b, const struct probes *pr)
{
	static const uint8_t no_pin[32] = {1};
	struct keys ka, kb;

	if (policy_client_count(a) != policy_client_count(b) ||
	    policy_grant_count(a) != policy_grant_count(b) ||
	    policy_rate_limit_count(a) != policy_rate_limit_count(b) ||
	    policy_spend_limit_count(a) != policy_spend_limit_count(b))
		abort();
	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	policy_keys_foreach(a, key_seen, &ka);
	policy_keys_foreach(b, key_seen, &kb);
	if (ka.total != policy_grant_count(a) || ka.total != kb.total || ka.n != kb.n ||
	    memcmp(ka.lines, kb.lines, sizeof(ka.lines)) != 0 ||
	    memcmp(ka.names, kb.names, sizeof(ka.names)) != 0)
		abort();
	check_sane(a, &ka);
	for (size_t i = 0; i < policy_rate_limit_count(a); i++)
		if (memcmp(policy_rate_limit_at(a, i), policy_rate_limit_at(b, i),
			   sizeof(struct policy_rate_limit)) != 0)
			abort();
	for (size_t i = 0; i < policy_spend_limit_count(a); i++)
		if (memcmp(policy_spend_limit_at(a, i), policy_spend_limit_at(b, i),
			   sizeof(struct policy_spend_limit)) != 0)
			abort();
	check_limits(a);
	for (size_t i = 0; i < pr->n_spki; i++) {
		struct policy_peer peer = {.spki_sha256 = pr->spki[i]};

		same_client(a, b, &peer);
	}
	for (size_t c = 0; c < pr->n_names; c++) {
		const char *name = pr->names[c];
		struct policy_peer peer = {
			.san_uri = name, .san_uri_len = strlen(name), .spki_sha256 = no_pin};

		same_client(a, b, &peer);
		peer = (struct policy_peer){
			.cn = name, .cn_len = strlen(name), .spki_sha256 = no_pin};
		same_client(a, b, &peer);
		if (policy_operation_named(a, name) != policy_operation_named(b, name))
			abort();
		same_content_rules(a, b, name);
		for (size_t o = 0; o < pr->n_names; o++) {
			const char *op = pr->names[o];

			for (size_t k = 0; k < pr->n_names; k += 3) {
				const char *key = pr->names[k], *ra = NULL, *rb = NULL;
				int r1 = policy_authorize(a, name, key, op, &ra);
				int r2 = policy_authorize(b, name, key, op, &rb);

				if (r1 != r2 || (r1 != SG_OK && r1 != SG_ERR_PERMISSION))
					abort();
				if (r1 == SG_OK &&
				    (ra == NULL || rb == NULL || strcmp(ra, rb) != 0 ||
				     strncmp(ra, "grants[", 7) != 0 ||
				     !policy_client_has_key(a, name, key) ||
				     !policy_operation_named(a, op)))
					abort();
				if (r1 != SG_OK && (ra != NULL || sg_errmsg(r1)[0] == '\0'))
					abort();
			}
		}
		for (size_t k = 0; k < pr->n_names; k++)
			if (policy_client_has_key(a, name, pr->names[k]) !=
			    policy_client_has_key(b, name, pr->names[k]))
				abort();
	}
}

/* "FILE:LINE: message", the line counted from 1. */
static bool says_where(const char *msg, const char *path)
{
	size_t n = strlen(path);
	char *end;

	if (strncmp(msg, path, n) != 0 || msg[n] != ':' || !isdigit((unsigned char)msg[n + 1]))
		return false;
	return strtoul(msg + n + 1, &end, 10) >= 1 && end[0] == ':' && end[1] == ' ' &&
	       end[2] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *a = NULL, *b = NULL;
	struct probes pr;
	char msg_a[512];
	const char *path;
	int r1, r2;

	if (!req.ready)
		requests_build();
	/* the loader refuses a file others may write: make sure this one is not */
	umask(077);
	path = fuzz_file("policy.yaml", data, size);
	/* each failure must say its own words, not a previous one's */
	sg_errclear();
	r1 = policy_load(path, &a);
	snprintf(msg_a, sizeof(msg_a), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	sg_errclear();
	r2 = policy_load(path, &b);
	if (r1 != r2 || (r1 != SG_OK && strcmp(msg_a, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* every problem is the operator's to mend, and says where */
		if (r1 != SG_ERR_CONFIG || !says_where(msg_a, path) || a != NULL || b != NULL)
			abort();
		return 0;
	}
	if (a == NULL || b == NULL)
		abort();
	probes_of(data, size, &pr);
	same_decisions(a, b, &pr);
	policy_free(a);
	policy_free(b);
	return 0;
}
