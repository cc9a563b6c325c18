/* The PKCS#11 backend of the keystore: the module, the token, the session pool, recovery, and
 * the backend's table of operations (the operations themselves are in p11_ops.c).
 *
 * One module per process, loaded with dlopen and initialised with OS locking. The token is found
 * by its label. A pool of sessions, one per worker, shares one login. Object handles of private
 * keys are cached by label.
 *
 * Recovery. A session that the token closed is re-opened; a lost login is redone (the PIN file is
 * read again: the PIN is never kept); when the token itself went away (removed, storage gone,
 * module in a bad state) the whole module is finalised and initialised again, the token found
 * again and the pool re-opened. Operations hold token_lock for reading; recovery holds it for
 * writing, so it never pulls a session from under a running call. */
#include "p11_internal.h"

CK_BBOOL p11_true = CK_TRUE; /* P11_OURS points at it */

/* Token errors by PKCS#11 function and CKR_ value, for the metrics. */
#define P11_ERROR_KINDS_MAX 64

static struct {
	char function[40];
	CK_RV rv;
	uint64_t count;
} p11_errors[P11_ERROR_KINDS_MAX];
static size_t p11_n_errors;
static pthread_mutex_t p11_errors_mu = PTHREAD_MUTEX_INITIALIZER;

static void p11_error_count(const char *fn, CK_RV rv)
{
	char function[40];
	size_t i;

	/* "C_GetAttributeValue(CKA_EC_POINT)" counts as C_GetAttributeValue */
	snprintf(function, sizeof(function), "%.*s", (int)strcspn(fn, "("), fn);
	pthread_mutex_lock(&p11_errors_mu);
	for (i = 0; i < p11_n_errors; i++)
		if (p11_errors[i].rv == rv && strcmp(p11_errors[i].function, function) == 0)
			break;
	if (i == p11_n_errors && p11_n_errors < P11_ERROR_KINDS_MAX) {
		memcpy(p11_errors[i].function, function, sizeof(function));
		p11_errors[i].rv = rv;
		p11_errors[i].count = 0;
		p11_n_errors++;
	}
	if (i < p11_n_errors)
		p11_errors[i].count++;
	pthread_mutex_unlock(&p11_errors_mu);
}

void ks_errors_foreach(void (*cb)(const char *function, const char *rv, uint64_t count, void *ctx),
		       void *ctx)
{
	pthread_mutex_lock(&p11_errors_mu);
	for (size_t i = 0; i < p11_n_errors; i++)
		cb(p11_errors[i].function, ks_ckr_name(p11_errors[i].rv), p11_errors[i].count, ctx);
	pthread_mutex_unlock(&p11_errors_mu);
}

int p11_fail(int code, const char *fn, CK_RV rv)
{
	p11_error_count(fn, rv);
	return sg_fail(code, "%s: %s", fn, ks_ckr_name(rv));
}

/* The token is gone or the module is no longer usable: only a whole-token recovery helps. */
static bool p11_rv_token_lost(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_GENERAL_ERROR:
		return true;
	default:
		return false;
	}
}

static bool p11_rv_session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

static bool p11_rv_handle_stale(CK_RV rv)
{
	return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

/* ---- module and token ------------------------------------------------------------------ */

int p11_module_load(struct p11 *p)
{
	CK_C_GetFunctionList get_list;
	CK_RV rv;

	p->dl = dlopen(p->module_path, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL)
		return sg_fail(SG_ERR_NOT_FOUND, "loading PKCS#11 module %s: %s", p->module_path,
			       dlerror());
	*(void **)&get_list = dlsym(p->dl, "C_GetFunctionList");
	if (get_list == NULL)
		return sg_fail(SG_ERR_UNSUPPORTED,
			       "%s is not a PKCS#11 module (no C_GetFunctionList)", p->module_path);
	rv = get_list(&p->f);
	if (rv != CKR_OK || p->f == NULL)
		return p11_fail(SG_ERR_PKCS11, "C_GetFunctionList", rv);
	return SG_OK;
}

int p11_module_initialize(struct p11 *p)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = p->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return p11_fail(SG_ERR_PKCS11, "C_Initialize", rv);
	p->initialized = true;
	return SG_OK;
}

