/* Helpers shared by the tests: the known-answer vectors of ../shared/testvectors, hex. */
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

#endif
