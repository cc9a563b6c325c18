// The Kubernetes manifests of deploy/kubernetes, checked offline (no cluster, no kubectl):
// every document parsed (yaml), validated against the Kubernetes OpenAPI schema
// (kubernetes-models' ajv validators), every field name known to that schema, and the cross
// checks a schema cannot make (selectors, ports, probes, secrets, security context, network
// policy, signerd's own file rules and config loader). A library: check.mjs runs it on the
// manifests, fixtures.mjs on broken copies of them, podspec.mjs hands a pod to the emulation.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const deployDir = path.join(root, 'deploy/kubernetes');
const clientsDir = path.join(root, 'tests/clients');
const requireClients = createRequire(path.join(clientsDir, 'package.json'));
const YAML = requireClients('yaml');
const modelsDir = path.join(clientsDir, 'node_modules/kubernetes-models');

export const NAMESPACE = 'fanengagement';
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume',
  'StorageClass', 'PriorityClass', 'CustomResourceDefinition', 'IngressClass', 'RuntimeClass']);

// ---- the models: every kind kubernetes-models knows, by apiVersion and kind ----

let kindsCache;
export async function kinds() {
  if (kindsCache) return kindsCache;
  const pkg = JSON.parse(fs.readFileSync(path.join(modelsDir, 'package.json'), 'utf8'));
  const table = new Map();
  for (const key of Object.keys(pkg.exports)) {
    // "./v1", "./apps/v1": a group version's index of models
    const m = /^\.\/(?:([a-z0-9.-]+)\/)?(v[0-9a-z]+)$/.exec(key);
    if (!m) continue;
    const mod = await import(pathToFileURL(path.join(modelsDir, key, 'index.js')).href);
    for (const value of Object.values(mod)) {
      if (typeof value === 'function' && typeof value.apiVersion === 'string' &&
          typeof value.kind === 'string')
        table.set(`${value.apiVersion} ${value.kind}`, value);
    }
  }
  kindsCache = table;
  return table;
}

// An API version the current Kubernetes serves: kubernetes-models also models the alpha and
// beta versions that were removed (policy/v1beta1, autoscaling/v2beta2, extensions/v1beta1).
const servedVersion = (apiVersion) => !/(alpha|beta)/.test(apiVersion);

// The schema's validator run on a proxy of the document that records which fields it reads. The
// validators (ajv, generated from the OpenAPI schema) do not reject unknown fields (the schema
// has no additionalProperties: false), but they read every field the schema knows; a field
// they never read, in an object whose keys they never enumerate (maps such as labels are
// enumerated), is not in the schema: a misspelt field, which the API server would drop (or
// reject under strict field validation).
function validateRecording(Model, doc) {
  const info = new WeakMap();
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || typeof v !== 'object') return v;
    if (proxies.has(v)) return proxies.get(v);
    const rec = { read: new Set(), enumerated: false };
    info.set(v, rec);
    const p = new Proxy(v, {
      get(t, k, r) {
        if (typeof k === 'string') rec.read.add(k);
        return wrap(Reflect.get(t, k, r));
      },
      has(t, k) {
        if (typeof k === 'string') rec.read.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        rec.enumerated = true;
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(v, p);
    return p;
  };
  const errors = [];
  try {
    Model.prototype.validate.call(wrap(doc));
  } catch (e) {
    errors.push(e.message);
  }
  const unknown = [];
  const walk = (v, where) => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${where}[${i}]`));
      return;
    }
    const rec = info.get(v);
    for (const [k, x] of Object.entries(v)) {
      if (rec && !rec.enumerated && !rec.read.has(k)) unknown.push(`${where}.${k}`);
      else walk(x, `${where}.${k}`);
    }
  };
  walk(doc, '');
  return { errors, unknown: unknown.map((u) => u.replace(/^\./, '')) };
}

// ---- loading ----

export function manifestFiles(dir = deployDir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

// files: {relative name: text}. Returns {docs: [{file, index, doc}], kustomization, findings}
export function parseFiles(files) {
  const findings = [];
  const docs = [];
  let kustomization = null;
  for (const [file, text] of Object.entries(files)) {
    // kubectl reads YAML as go-yaml (YAML 1.1: 0440 is octal, yes/on are booleans); the yaml
    // package reads 1.2 by default. A value the two read differently is ambiguous: refused.
    const opts = { uniqueKeys: true, prettyErrors: true };
    const d11 = YAML.parseAllDocuments(text, { ...opts, version: '1.1' });
    const d12 = YAML.parseAllDocuments(text, opts);
    d11.forEach((d, i) => {
      if (d.errors.length) {
        findings.push({ check: 'yaml', where: `${file}#${i}`, msg: d.errors.map((e) => e.message).join('; ') });
        return;
      }
      const v = d.toJS();
      if (v === null || v === undefined) return; // an empty document (a trailing ---)
      const v12 = d12[i] && !d12[i].errors.length ? d12[i].toJS() : undefined;
      const diff = firstDifference(v, v12, '');
      if (diff !== null)
        findings.push({ check: 'yaml', where: `${file}#${i}`,
          msg: `${diff || '(document)'} reads differently as YAML 1.1 (kubectl) and 1.2: write it unambiguously (a quoted string, a decimal mode)` });
      if (path.basename(file) === 'kustomization.yaml') kustomization = { file, doc: v };
      else docs.push({ file, index: i, doc: v });
    });
  }
  return { docs, kustomization, findings };
}

function firstDifference(a, b, where) {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null))
    return where;
  if (a && typeof a === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], `${where}.${k}`);
      if (d !== null) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : where;
}

export function readFiles(dir = deployDir) {
  const files = {};
  for (const f of manifestFiles(dir)) files[f] = fs.readFileSync(path.join(dir, f), 'utf8');
  return files;
}

// ---- selectors and pods ----

export function matches(selector, labels) {
  if (!selector) return false;
  labels = labels || {};
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
// A selector that holds for the adapters' pods alone, whatever other pods the namespace has:
// it pins app.kubernetes.io/name to adapter names, or app.kubernetes.io/component to
// blockchain-adapter (matchLabels or In).
function adapterOnly(sel, adapters) {
  const names = new Set(adapters.map((a) => a.labels['app.kubernetes.io/name']));
  const pinned = (key, ok) => {
    const v = sel.matchLabels?.[key];
    if (v !== undefined && ok(v)) return true;
    return (sel.matchExpressions || []).some((e) => e.key === key && e.operator === 'In' && e.values.length && e.values.every(ok));
  };
  return pinned('app.kubernetes.io/name', (v) => names.has(v)) ||
    pinned('app.kubernetes.io/component', (v) => v === 'blockchain-adapter');
}
const selectsEverything = (s) => s && !Object.keys(s.matchLabels || {}).length && !(s.matchExpressions || []).length;

// The pods the manifests make: {kind, name, namespace, labels, spec, owner (the document)}
export function workloads(docs) {
  const out = [];
  for (const { doc, file } of docs) {
    const ns = doc.metadata?.namespace;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(doc.kind) && doc.spec?.template)
      out.push({ kind: doc.kind, name: doc.metadata?.name, namespace: ns, file, doc,
        labels: doc.spec.template.metadata?.labels || {}, spec: doc.spec.template.spec || {},
        annotations: doc.spec.template.metadata?.annotations || {} });
    else if (doc.kind === 'CronJob' && doc.spec?.jobTemplate?.spec?.template)
      out.push({ kind: doc.kind, name: doc.metadata?.name, namespace: ns, file, doc,
        labels: doc.spec.jobTemplate.spec.template.metadata?.labels || {},
        spec: doc.spec.jobTemplate.spec.template.spec || {}, annotations: {} });
    else if (doc.kind === 'Pod')
      out.push({ kind: 'Pod', name: doc.metadata?.name, namespace: ns, file, doc,
        labels: doc.metadata?.labels || {}, spec: doc.spec || {}, annotations: doc.metadata?.annotations || {} });
  }
  return out;
}
const containersOf = (spec) => [...(spec.initContainers || []), ...(spec.containers || [])];
const isAdapter = (w) => w.labels['app.kubernetes.io/component'] === 'blockchain-adapter';
const isSignerd = (w) => w.kind === 'StatefulSet' && w.name === 'signerd';

