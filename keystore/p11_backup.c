/* The PKCS#11 backend's part of the backups: the backup key as a trusted session object, wrapping
 * a new key under it, importing a key made outside the token, and restoring a version.
 *
 * Only the security officer can set CKA_TRUSTED, and an SO session sees no private objects; the
 * login state belongs to the whole application. So the key is made in a session of its own
 * while the SO is logged in, as a public session object (which survives the SO's logout), and
 * the user is logged in again; the key lives as long as that session, and wrapping and
 * unwrapping run on it. */
#include <secp256k1.h>

#include "common/fault.h"
#include "p11_internal.h"

static int p11_so_login(struct p11 *p, CK_SESSION_HANDLE s, const char *so_pin_file)
{
	struct ks_pin pin;
	CK_RV rv;
	int r;

	if ((r = ks_pin_read(so_pin_file, &pin)) != SG_OK)
		return sg_context(r, "the SO PIN");
	rv = p->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)pin.value, (CK_ULONG)pin.len);
	ks_pin_free(&pin);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_LEN_RANGE)
		return p11_fail(SG_ERR_PIN, "C_Login(SO)", rv);
	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_Login(SO)", rv);
	return SG_OK;
}

void p11_backup_key_unload(void *state)
{
	struct p11 *p = state;

	pthread_mutex_lock(&p->backup_mu);
	if (p->backup_session != CK_INVALID_HANDLE) {
		if (p->backup_key != CK_INVALID_HANDLE)
			(void)p->f->C_DestroyObject(p->backup_session, p->backup_key);
		(void)p->f->C_CloseSession(p->backup_session);
	}
	p->backup_session = CK_INVALID_HANDLE;
	p->backup_key = CK_INVALID_HANDLE;
	pthread_mutex_unlock(&p->backup_mu);
}

int p11_backup_key_load(void *state, const char *so_pin_file, const uint8_t *key, size_t len)
{
	struct p11 *p = state;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_TOKEN, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_PRIVATE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_TRUSTED, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_WRAP, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_UNWRAP, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_ENCRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DECRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_SENSITIVE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_EXTRACTABLE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_VALUE, .pValue = p11_in(key), .ulValueLen = len},
	};
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	CK_RV rv;
	int r, relogin;

	if (len != 32)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "the backup key is %zu bytes, not 32", len);
	p11_backup_key_unload(p);
	pthread_rwlock_wrlock(&p->token_lock);
	if ((r = p11_session_open(p, &s)) != SG_OK)
		goto out;
	/* the user's login is the application's: out, the SO in, the key made, the SO out */
	rv = p->f->C_Logout(s);
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN) {
		r = p11_fail(SG_ERR_PKCS11, "C_Logout", rv);
		goto out;
	}
	r = p11_so_login(p, s, so_pin_file);
	if (r == SG_OK) {
		rv = p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &k);
		if (rv != CKR_OK)
			r = p11_fail(SG_ERR_PKCS11, "C_CreateObject(the backup key, as the SO)",
				     rv);
		(void)p->f->C_Logout(s);
	}
	relogin = p11_login(p, s);
	if (r == SG_OK)
		r = relogin;
out:
	if (r != SG_OK) {
		if (k != CK_INVALID_HANDLE)
			(void)p->f->C_DestroyObject(s, k);
		if (s != CK_INVALID_HANDLE)
			(void)p->f->C_CloseSession(s);
	} else {
		pthread_mutex_lock(&p->backup_mu);
		p->backup_session = s;
		p->backup_key = k;
		pthread_mutex_unlock(&p->backup_mu);
	}
	pthread_rwlock_unlock(&p->token_lock);
	return r;
}

/* Takes the backup session (backup_mu held on SG_OK). */
static int p11_backup_take(struct p11 *p)
{
	pthread_mutex_lock(&p->backup_mu);
	if (p->backup_session == CK_INVALID_HANDLE || p->backup_key == CK_INVALID_HANDLE) {
		pthread_mutex_unlock(&p->backup_mu);
		return sg_fail(SG_ERR_STATE, "the backup key is not loaded (a ceremony rebuilds it "
					     "from the custodians' shares)");
	}
	return SG_OK;
}

