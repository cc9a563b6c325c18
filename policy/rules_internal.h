/* The content rules as loaded (rules_load.c) and as judged (rules.c): one struct per payload
 * kind's section of an operation's rules. */
#ifndef SIGNER_POLICY_RULES_INTERNAL_H
#define SIGNER_POLICY_RULES_INTERNAL_H

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "common/encoding.h"
#include "policy/limits.h"
#include "policy_internal.h"
#include "chain/evm/eip712.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

/* A 256-bit cap, big-endian. */
struct cap {
	bool set;
	uint8_t v[32];
	unsigned long line;
};

struct evm_recipient {
	uint8_t addr[20];
	bool any_selector;
	uint8_t (*selectors)[4];
	size_t n_selectors;
};

struct erc20_rule {
	uint8_t token[20];
	bool any_recipient;
	uint8_t (*recipients)[20];
	size_t n_recipients;
	uint8_t (*spenders)[20]; /* none: approve is refused */
	size_t n_spenders;
	struct cap max_amount;
	bool allow_unlimited_approval;
	unsigned long line;
};

struct spl_rule {
	uint8_t mint[32];
	bool has_max_amount;
	uint64_t max_amount;
	unsigned long line;
};

struct evm_rules {
	bool present;
	unsigned long line;
	uint8_t (*chain_ids)[32];
	size_t n_chain_ids;
	struct evm_recipient *recipients;
	size_t n_recipients;
	bool any_recipient;
	unsigned long recipients_line;
	bool allow_create;
	bool allow_access_list;
	struct cap max_value, max_gas, max_gas_price, max_fee, max_priority_fee, max_total_fee;
	struct erc20_rule *erc20;
	size_t n_erc20;
};

struct sol_rules {
	bool present;
	unsigned long line;
	uint8_t (*programs)[32];
	size_t n_programs;
	unsigned long programs_line;
	uint8_t (*fee_payers)[32]; /* none: the signing key must pay */
	size_t n_fee_payers;
	bool has_max_instructions;
	uint64_t max_instructions;
	bool allow_lookup_tables;
	bool has_transfer_destinations;
	uint8_t (*destinations)[32];
	size_t n_destinations;
	bool has_max_lamports;
	uint64_t max_lamports;
	bool has_max_cu_price;
	uint64_t max_cu_price;
	struct spl_rule *spl; /* SPL Token and Token-2022 transfers and approvals, by mint */
	size_t n_spl;
	bool has_spl;
};

struct eip712_domain_rule {
	char *name, *version;
	bool has_chain_id, has_contract;
	uint8_t chain_id[32];
	uint8_t contract[20];
};

struct eip712_rules {
	bool present;
	unsigned long line;
	struct eip712_domain_rule *domains;
	size_t n_domains;
	char **primary_types;
	size_t n_primary_types;
};

struct eip191_rules {
	bool present;
	unsigned long line;
	bool has_max_length;
	uint64_t max_length;
};

struct policy_rules {
	char *operation;
	unsigned long line;
	struct evm_rules evm;
	struct sol_rules solana;
	struct eip712_rules eip712;
	struct eip191_rules eip191;
};

#endif
