/* The keystore against a real SoftHSM2 token in a temporary directory. */
#include "../support/testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <secp256k1.h>
#include <sodium.h>

#include "../support/hsm_fixture.h"
#include "common/address.h"
#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "p11.h"

static struct hsm_fixture fx;

static int setup(void **state)
{
	(void)state;
	return hsm_fixture_create(&fx, "signer-test", 4);
}

static int teardown(void **state)
{
	(void)state;
	hsm_fixture_destroy(&fx);
	return 0;
}

static struct keystore *open_keystore(void)
{
	struct keystore *ks = NULL;
	int r = ks_open(&fx.config, &ks);

	if (r != 0)
		fail_msg("ks_open: %s", sg_errmsg(r));
	return ks;
}

static void ensure_key(struct keystore *ks, const char *name, enum ks_chain chain)
{
	struct ks_key k;
	int r = ks_key_get(ks, name, 0, &k);

	if (r == SG_ERR_NOT_FOUND)
		r = ks_key_generate(ks, name, chain, &k);
	if (r != 0)
		fail_msg("key %s: %s", name, sg_errmsg(r));
}

static void verify_ed25519(const struct ks_key *k, const uint8_t *msg, size_t len,
			   const uint8_t *sig)
{
	assert_int_equal(k->public_key_len, 32);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, len, k->public_key), 0);
}

static void verify_secp256k1(const struct ks_key *k, const uint8_t digest[32], const uint8_t *sig)
{
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_ecdsa_signature s;
	secp256k1_pubkey pub;

	assert_int_equal(secp256k1_ec_pubkey_parse(ctx, &pub, k->public_key, k->public_key_len), 1);
	assert_int_equal(secp256k1_ecdsa_signature_parse_compact(ctx, &s, sig), 1);
	secp256k1_ecdsa_signature_normalize(ctx, &s, &s); /* the token's s may be high */
	assert_int_equal(secp256k1_ecdsa_verify(ctx, &s, digest, &pub), 1);
	secp256k1_context_destroy(ctx);
}

static void test_generate_list_sign_verify(void **state)
{
	struct keystore *ks = open_keystore();
	struct ks_key sol, evm, *keys;
	uint8_t sig[KS_SIGNATURE_MAX], digest[32];
	static const uint8_t msg[] = "a Solana message is signed whole";
	uint8_t addr[EVM_ADDRESS_LEN];
	size_t n, siglen;

	(void)state;
	assert_sg_ok(ks_key_generate(ks, "sol-a", KS_CHAIN_SOLANA, &sol));
	assert_sg_ok(ks_key_generate(ks, "evm-a", KS_CHAIN_EVM, &evm));
	assert_int_equal(sol.version, 1);
	assert_int_equal(sol.state, KS_STATE_ACTIVE);
	assert_int_equal(sol.public_key_len, 32);
	assert_int_equal(evm.public_key_len, 65);
	assert_int_equal(evm.public_key[0], 0x04);
	assert_sg_ok(addr_evm_from_pubkey(evm.public_key, evm.public_key_len, addr));

	assert_int_equal(ks_key_generate(ks, "sol-a", KS_CHAIN_SOLANA, NULL), SG_ERR_EXISTS);
	assert_int_equal(ks_key_generate(ks, "Bad_Name", KS_CHAIN_EVM, NULL),
			 SG_ERR_INVALID_ARGUMENT);

	assert_sg_ok(ks_key_list(ks, &keys, &n));
	assert_true(n >= 2);
	for (size_t i = 1; i < n; i++) /* sorted by name */
		assert_true(strcmp(keys[i - 1].name, keys[i].name) < 0);
	free(keys);

	assert_sg_ok(ks_sign(ks, "sol-a", 0, msg, sizeof(msg), sig, &siglen));
	assert_int_equal(siglen, 64);
	verify_ed25519(&sol, msg, sizeof(msg), sig);
	/* a different message does not verify under that signature */
	assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg) - 1, sol.public_key),
			     0);

	randombytes_buf(digest, sizeof(digest));
	assert_sg_ok(ks_sign(ks, "evm-a", 1, digest, 32, sig, &siglen));
	assert_int_equal(siglen, 64);
	verify_secp256k1(&evm, digest, sig);

	assert_int_equal(ks_sign(ks, "evm-a", 0, digest, 31, sig, &siglen),
			 SG_ERR_INVALID_ARGUMENT);
	assert_int_equal(ks_sign(ks, "nope", 0, digest, 32, sig, &siglen), SG_ERR_NOT_FOUND);
	assert_int_equal(ks_sign(ks, "evm-a", 2, digest, 32, sig, &siglen), SG_ERR_NOT_FOUND);
	ks_close(ks);

	/* the catalogue lives in the token: a new process (here: a new keystore) sees it */
	ks = open_keystore();
	assert_sg_ok(ks_key_get(ks, "evm-a", 0, &sol));
	assert_memory_equal(sol.public_key, evm.public_key, 65);
	assert_int_equal(sol.created_at, evm.created_at);
	ks_close(ks);
}

static CK_OBJECT_HANDLE find_object(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
				    CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL,
		 .pValue = (void *)(uintptr_t)label,
		 .ulValueLen = strlen(label)},
	};
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG found = 0;

	assert_int_equal(f->C_FindObjectsInit(s, tmpl, 2), CKR_OK);
	assert_int_equal(f->C_FindObjects(s, &o, 1, &found), CKR_OK);
	assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(found, 1);
	return o;
}