static int p11_wrap(struct p11 *p, CK_OBJECT_HANDLE priv, uint8_t *out, size_t *out_len)
{
	CK_MECHANISM mech = {.mechanism = CKM_AES_KEY_WRAP_PAD};
	CK_ULONG n = KS_WRAPPED_MAX;
	CK_RV rv = p->f->C_WrapKey(p->backup_session, &mech, p->backup_key, priv, out, &n);

	if (rv != CKR_OK)
		return p11_fail(rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_FUNCTION_FAILED ||
						rv == CKR_MECHANISM_INVALID
					? SG_ERR_UNSUPPORTED
					: SG_ERR_PKCS11,
				"C_WrapKey(CKM_AES_KEY_WRAP_PAD)", rv);
	*out_len = n;
	return SG_OK;
}

int p11_wrap_supported(void *state, enum ks_chain chain, bool *supported)
{
	struct p11 *p = state;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_KEY_TYPE type = chain == KS_CHAIN_SOLANA ? CKK_EC_EDWARDS : CKK_EC;
	CK_MECHANISM mech = {.mechanism = chain == KS_CHAIN_SOLANA ? CKM_EC_EDWARDS_KEY_PAIR_GEN
								   : CKM_EC_KEY_PAIR_GEN};
	const uint8_t *oid = chain == KS_CHAIN_SOLANA ? p11_oid_ed25519 : p11_oid_secp256k1;
	CK_ULONG oid_len =
		chain == KS_CHAIN_SOLANA ? sizeof(p11_oid_ed25519) : sizeof(p11_oid_secp256k1);
	/* a session key pair, made for the question and destroyed after */
	CK_ATTRIBUTE pub_tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_EC_PARAMS, .pValue = p11_in(oid), .ulValueLen = oid_len},
		{.type = CKA_VERIFY, .pValue = &yes, .ulValueLen = sizeof(yes)},
	};
	CK_ATTRIBUTE priv_tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_SENSITIVE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_SIGN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_EXTRACTABLE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_WRAP_WITH_TRUSTED, .pValue = &yes, .ulValueLen = sizeof(yes)},
	};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	uint8_t out[KS_WRAPPED_MAX];
	size_t out_len;
	CK_RV rv;
	int r;

	*supported = false;
	if ((r = p11_backup_take(p)) != SG_OK)
		return r;
	rv = p->f->C_GenerateKeyPair(p->backup_session, &mech, pub_tmpl, P11_COUNT(pub_tmpl),
				     priv_tmpl, P11_COUNT(priv_tmpl), &pub, &priv);
	if (rv != CKR_OK) {
		r = p11_fail(SG_ERR_PKCS11, "C_GenerateKeyPair(a session key pair)", rv);
		goto out;
	}
	r = p11_wrap(p, priv, out, &out_len);
	sodium_memzero(out, sizeof(out));
	*supported = r == SG_OK;
	if (r == SG_ERR_UNSUPPORTED)
		r = SG_OK;
out:
	if (priv != CK_INVALID_HANDLE)
		(void)p->f->C_DestroyObject(p->backup_session, priv);
	if (pub != CK_INVALID_HANDLE)
		(void)p->f->C_DestroyObject(p->backup_session, pub);
	pthread_mutex_unlock(&p->backup_mu);
	return r;
}

/* Every object labelled label, destroyed (a version undone). */
static void p11_label_destroy(struct p11 *p, CK_SESSION_HANDLE s, const char *label)
{
	CK_ATTRIBUTE by_label = {
		.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)};
	CK_OBJECT_HANDLE o[8];
	CK_ULONG found = 0;

	if (p11_find(p, s, &by_label, 1, o, 8, &found) != CKR_OK)
		return;
	for (CK_ULONG i = 0; i < found; i++)
		(void)p->f->C_DestroyObject(s, o[i]);
	p11_cache_drop(p, label);
}

static int p11_privkey_find(struct p11 *p, CK_SESSION_HANDLE s, const char *label,
			    CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		P11_OURS,
	};
	CK_ULONG found = 0;
	CK_RV rv = p11_find(p, s, tmpl, P11_COUNT(tmpl), h, 1, &found);

	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", rv);
	if (found != 1)
		return sg_fail(SG_ERR_NOT_FOUND, "no private key labelled '%s'", label);
	return SG_OK;
}

