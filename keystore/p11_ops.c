/* The PKCS#11 backend's operations, each run by p11_run on a pooled session: sign, generate,
 * the catalogue records, signerd's own state in the token, and destroying a private key. */
#include "common/fault.h"
#include "p11_internal.h"

/* DER of the curve OIDs for CKA_EC_PARAMS. */
const uint8_t p11_oid_ed25519[5] = {0x06, 0x03, 0x2b, 0x65, 0x70};               /* 1.3.101.112 */
const uint8_t p11_oid_secp256k1[7] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}; /* 1.3.132.0.10 */

/* ---- sign ------------------------------------------------------------------------------ */

struct p11_sign_arg {
	const char *label;
	enum ks_chain chain;
	const uint8_t *msg;
	size_t len;
	uint8_t *sig;
	size_t *sig_len;
};

static int p11_op_sign(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_sign_arg *a = varg;
	CK_MECHANISM mech = {.mechanism = a->chain == KS_CHAIN_SOLANA ? CKM_EDDSA : CKM_ECDSA};
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_ULONG n = KS_SIGNATURE_MAX;
	int r;

	r = p11_privkey_handle(p, s, a->label, &key, rv);
	if (r != SG_OK)
		return r;
	*rv = p->f->C_SignInit(s, &mech, key);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_SignInit", *rv);
	*rv = p->f->C_Sign(s, p11_in(a->msg), (CK_ULONG)a->len, a->sig, &n);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_Sign", *rv);
	if (n != 64)
		return sg_fail(SG_ERR_PKCS11, "C_Sign returned %lu bytes, not 64", n);
	*a->sig_len = n;
	return SG_OK;
}

int p11_sign(void *state, const char *label, enum ks_chain chain, const uint8_t *msg, size_t len,
	     uint8_t *sig, size_t *sig_len)
{
	struct p11 *p = state;
	struct p11_sign_arg a = {.label = label,
				 .chain = chain,
				 .msg = msg,
				 .len = len,
				 .sig = sig,
				 .sig_len = sig_len};
	int r = p11_run(p, p11_op_sign, &a, label);

	atomic_fetch_add(r == SG_OK ? &p->sign_ok : &p->sign_errors, 1);
	return r;
}

/* Writes a catalogue record: a private token data object of application "signerd". */
CK_RV p11_record_create(struct p11 *p, CK_SESSION_HANDLE s, const char *label, const uint8_t *blob,
			size_t blob_len)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_APPLICATION),
		 .ulValueLen = strlen(P11_APPLICATION)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		{.type = CKA_VALUE, .pValue = p11_in(blob), .ulValueLen = blob_len},
	};
	CK_OBJECT_HANDLE created;

	return p->f->C_CreateObject(s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &created);
}

/* ---- generate -------------------------------------------------------------------------- */

