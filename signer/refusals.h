/* Refusals from one peer are rate-limited in the audit log: the first refusal of a peer in each
 * second gets its own record (the first REFUSALS_OWN_PER_SECOND_CLIENT for a peer the policy
 * names as a client); the others of that second are counted into one summary record
 * ({"event": "refusals", "count": N, "reasons": {...}}) written once the second is over, whose
 * audit id their answers carry. A certificate the policy does not know can then write at most
 * two records a second, however fast it asks. Metrics count every refusal all the same. */
#ifndef SIGNER_SIGNER_REFUSALS_H
#define SIGNER_SIGNER_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"
#include "signer/audit.h"

#define REFUSALS_PEERS_MAX             4096 /* past that, the others share one summary */
#define REFUSALS_OWN_PER_SECOND_CLIENT 10

struct refusals;

SG_MUST_CHECK int refusals_new(struct refusals **out);
void refusals_free(struct refusals *r);

/* true: write this refusal's own record. false: it was counted into the peer's summary of this
 * second, whose audit id is summary_id. */
bool refusals_admit(struct refusals *r, const char *peer, const char *client, const char *reason,
		    double now, char summary_id[AUDIT_ID_LEN + 1]);

/* The summaries whose second is over by now (all of them when all): up to max, each a record
 * to append with its id. Returns how many; call again while it returns max. */
size_t refusals_due(struct refusals *r, double now, bool all, json_t **records,
		    char (*ids)[AUDIT_ID_LEN + 1], size_t max);

#endif