int p11_generate_wrapped(void *state, const char *label, enum ks_chain chain, const uint8_t *blob,
			 size_t blob_len, uint8_t *pub, size_t *pub_len, uint8_t *wrapped,
			 size_t *wrapped_len)
{
	struct p11 *p = state;
	struct p11_generate_arg a = {.label = label,
				     .chain = chain,
				     .blob = blob,
				     .blob_len = blob_len,
				     .pub = pub,
				     .pub_len = pub_len};
	CK_OBJECT_HANDLE priv;
	CK_RV rv = CKR_OK;
	int r;

	if ((r = p11_backup_take(p)) != SG_OK)
		return r;
	pthread_rwlock_rdlock(&p->token_lock);
	r = p11_op_generate(p, p->backup_session, &a, &rv);
	if (r == SG_OK) {
		r = p11_privkey_find(p, p->backup_session, label, &priv);
		if (r == SG_OK)
			r = p11_wrap(p, priv, wrapped, wrapped_len);
		if (r != SG_OK) { /* no version the backup cannot hold */
			p11_label_destroy(p, p->backup_session, label);
			r = sg_context(r, "wrapping the new key '%s' under the backup key", label);
		}
	}
	pthread_rwlock_unlock(&p->token_lock);
	pthread_mutex_unlock(&p->backup_mu);
	return r;
}

/* Signs a random challenge with the new private key and verifies it with pub: the pair is the
 * one the caller meant. */
static int p11_pair_check(struct p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
			  enum ks_chain chain, const uint8_t *pub, size_t pub_len)
{
	CK_MECHANISM mech = {.mechanism = chain == KS_CHAIN_SOLANA ? CKM_EDDSA : CKM_ECDSA};
	uint8_t challenge[32], sig[64];
	CK_ULONG n = sizeof(sig);
	CK_RV rv;
	bool ok = false;

	randombytes_buf(challenge, sizeof(challenge));
	rv = p->f->C_SignInit(s, &mech, priv);
	if (rv == CKR_OK)
		rv = p->f->C_Sign(s, challenge, sizeof(challenge), sig, &n);
	if (rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_Sign(the probe of a restored key)", rv);
	if (n != 64)
		return sg_fail(SG_ERR_PKCS11, "C_Sign returned %lu bytes, not 64", n);
	if (chain == KS_CHAIN_SOLANA) {
		ok = pub_len == 32 &&
		     crypto_sign_verify_detached(sig, challenge, sizeof(challenge), pub) == 0;
	} else {
		secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
		secp256k1_pubkey pk;
		secp256k1_ecdsa_signature es;

		ok = ctx != NULL && secp256k1_ec_pubkey_parse(ctx, &pk, pub, pub_len) == 1 &&
		     secp256k1_ecdsa_signature_parse_compact(ctx, &es, sig) == 1;
		if (ok) {
			(void)secp256k1_ecdsa_signature_normalize(ctx, &es, &es);
			ok = secp256k1_ecdsa_verify(ctx, &es, challenge, &pk) == 1;
		}
		if (ctx != NULL)
			secp256k1_context_destroy(ctx);
	}
	if (!ok)
		return sg_fail(SG_ERR_VERIFY, "the private key does not match the recorded public "
					      "key (its probe signature does not verify)");
	return SG_OK;
}

static CK_RV p11_pubkey_create(struct p11 *p, CK_SESSION_HANDLE s, const char *label,
			       enum ks_chain chain, const uint8_t *id, const uint8_t *pub,
			       size_t pub_len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_KEY_TYPE type = chain == KS_CHAIN_SOLANA ? CKK_EC_EDWARDS : CKK_EC;
	const uint8_t *oid = chain == KS_CHAIN_SOLANA ? p11_oid_ed25519 : p11_oid_secp256k1;
	CK_ULONG oid_len =
		chain == KS_CHAIN_SOLANA ? sizeof(p11_oid_ed25519) : sizeof(p11_oid_secp256k1);
	uint8_t point[2 + KS_PUBKEY_MAX];
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_EC_PARAMS, .pValue = p11_in(oid), .ulValueLen = oid_len},
		{.type = CKA_EC_POINT, .pValue = point, .ulValueLen = 2 + pub_len},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		{.type = CKA_ID, .pValue = p11_in(id), .ulValueLen = P11_ID_LEN},
		{.type = CKA_VERIFY, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_ENCRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_WRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DERIVE, .pValue = &no, .ulValueLen = sizeof(no)},
	};
	CK_OBJECT_HANDLE o;

	point[0] = 0x04; /* a DER OCTET STRING around the point */
	point[1] = (uint8_t)pub_len;
	memcpy(point + 2, pub, pub_len);
	return p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &o);
}

