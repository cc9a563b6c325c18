# Backup targets: a directory or an S3 bucket (libcurl, its built-in AWS Signature V4).
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
signer_module(signer_backup_target
  SOURCES target.c target_dir.c target_s3.c target_s3_credentials.c target_s3_xml.c
  HEADERS target.h
  PUBLIC_DEPS signer_common
  PRIVATE_DEPS PkgConfig::CURL PkgConfig::SODIUM)
