/* The door, signer_sign(), on a real SoftHSM2 token, fed the shared vectors: the same unsigned
 * bytes give the same signing hash, our signatures recover to our key's address, and the signed
 * encodings decode again. Solana vector messages get our key as their fee payer. */
#include "../support/testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../support/hsm_fixture.h"
#include "common/address.h"
#include "common/encoding.h"
#include "keystore/keystore.h"
#include "signer/audit.h"
#include "chain/evm/sig.h"
#include "chain/evm/tx.h"
#include "signer/signer.h"

static struct hsm_fixture fx;
static struct signer *signer;
static char audit_path[160];
static char policy_path[160];
static char evm_address[EVM_ADDRESS_TEXT_LEN];
static uint8_t sol_pub[32];

static int setup(void **state)
{
	struct signer_config cfg;
	struct keystore *ks;
	struct ks_key k;
	uint8_t addr[20];
	FILE *f;

	(void)state;
	if (hsm_fixture_create(&fx, "signer-door", 2) != 0)
		return -1;
	/* keys made through the keystore, then the keystore closed: the signer opens its own */
	if (ks_open(&fx.config, &ks) != 0 || ks_key_generate(ks, "evm", KS_CHAIN_EVM, &k) != 0 ||
	    addr_evm_from_pubkey(k.public_key, k.public_key_len, addr) != 0)
		return -1;
	addr_evm_checksum(addr, evm_address);
	if (ks_key_generate(ks, "sol", KS_CHAIN_SOLANA, &k) != 0)
		return -1;
	memcpy(sol_pub, k.public_key, 32);
	ks_close(ks);
	memset(&cfg, 0, sizeof(cfg));
	cfg.token.module = (char *)(uintptr_t)SIGNER_DEFAULT_PKCS11_MODULE;
	cfg.token.label = fx.label;
	cfg.token.pin_file = fx.pin_file;
	cfg.workers = 2;
	snprintf(audit_path, sizeof(audit_path), "%s/audit.log", fx.dir);
	cfg.audit.path = audit_path;
	snprintf(policy_path, sizeof(policy_path), "%s/policy.yaml", fx.dir);
	f = fopen(policy_path, "w");
	if (f == NULL)
		return -1;
	fputs("grants:\n"
	      "  - client: local\n    key: evm\n    operations: [test, trail]\n"
	      "  - client: local\n    key: sol\n    operations: [test, trail]\n"
	      "  - client: local\n    key: nobody\n    operations: [test]\n",
	      f);
	fclose(f);
	cfg.policy.path = policy_path;
	return signer_open(&cfg, &signer) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	signer_close(signer);
	hsm_fixture_destroy(&fx);
	return 0;
}

static json_t *sign_ok(const char *key, enum signer_payload kind, const uint8_t *p, size_t n,
		       json_t **view)
{
	struct signer_request req = {.client = "local",
				     .key = key,
				     .operation = "test",
				     .request_id = "req-1",
				     .kind = kind,
				     .payload = p,
				     .payload_len = n,
				     .want_view = true};
	struct signer_result res;
	struct signer_error err;
	json_t *out;
	int r = signer_sign(signer, &req, &res, &err);

	if (r != 0)
		fail_msg("signer_sign: %s: %s (%s)", err.code, err.message, sg_errmsg(r));
	/* the response's text, read back as JSON */
	out = signer_result_response(&res);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "key")), key);
	assert_int_equal(json_integer_value(json_object_get(out, "key_version")), 1);
	assert_string_equal(json_string_value(json_object_get(out, "operation")), "test");
	assert_string_equal(json_string_value(json_object_get(out, "request_id")), "req-1");
	assert_int_equal(strlen(json_string_value(json_object_get(out, "audit_id"))), 32);
	assert_non_null(res.view);
	if (view != NULL)
		*view = json_incref(res.view);
	signer_result_free(&res);
	return out;
}

static const char *sign_refused(const char *key, enum signer_payload kind, const uint8_t *p,
				size_t n, int status)
{
	static char code[64];
	struct signer_request req = {.client = "local",
				     .key = key,
				     .operation = "test",
				     .kind = kind,
				     .payload = p,
				     .payload_len = n};
	struct signer_result res;
	struct signer_error err;

	if (signer_sign(signer, &req, &res, &err) == 0)
		fail_msg("signed what should be refused");
	assert_int_equal(err.status, status);
	assert_false(res.has_response);
	snprintf(code, sizeof(code), "%s", err.code);
	return code;
}

