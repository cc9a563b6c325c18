/* The names clients and operators write, checked the same way everywhere. */
#ifndef SIGNER_COMMON_NAMES_H
#define SIGNER_COMMON_NAMES_H

#include <stdbool.h>

#define NAME_MAX_LEN 63       /* keys and clients: [a-z0-9][a-z0-9-]{0,62} */
#define OPERATION_MAX_LEN 64  /* operations: [A-Za-z0-9_.:-]{1,64} */
#define REQUEST_ID_MAX_LEN 128 /* request ids: 1 to 128 printable ASCII characters */

bool name_valid(const char *s);
bool operation_valid(const char *s);
bool request_id_valid(const char *s);

#endif
