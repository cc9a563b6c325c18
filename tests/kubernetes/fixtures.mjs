// node tests/kubernetes/fixtures.mjs [--signerctl PATH]: the negative fixtures. Each is a copy of
// deploy/kubernetes broken in one way (in its text, or in one parsed document, written back);
// each must be refused by the check meant for it, saying why. The unbroken copy must pass: a
// fixture then fails because of its one change.
import fs from 'node:fs';
import path from 'node:path';
import { check, deployDir, readFiles, root, YAML } from './manifests.mjs';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const signerctl = arg('--signerctl');
const baseFiles = readFiles();
const baseReadme = fs.readFileSync(path.join(deployDir, 'README.md'), 'utf8');
const baseGuide = (() => {
  try {
    return fs.readFileSync(path.join(root, 'docs/blockchain/adapter-operations.md'), 'utf8');
  } catch {
    return ''; // the check then says the guide has no scrape configuration
  }
})();

// edit(file, kind, name, fn): fn changes that document; the file is written back (YAML 1.1
// quoting, as kubectl reads it)
function editDoc(files, file, kind, name, fn) {
  const docs = YAML.parseAllDocuments(files[file], { version: '1.1' }).map((d) => d.toJS()).filter((d) => d);
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`fixture: no ${kind}/${name} in ${file}`);
  fn(doc);
  files[file] = docs.map((d) => YAML.stringify(d, { version: '1.1' })).join('---\n');
}
const text = (file, from, to) => (files) => {
  if (!files[file].includes(from)) throw new Error(`fixture: no '${from}' in ${file}`);
  files[file] = files[file].replace(from, to);
};
const doc = (file, kind, name, fn) => (files) => editDoc(files, file, kind, name, fn);
const sts = (fn) => doc('signerd-statefulset.yaml', 'StatefulSet', 'signerd', (d) => fn(d.spec.template.spec, d));
const signerdC = (fn) => sts((s) => fn(s.containers.find((c) => c.name === 'signerd'), s));
const solana = (fn) => doc('solana-adapter.yaml', 'Deployment', 'solana-adapter', (d) => fn(d.spec.template.spec.containers[0], d.spec.template.spec, d));
const netpol = (name, fn) => doc('networkpolicies.yaml', 'NetworkPolicy', name, fn);
const config = (from, to) => text('signerd-config.yaml', from, to);
const readme = (from, to) => (files, r) => {
  if (!r.text.includes(from)) throw new Error(`fixture: no '${from}' in README.md`);
  r.text = r.text.replaceAll(from, to);
};
// guideJob(JOB, fn): fn changes that job's relabel_configs in the guide's scrape configuration
const guideJob = (job, fn) => (files, r) => {
  const m = /```yaml\n((?:(?!```)[\s\S])*?\nscrape_configs:[\s\S]*?)```/.exec(r.guide);
  if (!m) throw new Error('fixture: no scrape configuration in the guide');
  const cfg = YAML.parse(m[1]);
  const j = cfg.scrape_configs.find((x) => x.job_name === job);
  if (!j) throw new Error(`fixture: no job ${job} in the guide`);
  j.relabel_configs = fn(j.relabel_configs || []);
  r.guide = r.guide.replace(m[1], YAML.stringify(cfg));
};
// guide(from, to): the guide's text changed
const guide = (from, to) => (files, r) => {
  if (!r.guide.includes(from)) throw new Error(`fixture: no '${from}' in the guide`);
  r.guide = r.guide.replace(from, to);
};
const sidecar = (name, fn) => sts((s) => fn(s.containers.find((c) => c.name === name), s));
const maintPod = (fn) => doc('maintenance/signerd-maintenance.yaml', 'Pod', 'signerd-maintenance', (d) => fn(d.spec.containers[0], d.spec));
const portRule = (rule) => (rule.source_labels || []).some((l) => /container_port/.test(l));
const addDoc = (file, yaml) => (files) => {
  files[file] += `---\n${yaml}`;
};

const fixtures = [
  // parsing
  ['yaml: an octal mode reads 0444 in kubectl, 444 in YAML 1.2', 'yaml', /reads differently/, text('signerd-statefulset.yaml', 'defaultMode: 292 # 0444', 'defaultMode: 0444')],
  ['yaml: a duplicate key', 'yaml', /[Mm]ap keys must be unique/, text('networkpolicies.yaml', '  podSelector: {}\n', '  podSelector: {}\n  podSelector: {}\n')],
  // kinds and the schema
  ['kind: a CRD kind (ServiceMonitor)', 'kind', /no Kubernetes kind ServiceMonitor/, addDoc('signerd-services.yaml', 'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: signerd\n  namespace: fanengagement\nspec: {}\n')],
  ['kind: a removed version (policy/v1beta1 PodDisruptionBudget)', 'kind', /policy\/v1beta1 is not a served GA version/, text('signerd-pdb.yaml', 'apiVersion: policy/v1', 'apiVersion: policy/v1beta1')],
  ['kind: a kind in the wrong group (apps/v1 Service)', 'kind', /no Kubernetes kind Service in apps\/v1/, text('signerd-services.yaml', 'apiVersion: v1\nkind: Service', 'apiVersion: apps/v1\nkind: Service')],
  ['schema: replicas a string', 'schema', /replicas must be integer/, sts((s, d) => { d.spec.replicas = 'one'; })],
  ['schema: a container without a name', 'schema', /containers\/0 must have required property name/, solana((c) => { delete c.name; })],
  ['schema: a probe port of the wrong type', 'schema', /port/, solana((c) => { c.livenessProbe.httpGet.port = { name: 'http' }; })],
  ['fields: livenessProbe.httpGet.paht', 'fields', /unknown field spec\.template\.spec\.containers\[0\]\.livenessProbe\.httpGet\.paht/, signerdC((c) => { c.livenessProbe.httpGet.paht = c.livenessProbe.httpGet.path; delete c.livenessProbe.httpGet.path; })],
  ['fields: securityContex', 'fields', /unknown field spec\.template\.spec\.securityContex$/, sts((s) => { s.securityContex = s.securityContext; })],
  ['fields: a misspelt NetworkPolicy peer (podSelecter)', 'fields', /podSelecter/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from[0].podSelecter = d.spec.ingress[0].from[0].podSelector; delete d.spec.ingress[0].from[0].podSelector; })],
  ['fields: a misspelt HPA field (averageUtilisation)', 'fields', /averageUtilisation/, doc('solana-adapter.yaml', 'HorizontalPodAutoscaler', 'solana-adapter-hpa', (d) => { d.spec.metrics[0].resource.target.averageUtilisation = 70; })],
  // metadata
  ['metadata: a Service in the default namespace', 'metadata', /namespace is default/, doc('signerd-services.yaml', 'Service', 'signerd', (d) => { d.metadata.namespace = 'default'; })],
  ['metadata: a name defined twice', 'metadata', /defined twice/, addDoc('signerd-pdb.yaml', 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: signerd\n  namespace: fanengagement\nautomountServiceAccountToken: false\n')],
  ['secrets: a Secret in the manifests', 'secrets', /a Secret in the manifests/, addDoc('signerd-config.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: signerd-token-pin\n  namespace: fanengagement\nstringData:\n  token-pin: "1234"\n')],
  ['kustomization: a manifest not listed', 'kustomization', /networkpolicies.yaml is not in resources/, text('kustomization.yaml', '  - networkpolicies.yaml\n', '')],
  ['kustomization: a resource that is not there', 'kustomization', /names ingress.yaml/, text('kustomization.yaml', '  - networkpolicies.yaml\n', '  - networkpolicies.yaml\n  - ingress.yaml\n')],
  // selectors and ports
  ['selectors: a Service selecting nothing', 'selectors', /Service\/signerd.*selects no pods/, doc('signerd-services.yaml', 'Service', 'signerd', (d) => { d.spec.selector['app.kubernetes.io/instance'] = 'signerd-staging'; })],
  ['selectors: a PDB selecting nothing', 'selectors', /PodDisruptionBudget\/solana-adapter.*selects no pods/, doc('solana-adapter.yaml', 'PodDisruptionBudget', 'solana-adapter', (d) => { d.spec.selector.matchLabels['app.kubernetes.io/name'] = 'solana'; })],
  ['selectors: the signerd PDB selecting nothing', 'selectors', /PodDisruptionBudget\/signerd.*selects no pods/, doc('signerd-pdb.yaml', 'PodDisruptionBudget', 'signerd', (d) => { d.spec.selector.matchLabels['app.kubernetes.io/instance'] = 'signerd'; })],
  ['selectors: an HPA aimed at no Deployment', 'selectors', /scaleTargetRef Deployment\/solana-adaptor/, doc('solana-adapter.yaml', 'HorizontalPodAutoscaler', 'solana-adapter-hpa', (d) => { d.spec.scaleTargetRef.name = 'solana-adaptor'; })],
  ['selectors: a NetworkPolicy selecting nothing', 'selectors', /NetworkPolicy\/adapters-egress.*selects no pods/, netpol('adapters-egress', (d) => { d.spec.podSelector.matchLabels['app.kubernetes.io/component'] = 'adapter'; })],
  ['selectors: a Deployment whose selector misses its pods', 'selectors', /spec.selector does not match/, solana((c, s, d) => { d.spec.selector.matchLabels['app.kubernetes.io/name'] = 'solana'; })],
  ['selectors: a StatefulSet Service that is not headless', 'selectors', /is not headless/, doc('signerd-services.yaml', 'Service', 'signerd-headless', (d) => { delete d.spec.clusterIP; })],
  ['ports: a Service targetPort no container declares', 'ports', /targetPort metric is not a port/, doc('solana-adapter.yaml', 'Service', 'solana-adapter', (d) => { d.spec.ports[1].targetPort = 'metric'; })],
  ['probes: a probe port no container declares', 'probes', /readinessProbe port healthz is not a port/, solana((c) => { c.readinessProbe.httpGet.port = 'healthz'; })],
  ['probes: an adapter without a liveness probe', 'probes', /no livenessProbe/, solana((c) => { delete c.livenessProbe; })],
  ['references: prometheus.io/port no container declares', 'references', /prometheus.io\/port 9811/, sts((s, d) => { d.spec.template.metadata.annotations['prometheus.io/port'] = '9811'; })],
  // signerd
  ['signerd: readiness on /healthz', 'signerd', /readinessProbe is on \/healthz, not \/readyz/, signerdC((c) => { c.readinessProbe.httpGet.path = '/healthz'; })],
  ['signerd: liveness on /readyz (a token outage would restart it)', 'signerd', /livenessProbe is on \/readyz, not \/healthz/, signerdC((c) => { c.livenessProbe.httpGet.path = '/readyz'; })],
  ['signerd: no startup probe', 'signerd', /no startupProbe/, signerdC((c) => { delete c.startupProbe; })],
  ['signerd: a probe on the API port', 'signerd', /livenessProbe is not on the ops port/, signerdC((c) => { c.livenessProbe.httpGet.port = 'api'; })],
  ['signerd: a grace period no longer than the drain', 'signerd', /terminationGracePeriodSeconds/, sts((s) => { s.terminationGracePeriodSeconds = 30; })],
  ['signerd: two replicas on one token', 'signerd', /replicas is not 1/, sts((s, d) => { d.spec.replicas = 2; })],
  ['signerd: ops listener on loopback (the kubelet cannot probe it)', 'signerd', /ops.listen 127.0.0.1:9810 is loopback/, config('listen: 0.0.0.0:9810', 'listen: 127.0.0.1:9810')],
  ['signerd: container port not the config\'s', 'signerd', /container port api is not signerd.yaml's api.listen port 8444/, config('listen: 0.0.0.0:8443', 'listen: 0.0.0.0:8444')],
  ['signerd: the PIN Secret mounted as a directory (symbolic links)', 'signerd', /O_NOFOLLOW/, signerdC((c) => { const m = c.volumeMounts.find((x) => x.name === 'token-pin'); m.mountPath = '/run/credentials/signerd'; delete m.subPath; })],
  ['signerd: no CREDENTIALS_DIRECTORY', 'signerd', /without CREDENTIALS_DIRECTORY/, signerdC((c) => { c.env = c.env.filter((e) => e.name !== 'CREDENTIALS_DIRECTORY'); })],
  ['signerd: the PIN as a pin_file', 'signerd', /token.pin_file/, config('pin_credential: token-pin', 'pin_file: /run/credentials/signerd/token-pin')],
  ['signerd: the TLS key straight from its Secret', 'signerd', /tls.key .* comes straight from a Secret/, sts((s) => { s.volumes = s.volumes.map((v) => (v.name === 'tls-runtime' ? { name: 'tls-runtime', secret: { secretName: 'signerd-server-tls', defaultMode: 256 } } : v)); })],
  ['signerd: the config as a ConfigMap directory (0777)', 'signerd', /world-writable/, signerdC((c) => { c.volumeMounts = c.volumeMounts.filter((m) => m.name !== 'config').concat([{ name: 'config', mountPath: '/etc/signerd', readOnly: true }]); })],
  ['signerd: the audit log on an emptyDir', 'signerd', /audit.path .* not on a volume of volumeClaimTemplates/, sts((s, d) => { d.spec.volumeClaimTemplates = d.spec.volumeClaimTemplates.filter((t) => t.metadata.name !== 'audit'); s.volumes.push({ name: 'audit', emptyDir: {} }); })],
  ['signerd: the policy path in no volume', 'signerd', /policy.path \/etc\/signer\/policy.yaml is in no volume/, config('path: /etc/signerd/policy.yaml', 'path: /etc/signer/policy.yaml')],
  // env
  ['env: a value from a Secret', 'env', /takes its value from the Secret signerd-token-pin/, signerdC((c) => { c.env.push({ name: 'SIGNERD_TOKEN_PIN', valueFrom: { secretKeyRef: { name: 'signerd-token-pin', key: 'token-pin' } } }); })],
  ['env: a secret\'s name (SOLANA_RPC_API_KEY)', 'env', /SOLANA_RPC_API_KEY: a secret's name/, solana((c) => { c.env.push({ name: 'SOLANA_RPC_API_KEY', value: 'x' }); })],
  ['env: a PIN variable', 'env', /SIGNERD_PIN: a secret's name/, signerdC((c) => { c.env.push({ name: 'SIGNERD_PIN', value: '1234' }); })],
  ['env: envFrom a Secret', 'env', /envFrom the Secret solana-rpc/, solana((c) => { c.envFrom = [{ secretRef: { name: 'solana-rpc' } }]; })],
  ['env: credentials in a URL', 'env', /SOLANA_RPC_URL holds key material or credentials/, solana((c) => { c.env.push({ name: 'SOLANA_RPC_URL', value: 'https://user:hunter2@rpc.example' }); })],
  // security
  ['security: a writable root filesystem (init container)', 'security', /container tls-files: readOnlyRootFilesystem is not true/, sts((s) => { s.initContainers[0].securityContext.readOnlyRootFilesystem = false; })],
  ['security: capabilities not dropped', 'security', /capabilities.drop lacks ALL/, solana((c) => { c.securityContext.capabilities.drop = []; })],
  ['security: an added capability', 'security', /adds capabilities IPC_LOCK/, signerdC((c) => { c.securityContext.capabilities.add = ['IPC_LOCK']; })],
  ['security: no seccomp profile', 'security', /seccompProfile unset/, solana((c, s) => { delete c.securityContext.seccompProfile; delete s.securityContext.seccompProfile; })],
  ['security: privilege escalation allowed', 'security', /allowPrivilegeEscalation is not false/, signerdC((c) => { c.securityContext.allowPrivilegeEscalation = true; })],
  ['security: runAsNonRoot false', 'security', /runAsNonRoot is not true/, sts((s) => { s.securityContext.runAsNonRoot = false; delete s.initContainers[0].securityContext.runAsNonRoot; })],
  ['security: the service account token mounted', 'security', /automountServiceAccountToken/, solana((c, s) => { delete s.automountServiceAccountToken; })],
  ['resources: no requests', 'resources', /no cpu and memory requests/, solana((c) => { delete c.resources.requests; })],
  // autoscaling
  ['hpa: a Deployment that sets replicas', 'hpa', /sets replicas/, solana((c, s, d) => { d.spec.replicas = 3; })],
  ['hpa: no CPU request for the Utilization target', 'hpa', /no CPU request/, solana((c) => { delete c.resources.requests.cpu; })],
  ['hpa: a PDB that blocks every disruption at the minimum', 'hpa', /leaves no disruption/, doc('solana-adapter.yaml', 'PodDisruptionBudget', 'solana-adapter', (d) => { d.spec.minAvailable = 2; })],
  ['hpa: not the seed\'s numbers', 'hpa', /not min 2, max 10/, doc('polygon-adapter.yaml', 'HorizontalPodAutoscaler', 'polygon-adapter-hpa', (d) => { d.spec.maxReplicas = 5; })],
  ['hpa: no behavior', 'hpa', /no behavior/, doc('polygon-adapter.yaml', 'HorizontalPodAutoscaler', 'polygon-adapter-hpa', (d) => { delete d.spec.behavior; })],
  // network policy
  ['netpol: no default deny', 'netpol', /no default deny of ingress/, netpol('default-deny', (d) => { d.spec.podSelector = { matchLabels: { 'app.kubernetes.io/name': 'signerd' } }; })],
  ['netpol: the API open to every namespace', 'netpol', /admits namespaceSelector \{\} to signerd's API port/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from.push({ namespaceSelector: {} }); })],
  ['netpol: the API open to the backend too', 'netpol', /a selector that holds only for the adapters/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from[0].podSelector.matchExpressions[0].values.push('fanengagement-backend'); })],
  ['netpol: the API open to every pod', 'netpol', /every pod of the namespace/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from = [{ podSelector: {} }]; })],
  ['netpol: the API open to an address range', 'netpol', /ipBlock 10.0.0.0\/8/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from.push({ ipBlock: { cidr: '10.0.0.0/8' } }); })],
  ['netpol: the API open to every source', 'netpol', /admits every source to signerd's API port/, netpol('signerd-api-from-adapters', (d) => { delete d.spec.ingress[0].from; })],
  ['netpol: monitoring let in on every port (the API too)', 'netpol', /to signerd's API port: only the adapters/, netpol('signerd-ops-from-monitoring', (d) => { delete d.spec.ingress[0].ports; })],
  ['netpol: the ops port open to every namespace', 'netpol', /only the monitoring namespace may/, netpol('signerd-ops-from-monitoring', (d) => { d.spec.ingress[0].from[0].namespaceSelector = {}; })],
  ['netpol: the adapters cannot reach signerd', 'netpol', /solana-adapter: no egress to signerd's API port/, netpol('adapters-egress', (d) => { d.spec.egress.splice(1, 1); })],
  ['netpol: the adapters without DNS', 'netpol', /no egress to DNS/, netpol('adapters-egress', (d) => { d.spec.egress.splice(0, 1); })],
  ['netpol: an adapter missing from the API rule', 'netpol', /polygon-adapter: not admitted/, netpol('signerd-api-from-adapters', (d) => { d.spec.ingress[0].from[0].podSelector.matchExpressions[0].values = ['solana-adapter']; })],
  ['netpol: signerd allowed out anywhere', 'netpol', /lets StatefulSet\/signerd open \{"to":\[\{"ipBlock":\{"cidr":"0.0.0.0\/0"\}\}\]\}/, addDoc('networkpolicies.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: signerd-egress\n  namespace: fanengagement\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: signerd\n  policyTypes: ["Egress"]\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 0.0.0.0/0\n')],
  ['netpol: the textfile port open to every namespace', 'netpol', /to the readiness textfile's port: only the monitoring namespace may/, addDoc('networkpolicies.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: textfile-open\n  namespace: fanengagement\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: signerd\n  policyTypes: ["Ingress"]\n  ingress:\n    - from:\n        - namespaceSelector: {}\n      ports:\n        - protocol: TCP\n          port: textfile\n')],
  ['netpol: the textfile port closed to monitoring (no scrape of the readiness series)', 'netpol', /the monitoring namespace cannot reach the readiness textfile's port/, netpol('signerd-ops-from-monitoring', (d) => { d.spec.ingress[0].ports = d.spec.ingress[0].ports.filter((p) => p.port !== 'textfile'); })],
  ['netpol: signerd\'s pod may reach the cluster\'s pods', 'netpol', /lets StatefulSet\/signerd open .*podSelector/, netpol('signerd-egress-backup-targets', (d) => { d.spec.egress.push({ to: [{ podSelector: {} }] }); })],
  ['netpol: signerd\'s pod cannot reach the backup targets', 'netpol', /StatefulSet\/signerd: no egress to the backup targets/, netpol('signerd-egress-backup-targets', (d) => { d.spec.egress.splice(1, 1); })],
  ['netpol: the maintenance pod cannot reach the backup targets', 'netpol', /Pod\/signerd-maintenance: no egress to the backup targets/, netpol('signerd-egress-backup-targets', (d) => { d.spec.podSelector.matchExpressions[0].values = ['signerd']; })],
  // the containers beside signerd: readiness textfile, state backups, node_exporter
  ['sidecar: no signerctl loop (nothing writes the readiness series)', 'sidecar', /no container runs signerctl readiness --textfile/, sts((s) => { s.containers = s.containers.filter((c) => c.name !== 'signerctl'); })],
  ['sidecar: readiness without --textfile', 'sidecar', /runs signerctl readiness without --textfile/, sidecar('signerctl', (c) => { c.command[2] = c.command[2].replace(' --textfile /textfile/signerd-readiness.prom', ''); })],
  ['sidecar: no hourly state backup', 'sidecar', /runs no signerctl backup state/, sidecar('signerctl', (c) => { c.command[2] = c.command[2].replace('signerctl --config /etc/signerd/signerd.yaml backup state', 'true'); })],
  ['sidecar: the loop without its 5-minute sleep', 'sidecar', /not every 5 minutes/, sidecar('signerctl', (c) => { c.command[2] = c.command[2].replace('sleep 300', 'sleep 3600'); })],
  ['sidecar: the loop ignores SIGTERM', 'sidecar', /no trap on TERM/, sidecar('signerctl', (c) => { c.command[2] = c.command[2].replace(/^\s*trap .*$/m, ''); })],
  ['sidecar: signerctl without the textfile volume', 'signerd', /container signerctl: the readiness textfile \/textfile\/signerd-readiness.prom is in no volume/, sidecar('signerctl', (c) => { c.volumeMounts = c.volumeMounts.filter((m) => m.name !== 'textfile'); })],
  ['sidecar: the textfile on the audit volume (not an emptyDir)', 'signerd', /the readiness textfile .* is not on an emptyDir/, sidecar('signerctl', (c) => { c.command[2] = c.command[2].replace('--textfile /textfile/', '--textfile /var/log/signerd/'); })],
  ['sidecar: node_exporter reading another directory', 'sidecar', /--collector.textfile.directory=\/var\/lib\/node-exporter is not the directory of \/textfile\/signerd-readiness.prom/, sidecar('node-exporter', (c) => { c.args = c.args.map((a) => a.replace('directory=/textfile', 'directory=/var/lib/node-exporter')); })],
  ['sidecar: node_exporter without the textfile volume', 'sidecar', /does not mount the textfile volume textfile/, sidecar('node-exporter', (c) => { c.volumeMounts = []; })],
  ['sidecar: node_exporter with its default collectors', 'sidecar', /without --collector.disable-defaults/, sidecar('node-exporter', (c) => { c.args = c.args.filter((a) => a !== '--collector.disable-defaults'); })],
  ['sidecar: node_exporter on another port than its textfile port', 'sidecar', /port textfile 9100 is not node_exporter's --web.listen-address port 9101/, sidecar('node-exporter', (c) => { c.args = c.args.map((a) => a.replace(':9100', ':9101')); })],
  ['sidecar: node_exporter given the token volume too', 'sidecar', /mounts more than the textfile volume/, sidecar('node-exporter', (c) => { c.volumeMounts.push({ name: 'tokens', mountPath: '/var/lib/signerd/tokens', readOnly: true }); })],
  ['probes: a readinessProbe beside signerd', 'probes', /container node-exporter: a readinessProbe beside signerd/, sidecar('node-exporter', (c) => { c.readinessProbe = c.livenessProbe; })],
  ['signerd: the S3 credentials straight from their Secret', 'signerd', /container signerctl: backup target region-a's credentials_file \/run\/signerd\/backup\/region-a.ini comes straight from a Secret/, sts((s) => { s.containers.find((c) => c.name === 'signerctl').volumeMounts.find((m) => m.name === 'backup-runtime').name = 'backup-s3'; })],
  ['signerd: the custodians\' keyring read-only (GnuPG cannot verify)', 'signerd', /ceremonies.gnupg_home .* is mounted read-only/, sidecar('signerctl', (c) => { c.volumeMounts.find((m) => m.name === 'custodians-runtime').readOnly = true; })],
  ['signerd: the custodians\' keyring straight from its Secret', 'signerd', /ceremonies.gnupg_home .* is not on an emptyDir/, sidecar('signerctl', (c) => { c.volumeMounts.find((m) => m.name === 'custodians-runtime').name = 'custodians'; })],
  ['signerd: the token read-only for the state backup', 'signerd', /container signerctl: the SoftHSM2 tokendir .* is mounted read-only/, sidecar('signerctl', (c) => { c.volumeMounts.find((m) => m.name === 'tokens').readOnly = true; })],
  ['signerd: the SO PIN in signerd-0\'s config', 'signerd', /signerd.yaml names token.so_pin_file/, config('      pin_credential: token-pin\n      environment:', '      pin_credential: token-pin\n      so_pin_file: /run/credentials/signerd/so-pin\n      environment:')],
  ['prometheus: the guide\'s node job a static target (never the pod\'s textfile)', 'prometheus', /job node misses StatefulSet\/signerd port textfile/, guideJob('node', (rc) => rc.filter((x) => !portRule(x)).concat([{ source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'node-exporter', action: 'keep' }]))],
  ['prometheus: the guide\'s node job on every port of signerd-0', 'prometheus', /job node scrapes StatefulSet\/signerd port ops/, guideJob('node', (rc) => rc.filter((x) => !portRule(x)))],
  // the maintenance pod's config
  ['maintenance: its config drifted from signerd.yaml', 'maintenance', /signerd-maintenance.yaml differs from signerd.yaml in .workers/, config('workers: 2\n    api:\n      listen:', 'workers: 4\n    api:\n      listen:')],
  ['maintenance: its config without the SO PIN', 'maintenance', /has no token.so_pin_file/, config('      # the SO PIN: the Secret signerd-so-pin, mounted in the maintenance pod alone\n      so_pin_file: /run/credentials/signerd/so-pin\n', '')],
  ['maintenance: the pod on signerd-0\'s config', 'maintenance', /is not the ConfigMap signerd-config's signerd-maintenance.yaml/, maintPod((c) => { c.volumeMounts.find((m) => m.mountPath === '/etc/signerd/signerd.yaml').subPath = 'signerd.yaml'; })],
  ['maintenance: no SO PIN file in the pod', 'signerd', /token.so_pin_file \/run\/credentials\/signerd\/so-pin is in no volume/, maintPod((c) => { c.volumeMounts = c.volumeMounts.filter((m) => m.name !== 'so-pin'); })],
  // the guide's adapter environment against the Deployments
  ['guide-env: a variable the Deployments do not have (the old ADAPTER_NAME)', 'guide-env', /gives ADAPTER_NAME = solana for solana-adapter, whose Deployment has no ADAPTER_NAME/, guide('| `ADAPTER` | `solana`', '| `ADAPTER_NAME` | `solana`')],
  ['guide-env: a Deployment variable the guide does not list', 'guide-env', /solana-adapter's RPC_WS_URL is not in the guide's adapter table/, solana((c) => { c.env.push({ name: 'RPC_WS_URL', value: 'wss://rpc.example' }); })],
  ['guide-env: a value that differs (the metrics port)', 'guide-env', /gives METRICS_LISTEN = 0.0.0.0:9090 for polygon-adapter; its Deployment has 0.0.0.0:9100/, doc('polygon-adapter.yaml', 'Deployment', 'polygon-adapter', (d) => { d.spec.template.spec.containers[0].env.find((e) => e.name === 'METRICS_LISTEN').value = '0.0.0.0:9100'; })],
  ['guide-env: an adapter variable given to the other adapter too', 'guide-env', /gives no value of POLYGON_CHAIN_ID for solana-adapter/, solana((c) => { c.env.push({ name: 'POLYGON_CHAIN_ID', value: '137' }); })],
  ['guide-env: two variables in one row', 'guide-env', /names 2 variables: one per row/, guide('| `HTTP_LISTEN` |', '| `HTTP_LISTEN`, `HTTP_PORT` |')],
  // references and the documented Secrets
  ['references: a subPath the ConfigMap lacks', 'references', /has no key polcy.yaml/, signerdC((c) => { c.volumeMounts.find((m) => m.subPath === 'policy.yaml').subPath = 'polcy.yaml'; })],
  ['references: a mount of no volume', 'references', /volumeMount tokenz names no volume/, signerdC((c) => { c.volumeMounts.find((m) => m.name === 'tokens').name = 'tokenz'; })],
  ['references: a ServiceAccount that is not there', 'references', /serviceAccountName solana is not a ServiceAccount/, solana((c, s) => { s.serviceAccountName = 'solana'; })],
  ['references: a _FILE variable naming a key the Secret lacks', 'references', /the Secret solana-adapter-signerd-client has no key tls.key/, solana((c) => { c.env.find((e) => e.name === 'SIGNERD_CLIENT_KEY_FILE').value = '/etc/adapter/tls/tls.key'; })],
  ['references: a maintenance claim no StatefulSet makes', 'references', /no claim tokens-signerd-1/, doc('maintenance/signerd-maintenance.yaml', 'Pod', 'signerd-maintenance', (d) => { d.spec.volumes.find((v) => v.name === 'tokens').persistentVolumeClaim.claimName = 'tokens-signerd-1'; })],
  ['secrets: a Secret README.md does not create', 'secrets', /the Secret signerd-tls is not created/, sts((s) => { s.volumes.find((v) => v.name === 'server-tls').secret.secretName = 'signerd-tls'; })],
  ['secrets: a key README.md\'s Secret lacks', 'secrets', /has no key client-ca.crl/, readme(' --from-file=client-ca.crl="$pki"/client-ca.crl', '')],
  ['secrets: a Secret from a literal', 'secrets', /from a literal/, readme('create secret generic signerd-token-pin --from-file=token-pin=/etc/signerd/token-pin', 'create secret generic signerd-token-pin --from-literal=token-pin=1234')],
  ['prometheus: the guide\'s signerd job without its port rule (the API port too)', 'prometheus', /job signerd scrapes StatefulSet\/signerd port api/, guideJob('signerd', (rc) => rc.filter((x) => !portRule(x)))],
  ['prometheus: the guide\'s adapters job on a port the adapters do not have', 'prometheus', /job blockchain-adapters misses Deployment\/solana-adapter port metrics/, guideJob('blockchain-adapters', (rc) => rc.map((x) => (portRule(x) ? { ...x, regex: 'no-such-port' } : x)))],
];
if (signerctl) {
  fixtures.push(
    ['signerd-config: an unknown field in signerd.yaml', 'signerd-config', /unknown field 'colour'/, config('workers: 2\n', 'workers: 2\n    colour: red\n')],
    ['signerd-config: a listen address signerd cannot read', 'signerd-config', /does not load all of signerd.yaml.*84430/, config('listen: 0.0.0.0:8443', 'listen: 0.0.0.0:84430')],
    ['signerd-config: a custodian placeholder that is no fingerprint', 'signerd-config', /does not load all of signerd.yaml.*not a 40-hex-digit OpenPGP fingerprint/, config('"0000000000000000000000000000000000000001" # REPLACE', '"REPLACE-WITH-CUSTODIAN-1-FINGERPRINT"')],
    ['signerd-config: a quorum above the custodians', 'signerd-config', /does not load all of signerd-maintenance.yaml/, config('quorum: {default: 2, key-compromise: 1}\n  softhsm2.conf', 'quorum: {default: 4, key-compromise: 1}\n  softhsm2.conf')],
    ['signerd-config: a backup target that is neither s3 nor dir', 'signerd-config', /needs exactly one of s3 and dir/, config('        - name: region-b\n          s3:', '        - name: region-b\n          dir: /mnt/b\n          s3:')],
    ['signerd-config: a policy grant for an unknown client', 'signerd-config', /policy lint refuses/, config('- client: solana-adapter\n', '- client: solana-adaptor\n')],
  );
}

let passed = 0;
let failed = 0;
const base = await check({ ...baseFiles }, { readme: baseReadme, guide: baseGuide, signerctl });
if (base.length) {
  failed++;
  console.log('not ok: the unbroken manifests do not pass:');
  for (const f of base) console.log(`  [${f.check}] ${f.where}: ${f.msg}`);
}
for (const [name, want, pattern, change] of fixtures) {
  const files = { ...baseFiles };
  const r = { text: baseReadme, guide: baseGuide };
  try {
    change(files, r);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.message}`);
    continue;
  }
  const found = await check(files, { readme: r.text, guide: r.guide, signerctl });
  const hit = found.find((f) => f.check === want && pattern.test(`${f.where}: ${f.msg}`));
  if (hit) {
    passed++;
    console.log(`ok - ${name}: [${hit.check}] ${hit.where}: ${hit.msg.split('\n')[0]}`);
  } else {
    failed++;
    console.log(`not ok - ${name}: no [${want}] ${pattern}; found:`);
    for (const f of found) console.log(`    [${f.check}] ${f.where}: ${f.msg.split('\n')[0]}`);
  }
}
console.log(`kubernetes_fixtures: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