int p11_op_generate(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_generate_arg *a = varg;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_KEY_TYPE key_type = a->chain == KS_CHAIN_SOLANA ? CKK_EC_EDWARDS : CKK_EC;
	CK_MECHANISM mech = {.mechanism = a->chain == KS_CHAIN_SOLANA ? CKM_EC_EDWARDS_KEY_PAIR_GEN
								      : CKM_EC_KEY_PAIR_GEN};
	const uint8_t *oid = a->chain == KS_CHAIN_SOLANA ? p11_oid_ed25519 : p11_oid_secp256k1;
	size_t oid_len =
		a->chain == KS_CHAIN_SOLANA ? sizeof(p11_oid_ed25519) : sizeof(p11_oid_secp256k1);
	uint8_t id[P11_ID_LEN];
	size_t label_len = strlen(a->label);
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	int r = SG_OK;

	randombytes_buf(id, sizeof(id));
	/* the public key is a private object too: what the catalogue says a key's address is
	 * must come from an object only the PIN's holder can create */
	CK_ATTRIBUTE pub_tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_KEY_TYPE, .pValue = &key_type, .ulValueLen = sizeof(key_type)},
		{.type = CKA_EC_PARAMS, .pValue = p11_in(oid), .ulValueLen = oid_len},
		{.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = label_len},
		{.type = CKA_ID, .pValue = id, .ulValueLen = sizeof(id)},
		{.type = CKA_VERIFY, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_ENCRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_WRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DERIVE, .pValue = &no, .ulValueLen = sizeof(no)},
	};
	/* Sign only; never readable; extractable solely under a wrap key marked CKA_TRUSTED (which
	 * only the security officer can set), so a backup can wrap it and nothing else can. */
	CK_ATTRIBUTE priv_tmpl[] = {
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_SENSITIVE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_KEY_TYPE, .pValue = &key_type, .ulValueLen = sizeof(key_type)},
		{.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = label_len},
		{.type = CKA_ID, .pValue = id, .ulValueLen = sizeof(id)},
		{.type = CKA_SIGN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_DECRYPT, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_DERIVE, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_UNWRAP, .pValue = &no, .ulValueLen = sizeof(no)},
		{.type = CKA_EXTRACTABLE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_WRAP_WITH_TRUSTED, .pValue = &yes, .ulValueLen = sizeof(yes)},
	};

	/* objects left under this label: a catalogue record means the version exists (refused);
	 * a key pair without one is a generation cut short (a crash between the two), which never
	 * signed (signing needs the record): removed, and the generation done again */
	{
		CK_ATTRIBUTE by_label = {
			.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = label_len};
		CK_OBJECT_HANDLE o[8];
		CK_ULONG found = 0;

		if ((r = p11_require_login(p, s, rv)) != SG_OK)
			return r;
		*rv = p11_find(p, s, &by_label, 1, o, 8, &found);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
		for (CK_ULONG i = 0; i < found; i++) {
			CK_OBJECT_CLASS cls = CKO_DATA;
			CK_ATTRIBUTE get = {
				.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)};

			*rv = p->f->C_GetAttributeValue(s, o[i], &get, 1);
			if (*rv != CKR_OK)
				return p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_CLASS)",
						*rv);
			if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)
				return sg_fail(
					SG_ERR_EXISTS,
					"the token already holds a catalogue record labelled "
					"'%s'",
					a->label);
		}
		for (CK_ULONG i = 0; i < found; i++) {
			*rv = p->f->C_DestroyObject(s, o[i]);
			if (*rv != CKR_OK)
				return p11_fail(
					SG_ERR_PKCS11,
					"C_DestroyObject(a key pair left without its record)", *rv);
		}
		if (found > 0)
			p11_cache_drop(p, a->label);
	}
	*rv = p->f->C_GenerateKeyPair(s, &mech, pub_tmpl, sizeof(pub_tmpl) / sizeof(pub_tmpl[0]),
				      priv_tmpl, sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &pub,
				      &priv);
	if (*rv != CKR_OK) {
		r = p11_fail(*rv == CKR_MECHANISM_INVALID ? SG_ERR_UNSUPPORTED : SG_ERR_PKCS11,
			     "C_GenerateKeyPair", *rv);
		goto out;
	}
	r = p11_pubkey_from_handle(p, s, pub, a->chain, a->pub, a->pub_len);
	if (r != SG_OK)
		goto out;
	SG_FAULT("generate.after_keypair");
	*rv = p11_record_create(p, s, a->label, a->blob, a->blob_len);
	if (*rv != CKR_OK) {
		r = p11_fail(SG_ERR_PKCS11, "C_CreateObject(catalogue record)", *rv);
		goto out;
	}
out:
	if (r != SG_OK) { /* all or nothing: no key pair without its record */
		CK_RV d1 = priv == CK_INVALID_HANDLE ? CKR_OK : p->f->C_DestroyObject(s, priv);
		CK_RV d2 = pub == CK_INVALID_HANDLE ? CKR_OK : p->f->C_DestroyObject(s, pub);

		if (d1 != CKR_OK || d2 != CKR_OK)
			r = sg_context(
				r,
				"the new key pair '%s' could not be removed (C_DestroyObject: "
				"%s); remove it by hand",
				a->label, ks_ckr_name(d1 != CKR_OK ? d1 : d2));
	}
	return r;
}

int p11_generate(void *state, const char *label, enum ks_chain chain, const uint8_t *blob,
		 size_t blob_len, uint8_t *pub, size_t *pub_len)
{
	struct p11_generate_arg a = {.label = label,
				     .chain = chain,
				     .blob = blob,
				     .blob_len = blob_len,
				     .pub = pub,
				     .pub_len = pub_len};

	return p11_run(state, p11_op_generate, &a, NULL);
}

/* ---- catalogue records ----------------------------------------------------------------- */

struct p11_records_arg {
	struct ks_record *recs;
	size_t n;
};

