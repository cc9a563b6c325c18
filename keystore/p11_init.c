/* Token initialisation: a ceremony step of signerctl token init, not a daemon path. */
#include "p11_internal.h"

/* ---- token initialisation (a ceremony step, not a daemon path) --------------------------- */

int ks_token_init(const char *module_path, const char *label, const char *so_pin_file,
		  const char *pin_file)
{
	struct p11 p;
	struct ks_pin so_pin = {0}, pin = {0};
	CK_SLOT_ID *slots = NULL, slot = 0;
	CK_ULONG n = 0;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	bool have_slot = false;
	CK_RV rv;
	int r;

	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	if (label == NULL || label[0] == '\0' || strlen(label) > 32)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a token label has 1 to 32 bytes");
	memset(&p, 0, sizeof(p));
	p.module_path = p11_in(module_path);
	if ((r = p11_module_load(&p)) != SG_OK || (r = p11_module_initialize(&p)) != SG_OK)
		goto out;
	r = p11_slot_find(p.f, label, true, &slot);
	if (r == SG_OK) {
		r = sg_fail(SG_ERR_EXISTS, "a token labelled '%s' exists already", label);
		goto out;
	}
	if (r != SG_ERR_NOT_FOUND)
		goto out;
	rv = p.f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && (slots = calloc(n == 0 ? 1 : n, sizeof(*slots))) != NULL)
		rv = p.f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK || slots == NULL) {
		r = p11_fail(SG_ERR_TOKEN_UNAVAILABLE, "C_GetSlotList", rv);
		goto out;
	}
	for (CK_ULONG i = 0; i < n && !have_slot; i++) {
		CK_TOKEN_INFO info;

		if (p.f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    !(info.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			have_slot = true;
		}
	}
	if (!have_slot) {
		r = sg_fail(SG_ERR_NOT_FOUND, "module %s has no empty slot for a new token",
			    module_path);
		goto out;
	}
	if ((r = ks_pin_read(so_pin_file, &so_pin)) != SG_OK ||
	    (r = ks_pin_read(pin_file, &pin)) != SG_OK)
		goto out;
	p11_label_pad(label, padded);
	rv = p.f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin.value, so_pin.len, padded);
	if (rv != CKR_OK) {
		r = p11_fail(SG_ERR_PKCS11, "C_InitToken", rv);
		goto out;
	}
	/* SoftHSM2 moves an initialised token to a new slot id: find it by label again. */
	if ((r = p11_slot_find(p.f, label, true, &slot)) != SG_OK)
		goto out;
	rv = p.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK)
		rv = p.f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin.value, so_pin.len);
	if (rv != CKR_OK) {
		r = p11_fail(SG_ERR_PKCS11,
			     s == CK_INVALID_HANDLE ? "C_OpenSession" : "C_Login(SO)", rv);
		goto out;
	}
	rv = p.f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin.value, pin.len);
	if (rv != CKR_OK)
		r = p11_fail(SG_ERR_PKCS11, "C_InitPIN", rv);
	(void)p.f->C_Logout(s);
out:
	ks_pin_free(&so_pin);
	ks_pin_free(&pin);
	free(slots);
	if (p.f != NULL && p.initialized) {
		if (s != CK_INVALID_HANDLE)
			(void)p.f->C_CloseSession(s);
		(void)p.f->C_Finalize(NULL);
	}
	if (p.dl != NULL)
		dlclose(p.dl);
	return r;
}
