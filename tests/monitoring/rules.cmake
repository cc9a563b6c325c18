# The alert rules and the dashboard under promtool (docs/blockchain/prometheus-alerts.yaml,
# grafana-dashboard.json): promtool and prometheus from PATH (Debian's prometheus, tools/deps).
#   monitoring_rules      check rules, the unit tests of every alert, what Prometheus loads
#                         (the contract's alerts, severities, annotations, runbook headings)
#   monitoring_sketch     the seed's sketch fails its scenarios, each for its bug; ours passes them
#   monitoring_dashboard  the dashboard's structure, and every panel query parsed and evaluated
foreach(t rules sketch dashboard)
  add_test(NAME monitoring_${t} COMMAND ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${PROJECT_SOURCE_DIR})
  set_tests_properties(monitoring_${t} PROPERTIES LABELS "monitoring" TIMEOUT 120)
endforeach()
