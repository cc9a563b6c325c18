/* Checks on the files signerd trusts (the config, the policy, certificates, CRLs, keys): a file
 * someone else can change is a file someone else controls. */
#ifndef SIGNER_COMMON_FILES_H
#define SIGNER_COMMON_FILES_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

/* SG_OK when fd (opened from path) is a regular file of root or of this process that group and
 * others cannot write (with secret, not read either), in directories (every one up to /) of
 * root or of this process that group and others cannot write unless they are sticky.
 * SG_ERR_PERMISSION otherwise, naming the file or directory, its owner or mode, and what mends
 * it; what says what the file is ("policy file", "TLS key"). */
SG_MUST_CHECK int file_check_trusted(int fd, const char *path, const char *what, bool secret);

/* uid is trusted as an owner too: the user a process started as root is about to become (its
 * files, such as a TLS key owner-only to it, are read before the switch). Call before any
 * thread starts; the config itself is read before this, so it must be root's. */
void file_trust_owner(uid_t uid);

/* The directory part of file_check_trusted alone. */
SG_MUST_CHECK int file_check_dirs(const char *path, const char *what);

#endif
