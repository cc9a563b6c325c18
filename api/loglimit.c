#include "api/loglimit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/timefmt.h"

static struct {
	bool used;
	char kind[96]; /* a longer kind is cut: kinds sharing its start share its slot */
	double last;
	unsigned long held;
} seen[LOG_LIMIT_KINDS];
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;

bool log_limit_pass(const char *kind, double now, unsigned long *held, bool *shared)
{
	const size_t other = LOG_LIMIT_KINDS - 1; /* the slot every later kind shares */
	size_t i, slot = other;
	bool pass = true;

	*held = 0;
	pthread_mutex_lock(&seen_mu);
	for (i = 0; i < other; i++) {
		if (seen[i].used && strncmp(seen[i].kind, kind, sizeof(seen[i].kind) - 1) == 0)
			break;
		/* a free slot, or one whose kind printed its last line a window ago with
		 * nothing held back since: it has nothing left to say */
		if (slot == other && (!seen[i].used || (seen[i].held == 0 &&
							now - seen[i].last >= LOG_LIMIT_SECONDS)))
			slot = i;
	}
	if (i == other) {
		i = slot;
		if (i != other || !seen[i].used) {
			seen[i].used = true;
			snprintf(seen[i].kind, sizeof(seen[i].kind), "%s", kind);
			seen[i].last = now - LOG_LIMIT_SECONDS;
		}
	}
	if (now - seen[i].last < LOG_LIMIT_SECONDS) {
		seen[i].held++;
		pass = false;
	} else {
		*held = seen[i].held;
		seen[i].held = 0;
		seen[i].last = now;
	}
	*shared = i == other;
	pthread_mutex_unlock(&seen_mu);
	return pass;
}

void log_limit_reset(void)
{
	pthread_mutex_lock(&seen_mu);
	memset(seen, 0, sizeof(seen));
	pthread_mutex_unlock(&seen_mu);
}

void log_limited(const char *kind, const char *line)
{
	unsigned long held;
	bool shared;

	if (!log_limit_pass(kind, time_monotonic_s(), &held, &shared))
		return;
	if (held > 0)
		sg_log("api: %s (and %lu more %s in the last %d s)", line, held,
		       shared ? "of other kinds" : "like it", LOG_LIMIT_SECONDS);
	else
		sg_log("api: %s", line);
}