static CK_RV wrap_with(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wrapping,
		       CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = {.mechanism = CKM_AES_KEY_WRAP_PAD};
	uint8_t out[512];
	CK_ULONG out_len = sizeof(out);

	return f->C_WrapKey(s, &mech, wrapping, key, out, &out_len);
}

/* Before the keystore logs in: the security officer makes an AES key marked CKA_TRUSTED, the
 * only kind of key our private keys may be wrapped under. */
static CK_RV make_trusted_wrap_key(void)
{
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_SESSION_HANDLE s;
	CK_MECHANISM gen = {.mechanism = CKM_AES_KEY_GEN};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_OBJECT_HANDLE k;
	char so_pin[64];
	size_t so_len = hsm_fixture_read_pin(fx.so_pin_file, so_pin, sizeof(so_pin));
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_TRUSTED, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_WRAP, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_VALUE_LEN, .pValue = &len, .ulValueLen = sizeof(len)},
		{.type = CKA_LABEL, .pValue = "trusted-wrap", .ulValueLen = 12},
	};
	CK_RV rv;

	assert_non_null(f);
	rv = f->C_Initialize(&args);
	assert_true(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED);
	rv = f->C_OpenSession(hsm_fixture_slot(&fx), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
			      NULL, &s);
	if (rv == CKR_OK)
		rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, so_len);
	sodium_memzero(so_pin, sizeof(so_pin));
	if (rv == CKR_OK)
		rv = f->C_GenerateKey(s, &gen, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &k);
	(void)f->C_Logout(s);
	(void)f->C_CloseSession(s);
	(void)f->C_Finalize(NULL);
	return rv;
}

/* The private keys cannot be read, and can be wrapped only under a trusted key. */
static void test_private_keys_stay_in_the_token(void **state)
{
	struct keystore *ks;
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SESSION_HANDLE s;
	CK_MECHANISM gen = {.mechanism = CKM_AES_KEY_GEN};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_OBJECT_HANDLE untrusted, trusted;
	CK_ATTRIBUTE aes_tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_WRAP, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_VALUE_LEN, .pValue = &len, .ulValueLen = sizeof(len)},
	};
	static const char *const labels[] = {"signerd/stay-sol/1", "signerd/stay-evm/1"};

	(void)state;
	assert_int_equal(make_trusted_wrap_key(), CKR_OK);
	ks = open_keystore();
	ensure_key(ks, "stay-sol", KS_CHAIN_SOLANA);
	ensure_key(ks, "stay-evm", KS_CHAIN_EVM);
	assert_int_equal(f->C_OpenSession(hsm_fixture_slot(&fx),
					  CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
			 CKR_OK);
	assert_int_equal(f->C_GenerateKey(s, &gen, aes_tmpl, 3, &untrusted), CKR_OK);
	trusted = find_object(f, s, CKO_SECRET_KEY, "trusted-wrap");

	for (size_t i = 0; i < 2; i++) {
		CK_OBJECT_HANDLE priv = find_object(f, s, CKO_PRIVATE_KEY, labels[i]);
		CK_BBOOL b[9];
		CK_ATTRIBUTE flags[] = {
			{.type = CKA_SENSITIVE, .pValue = &b[0], .ulValueLen = 1},
			{.type = CKA_EXTRACTABLE, .pValue = &b[1], .ulValueLen = 1},
			{.type = CKA_WRAP_WITH_TRUSTED, .pValue = &b[2], .ulValueLen = 1},
			{.type = CKA_SIGN, .pValue = &b[3], .ulValueLen = 1},
			{.type = CKA_DECRYPT, .pValue = &b[4], .ulValueLen = 1},
			{.type = CKA_DERIVE, .pValue = &b[5], .ulValueLen = 1},
			{.type = CKA_UNWRAP, .pValue = &b[6], .ulValueLen = 1},
			{.type = CKA_ALWAYS_SENSITIVE, .pValue = &b[7], .ulValueLen = 1},
			{.type = CKA_TOKEN, .pValue = &b[8], .ulValueLen = 1},
		};
		uint8_t value[128];
		CK_ATTRIBUTE read_value = {
			.type = CKA_VALUE, .pValue = value, .ulValueLen = sizeof(value)};
		CK_BBOOL off = CK_FALSE;
		CK_ATTRIBUTE unsensitive = {.type = CKA_SENSITIVE, .pValue = &off, .ulValueLen = 1};

		assert_int_equal(f->C_GetAttributeValue(s, priv, flags, 9), CKR_OK);
		assert_true(b[0] && b[1] && b[2] && b[3] && b[7] && b[8]);
		assert_false(b[4] || b[5] || b[6]);
		/* the key material cannot be read ... */
		assert_int_equal(f->C_GetAttributeValue(s, priv, &read_value, 1),
				 CKR_ATTRIBUTE_SENSITIVE);
		/* ... nor made readable ... */
		assert_int_not_equal(f->C_SetAttributeValue(s, priv, &unsensitive, 1), CKR_OK);
		/* ... nor wrapped under a key the security officer did not mark trusted */
		assert_int_equal(wrap_with(f, s, untrusted, priv), CKR_KEY_NOT_WRAPPABLE);
	}
	/* under the trusted key, the secp256k1 key does wrap: that is the backup path. (SoftHSM2
	 * 2.6.1 cannot wrap Ed25519 private keys at all, trusted or not.) */
	assert_int_equal(wrap_with(f, s, trusted, find_object(f, s, CKO_PRIVATE_KEY, labels[1])),
			 CKR_OK);
	(void)f->C_CloseSession(s);
	ks_close(ks);
}

