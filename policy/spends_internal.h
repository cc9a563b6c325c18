/* What the spend readers share: EVM and EIP-712 (spends.c) and Solana (spends_solana.c). */
#ifndef SIGNER_POLICY_SPENDS_INTERNAL_H
#define SIGNER_POLICY_SPENDS_INTERNAL_H

#include <stdio.h>
#include <string.h>

#include "common/address.h"
#include "common/cursor.h"
#include "policy_internal.h"
#include "chain/evm/eip712.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

/* Adds amount of asset to the spends in out (n of them), merging by asset; false when out is full
 * (POLICY_SPENDS_MAX). */
bool spend_add(struct policy_spend *out, size_t *n, const char *asset, const uint8_t amount[32]);

#endif
