/* The PKCS#11 backend's operations, each run by p11_run on a pooled session: sign, generate,
 * the catalogue records, signerd's own state in the token, and destroying a private key. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/* A value written in place (p11_state_advance) lives in the label of one of two alternating
 * objects of application "signerd-state-slot/NAME": 16 hex digits of a write counter, ':', the
 * value. The label is the one attribute of a data object a token lets change (SoftHSM2 refuses
 * CKA_VALUE), and a change in place leaves no destroyed object behind in SoftHSM2's memory. */
#define P11_SLOT_PREFIX      "signerd-state-slot/"
#define P11_SLOT_APP_MAX     (sizeof(P11_SLOT_PREFIX) + KS_STATE_NAME_MAX)
#define P11_SLOT_COUNTER_LEN 16

struct p11_state_arg {
	const char *name;
	const uint8_t *data; /* put */
	size_t len;
	struct ks_blob *values; /* get */
	size_t n;
};

/* The template that finds a name's objects of one kind: the values put whole (slot NULL), or
 * the two slots written in place (slot_app filled in). */
struct p11_state_find {
	CK_OBJECT_CLASS cls;
	char slot_app[P11_SLOT_APP_MAX];
	CK_ATTRIBUTE tmpl[5];
	CK_ULONG n;
};

static void state_find_init(struct p11_state_find *f, const char *name, bool slots)
{
	f->cls = CKO_DATA;
	f->tmpl[0] =
		(CK_ATTRIBUTE){.type = CKA_CLASS, .pValue = &f->cls, .ulValueLen = sizeof(f->cls)};
	if (slots) {
		snprintf(f->slot_app, sizeof(f->slot_app), "%s%s", P11_SLOT_PREFIX, name);
		f->tmpl[1] = (CK_ATTRIBUTE){.type = CKA_APPLICATION,
					    .pValue = f->slot_app,
					    .ulValueLen = strlen(f->slot_app)};
		f->n = 2;
	} else {
		f->tmpl[1] = (CK_ATTRIBUTE){.type = CKA_APPLICATION,
					    .pValue = p11_in(P11_STATE_APPLICATION),
					    .ulValueLen = strlen(P11_STATE_APPLICATION)};
		f->tmpl[2] = (CK_ATTRIBUTE){
			.type = CKA_LABEL, .pValue = p11_in(name), .ulValueLen = strlen(name)};
		f->n = 3;
	}
	f->tmpl[f->n++] = (CK_ATTRIBUTE){
		.type = CKA_TOKEN, .pValue = &p11_true, .ulValueLen = sizeof(p11_true)};
	f->tmpl[f->n++] = (CK_ATTRIBUTE){
		.type = CKA_PRIVATE, .pValue = &p11_true, .ulValueLen = sizeof(p11_true)};
}

static int state_find(struct p11 *p, CK_SESSION_HANDLE s, const char *name, bool slots,
		      CK_OBJECT_HANDLE objs[P11_STATE_MAX], CK_ULONG *found, CK_RV *rv)
{
	struct p11_state_find f;

	state_find_init(&f, name, slots);
	*rv = p11_find(p, s, f.tmpl, f.n, objs, P11_STATE_MAX, found);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_FindObjects", *rv);
	if (*found > 2)
		return sg_fail(
			SG_ERR_MALFORMED,
			"the token holds %lu %s of '%s'; a write leaves at most two (a crash "
			"between its create and its destroy): remove the others by hand",
			*found, slots ? "in-place values" : "values", name);
	return SG_OK;
}

/* A slot's label: its counter, and where its value starts. */
static int slot_parse(const uint8_t *label, size_t len, const char *name, uint64_t *counter)
{
	char hex[P11_SLOT_COUNTER_LEN + 1];
	char *end;

	if (len < P11_SLOT_COUNTER_LEN + 2 || label[P11_SLOT_COUNTER_LEN] != ':')
		goto bad;
	memcpy(hex, label, P11_SLOT_COUNTER_LEN);
	hex[P11_SLOT_COUNTER_LEN] = '\0';
	if (strspn(hex, "0123456789abcdef") != P11_SLOT_COUNTER_LEN)
		goto bad;
	*counter = strtoull(hex, &end, 16);
	return SG_OK;
bad:
	return sg_fail(SG_ERR_MALFORMED, "an in-place value of '%s' in the token does not read",
		       name);
}