/* A 0x quantity (no leading zeros, maybe an odd number of digits) as 32 bytes. */
static void quantity32(const char *q, uint8_t out[32])
{
	char padded[65];
	size_t len = strlen(q) - 2, n;

	assert_true(strncmp(q, "0x", 2) == 0 && len >= 1 && len <= 64);
	memset(padded, '0', 64);
	memcpy(padded + 64 - len, q + 2, len);
	padded[64] = '\0';
	assert_sg_ok(hex_decode(padded, 64, out, 32, &n));
}

/* The signed transaction: decoded by its own rules, its sender recovered. */
static void check_signed_tx(json_t *resp, const uint8_t *unsigned_tx, size_t ulen)
{
	size_t n;
	uint8_t *signed_tx =
		tv_hex(json_string_value(json_object_get(resp, "signed_transaction")), &n);
	uint8_t digest[32], addr[20];
	struct evm_tx tx;
	struct evm_sig sig;
	char text[EVM_ADDRESS_TEXT_LEN];

	assert_string_equal(json_string_value(json_object_get(resp, "from")), evm_address);
	assert_sg_ok(evm_tx_decode(unsigned_tx, ulen, &tx));
	evm_tx_signing_hash(&tx, digest);
	memset(&sig, 0, sizeof(sig));
	quantity32(json_string_value(json_object_get(resp, "r")), sig.r);
	quantity32(json_string_value(json_object_get(resp, "s")), sig.s);
	assert_true(sig.s[0] < 0x80); /* low S: s <= n/2 < 2^255 */
	for (sig.recid = 0; sig.recid < 2; sig.recid++) {
		assert_sg_ok(evm_sig_recover_address(digest, &sig, addr));
		addr_evm_checksum(addr, text);
		if (strcmp(text, evm_address) == 0)
			break;
	}
	assert_true(sig.recid < 2);
	/* the signed form carries the same fields (it starts with the type byte for typed txs) */
	if (unsigned_tx[0] < 0x80)
		assert_int_equal(signed_tx[0], unsigned_tx[0]);
	free(signed_tx);
}

static void test_ethers_and_polygon_transactions(void **state)
{
	static const char *const kinds[] = {"eip155", "eip2930", "eip1559"};
	json_t *doc = tv_load("evm/ethers_tx_vectors.json"), *v;
	size_t i, signed_count = 0;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		for (size_t k = 0; k < 3; k++) {
			json_t *enc = json_object_get(json_object_get(v, "encodings"), kinds[k]);
			size_t n;
			uint8_t *u = tv_hex(tv_str(enc, "unsigned"), &n);
			json_t *view,
				*resp = sign_ok("evm", SIGNER_PAYLOAD_EVM_TRANSACTION, u, n, &view);

			check_signed_tx(resp, u, n);
			assert_int_equal(json_integer_value(json_object_get(view, "type")), (int)k);
			json_decref(view);
			json_decref(resp);
			free(u);
			signed_count++;
		}
	}
	json_decref(doc);
	doc = tv_load("evm/polygon_generated_tx.json");
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		size_t n;
		uint8_t *u = tv_hex(tv_str(v, "unsigned"), &n);
		json_t *resp = sign_ok("evm", SIGNER_PAYLOAD_EVM_TRANSACTION, u, n, NULL);
		json_t *txj = json_object_get(v, "tx");
		long long chain = json_integer_value(json_object_get(txj, "chainId"));

		check_signed_tx(resp, u, n);
		if (json_integer_value(json_object_get(txj, "type")) == 0) {
			/* multi-byte EIP-155 v: 309/310 on 137, 160039/160040 on 80002 */
			long long got = strtoll(json_string_value(json_object_get(resp, "v")) + 2,
						NULL, 16);

			assert_true(got == chain * 2 + 35 || got == chain * 2 + 36);
		}
		json_decref(resp);
		free(u);
		signed_count++;
	}
	assert_true(signed_count >= 33);
	json_decref(doc);
}

