# The backup key's crypto against references: RFC 5649's vectors and OpenSSL's
# EVP_aes_*_wrap_pad, OpenSSL's Ed25519 PKCS#8, libgfshare's shares (both ways) and gpg itself
# (in a throw-away GNUPGHOME). OpenSSL and libgfshare are the test's only: the module has
# neither. Paths are relative to tests/, whose CMakeLists.txt includes this file.
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(GFSHARE REQUIRED IMPORTED_TARGET libgfshare)
signer_test(test_backup_crypto SOURCES unit/backup/test_crypto.c LABELS unit
  LIBS signer_backup_crypto PkgConfig::LIBCRYPTO PkgConfig::GFSHARE PkgConfig::SODIUM)
