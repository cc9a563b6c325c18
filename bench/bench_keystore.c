/* bench_keystore CONFIG [SECONDS]: signatures per second through the keystore (ks_sign: pool,
 * handle cache, lifecycle check) beside raw C_SignInit + C_Sign in a tight loop on the same token,
 * for each curve at 1 and 2 workers, and the ratio. Rounds alternate raw and keystore runs so
 * that both see the same machine; the median round is reported. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "common/timefmt.h"
#include "keystore/keystore.h"
#include "signer/config.h"

#define ROUNDS 5

struct run {
	struct keystore *ks;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	const char *name;
	enum ks_chain chain;
	bool raw;
	double seconds;
	atomic_ulong count;
	atomic_ulong errors;
};

static CK_OBJECT_HANDLE raw_find_key(struct run *run, CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	char label[96];
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG found = 0;

	snprintf(label, sizeof(label), "signerd/%s/1", run->name);
	CK_ATTRIBUTE tmpl[] = {{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
			       {.type = CKA_LABEL, .pValue = label, .ulValueLen = strlen(label)}};
	if (run->f->C_FindObjectsInit(s, tmpl, 2) == CKR_OK) {
		(void)run->f->C_FindObjects(s, &o, 1, &found);
		(void)run->f->C_FindObjectsFinal(s);
	}
	return found == 1 ? o : CK_INVALID_HANDLE;
}

static void *worker(void *arg)
{
	struct run *run = arg;
	uint8_t msg[256], sig[KS_SIGNATURE_MAX];
	size_t len = run->chain == KS_CHAIN_SOLANA ? 256 : 32;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_MECHANISM mech = {run->chain == KS_CHAIN_SOLANA ? CKM_EDDSA : CKM_ECDSA, NULL, 0};
	unsigned long n = 0, errors = 0;
	double end;

	randombytes_buf(msg, sizeof(msg));
	if (run->raw) {
		if (run->f->C_OpenSession(run->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
			    CKR_OK ||
		    (key = raw_find_key(run, s)) == CK_INVALID_HANDLE) {
			atomic_fetch_add(&run->errors, 1);
			return NULL;
		}
	}
	end = time_monotonic_s() + run->seconds;
	while (time_monotonic_s() < end) {
		size_t siglen = sizeof(sig);

		msg[0] = (uint8_t)n;
		if (run->raw) {
			CK_ULONG l = sizeof(sig);

			if (run->f->C_SignInit(s, &mech, key) != CKR_OK ||
			    run->f->C_Sign(s, msg, len, sig, &l) != CKR_OK)
				errors++;
		} else if (ks_sign(run->ks, run->name, 0, msg, len, sig, &siglen) != 0) {
			errors++;
		}
		n++;
	}
	if (s != CK_INVALID_HANDLE)
		(void)run->f->C_CloseSession(s);
	atomic_fetch_add(&run->count, n);
	atomic_fetch_add(&run->errors, errors);
	return NULL;
}

static double measure(struct run *run, unsigned workers)
{
	pthread_t t[8];
	double start = time_monotonic_s();

	atomic_store(&run->count, 0);
	for (unsigned i = 0; i < workers; i++)
		pthread_create(&t[i], NULL, worker, run);
	for (unsigned i = 0; i < workers; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&run->count) / (time_monotonic_s() - start);
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static CK_SLOT_ID find_slot(CK_FUNCTION_LIST_PTR f, const char *label)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	CK_UTF8CHAR want[32];

	memset(want, ' ', 32);
	memcpy(want, label, strlen(label));
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;

		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    memcmp(info.label, want, 32) == 0)
			return slots[i];
	}
	return (CK_SLOT_ID)-1;
}

int main(int argc, char **argv)
{
	struct signer_config cfg;
	struct ks_config kc;
	struct keystore *ks;
	void *dl;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f;
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	static const struct {
		const char *name;
		enum ks_chain chain;
		const char *curve;
	} keys[] = {{.name = "solana-dev", .chain = KS_CHAIN_SOLANA, .curve = "ed25519"},
		    {.name = "polygon-dev", .chain = KS_CHAIN_EVM, .curve = "secp256k1"}};
	unsigned long errors = 0;
	int r;

	if (argc < 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_keystore CONFIG [SECONDS]\n");
		return 2;
	}
	if ((r = signer_config_load(argv[1], &cfg)) != 0 ||
	    (r = signer_config_apply_env(&cfg)) != 0) {
		fprintf(stderr, "bench_keystore: %s\n", sg_errmsg(r));
		return 1;
	}
	kc = (struct ks_config){cfg.token.module, cfg.token.label, cfg.token.pin_file, 2};
	if ((r = ks_open(&kc, &ks)) != 0) {
		fprintf(stderr, "bench_keystore: %s\n", sg_errmsg(r));
		return 1;
	}
	dl = dlopen(cfg.token.module, RTLD_NOW | RTLD_LOCAL); /* the same module, already set up */
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&f) != CKR_OK) {
		fprintf(stderr, "bench_keystore: no C_GetFunctionList\n");
		return 1;
	}
	printf("keystore benchmark: %s, %d rounds of %.1f s per cell, median round\n",
	       cfg.token.module, ROUNDS, seconds);
	printf("%-10s %7s %14s %14s %8s %9s\n", "curve", "workers", "raw C_Sign/s", "keystore/s",
	       "ratio", "overhead");
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (unsigned workers = 1; workers <= 2; workers++) {
			double raw[ROUNDS], through[ROUNDS], ratio[ROUNDS];
			struct run run = {.ks = ks,
					  .f = f,
					  .slot = find_slot(f, cfg.token.label),
					  .name = keys[k].name,
					  .chain = keys[k].chain,
					  .seconds = seconds};

			for (int i = 0; i < ROUNDS; i++) {
				run.raw = true;
				raw[i] = measure(&run, workers);
				run.raw = false;
				through[i] = measure(&run, workers);
				ratio[i] = through[i] / raw[i];
			}
			errors += atomic_load(&run.errors);
			qsort(raw, ROUNDS, sizeof(double), compare_double);
			qsort(through, ROUNDS, sizeof(double), compare_double);
			qsort(ratio, ROUNDS, sizeof(double), compare_double);
			printf("%-10s %7u %14.0f %14.0f %8.3f %8.1f%%\n", keys[k].curve, workers,
			       raw[ROUNDS / 2], through[ROUNDS / 2], ratio[ROUNDS / 2],
			       (1.0 - ratio[ROUNDS / 2]) * 100.0);
		}
	}
	printf("errors: %lu\n", errors);
	ks_close(ks);
	signer_config_free(&cfg);
	return errors == 0 ? 0 : 1;
}
