#include "refusals.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFUSALS_REASONS_MAX 8

struct refusal_peer {
	char peer[256];
	char client[64]; /* "" when none */
	int64_t second;  /* of its last own record */
	unsigned own;    /* own records in that second */
	/* the summary of that second: what was folded into it */
	unsigned long count;
	double first, last;
	char id[AUDIT_ID_LEN + 1];
	struct {
		char reason[64];
		unsigned long count;
	} reasons[REFUSALS_REASONS_MAX];
	size_t n_reasons;
	unsigned long other_reasons;
};

struct refusal_due {
	json_t *record;
	char id[AUDIT_ID_LEN + 1];
};

struct refusals {
	pthread_mutex_t mu;
	struct refusal_peer *peers;
	size_t n, cap;
	/* summaries of seconds that are over, waiting to be written */
	struct refusal_due *due;
	size_t n_due, cap_due;
};

static json_t *summary_record(struct refusal_peer *p);

int refusals_new(struct refusals **out)
{
	struct refusals *r = calloc(1, sizeof(*r));

	*out = r;
	if (r == NULL)
		return sg_fail(SG_ERR_NOMEM, "refusals");
	pthread_mutex_init(&r->mu, NULL);
	return SG_OK;
}

void refusals_free(struct refusals *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	for (size_t i = 0; i < r->n_due; i++)
		json_decref(r->due[i].record);
	free(r->due);
	free(r->peers);
	free(r);
}

static struct refusal_peer *peer_get(struct refusals *r, const char *peer)
{
	const char *name = r->n >= REFUSALS_PEERS_MAX ? "(other peers)" : peer;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->peers[i].peer, name) == 0)
			return &r->peers[i];
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 16 : r->cap * 2;
		struct refusal_peer *grown = realloc(r->peers, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		r->peers = grown;
		r->cap = cap;
	}
	memset(&r->peers[r->n], 0, sizeof(r->peers[0]));
	snprintf(r->peers[r->n].peer, sizeof(r->peers[0].peer), "%s", name);
	r->peers[r->n].second = INT64_MIN;
	return &r->peers[r->n++];
}

bool refusals_admit(struct refusals *r, const char *peer, const char *client, const char *reason,
		    double now, char summary_id[AUDIT_ID_LEN + 1])
{
	int64_t second = (int64_t)floor(now);
	struct refusal_peer *p;
	bool own = true;

	if (peer == NULL || peer[0] == '\0')
		peer = "(no identity)";
	pthread_mutex_lock(&r->mu);
	p = peer_get(r, peer);
	if (p == NULL)
		goto out; /* out of memory: the refusal gets its own record */
	if (p->second != second) {
		/* the first of this second: its own record; the summary of the peer's last second
		 * (if any) is over and queued to be written */
		if (p->count > 0) {
			json_t *rec = summary_record(p);

			if (rec != NULL && r->n_due == r->cap_due) {
				size_t cap = r->cap_due == 0 ? 16 : r->cap_due * 2;
				struct refusal_due *grown = realloc(r->due, cap * sizeof(*grown));

				if (grown != NULL) {
					r->due = grown;
					r->cap_due = cap;
				}
			}
			if (rec != NULL && r->n_due < r->cap_due) {
				r->due[r->n_due].record = rec;
				snprintf(r->due[r->n_due].id, AUDIT_ID_LEN + 1, "%s", p->id);
				r->n_due++;
			} else {
				json_decref(rec); /* out of memory: the count is lost, not the
						     request */
			}
			p->count = 0;
			p->n_reasons = 0;
			p->other_reasons = 0;
		}
		p->second = second;
		p->own = 1;
		goto out;
	}
	/* a client the policy names gets a few records of its own a second (its adapter's
	 * refusals are worth reading one by one); a peer it does not name, one */
	if (p->own < (client != NULL ? REFUSALS_OWN_PER_SECOND_CLIENT : 1)) {
		p->own++;
		goto out;
	}
	own = false;
	if (p->count == 0) {
		audit_new_id(p->id);
		p->first = now;
		snprintf(p->client, sizeof(p->client), "%s", client != NULL ? client : "");
	}
	p->count++;
	p->last = now;
	{
		size_t i;

		for (i = 0; i < p->n_reasons; i++)
			if (strcmp(p->reasons[i].reason, reason) == 0)
				break;
		if (i == p->n_reasons && i < REFUSALS_REASONS_MAX) {
			snprintf(p->reasons[i].reason, sizeof(p->reasons[i].reason), "%s", reason);
			p->reasons[i].count = 0;
			p->n_reasons++;
		}
		if (i < REFUSALS_REASONS_MAX)
			p->reasons[i].count++;
		else
			p->other_reasons++;
	}
	snprintf(summary_id, AUDIT_ID_LEN + 1, "%s", p->id);
out:
	pthread_mutex_unlock(&r->mu);
	return own;
}

static void time_text(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;
	char base[24];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (snprintf(out, 32, "%s.%03dZ", base, (int)((t - floor(t)) * 1000)) < 0)
		out[0] = '\0';
}

/* The peer's summary as a record (the caller resets the counts). */
static json_t *summary_record(struct refusal_peer *p)
{
	json_t *reasons = json_object();
	char from[32], to[32];

	for (size_t k = 0; reasons != NULL && k < p->n_reasons; k++)
		json_object_set_new(reasons, p->reasons[k].reason,
				    json_integer((json_int_t)p->reasons[k].count));
	if (reasons != NULL && p->other_reasons > 0)
		json_object_set_new(reasons, "other", json_integer((json_int_t)p->other_reasons));
	if (reasons == NULL)
		return NULL;
	time_text(p->first, from);
	time_text(p->last, to);
	return json_pack("{s:s, s:s, s:s, s:o, s:I, s:o, s:s, s:s}", "event", "refusals",
			 "decision", "refused", "peer", p->peer, "client",
			 p->client[0] != '\0' ? json_string(p->client) : json_null(), "count",
			 (json_int_t)p->count, "reasons", reasons, "from", from, "to", to);
}

size_t refusals_due(struct refusals *r, double now, bool all, json_t **records,
		    char (*ids)[AUDIT_ID_LEN + 1], size_t max)
{
	int64_t second = (int64_t)floor(now);
	size_t n = 0;

	pthread_mutex_lock(&r->mu);
	/* the oldest first: the log keeps the order they were refused in */
	while (n < r->n_due && n < max) {
		records[n] = r->due[n].record;
		snprintf(ids[n], AUDIT_ID_LEN + 1, "%s", r->due[n].id);
		n++;
	}
	if (n > 0) {
		memmove(r->due, r->due + n, (r->n_due - n) * sizeof(*r->due));
		r->n_due -= n;
	}
	for (size_t i = 0; i < r->n && n < max; i++) {
		struct refusal_peer *p = &r->peers[i];
		json_t *rec;

		if (p->count == 0 || (!all && p->second >= second))
			continue;
		rec = summary_record(p);
		if (rec == NULL)
			continue; /* out of memory: tried again next time */
		records[n] = rec;
		snprintf(ids[n], AUDIT_ID_LEN + 1, "%s", p->id);
		n++;
		p->count = 0;
		p->n_reasons = 0;
		p->other_reasons = 0;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}
