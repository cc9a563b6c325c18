/* One error type for all of signerd: negative codes, a string table, and a per-thread detail
 * sentence that says what failed and why. */
#ifndef SIGNER_COMMON_ERR_H
#define SIGNER_COMMON_ERR_H

#define SG_MUST_CHECK __attribute__((warn_unused_result))

enum sg_err {
	SG_OK = 0,
	SG_ERR_INTERNAL = -1,           /* a bug or an unexpected library failure */
	SG_ERR_NOMEM = -2,              /* out of memory */
	SG_ERR_INVALID_ARGUMENT = -3,   /* a caller passed something unusable */
	SG_ERR_TRUNCATED = -4,          /* the input ended before the format said it would */
	SG_ERR_TRAILING = -5,           /* bytes left over after a complete parse */
	SG_ERR_MALFORMED = -6,          /* the input breaks its format's rules */
	SG_ERR_IO = -7,                 /* a file or socket operation failed */
	SG_ERR_NOT_FOUND = -8,          /* no such key, file, slot or token */
	SG_ERR_EXISTS = -9,             /* already there */
	SG_ERR_PKCS11 = -10,            /* the token said no; the detail names function and CKR_ */
	SG_ERR_PERMISSION = -11,        /* a file's owner or mode is unsafe, or access is refused */
	SG_ERR_CONFIG = -12,            /* the configuration is wrong; the detail is FILE:LINE: */
	SG_ERR_TOKEN_UNAVAILABLE = -13, /* the token is missing, removed or not answering */
	SG_ERR_STATE = -14,             /* a lifecycle state forbids it */
	SG_ERR_VERIFY = -15,            /* a signature did not verify */
	SG_ERR_OVERFLOW = -16,          /* a value or length exceeds its bound */
	SG_ERR_PIN = -17,               /* the PIN is wrong, locked or expired */
	SG_ERR_UNSUPPORTED = -18,       /* the token or module lacks a needed feature */
	SG_ERR_COUNT_ = 19
};

/* The fixed sentence of a code ("input truncated"). */
const char *sg_strerror(int code);

/* Records a detail sentence for this thread and returns code, so that a failure reads
 * `return sg_fail(SG_ERR_IO, "open %s: %s", path, strerror(errno));`. */
int sg_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts "context: " in front of this thread's detail (the last failure's) and returns code. */
int sg_context(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's detail, or the code's sentence when the last failure set none. */
const char *sg_errmsg(int code);

void sg_errclear(void);

#endif