void p11_label_pad(const char *label, CK_UTF8CHAR out[32])
{
	size_t len = strlen(label);

	memset(out, ' ', 32);
	memcpy(out, label, len > 32 ? 32 : len);
}

/* Finds the slot whose token has this label. SG_ERR_NOT_FOUND names the labels seen. */
int p11_slot_find(CK_FUNCTION_LIST_PTR f, const char *label, bool present, CK_SLOT_ID *slot)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_UTF8CHAR want[32];
	char seen[256] = "";
	CK_RV rv;
	int r = SG_ERR_NOT_FOUND;

	p11_label_pad(label, want);
	rv = f->C_GetSlotList(present ? CK_TRUE : CK_FALSE, NULL, &n);
	if (rv != CKR_OK)
		return p11_fail(SG_ERR_TOKEN_UNAVAILABLE, "C_GetSlotList", rv);
	slots = calloc(n == 0 ? 1 : n, sizeof(*slots));
	if (slots == NULL)
		return sg_fail(SG_ERR_NOMEM, "listing slots");
	rv = f->C_GetSlotList(present ? CK_TRUE : CK_FALSE, slots, &n);
	if (rv != CKR_OK) {
		r = p11_fail(SG_ERR_TOKEN_UNAVAILABLE, "C_GetSlotList", rv);
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;

		rv = f->C_GetTokenInfo(slots[i], &info);
		if (rv != CKR_OK) {
			if (strlen(seen) + 60 < sizeof(seen))
				snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen),
					 "%sslot %lu: C_GetTokenInfo: %s", seen[0] ? ", " : "",
					 slots[i], ks_ckr_name(rv));
			continue;
		}
		if (!(info.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (memcmp(info.label, want, 32) == 0) {
			*slot = slots[i];
			r = SG_OK;
			goto out;
		}
		if (strlen(seen) + 40 < sizeof(seen)) {
			int len = 32;

			while (len > 0 && info.label[len - 1] == ' ')
				len--;
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s'%.*s'",
				 seen[0] ? ", " : "", len, (const char *)info.label);
		}
	}
	r = sg_fail(SG_ERR_NOT_FOUND, "no token labelled '%s' (tokens seen: %s)", label,
		    seen[0] ? seen : "none");
out:
	free(slots);
	return r;
}

/* Logs the user in through session s. The PIN is read from its file, used, wiped. */
int p11_login(struct p11 *p, CK_SESSION_HANDLE s)
{
	struct ks_pin pin;
	CK_RV rv;
	int r;

	pthread_mutex_lock(&p->login_mu);
	r = ks_pin_read(p->pin_file, &pin);
	if (r != SG_OK)
		goto out;
	rv = p->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin.value, (CK_ULONG)pin.len);
	ks_pin_free(&pin);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
	    rv == CKR_PIN_LEN_RANGE)
		r = p11_fail(SG_ERR_PIN, "C_Login", rv);
	else if (rv != CKR_OK)
		r = p11_fail(p11_rv_token_lost(rv) ? SG_ERR_TOKEN_UNAVAILABLE : SG_ERR_PKCS11,
			     "C_Login", rv);
out:
	pthread_mutex_unlock(&p->login_mu);
	return r;
}

static void p11_pool_close_all(struct p11 *p)
{
	for (unsigned i = 0; i < p->n_sessions; i++) {
		if (p->sessions[i] != CK_INVALID_HANDLE)
			(void)p->f->C_CloseSession(p->sessions[i]);
		p->sessions[i] = CK_INVALID_HANDLE;
	}
}

int p11_session_open(struct p11 *p, CK_SESSION_HANDLE *s)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);

	if (rv != CKR_OK)
		return p11_fail(p11_rv_token_lost(rv) ? SG_ERR_TOKEN_UNAVAILABLE : SG_ERR_PKCS11,
				"C_OpenSession", rv);
	return SG_OK;
}

