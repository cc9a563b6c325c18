/* Fuzz target: the policy file loader (policy_load), on YAML an operator wrote. A refusal says
 * where and why; the same file loaded twice decides everything the same way: the grants for
 * every (client, key, operation) among the names the file holds, the client a peer is, the rate
 * and spend limits, and the content rules on a message of each length. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_file.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAMES_MAX 24

/* The words of the input that could be names (clients, keys, operations), and a few fixed ones:
 * what the decisions below are asked about. */
static size_t names_of(const uint8_t *data, size_t size, char names[NAMES_MAX][65])
{
	static const char *const fixed[] = {"local", "solana-adapter", "dev", "x"};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		snprintf(names[n++], 65, "%s", fixed[i]);
	for (size_t i = 0; i < size && n < NAMES_MAX;) {
		size_t j = i;

		while (j < size && j - i < 64 &&
		       (isalnum(data[j]) || data[j] == '-' || data[j] == '_' || data[j] == '.'))
			j++;
		if (j > i) {
			memcpy(names[n], data + i, j - i);
			names[n][j - i] = '\0';
			n++;
			i = j;
		} else {
			i++;
		}
	}
	return n;
}

static bool bounded(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void same_decisions(const struct policy *a, const struct policy *b,
			   char names[NAMES_MAX][65], size_t n)
{
	static const uint8_t spki[32] = {1};
	struct policy_decision da, db;

	if (policy_client_count(a) != policy_client_count(b) ||
	    policy_grant_count(a) != policy_grant_count(b) ||
	    policy_rate_limit_count(a) != policy_rate_limit_count(b) ||
	    policy_spend_limit_count(a) != policy_spend_limit_count(b))
		abort();
	for (size_t i = 0; i < policy_rate_limit_count(a); i++) {
		const struct policy_rate_limit *x = policy_rate_limit_at(a, i),
					       *y = policy_rate_limit_at(b, i);
		if (memcmp(x, y, sizeof(*x)) != 0 || !bounded(x->client, sizeof(x->client)) ||
		    !bounded(x->operation, sizeof(x->operation)) || x->rule[0] == '\0')
			abort();
	}
	for (size_t i = 0; i < policy_spend_limit_count(a); i++) {
		const struct policy_spend_limit *x = policy_spend_limit_at(a, i),
						*y = policy_spend_limit_at(b, i);

		if (memcmp(x, y, sizeof(*x)) != 0 || !bounded(x->key, sizeof(x->key)) ||
		    !bounded(x->asset, sizeof(x->asset)) || x->rule[0] == '\0')
			abort();
	}
	for (size_t c = 0; c < n; c++) {
		struct policy_peer peer = {
			.san_uri = names[c], .san_uri_len = strlen(names[c]), .spki_sha256 = spki};
		const char *ca = policy_client_for(a, &peer), *cb = policy_client_for(b, &peer);

		if ((ca == NULL) != (cb == NULL) || (ca != NULL && strcmp(ca, cb) != 0))
			abort();
		peer = (struct policy_peer){
			.cn = names[c], .cn_len = strlen(names[c]), .spki_sha256 = spki};
		ca = policy_client_for(a, &peer);
		cb = policy_client_for(b, &peer);
		if ((ca == NULL) != (cb == NULL) || (ca != NULL && strcmp(ca, cb) != 0))
			abort();
		for (size_t o = 0; o < n; o++) {
			if (policy_operation_named(a, names[o]) !=
			    policy_operation_named(b, names[o]))
				abort();
			policy_check_eip191(a, names[o], 32 + c, &da);
			policy_check_eip191(b, names[o], 32 + c, &db);
			if (da.allowed != db.allowed || strcmp(da.reason, db.reason) != 0 ||
			    strcmp(da.rule, db.rule) != 0 || strcmp(da.message, db.message) != 0 ||
			    (!da.allowed && (da.reason[0] == '\0' || da.message[0] == '\0')))
				abort();
			for (size_t k = 0; k < n; k += 3) {
				const char *ra = NULL, *rb = NULL;
				int r1 = policy_authorize(a, names[c], names[k], names[o], &ra);
				int r2 = policy_authorize(b, names[c], names[k], names[o], &rb);

				if (r1 != r2 || (r1 != SG_OK && r1 != SG_ERR_PERMISSION))
					abort();
				if (r1 == SG_OK &&
				    (ra == NULL || rb == NULL || strcmp(ra, rb) != 0 ||
				     !policy_client_has_key(a, names[c], names[k])))
					abort();
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *a = NULL, *b = NULL;
	char names[NAMES_MAX][65], msg_a[512];
	size_t n;
	const char *path;
	int r1, r2;

	path = fuzz_file("policy.yaml", data, size);
	r1 = policy_load(path, &a);
	snprintf(msg_a, sizeof(msg_a), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = policy_load(path, &b);
	if (r1 != r2 || (r1 != SG_OK && strcmp(msg_a, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* every problem is the operator's to mend, and says where */
		if (r1 != SG_ERR_CONFIG || msg_a[0] == '\0' || a != NULL || b != NULL)
			abort();
		return 0;
	}
	n = names_of(data, size, names);
	same_decisions(a, b, names, n);
	policy_free(a);
	policy_free(b);
	return 0;
}
