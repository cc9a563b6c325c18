// Solana: @solana/web3.js 1 and @solana/kit build legacy and v0 messages (with an address lookup
// table); signerd signs the message bytes; tweetnacl and the libraries verify, and the signed
// transactions deserialise.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import nacl from "tweetnacl";
import {
  PublicKey, Transaction, SystemProgram, ComputeBudgetProgram, TransactionMessage,
  VersionedTransaction, AddressLookupTableAccount, Keypair, TransactionInstruction,
} from "@solana/web3.js";
import {
  address, pipe, createTransactionMessage, setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash, appendTransactionMessageInstruction,
  compileTransaction, getTransactionEncoder, getTransactionDecoder, getBase58Encoder,
  getBase58Decoder, getBase64Decoder, AccountRole, compressTransactionMessageUsingAddressLookupTables,
} from "@solana/kit";
import { devEnv, sign } from "./signerd-client.mjs";

let env, key, payer;
const blockhash = "EETubP5AKHgjPAhzPAFcb8BAY1hMH639CWCFTqi3hq1k";
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const fromB58 = (s) => getBase58Encoder().encode(s);

before(async () => {
  env = await devEnv();
  key = env.key("solana-dev");
  assert.ok(key, "solana-dev exists");
  payer = new PublicKey(key.address);
});
after(async () => env.cleanup());

async function signMessage(messageBytes) {
  const { status, body } = await sign(env, "solana-dev", "--solana-message", b64(messageBytes));
  assert.equal(status, 0, JSON.stringify(body));
  assert.equal(body.signer, key.address);
  const sig = fromB58(body.signature);
  assert.equal(sig.length, 64);
  assert.ok(nacl.sign.detached.verify(messageBytes, sig, fromB58(key.public_key)));
  return sig;
}

test("web3.js legacy transfer with a priority fee", async () => {
  const tx = new Transaction({ feePayer: payer, recentBlockhash: blockhash });
  tx.add(ComputeBudgetProgram.setComputeUnitPrice({ microLamports: 1000 }));
  tx.add(SystemProgram.transfer({ fromPubkey: payer, toPubkey: Keypair.generate().publicKey, lamports: 49 }));
  const message = tx.serializeMessage();
  const sig = await signMessage(message);
  tx.addSignature(payer, Buffer.from(sig));
  assert.ok(tx.verifySignatures());
  const back = Transaction.from(tx.serialize());
  assert.ok(back.verifySignatures());
  assert.deepEqual(Buffer.from(back.signature), Buffer.from(sig));
});

test("web3.js v0 transfer with an address lookup table", async () => {
  const table = new AddressLookupTableAccount({
    key: Keypair.generate().publicKey,
    state: {
      deactivationSlot: BigInt("18446744073709551615"), lastExtendedSlot: 0, lastExtendedSlotStartIndex: 0,
      authority: undefined, addresses: [Keypair.generate().publicKey, Keypair.generate().publicKey],
    },
  });
  const memo = new TransactionInstruction({
    programId: new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
    keys: [{ pubkey: table.state.addresses[1], isSigner: false, isWritable: false }],
    data: Buffer.from("signerd client test"),
  });
  const message = new TransactionMessage({
    payerKey: payer, recentBlockhash: blockhash,
    instructions: [SystemProgram.transfer({ fromPubkey: payer, toPubkey: table.state.addresses[0], lamports: 1000000 }), memo],
  }).compileToV0Message([table]);
  assert.equal(message.addressTableLookups.length, 1);
  const bytes = message.serialize();
  assert.equal(bytes[0], 0x80);
  const sig = await signMessage(bytes);
  const vtx = new VersionedTransaction(message);
  vtx.addSignature(payer, sig);
  const back = VersionedTransaction.deserialize(vtx.serialize());
  assert.deepEqual(Buffer.from(back.signatures[0]), Buffer.from(sig));
  assert.ok(nacl.sign.detached.verify(back.message.serialize(), back.signatures[0], payer.toBytes()));
});

test("@solana/kit v0 message, legacy and with a lookup table, encoded and decoded", async () => {
  const system = address("11111111111111111111111111111111");
  const feePayer = address(key.address);
  const dest = address(Keypair.generate().publicKey.toBase58());
  const tableAddress = address(Keypair.generate().publicKey.toBase58());
  // SystemProgram Transfer: u32 index 2, u64 lamports
  const data = new Uint8Array(12);
  new DataView(data.buffer).setUint32(0, 2, true);
  new DataView(data.buffer).setBigUint64(4, 5000n, true);
  const transfer = {
    programAddress: system,
    accounts: [
      { address: feePayer, role: AccountRole.WRITABLE_SIGNER },
      { address: dest, role: AccountRole.WRITABLE },
    ],
    data,
  };
  for (const version of ["legacy", 0, "v0-alt"]) {
    let msg = pipe(
      createTransactionMessage({ version: version === "legacy" ? "legacy" : 0 }),
      (m) => setTransactionMessageFeePayer(feePayer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash, lastValidBlockHeight: 100n }, m),
      (m) => appendTransactionMessageInstruction(transfer, m),
    );
    if (version === "v0-alt")
      msg = compressTransactionMessageUsingAddressLookupTables(msg, { [tableAddress]: [dest] });
    const compiled = compileTransaction(msg);
    const sig = await signMessage(new Uint8Array(compiled.messageBytes));
    const signedTx = { ...compiled, signatures: { ...compiled.signatures, [feePayer]: sig } };
    const wire = getTransactionEncoder().encode(signedTx);
    const back = getTransactionDecoder().decode(wire);
    assert.deepEqual(new Uint8Array(back.signatures[feePayer]), new Uint8Array(sig));
    assert.ok(nacl.sign.detached.verify(new Uint8Array(back.messageBytes), sig, fromB58(key.public_key)));
  }
});

test("what signerd refuses", async () => {
  // a message in which solana-dev is not a required signer
  const other = Keypair.generate().publicKey;
  const tx = new Transaction({ feePayer: other, recentBlockhash: blockhash });
  tx.add(SystemProgram.transfer({ fromPubkey: other, toPubkey: payer, lamports: 1 }));
  let r = await sign(env, "solana-dev", "--solana-message", b64(tx.serializeMessage()));
  assert.equal(r.status, 1);
  assert.equal(r.body.error.code, "not_a_signer");
  // the message with a byte too many
  const good = new Transaction({ feePayer: payer, recentBlockhash: blockhash })
    .add(SystemProgram.transfer({ fromPubkey: payer, toPubkey: other, lamports: 1 })).serializeMessage();
  r = await sign(env, "solana-dev", "--solana-message", b64(Buffer.concat([good, Buffer.from([0])])));
  assert.equal(r.body.error.code, "invalid_payload");
  // not base64
  r = await sign(env, "solana-dev", "--solana-message", "***");
  assert.equal(r.body.error.code, "invalid_request");
  // an EVM key for a Solana message
  r = await sign(env, "polygon-dev", "--solana-message", b64(good));
  assert.equal(r.body.error.code, "wrong_chain");
});
