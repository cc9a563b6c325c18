/* Secrets of the backups (the backup key, its shares, an Ed25519 seed on its way into the
 * token): held only in locked memory (sodium_malloc: mlock'd, guard pages, never swapped, not in
 * a core dump), wiped when freed. */
#ifndef SIGNER_BACKUP_SECRET_H
#define SIGNER_BACKUP_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BACKUP_KEY_LEN 32 /* the backup key: AES-256 */

struct backup_secret {
	uint8_t *bytes; /* sodium_malloc'd; NULL when empty */
	size_t len;
};

/* len zero bytes of locked memory (len > 0). */
SG_MUST_CHECK int backup_secret_new(size_t len, struct backup_secret *out);
/* len bytes from the system's CSPRNG (getrandom), in locked memory. */
SG_MUST_CHECK int backup_secret_random(size_t len, struct backup_secret *out);
/* Wipes and frees; an empty one is fine. */
void backup_secret_free(struct backup_secret *s);

#endif
