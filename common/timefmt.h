#ifndef SIGNER_COMMON_TIMEFMT_H
#define SIGNER_COMMON_TIMEFMT_H

#include <stdint.h>

#include "common/err.h"

#define TIME_RFC3339_LEN 21 /* "2026-11-27T13:05:00Z" + NUL */

/* UTC, seconds precision: "2026-11-27T13:05:00Z". */
SG_MUST_CHECK int time_format_rfc3339(int64_t t, char out[TIME_RFC3339_LEN]);
/* Parses exactly the form time_format_rfc3339 writes. */
SG_MUST_CHECK int time_parse_rfc3339(const char *text, int64_t *t);

/* The monotonic clock, for durations and deadlines (never for timestamps). */
int64_t time_monotonic_ns(void);
double time_monotonic_s(void);

#endif
