// Helpers shared by the client tests: a throw-away development environment made by
// tools/dev-env, and signerctl's sign as the signer (the daemon's API comes with its own tests).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = process.env.SIGNER_ROOT;
const signerctl = process.env.SIGNERCTL;
if (!root || !signerctl) throw new Error("SIGNER_ROOT and SIGNERCTL must be set (ctest sets them)");

export function devEnv() {
  const dir = mkdtempSync(join(tmpdir(), "signer-clients-"));
  execFileSync(join(root, "tools/dev-env"), [join(dir, "env")], {
    env: { ...process.env, SIGNERCTL: signerctl },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const config = join(dir, "env/signerd.yaml");
  const ctl = (...args) =>
    spawnSync(signerctl, ["--config", config, ...args], { encoding: "utf8" });
  const keys = JSON.parse(ctl("key", "list", "--json").stdout).keys;
  return {
    dir,
    ctl,
    key: (name) => keys.find((k) => k.name === name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// signerctl sign ... --json: {status, body} where body is the API's response or error object
export function sign(env, key, payloadOption, payload, operation = "dev") {
  let arg = payload;
  if (payloadOption === "--evm-typed-data") {
    arg = join(env.dir, `typed-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(arg, JSON.stringify(payload));
  }
  const r = env.ctl("sign", "--key", key, "--operation", operation, payloadOption, arg, "--json");
  return { status: r.status, body: JSON.parse(r.stdout), stderr: r.stderr };
}