static void p11_cache_clear(struct p11 *p)
{
	pthread_mutex_lock(&p->cache_mu);
	p->n_cache = 0;
	pthread_mutex_unlock(&p->cache_mu);
}

/* Finds the token, opens every session of the pool and logs in. With token_lock held for
 * writing (or before anyone else can see p). */
static int p11_token_connect(struct p11 *p)
{
	int r;

	r = p11_slot_find(p->f, p->token_label, true, &p->slot);
	if (r != SG_OK)
		return r;
	for (unsigned i = 0; i < p->n_sessions; i++) {
		r = p11_session_open(p, &p->sessions[i]);
		if (r != SG_OK)
			goto out;
	}
	r = p11_login(p, p->sessions[0]);
out:
	if (r != SG_OK)
		p11_pool_close_all(p);
	p->healthy = r == SG_OK;
	return r;
}

/* Whole-token recovery: finalise the module, initialise it again, find the token, re-open the
 * pool, log in. Takes token_lock for writing. seen_generation is the generation the caller failed
 * under: if another thread recovered since, there is nothing to do. */
static int p11_recover(struct p11 *p, uint64_t seen_generation)
{
	int r = SG_OK;

	pthread_rwlock_wrlock(&p->token_lock);
	if (p->generation != seen_generation && p->healthy)
		goto out;
	if (!p->healthy && time_monotonic_ns() - p->last_recovery_ns < P11_RECOVERY_INTERVAL_NS) {
		r = sg_fail(SG_ERR_TOKEN_UNAVAILABLE, "%s (retried at most once a second)",
			    p->last_recovery_error[0] != '\0' ? p->last_recovery_error
							      : "the token is unavailable");
		goto out;
	}
	p->last_recovery_ns = time_monotonic_ns();
	p->generation++;
	atomic_fetch_add(&p->recoveries, 1);
	p11_pool_close_all(p);
	p11_cache_clear(p);
	/* the backup key was a session object: gone with the module (a ceremony fails, saying
	 * so, rather than wrap under nothing) */
	pthread_mutex_lock(&p->backup_mu);
	p->backup_session = CK_INVALID_HANDLE;
	p->backup_key = CK_INVALID_HANDLE;
	pthread_mutex_unlock(&p->backup_mu);
	if (p->initialized) {
		(void)p->f->C_Finalize(NULL);
		p->initialized = false;
	}
	p->healthy = false;
	r = p11_module_initialize(p);
	if (r == SG_OK)
		r = p11_token_connect(p);
	if (r != SG_OK) {
		r = sg_context(SG_ERR_TOKEN_UNAVAILABLE, "token '%s' unavailable", p->token_label);
		snprintf(p->last_recovery_error, sizeof(p->last_recovery_error), "%s",
			 sg_errmsg(r));
	} else {
		p->last_recovery_error[0] = '\0';
	}
out:
	pthread_rwlock_unlock(&p->token_lock);
	return r;
}

/* ---- the pool -------------------------------------------------------------------------- */

static unsigned p11_pool_acquire(struct p11 *p)
{
	unsigned i;

	pthread_mutex_lock(&p->pool_mu);
	while (p->idle == 0)
		pthread_cond_wait(&p->pool_cv, &p->pool_mu);
	for (i = 0; i < p->n_sessions && p->busy[i]; i++)
		;
	p->busy[i] = true;
	p->idle--;
	pthread_mutex_unlock(&p->pool_mu);
	return i;
}

static void p11_pool_release(struct p11 *p, unsigned i)
{
	pthread_mutex_lock(&p->pool_mu);
	p->busy[i] = false;
	p->idle++;
	pthread_cond_signal(&p->pool_cv);
	pthread_mutex_unlock(&p->pool_mu);
}

/* Replaces session i, which the token no longer knows. token_lock is held for reading and
 * session i is ours, so nobody else touches that slot of the pool. */
