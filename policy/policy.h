/* The policy file: who the clients are and what each may sign with which key.
 *
 *   clients:
 *     solana-adapter:
 *       san_uri: spiffe://signerd-dev/solana-adapter   # or: cn: NAME, or: spki_sha256: HEX
 *   grants:
 *     - client: solana-adapter
 *       key: solana-dev
 *       operations: [dev, create_organization]
 *
 * "local" is the operator at the console (signerctl sign); it has no certificate and needs no
 * clients entry, only grants. Default deny: what no grant allows is refused. */
#ifndef SIGNER_POLICY_POLICY_H
#define SIGNER_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define POLICY_CLIENT_LOCAL "local"

struct policy;

/* What a TLS peer presented: its first SAN URI (or NULL), its subject CN (or NULL), each with
 * its length (compared as bytes, never up to a NUL), and the SHA-256 of its
 * SubjectPublicKeyInfo. */
struct policy_peer {
	const char *san_uri;
	size_t san_uri_len;
	const char *cn;
	size_t cn_len;
	const uint8_t *spki_sha256;
};

/* Loads and checks a policy. Every problem is SG_ERR_CONFIG with "FILE:LINE: message". */
SG_MUST_CHECK int policy_load(const char *path, struct policy **out);
void policy_free(struct policy *p);
size_t policy_client_count(const struct policy *p);
size_t policy_grant_count(const struct policy *p);

/* The client a peer is, or NULL when no entry matches it. Entries are tried in file order; an
 * SPKI pin matches the key, a SAN URI the peer's first SAN URI, a CN its subject CN. */
const char *policy_client_for(const struct policy *p, const struct policy_peer *peer);

/* SG_OK when a grant lets client sign with key for operation; *rule names it ("grants[2]",
 * the line). SG_ERR_PERMISSION otherwise. */
SG_MUST_CHECK int policy_authorize(const struct policy *p, const char *client, const char *key,
				   const char *operation, const char **rule);

/* Every key a grant names, with its line (for checking them against a token). */
void policy_keys_foreach(const struct policy *p,
			 void (*cb)(const char *key, unsigned long line, void *ctx), void *ctx);

/* Whether any grant names this operation. */
bool policy_operation_named(const struct policy *p, const char *operation);

/* Whether any grant lets client use key (for any operation): what GET /v1/keys shows it. */
bool policy_client_has_key(const struct policy *p, const char *client, const char *key);

/* ---- rate limits ---------------------------------------------------------------------
 * A token bucket per (client, operation): `per_minute` tokens a minute, at most `burst` at
 * once. The buckets themselves live with the signer (they outlive a policy reload). */
struct policy_rate_limit {
	char client[64];
	char operation[65];
	uint64_t per_minute;
	uint64_t burst;
	char rule[64]; /* "rate_limits[0] (line 9)" */
};

/* The limit for (client, operation), or NULL when none applies. */
const struct policy_rate_limit *policy_rate_limit_for(const struct policy *p, const char *client,
						      const char *operation);
size_t policy_rate_limit_count(const struct policy *p);
const struct policy_rate_limit *policy_rate_limit_at(const struct policy *p, size_t i);

struct evm_tx;
struct sol_message;
struct eip712;

/* ---- spend limits --------------------------------------------------------------------
 * Per (key, asset) over a rolling window: native value and fees (wei, lamports) and token
 * amounts (ERC-20 transfers and approvals, SPL Checked transfers, approvals, mints and burns), in
 * base units. The running sums live with the signer (rebuilt from the audit log on start). */
#define POLICY_ASSET_MAX  64
#define POLICY_SPENDS_MAX 16

struct policy_spend_limit {
	char key[64];
	char asset[POLICY_ASSET_MAX]; /* "native", "erc20:0x<40 hex>", "spl:<base58 mint>" */
	uint64_t window_seconds;
	uint8_t max[32]; /* big-endian */
	char rule[64];   /* "spend_limits[0] (line 12)" */
};

/* What a payload spends: one entry per asset, amounts big-endian. */
struct policy_spend {
	char asset[POLICY_ASSET_MAX];
	uint8_t amount[32];
};

size_t policy_spend_limit_count(const struct policy *p);
const struct policy_spend_limit *policy_spend_limit_at(const struct policy *p, size_t i);
/* The spends of a payload, summed per asset (policy/spends.c; docs/policy.md, "What each limit
 * reads"). false: its spends cannot be read (a call or instruction that moves value in a way not
 * read, a malformed one, or more than POLICY_SPENDS_MAX assets): refuse it where a spend limit
 * watches the key.
 * EVM: value + gas limit x (maxFeePerGas for type 2, else gasPrice), and the token amounts of
 * the ERC-20 calls that are read. */
bool policy_spends_evm(const struct evm_tx *tx, struct policy_spend *out, size_t *n);
/* Solana, for the signing key signer: lamports moved by the System Program, SPL amounts by
 * mint, and the fee (base and priority) when signer is the fee payer. */
bool policy_spends_solana(const struct sol_message *m, const uint8_t signer[32],
			  struct policy_spend *out, size_t *n);
/* EIP-712: typed data spends nothing it can be read for (n = 0), or is unreadable: permits,
 * orders, meta-transactions, and any struct with an address field named spender or operator. */
bool policy_spends_eip712(const struct eip712 *td, struct policy_spend *out, size_t *n);

/* ---- content rules ---------------------------------------------------------------------
 * Per operation, on what the decoders read from the payload (docs/policy.md). An operation
 * without a rules entry has no content restrictions; one with an entry refuses every payload
 * kind it has no section for. */

struct policy_decision {
	bool allowed;
	char reason[64];   /* a stable code: "evm.recipient_not_allowed", ... */
	char rule[96];     /* where: "rules.mint.evm.recipients (line 12)" */
	char message[256]; /* a sentence for a person */
};

void policy_check_evm_tx(const struct policy *p, const char *operation, const struct evm_tx *tx,
			 struct policy_decision *d);
void policy_check_solana(const struct policy *p, const char *operation, const struct sol_message *m,
			 const uint8_t signer[32], struct policy_decision *d);
void policy_check_eip712(const struct policy *p, const char *operation, const struct eip712 *td,
			 struct policy_decision *d);
void policy_check_eip191(const struct policy *p, const char *operation, size_t length,
			 struct policy_decision *d);

#endif