static int p11_records_load_once(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_records_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_APPLICATION),
		 .ulValueLen = strlen(P11_APPLICATION)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE *objs = NULL;
	CK_ULONG found = 0, cap = 64;
	int r = SG_OK;

	a->recs = NULL;
	a->n = 0;
	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p->f->C_FindObjectsInit(s, tmpl, P11_COUNT(tmpl));
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjectsInit", *rv);
	for (;;) {
		CK_ULONG got = 0;
		CK_OBJECT_HANDLE *grown = realloc(objs, cap * sizeof(*objs));

		if (grown == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "listing catalogue records");
			break;
		}
		objs = grown;
		*rv = p->f->C_FindObjects(s, objs + found, cap - found, &got);
		if (*rv != CKR_OK) {
			r = p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
			break;
		}
		found += got;
		if (found < cap)
			break;
		cap *= 2;
	}
	(void)p->f->C_FindObjectsFinal(s);
	if (r != SG_OK)
		goto out;
	a->recs = calloc(found == 0 ? 1 : found, sizeof(*a->recs));
	if (a->recs == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "listing catalogue records");
		goto out;
	}
	for (CK_ULONG i = 0; i < found; i++) {
		struct ks_record *rec = &a->recs[a->n];
		uint8_t *label = NULL;
		size_t label_len = 0;
		struct ks_key key;

		*rv = p11_attr_read(p, s, objs[i], CKA_LABEL, &label, &label_len);
		if (*rv != CKR_OK) {
			r = p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_LABEL)", *rv);
			goto out;
		}
		snprintf(rec->label, sizeof(rec->label), "%.*s", (int)label_len, (char *)label);
		free(label);
		*rv = p11_attr_read(p, s, objs[i], CKA_VALUE, &rec->blob, &rec->blob_len);
		if (*rv != CKR_OK) {
			r = p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_VALUE)", *rv);
			goto out;
		}
		a->n++;
		/* The chain decides how to read the public key. */
		r = ks_record_decode(rec->blob, rec->blob_len, &key);
		if (r != SG_OK) {
			r = sg_context(r, "token object '%s'", rec->label);
			goto out;
		}
		r = p11_pubkey_read(p, s, rec->label, key.chain, rec->public_key,
				    &rec->public_key_len);
		if (r != SG_OK) {
			r = sg_context(r, "key '%s'", rec->label);
			goto out;
		}
	}
out:
	free(objs);
	if (r != SG_OK) {
		ks_records_free(a->recs, a->n);
		a->recs = NULL;
		a->n = 0;
	}
	return r;
}

/* A record replaced by another process between the find and the read (a change creates the new
 * record, then destroys the old) vanishes under the reader: the whole read is done again. */
static int p11_op_records_load(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	int r;

	for (int attempt = 0;; attempt++) {
		r = p11_records_load_once(p, s, varg, rv);
		if (r == SG_OK || *rv != CKR_OBJECT_HANDLE_INVALID || attempt == 4)
			return r;
	}
}

int p11_records_load(void *state, struct ks_record **recs, size_t *n)
{
	struct p11_records_arg a = {.recs = NULL, .n = 0};
	int r = p11_run(state, p11_op_records_load, &a, NULL);

	*recs = a.recs;
	*n = a.n;
	return r;
}

struct p11_update_arg {
	const char *label;
	const uint8_t *blob;
	size_t blob_len;
};

/* A record is replaced, not changed: PKCS#11 lets a token refuse changes to a data object's
 * CKA_VALUE (SoftHSM2 does, CKR_ATTRIBUTE_READ_ONLY). The new record is created first and the
 * old ones destroyed after, so a crash in between leaves two records, never none; the catalogue
 * keeps the one with more transitions, and the next update removes the other. */
static int p11_op_record_update(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_update_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE find_tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_APPLICATION),
		 .ulValueLen = strlen(P11_APPLICATION)},
		{.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = strlen(a->label)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE old[8];
	CK_ULONG found;

	*rv = p11_find(p, s, find_tmpl, P11_COUNT(find_tmpl), old, 8, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	if (found == 0)
		return sg_fail(SG_ERR_NOT_FOUND, "token has no catalogue record '%s'", a->label);
	*rv = p11_record_create(p, s, a->label, a->blob, a->blob_len);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_CreateObject(catalogue record)", *rv);
	for (CK_ULONG i = 0; i < found; i++) {
		*rv = p->f->C_DestroyObject(s, old[i]);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_DestroyObject(old catalogue record)",
					*rv);
	}
	return SG_OK;
}

int p11_record_update(void *state, const char *label, const uint8_t *blob, size_t blob_len)
{
	struct p11_update_arg a = {.label = label, .blob = blob, .blob_len = blob_len};

	return p11_run(state, p11_op_record_update, &a, NULL);
}

/* ---- signerd's own state in the token ----------------------------------------------------- */

#define P11_STATE_APPLICATION "signerd-state"
#define P11_STATE_MAX         8 /* values of one name: one, or two after a crash inside a put */

struct p11_state_arg {
	const char *name;
	const uint8_t *data; /* put */
	size_t len;
	struct ks_blob *values; /* get */
	size_t n;
};

/* Replaces the values stored under a name: the new object first, then the old ones (a crash in
 * between leaves both; the reader tells them apart by what they hold). */
