/* Custodians' approvals: detached OpenPGP signatures over a plan's exact bytes, checked with
 * GPGME offline against the keyring of ceremonies.gnupg_home, and counted by pinned primary-key
 * fingerprint only. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gpgme.h>

#include "ceremony/ceremony.h"

/* The primary key's fingerprint of the key that made a signature (fpr: the signing key's, a
 * subkey's or the primary's), upper case, into out[41]; false when the keyring has no such key. */
static bool primary_of(gpgme_ctx_t ctx, const char *fpr, char out[41])
{
	gpgme_key_t key = NULL;
	bool ok = false;

	if (fpr != NULL && gpgme_get_key(ctx, fpr, &key, 0) == GPG_ERR_NO_ERROR && key != NULL &&
	    key->subkeys != NULL && key->subkeys->fpr != NULL && strlen(key->subkeys->fpr) == 40) {
		for (int i = 0; i < 40; i++)
			out[i] = (char)(key->subkeys->fpr[i] >= 'a' && key->subkeys->fpr[i] <= 'f'
						? key->subkeys->fpr[i] - 'a' + 'A'
						: key->subkeys->fpr[i]);
		out[40] = '\0';
		ok = true;
	}
	gpgme_key_unref(key);
	return ok;
}

/* Why a signature is not good, in words. */
static const char *bad_why(const gpgme_signature_t s)
{
	switch (gpg_err_code(s->status)) {
	case GPG_ERR_BAD_SIGNATURE:
		return "the signature does not match the plan's bytes: the plan was changed after "
		       "it was approved, or the approval is of another plan";
	case GPG_ERR_NO_PUBKEY:
		return "the key that made it is not in ceremonies.gnupg_home";
	case GPG_ERR_SIG_EXPIRED:
		return "the signature has expired";
	case GPG_ERR_KEY_EXPIRED:
		return "the key that made it has expired";
	case GPG_ERR_CERT_REVOKED:
		return "the key that made it is revoked";
	default:
		return gpgme_strerror(s->status);
	}
}

int ceremony_approvals_check(const char *gnupg_home, const struct ceremony_custodian *custodians,
			     size_t n_custodians, const uint8_t *plan, size_t plan_len,
			     const struct ceremony_approval *approvals, size_t n_approvals,
			     unsigned quorum, const char **approvers, size_t *n_approvers)
{
	bool approved[64] = {false};
	gpgme_ctx_t ctx = NULL;
	gpgme_error_t e;
	int r = SG_OK;

	*n_approvers = 0;
	if (n_custodians > 64)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "more than 64 custodians");
	gpgme_check_version(NULL);
	if ((e = gpgme_new(&ctx)) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, gnupg_home)) !=
		    GPG_ERR_NO_ERROR) {
		gpgme_release(ctx);
		return sg_fail(SG_ERR_INTERNAL, "GPGME with %s: %s", gnupg_home, gpgme_strerror(e));
	}
	/* nothing from the network: a key is what the keyring holds */
	gpgme_set_offline(ctx, 1);
	for (size_t a = 0; a < n_approvals && r == SG_OK; a++) {
		gpgme_data_t sig = NULL, text = NULL;
		gpgme_verify_result_t res;
		unsigned signatures = 0;

		if ((e = gpgme_data_new_from_mem(&sig, (const char *)approvals[a].data,
						 approvals[a].len, 0)) != GPG_ERR_NO_ERROR ||
		    (e = gpgme_data_new_from_mem(&text, (const char *)plan, plan_len, 0)) !=
			    GPG_ERR_NO_ERROR) {
			r = sg_fail(SG_ERR_NOMEM, "approval %s: %s", approvals[a].file,
				    gpgme_strerror(e));
		} else if ((e = gpgme_op_verify(ctx, sig, text, NULL)) != GPG_ERR_NO_ERROR) {
			r = sg_fail(SG_ERR_PERMISSION,
				    "approval %s is not a detached OpenPGP signature: %s",
				    approvals[a].file, gpgme_strerror(e));
		} else if ((res = gpgme_op_verify_result(ctx)) == NULL) {
			r = sg_fail(SG_ERR_PERMISSION, "approval %s holds no signature",
				    approvals[a].file);
		} else {
			for (gpgme_signature_t s = res->signatures; s != NULL && r == SG_OK;
			     s = s->next) {
				char primary[41];
				size_t c;

				signatures++;
				if (gpg_err_code(s->status) != GPG_ERR_NO_ERROR) {
					r = sg_fail(SG_ERR_PERMISSION, "approval %s is refused: %s",
						    approvals[a].file, bad_why(s));
					break;
				}
				/* good: now whose? (validity is not asked: the pin decides) */
				if (!primary_of(ctx, s->fpr, primary)) {
					r = sg_fail(SG_ERR_PERMISSION,
						    "approval %s is by key %s, which "
						    "ceremonies.gnupg_home does not hold",
						    approvals[a].file,
						    s->fpr != NULL ? s->fpr : "?");
					break;
				}
				for (c = 0; c < n_custodians; c++)
					if (strcasecmp(custodians[c].fingerprint, primary) == 0)
						break;
				if (c == n_custodians) {
					r = sg_fail(SG_ERR_PERMISSION,
						    "approval %s is signed by key %s, which is not "
						    "pinned to any custodian",
						    approvals[a].file, primary);
					break;
				}
				approved[c] = true;
			}
			if (r == SG_OK && signatures == 0)
				r = sg_fail(SG_ERR_PERMISSION, "approval %s holds no signature",
					    approvals[a].file);
		}
		gpgme_data_release(sig);
		gpgme_data_release(text);
	}
	gpgme_release(ctx);
	if (r != SG_OK)
		return r;
	for (size_t c = 0; c < n_custodians; c++)
		if (approved[c])
			approvers[(*n_approvers)++] = custodians[c].name;
	if (*n_approvers < quorum) {
		char names[512] = "";

		for (size_t i = 0; i < *n_approvers; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i > 0 ? ", " : "", approvers[i]);
		return sg_fail(
			SG_ERR_PERMISSION,
			"the plan needs the approvals of %u distinct custodians; it has %zu%s%s%s",
			quorum, *n_approvers, *n_approvers > 0 ? " (" : "", names,
			*n_approvers > 0 ? ")" : "");
	}
	return SG_OK;
}
