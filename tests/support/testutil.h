/* Helpers shared by the tests: the known-answer vectors of ../shared/testvectors, hex, and a
 * scratch directory for files the code under test reads. */
#ifndef SIGNER_TESTS_TESTUTIL_H
#define SIGNER_TESTS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/err.h"

/* expr returns SG_OK; otherwise the test fails with the code and the library's own sentence for
 * it (the PKCS#11 function and its CKR_, the file and line, ...), as s2n's EXPECT_SUCCESS. */
#define assert_sg_ok(expr)                                                                         \
	do {                                                                                       \
		int tu_r_ = (expr);                                                                \
		if (tu_r_ != SG_OK)                                                                \
			fail_msg("%s: %s (%d): %s", #expr, sg_strerror(tu_r_), tu_r_,              \
				 sg_errmsg(tu_r_));                                                \
	} while (0)

/* expr fails with code, and its sentence says words. */
#define assert_sg_fails(expr, code, words)                                                         \
	do {                                                                                       \
		int tu_r_ = (expr);                                                                \
		if (tu_r_ != (code))                                                               \
			fail_msg("%s: %s (%d), wanted %s: %s", #expr, sg_strerror(tu_r_), tu_r_,   \
				 sg_strerror(code), tu_r_ != SG_OK ? sg_errmsg(tu_r_) : "");       \
		if (strstr(sg_errmsg(tu_r_), (words)) == NULL)                                     \
			fail_msg("%s: the error says \"%s\", not \"%s\"", #expr, sg_errmsg(tu_r_), \
				 (words));                                                         \
	} while (0)

/* Loads testvectors/<relpath>; fails the test when it cannot. */
json_t *tv_load(const char *relpath);
/* Decodes hex (with or without 0x) into a malloc'd buffer; fails the test on bad hex. */
uint8_t *tv_hex(const char *hex, size_t *len);
/* The string member of an object; fails the test when absent. */
const char *tv_str(json_t *obj, const char *key);

/* Creates the test program's scratch directory, /tmp/signer-TAG-XXXXXX; NULL when it cannot. */
const char *tu_tmpdir(const char *tag);
/* Removes the scratch directory and everything in it; 0 on success. */
int tu_tmpdir_remove(void);
/* Writes text to NAME in the scratch directory and returns its path (valid until the next call);
 * fails the test when it cannot. */
const char *tu_write_file(const char *name, const char *text);

#endif