static void slot_label(uint64_t counter, const uint8_t *data, size_t len, uint8_t *out)
{
	char hex[P11_SLOT_COUNTER_LEN + 2];

	snprintf(hex, sizeof(hex), "%016" PRIx64 ":", counter);
	memcpy(out, hex, P11_SLOT_COUNTER_LEN + 1);
	memcpy(out + P11_SLOT_COUNTER_LEN + 1, data, len);
}

static int state_destroy_all(struct p11 *p, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *objs,
			     CK_ULONG n, CK_RV *rv)
{
	for (CK_ULONG i = 0; i < n; i++) {
		*rv = p->f->C_DestroyObject(s, objs[i]);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_DestroyObject", *rv);
	}
	return SG_OK;
}

/* Replaces the values stored under a name: the new object first, then the old ones, those put
 * whole and those written in place (a crash in between leaves both; the reader tells them apart
 * by what they hold). */
static int p11_op_state_put(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_state_arg *a = varg;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
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
	CK_OBJECT_HANDLE old[P11_STATE_MAX], slots[P11_STATE_MAX], created;
	CK_ULONG found, n_slots;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK ||
	    (r = state_find(p, s, a->name, false, old, &found, rv)) != SG_OK ||
	    (r = state_find(p, s, a->name, true, slots, &n_slots, rv)) != SG_OK)
		return r;
	*rv = p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &created);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_CreateObject", *rv);
	if ((r = state_destroy_all(p, s, old, found, rv)) != SG_OK)
		return r;
	return state_destroy_all(p, s, slots, n_slots, rv);
}

/* Writes a value in place: into the older of the name's two slots, so that the newer one
 * survives a write cut short. Until two slots exist, a write creates one; the first also
 * destroys the values put whole. */
static int p11_op_state_advance(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_state_arg *a = varg;
	CK_OBJECT_HANDLE old[P11_STATE_MAX], slots[P11_STATE_MAX], created;
	CK_ULONG found, n_slots;
	uint64_t counter[2] = {0, 0}, next = 0;
	CK_ULONG oldest = 0;
	size_t label_len = P11_SLOT_COUNTER_LEN + 1 + a->len;
	uint8_t *label;
	int r;

	if ((r = p11_require_login(p, s, rv)) != SG_OK ||
	    (r = state_find(p, s, a->name, true, slots, &n_slots, rv)) != SG_OK)
		return r;
	for (CK_ULONG i = 0; i < n_slots; i++) {
		uint8_t *v;
		size_t len;

		*rv = p11_attr_read(p, s, slots[i], CKA_LABEL, &v, &len);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11, "C_GetAttributeValue(CKA_LABEL)", *rv);
		r = slot_parse(v, len, a->name, &counter[i]);
		free(v);
		if (r != SG_OK)
			return r;
		if (counter[i] >= next)
			next = counter[i] + 1;
		if (counter[i] < counter[oldest])
			oldest = i;
	}
	if ((label = malloc(label_len)) == NULL)
		return sg_fail(SG_ERR_NOMEM, "writing '%s' to the token", a->name);
	slot_label(next, a->data, a->len, label);
	if (n_slots == 2) {
		CK_ATTRIBUTE set = {.type = CKA_LABEL, .pValue = label, .ulValueLen = label_len};

		*rv = p->f->C_SetAttributeValue(s, slots[oldest], &set, 1);
		free(label);
		return *rv == CKR_OK
			       ? SG_OK
			       : p11_fail(SG_ERR_PKCS11, "C_SetAttributeValue(CKA_LABEL)", *rv);
	}
	struct p11_state_find f;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_CLASS cls = CKO_DATA;

	state_find_init(&f, a->name, true);
	CK_ATTRIBUTE tmpl[] = {
		{.type = CKA_CLASS, .pValue = &cls, .ulValueLen = sizeof(cls)},
		{.type = CKA_TOKEN, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_PRIVATE, .pValue = &yes, .ulValueLen = sizeof(yes)},
		{.type = CKA_APPLICATION, .pValue = f.slot_app, .ulValueLen = strlen(f.slot_app)},
		{.type = CKA_LABEL, .pValue = label, .ulValueLen = label_len},
	};
	*rv = p->f->C_CreateObject(s, tmpl, P11_COUNT(tmpl), &created);
	free(label);
	if (*rv != CKR_OK)
		return p11_fail(SG_ERR_PKCS11, "C_CreateObject", *rv);
	if ((r = state_find(p, s, a->name, false, old, &found, rv)) != SG_OK)
		return r;
	return state_destroy_all(p, s, old, found, rv);
}