static void test_personal_and_typed(void **state)
{
	json_t *doc = tv_load("evm/eip191_personal_sign.json"), *v, *resp;
	size_t i;
	char *typed;

	(void)state;
	json_array_foreach (json_object_get(doc, "vectors"), i, v) {
		size_t n;
		uint8_t *m = tv_hex(tv_str(v, "message_hex"), &n);

		resp = sign_ok("evm", SIGNER_PAYLOAD_EVM_MESSAGE, m, n, NULL);
		assert_string_equal(json_string_value(json_object_get(resp, "digest")),
				    tv_str(v, "hash"));
		assert_int_equal(strlen(json_string_value(json_object_get(resp, "signature"))),
				 132);
		json_decref(resp);
		free(m);
	}
	json_decref(doc);
	doc = tv_load("evm/eip712_typed_data.json");
	typed = json_dumps(json_object_get(doc, "typedData"), JSON_COMPACT);
	resp = sign_ok("evm", SIGNER_PAYLOAD_EVM_TYPED_DATA, (const uint8_t *)typed, strlen(typed),
		       NULL);
	assert_string_equal(json_string_value(json_object_get(resp, "digest")),
			    tv_str(json_object_get(doc, "expected"), "signingHash"));
	{
		size_t n;
		uint8_t *sigb = tv_hex(json_string_value(json_object_get(resp, "signature")), &n);
		uint8_t *digest = tv_hex(json_string_value(json_object_get(resp, "digest")), &n);
		struct evm_sig sig;
		uint8_t addr[20];
		char text[EVM_ADDRESS_TEXT_LEN];

		memcpy(sig.r, sigb, 32);
		memcpy(sig.s, sigb + 32, 32);
		sig.recid = sigb[64] - 27;
		assert_sg_ok(evm_sig_recover_address(digest, &sig, addr));
		addr_evm_checksum(addr, text);
		assert_string_equal(text, evm_address);
		free(sigb);
		free(digest);
	}
	json_decref(resp);
	free(typed);
	json_decref(doc);
}

static void test_solana_messages(void **state)
{
	static const char *const files[] = {
		"solana/web3js-legacy-system-transfer.json",
		"solana/generated-legacy-two-signers-priority-fee.json",
		"solana/generated-v0-transfer-memo-with-alt.json",
	};

	(void)state;
	for (size_t f = 0; f < 3; f++) {
		json_t *doc = tv_load(files[f]), *resp, *view;
		size_t n, siglen;
		uint8_t *msg = tv_hex(tv_str(doc, "message_hex"), &n);
		size_t keys_at = msg[0] == 0x80 ? 5 : 4; /* version byte, 3 header bytes, count */
		uint8_t sig[80];
		const char *code;

		/* as given, our key signs nothing in it */
		code = sign_refused("sol", SIGNER_PAYLOAD_SOLANA_MESSAGE, msg, n, 400);
		assert_string_equal(code, "not_a_signer");
		/* with our key as the fee payer, it does */
		memcpy(msg + keys_at, sol_pub, 32);
		resp = sign_ok("sol", SIGNER_PAYLOAD_SOLANA_MESSAGE, msg, n, &view);
		assert_int_equal(
			b58_decode(json_string_value(json_object_get(resp, "signature")),
				   strlen(json_string_value(json_object_get(resp, "signature"))),
				   sig, sizeof(sig), &siglen),
			0);
		assert_int_equal(siglen, 64);
		assert_int_equal(crypto_sign_verify_detached(sig, msg, n, sol_pub), 0);
		assert_string_equal(json_string_value(json_object_get(view, "version")),
				    msg[0] == 0x80 ? "v0" : "legacy");
		assert_string_equal(json_string_value(json_object_get(view, "fee_payer")),
				    json_string_value(json_object_get(resp, "signer")));
		json_decref(view);
		json_decref(resp);
		free(msg);
		json_decref(doc);
	}
}

