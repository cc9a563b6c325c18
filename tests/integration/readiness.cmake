# signerctl readiness (API.md section 7) on a healthy dev environment, a healthy --ceremonies
# one, and each broken in turn (tests/integration/readiness.sh).
add_test(NAME readiness COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/readiness.sh
  $<TARGET_FILE:signerctl> ${PROJECT_SOURCE_DIR} $<TARGET_FILE:signerd>)
set_tests_properties(readiness PROPERTIES LABELS "integration" TIMEOUT 300
  ENVIRONMENT "${SIGNER_TEST_ENV}")
