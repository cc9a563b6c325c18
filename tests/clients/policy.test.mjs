// Content rules against real clients: ethers and @solana/kit build transactions the policy
// allows and ones it refuses; signerd (or signerctl) signs the first and says why not for the
// second.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Transaction } from "ethers";
import {
  address, pipe, createTransactionMessage, setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash, appendTransactionMessageInstruction,
  compileTransaction, AccountRole,
} from "@solana/kit";
import { devEnv, sign } from "./signerd-client.mjs";

const allowedRecipient = "0x3535353535353535353535353535353535353535";
const dest = "2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1";
const rules = `rules:
  dev:
    evm:
      chain_ids: [137]
      recipients:
        - address: "${allowedRecipient}"
      max_value_wei: "1000"
    solana:
      programs: ["11111111111111111111111111111111"]
      system_transfer:
        destinations: ["${dest}"]
        max_lamports: 5000
`;
let env, solanaKey;

before(async () => {
  env = await devEnv(rules);
  solanaKey = env.key("solana-dev");
});
after(async () => env.cleanup());

const evmTx = (to, value, chainId = 137n) =>
  Transaction.from({ type: 2, chainId, nonce: 0, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to, value }).unsignedSerialized;

test("ethers: allowed, and refused with reason and rule", async () => {
  let r = await sign(env, "polygon-dev", "--evm-transaction", evmTx(allowedRecipient, 1000n));
  assert.equal(r.status, 0, JSON.stringify(r.body));
  assert.equal(Transaction.from(r.body.signed_transaction).from, env.key("polygon-dev").address);
  for (const [tx, reason] of [
    [evmTx(allowedRecipient, 1001n), "evm.value_exceeded"],
    [evmTx("0x4545454545454545454545454545454545454545", 1n), "evm.recipient_not_allowed"],
    [evmTx(allowedRecipient, 1n, 80002n), "evm.chain_not_allowed"],
  ]) {
    r = await sign(env, "polygon-dev", "--evm-transaction", tx);
    assert.equal(r.status, 1);
    assert.equal(r.body.error.code, "policy_denied");
    assert.equal(r.body.error.reason, reason);
    assert.match(r.body.error.rule, /^rules\.dev\.evm/);
  }
  // personal_sign has no section in these rules: refused
  r = await sign(env, "polygon-dev", "--evm-message", "0x00");
  assert.equal(r.body.error.reason, "eip191.not_allowed");
});

function kitTransfer(to, lamports) {
  const data = new Uint8Array(12);
  new DataView(data.buffer).setUint32(0, 2, true);
  new DataView(data.buffer).setBigUint64(4, lamports, true);
  const msg = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(address(solanaKey.address), m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: "EETubP5AKHgjPAhzPAFcb8BAY1hMH639CWCFTqi3hq1k", lastValidBlockHeight: 1n }, m),
    (m) => appendTransactionMessageInstruction({
      programAddress: address("11111111111111111111111111111111"),
      accounts: [
        { address: address(solanaKey.address), role: AccountRole.WRITABLE_SIGNER },
        { address: address(to), role: AccountRole.WRITABLE },
      ],
      data,
    }, m),
  );
  return Buffer.from(compileTransaction(msg).messageBytes).toString("base64");
}

test("@solana/kit: allowed, and refused with reason and rule", async () => {
  let r = await sign(env, "solana-dev", "--solana-message", kitTransfer(dest, 5000n));
  assert.equal(r.status, 0, JSON.stringify(r.body));
  r = await sign(env, "solana-dev", "--solana-message", kitTransfer(dest, 5001n));
  assert.equal(r.body.error.reason, "solana.lamports_exceeded");
  r = await sign(env, "solana-dev", "--solana-message", kitTransfer("J3dxNj7nDRRqRRXuEMynDG57DkZK4jYRuv3Garmb1i99", 1n));
  assert.equal(r.body.error.reason, "solana.transfer_destination_not_allowed");
  assert.match(r.body.error.rule, /^rules\.dev\.solana\.system_transfer/);
});
