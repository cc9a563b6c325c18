/* Helpers shared by the tests: the known-answer vectors of ../shared/testvectors, hex, and a
 * scratch directory for files the code under test reads. */
#ifndef SIGNER_TESTS_TESTUTIL_H
#define SIGNER_TESTS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

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