static int p11_session_reopen(struct p11 *p, unsigned i)
{
	CK_SESSION_HANDLE s;
	int r = p11_session_open(p, &s);

	if (r != SG_OK)
		return r;
	(void)p->f->C_CloseSession(p->sessions[i]);
	p->sessions[i] = s;
	atomic_fetch_add(&p->reopens, 1);
	return SG_OK;
}

/* ---- objects --------------------------------------------------------------------------- */

/* A session that lost its login sees no private object, and a search for one answers CKR_OK
 * with nothing found. Operations on private objects ask first, so that a lost login is reported
 * (and mended by p11_run, which logs in again) instead of looking like an empty token. */
int p11_require_login(struct p11 *p, CK_SESSION_HANDLE s, CK_RV *rv)
{
	CK_SESSION_INFO info;

	*rv = p->f->C_GetSessionInfo(s, &info);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_TOKEN_UNAVAILABLE, "C_GetSessionInfo", *rv);
	if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS)
		/* the token said CKR_OK: no CKR_ is made up for it; p11_diagnose sees the state
		 * and logs in again */
		return sg_fail(SG_ERR_TOKEN_UNAVAILABLE,
			       "C_GetSessionInfo: CKR_OK, but the session is not logged in (state "
			       "%lu)",
			       (unsigned long)info.state);
	return SG_OK;
}

/* Finds at most max objects matching the template. */
CK_RV p11_find(struct p11 *p, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
	       CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found)
{
	CK_RV rv = p->f->C_FindObjectsInit(s, tmpl, n);

	*found = 0;
	if (rv != CKR_OK)
		return rv;
	rv = p->f->C_FindObjects(s, out, max, found);
	(void)p->f->C_FindObjectsFinal(s);
	return rv;
}

/* Reads a variable-length attribute into a malloc'd buffer. */
CK_RV p11_attr_read(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		    uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = p->f->C_GetAttributeValue(s, o, &a, 1);

	*val = NULL;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > 65536)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*val = malloc(a.ulValueLen + 1);
	if (*val == NULL)
		return CKR_HOST_MEMORY;
	a.pValue = *val;
	rv = p->f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(*val);
		*val = NULL;
		return rv;
	}
	(*val)[a.ulValueLen] = 0;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 3.0 section 2.3.3; for
 * Edwards curves the 32-byte encoding of RFC 8032). Some modules give the bare point: accept
 * exactly the expected length bare, or exactly one well-formed OCTET STRING around it. */
static int p11_ec_point_decode(enum ks_chain chain, const uint8_t *der, size_t len, uint8_t *pub,
			       size_t *pub_len)
{
	size_t want = chain == KS_CHAIN_SOLANA ? 32 : 65;
	struct cursor c;
	uint8_t tag, l;
	int r;

	if (len == want && (chain == KS_CHAIN_SOLANA || der[0] == 0x04)) {
		memcpy(pub, der, want);
		*pub_len = want;
		return SG_OK;
	}
	cursor_init(&c, der, len);
	if ((r = cursor_get_u8(&c, &tag)) != SG_OK || (r = cursor_get_u8(&c, &l)) != SG_OK)
		return sg_context(SG_ERR_MALFORMED, "CKA_EC_POINT");
	if (tag != 0x04 || l != want)
		return sg_fail(
			SG_ERR_MALFORMED,
			"CKA_EC_POINT is not an OCTET STRING of %zu bytes (tag %02x, length %u)",
			want, tag, l);
	if ((r = cursor_get_copy(&c, pub, want)) != SG_OK || (r = cursor_expect_end(&c)) != SG_OK)
		return sg_context(SG_ERR_MALFORMED, "CKA_EC_POINT");
	if (chain == KS_CHAIN_EVM && pub[0] != 0x04)
		return sg_fail(SG_ERR_MALFORMED, "CKA_EC_POINT is not an uncompressed point");
	*pub_len = want;
	return SG_OK;
}

int p11_pubkey_from_handle(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
			   enum ks_chain chain, uint8_t *pub, size_t *pub_len)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	CK_RV rv = p11_attr_read(p, s, o, CKA_EC_POINT, &der, &der_len);
	int r;

	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_EC_POINT)", rv);
	r = p11_ec_point_decode(chain, der, der_len, pub, pub_len);
	free(der);
	return r;
}

