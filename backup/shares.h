/* The backup key's shares: Shamir's secret sharing over GF(2^8) (the field and share layout of
 * libgfshare, which the tests read back), done in locked memory. Each share is one line of text
 * a custodian keeps encrypted to their OpenPGP key:
 *
 *   signerd-share-1 <kid> <threshold> <index> <share, 64 hex>
 *
 * kid (16 hex) names the backup key: the first 8 bytes of HMAC-SHA256(key, "signerd backup key
 * id v1"). The backup key's record (kid, threshold, and each share's SHA-256) is not secret and
 * travels with every backup, so that a foreign share (another kid) or a wrong one (its hash is
 * not the recorded one) is refused before use: Shamir over a wrong set yields a wrong key
 * without any error. After combining, the rebuilt key's kid is checked too. */
#ifndef SIGNER_BACKUP_SHARES_H
#define SIGNER_BACKUP_SHARES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backup/secret.h"
#include "common/err.h"

#define BACKUP_SHARES_MAX    16
#define BACKUP_KID_LEN       16
#define BACKUP_CUSTODIAN_MAX 63

struct backup_share_info {
	unsigned index;                           /* 1..255: the share's x coordinate */
	char sha256[65];                          /* of the 32 share bytes (hex) */
	char custodian[BACKUP_CUSTODIAN_MAX + 1]; /* whom it was given to ("" when unnamed) */
};

/* What is known of a backup key without any secret. */
struct backup_key_record {
	char kid[BACKUP_KID_LEN + 1];
	unsigned threshold;
	size_t n_shares;
	struct backup_share_info shares[BACKUP_SHARES_MAX];
	int64_t created_at; /* seconds since the epoch */
};

/* The kid of a 32-byte key. */
SG_MUST_CHECK int backup_kid(const struct backup_secret *key, char kid[BACKUP_KID_LEN + 1]);

/* Splits a 32-byte key into n shares (2 <= threshold <= n <= BACKUP_SHARES_MAX; threshold 1 is
 * refused: it would be the key itself), lines[i] the text of share i (NUL-terminated, its len
 * without the NUL, locked memory), and fills rec (custodian names left empty, created_at now). */
SG_MUST_CHECK int backup_shares_split(const struct backup_secret *key, unsigned threshold,
				      unsigned n, struct backup_secret lines[],
				      struct backup_key_record *rec);

/* Rebuilds the key of rec from share lines (each as read from a file; a trailing newline is
 * allowed). Refuses, with SG_ERR_PERMISSION and one sentence naming which share (its position
 * among those given, from 1) and why: a line that is not a share, a foreign share (another kid),
 * a share whose hash is not recorded, the same share twice, fewer than the threshold, a rebuilt
 * key whose kid differs. */
SG_MUST_CHECK int backup_shares_combine(const struct backup_key_record *rec,
					const struct backup_secret lines[], size_t n_lines,
					struct backup_secret *key);

/* rec <-> {"format":"signerd-backup-key-1","kid","threshold","created_at":"...Z",
 * "shares":[{"index","sha256","custodian"}]}; parse is strict (SG_ERR_MALFORMED). */
json_t *backup_key_record_json(const struct backup_key_record *rec);
SG_MUST_CHECK int backup_key_record_parse(const json_t *j, struct backup_key_record *rec);

/* Reads one share line from a file that only its owner may read and write (path "-": standard
 * input), at most 256 bytes, into locked memory. */
SG_MUST_CHECK int backup_share_read(const char *path, struct backup_secret *line);

/* Encrypts a share line to the OpenPGP key with primary fingerprint fpr (40 hex) in gnupg_home
 * (its encryption subkey; the key is pinned, so its validity in the keyring does not matter),
 * ASCII-armoured. Free *armored with free(). */
SG_MUST_CHECK int backup_share_encrypt(const char *gnupg_home, const char *fpr,
				       const struct backup_secret *line, char **armored);

#endif
