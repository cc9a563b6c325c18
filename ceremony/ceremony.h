/* Ceremonies (API.md section 5): a plan says what one lifecycle action will do, on which token,
 * until when; custodians approve it with detached OpenPGP signatures over the plan file's exact
 * bytes; the approvals count when they come from distinct custodians pinned by primary-key
 * fingerprint. The web of trust plays no part: a good signature from a key the keyring does not
 * trust (validity unknown) counts if its primary key is pinned, and a signature by a subkey
 * counts as its primary key's. */
#ifndef SIGNER_CEREMONY_CEREMONY_H
#define SIGNER_CEREMONY_CEREMONY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define CEREMONY_ID_LEN       32 /* hex of 16 random bytes */
#define CEREMONY_PLAN_MAX     (64 * 1024)
#define CEREMONY_APPROVAL_MAX (64 * 1024)

struct ceremony_plan {
	char id[CEREMONY_ID_LEN + 1];
	char action[32];
	json_t *args; /* the action's arguments (an object), owned */
	char token[33];
	int64_t created_at, not_after; /* seconds since the epoch */
	unsigned quorum;
	char sha256[65]; /* of the plan file's bytes */
};

/* A new plan's file: {"ceremony","action","args","token","created_at","not_after","quorum"},
 * sorted and indented, ending in a newline. Free with free(). */
SG_MUST_CHECK int ceremony_plan_write(const char *action, json_t *args, const char *token,
				      unsigned quorum, int64_t valid_seconds, char **text);
/* Reads a plan file's bytes strictly (exactly those fields, each of its type). */
SG_MUST_CHECK int ceremony_plan_read(const uint8_t *bytes, size_t len, struct ceremony_plan *out);
void ceremony_plan_free(struct ceremony_plan *plan);

struct ceremony_custodian {
	const char *name;
	const char *fingerprint; /* 40 hex, upper case */
};

/* One approval: a file's name (for the messages) and its bytes. */
struct ceremony_approval {
	const char *file;
	const uint8_t *data;
	size_t len;
};

/* Checks approvals of plan (its exact bytes) with the public keys of gnupg_home: each must be
 * a good signature over those bytes by a pinned custodian, and at least quorum distinct
 * custodians must have approved. approvers: their names, in the custodians' order (room for
 * n_custodians). Every refusal is SG_ERR_PERMISSION with one sentence: which file, and why. */
SG_MUST_CHECK int
ceremony_approvals_check(const char *gnupg_home, const struct ceremony_custodian *custodians,
			 size_t n_custodians, const uint8_t *plan, size_t plan_len,
			 const struct ceremony_approval *approvals, size_t n_approvals,
			 unsigned quorum, const char **approvers, size_t *n_approvers);

#endif
