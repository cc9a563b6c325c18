/* The names clients and operators write, checked the same way everywhere. */
#ifndef SIGNER_COMMON_NAMES_H
#define SIGNER_COMMON_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN       63  /* keys and clients: [a-z0-9][a-z0-9-]{0,62} */
#define OPERATION_MAX_LEN  64  /* operations: [A-Za-z0-9_.:-]{1,64} */
#define REQUEST_ID_MAX_LEN 128 /* request ids: 1 to 128 printable ASCII characters */

bool name_valid(const char *s);
bool operation_valid(const char *s);
bool request_id_valid(const char *s);

/* A name a certificate carries, as len bytes (never up to a NUL): a SAN URI is 1 to
 * PEER_NAME_MAX_LEN printable ASCII characters without spaces; a CN may hold spaces. Anything
 * else (a NUL, a control character, a byte over 0x7e) cannot be a client's name. */
#define PEER_NAME_MAX_LEN 255
enum peer_name_kind { PEER_NAME_URI, PEER_NAME_CN };
bool peer_name_valid(const char *s, size_t len, enum peer_name_kind kind);

#endif
