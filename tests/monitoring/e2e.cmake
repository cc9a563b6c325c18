# Monitoring end to end: Prometheus and Alertmanager (Debian's prometheus and
# prometheus-alertmanager, which tools/deps installs) with docs/blockchain/prometheus-alerts.yaml
# and docs/blockchain/alertmanager.yml, scraping a real signerd; a Node.js webhook receiver stands
# in for PagerDuty and Slack. Without Node.js (a machine set up by tools/quickstart) it is left out.
if(NODE)
  add_test(NAME monitoring_e2e COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e.sh
    $<TARGET_FILE:signerd> $<TARGET_FILE:signerctl> ${PROJECT_SOURCE_DIR} ${NODE})
  set_tests_properties(monitoring_e2e PROPERTIES LABELS "integration" TIMEOUT 300
    ENVIRONMENT "${SIGNER_TEST_ENV}")
else()
  message(WARNING "node not found: the monitoring test monitoring_e2e is left out; tools/deps installs Node.js")
endif()
