#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const sg_messages[SG_ERR_COUNT_] = {
	[0] = "success",
	[-SG_ERR_INTERNAL] = "internal error",
	[-SG_ERR_NOMEM] = "out of memory",
	[-SG_ERR_INVALID_ARGUMENT] = "invalid argument",
	[-SG_ERR_TRUNCATED] = "input truncated",
	[-SG_ERR_TRAILING] = "unexpected bytes after the end of the input",
	[-SG_ERR_MALFORMED] = "malformed input",
	[-SG_ERR_IO] = "input/output error",
	[-SG_ERR_NOT_FOUND] = "not found",
	[-SG_ERR_EXISTS] = "already exists",
	[-SG_ERR_PKCS11] = "the PKCS#11 token refused the operation",
	[-SG_ERR_PERMISSION] = "permission problem",
	[-SG_ERR_CONFIG] = "invalid configuration",
	[-SG_ERR_TOKEN_UNAVAILABLE] = "the token is unavailable",
	[-SG_ERR_STATE] = "the key's lifecycle state does not allow this",
	[-SG_ERR_VERIFY] = "signature verification failed",
	[-SG_ERR_OVERFLOW] = "value out of range",
	[-SG_ERR_PIN] = "the PIN was refused",
	[-SG_ERR_UNSUPPORTED] = "not supported",
};

static _Thread_local char sg_detail[512];
static _Thread_local int sg_detail_code;

const char *sg_strerror(int code)
{
	if (code > 0 || code <= -SG_ERR_COUNT_ || sg_messages[-code] == NULL)
		return "unknown error";
	return sg_messages[-code];
}

int sg_fail(int code, const char *fmt, ...)
{
	char detail[sizeof(sg_detail)];
	va_list ap;

	/* formatted aside first: an argument may be the detail itself (sg_errmsg of the error
	 * being wrapped), which vsnprintf must not write over while it reads it */
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memcpy(sg_detail, detail, sizeof(sg_detail));
	sg_detail_code = code;
	return code;
}

int sg_context(int code, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(sg_detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (sg_detail_code != 0 && sg_detail[0] != '\0')
		memcpy(old, sg_detail, sizeof(old));
	else
		snprintf(old, sizeof(old), "%s", sg_strerror(code));
	if (snprintf(sg_detail, sizeof(sg_detail), "%s: %s", prefix, old) < 0)
		sg_detail[0] = '\0'; /* a long detail is cut short, never overrun */
	sg_detail_code = code;
	return code;
}

const char *sg_errmsg(int code)
{
	if (sg_detail_code == code && sg_detail[0] != '\0')
		return sg_detail;
	return sg_strerror(code);
}

void sg_errclear(void)
{
	sg_detail[0] = '\0';
	sg_detail_code = 0;
}
