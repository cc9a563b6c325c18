/* The PKCS#11 backend's shared parts: the state of one module and token (struct p11), the
 * template helpers, and the functions its files share: sessions and recovery (p11_session.c),
 * operations (p11_ops.c), token initialisation (p11_init.c). */
#ifndef SIGNER_KEYSTORE_P11_INTERNAL_H
#define SIGNER_KEYSTORE_P11_INTERNAL_H

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/cursor.h"
#include "common/timefmt.h"
#include "p11.h"

#define P11_APPLICATION          "signerd"
#define P11_ID_LEN               16
#define P11_HANDLE_CACHE_MAX     256
#define P11_RECOVERY_INTERVAL_NS 1000000000LL /* at most one whole-token retry a second */

/* Every object signerd looks up is a private token object: only a session logged in with the
 * PIN can create or see one, so a public object planted under the same label or application by
 * anyone who can open the token without the PIN is never found. */
extern CK_BBOOL p11_true;
#define P11_OURS                                                                                   \
	{.type = CKA_TOKEN, .pValue = &p11_true, .ulValueLen = sizeof(p11_true)},                  \
	{                                                                                          \
		.type = CKA_PRIVATE, .pValue = &p11_true, .ulValueLen = sizeof(p11_true)           \
	}
#define P11_COUNT(tmpl) ((CK_ULONG)(sizeof(tmpl) / sizeof((tmpl)[0])))

struct p11_handle {
	char label[96];
	CK_OBJECT_HANDLE priv;
};

struct p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char *module_path;
	char *token_label;
	char *pin_file;
	CK_SLOT_ID slot;

	pthread_rwlock_t token_lock; /* read: any token call; write: whole-token recovery */
	bool initialized;            /* C_Initialize done and not finalised */
	bool healthy;                /* sessions open and logged in */
	uint64_t generation;         /* bumped by every recovery */
	int64_t last_recovery_ns;
	char last_recovery_error[256];
	pthread_mutex_t login_mu;

	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	CK_SESSION_HANDLE *sessions;
	bool *busy;
	unsigned n_sessions;
	unsigned idle;

	pthread_mutex_t cache_mu;
	struct p11_handle cache[P11_HANDLE_CACHE_MAX];
	size_t n_cache;

	atomic_uint_fast64_t sign_ok, sign_errors, recoveries, reopens;

	/* the backup key (p11_backup.c): a session object of a session of its own */
	pthread_mutex_t backup_mu;
	CK_SESSION_HANDLE backup_session;
	CK_OBJECT_HANDLE backup_key;
};

/* An operation on one session of the pool. It returns SG_OK or a code, and leaves in *rv the
 * PKCS#11 value that decided, so that p11_run can tell what kind of failure it was. */
typedef int (*p11_op_fn)(struct p11 *p, CK_SESSION_HANDLE s, void *arg, CK_RV *rv);

/* p11_session.c: errors, the module and token, objects, running an operation with recovery */
int p11_fail(int code, const char *fn, CK_RV rv);
int p11_module_load(struct p11 *p);
int p11_module_initialize(struct p11 *p);
void p11_label_pad(const char *label, CK_UTF8CHAR out[32]);
int p11_slot_find(CK_FUNCTION_LIST_PTR f, const char *label, bool present, CK_SLOT_ID *slot);
int p11_login(struct p11 *p, CK_SESSION_HANDLE s);
int p11_session_open(struct p11 *p, CK_SESSION_HANDLE *s);
int p11_require_login(struct p11 *p, CK_SESSION_HANDLE s, CK_RV *rv);
CK_RV p11_find(struct p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
	       CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found);
CK_RV p11_attr_read(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		    uint8_t **val, size_t *len);
int p11_pubkey_from_handle(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
			   enum ks_chain chain, uint8_t *pub, size_t *pub_len);
int p11_pubkey_read(struct p11 *p, CK_SESSION_HANDLE s, const char *label, enum ks_chain chain,
		    uint8_t *pub, size_t *pub_len);
int p11_privkey_handle(struct p11 *p, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h,
		       CK_RV *rv_out);
void p11_cache_drop(struct p11 *p, const char *label);
int p11_run(struct p11 *p, p11_op_fn op, void *arg, const char *label);
/* p11_ops.c: the backend's operations (ks_pkcs11_ops, in p11_session.c) */
extern const uint8_t p11_oid_ed25519[5], p11_oid_secp256k1[7];
CK_RV p11_record_create(struct p11 *p, CK_SESSION_HANDLE s, const char *label, const uint8_t *blob,
			size_t blob_len);
struct p11_generate_arg {
	const char *label;
	enum ks_chain chain;
	const uint8_t *blob;
	size_t blob_len;
	uint8_t *pub;
	size_t *pub_len;
};
/* Generates a key pair labelled a->label and its record, all or nothing, on session s. */
int p11_op_generate(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv);
int p11_sign(void *state, const char *label, enum ks_chain chain, const uint8_t *msg, size_t len,
	     uint8_t *sig, size_t *sig_len);
int p11_generate(void *state, const char *label, enum ks_chain chain, const uint8_t *blob,
		 size_t blob_len, uint8_t *pub, size_t *pub_len);
int p11_records_load(void *state, struct ks_record **recs, size_t *n);
int p11_record_update(void *state, const char *label, const uint8_t *blob, size_t blob_len);
int p11_state_put(void *state, const char *name, const uint8_t *data, size_t len);
int p11_state_advance(void *state, const char *name, const uint8_t *data, size_t len);
int p11_state_get(void *state, const char *name, struct ks_blob **values, size_t *n);
int p11_destroy_private(void *state, const char *label);
int p11_private_present(void *state, const char *label, bool *present);
/* p11_backup.c: the backup key, wrapping, importing and restoring */
int p11_backup_key_load(void *state, const char *so_pin_file, const uint8_t *key, size_t len);
void p11_backup_key_unload(void *state);
int p11_wrap_supported(void *state, enum ks_chain chain, bool *supported);
int p11_generate_wrapped(void *state, const char *label, enum ks_chain chain, const uint8_t *blob,
			 size_t blob_len, uint8_t *pub, size_t *pub_len, uint8_t *wrapped,
			 size_t *wrapped_len);
int p11_discard(void *state, const char *label);
int p11_mac_key_store(void *state, const char *label, const uint8_t *key, size_t len);
int p11_mac(void *state, const char *label, const uint8_t *data, size_t len, uint8_t out[32]);
int p11_import(void *state, const char *label, enum ks_chain chain, const uint8_t *priv,
	       size_t priv_len, const uint8_t *wrapped, size_t wrapped_len, const uint8_t *pub,
	       size_t pub_len, const uint8_t *blob, size_t blob_len);

#endif
