/* Keystore internals shared by its files: the PKCS#11 header and the backend ops table. Not
 * installed for other modules (CMake lists only keystore.h as public). */
#ifndef SIGNER_KEYSTORE_P11_H
#define SIGNER_KEYSTORE_P11_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/err.h"
#include "keystore/keystore.h"

const char *ks_ckr_name(CK_RV rv);

/* PKCS#11 takes non-const pointers for input it only reads (templates, data to sign). */
static inline void *p11_in(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* The record of one key version as a backend stores it: its label in the token, the serialised
 * catalogue record and the public key read from the token. */
struct ks_record {
	char label[96];
	uint8_t *blob;
	size_t blob_len;
	uint8_t public_key[KS_PUBKEY_MAX];
	size_t public_key_len;
};

void ks_records_free(struct ks_record *recs, size_t n);

/* A keystore backend. The generic part (keystore.c) owns names, versions, lifecycle rules and
 * the catalogue cache; a backend stores key pairs and record blobs and signs. */
struct ks_backend_ops {
	const char *name;
	int (*open)(const struct ks_config *cfg, void **state);
	void (*close)(void *state);
	/* Generates a key pair labelled label and stores blob beside it, all or nothing. */
	int (*generate)(void *state, const char *label, enum ks_chain chain, const uint8_t *blob,
			size_t blob_len, uint8_t *pub, size_t *pub_len);
	int (*records_load)(void *state, struct ks_record **recs, size_t *n);
	int (*record_update)(void *state, const char *label, const uint8_t *blob, size_t blob_len);
	/* Destroys the private key labelled label; none there is not an error. */
	int (*destroy_private)(void *state, const char *label);
	/* Whether the token holds a private key labelled label (asked of the token, not a cache).
	 */
	int (*private_present)(void *state, const char *label, bool *present);
	/* signerd's own small records (ks_state_put/ks_state_get) */
	int (*state_put)(void *state, const char *name, const uint8_t *data, size_t len);
	int (*state_advance)(void *state, const char *name, const uint8_t *data, size_t len);
	int (*state_get)(void *state, const char *name, struct ks_blob **values, size_t *n);
	int (*sign)(void *state, const char *label, enum ks_chain chain, const uint8_t *msg,
		    size_t len, uint8_t *sig, size_t *sig_len);
	/* backups (ks_backup_key_load and the calls after it) */
	int (*backup_key_load)(void *state, const char *so_pin_file, const uint8_t *key,
			       size_t len);
	void (*backup_key_unload)(void *state);
	int (*wrap_supported)(void *state, enum ks_chain chain, bool *supported);
	/* As generate, and the private key wrapped under the backup key into wrapped */
	int (*generate_wrapped)(void *state, const char *label, enum ks_chain chain,
				const uint8_t *blob, size_t blob_len, uint8_t *pub, size_t *pub_len,
				uint8_t *wrapped, size_t *wrapped_len);
	/* A key pair from priv (C_CreateObject), from wrapped (C_UnwrapKey under the backup key)
	 * or with no private key (both NULL), its public key pub, and its record, all or nothing;
	 * a private key must sign what pub verifies. */
	int (*import)(void *state, const char *label, enum ks_chain chain, const uint8_t *priv,
		      size_t priv_len, const uint8_t *wrapped, size_t wrapped_len,
		      const uint8_t *pub, size_t pub_len, const uint8_t *blob, size_t blob_len);
	/* The manifests' MAC key (HMAC-SHA256) labelled label: stored (kept when there), used */
	int (*mac_key_store)(void *state, const char *label, const uint8_t *key, size_t len);
	int (*mac)(void *state, const char *label, const uint8_t *data, size_t len,
		   uint8_t out[32]);
	/* Every object of a version (its key pair and record) destroyed */
	int (*discard)(void *state, const char *label);
	int (*health)(void *state);
	void (*stats)(void *state, struct ks_stats *out);
};

extern const struct ks_backend_ops ks_pkcs11_ops;

/* The PIN: read from a file that only its owner may read, into locked memory. */
struct ks_pin {
	char *value; /* sodium_malloc'd; wiped and freed by ks_pin_free */
	size_t len;
};
SG_MUST_CHECK int ks_pin_read(const char *path, struct ks_pin *pin);
void ks_pin_free(struct ks_pin *pin);

/* The catalogue record <-> its serialised form. */
SG_MUST_CHECK int ks_record_encode(const struct ks_key *key, uint8_t **blob, size_t *len);
SG_MUST_CHECK int ks_record_decode(const uint8_t *blob, size_t len, struct ks_key *key);

#endif