int p11_import(void *state, const char *label, enum ks_chain chain, const uint8_t *priv,
	       size_t priv_len, const uint8_t *wrapped, size_t wrapped_len, const uint8_t *pub,
	       size_t pub_len, const uint8_t *blob, size_t blob_len)
{
	struct p11 *p = state;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_KEY_TYPE type = chain == KS_CHAIN_SOLANA ? CKK_EC_EDWARDS : CKK_EC;
	uint8_t id[P11_ID_LEN];
	size_t label_len = strlen(label);
	/* created from bytes that were outside the token: never extractable again (its backup
	 * exists already); unwrapped by the token: extractable under a trusted key only, as a
	 * key generated there */
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_SENSITIVE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = label_len},
		{.type = CKA_ID, .pValue = id, .ulValueLen = sizeof(id)},
		{.type = CKA_SIGN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_DECRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DERIVE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_UNWRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_EXTRACTABLE,
		 .pValue = wrapped != NULL ? &yes : &no,
		 .ulValueLen = sizeof(yes)},
		{.type = CKA_WRAP_WITH_TRUSTED, .pValue = &yes, .ulValueLen = sizeof(yes)},
		/* last: only for C_CreateObject */
		{.type = CKA_EC_PARAMS,
		 .pValue = p11_in(p11_oid_ed25519),
		 .ulValueLen = sizeof(p11_oid_ed25519)},
		{.type = CKA_VALUE, .pValue = p11_in(priv), .ulValueLen = priv_len},
	};
	CK_MECHANISM mech = {.mechanism = CKM_AES_KEY_WRAP_PAD};
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int r;

	if (priv != NULL && (chain != KS_CHAIN_SOLANA || priv_len != 32))
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "only an Ed25519 seed can be imported");
	if ((r = p11_backup_take(p)) != SG_OK)
		return r;
	s = p->backup_session;
	pthread_rwlock_rdlock(&p->token_lock);
	randombytes_buf(id, sizeof(id));
	/* a part left by a run cut short (no record: it never signed) goes first */
	{
		CK_OBJECT_CLASS data = CKO_DATA;
		CK_ATTRIBUTE rec[] = {
			{.type = CKA_CLASS, .pValue = &data, .ulValueLen = sizeof(data)},
			{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = label_len},
			P11_OURS,
		};
		CK_OBJECT_HANDLE o;
		CK_ULONG found = 0;

		rv = p11_find(p, s, rec, P11_COUNT(rec), &o, 1, &found);
		if (rv != CKR_OK) {
			r = p11_fail(SG_ERR_PKCS11, "C_FindObjects", rv);
			goto out;
		}
		if (found != 0) {
			r = sg_fail(SG_ERR_EXISTS, "the token already holds '%s'", label);
			goto out;
		}
		p11_label_destroy(p, s, label);
	}
	if (priv != NULL) {
		rv = p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &k);
		if (rv != CKR_OK) {
			r = p11_fail(SG_ERR_PKCS11, "C_CreateObject(Ed25519 private key)", rv);
			goto out;
		}
	} else if (wrapped != NULL) {
		rv = p->f->C_UnwrapKey(s, &mech, p->backup_key, p11_in(wrapped),
				       (CK_ULONG)wrapped_len, tmpl, P11_COUNT(tmpl) - 2, &k);
		if (rv != CKR_OK) {
			r = p11_fail(rv == CKR_WRAPPED_KEY_INVALID ||
						     rv == CKR_ENCRYPTED_DATA_INVALID
					     ? SG_ERR_VERIFY
					     : SG_ERR_PKCS11,
				     "C_UnwrapKey(CKM_AES_KEY_WRAP_PAD)", rv);
			goto out;
		}
	}
	if (k != CK_INVALID_HANDLE && (r = p11_pair_check(p, s, k, chain, pub, pub_len)) != SG_OK)
		goto out;
	SG_FAULT("import.after_private");
	rv = p11_pubkey_create(p, s, label, chain, id, pub, pub_len);
	if (rv != CKR_OK) {
		r = p11_fail(SG_ERR_PKCS11, "C_CreateObject(public key)", rv);
		goto out;
	}
	rv = p11_record_create(p, s, label, blob, blob_len);
	if (rv != CKR_OK)
		r = p11_fail(SG_ERR_PKCS11, "C_CreateObject(catalogue record)", rv);
