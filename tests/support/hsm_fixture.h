/* A throw-away SoftHSM2 token in a temporary directory: its own softhsm2.conf (SOFTHSM2_CONF
 * points at it), random PINs in owner-only files, the token initialised through the keystore. */
#ifndef SIGNER_TESTS_HSM_FIXTURE_H
#define SIGNER_TESTS_HSM_FIXTURE_H

#include <p11-kit/pkcs11.h>

#include "keystore/keystore.h"

struct hsm_fixture {
	char dir[64];
	char tokendir[128];
	char pin_file[128];
	char so_pin_file[128];
	char label[33];
	struct ks_config config;
};

/* 0 on success. */
int hsm_fixture_create(struct hsm_fixture *fx, const char *label, unsigned sessions);
void hsm_fixture_destroy(struct hsm_fixture *fx);
/* The module's function list, for checks that go around the keystore (the module is already
 * initialised by whoever opened it first in this process). */
CK_FUNCTION_LIST_PTR hsm_fixture_functions(void);
/* The slot of the fixture's token. */
CK_SLOT_ID hsm_fixture_slot(const struct hsm_fixture *fx);
/* Reads a PIN file into buf (for tests that log in as SO through raw PKCS#11). */
size_t hsm_fixture_read_pin(const char *path, char *buf, size_t cap);

#endif