static void test_lifecycle(void **state)
{
	struct keystore *ks = open_keystore();
	struct ks_key k;
	uint8_t sig[KS_SIGNATURE_MAX], digest[32] = {1};
	size_t siglen, n;
	struct ks_key *keys;

	(void)state;
	ensure_key(ks, "life", KS_CHAIN_EVM);
	assert_sg_ok(ks_key_set_state(ks, "life", 1, KS_STATE_SUSPENDED));
	assert_int_equal(ks_sign(ks, "life", 0, digest, 32, sig, &siglen), SG_ERR_STATE);
	assert_non_null(strstr(sg_errmsg(SG_ERR_STATE), "suspended"));
	/* not a transition SP 800-57 allows */
	assert_int_equal(ks_key_set_state(ks, "life", 1, KS_STATE_DESTROYED), SG_ERR_STATE);
	assert_sg_ok(ks_key_set_state(ks, "life", 1, KS_STATE_ACTIVE));
	assert_sg_ok(ks_sign(ks, "life", 0, digest, 32, sig, &siglen));
	assert_int_equal(ks_key_set_state(ks, "life", 9, KS_STATE_ACTIVE), SG_ERR_NOT_FOUND);
	ks_close(ks);

	/* the transitions are in the token, one record per version */
	ks = open_keystore();
	assert_sg_ok(ks_key_get(ks, "life", 0, &k));
	assert_int_equal(k.state, KS_STATE_ACTIVE);
	assert_int_equal(k.n_transitions, 4);
	assert_int_equal(k.transitions[2].state, KS_STATE_SUSPENDED);
	assert_sg_ok(ks_key_list(ks, &keys, &n));
	{
		size_t seen = 0;

		for (size_t i = 0; i < n; i++)
			seen += strcmp(keys[i].name, "life") == 0;
		assert_int_equal(seen, 1); /* one record per version, however often it changed */
	}
	free(keys);

	/* destroyed: the private key leaves the token, the public key and the record stay */
	ensure_key(ks, "doomed", KS_CHAIN_SOLANA);
	assert_sg_ok(ks_key_set_state(ks, "doomed", 1, KS_STATE_DEACTIVATED));
	assert_int_equal(ks_sign(ks, "doomed", 0, digest, 32, sig, &siglen), SG_ERR_STATE);
	assert_sg_ok(ks_key_set_state(ks, "doomed", 1, KS_STATE_DESTROYED));
	assert_sg_ok(ks_key_get(ks, "doomed", 1, &k));
	assert_int_equal(k.state, KS_STATE_DESTROYED);
	assert_int_equal(k.public_key_len, 32);
	{
		CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
		CK_SESSION_HANDLE s;
		CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE tmpl[] = {
			{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
			{.type = CKA_LABEL, .pValue = "signerd/doomed/1", .ulValueLen = 16}};
		CK_OBJECT_HANDLE o;
		CK_ULONG found = 1;

		assert_int_equal(
			f->C_OpenSession(hsm_fixture_slot(&fx), CKF_SERIAL_SESSION, NULL, NULL, &s),
			CKR_OK);
		assert_int_equal(f->C_FindObjectsInit(s, tmpl, 2), CKR_OK);
		assert_int_equal(f->C_FindObjects(s, &o, 1, &found), CKR_OK);
		assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
		assert_int_equal(found, 0);
		(void)f->C_CloseSession(s);
	}
	ks_close(ks);
}

/* A rotation makes a new key pair of the same chain in pre-activation; activation switches in
 * one step (the old version deactivated, the new one signs); an older version cannot come back
 * over the active one; a pre-activation version is activated, not resumed. */
static void test_rotate_and_activate(void **state)
{
	struct keystore *ks = open_keystore();
	struct ks_key v1, v2, k;
	uint8_t sig[KS_SIGNATURE_MAX], digest[32] = {7};
	size_t siglen;
	uint32_t was;
	bool present;

	(void)state;
	ensure_key(ks, "turn", KS_CHAIN_EVM);
	assert_sg_ok(ks_key_get(ks, "turn", 1, &v1));
	assert_sg_ok(ks_key_rotate(ks, "turn", &v2));
	assert_int_equal(v2.version, 2);
	assert_int_equal(v2.chain, KS_CHAIN_EVM);
	assert_int_equal(v2.state, KS_STATE_PRE_ACTIVATION);
	assert_memory_not_equal(v1.public_key, v2.public_key, v1.public_key_len);
	assert_sg_ok(ks_key_private_present(ks, "turn", 2, &present));
	assert_true(present);
	/* before activation, version 1 still signs */
	assert_sg_ok(ks_sign(ks, "turn", 0, digest, 32, sig, &siglen));
	verify_secp256k1(&v1, digest, sig);
	assert_int_equal(ks_sign(ks, "turn", 2, digest, 32, sig, &siglen), SG_ERR_STATE);
	/* a pre-activation version is activated, not resumed */
	assert_sg_fails(ks_key_set_state(ks, "turn", 2, KS_STATE_ACTIVE), SG_ERR_STATE,
			"activated with ks_key_activate");
	assert_sg_ok(ks_key_activate(ks, "turn", 2, &was));
	assert_int_equal(was, 1);
	assert_sg_ok(ks_key_get(ks, "turn", 1, &k));
	assert_int_equal(k.state, KS_STATE_DEACTIVATED);
	assert_sg_ok(ks_sign(ks, "turn", 0, digest, 32, sig, &siglen));
	verify_secp256k1(&v2, digest, sig);
	/* run again: done already, and it says which version it deactivated */
	assert_sg_ok(ks_key_activate(ks, "turn", 2, &was));
	assert_int_equal(was, 1);
	/* an older version never comes back over the active one */
	assert_sg_ok(ks_key_rotate(ks, "turn", &k));
	assert_sg_fails(ks_key_activate(ks, "turn", 1, &was), SG_ERR_STATE, "older");
	/* nor is a suspended one resumed beside it */
	assert_sg_ok(ks_key_set_state(ks, "turn", 2, KS_STATE_SUSPENDED));
	assert_sg_ok(ks_key_activate(ks, "turn", 3, &was));
	assert_int_equal(was, 0); /* none was active: 2 is suspended */
	assert_sg_fails(ks_key_set_state(ks, "turn", 2, KS_STATE_ACTIVE), SG_ERR_STATE,
			"cannot be resumed beside it");
	ks_close(ks);
}

/* A version's history is bounded (KS_TRANSITIONS_MAX), never its changes: after many suspend
 * and resume cycles it can still be compromised and destroyed, its first transition kept. */
static void test_transitions_never_run_out(void **state)
{
	struct keystore *ks = open_keystore();
	struct ks_key k;

	(void)state;
	ensure_key(ks, "busy", KS_CHAIN_SOLANA);
	for (int i = 0; i < 20; i++) {
		assert_sg_ok(ks_key_set_state(ks, "busy", 1, KS_STATE_SUSPENDED));
		assert_sg_ok(ks_key_set_state(ks, "busy", 1, KS_STATE_ACTIVE));
	}
	assert_sg_ok(ks_key_set_state(ks, "busy", 1, KS_STATE_COMPROMISED));
	assert_sg_ok(ks_key_set_state(ks, "busy", 1, KS_STATE_DESTROYED));
	assert_sg_ok(ks_key_get(ks, "busy", 1, &k));
	assert_int_equal(k.state, KS_STATE_DESTROYED);
	assert_true(k.n_transitions <= KS_TRANSITIONS_MAX);
	assert_int_equal(k.transitions[0].state, KS_STATE_PRE_ACTIVATION);
	assert_int_equal(k.transitions[k.n_transitions - 2].state, KS_STATE_COMPROMISED);
	for (size_t i = 1; i < k.n_transitions; i++) /* still a chain SP 800-57 allows */
		assert_true(ks_state_transition_allowed(k.transitions[i - 1].state,
							k.transitions[i].state));
	ks_close(ks);
}

/* Another process changes a key's record (here: raw PKCS#11 writes a newer record beside the
 * old one, as a crash halfway through a replacement would leave it). A running keystore sees it
 * within the catalogue's 2 s, and reads the newer of the two records. */
static void test_changes_from_elsewhere_take_effect(void **state)
{
	struct keystore *ks = open_keystore();
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	struct ks_key k, back;
	uint8_t *blob, sig[KS_SIGNATURE_MAX], digest[32] = {5};
	size_t blob_len, siglen;
	CK_OBJECT_HANDLE created;
	int r = 0;

	(void)state;
	ensure_key(ks, "elsewhere", KS_CHAIN_EVM);
	assert_sg_ok(ks_key_get(ks, "elsewhere", 1, &k));
	assert_sg_ok(ks_sign(ks, "elsewhere", 0, digest, 32, sig, &siglen));
	k.transitions[k.n_transitions++] =
		(struct ks_transition){.state = KS_STATE_SUSPENDED, .at = k.created_at};
	k.state = KS_STATE_SUSPENDED;
	assert_sg_ok(ks_record_encode(&k, &blob, &blob_len));
	{
		CK_ATTRIBUTE tmpl[] = {
			{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
			{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
			{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
			{.type = CKA_APPLICATION, .pValue = "signerd", .ulValueLen = 7},
			{.type = CKA_LABEL, .pValue = "signerd/elsewhere/1", .ulValueLen = 19},
			{.type = CKA_VALUE, .pValue = blob, .ulValueLen = blob_len},
		};

		assert_int_equal(f->C_OpenSession(hsm_fixture_slot(&fx),
						  CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
						  &s),
				 CKR_OK);
		assert_int_equal(f->C_CreateObject(s, tmpl, 6, &created), CKR_OK);
		(void)f->C_CloseSession(s);
	}
	free(blob);
	/* within 5 s (plus a margin), signing stops */
	for (int i = 0; i < 70 && r == 0; i++) {
		r = ks_sign(ks, "elsewhere", 0, digest, 32, sig, &siglen);
		if (r == 0)
			usleep(100 * 1000);
	}
	assert_int_equal(r, SG_ERR_STATE);
	assert_sg_ok(ks_key_get(ks, "elsewhere", 1, &back));
	assert_int_equal(back.state, KS_STATE_SUSPENDED);
	assert_int_equal(back.n_transitions, 3);
	/* the next change replaces both records with one */
	assert_sg_ok(ks_key_set_state(ks, "elsewhere", 1, KS_STATE_ACTIVE));
	assert_sg_ok(ks_sign(ks, "elsewhere", 0, digest, 32, sig, &siglen));
	ks_close(ks);
}

struct soak {
	struct keystore *ks;
	int64_t until_ns;
	atomic_ulong ok, errors;
	struct ks_key sol, evm;
};

static void *soak_worker(void *arg)
{
	struct soak *sk = arg;
	uint8_t sig[KS_SIGNATURE_MAX], msg[32];
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_pubkey pub;

	if (secp256k1_ec_pubkey_parse(ctx, &pub, sk->evm.public_key, 65) != 1)
		atomic_fetch_add(&sk->errors, 1);
	for (unsigned i = 0; time_monotonic_ns() < sk->until_ns; i++) {
		size_t siglen = 0;
		bool solana = i % 2 == 0;
		int r;

		randombytes_buf(msg, sizeof(msg));
		r = ks_sign(sk->ks, solana ? "soak-sol" : "soak-evm", 0, msg, 32, sig, &siglen);
		if (r == 0 && solana)
			r = crypto_sign_verify_detached(sig, msg, 32, sk->sol.public_key);
		if (r == 0 && !solana) {
			secp256k1_ecdsa_signature s;

			r = secp256k1_ecdsa_signature_parse_compact(ctx, &s, sig) == 1 ? 0 : -1;
			secp256k1_ecdsa_signature_normalize(ctx, &s, &s);
			if (r == 0 && secp256k1_ecdsa_verify(ctx, &s, msg, &pub) != 1)
				r = -1;
		}
		if (r == 0) {
			atomic_fetch_add(&sk->ok, 1);
		} else {
			atomic_fetch_add(&sk->errors, 1);
			fprintf(stderr, "soak: %s\n", sg_errmsg(r));
		}
	}
	secp256k1_context_destroy(ctx);
	return NULL;
}

/* 8 threads share a pool of 4 sessions for SIGNER_SOAK_SECONDS (default 10); every signature
 * is verified; not one may fail. */
static void test_eight_threads_sign_without_error(void **state)
{
	struct soak sk;
	pthread_t threads[8];
	const char *secs = getenv("SIGNER_SOAK_SECONDS");
	struct ks_stats st;

	(void)state;
	memset(&sk, 0, sizeof(sk));
	sk.ks = open_keystore();
	ensure_key(sk.ks, "soak-sol", KS_CHAIN_SOLANA);
	ensure_key(sk.ks, "soak-evm", KS_CHAIN_EVM);
	assert_sg_ok(ks_key_get(sk.ks, "soak-sol", 0, &sk.sol));
	assert_sg_ok(ks_key_get(sk.ks, "soak-evm", 0, &sk.evm));
	sk.until_ns = time_monotonic_ns() + (secs != NULL ? atoll(secs) : 10) * 1000000000LL;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, soak_worker, &sk), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(threads[i], NULL);
	ks_stats(sk.ks, &st);
	printf("# soak: %lu signatures verified, %lu errors\n", (unsigned long)sk.ok,
	       (unsigned long)sk.errors);
	assert_int_equal(sk.errors, 0);
	assert_true(sk.ok > 100);
	assert_int_equal(st.sessions_busy, 0);
	assert_int_equal(st.sessions_idle, 4);
	ks_close(sk.ks);
}

/* The pool mends what went wrong under it: sessions closed behind its back, a logout. */
static void test_sessions_and_login_recover(void **state)
{
	struct keystore *ks = open_keystore();
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SESSION_HANDLE s;
	uint8_t sig[KS_SIGNATURE_MAX], digest[32] = {7};
	size_t siglen;
	struct ks_stats st;

	(void)state;
	ensure_key(ks, "mend", KS_CHAIN_EVM);
	assert_sg_ok(ks_sign(ks, "mend", 0, digest, 32, sig, &siglen));

	/* every session of the application closed: the pool re-opens and logs in again */
	assert_int_equal(f->C_CloseAllSessions(hsm_fixture_slot(&fx)), CKR_OK);
	for (int i = 0; i < 6; i++) /* more than the pool's 4 sessions */
		assert_sg_ok(ks_sign(ks, "mend", 0, digest, 32, sig, &siglen));
	ks_stats(ks, &st);
	assert_true(st.session_reopens >= 1);

	/* logged out from elsewhere in the process: SoftHSM2 answers CKR_OBJECT_HANDLE_INVALID */
	assert_int_equal(
		f->C_OpenSession(hsm_fixture_slot(&fx), CKF_SERIAL_SESSION, NULL, NULL, &s),
		CKR_OK);
	assert_int_equal(f->C_Logout(s), CKR_OK);
	assert_sg_ok(ks_sign(ks, "mend", 0, digest, 32, sig, &siglen));
	/* and after a logout, listing logs in again rather than answering "no keys" */
	assert_int_equal(f->C_Logout(s), CKR_OK);
	{
		struct ks_key *keys;
		size_t n;

		assert_sg_ok(ks_key_list(ks, &keys, &n));
		assert_true(n >= 1);
		free(keys);
	}
	assert_sg_ok(ks_health(ks));
	(void)f->C_CloseSession(s);
	ks_close(ks);
}

/* The token's storage disappears (as an unplugged token would) and comes back. */
static void test_token_storage_goes_and_returns(void **state)
{
	struct keystore *ks = open_keystore();
	char away[160];
	uint8_t sig[KS_SIGNATURE_MAX], msg[32] = {3};
	size_t siglen;
	struct ks_stats st;
	int r = -1;

	(void)state;
	ensure_key(ks, "wander", KS_CHAIN_SOLANA);
	assert_sg_ok(ks_sign(ks, "wander", 0, msg, 32, sig, &siglen));

	snprintf(away, sizeof(away), "%s-away", fx.tokendir);
	assert_int_equal(rename(fx.tokendir, away), 0);
	assert_int_equal(ks_health(ks), SG_ERR_TOKEN_UNAVAILABLE); /* before any sign notices */
	r = ks_sign(ks, "wander", 0, msg, 32, sig, &siglen);
	assert_int_equal(r, SG_ERR_TOKEN_UNAVAILABLE);
	printf("# while away: %s\n", sg_errmsg(r));
	assert_non_null(strstr(sg_errmsg(r), "signer-test"));
	assert_int_equal(ks_health(ks), SG_ERR_TOKEN_UNAVAILABLE);

	assert_int_equal(rename(away, fx.tokendir), 0);
	/* recovery is tried at most once a second: within a few seconds, signing works again */
	for (int i = 0; i < 40 && r != 0; i++) {
		usleep(100 * 1000);
		r = ks_sign(ks, "wander", 0, msg, 32, sig, &siglen);
	}
	if (r != 0)
		fail_msg("no recovery: %s", sg_errmsg(r));
	assert_sg_ok(ks_health(ks));
	ks_stats(ks, &st);
	assert_true(st.recoveries >= 1);
	assert_true(st.logged_in);
	ks_close(ks);
}

static void test_wrong_pin(void **state)
{
	struct ks_config c = fx.config;
	struct keystore *ks = NULL;
	char path[160];
	FILE *f;
	int r;

	(void)state;
	snprintf(path, sizeof(path), "%s/wrong-pin", fx.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not-the-pin\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0400), 0);
	c.pin_file = path;
	r = ks_open(&c, &ks);
	assert_int_equal(r, SG_ERR_PIN);
	assert_null(ks);
	assert_string_equal(sg_errmsg(r), "C_Login: CKR_PIN_INCORRECT");
}

static void test_pin_file_must_be_private(void **state)
{
	struct ks_config c = fx.config;
	struct keystore *ks = NULL;
	char path[160], link[170];
	FILE *f;
	int r;

	(void)state;
	snprintf(path, sizeof(path), "%s/open-pin", fx.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("whatever\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	c.pin_file = path;
	r = ks_open(&c, &ks);
	assert_int_equal(r, SG_ERR_PERMISSION);
	assert_non_null(strstr(sg_errmsg(r), "mode 0644"));
	assert_non_null(strstr(sg_errmsg(r), "chmod 0400"));
	assert_null(strstr(sg_errmsg(r), "whatever")); /* the content is never repeated */

	assert_int_equal(chmod(path, 0440), 0);
	assert_int_equal(ks_open(&c, &ks), SG_ERR_PERMISSION);

	snprintf(link, sizeof(link), "%s/pin-link", fx.dir);
	assert_int_equal(symlink(fx.pin_file, link), 0);
	c.pin_file = link;
	assert_int_equal(ks_open(&c, &ks), SG_ERR_PERMISSION);

	c.pin_file = "/nonexistent/pin";
	assert_int_equal(ks_open(&c, &ks), SG_ERR_NOT_FOUND);

	snprintf(path, sizeof(path), "%s/empty-pin", fx.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(path, 0400), 0);
	c.pin_file = path;
	r = ks_open(&c, &ks);
	assert_int_equal(r, SG_ERR_CONFIG);
	assert_non_null(strstr(sg_errmsg(r), "empty"));
	assert_null(ks);
}

static void test_missing_module_and_token(void **state)
{
	struct ks_config c = fx.config;
	struct keystore *ks = NULL;
	int r;

	(void)state;
	c.module_path = "/nonexistent/libpkcs11.so";
	r = ks_open(&c, &ks);
	assert_int_equal(r, SG_ERR_NOT_FOUND);
	assert_non_null(strstr(sg_errmsg(r), "loading PKCS#11 module /nonexistent/libpkcs11.so"));

	c.module_path = "/usr/lib/x86_64-linux-gnu/libsodium.so.23"; /* a library, not a module */
	if (access(c.module_path, R_OK) == 0) {
		r = ks_open(&c, &ks);
		assert_int_equal(r, SG_ERR_UNSUPPORTED);
		assert_non_null(strstr(sg_errmsg(r), "not a PKCS#11 module"));
	}

	c = fx.config;
	c.token_label = "no-such-token";
	r = ks_open(&c, &ks);
	assert_int_equal(r, SG_ERR_NOT_FOUND);
	assert_non_null(strstr(sg_errmsg(r), "no token labelled 'no-such-token'"));
	assert_non_null(strstr(sg_errmsg(r), "'signer-test'"));
	assert_null(ks);
}

static void test_token_init_refuses_existing_label(void **state)
{
	(void)state;
	assert_int_equal(
		ks_token_init(SIGNER_DEFAULT_PKCS11_MODULE, fx.label, fx.so_pin_file, fx.pin_file),
		SG_ERR_EXISTS);
}

/* Anyone who can open the token without the PIN can create public objects. Planted under the
 * labels and applications signerd uses (an audit anchor, a key's public key, a catalogue
 * record), none is ever found: what signerd trusts is a private object. */
static void test_planted_public_objects_are_ignored(void **state)
{
	struct keystore *ks;
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS data = CKO_DATA, pubkey = CKO_PUBLIC_KEY;
	CK_KEY_TYPE ec = CKK_EC;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const uint8_t secp256k1_oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
	uint8_t point[67] = {0x04, 0x41, 0x04}; /* DER OCTET STRING of an uncompressed point */
	static const char forged[] =
		"{\"v\":1,\"seq\":999,\"hash\":\"00\",\"time\":1,\"written\":1e12}";
	CK_ATTRIBUTE anchor[] = {
		{.type = CKA_CLASS, .pValue = &data, .ulValueLen = sizeof(data)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_APPLICATION, .pValue = "signerd-state", .ulValueLen = 13},
		{.type = CKA_LABEL, .pValue = "audit-anchor", .ulValueLen = 12},
		{.type = CKA_VALUE,
		 .pValue = (void *)(uintptr_t)forged,
		 .ulValueLen = sizeof(forged) - 1},
	};
	CK_ATTRIBUTE record[] = {
		{.type = CKA_CLASS, .pValue = &data, .ulValueLen = sizeof(data)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_APPLICATION, .pValue = "signerd", .ulValueLen = 7},
		{.type = CKA_LABEL, .pValue = "signerd/planted/1", .ulValueLen = 17},
		{.type = CKA_VALUE, .pValue = "x", .ulValueLen = 1},
	};
	CK_ATTRIBUTE pub[] = {
		{.type = CKA_CLASS, .pValue = &pubkey, .ulValueLen = sizeof(pubkey)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_KEY_TYPE, .pValue = &ec, .ulValueLen = sizeof(ec)},
		{.type = CKA_EC_PARAMS,
		 .pValue = (void *)(uintptr_t)secp256k1_oid,
		 .ulValueLen = sizeof(secp256k1_oid)},
		{.type = CKA_EC_POINT, .pValue = point, .ulValueLen = sizeof(point)},
		{.type = CKA_LABEL, .pValue = "signerd/plant-evm/1", .ulValueLen = 19},
	};
	CK_OBJECT_HANDLE o;
	struct ks_blob *values;
	struct ks_key before, after, *keys;
	size_t n;

	(void)state;
	ks = open_keystore();
	ensure_key(ks, "plant-evm", KS_CHAIN_EVM);
	assert_sg_ok(ks_key_get(ks, "plant-evm", 0, &before));
	/* the attacker's public point: the generator's x coordinate, any point will do */
	memset(point + 3, 0x79, 64);
	assert_int_equal(f->C_OpenSession(hsm_fixture_slot(&fx),
					  CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
			 CKR_OK);
	/* no login: public objects only */
	assert_int_equal(f->C_CreateObject(s, anchor, 6, &o), CKR_OK);
	assert_int_equal(f->C_CreateObject(s, record, 6, &o), CKR_OK);
	assert_int_equal(f->C_CreateObject(s, pub, 7, &o), CKR_OK);
	(void)f->C_CloseSession(s);
	ks_close(ks);

	ks = open_keystore();
	assert_sg_ok(ks_state_get(ks, "audit-anchor", &values, &n));
	assert_int_equal(n, 0);
	assert_sg_ok(ks_state_put(ks, "audit-anchor", (const uint8_t *)"ours", 4));
	assert_sg_ok(ks_state_get(ks, "audit-anchor", &values, &n));
	assert_int_equal(n, 1);
	assert_memory_equal(values[0].data, "ours", 4);
	ks_blobs_free(values, n);
	/* the catalogue: no planted record, and the key's own public key */
	assert_sg_ok(ks_key_list(ks, &keys, &n));
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(keys[i].name, "planted");
	free(keys);
	assert_sg_ok(ks_key_get(ks, "plant-evm", 0, &after));
	assert_int_equal(after.public_key_len, before.public_key_len);
	assert_memory_equal(after.public_key, before.public_key, before.public_key_len);
	ks_close(ks);
}

/* The slots of a value written in place, as the token holds them: their handles, sorted. */
static CK_ULONG slot_objects(CK_SESSION_HANDLE s, const char *app, CK_OBJECT_HANDLE out[8])
{
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &data, .ulValueLen = sizeof(data)},
		{.type = CKA_APPLICATION,
		 .pValue = (void *)(uintptr_t)app,
		 .ulValueLen = strlen(app)},
	};
	CK_ULONG n = 0;

	assert_int_equal(f->C_FindObjectsInit(s, tmpl, 2), CKR_OK);
	assert_int_equal(f->C_FindObjects(s, out, 8, &n), CKR_OK);
	assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
	for (CK_ULONG i = 1; i < n; i++)
		for (CK_ULONG j = i; j > 0 && out[j - 1] > out[j]; j--) {
			CK_OBJECT_HANDLE t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* Whether the values read under name are exactly want (in any order). */
static void assert_state_values(struct keystore *ks, const char *name, const char *const *want,
				size_t n_want)
{
	struct ks_blob *values;
	size_t n;

	assert_sg_ok(ks_state_get(ks, name, &values, &n));
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n_want; i++) {
		bool seen = false;

		for (size_t k = 0; k < n; k++)
			seen |= values[k].len == strlen(want[i]) &&
				memcmp(values[k].data, want[i], values[k].len) == 0;
		assert_true(seen);
	}
	ks_blobs_free(values, n);
}

static void test_state_written_in_place(void **state)
{
	struct keystore *ks;
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const char app[] = "signerd-state-slot/inplace";
	char forged_label[] = "ffffffffffffffff:forged";
	CK_ATTRIBUTE planted[] = {
		{.type = CKA_CLASS, .pValue = &data, .ulValueLen = sizeof(data)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_APPLICATION,
		 .pValue = (void *)(uintptr_t)app,
		 .ulValueLen = sizeof(app) - 1},
		{.type = CKA_LABEL, .pValue = forged_label, .ulValueLen = sizeof(forged_label) - 1},
	};
	CK_OBJECT_HANDLE first[8], now[8], o;
	char value[32], before[32];
	const char *want[2];

	(void)state;
	ks = open_keystore();
	assert_int_equal(f->C_OpenSession(hsm_fixture_slot(&fx),
					  CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
			 CKR_OK);
	/* a public slot planted by anyone who can open the token: never read, never written */
	assert_int_equal(f->C_CreateObject(s, planted, 5, &o), CKR_OK);
	/* a value put whole goes at the first write in place */
	assert_sg_ok(ks_state_put(ks, "inplace", (const uint8_t *)"v0", 2));
	assert_sg_ok(ks_state_advance(ks, "inplace", (const uint8_t *)"v1", 2));
	want[0] = "v1";
	assert_state_values(ks, "inplace", want, 1);
	assert_sg_ok(ks_state_advance(ks, "inplace", (const uint8_t *)"v2", 2));
	want[1] = "v2";
	assert_state_values(ks, "inplace", want, 2);
	assert_int_equal(slot_objects(s, app, first), 3); /* ours and the planted one */
	/* from now on, each write replaces the older of the two in place: the same objects, the
	 * value before always beside the newest */
	strcpy(before, "v2");
	for (int i = 3; i < 40; i++) {
		snprintf(value, sizeof(value), "v%d", i);
		assert_sg_ok(
			ks_state_advance(ks, "inplace", (const uint8_t *)value, strlen(value)));
		want[0] = before;
		want[1] = value;
		assert_state_values(ks, "inplace", want, 2);
		assert_int_equal(slot_objects(s, app, now), 3);
		assert_memory_equal(now, first, 3 * sizeof(now[0]));
		strcpy(before, value);
	}
	/* put whole: only the new value remains, the slots are gone (the planted one stays) */
	assert_sg_ok(ks_state_put(ks, "inplace", (const uint8_t *)"whole", 5));
	want[0] = "whole";
	assert_state_values(ks, "inplace", want, 1);
	assert_int_equal(slot_objects(s, app, now), 1);
	assert_int_equal(now[0], o);
	/* a slot of ours that does not read is an error, not a value; a put mends it */
	planted[2].pValue = &yes;
	planted[4].pValue = (void *)(uintptr_t) "no counter";
	planted[4].ulValueLen = 10;
	assert_int_equal(f->C_CreateObject(s, planted, 5, &o), CKR_OK);
	struct ks_blob *values;
	size_t n;
	int r = ks_state_get(ks, "inplace", &values, &n);

	assert_int_equal(r, SG_ERR_MALFORMED);
	assert_null(strstr(sg_errmsg(r), "no counter"));
	assert_int_equal(ks_state_advance(ks, "inplace", (const uint8_t *)"x", 1),
			 SG_ERR_MALFORMED);
	assert_sg_ok(ks_state_put(ks, "inplace", (const uint8_t *)"mended", 6));
	want[0] = "mended";
	assert_state_values(ks, "inplace", want, 1);
	(void)f->C_CloseSession(s);
	ks_close(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_list_sign_verify),
		cmocka_unit_test(test_private_keys_stay_in_the_token),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_rotate_and_activate),
		cmocka_unit_test(test_transitions_never_run_out),
		cmocka_unit_test(test_changes_from_elsewhere_take_effect),
		cmocka_unit_test(test_eight_threads_sign_without_error),
		cmocka_unit_test(test_sessions_and_login_recover),
		cmocka_unit_test(test_token_storage_goes_and_returns),
		cmocka_unit_test(test_wrong_pin),
		cmocka_unit_test(test_pin_file_must_be_private),
		cmocka_unit_test(test_missing_module_and_token),
		cmocka_unit_test(test_token_init_refuses_existing_label),
		cmocka_unit_test(test_planted_public_objects_are_ignored),
		cmocka_unit_test(test_state_written_in_place),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
