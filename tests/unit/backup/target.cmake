# Backup targets (backup/target.h): the cmocka suite against a directory, and against S3 when
# SIGNER_TEST_S3_* name a server; the integration test runs it against s3rver behind a proxy
# that checks every request's AWS Signature V4 (tests/support/s3-region.mjs, .sh).
signer_test(test_backup_target SOURCES unit/backup/test_target.c LABELS unit
  LIBS signer_backup_target PkgConfig::SODIUM INCLUDES ${PROJECT_SOURCE_DIR}/backup)
add_test(NAME backup_target COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/backup_target.sh
  $<TARGET_FILE:test_backup_target> ${PROJECT_SOURCE_DIR})
set_tests_properties(backup_target PROPERTIES LABELS "integration" TIMEOUT 300
  ENVIRONMENT "${SIGNER_TEST_ENV}")