int p11_pubkey_read(struct p11 *p, CK_SESSION_HANDLE s, const char *label, enum ks_chain chain,
		    uint8_t *pub, size_t *pub_len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE o[2];
	CK_ULONG found;
	CK_RV rv;

	rv = p11_find(p, s, tmpl, P11_COUNT(tmpl), o, 2, &found);
	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", rv);
	if (found != 1)
		return sg_fail(found == 0 ? SG_ERR_NOT_FOUND : SG_ERR_MALFORMED,
			       "token has %lu public keys labelled '%s', not one", found, label);
	return p11_pubkey_from_handle(p, s, o[0], chain, pub, pub_len);
}

/* The private key's handle: from the cache, else looked up and cached. */
int p11_privkey_handle(struct p11 *p, CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h,
		       CK_RV *rv_out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE o[2];
	CK_ULONG found;
	CK_RV rv;

	*rv_out = CKR_OK;
	pthread_mutex_lock(&p->cache_mu);
	for (size_t i = 0; i < p->n_cache; i++) {
		if (strcmp(p->cache[i].label, label) == 0) {
			*h = p->cache[i].priv;
			pthread_mutex_unlock(&p->cache_mu);
			return SG_OK;
		}
	}
	pthread_mutex_unlock(&p->cache_mu);

	rv = p11_find(p, s, tmpl, P11_COUNT(tmpl), o, 2, &found);
	*rv_out = rv;
	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", rv);
	if (found == 0 && p11_require_login(p, s, rv_out) != SG_OK)
		return SG_ERR_TOKEN_UNAVAILABLE;
	if (found != 1)
		return sg_fail(found == 0 ? SG_ERR_NOT_FOUND : SG_ERR_MALFORMED,
			       "token has %lu private keys labelled '%s', not one", found, label);
	*h = o[0];
	pthread_mutex_lock(&p->cache_mu);
	if (p->n_cache < P11_HANDLE_CACHE_MAX) {
		snprintf(p->cache[p->n_cache].label, sizeof(p->cache[0].label), "%s", label);
		p->cache[p->n_cache].priv = o[0];
		p->n_cache++;
	}
	pthread_mutex_unlock(&p->cache_mu);
	return SG_OK;
}

void p11_cache_drop(struct p11 *p, const char *label)
{
	pthread_mutex_lock(&p->cache_mu);
	for (size_t i = 0; i < p->n_cache; i++) {
		if (strcmp(p->cache[i].label, label) == 0) {
			p->cache[i] = p->cache[--p->n_cache];
			break;
		}
	}
	pthread_mutex_unlock(&p->cache_mu);
}

/* ---- running an operation with recovery ------------------------------------------------- */

/* What a failed operation calls for. */
enum p11_mend {
	P11_MEND_NONE,       /* nothing to mend: the failure stands */
	P11_MEND_RETRY,      /* mended (session re-opened, login redone, handle dropped): retry */
	P11_MEND_TOKEN_LOST, /* only a whole-token recovery helps */
	P11_MEND_FAILED,     /* mending failed; *mend_r says why */
};

/* Works out why an operation on session i failed and mends what it can. Besides the return
 * value, the token and the session are asked: SoftHSM2, for one, answers a sign on a token whose
 * storage went away with CKR_OBJECT_HANDLE_INVALID, and a sign after another session logged out
 * the same way; only C_GetTokenInfo and C_GetSessionInfo tell those apart. With token_lock held
 * for reading and session i ours. */
