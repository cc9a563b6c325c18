# The runbooks of docs/blockchain/adapter-operations.md run as written: every ```sh runbook block,
# in order, against a development environment put in its runbook's broken state
# (tests/integration/runbooks.sh)
add_test(NAME runbooks COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/runbooks.sh
  $<TARGET_FILE:signerctl> ${PROJECT_SOURCE_DIR} $<TARGET_FILE:signerd>)
set_tests_properties(runbooks PROPERTIES LABELS "integration" TIMEOUT 600
  ENVIRONMENT "${SIGNER_TEST_ENV}")