static void test_refusals(void **state)
{
	static const uint8_t tx155[] = {0xc6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}; /* pre-155 */
	struct signer_request req = {.client = "local",
				     .key = "evm",
				     .operation = "bad op!",
				     .kind = SIGNER_PAYLOAD_EVM_MESSAGE,
				     .payload = (const uint8_t *)"x",
				     .payload_len = 1};
	struct signer_result res;
	struct signer_error err;
	char long_id[200];

	(void)state;
	assert_string_equal(
		sign_refused("evm", SIGNER_PAYLOAD_EVM_TRANSACTION, tx155, sizeof(tx155), 400),
		"invalid_payload");
	assert_string_equal(
		sign_refused("sol", SIGNER_PAYLOAD_EVM_MESSAGE, (const uint8_t *)"x", 1, 400),
		"wrong_chain");
	assert_string_equal(
		sign_refused("evm", SIGNER_PAYLOAD_SOLANA_MESSAGE, (const uint8_t *)"x", 1, 400),
		"wrong_chain");
	assert_string_equal(
		sign_refused("nobody", SIGNER_PAYLOAD_EVM_MESSAGE, (const uint8_t *)"x", 1, 404),
		"key_not_found");
	/* no grant: refused before the key is looked at */
	assert_string_equal(
		sign_refused("../etc", SIGNER_PAYLOAD_EVM_MESSAGE, (const uint8_t *)"x", 1, 403),
		"forbidden");
	assert_string_equal(
		sign_refused("ghost", SIGNER_PAYLOAD_EVM_MESSAGE, (const uint8_t *)"x", 1, 403),
		"forbidden");
	assert_int_not_equal(signer_sign(signer, &req, &res, &err), 0);
	assert_string_equal(err.code, "invalid_request");
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	req.operation = "test";
	req.request_id = long_id;
	assert_int_not_equal(signer_sign(signer, &req, &res, &err), 0);
	assert_string_equal(err.code, "invalid_request");
	req.request_id = "tab\there";
	assert_int_not_equal(signer_sign(signer, &req, &res, &err), 0);
	assert_string_equal(err.code, "invalid_request");
	{
		json_t *e = signer_error_json(&err, "r-9");

		assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"),
								      "request_id")),
				    "r-9");
		json_decref(e);
	}
}

/* Every request above left one record, signed or refused, and the chain holds. The last record
 * is the last request's. */
static void test_audit_trail(void **state)
{
	static const uint8_t msg[] = "audit me";
	struct signer_request req = {.client = "local",
				     .key = "evm",
				     .operation = "trail",
				     .request_id = "r-trail",
				     .kind = SIGNER_PAYLOAD_EVM_MESSAGE,
				     .payload = msg,
				     .payload_len = sizeof(msg) - 1};
	struct signer_result res;
	struct signer_error err;
	unsigned long bad, lines, before;
	char last[4096] = "", line[4096];
	FILE *f;
	json_t *rec;
	uint8_t h[32];
	char hex[65];

	(void)state;
	assert_sg_ok(audit_verify_file(audit_path, &bad, &before));
	assert_true(before >= 40);
	assert_sg_ok(signer_sign(signer, &req, &res, &err));
	f = fopen(audit_path, "r");
	while (fgets(line, sizeof(line), f) != NULL)
		memcpy(last, line, sizeof(line));
	fclose(f);
	rec = json_loads(last, 0, NULL);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "audit_id")), res.audit_id);
	assert_string_equal(json_string_value(json_object_get(rec, "decision")), "signed");
	assert_string_equal(json_string_value(json_object_get(rec, "client")), "local");
	assert_string_equal(json_string_value(json_object_get(rec, "operation")), "trail");
	assert_string_equal(json_string_value(json_object_get(rec, "chain")), "evm");
	crypto_hash_sha256(h, msg, sizeof(msg) - 1);
	assert_sg_ok(hex_encode(h, 32, hex, sizeof(hex)));
	assert_string_equal(json_string_value(json_object_get(rec, "payload_sha256")), hex);
	crypto_hash_sha256(h, res.signature, res.signature_len);
	assert_sg_ok(hex_encode(h, 32, hex, sizeof(hex)));
	assert_string_equal(json_string_value(json_object_get(rec, "signature_sha256")), hex);
	json_decref(rec);
	signer_result_free(&res);

	/* a refusal is recorded too, and its error names the record */
	req.key = "sol";
	assert_int_not_equal(signer_sign(signer, &req, &res, &err), 0);
	assert_int_equal(strlen(err.audit_id), 32);
	assert_sg_ok(audit_verify_file(audit_path, &bad, &lines));
	assert_int_equal(lines, before + 2);
	f = fopen(audit_path, "r");
	while (fgets(line, sizeof(line), f) != NULL)
		memcpy(last, line, sizeof(line));
	fclose(f);
	rec = json_loads(last, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(rec, "decision")), "invalid");
	assert_string_equal(json_string_value(json_object_get(rec, "reason")), "wrong_chain");
	assert_true(json_is_null(json_object_get(rec, "signature_sha256")));
	json_decref(rec);
}

