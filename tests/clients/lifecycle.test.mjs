// Rotation with real clients, under ceremonies: ethers and @solana/kit sign with version 1,
// the custodians rotate and activate version 2, new signatures recover to version 2's address,
// version 1 is refused, and a key-sign ceremony lets version 1 sign one approved transfer to
// version 2's address, once, and nothing else.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import nacl from "tweetnacl";
import { Transaction } from "ethers";
import {
  address, pipe, createTransactionMessage, setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash, appendTransactionMessageInstruction,
  compileTransaction, getBase58Encoder, AccountRole,
} from "@solana/kit";
import { devEnv, sign } from "./signerd-client.mjs";

let env;
before(async () => { env = await devEnv("", { ceremonies: true }); });
after(async () => env.cleanup());

const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const fromB58 = (s) => getBase58Encoder().encode(s);
const blockhash = "EETubP5AKHgjPAhzPAFcb8BAY1hMH639CWCFTqi3hq1k";
let planNo = 0;

// A ceremony: the plan, approved by alice and bob (quorum 2), run; its result.
function ceremony(action, ...args) {
  const plan = join(env.dir, `plan-${++planNo}.json`);
  const p = env.ctl("ceremony", "plan", action, ...args, "--out", plan);
  assert.equal(p.status, 0, p.stderr);
  const approvals = ["alice", "bob"].flatMap((n) => ["--approval", env.approve(n, plan)]);
  // with backups (dev-env --ceremonies), a new version is backed up as it is made: its
  // ceremony needs two custodians' shares of the backup key
  const shares = action === "key-rotate" ? ["alice", "bob"].flatMap((n) => ["--share", env.share(n)]) : [];
  const r = env.ctl("ceremony", "run", plan, ...approvals, ...shares, "--json");
  return { plan, approvals, status: r.status, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout) : null };
}

// rotate and activate: version 2's KEY
function rotate(name) {
  const rot = ceremony("key-rotate", name);
  assert.equal(rot.status, 0, rot.stderr);
  assert.equal(rot.out.result.state, "pre-activation");
  const act = ceremony("key-activate", name, "--version", "2");
  assert.equal(act.status, 0, act.stderr);
  assert.equal(act.out.result.state, "active");
  return rot.out.result;
}

// a signature by `version`, once the signer honours the switch (signerd: within 2 s)
async function signedBy(key, option, payload, version) {
  for (let i = 0; i < 50; i++) {
    const r = await sign(env, key, option, payload);
    if (r.status === 0 && r.body.key_version === version) return r.body;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`${key} did not sign with version ${version} within 5 s`);
}

function evmTx(to, value) {
  return Transaction.from({
    type: 2, chainId: 137n, nonce: 0, to, value, gasLimit: 21000n, maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  }).unsignedSerialized;
}

describe("ethers: polygon-dev rotated by ceremony", () => {
  test("v1 signs, v2 takes over, v1 signs one approved transfer to v2 and nothing else", async () => {
    const v1 = env.key("polygon-dev");
    const before = await sign(env, "polygon-dev", "--evm-transaction", evmTx("0x3535353535353535353535353535353535353535", 1n));
    assert.equal(before.status, 0, JSON.stringify(before.body));
    assert.equal(Transaction.from(before.body.signed_transaction).from, v1.address);

    const v2 = rotate("polygon-dev");
    assert.notEqual(v2.address, v1.address);
    const body = await signedBy("polygon-dev", "--evm-transaction", evmTx("0x3535353535353535353535353535353535353535", 2n), 2);
    assert.equal(Transaction.from(body.signed_transaction).from, v2.address);
    const refused = await sign(env, "polygon-dev", "--evm-message", "0x01", "dev", 1);
    assert.equal(refused.status, 1);
    assert.equal(refused.body.error.code, "key_not_active");

    // the last transfer of v1: to v2, approved byte for byte
    const last = evmTx(v2.address, 10n ** 15n);
    const ks = ceremony("key-sign", "--key", "polygon-dev", "--version", "1", "--operation", "dev", "--evm-transaction", last);
    assert.equal(ks.status, 0, ks.stderr);
    const signed = Transaction.from(ks.out.result.signed_transaction);
    assert.equal(signed.from, v1.address);
    assert.equal(signed.to, v2.address);
    assert.equal(signed.value, 10n ** 15n);
    assert.equal(ks.out.result.key_version, 1);
    // once: the same plan and approvals again are refused; v1 signs nothing else
    const again = env.ctl("ceremony", "run", ks.plan, ...ks.approvals);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /carried out already/);
    const other = await sign(env, "polygon-dev", "--evm-transaction", evmTx(v2.address, 1n), "dev", 1);
    assert.equal(other.status, 1);
    assert.equal(other.body.error.code, "key_not_active");
  });
});

function transfer(from, to, lamports) {
  const data = new Uint8Array(12);
  new DataView(data.buffer).setUint32(0, 2, true);
  new DataView(data.buffer).setBigUint64(4, lamports, true);
  const msg = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(address(from), m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash, lastValidBlockHeight: 100n }, m),
    (m) => appendTransactionMessageInstruction({
      programAddress: address("11111111111111111111111111111111"),
      accounts: [
        { address: address(from), role: AccountRole.WRITABLE_SIGNER },
        { address: address(to), role: AccountRole.WRITABLE },
      ],
      data,
    }, m),
  );
  return new Uint8Array(compileTransaction(msg).messageBytes);
}

describe("@solana/kit: solana-dev rotated by ceremony", () => {
  test("v1 signs, v2 takes over, v1 signs one approved transfer to v2 and nothing else", async () => {
    const v1 = env.key("solana-dev");
    const dest = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
    const m1 = transfer(v1.address, dest, 5n);
    const before = await sign(env, "solana-dev", "--solana-message", b64(m1));
    assert.equal(before.status, 0, JSON.stringify(before.body));
    assert.ok(nacl.sign.detached.verify(m1, fromB58(before.body.signature), fromB58(v1.public_key)));

    const v2 = rotate("solana-dev");
    const m2 = transfer(v2.address, dest, 6n);
    const body = await signedBy("solana-dev", "--solana-message", b64(m2), 2);
    assert.equal(body.signer, v2.address);
    assert.ok(nacl.sign.detached.verify(m2, fromB58(body.signature), fromB58(v2.public_key)));
    // v1 is no signer any more: a message it pays for is refused
    const refused = await sign(env, "solana-dev", "--solana-message", b64(transfer(v1.address, dest, 7n)), "dev", 1);
    assert.equal(refused.status, 1);
    assert.equal(refused.body.error.code, "key_not_active");

    const last = transfer(v1.address, v2.address, 1000n);
    const ks = ceremony("key-sign", "--key", "solana-dev", "--version", "1", "--operation", "dev", "--solana-message", b64(last));
    assert.equal(ks.status, 0, ks.stderr);
    assert.equal(ks.out.result.key_version, 1);
    assert.equal(ks.out.result.signer, v1.address);
    assert.ok(nacl.sign.detached.verify(last, fromB58(ks.out.result.signature), fromB58(v1.public_key)));
    const again = env.ctl("ceremony", "run", ks.plan, ...ks.approvals);
    assert.equal(again.status, 1);
    const other = await sign(env, "solana-dev", "--solana-message", b64(transfer(v1.address, v2.address, 1n)), "dev", 1);
    assert.equal(other.status, 1);
  });
});