out:
	if (r != SG_OK && r != SG_ERR_EXISTS)
		p11_label_destroy(p, s, label);
	pthread_rwlock_unlock(&p->token_lock);
	pthread_mutex_unlock(&p->backup_mu);
	return r;
}

static int p11_op_discard(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	p11_label_destroy(p, s, varg);
	return SG_OK;
}

int p11_discard(void *state, const char *label)
{
	return p11_run(state, p11_op_discard, p11_in(label), NULL);
}

/* ---- the manifests' MAC key ---------------------------------------------------------------
 * A generic secret (HMAC-SHA256) the backups' manifests are authenticated with: a private,
 * sensitive, never extractable token object, so that anyone who can write a target but holds
 * no login cannot make a manifest the token accepts (docs/backup.md, "Authentic manifests"). */

static CK_RV p11_mac_find(struct p11 *p, CK_SESSION_HANDLE s, const char *label,
			  CK_OBJECT_HANDLE *h, CK_ULONG *found)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		P11_OURS,
	};

	return p11_find(p, s, tmpl, P11_COUNT(tmpl), h, 1, found);
}

struct p11_mac_arg {
	const char *label;
	const uint8_t *data;
	size_t len;
	uint8_t *out;
};

static int p11_op_mac_key_store(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_mac_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_KEY_TYPE, .pValue = &type, .ulValueLen = sizeof(type)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_SENSITIVE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_EXTRACTABLE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_SIGN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_VERIFY, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_ENCRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DECRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_WRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_UNWRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DERIVE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = strlen(a->label)},
		{.type = CKA_VALUE, .pValue = p11_in(a->data), .ulValueLen = a->len},
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG found = 0;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p11_mac_find(p, s, a->label, &h, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	if (found != 0) /* made before (a rerun): the same kid is the same key */
		return SG_OK;
	*rv = p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &h);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_CreateObject(the manifests' MAC key)", *rv);
	return SG_OK;
}

int p11_mac_key_store(void *state, const char *label, const uint8_t *key, size_t len)
{
	struct p11_mac_arg a = {.label = label, .data = key, .len = len};

	return p11_run(state, p11_op_mac_key_store, &a, NULL);
}

static int p11_op_mac(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_mac_arg *a = varg;
	CK_MECHANISM mech = {.mechanism = CKM_SHA256_HMAC};
	CK_OBJECT_HANDLE h;
	CK_ULONG found = 0, n = 32;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p11_mac_find(p, s, a->label, &h, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	if (found == 0)
		return sg_fail(SG_ERR_NOT_FOUND,
			       "the token has no MAC key '%s' for the backups' "
			       "manifests",
			       a->label);
	*rv = p->f->C_SignInit(s, &mech, h);
	if (*rv == CKR_OK)
		*rv = p->f->C_Sign(s, p11_in(a->data), (CK_ULONG)a->len, a->out, &n);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_Sign(CKM_SHA256_HMAC)", *rv);
	if (n != 32)
		return sg_fail(SG_ERR_PKCS11, "C_Sign(CKM_SHA256_HMAC) returned %lu bytes", n);
	return SG_OK;
}

int p11_mac(void *state, const char *label, const uint8_t *data, size_t len, uint8_t out[32])
{
	struct p11_mac_arg a = {.label = label, .data = data, .len = len, .out = out};

	return p11_run(state, p11_op_mac, &a, NULL);
}