/* Appends the values of objs (CKA_VALUE, or a slot's label less its counter) to a->values. */
static int state_read(struct p11 *p, CK_SESSION_HANDLE s, struct p11_state_arg *a,
		      const CK_OBJECT_HANDLE *objs, CK_ULONG found, bool slots, CK_RV *rv)
{
	for (CK_ULONG i = 0; i < found; i++) {
		struct ks_blob *b = &a->values[a->n];
		uint64_t counter;
		int r;

		*rv = p11_attr_read(p, s, objs[i], slots ? CKA_LABEL : CKA_VALUE, &b->data,
				    &b->len);
		if (*rv != CKR_OK)
			return p11_fail(SG_ERR_PKCS11,
					slots ? "C_GetAttributeValue(CKA_LABEL)"
					      : "C_GetAttributeValue(CKA_VALUE)",
					*rv);
		a->n++;
		if (slots) {
			if ((r = slot_parse(b->data, b->len, a->name, &counter)) != SG_OK)
				return r;
			b->len -= P11_SLOT_COUNTER_LEN + 1;
			memmove(b->data, b->data + P11_SLOT_COUNTER_LEN + 1, b->len);
		}
	}
	return SG_OK;
}

static int p11_op_state_get(struct p11 *p, CK_SESSION_HANDLE s, void *varg, CK_RV *rv)
{
	struct p11_state_arg *a = varg;
	CK_OBJECT_HANDLE objs[P11_STATE_MAX], slots[P11_STATE_MAX];
	CK_ULONG found, n_slots;
	int r, attempt = 0;

	a->values = NULL;
	a->n = 0;
	if ((r = p11_require_login(p, s, rv)) != SG_OK)
		return r;
again:
	if ((r = state_find(p, s, a->name, false, objs, &found, rv)) != SG_OK ||
	    (r = state_find(p, s, a->name, true, slots, &n_slots, rv)) != SG_OK)
		return r;
	if (found + n_slots == 0)
		return SG_OK;
	a->values = calloc(found + n_slots, sizeof(*a->values));
	if (a->values == NULL)
		return sg_fail(SG_ERR_NOMEM, "reading '%s' from the token", a->name);
	if ((r = state_read(p, s, a, objs, found, false, rv)) != SG_OK ||
	    (r = state_read(p, s, a, slots, n_slots, true, rv)) != SG_OK) {
		ks_blobs_free(a->values, a->n);
		a->values = NULL;
		a->n = 0;
		/* another process replaced the value between the find and the read (a write
		 * creates the new object, then destroys the old): read again */
		if (r == SG_ERR_PKCS11 && *rv == CKR_OBJECT_HANDLE_INVALID && ++attempt < 5)
			goto again;
		return r;
	}
	return SG_OK;
}

int p11_state_put(void *state, const char *name, const uint8_t *data, size_t len)
{
	struct p11_state_arg a = {.name = name, .data = data, .len = len};

	return p11_run(state, p11_op_state_put, &a, NULL);
}

int p11_state_advance(void *state, const char *name, const uint8_t *data, size_t len)
{
	struct p11_state_arg a = {.name = name, .data = data, .len = len};

	return p11_run(state, p11_op_state_advance, &a, NULL);
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