// a port of a container, by name or number
function containerPort(c, port) {
  return (c.ports || []).find((p) => (typeof port === 'string' ? p.name === port : p.containerPort === port));
}
function podPort(w, port) {
  for (const c of w.spec.containers || []) {
    const p = containerPort(c, port);
    if (p) return p;
  }
  return undefined;
}

// ---- secrets documented in the README: `kubectl ... create secret TYPE NAME ...` ----

export function documentedSecrets(readme) {
  const out = new Map();
  const problems = [];
  for (const line of readme.split('\n')) {
    const m = /kubectl\b.*\bcreate secret (generic|tls) ([a-z0-9-]+)(.*)$/.exec(line);
    if (!m) continue;
    const [, type, name, rest] = m;
    if (/--from-literal|--from-env-file/.test(rest))
      problems.push(`the Secret ${name} is made from a literal on the command line: --from-file instead`);
    const keys = new Set();
    if (type === 'tls') {
      if (/--cert=/.test(rest)) keys.add('tls.crt');
      if (/--key=/.test(rest)) keys.add('tls.key');
    }
    for (const f of rest.matchAll(/--from-file=([^=\s]+)=/g)) keys.add(f[1]);
    out.set(name, new Set([...(out.get(name) || []), ...keys]));
  }
  return { secrets: out, problems };
}

// ---- signerd.yaml: the minimal reading the cross checks need (signerd's loader has the final
// word: checkSignerdConfig runs it) ----

function signerdConfig(docs) {
  const cm = docs.find((d) => d.doc.kind === 'ConfigMap' && d.doc.metadata?.name === 'signerd-config');
  if (!cm) return null;
  const data = cm.doc.data || {};
  const parse = (k) => {
    try {
      return data[k] === undefined ? null : YAML.parse(data[k]);
    } catch {
      return null;
    }
  };
  const cfg = parse('signerd.yaml');
  const mcfg = parse('signerd-maintenance.yaml');
  const softhsm = {};
  for (const line of (data['softhsm2.conf'] || '').split('\n')) {
    const m = /^\s*([a-z.]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) softhsm[m[1]] = m[2];
  }
  return { cm, data, cfg, mcfg, softhsm };
}

// The volume and mount that give a container the file PATH: {mount, volume, rest} or null.
function mountFor(w, c, file) {
  let best = null;
  for (const m of c.volumeMounts || []) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (file === mp || file.startsWith(mp + '/')) {
      if (!best || mp.length > best.mount.mountPath.length) {
        const volume = (w.spec.volumes || []).find((v) => v.name === m.name) ||
          (w.doc.spec?.volumeClaimTemplates || []).find((t) => t.metadata?.name === m.name) &&
            { name: m.name, claimTemplate: true };
        best = { mount: m, volume, rest: file === mp ? '' : file.slice(mp.length + 1) };
      }
    }
  }
  return best;
}

// ---- the checks ----