static int p11_op_state_put(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_state_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE find_tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_STATE_APPLICATION),
		 .ulValueLen = strlen(P11_STATE_APPLICATION)},
		{.type = CKA_LABEL, .pValue = p11_in(a->name), .ulValueLen = strlen(a->name)},
		P11_OURS,
	};
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_STATE_APPLICATION),
		 .ulValueLen = strlen(P11_STATE_APPLICATION)},
		{.type = CKA_LABEL, .pValue = p11_in(a->name), .ulValueLen = strlen(a->name)},
		{.type = CKA_VALUE, .pValue = p11_in(a->data), .ulValueLen = a->len},
	};
	CK_OBJECT_HANDLE old[P11_STATE_MAX], created;
	CK_ULONG found;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p11_find(p, s, find_tmpl, P11_COUNT(find_tmpl), old, P11_STATE_MAX, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	*rv = p->f->C_CreateObject(s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &created);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_CreateObject", *rv);
	for (CK_ULONG i = 0; i < found; i++) {
		*rv = p->f->C_DestroyObject(s, old[i]);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_DestroyObject", *rv);
	}
	return SG_OK;
}

static int p11_op_state_get(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_state_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE find_tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_APPLICATION,
		 .pValue = p11_in(P11_STATE_APPLICATION),
		 .ulValueLen = strlen(P11_STATE_APPLICATION)},
		{.type = CKA_LABEL, .pValue = p11_in(a->name), .ulValueLen = strlen(a->name)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE objs[P11_STATE_MAX];
	CK_ULONG found;
	int r, attempt = 0;

	a->values = NULL;
	a->n = 0;
	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
again:
	*rv = p11_find(p, s, find_tmpl, P11_COUNT(find_tmpl), objs, P11_STATE_MAX, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	if (found == 0)
		return SG_OK;
	if (found > 2)
		return sg_fail(
			SG_ERR_MALFORMED,
			"the token holds %lu values of '%s'; a write leaves at most two (a crash "
			"between its create and its destroy): remove the others by hand",
			found, a->name);
	a->values = calloc(found, sizeof(*a->values));
	if (a->values == NULL)
		return sg_fail(SG_ERR_NOMEM, "reading '%s' from the token", a->name);
	for (CK_ULONG i = 0; i < found; i++) {
		*rv = p11_attr_read(p, s, objs[i], CKA_VALUE, &a->values[a->n].data,
				    &a->values[a->n].len);
		if (*rv != CKR_OK) {
			ks_blobs_free(a->values, a->n);
			a->values = NULL;
			a->n = 0;
			/* another process replaced the value between the find and the read (a write
			 * creates the new object, then destroys the old): read again */
			if (*rv == CKR_OBJECT_HANDLE_INVALID && ++attempt < 5)
				goto again;
			return p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_VALUE)", *rv);
		}
		a->n++;
	}
	return SG_OK;
}

int p11_state_put(void *state, const char *name, const uint8_t *data, size_t len)
{
	struct p11_state_arg a = {.name = name, .data = data, .len = len};

	return p11_run(state, p11_op_state_put, &a, NULL);
}

int p11_state_get(void *state, const char *name, struct ks_blob **values, size_t *n)
{
	struct p11_state_arg a = {.name = name};
	int r = p11_run(state, p11_op_state_get, &a, NULL);

	*values = a.values;
	*n = a.n;
	return r;
}

static int p11_op_destroy_private(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	const char *label = varg;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(label), .ulValueLen = strlen(label)},
		P11_OURS,
	};
	CK_OBJECT_HANDLE o[4];
	CK_ULONG found;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p11_find(p, s, tmpl, P11_COUNT(tmpl), o, 4, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	for (CK_ULONG i = 0; i < found; i++) {
		*rv = p->f->C_DestroyObject(s, o[i]);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_DestroyObject(private key)", *rv);
	}
	p11_cache_drop(p, label);
	return SG_OK;
}

int p11_destroy_private(void *state, const char *label)
{
	return p11_run(state, p11_op_destroy_private, p11_in(label), NULL);
}

struct p11_present_arg {
	const char *label;
	bool *present;
};

static int p11_op_private_present(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_present_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_LABEL, .pValue = p11_in(a->label), .ulValueLen = strlen(a->label)},
	};
	CK_OBJECT_HANDLE o;
	CK_ULONG found = 0;
	int r;

	/* any private key of that label, ours or not: the proof is that none is left */
	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
	*rv = p11_find(p, s, tmpl, P11_COUNT(tmpl), &o, 1, &found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	*a->present = found != 0;
	return SG_OK;
}

int p11_private_present(void *state, const char *label, bool *present)
{
	struct p11_present_arg a = {.label = label, .present = present};

	return p11_run(state, p11_op_private_present, &a, NULL);
}