static enum p11_mend p11_diagnose(struct p11 *p, unsigned i, CK_RV rv, const char *label,
				  int *mend_r)
{
	CK_TOKEN_INFO tinfo;
	CK_SESSION_INFO sinfo;
	CK_RV probe;

	*mend_r = SG_OK;
	if (p11_rv_token_lost(rv))
		return P11_MEND_TOKEN_LOST;
	probe = p->f->C_GetTokenInfo(p->slot, &tinfo);
	if (probe != CKR_OK)
		return P11_MEND_TOKEN_LOST;
	probe = p->f->C_GetSessionInfo(p->sessions[i], &sinfo);
	if (p11_rv_session_lost(probe) || p11_rv_session_lost(rv)) {
		*mend_r = p11_session_reopen(p, i);
		if (*mend_r == SG_OK)
			*mend_r = p11_login(p, p->sessions[i]);
		return *mend_r == SG_OK ? P11_MEND_RETRY : P11_MEND_FAILED;
	}
	if (probe != CKR_OK)
		return P11_MEND_TOKEN_LOST;
	if (sinfo.state != CKS_RW_USER_FUNCTIONS && sinfo.state != CKS_RO_USER_FUNCTIONS) {
		/* handles found before the login went are stale now */
		p11_cache_clear(p);
		*mend_r = p11_login(p, p->sessions[i]);
		return *mend_r == SG_OK ? P11_MEND_RETRY : P11_MEND_FAILED;
	}
	if (p11_rv_handle_stale(rv) && label != NULL) {
		p11_cache_drop(p, label);
		return P11_MEND_RETRY;
	}
	return P11_MEND_NONE;
}

/* Runs op on a pooled session; a failure is diagnosed, mended where it can be, and the op tried
 * again (three tries in all). */
int p11_run(struct p11 *p, p11_op_fn op, void *arg, const char *label)
{
	int r = SG_OK;

	for (int attempt = 0; attempt < 3; attempt++) {
		uint64_t generation;
		CK_RV rv = CKR_OK;
		enum p11_mend mend = P11_MEND_NONE;
		int mend_r = SG_OK;
		unsigned i;

		pthread_rwlock_rdlock(&p->token_lock);
		generation = p->generation;
		if (!p->healthy) {
			pthread_rwlock_unlock(&p->token_lock);
			r = p11_recover(p, generation);
			if (r != SG_OK)
				return r;
			continue;
		}
		i = p11_pool_acquire(p);
		r = op(p, p->sessions[i], arg, &rv);
		if (r != SG_OK)
			mend = p11_diagnose(p, i, rv, label, &mend_r);
		p11_pool_release(p, i);
		pthread_rwlock_unlock(&p->token_lock);

		switch (mend) {
		case P11_MEND_NONE:
			return r;
		case P11_MEND_FAILED:
			return mend_r;
		case P11_MEND_RETRY:
			break;
		case P11_MEND_TOKEN_LOST:
			pthread_rwlock_wrlock(&p->token_lock);
			if (p->generation == generation)
				p->healthy = false;
			pthread_rwlock_unlock(&p->token_lock);
			break;
		}
	}
	return r;
}

/* ---- health, stats, open, close -------------------------------------------------------- */

static int p11_op_health(struct p11 *p, CK_SESSION_HANDLE s, void *arg, CK_RV *rv)
{
	CK_TOKEN_INFO tinfo;

	(void)arg;
	/* the token itself: SoftHSM2 answers C_GetSessionInfo even when the token's storage is gone
	 */
	*rv = p->f->C_GetTokenInfo(p->slot, &tinfo);
	if (*rv != CKR_OK) /* p11_diagnose asks the token again, and recovers it */
		return p11_fail(SG_ERR_TOKEN_UNAVAILABLE, "C_GetTokenInfo", *rv);
	return p11_require_login(p, s, rv);
}

static int p11_health(void *state)
{
	return p11_run(state, p11_op_health, NULL, NULL);
}

static void p11_stats(void *state, struct ks_stats *out)
{
	struct p11 *p = state;

	out->sign_ok = atomic_load(&p->sign_ok);
	out->sign_errors = atomic_load(&p->sign_errors);
	out->recoveries = atomic_load(&p->recoveries);
	out->session_reopens = atomic_load(&p->reopens);
	pthread_mutex_lock(&p->pool_mu);
	out->sessions_idle = p->idle;
	out->sessions_busy = p->n_sessions - p->idle;
	pthread_mutex_unlock(&p->pool_mu);
	pthread_rwlock_rdlock(&p->token_lock);
	out->logged_in = p->healthy;
	pthread_rwlock_unlock(&p->token_lock);
}

