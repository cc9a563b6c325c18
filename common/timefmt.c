#include "common/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int time_format_rfc3339(int64_t t, char out[TIME_RFC3339_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, TIME_RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) != TIME_RFC3339_LEN - 1)
		return sg_fail(SG_ERR_OVERFLOW, "time %lld cannot be written as RFC 3339",
			       (long long)t);
	return SG_OK;
}

int time_parse_rfc3339(const char *text, int64_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (text == NULL) /* a field that is missing or not a string, as JSON readers pass it */
		return sg_fail(SG_ERR_MALFORMED, "a time is missing (YYYY-MM-DDTHH:MM:SSZ)");
	if (strlen(text) != TIME_RFC3339_LEN - 1)
		return sg_fail(SG_ERR_MALFORMED, "time '%s' is not YYYY-MM-DDTHH:MM:SSZ", text);
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return sg_fail(SG_ERR_MALFORMED, "time '%s' is not YYYY-MM-DDTHH:MM:SSZ", text);
	*t = (int64_t)timegm(&tm);
	return SG_OK;
}

int64_t time_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double time_monotonic_s(void)
{
	return (double)time_monotonic_ns() / 1e9;
}
