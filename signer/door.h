/* The door's check list, shared by signing (door.c) and explaining (explain.c): one request's
 * state in one struct, and the checks run in one order by both. */
#ifndef SIGNER_DOOR_H
#define SIGNER_DOOR_H

#include "signer_internal.h"

/* One request, from the policy snapshot it takes when it starts to the reference it gives back
 * at the end. */
struct sign_ctx {
	struct signer *s;
	const struct signer_request *req;
	char client[64];        /* the client a TLS peer is, under pol */
	struct policy_ref *pol; /* the policy this request is decided under */
	struct signer_trace *trace;
	struct signer_result *res;
	struct signer_error *err;
	struct ks_key key;
	bool key_known;
	bool caught_up;          /* what other processes appended was read */
	bool announced;          /* its record was announced to the audit log (audit_announce) */
	struct limits_hold hold; /* what it took from the limits */
	struct policy_decision late; /* the gate's refusal, when the spends no longer fit */
	/* the payload as decoded (decode), and what it spends (spend) */
	bool decoded;
	union {
		struct sol_message sol;
		struct evm_tx tx;
		struct eip712 td;
	} payload;
	/* explaining: every check's outcome goes here, and nothing is taken, signed or audited */
	json_t *checks;
	bool stop; /* explaining: the checks after this one cannot run (no key, no payload) */
};

/* Takes the policy snapshot and names the client (a TLS peer, by that very policy). */
void door_begin(struct sign_ctx *c, const struct signer_request *req);
/* Gives back what door_begin and the checks took (the snapshot, the decoded payload). */
void door_end(struct sign_ctx *c);

/* The checks, in the door's order: names, grant, key, decode, content, rate, spend. Signing:
 * SG_OK, or the first refusal with c->err filled. Explaining (c->checks set): each check notes
 * its outcome, a denial lets the later checks run unless they cannot (c->stop), and the result
 * is SG_OK only when every check passed. */
int door_checks(struct sign_ctx *c);

/* explain.c: a check's outcome in c->checks (nothing when not explaining). */
void explain_note(struct sign_ctx *c, const char *check, const char *outcome, const char *rule,
		  const char *reason, const char *detail);
/* explain.c: the rate limit's state now, noted; SG_OK when a token is there. */
int explain_rate(struct sign_ctx *c, const struct policy_rate_limit *rl);
/* explain.c: each spend limit the spends meet, with what its window holds now, noted; and the
 * door's own check (losses, pairs the ledgers could not keep). SG_OK when they fit. */
int explain_spends(struct sign_ctx *c, bool readable, const struct policy_spend *spends, size_t n);

#endif