static void p11_close(void *state)
{
	struct p11 *p = state;

	if (p == NULL)
		return;
	if (p->f != NULL && p->initialized) {
		p11_backup_key_unload(p);
		p11_pool_close_all(p);
		(void)p->f->C_Finalize(NULL);
	}
	if (p->dl != NULL)
		dlclose(p->dl);
	pthread_rwlock_destroy(&p->token_lock);
	pthread_mutex_destroy(&p->login_mu);
	pthread_mutex_destroy(&p->pool_mu);
	pthread_cond_destroy(&p->pool_cv);
	pthread_mutex_destroy(&p->cache_mu);
	pthread_mutex_destroy(&p->backup_mu);
	free(p->sessions);
	free(p->busy);
	free(p->module_path);
	free(p->token_label);
	free(p->pin_file);
	free(p);
}

static int p11_open(const struct ks_config *cfg, void **state)
{
	struct p11 *p;
	int r;

	*state = NULL;
	if (cfg->module_path == NULL || cfg->token_label == NULL || cfg->pin_file == NULL)
		return sg_fail(SG_ERR_CONFIG, "the token needs a module, a label and a PIN file");
	if (strlen(cfg->token_label) > 32)
		return sg_fail(SG_ERR_CONFIG, "token label '%s' is longer than 32 bytes",
			       cfg->token_label);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return sg_fail(SG_ERR_NOMEM, "opening the token");
	pthread_rwlock_init(&p->token_lock, NULL);
	pthread_mutex_init(&p->login_mu, NULL);
	pthread_mutex_init(&p->pool_mu, NULL);
	pthread_cond_init(&p->pool_cv, NULL);
	pthread_mutex_init(&p->cache_mu, NULL);
	pthread_mutex_init(&p->backup_mu, NULL);
	p->backup_session = CK_INVALID_HANDLE;
	p->backup_key = CK_INVALID_HANDLE;
	p->n_sessions = cfg->sessions == 0 ? 1 : cfg->sessions;
	p->idle = p->n_sessions;
	p->sessions = calloc(p->n_sessions, sizeof(*p->sessions));
	p->busy = calloc(p->n_sessions, sizeof(*p->busy));
	p->module_path = strdup(cfg->module_path);
	p->token_label = strdup(cfg->token_label);
	p->pin_file = strdup(cfg->pin_file);
	if (p->sessions == NULL || p->busy == NULL || p->module_path == NULL ||
	    p->token_label == NULL || p->pin_file == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "opening the token");
		goto out;
	}
	for (unsigned i = 0; i < p->n_sessions; i++)
		p->sessions[i] = CK_INVALID_HANDLE;
	if ((r = p11_module_load(p)) != SG_OK || (r = p11_module_initialize(p)) != SG_OK)
		goto out;
	r = p11_token_connect(p);
	if (r != SG_OK)
		goto out;
	*state = p;
	p = NULL;
out:
	p11_close(p);
	return r;
}

const struct ks_backend_ops ks_pkcs11_ops = {
	.name = "pkcs11",
	.open = p11_open,
	.close = p11_close,
	.generate = p11_generate,
	.records_load = p11_records_load,
	.record_update = p11_record_update,
	.destroy_private = p11_destroy_private,
	.private_present = p11_private_present,
	.state_put = p11_state_put,
	.state_advance = p11_state_advance,
	.state_get = p11_state_get,
	.sign = p11_sign,
	.backup_key_load = p11_backup_key_load,
	.backup_key_unload = p11_backup_key_unload,
	.wrap_supported = p11_wrap_supported,
	.generate_wrapped = p11_generate_wrapped,
	.import = p11_import,
	.discard = p11_discard,
	.mac_key_store = p11_mac_key_store,
	.mac = p11_mac,
	.health = p11_health,
	.stats = p11_stats,
};
