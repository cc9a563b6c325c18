// node tests/kubernetes/check.mjs [--signerctl PATH] : every check of
// manifests.mjs on deploy/kubernetes; exit 0 only when none finds anything.
import fs from 'node:fs';
import path from 'node:path';
import { check, deployDir, readFiles, root } from './manifests.mjs';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const files = readFiles();
const readme = fs.readFileSync(path.join(deployDir, 'README.md'), 'utf8');
const guide = (() => {
  try {
    return fs.readFileSync(path.join(root, 'docs/blockchain/adapter-operations.md'), 'utf8');
  } catch {
    return ''; // the check then says the guide has no scrape configuration
  }
})();
const findings = await check(files, { readme, guide, signerctl: arg('--signerctl') });
const docs = Object.keys(files).length;
for (const f of findings) console.log(`FAIL [${f.check}] ${f.where}: ${f.msg}`);
console.log(`kubernetes manifests: ${docs} files${arg('--signerctl') ? ', signerd.yaml and signerd-maintenance.yaml loaded whole by signerctl, the policy linted' : ''}, the guide's scrape jobs on their pods and its adapter environment table against the Deployments`);
console.log(`kubernetes_manifests: ${findings.length ? 0 : 1} passed, ${findings.length ? 1 : 0} failed`);
process.exit(findings.length ? 1 : 0);
