# The Kubernetes manifests (deploy/kubernetes), offline: no cluster, no kubectl.
#  kubernetes_manifests  every document parsed and validated against the Kubernetes OpenAPI
#                        schema (kubernetes-models), unknown fields refused, the cross checks
#                        (selectors, ports, probes, env, security context, network policy,
#                        signerd's file rules), signerd.yaml loaded by signerctl, the policy linted
#  kubernetes_fixtures   a broken copy per check, each refused by its check
#  kubernetes_pod        signerd started on the manifests in emulated pods (root: mount and
#                        network namespaces; skipped, exit 77, without them)
# Node.js and the client tests' npm packages (tools/deps: npm ci in tests/clients) are needed;
# NODE is found by tests/CMakeLists.txt.
if(NODE)
  set(K8S_DIR ${CMAKE_CURRENT_SOURCE_DIR}/kubernetes)
  add_test(NAME kubernetes_manifests COMMAND ${NODE} ${K8S_DIR}/check.mjs
    --signerctl $<TARGET_FILE:signerctl>)
  add_test(NAME kubernetes_fixtures COMMAND ${NODE} ${K8S_DIR}/fixtures.mjs
    --signerctl $<TARGET_FILE:signerctl>)
  add_test(NAME kubernetes_pod COMMAND ${K8S_DIR}/pod.sh $<TARGET_FILE:signerd>
    $<TARGET_FILE:signerctl> ${PROJECT_SOURCE_DIR} ${NODE})
  set_tests_properties(kubernetes_manifests kubernetes_fixtures PROPERTIES
    LABELS "integration" TIMEOUT 300 ENVIRONMENT "${SIGNER_TEST_ENV}")
  set_tests_properties(kubernetes_pod PROPERTIES LABELS "integration" TIMEOUT 300
    SKIP_RETURN_CODE 77 ENVIRONMENT "${SIGNER_TEST_ENV}")
else()
  message(WARNING "node not found: the Kubernetes manifest tests (kubernetes_*) are left out")
endif()
