# The backup key's crypto: secrets in locked memory, RFC 5649 key wrap on nettle's AES, the
# PKCS#8 form of an Ed25519 seed, Shamir shares (libgfshare's field) and their OpenPGP messages.
# The imported targets of ceremony/ are not seen here: each directory finds its own.
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)
pkg_check_modules(GPGME REQUIRED IMPORTED_TARGET gpgme)

signer_module(signer_backup_crypto
  SOURCES secret.c keywrap.c shares.c
  HEADERS secret.h keywrap.h shares.h
  PUBLIC_DEPS signer_common PkgConfig::JANSSON
  PRIVATE_DEPS PkgConfig::SODIUM PkgConfig::GPGME PkgConfig::NETTLE)
