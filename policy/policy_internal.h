/* The policy's parts, shared by the loader (policy.c), the content rules (rules_load.c, rules.c)
 * and the spend readers (spends.c, spends_solana.c). */
#ifndef SIGNER_POLICY_INTERNAL_H
#define SIGNER_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/yamldoc.h"
#include "policy/policy.h"

enum policy_match {
	POLICY_MATCH_SAN_URI,
	POLICY_MATCH_CN,
	POLICY_MATCH_SPKI,
};

struct policy_client {
	char *name;
	enum policy_match match;
	char *value; /* SAN URI or CN */
	size_t value_len;
	uint8_t spki[32]; /* SPKI SHA-256 */
};

struct policy_grant {
	char *client;
	char *key;
	unsigned long key_line;
	char **operations;
	size_t n_operations;
	char rule[48]; /* "grants[0] line 7" */
};

struct policy_rules; /* rules_internal.h */

struct policy {
	struct policy_client *clients;
	size_t n_clients;
	struct policy_grant *grants;
	size_t n_grants;
	struct policy_rules *rules; /* per operation; NULL: none */
	size_t n_rules;
	struct policy_rate_limit *rate_limits;
	size_t n_rate_limits;
	struct policy_spend_limit *spend_limits;
	size_t n_spend_limits;
};

/* rules.c: the spend_limits: list of the file. */
SG_MUST_CHECK int policy_spend_limits_load(struct ydoc *d, yaml_node_t *node, struct policy *p);

/* rules.c: the rules: mapping of the file, and its release. */
SG_MUST_CHECK int policy_rules_load(struct ydoc *d, yaml_node_t *node, struct policy *p);
void policy_rules_free(struct policy *p);

/* ---- spends.c: 256-bit amounts (big-endian), shared with the content rules ---------------- */

struct evm_uint;
struct sol_instruction;

void policy_u256_from_evm(const struct evm_uint *u, uint8_t out[32]);
void policy_u256_from_u64(uint64_t v, uint8_t out[32]);
/* out = a x b; false, with out = 2^256-1, when the product does not fit in 256 bits. */
bool policy_u256_mul(const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);
/* acc += v; false, with acc = 2^256-1, when the sum does not fit. */
bool policy_u256_add(uint8_t acc[32], const uint8_t v[32]);

/* ---- spends.c: the programs and instructions both the content rules and the spends read --- */

extern const uint8_t policy_sol_system_program[32];
extern const uint8_t policy_sol_compute_budget_program[32];
extern const uint8_t policy_sol_token_program[32];
extern const uint8_t policy_sol_token_2022_program[32];

/* System Program instruction kinds (the u32 little-endian tag of system_instruction.rs) */
enum policy_sol_system_kind {
	POLICY_SOL_CREATE_ACCOUNT = 0,
	POLICY_SOL_ASSIGN = 1,
	POLICY_SOL_TRANSFER = 2,
	POLICY_SOL_CREATE_ACCOUNT_WITH_SEED = 3,
	POLICY_SOL_ADVANCE_NONCE_ACCOUNT = 4,
	POLICY_SOL_WITHDRAW_NONCE_ACCOUNT = 5,
	POLICY_SOL_INITIALIZE_NONCE_ACCOUNT = 6,
	POLICY_SOL_AUTHORIZE_NONCE_ACCOUNT = 7,
	POLICY_SOL_ALLOCATE = 8,
	POLICY_SOL_ALLOCATE_WITH_SEED = 9,
	POLICY_SOL_ASSIGN_WITH_SEED = 10,
	POLICY_SOL_TRANSFER_WITH_SEED = 11,
	POLICY_SOL_UPGRADE_NONCE_ACCOUNT = 12,
};

/* A System Program instruction the spend reader knows, decoded strictly. */
struct policy_sol_system {
	uint32_t kind;
	bool moves_lamports; /* CreateAccount, Transfer, their WithSeed forms, WithdrawNonceAccount
			      */
	uint64_t lamports;
	size_t to; /* which of the instruction's accounts receives them */
};

/* SG_OK for the kinds that move lamports (read) and the harmless ones (AdvanceNonceAccount,
 * Allocate, UpgradeNonceAccount); SG_ERR_UNSUPPORTED for the others (Assign, the nonce
 * initialisation and authority, AllocateWithSeed, AssignWithSeed, unknown kinds);
 * SG_ERR_MALFORMED, SG_ERR_TRUNCATED or SG_ERR_TRAILING when the data is not exactly the
 * instruction's encoding. */
SG_MUST_CHECK int policy_sol_system_decode(const struct sol_instruction *ix,
					   struct policy_sol_system *out);

/* ---- spends.c: the EVM calls the spend reader knows, by selector ------------------------ */

struct policy_evm_call {
	uint8_t selector[4];
	const char *signature; /* canonical: what keccak256 hashes into the selector */
	size_t read_len; /* exact calldata length of a call whose last word is read as the amount;
			    0: never read (such a call is unreadable) */
	const char *why;
};

extern const struct policy_evm_call policy_evm_calls[];
extern const size_t policy_evm_calls_count;

#endif
