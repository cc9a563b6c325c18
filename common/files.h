/* Checks on the files signerd trusts (the config, the policy, certificates, CRLs, keys): a file
 * someone else can change is a file someone else controls. */
#ifndef SIGNER_COMMON_FILES_H
#define SIGNER_COMMON_FILES_H

#include <stdbool.h>

#include "common/err.h"

/* SG_OK when fd (opened from path) is a regular file that group and others cannot write; with
 * secret, that they cannot read either. SG_ERR_PERMISSION otherwise, naming the file, its mode
 * and the chmod that mends it; what says what the file is ("policy file", "TLS key"). */
SG_MUST_CHECK int file_check_trusted(int fd, const char *path, const char *what, bool secret);

#endif