static void test_keys_json(void **state)
{
	json_t *keys, *one;

	(void)state;
	assert_sg_ok(signer_keys_json(signer, NULL, &keys));
	assert_int_equal(json_array_size(json_object_get(keys, "keys")), 2);
	assert_sg_ok(signer_key_json_get(signer, NULL, "evm", &one));
	assert_string_equal(json_string_value(json_object_get(one, "address")), evm_address);
	json_decref(one);
	assert_int_equal(signer_key_json_get(signer, NULL, "nope", &one), SG_ERR_NOT_FOUND);
	/* a client sees the keys its grants name, and no other */
	assert_sg_ok(signer_key_json_get(signer, "local", "evm", &one));
	json_decref(one);
	assert_int_equal(signer_key_json_get(signer, "someone", "evm", &one), SG_ERR_NOT_FOUND);
	json_decref(keys);
	assert_sg_ok(signer_keys_json(signer, "someone", &keys));
	assert_int_equal(json_array_size(json_object_get(keys, "keys")), 0);
	json_decref(keys);
}

/* ---- a reload racing requests ----------------------------------------------------------- */

static char race_a[200], race_b[200];
static atomic_bool race_over;

/* Reloads without pause: policy A at every odd generation, B at every even one. */
static void *race_reloader(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_over)) {
		uint64_t next = signer_policy_generation(signer) + 1;

		if (signer_policy_reload(signer, next % 2 == 1 ? race_a : race_b) != 0)
			fail_msg("reload: %s", sg_errmsg(SG_ERR_CONFIG));
	}
	return NULL;
}

/* A reload racing requests never mixes two policies: A grants "race" and denies its 2-byte
 * message by content; B grants no "race" at all. A request granted by A and judged by B's
 * content rules (none) would be signed. Every record names one generation, and the decision
 * is that generation's policy's. */
static void test_reload_race_one_policy(void **state)
{
	static const uint8_t msg[] = "hi";
	struct signer_request req = {.client = "local",
				     .key = "evm",
				     .operation = "race",
				     .kind = SIGNER_PAYLOAD_EVM_MESSAGE,
				     .payload = msg,
				     .payload_len = 2};
	unsigned long under_a = 0, under_b = 0;
	char line[4096];
	pthread_t th;
	FILE *f;

	(void)state;
	snprintf(race_a, sizeof(race_a), "%s/race-a.yaml", fx.dir);
	snprintf(race_b, sizeof(race_b), "%s/race-b.yaml", fx.dir);
	f = fopen(race_a, "w");
	assert_non_null(f);
	fputs("grants:\n  - client: local\n    key: evm\n    operations: [race]\n"
	      "rules:\n  race:\n    eip191:\n      max_length: 1\n",
	      f);
	fclose(f);
	f = fopen(race_b, "w");
	assert_non_null(f);
	fputs("grants:\n  - client: local\n    key: evm\n    operations: [test]\n", f);
	fclose(f);
	atomic_store(&race_over, false);
	assert_int_equal(pthread_create(&th, NULL, race_reloader, NULL), 0);
	for (int i = 0; i < 400; i++) {
		struct signer_result res;
		struct signer_error err;

		if (signer_sign(signer, &req, &res, &err) == 0)
			fail_msg("signed under a mix of two policies");
		assert_true(strcmp(err.code, "policy_denied") == 0 ||
			    strcmp(err.code, "forbidden") == 0);
	}
	atomic_store(&race_over, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	f = fopen(audit_path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		json_int_t gen = json_integer_value(json_object_get(rec, "policy_generation"));
		const char *reason = json_string_value(json_object_get(rec, "reason"));

		if (rec == NULL)
			fail_msg("an audit line does not read: %.80s", line);
		if (json_is_string(json_object_get(rec, "operation")) &&
		    strcmp(json_string_value(json_object_get(rec, "operation")), "race") == 0 &&
		    gen > 0) {
			assert_non_null(reason);
			if (gen % 2 == 1) {
				assert_string_equal(reason, "eip191.too_long");
				under_a++;
			} else {
				assert_string_equal(reason, "forbidden");
				under_b++;
			}
		}
		json_decref(rec);
	}
	fclose(f);
	/* the race ran: requests were decided under both */
	print_message("decided under A: %lu, under B: %lu\n", under_a, under_b);
	assert_true(under_a > 0 && under_b > 0);
	assert_sg_ok(signer_policy_reload(signer, policy_path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethers_and_polygon_transactions),
		cmocka_unit_test(test_personal_and_typed),
		cmocka_unit_test(test_solana_messages),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_audit_trail),
		cmocka_unit_test(test_keys_json),
		cmocka_unit_test(test_reload_race_one_policy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
