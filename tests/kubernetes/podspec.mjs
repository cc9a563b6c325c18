// node tests/kubernetes/podspec.mjs POD_OR_WORKLOAD --pki DIR --src DIR: what pod.sh needs to run
// one pod of deploy/kubernetes as the kubelet would, as JSON: the pod spec, the ConfigMaps'
// data, the Secrets as README.md's `kubectl create secret` commands make them (each key with
// the file it is read from: "$pki"/x is DIR/x, /etc/signerd/x and ./x are the --src DIR's), the
// README's `tools/pki` lines, what it does in that pod (`kubectl exec`, `kubectl cp`, a custodian's
// `gpg --decrypt` into `kubectl exec -i`), and the placeholders of signerd.yaml the test replaces.
import fs from 'node:fs';
import path from 'node:path';
import { deployDir, parseFiles, readFiles, workloads } from './manifests.mjs';

const [name] = process.argv.slice(2);
const arg = (n) => {
  const i = process.argv.indexOf(n);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const pki = arg('--pki');
const src = arg('--src');
const { docs } = parseFiles(readFiles());
const readme = fs.readFileSync(path.join(deployDir, 'README.md'), 'utf8');
const w = workloads(docs).find((x) => x.name === name);
if (!w) {
  console.error(`podspec: no workload ${name}`);
  process.exit(2);
}
const unquote = (s) => s.replace(/"/g, '');
const file = (p) => {
  p = unquote(p);
  if (p.startsWith('$pki/')) return path.join(pki, p.slice(5));
  if (p.startsWith('/etc/signerd/')) return path.join(src, p.slice(13));
  if (p.startsWith('./')) return path.join(src, p.slice(2));
  throw new Error(`podspec: README.md reads a Secret from ${p}, which the test does not know`);
};
const secrets = {};
for (const line of readme.split('\n')) {
  const m = /^kubectl -n fanengagement create secret (generic|tls) ([a-z0-9-]+) (.*)$/.exec(line.trim());
  if (!m || /--dry-run/.test(m[3])) continue;
  const keys = (secrets[m[2]] = {});
  for (const a of m[3].split(/\s+/)) {
    let f;
    if ((f = /^--from-file=([^=]+)=(.+)$/.exec(a))) keys[f[1]] = file(f[2]);
    else if ((f = /^--cert=(.+)$/.exec(a))) keys['tls.crt'] = file(f[1]);
    else if ((f = /^--key=(.+)$/.exec(a))) keys['tls.key'] = file(f[1]);
  }
}
const configMaps = {};
for (const { doc } of docs) if (doc.kind === 'ConfigMap') configMaps[doc.metadata.name] = doc.data || {};
const services = docs.filter(({ doc }) => doc.kind === 'Service').map(({ doc }) => ({ name: doc.metadata.name,
  selector: doc.spec.selector, ports: doc.spec.ports }));
// README.md's shell lines: tools/pki, and what it does in this pod, in order:
//   kubectl -n fanengagement exec POD [-c C] -- COMMAND...      {kind: exec, argv}
//   kubectl -n fanengagement cp POD:PATH LOCAL | LOCAL POD:PATH {kind: cp, from, to} (POD: marks the pod's)
//   gpg --decrypt FILE | kubectl -n fanengagement exec -i POD -- COMMAND...
//                                                               {kind: exec, argv, decrypt: FILE}
// Words are split as sh does for these lines: blanks, and '...' quoting.
const words = (text) => {
  const out = [];
  let cur = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") {
      const j = text.indexOf("'", i + 1);
      if (j < 0) throw new Error(`podspec: an unterminated quote in README.md: ${text}`);
      cur = (cur ?? '') + text.slice(i + 1, j);
      i = j;
    } else if (/\s/.test(ch)) {
      if (cur !== null) out.push(cur);
      cur = null;
    } else if (ch === '"' || ch === '\\' || ch === '$' || ch === '`') {
      throw new Error(`podspec: README.md's line needs a shell to read: ${text}`);
    } else cur = (cur ?? '') + ch;
  }
  if (cur !== null) out.push(cur);
  return out;
};
const pkiLines = readme.split('\n').filter((l) => /^tools\/pki /.test(l));
const steps = [];
for (const raw of readme.split('\n')) {
  const l = raw.trim().replace(/\s+#.*$/, '');
  let m;
  if ((m = new RegExp(`^kubectl -n fanengagement exec ${name} (?:-c \\S+ )?-- (.*)$`).exec(l)))
    steps.push({ kind: 'exec', argv: words(m[1]) });
  else if ((m = new RegExp(`^gpg --decrypt (\\S+) \\| kubectl -n fanengagement exec -i ${name} (?:-c \\S+ )?-- (.*)$`).exec(l)))
    steps.push({ kind: 'exec', argv: words(m[2]), decrypt: m[1] });
  else if ((m = new RegExp(`^kubectl -n fanengagement cp (\\S+) (\\S+)$`).exec(l)) && [m[1], m[2]].some((x) => x.startsWith(`${name}:`)))
    steps.push({ kind: 'cp', from: m[1].replace(`${name}:`, 'POD:'), to: m[2].replace(`${name}:`, 'POD:') });
}
const execs = steps.filter((x) => x.kind === 'exec' && !x.decrypt).map((x) => x.argv);
// what the test stands in for: the custodians' names and placeholder fingerprints, the S3
// targets' endpoints (of every signerd.yaml of the ConfigMaps)
const YAMLp = (await import('./manifests.mjs')).YAML;
const cfg = YAMLp.parse(configMaps['signerd-config']?.['signerd.yaml'] || '{}') || {};
const placeholders = {
  custodians: cfg.ceremonies?.custodians || {},
  targets: (cfg.backup?.targets || []).map((t) => ({ name: t.name, ...t.s3 })),
};
console.log(JSON.stringify({
  name: w.kind === 'StatefulSet' ? `${w.name}-0` : w.name,
  kind: w.kind,
  spec: w.spec,
  claimTemplates: (w.doc.spec?.volumeClaimTemplates || []).map((t) => t.metadata.name),
  statefulSet: w.kind === 'StatefulSet' ? w.name : null,
  configMaps,
  secrets,
  services,
  pkiLines,
  steps,
  execs,
  placeholders,
}, null, 1));
