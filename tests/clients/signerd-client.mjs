// Helpers shared by the client tests: a throw-away development environment made by
// tools/dev-env, and a signer to send requests to. SIGNER_MODE=cli (the default) signs with
// `signerctl sign`; SIGNER_MODE=https starts signerd on the environment and signs over mTLS with
// each adapter's client certificate (solana-adapter for solana-dev, polygon-adapter otherwise).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = process.env.SIGNER_ROOT;
const signerctl = process.env.SIGNERCTL;
const signerd = process.env.SIGNERD;
export const mode = process.env.SIGNER_MODE ?? "cli";
if (!root || !signerctl) throw new Error("SIGNER_ROOT and SIGNERCTL must be set (ctest sets them)");
if (mode === "https" && !signerd) throw new Error("SIGNER_MODE=https needs SIGNERD");

const fields = {
  "--solana-message": "solana_message",
  "--evm-transaction": "evm_transaction",
  "--evm-message": "evm_message",
  "--evm-typed-data": "evm_typed_data",
};

async function waitFor(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// devEnv(policyExtra, {ceremonies}): policyExtra (YAML text) is appended to the environment's
// policy before signerd starts; ceremonies: tools/dev-env --ceremonies (custodians alice, bob
// and carol; their gpg-agents are killed by cleanup).
export async function devEnv(policyExtra = "", { ceremonies = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "signer-clients-"));
  // below the kernel's ephemeral ports (32768 and up), which other tests' connections take
  const apiPort = 10000 + Math.floor(Math.random() * 22000);
  const opsPort = apiPort + 1;
  execFileSync(join(root, "tools/dev-env"), [join(dir, "env"), "--api-port", `${apiPort}`, "--ops-port", `${opsPort}`,
    ...(ceremonies ? ["--ceremonies"] : [])], {
    env: { ...process.env, SIGNERCTL: signerctl },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const config = join(dir, "env/signerd.yaml");
  if (policyExtra) writeFileSync(join(dir, "env/policy.yaml"), policyExtra, { flag: "a" });
  const ctl = (...args) => spawnSync(signerctl, ["--config", config, ...args], { encoding: "utf8" });
  const keys = JSON.parse(ctl("key", "list", "--json").stdout).keys;
  let daemon = null;
  if (mode === "https") {
    daemon = spawn(signerd, ["--config", config], { stdio: ["ignore", "ignore", "inherit"] });
    await waitFor(`http://127.0.0.1:${opsPort}/readyz`, 15000);
  }
  const pki = join(dir, "env/pki");
  return {
    dir,
    ctl,
    apiPort,
    ca: readFileSync(join(pki, "ca.pem")),
    client: (name) => ({
      cert: readFileSync(join(pki, "clients", `${name}.pem`)),
      key: readFileSync(join(pki, "clients", `${name}.key`)),
    }),
    key: (name) => keys.find((k) => k.name === name),
    // approve(name, plan): custodian name's detached signature over the plan file, its path
    approve: (name, plan) => {
      const out = `${plan}.${name}.asc`;
      execFileSync("gpg", ["--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
        "--yes", "--detach-sign", "--armor", "-o", out, plan],
      { env: { ...process.env, GNUPGHOME: join(dir, "env/custodians", name, "gnupg") }, stdio: "ignore" });
      return out;
    },
    // share(name): custodian name's share of the backup key, decrypted by them into an
    // owner-only file; its path
    share: (name) => {
      const out = join(dir, `${name}.share`);
      const fd = openSync(out, "w", 0o600);
      execFileSync("gpg", ["--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
        "--decrypt", join(dir, "env/custodians", name, "backup-share.asc")],
      { env: { ...process.env, GNUPGHOME: join(dir, "env/custodians", name, "gnupg") }, stdio: ["ignore", fd, "ignore"] });
      closeSync(fd);
      return out;
    },
    cleanup: async () => {
      if (ceremonies)
        for (const h of ["alice", "bob", "carol"].map((n) => join(dir, "env/custodians", n, "gnupg")).concat([join(dir, "env/custodians.gnupg")]))
          spawnSync("gpgconf", ["--homedir", h, "--kill", "all"]);
      if (daemon) {
        const exited = new Promise((r) => daemon.once("exit", r));
        daemon.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function httpsSign(env, key, body) {
  const client = env.client(key === "solana-dev" ? "solana-adapter" : "polygon-adapter");
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1", port: env.apiPort, method: "POST", path: `/v1/keys/${key}/sign`,
      ca: env.ca, cert: client.cert, key: client.key, servername: "localhost",
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode === 200 ? 0 : 1, http: res.statusCode, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

// sign(env, key, "--evm-message", "0x...", operation, version) -> {status: 0 on success else 1,
// body}; version pins key_version (default: the active one)
export async function sign(env, key, payloadOption, payload, operation = "dev", version = undefined) {
  if (mode === "https")
    return httpsSign(env, key, {
      operation, [fields[payloadOption]]: payload, ...(version ? { key_version: version } : {}),
    });
  let arg = payload;
  if (payloadOption === "--evm-typed-data") {
    arg = join(env.dir, `typed-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(arg, JSON.stringify(payload));
  }
  const r = env.ctl("sign", "--key", key, ...(version ? ["--key-version", `${version}`] : []),
    "--operation", operation, payloadOption, arg, "--json");
  return { status: r.status, body: JSON.parse(r.stdout), stderr: r.stderr };
}