export async function check(files, { readme, guide, signerctl } = {}) {
  const { docs, kustomization, findings } = parseFiles(files);
  const add = (check, where, msg) => findings.push({ check, where, msg });
  const table = await kinds();

  // schema: every document a known, served kind, valid, with known field names only
  const seen = new Map();
  for (const { file, index, doc } of docs) {
    const where = `${file}#${index} ${doc.kind}/${doc.metadata?.name}`;
    const Model = table.get(`${doc.apiVersion} ${doc.kind}`);
    if (!Model) {
      add('kind', where, `no Kubernetes kind ${doc.kind} in ${doc.apiVersion} (a CRD, a typo or a removed version)`);
      continue;
    }
    if (!servedVersion(doc.apiVersion))
      add('kind', where, `${doc.apiVersion} is not a served GA version (removed beta/alpha)`);
    const { errors, unknown } = validateRecording(Model, doc);
    for (const e of errors) add('schema', where, e);
    for (const u of unknown) add('fields', where, `unknown field ${u}`);
    if (!doc.metadata?.name) add('metadata', where, 'no metadata.name');
    if (!CLUSTER_SCOPED.has(doc.kind) && doc.metadata?.namespace !== NAMESPACE)
      add('metadata', where, `namespace is ${doc.metadata?.namespace}, not ${NAMESPACE}`);
    const id = `${doc.kind}/${doc.metadata?.namespace}/${doc.metadata?.name}`;
    if (seen.has(id)) add('metadata', where, `defined twice (also ${seen.get(id)})`);
    seen.set(id, where);
    if (doc.kind === 'Secret')
      add('secrets', where, 'a Secret in the manifests: Secrets are created out of band from files (README.md)');
  }

  const ws = workloads(docs);
  const byKind = (k) => docs.filter((d) => d.doc.kind === k).map((d) => d.doc);
  const services = byKind('Service');
  const wsIn = (ns) => ws.filter((w) => w.namespace === ns);
  const { secrets: docSecrets, problems } = readme ? documentedSecrets(readme) : { secrets: new Map(), problems: [] };
  for (const p of problems) add('secrets', 'README.md', p);

  // kustomization: lists every top-level manifest once, and nothing else
  if (!kustomization) add('kustomization', 'kustomization.yaml', 'missing');
  else {
    const k = kustomization.doc;
    const allowed = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'labels', 'commonAnnotations', 'configMapGenerator', 'patches']);
    for (const key of Object.keys(k)) if (!allowed.has(key)) add('kustomization', 'kustomization.yaml', `unknown or unexpected field ${key}`);
    if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization')
      add('kustomization', 'kustomization.yaml', 'not a kustomize.config.k8s.io/v1beta1 Kustomization');
    const top = Object.keys(files).filter((f) => !f.includes('/') && f !== 'kustomization.yaml').sort();
    const listed = [...(k.resources || [])].sort();
    for (const f of top) if (!listed.includes(f)) add('kustomization', 'kustomization.yaml', `${f} is not in resources`);
    for (const f of listed) if (!top.includes(f)) add('kustomization', 'kustomization.yaml', `resources names ${f}, which is not a manifest here`);
    if (new Set(listed).size !== listed.length) add('kustomization', 'kustomization.yaml', 'a resource is listed twice');
  }

  for (const w of ws) {
    const where = `${w.file} ${w.kind}/${w.name}`;
    const spec = w.spec;
    // the workload's selector selects its own pods
    if (w.kind !== 'Pod' && w.kind !== 'CronJob' && !matches(w.doc.spec.selector, w.labels))
      add('selectors', where, 'spec.selector does not match the pod template labels');

    // security: the restricted Pod Security profile, container by container (the systemd unit's
    // sandbox in pod terms)
    const psc = spec.securityContext || {};
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) add('security', where, 'uses the host namespaces');
    if ((spec.volumes || []).some((v) => v.hostPath)) add('security', where, 'a hostPath volume');
    if (spec.automountServiceAccountToken !== false) add('security', where, 'automountServiceAccountToken is not false (nothing here calls the API)');
    if (spec.serviceAccountName && !docs.some((d) => d.doc.kind === 'ServiceAccount' && d.doc.metadata?.name === spec.serviceAccountName))
      add('references', where, `serviceAccountName ${spec.serviceAccountName} is not a ServiceAccount of the manifests`);
    for (const c of containersOf(spec)) {
      const cw = `${where} container ${c.name}`;
      const sc = c.securityContext || {};
      const eff = (k) => (sc[k] !== undefined ? sc[k] : psc[k]);
      if (eff('runAsNonRoot') !== true) add('security', cw, 'runAsNonRoot is not true');
      if (eff('runAsUser') === 0) add('security', cw, 'runAsUser 0');
      if (sc.allowPrivilegeEscalation !== false) add('security', cw, 'allowPrivilegeEscalation is not false');
      if (sc.privileged) add('security', cw, 'privileged');
      if (sc.readOnlyRootFilesystem !== true) add('security', cw, 'readOnlyRootFilesystem is not true');
      if (!(sc.capabilities?.drop || []).includes('ALL')) add('security', cw, 'capabilities.drop lacks ALL');
      if ((sc.capabilities?.add || []).length) add('security', cw, `adds capabilities ${sc.capabilities.add}`);
      const seccomp = (sc.seccompProfile || psc.seccompProfile || {}).type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') add('security', cw, `seccompProfile ${seccomp || 'unset'}, not RuntimeDefault`);
      // resources: requests for the scheduler (and the autoscaler), a memory limit
      const r = c.resources || {};
      if (!r.requests?.cpu || !r.requests?.memory) add('resources', cw, 'no cpu and memory requests');
      if (!r.limits?.memory) add('resources', cw, 'no memory limit');

      // env: nothing secret. No value from a Secret, no variable whose name says it is a secret
      // unless it names a file or directory (_FILE, _DIR, _DIRECTORY, _PATH)
      for (const e of c.env || []) {
        if (e.valueFrom?.secretKeyRef) add('env', cw, `${e.name} takes its value from the Secret ${e.valueFrom.secretKeyRef.name}: mount it as a file`);
        // SIGNERD_KEY names a key of signerd's (docs/blockchain/adapter-operations.md): signerd
        // holds the key, the adapter only its name
        const parts = e.name === 'SIGNERD_KEY' ? [] : e.name.toUpperCase().split('_');
        const secretish = parts.some((p) => /^(PIN|PINS|KEY|KEYS|PRIVKEY|APIKEY|PASSWORD|PASSWD|PASS|SECRET|SECRETS|TOKEN|TOKENS|CREDENTIAL|CREDENTIALS|MNEMONIC|SEED)$/.test(p));
        if (secretish && !/^(FILE|DIR|DIRECTORY|PATH)$/.test(parts[parts.length - 1]))
          add('env', cw, `${e.name}: a secret's name, not a file's (_FILE or _DIR)`);
        if (typeof e.value === 'string' && (/-----BEGIN/.test(e.value) || /:\/\/[^/@\s]+:[^/@\s]+@/.test(e.value)))
          add('env', cw, `${e.name} holds key material or credentials`);
        // a file variable names a file that a Secret or ConfigMap mount gives the container
        if (/_FILE$/.test(e.name) && typeof e.value === 'string') {
          const m = mountFor(w, c, e.value);
          if (!m || !m.volume) add('references', cw, `${e.name}=${e.value} is in no volume of the container`);
          else if (m.volume.secret && !m.mount.subPath && docSecrets.size && !(docSecrets.get(m.volume.secret.secretName) || new Set()).has(m.rest))
            add('references', cw, `${e.name}=${e.value}: the Secret ${m.volume.secret.secretName} has no key ${m.rest} (README.md)`);
        }
      }
      for (const e of c.envFrom || [])
        if (e.secretRef) add('env', cw, `envFrom the Secret ${e.secretRef.name}: every key becomes an env var`);

      // mounts name volumes
      for (const m of c.volumeMounts || []) {
        const ok = (spec.volumes || []).some((v) => v.name === m.name) ||
          (w.doc.spec?.volumeClaimTemplates || []).some((t) => t.metadata?.name === m.name);
        if (!ok) add('references', cw, `volumeMount ${m.name} names no volume`);
      }

      // probes: a container that serves (it declares a port) has liveness and readiness probes,
      // except beside signerd: signerd-0 is ready when signerd is, and a sidecar's
      // readinessProbe would take it out of its Service with the sidecar. Probe ports are ports
      // the container declares.
      if (w.kind !== 'Pod' && !(spec.initContainers || []).includes(c)) {
        const sidecar = isSignerd(w) && c.name !== 'signerd';
        if (sidecar && c.readinessProbe) add('probes', cw, 'a readinessProbe beside signerd: when it fails, signerd-0 leaves its Service');
        if ((c.ports || []).length || !sidecar) {
          if (!c.livenessProbe) add('probes', cw, 'no livenessProbe');
          if (!c.readinessProbe && !sidecar) add('probes', cw, 'no readinessProbe');
        }
      }
      for (const pk of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const p = c[pk];
        if (!p) continue;
        const port = p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port;
        if (port !== undefined && !containerPort(c, port))
          add('probes', cw, `${pk} port ${port} is not a port the container declares`);
      }
    }

    // volumes: ConfigMaps of the manifests with the keys used; Secrets documented with theirs
    for (const v of spec.volumes || []) {
      const keysUsed = new Set((v.configMap || v.secret)?.items?.map((i) => i.key) || []);
      for (const c of containersOf(spec))
        for (const m of c.volumeMounts || []) if (m.name === v.name && m.subPath) keysUsed.add(m.subPath);
      if (v.configMap) {
        const cm = docs.find((d) => d.doc.kind === 'ConfigMap' && d.doc.metadata?.name === v.configMap.name);
        if (!cm) add('references', where, `volume ${v.name}: no ConfigMap ${v.configMap.name} in the manifests`);
        else for (const k of keysUsed) if (!(k in (cm.doc.data || {}))) add('references', where, `volume ${v.name}: the ConfigMap ${v.configMap.name} has no key ${k}`);
      }
      if (v.secret && readme) {
        const have = docSecrets.get(v.secret.secretName);
        if (!have) add('secrets', where, `volume ${v.name}: the Secret ${v.secret.secretName} is not created in README.md's commands`);
        else for (const k of keysUsed) if (!have.has(k)) add('secrets', where, `volume ${v.name}: README.md's Secret ${v.secret.secretName} has no key ${k}`);
      }
      if (v.persistentVolumeClaim) {
        const name = v.persistentVolumeClaim.claimName;
        // <template>-<statefulset>-<ordinal>, for an ordinal the StatefulSet has
        const fromTemplate = ws.some((s) => s.kind === 'StatefulSet' && (s.doc.spec.volumeClaimTemplates || []).some((t) => {
          const m = new RegExp(`^${t.metadata?.name}-${s.name}-([0-9]+)$`).exec(name);
          return m && Number(m[1]) < (s.doc.spec.replicas ?? 1);
        }));
        if (!fromTemplate && !docs.some((d) => d.doc.kind === 'PersistentVolumeClaim' && d.doc.metadata?.name === name))
          add('references', where, `volume ${v.name}: no claim ${name} (nor a StatefulSet claim template that makes it)`);
      }
    }
    // prometheus.io/port names a port the pod declares
    const promPort = w.annotations['prometheus.io/port'];
    if (promPort !== undefined && !podPort(w, Number(promPort))) add('references', where, `prometheus.io/port ${promPort} is no container port`);
  }

  // Services select pods, and their target ports are ports those pods declare
  for (const s of services) {
    const where = `Service/${s.metadata.name}`;
    const sel = s.spec?.selector;
    if (!sel) continue;
    const pods = wsIn(s.metadata.namespace).filter((w) => matches({ matchLabels: sel }, w.labels));
    if (!pods.length) add('selectors', where, 'selects no pods of the manifests');
    for (const p of s.spec.ports || []) {
      const target = p.targetPort ?? p.port;
      for (const w of pods) if (!podPort(w, target)) add('ports', where, `targetPort ${target} is not a port of ${w.kind}/${w.name}`);
    }
  }
  // StatefulSets: their governing Service is headless and selects their pods
  for (const w of ws.filter((x) => x.kind === 'StatefulSet')) {
    const s = services.find((x) => x.metadata.name === w.doc.spec.serviceName && x.metadata.namespace === w.namespace);
    if (!s) add('selectors', `StatefulSet/${w.name}`, `serviceName ${w.doc.spec.serviceName} is no Service of the manifests`);
    else {
      if (s.spec.clusterIP !== 'None') add('selectors', `StatefulSet/${w.name}`, `its Service ${s.metadata.name} is not headless`);
      if (!matches({ matchLabels: s.spec.selector }, w.labels)) add('selectors', `StatefulSet/${w.name}`, `its Service ${s.metadata.name} does not select its pods`);
    }
  }
  // PodDisruptionBudgets select pods
  const pdbs = byKind('PodDisruptionBudget');
  for (const p of pdbs) {
    const pods = wsIn(p.metadata.namespace).filter((w) => matches(p.spec?.selector, w.labels));
    if (!pods.length) add('selectors', `PodDisruptionBudget/${p.metadata.name}`, 'selects no pods of the manifests');
  }
  // HorizontalPodAutoscalers: target a Deployment of the manifests that leaves the count to
  // them, whose containers all request CPU (Utilization is of the request); the seed's numbers;
  // a PDB that still lets one pod go at the minimum
  for (const h of byKind('HorizontalPodAutoscaler')) {
    const where = `HorizontalPodAutoscaler/${h.metadata.name}`;
    const ref = h.spec?.scaleTargetRef || {};
    const t = ws.find((w) => w.kind === ref.kind && w.name === ref.name && w.namespace === h.metadata.namespace);
    if (!t) {
      add('selectors', where, `scaleTargetRef ${ref.kind}/${ref.name} is no workload of the manifests`);
      continue;
    }
    if (ref.apiVersion !== t.doc.apiVersion) add('selectors', where, `scaleTargetRef apiVersion ${ref.apiVersion}, the target is ${t.doc.apiVersion}`);
    if (t.doc.spec.replicas !== undefined) add('hpa', where, `${t.kind}/${t.name} sets replicas: every apply would reset the autoscaler's count`);
    const cpu = (h.spec.metrics || []).find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
    if (!cpu || cpu.resource.target?.type !== 'Utilization' || cpu.resource.target?.averageUtilization !== 70)
      add('hpa', where, 'no CPU Utilization target of 70 %');
    if (cpu) for (const c of t.spec.containers || []) if (!c.resources?.requests?.cpu)
      add('hpa', where, `container ${c.name} has no CPU request: a Utilization target cannot be computed`);
    if (h.spec.minReplicas !== 2 || h.spec.maxReplicas !== 10) add('hpa', where, 'not min 2, max 10');
    if (!h.spec.behavior?.scaleUp || !h.spec.behavior?.scaleDown) add('hpa', where, 'no behavior for scaleUp and scaleDown');
    for (const p of pdbs.filter((x) => matches(x.spec?.selector, t.labels))) {
      if (p.spec.minAvailable !== undefined && !(Number(p.spec.minAvailable) < h.spec.minReplicas))
        add('hpa', where, `PodDisruptionBudget/${p.metadata.name} minAvailable ${p.spec.minAvailable} leaves no disruption at ${h.spec.minReplicas} replicas`);
    }
    if (!pdbs.some((x) => matches(x.spec?.selector, t.labels))) add('hpa', where, `no PodDisruptionBudget for ${t.name}`);
  }

  // ---- network policy ----
  const policies = byKind('NetworkPolicy');
  for (const p of policies) {
    const sel = p.spec?.podSelector;
    if (sel && !selectsEverything(sel) && !wsIn(p.metadata.namespace).some((w) => matches(sel, w.labels)))
      add('selectors', `NetworkPolicy/${p.metadata.name}`, 'its podSelector selects no pods of the manifests');
  }
  const types = (p) => p.spec.policyTypes || (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  const denyAll = (type) => policies.some((p) => p.metadata.namespace === NAMESPACE && selectsEverything(p.spec.podSelector) &&
    types(p).includes(type) && !(p.spec[type.toLowerCase()] || []).length);
  if (!denyAll('Ingress')) add('netpol', 'NetworkPolicy', `no default deny of ingress in ${NAMESPACE} (podSelector {}, policyTypes Ingress, no rules)`);
  if (!denyAll('Egress')) add('netpol', 'NetworkPolicy', `no default deny of egress in ${NAMESPACE}`);
  // does rule port entry `rp` cover container port cp of pod w?
  const covers = (rp, w, cp) => {
    if (!rp) return true;
    if ((rp.protocol || 'TCP') !== (cp.protocol || 'TCP')) return false;
    if (rp.port === undefined) return true;
    if (typeof rp.port === 'string') return rp.port === cp.name;
    return rp.endPort ? cp.containerPort >= rp.port && cp.containerPort <= rp.endPort : rp.port === cp.containerPort;
  };
  const ruleCovers = (rule, w, cp) => !(rule.ports || []).length || rule.ports.some((rp) => covers(rp, w, cp));
  // the pods a peer admits, of the manifests' workloads, and whether it admits anything beyond
  // them (other namespaces, addresses, every pod)
  const peerPods = (peer, ns) => {
    if (peer.ipBlock) return { open: `ipBlock ${peer.ipBlock.cidr}` };
    if (peer.namespaceSelector) return { open: `namespaceSelector ${JSON.stringify(peer.namespaceSelector)}` };
    if (!peer.podSelector || selectsEverything(peer.podSelector)) return { open: 'every pod of the namespace' };
    return { pods: wsIn(ns).filter((w) => matches(peer.podSelector, w.labels)) };
  };
  const signerd = ws.find(isSignerd);
  const adapters = ws.filter(isAdapter);
  if (!signerd) add('netpol', 'StatefulSet/signerd', 'no signerd StatefulSet');
  if (!adapters.length) add('netpol', 'adapters', 'no adapter workloads (label app.kubernetes.io/component: blockchain-adapter)');
  if (signerd) {
    const ingressOn = (cp) => {
      const rules = [];
      for (const p of policies) if (p.metadata.namespace === signerd.namespace && types(p).includes('Ingress') && matches(p.spec.podSelector, signerd.labels))
        for (const r of p.spec.ingress || []) if (ruleCovers(r, signerd, cp)) rules.push({ p, r });
      return rules;
    };
    // the API: only the adapters' pods, of this namespace; every adapter among them
    const api = containerPort(signerd.spec.containers?.[0] || {}, 'api');
    if (!api) add('netpol', 'StatefulSet/signerd', 'no port named api');
    else {
      const admitted = new Set();
      for (const { p, r } of ingressOn(api)) {
        const where = `NetworkPolicy/${p.metadata.name}`;
        if (!(r.from || []).length) add('netpol', where, 'admits every source to signerd\'s API port');
        for (const peer of r.from || []) {
          const pp = peerPods(peer, signerd.namespace);
          if (pp.open) add('netpol', where, `admits ${pp.open} to signerd's API port: only the adapters may reach it`);
          if (pp.pods && !adapterOnly(peer.podSelector, adapters))
            add('netpol', where, `admits pods by ${JSON.stringify(peer.podSelector)} to signerd's API port: a selector that holds only for the adapters' pods (their names, or their component label)`);
          for (const w of pp.pods || []) {
            if (!isAdapter(w)) add('netpol', where, `admits ${w.kind}/${w.name}, not an adapter, to signerd's API port`);
            else admitted.add(w.name);
          }
        }
      }
      for (const a of adapters) if (!admitted.has(a.name)) add('netpol', `Deployment/${a.name}`, 'not admitted to signerd\'s API port');
      // and the adapters may go out to it
      for (const a of adapters) {
        const out = policies.filter((p) => p.metadata.namespace === a.namespace && types(p).includes('Egress') && matches(p.spec.podSelector, a.labels));
        const ok = out.some((p) => (p.spec.egress || []).some((r) => ruleCovers(r, signerd, api) &&
          (!(r.to || []).length || r.to.some((peer) => !peer.ipBlock && !peer.namespaceSelector && matches(peer.podSelector, signerd.labels)))));
        if (!ok) add('netpol', `Deployment/${a.name}`, 'no egress to signerd\'s API port');
        const dns = out.some((p) => (p.spec.egress || []).some((r) => (r.ports || []).some((rp) => rp.port === 53 && (rp.protocol || 'TCP') === 'UDP')));
        if (!dns) add('netpol', `Deployment/${a.name}`, 'no egress to DNS (UDP 53): SIGNERD_URL is a name');
      }
    }
    // the metrics ports of signerd's pod (signerd's ops listener, the readiness textfile's
    // node_exporter): the monitoring namespace only
    for (const [pname, what] of [['ops', "signerd's ops port"], ['textfile', "the readiness textfile's port"]]) {
      const cp = podPort(signerd, pname);
      if (!cp) {
        add('netpol', 'StatefulSet/signerd', `no port named ${pname}`);
        continue;
      }
      let admitted = false;
      for (const { p, r } of ingressOn(cp)) {
        const where = `NetworkPolicy/${p.metadata.name}`;
        if (!(r.from || []).length) add('netpol', where, `admits every source to ${what}`);
        for (const peer of r.from || []) {
          const nsSel = peer.namespaceSelector;
          if (!nsSel || nsSel.matchLabels?.['kubernetes.io/metadata.name'] !== 'monitoring' || (nsSel.matchExpressions || []).length ||
              Object.keys(nsSel.matchLabels).length !== 1)
            add('netpol', where, `admits ${JSON.stringify(peer)} to ${what}: only the monitoring namespace may`);
          else admitted = true;
        }
      }
      if (!admitted) add('netpol', 'StatefulSet/signerd', `the monitoring namespace cannot reach ${what} (no scrape)`);
    }
  }
  // signerd's pod and the maintenance pod: out to DNS and to the backup targets (HTTPS on
  // public addresses) only; signerd itself calls nothing, signerctl in them does
  for (const w of ws.filter((x) => isSignerd(x) || x.name === 'signerd-maintenance')) {
    const out = policies.filter((p) => p.metadata.namespace === w.namespace && types(p).includes('Egress') && matches(p.spec.podSelector, w.labels));
    let https = false;
    for (const p of out) for (const r of p.spec.egress || []) {
      const where = `NetworkPolicy/${p.metadata.name}`;
      const ports = r.ports || [];
      const dns = ports.length && ports.every((rp) => rp.port === 53) &&
        (r.to || []).length && r.to.every((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'kube-system' && peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns');
      const publicOnly = (peer) => peer.ipBlock && !peer.podSelector && !peer.namespaceSelector &&
        (peer.ipBlock.cidr !== '0.0.0.0/0' || ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'].every((c) => (peer.ipBlock.except || []).includes(c)));
      const s3 = ports.length && ports.every((rp) => rp.port === 443 && (rp.protocol || 'TCP') === 'TCP') && (r.to || []).length && r.to.every(publicOnly);
      if (s3) https = true;
      else if (!dns) add('netpol', where, `lets ${w.kind}/${w.name} open ${JSON.stringify(r)}: only DNS and HTTPS to public addresses (the backup targets)`);
    }
    if (!https) add('netpol', `${w.kind}/${w.name}`, 'no egress to the backup targets (TCP 443): signerctl backup state and the ceremonies cannot write them');
  }

  // ---- signerd: its probes, ports, grace period and files, from its own signerd.yaml ----
  const sc = signerdConfig(docs);
  // need(w, c, file, what, rule, where): the file is in a volume of container c of w, mounted as
  // signerd's (and signerctl's) file rules want it; returns the mount
  const need = (w, c, file, what, rule, where) => {
    const m = mountFor(w, c, file);
    what = `container ${c.name}: ${what}`;
    if (!m || !m.volume) return add('signerd', where, `${what} ${file} is in no volume of the container`);
    const v = m.volume;
    // the key of the Secret or ConfigMap that is this file
    const src = v.secret || v.configMap;
    if (src) {
      const inVolume = [m.mount.subPath, m.rest].filter(Boolean).join('/');
      const key = (src.items || []).find((i) => i.path === inVolume)?.key ?? inVolume;
      if (v.secret && readme && !(docSecrets.get(v.secret.secretName) || new Set()).has(key))
        add('secrets', where, `${what} ${file}: README.md's Secret ${v.secret.secretName} has no key ${key}`);
      const cm = v.configMap && docs.find((d) => d.doc.kind === 'ConfigMap' && d.doc.metadata?.name === v.configMap.name);
      if (cm && !(key in (cm.doc.data || {}))) add('references', where, `${what} ${file}: the ConfigMap ${v.configMap.name} has no key ${key}`);
    }
    const written = () => (w.spec.initContainers || []).some((ic) => (ic.volumeMounts || []).some((im) => im.name === v.name && !im.readOnly));
    if (rule === 'pvc') {
      if (!v.claimTemplate && !v.persistentVolumeClaim) add('signerd', where, `${what} ${file} is not on a volume of volumeClaimTemplates (it would not survive the pod)`);
      if (m.mount.readOnly) add('signerd', where, `${what} ${file} is mounted read-only: it is written`);
    }
    if (rule === 'config' || rule === 'public') {
      if (v.configMap && !m.mount.subPath) add('signerd', where, `${what} ${file}: a ConfigMap mounted as a directory is world-writable (0777), which signerd refuses: mount the file (subPath)`);
    }
    if (rule === 'credential') {
      if (v.secret && !m.mount.subPath) add('signerd', where, `${what} ${file}: a Secret volume's entries are symbolic links, which signerd's O_NOFOLLOW refuses: mount the file (subPath)`);
      if (!v.secret && !v.emptyDir) add('signerd', where, `${what} ${file} is not from a Secret`);
    }
    if (rule === 'key') {
      if (v.secret || v.configMap) add('signerd', where, `${what} ${file} comes straight from a ${v.secret ? 'Secret' : 'ConfigMap'}: its files are root's and group-readable, signerctl and signerd want a key owner-only and their own (copy it in an init container)`);
      else if (v.emptyDir && !written()) add('signerd', where, `${what} ${file}: no init container writes the volume ${v.name}`);
    }
    if (rule === 'workdir') {
      // GnuPG's home: it locks and writes its trust database there
      if (!v.emptyDir) add('signerd', where, `${what} ${file} is not on an emptyDir: GnuPG cannot verify in a read-only home (a Secret's or ConfigMap's volume)`);
      else if (!written()) add('signerd', where, `${what} ${file}: no init container writes the volume ${v.name}`);
      if (m.mount.readOnly) add('signerd', where, `${what} ${file} is mounted read-only: GnuPG writes its home`);
    }
    if (rule === 'out') {
      if (!v.emptyDir) add('signerd', where, `${what} ${file} is not on an emptyDir`);
      if (m.mount.readOnly) add('signerd', where, `${what} ${file} is mounted read-only: it is written`);
    }
    return m;
  };
  // the files a signerd or signerctl container reads, by the config it runs with
  const needConfigFiles = (w, c, cfg, where, { credDir, tls = true, signerctl = false }) => {
    if (cfg.policy?.path) need(w, c, cfg.policy.path, 'policy.path', 'config', where);
    if (cfg.token?.environment?.SOFTHSM2_CONF) need(w, c, cfg.token.environment.SOFTHSM2_CONF, 'SOFTHSM2_CONF', 'config', where);
    if (tls) {
      for (const k of ['cert', 'client_ca', 'crl']) if (cfg.tls?.[k]) need(w, c, cfg.tls[k], `tls.${k}`, 'public', where);
      if (cfg.tls?.key) need(w, c, cfg.tls.key, 'tls.key', 'key', where);
    }
    if (cfg.audit?.path) need(w, c, cfg.audit.path, 'audit.path', 'pvc', where);
    if (sc.softhsm['directories.tokendir']) need(w, c, sc.softhsm['directories.tokendir'] + '/token', 'the SoftHSM2 tokendir', 'pvc', where);
    else add('signerd', where, 'softhsm2.conf has no directories.tokendir');
    if (cfg.token?.pin_file) add('signerd', where, `container ${c.name}: token.pin_file: in a pod the PIN is a credential (token.pin_credential and $CREDENTIALS_DIRECTORY)`);
    if (cfg.token?.pin_credential) {
      if (!credDir) add('signerd', where, `container ${c.name}: token.pin_credential without CREDENTIALS_DIRECTORY in the container's env`);
      else need(w, c, `${credDir}/${cfg.token.pin_credential}`, 'the PIN credential', 'credential', where);
    }
    if (signerctl) {
      for (const t of cfg.backup?.targets || []) if (t?.s3?.credentials_file) need(w, c, t.s3.credentials_file, `backup target ${t.name}'s credentials_file`, 'key', where);
      if (cfg.ceremonies?.gnupg_home) need(w, c, cfg.ceremonies.gnupg_home, 'ceremonies.gnupg_home', 'workdir', where);
    }
    // only the PIN's directory in the env, never the PIN
    for (const e of c.env || []) if (e.name !== 'CREDENTIALS_DIRECTORY' && /PIN/.test(e.name.toUpperCase())) add('signerd', where, `container ${c.name}: ${e.name} in env`);
  };
  const configArg = (c) => {
    const argv = (c.command || []).concat(c.args || []).join(' ');
    return /--config (\S+)/.exec(argv)?.[1];
  };
  if (signerd) {
    const where = 'StatefulSet/signerd';
    const c = (signerd.spec.containers || []).find((x) => x.name === 'signerd');
    if (signerd.doc.spec.replicas !== 1) add('signerd', where, 'replicas is not 1 (one signerd per token)');
    if (!((signerd.spec.terminationGracePeriodSeconds ?? 30) > 30))
      add('signerd', where, 'terminationGracePeriodSeconds is not above signerd\'s 30 s drain');
    if (!c) add('signerd', where, 'no container signerd');
    else {
      const ports = {};
      for (const part of ['api', 'ops']) {
        const listen = sc?.cfg?.[part]?.listen;
        const m = typeof listen === 'string' ? /^(.*):([0-9]+)$/.exec(listen) : null;
        if (!m) add('signerd', where, `signerd.yaml has no ${part}.listen`);
        else {
          if (/^(127\.|localhost|\[::1\])/.test(m[1])) add('signerd', where, `signerd.yaml ${part}.listen ${listen} is loopback: the kubelet and the Service reach the pod's address`);
          ports[part] = Number(m[2]);
          if (containerPort(c, part)?.containerPort !== ports[part]) add('signerd', where, `container port ${part} is not signerd.yaml's ${part}.listen port ${m[2]}`);
        }
      }
      const want = { livenessProbe: '/healthz', readinessProbe: '/readyz', startupProbe: '/healthz' };
      for (const [pk, p] of Object.entries(want)) {
        const probe = c[pk];
        if (!probe?.httpGet) add('signerd', where, `no ${pk} httpGet`);
        else {
          if (probe.httpGet.path !== p) add('signerd', where, `${pk} is on ${probe.httpGet.path}, not ${p}`);
          if (containerPort(c, probe.httpGet.port)?.containerPort !== ports.ops) add('signerd', where, `${pk} is not on the ops port`);
        }
      }
      // the files signerd reads, each from a mount that keeps to signerd's file rules
      if (sc?.cfg) {
        const envDir = (c.env || []).find((e) => e.name === 'CREDENTIALS_DIRECTORY')?.value;
        need(signerd, c, '/etc/signerd/signerd.yaml', 'the config', 'config', where); // the container's --config
        if (configArg(c) !== '/etc/signerd/signerd.yaml' || !(c.command || []).concat(c.args || []).includes('--config'))
          add('signerd', where, 'the container does not run signerd --config /etc/signerd/signerd.yaml');
        if (sc.cfg.token?.so_pin_file) add('signerd', where, 'signerd.yaml names token.so_pin_file: signerd never reads the SO PIN; only the maintenance pod\'s config (signerd-maintenance.yaml) has it');
        needConfigFiles(signerd, c, sc.cfg, where, { credDir: envDir });
      }
    }
    checkSidecars(signerd, sc, add, need, needConfigFiles, configArg);
  }
  // the maintenance pod: its config is signerd.yaml plus token.so_pin_file, mounted as
  // /etc/signerd/signerd.yaml, with every file that config names
  const maint = ws.find((x) => x.name === 'signerd-maintenance');
  if (maint && sc?.cfg) {
    const where = 'Pod/signerd-maintenance';
    const c = (maint.spec.containers || []).find((x) => x.name === 'signerctl');
    const mcfg = sc.mcfg;
    if (!mcfg) add('maintenance', 'ConfigMap/signerd-config', 'no signerd-maintenance.yaml (or it does not parse): the maintenance pod\'s config, signerd.yaml with token.so_pin_file');
    else {
      const stripped = JSON.parse(JSON.stringify(mcfg));
      if (stripped.token) delete stripped.token.so_pin_file;
      const d = firstDifference(sc.cfg, stripped, '');
      if (d !== null) add('maintenance', 'ConfigMap/signerd-config', `signerd-maintenance.yaml differs from signerd.yaml in ${d || '(the document)'}, not only in token.so_pin_file: change both together`);
      if (!mcfg.token?.so_pin_file) add('maintenance', 'ConfigMap/signerd-config', 'signerd-maintenance.yaml has no token.so_pin_file: the backup ceremonies and restores need the SO PIN');
    }
    if (!c) add('maintenance', where, 'no container signerctl');
    else if (mcfg) {
      const m = mountFor(maint, c, '/etc/signerd/signerd.yaml');
      if (!m?.volume?.configMap || m.mount.subPath !== 'signerd-maintenance.yaml')
        add('maintenance', where, '/etc/signerd/signerd.yaml is not the ConfigMap signerd-config\'s signerd-maintenance.yaml');
      const envDir = (c.env || []).find((e) => e.name === 'CREDENTIALS_DIRECTORY')?.value;
      needConfigFiles(maint, c, mcfg, where, { credDir: envDir, tls: false, signerctl: true });
      if (mcfg.token?.so_pin_file) need(maint, c, mcfg.token.so_pin_file, 'token.so_pin_file', 'credential', where);
    }
  }
  if (!sc) add('signerd', 'ConfigMap/signerd-config', 'no ConfigMap signerd-config');
  else if (!sc.cfg) add('signerd', 'ConfigMap/signerd-config', 'signerd.yaml does not parse');

  // signerd's own loader on signerd.yaml, signerctl policy lint on the policy
  if (sc && signerctl) checkSignerdConfig(sc, signerd, signerctl, add);
  if (guide !== undefined) {
    checkScrapeConfig(guide, ws, add);
    checkGuideEnv(guide, ws, add);
  }
  return findings;
}

// The containers beside signerd in its pod (signerd-statefulset.yaml): signerctl runs the state
// backup and the readiness checks into a textfile on an emptyDir, node_exporter serves that
// textfile from the same volume on its port textfile. What the systemd timers do on a host, so
// that SignerReadinessStale, SignerAuditAnchorRefused, SignerBackupStale and
// SignerBackupKeysMissing have their series on Kubernetes too.
function checkSidecars(signerd, sc, add, need, needConfigFiles, configArg) {
  const where = 'StatefulSet/signerd';
  const cs = signerd.spec.containers || [];
  const script = (c) => (c.command || []).concat(c.args || []).join(' ');
  const loop = cs.find((c) => c.name !== 'signerd' && /\bsignerctl --config \S+ readiness\b/.test(script(c)));
  if (!loop) {
    add('sidecar', where, 'no container runs signerctl readiness --textfile: nothing writes the signer_readiness_* series (SignerReadinessStale fires for ever)');
    return;
  }
  const cw = `${where} container ${loop.name}`;
  const text = script(loop);
  const tf = /\bsignerctl --config \S+ readiness\b[^\n]*--textfile[ =](\S+)/.exec(text)?.[1];
  if (!tf) add('sidecar', cw, 'runs signerctl readiness without --textfile FILE');
  if (!/\bsignerctl --config \S+ backup state\b/.test(text)) add('sidecar', cw, 'runs no signerctl backup state: no hourly state backup (SignerBackupStale)');
  if (!/\bsleep 300\b/.test(text) || !/% 12\b/.test(text)) add('sidecar', cw, 'not every 5 minutes (sleep 300) with the state backup every 12th round (hourly)');
  if (!/\btrap\b[^\n]*\bTERM\b/.test(text)) add('sidecar', cw, 'no trap on TERM: the loop would keep the pod for the whole grace period');
  const cfgPath = configArg(loop);
  if (cfgPath !== '/etc/signerd/signerd.yaml') add('sidecar', cw, `signerctl runs with --config ${cfgPath}, not signerd's /etc/signerd/signerd.yaml`);
  if (sc?.cfg) {
    const envDir = (loop.env || []).find((e) => e.name === 'CREDENTIALS_DIRECTORY')?.value;
    need(signerd, loop, '/etc/signerd/signerd.yaml', 'the config', 'config', where);
    needConfigFiles(signerd, loop, sc.cfg, where, { credDir: envDir, signerctl: true });
  }
  // the textfile: an emptyDir, written here, read by a node_exporter of the same pod
  if (!tf) return;
  const tm = need(signerd, loop, tf, 'the readiness textfile', 'out', where);
  if (!tm?.volume) return;
  const dir = tf.replace(/\/[^/]+$/, '');
  const ne = cs.find((c) => c !== loop && /--collector\.textfile\.directory=/.test(script(c)));
  if (!ne) return add('sidecar', where, 'no node_exporter (--collector.textfile.directory=) serves the readiness textfile');
  const nw = `${where} container ${ne.name}`;
  const nargs = (ne.command || []).concat(ne.args || []);
  const nm = (ne.volumeMounts || []).find((m) => m.name === tm.volume.name);
  const ndir = /--collector\.textfile\.directory=(\S+)/.exec(script(ne))[1];
  if (!nm) add('sidecar', nw, `does not mount the textfile volume ${tm.volume.name}`);
  else {
    const rel = [tm.mount.subPath, tm.rest].filter(Boolean).join('/').replace(/\/?[^/]*$/, '');
    const want = [nm.mountPath.replace(/\/+$/, ''), rel].filter(Boolean).join('/');
    if (want !== ndir.replace(/\/+$/, ''))
      add('sidecar', nw, `--collector.textfile.directory=${ndir} is not the directory of ${tf} (${dir} there, ${want} here, volume ${tm.volume.name})`);
  }
  if (nm && !nm.readOnly) add('sidecar', nw, `mounts ${tm.volume.name} writable: it only reads the textfile`);
  if (!nargs.includes('--collector.disable-defaults')) add('sidecar', nw, 'node_exporter without --collector.disable-defaults: it would export the node\'s own metrics from inside the pod');
  if (!nargs.includes('--collector.textfile')) add('sidecar', nw, 'node_exporter without --collector.textfile (disabled with the defaults)');
  const port = containerPort(ne, 'textfile');
  const listen = /--web\.listen-address=(\S*):([0-9]+)/.exec(script(ne));
  if (!port) add('sidecar', nw, 'no port named textfile');
  else if ((listen ? Number(listen[2]) : 9100) !== port.containerPort) add('sidecar', nw, `port textfile ${port.containerPort} is not node_exporter's --web.listen-address port ${listen ? listen[2] : 9100}`);
  if ((ne.volumeMounts || []).some((m) => m.name !== tm.volume.name)) add('sidecar', nw, 'mounts more than the textfile volume: node_exporter needs nothing else of the pod\'s');
}

// Loads the ConfigMap's signerd.yaml and signerd-maintenance.yaml with signerctl (signerd's
// config loader, every section: a failure anywhere fails the load). `restore --from TARGET`
// loads the whole config and then, with ceremonies: configured, stops saying that a restore is
// a ceremony, before it opens the token, a target or a share: that sentence proves the whole
// file loaded. Lints policy.yaml (no --config: the keys are not looked up).
function checkSignerdConfig(sc, signerd, signerctl, add) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-signerd-'));
  try {
    for (const k of ['signerd.yaml', 'signerd-maintenance.yaml', 'policy.yaml', 'softhsm2.conf'])
      if (sc.data[k] !== undefined) fs.writeFileSync(path.join(dir, k), sc.data[k], { mode: 0o600 });
    const env = { ...process.env };
    delete env.SIGNER_CONFIG;
    const credDir = (signerd?.spec.containers || []).flatMap((c) => c.env || []).find((e) => e.name === 'CREDENTIALS_DIRECTORY');
    if (credDir) env.CREDENTIALS_DIRECTORY = credDir.value;
    else delete env.CREDENTIALS_DIRECTORY;
    const run = (args) => {
      try {
        return { rc: 0, out: execFileSync(signerctl, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
      } catch (e) {
        return { rc: e.status, out: `${e.stdout || ''}${e.stderr || ''}` };
      }
    };
    for (const [k, cfg] of [['signerd.yaml', sc.cfg], ['signerd-maintenance.yaml', sc.mcfg]]) {
      if (sc.data[k] === undefined) continue;
      const from = cfg?.backup?.targets?.[0]?.name || 'region-a';
      const r = run(['--config', path.join(dir, k), 'restore', '--from', from, '--share', '/dev/null']);
      if (!(r.rc === 1 && /restore: ceremonies: is configured: restore is a ceremony/.test(r.out)))
        add('signerd-config', 'ConfigMap/signerd-config', `signerd's config loader does not load all of ${k} (or it has no ceremonies:): ${r.out.trim().replaceAll(dir + '/', '')}`);
    }
    const l = run(['policy', 'lint', path.join(dir, 'policy.yaml')]);
    if (l.rc !== 0) add('signerd-config', 'ConfigMap/signerd-config', `signerctl policy lint refuses policy.yaml: ${l.out.trim().replaceAll(dir + '/', '')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The scrape configuration of docs/blockchain/adapter-operations.md (its ```yaml block with
// scrape_configs): Debian's promtool is built without Kubernetes service discovery, so the
// relabelling is evaluated here instead, on the targets the pods of the manifests would be (one
// per container port): job signerd keeps signerd's ops port alone, job blockchain-adapters each
// adapter's metrics port alone.
const GUIDE = 'docs/blockchain/adapter-operations.md';
function checkScrapeConfig(guide, ws, add) {
  const m = /```yaml\n((?:(?!```)[\s\S])*?\nscrape_configs:[\s\S]*?)```/.exec(guide);
  if (!m) return add('prometheus', GUIDE, 'no ```yaml block with scrape_configs');
  let jobs;
  try {
    jobs = YAML.parse(m[1]).scrape_configs;
  } catch (e) {
    return add('prometheus', GUIDE, `the scrape config does not parse: ${e.message}`);
  }
  const sanitize = (n) => n.replace(/[^a-zA-Z0-9_]/g, '_');
  const targets = [];
  for (const w of ws) for (const c of w.spec.containers || []) for (const p of c.ports || []) {
    const meta = { __meta_kubernetes_namespace: w.namespace, __meta_kubernetes_pod_container_port_name: p.name || '',
      __meta_kubernetes_pod_container_port_number: String(p.containerPort), __meta_kubernetes_pod_container_name: c.name };
    for (const [k, v] of Object.entries(w.labels)) meta[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
    targets.push({ w, port: p, meta });
  }
  const want = {
    signerd: (t) => isSignerd(t.w) && t.port.name === 'ops',
    'blockchain-adapters': (t) => isAdapter(t.w) && t.port.name === 'metrics',
    // the readiness textfile, from signerd-0's node_exporter
    node: (t) => isSignerd(t.w) && t.port.name === 'textfile',
  };
  for (const [name, expected] of Object.entries(want)) {
    const job = (jobs || []).find((j) => j.job_name === name);
    if (!job) {
      add('prometheus', GUIDE, `no scrape job ${name}`);
      continue;
    }
    const names = new Set((job.kubernetes_sd_configs || []).flatMap((s) => s.namespaces?.names || []));
    // a job without Kubernetes discovery (static targets) reaches none of these pods
    const pods = (job.kubernetes_sd_configs || []).some((s) => s.role === 'pod');
    const kept = targets.filter((t) => pods && (!names.size || names.has(t.meta.__meta_kubernetes_namespace)) &&
      (job.relabel_configs || []).every((r) => {
        if (r.action !== 'keep' && r.action !== 'drop') return true;
        const value = (r.source_labels || []).map((l) => t.meta[l] ?? '').join(r.separator ?? ';');
        const hit = new RegExp(`^(?:${r.regex ?? '(.*)'})$`).test(value);
        return r.action === 'keep' ? hit : !hit;
      }));
    for (const t of kept) if (!expected(t)) add('prometheus', GUIDE, `job ${name} scrapes ${t.w.kind}/${t.w.name} port ${t.port.name}`);
    for (const t of targets) if (expected(t) && !kept.includes(t)) add('prometheus', GUIDE, `job ${name} misses ${t.w.kind}/${t.w.name} port ${t.port.name}`);
  }
}

// The adapters' environment in the guide (section 2, "### The adapters"): a table with a row per
// variable and a column per adapter Deployment (headed with its name), each cell the value the
// Deployment gives it (`VALUE`) or — when that adapter has no such variable. Every variable of
// every adapter Deployment has its row, every row's variable is in the Deployments, and every
// value is the Deployment's: the guide and the manifests cannot drift apart.
function checkGuideEnv(guide, ws, add) {
  const adapters = ws.filter(isAdapter);
  const h = /^### The adapters\s*$/m.exec(guide);
  if (!h) return add('guide-env', GUIDE, 'no "### The adapters" section (the adapters\' environment)');
  const rest = guide.slice(h.index + h[0].length);
  const end = /^#{2,3} /m.exec(rest);
  const lines = (end ? rest.slice(0, end.index) : rest).split('\n');
  const start = lines.findIndex((l) => /^\|\s*variable\s*\|/.test(l));
  if (start < 0) return add('guide-env', GUIDE, '"The adapters" has no table headed | variable | ...');
  const cells = (l) => l.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
  const head = cells(lines[start]);
  const cols = new Map(); // column index -> Deployment
  head.forEach((c, i) => {
    const name = c.replace(/`/g, '');
    const d = adapters.find((a) => a.name === name);
    if (d) cols.set(i, d);
  });
  for (const a of adapters) if (![...cols.values()].includes(a)) add('guide-env', GUIDE, `the adapters' table has no column ${a.name}`);
  const listed = new Map(); // variable -> row
  for (const l of lines.slice(start + 2)) {
    if (!/^\|/.test(l.trim())) break;
    const row = cells(l);
    const vars = [...row[0].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]);
    if (vars.length !== 1) {
      add('guide-env', GUIDE, `the adapters' table row "${row[0]}" names ${vars.length} variables: one per row`);
      continue;
    }
    const v = vars[0];
    if (listed.has(v)) add('guide-env', GUIDE, `the adapters' table lists ${v} twice`);
    listed.set(v, row);
    for (const [i, d] of cols) {
      const cell = row[i] ?? '';
      const env = ((d.spec.containers || [])[0]?.env || []).find((e) => e.name === v);
      const m = /^`([^`]*)`/.exec(cell);
      if (!env && m) add('guide-env', GUIDE, `the guide gives ${v} = ${m[1]} for ${d.name}, whose Deployment has no ${v}`);
      else if (env && !m) add('guide-env', GUIDE, `the guide gives no value of ${v} for ${d.name}; its Deployment has ${v}=${env.value}`);
      else if (env && m && m[1] !== String(env.value)) add('guide-env', GUIDE, `the guide gives ${v} = ${m[1]} for ${d.name}; its Deployment has ${env.value}`);
    }
  }
  for (const d of adapters) for (const c of d.spec.containers || []) for (const e of c.env || [])
    if (!listed.has(e.name)) add('guide-env', GUIDE, `${d.name}'s ${e.name} is not in the guide's adapter table`);
}

export { YAML, signerdConfig, mountFor };
