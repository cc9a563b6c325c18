// EVM: ethers 6 and viem 2 build transactions and messages on Polygon (137) and Amoy (80002);
// signerd signs them; the libraries recover the signer and re-read what was signed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Transaction, Signature, TypedDataEncoder, hashMessage, keccak256, getBytes, hexlify,
  verifyMessage as ethersVerifyMessage, verifyTypedData as ethersVerifyTypedData,
  Interface, toUtf8Bytes,
} from "ethers";
import {
  serializeTransaction, parseTransaction, recoverTransactionAddress, verifyMessage,
  verifyTypedData, hashTypedData, recoverAddress, keccak256 as viemKeccak,
} from "viem";
import { devEnv, sign } from "./signerd-client.mjs";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
let env, key;

before(async () => {
  env = await devEnv();
  key = env.key("polygon-dev");
  assert.ok(key, "polygon-dev exists");
});
after(async () => env.cleanup());

const erc20 = new Interface(["function transfer(address to, uint256 amount)"]);
const recipient = "0x3535353535353535353535353535353535353535";

function ethersTxs(chainId) {
  const base = { chainId, nonce: 7, gasLimit: 60000n, to: recipient, value: 10n ** 16n };
  return {
    legacy: { ...base, type: 0, gasPrice: 30n * 10n ** 9n },
    eip2930: {
      ...base, type: 1, gasPrice: 31n * 10n ** 9n,
      accessList: [{ address: recipient, storageKeys: ["0x" + "00".repeat(31) + "01"] }],
    },
    eip1559: { ...base, type: 2, maxFeePerGas: 50n * 10n ** 9n, maxPriorityFeePerGas: 30n * 10n ** 9n },
    erc20: {
      ...base, type: 2, value: 0n, maxFeePerGas: 50n * 10n ** 9n, maxPriorityFeePerGas: 1n,
      to: "0x0000000000000000000000000000000000001010",
      data: erc20.encodeFunctionData("transfer", [recipient, 12345n]),
    },
    create: {
      chainId, nonce: 0, gasLimit: 500000n, type: 2, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n,
      to: null, data: "0x6080604052348015600f57600080fd5b50",
    },
  };
}

for (const chainId of [137n, 80002n]) {
  describe(`ethers transactions on chain ${chainId}`, () => {
    for (const [kind, fields] of Object.entries(ethersTxs(chainId))) {
      test(kind, async () => {
        const unsigned = Transaction.from(fields);
        const { status, body } = await sign(env, "polygon-dev", "--evm-transaction", unsigned.unsignedSerialized);
        assert.equal(status, 0, JSON.stringify(body));
        const signed = Transaction.from(body.signed_transaction);
        assert.equal(signed.from, key.address);
        assert.equal(body.from, key.address);
        assert.equal(signed.hash, body.transaction_hash);
        assert.equal(keccak256(body.signed_transaction), body.transaction_hash);
        // what was signed is what was asked for
        assert.equal(signed.unsignedSerialized, unsigned.unsignedSerialized);
        assert.equal(signed.chainId, chainId);
        assert.equal(signed.to, fields.to === null ? null : unsigned.to);
        // canonical: low s, and v as the type wants it
        assert.ok(BigInt(body.s) <= N / 2n, "s is low");
        assert.equal(BigInt(signed.signature.s), BigInt(body.s));
        assert.equal(BigInt(signed.signature.r), BigInt(body.r));
        if (fields.type === 0) {
          const v = BigInt(body.v);
          assert.ok(v === chainId * 2n + 35n || v === chainId * 2n + 36n, `EIP-155 v ${v}`);
          assert.equal(signed.signature.networkV, v);
        } else {
          assert.ok(body.v === "0x0" || body.v === "0x1");
        }
      });
    }
  });

  describe(`viem transactions on chain ${chainId}`, () => {
    const id = Number(chainId);
    const txs = {
      legacy: { chainId: id, nonce: 3, gas: 21000n, to: recipient, value: 1n, gasPrice: 25n * 10n ** 9n, type: "legacy" },
      eip2930: { chainId: id, nonce: 4, gas: 30000n, to: recipient, value: 2n, gasPrice: 25n * 10n ** 9n, type: "eip2930", accessList: [] },
      eip1559: { chainId: id, nonce: 5, gas: 21000n, to: recipient, value: 3n, maxFeePerGas: 60n * 10n ** 9n, maxPriorityFeePerGas: 2n * 10n ** 9n, type: "eip1559" },
    };
    for (const [kind, tx] of Object.entries(txs)) {
      test(kind, async () => {
        const unsigned = serializeTransaction(tx);
        const { status, body } = await sign(env, "polygon-dev", "--evm-transaction", unsigned);
        assert.equal(status, 0, JSON.stringify(body));
        const from = await recoverTransactionAddress({ serializedTransaction: body.signed_transaction });
        assert.equal(from, key.address);
        const parsed = parseTransaction(body.signed_transaction);
        assert.equal(parsed.chainId, id);
        assert.equal(parsed.nonce, tx.nonce);
        assert.equal(parsed.value, tx.value);
        assert.equal(parsed.to.toLowerCase(), recipient);
        assert.equal(viemKeccak(body.signed_transaction), body.transaction_hash);
      });
    }
  });
}

test("Amoy legacy v is the multi-byte 160039/160040", async () => {
  const unsigned = Transaction.from({ ...ethersTxs(80002n).legacy }).unsignedSerialized;
  const { body } = await sign(env, "polygon-dev", "--evm-transaction", unsigned);
  assert.ok(["0x27127", "0x27128"].includes(body.v), body.v);
});

test("personal_sign verifies with ethers and viem", async () => {
  for (const message of [toUtf8Bytes("Hello, fans!"), new Uint8Array([0, 1, 2, 255]), new Uint8Array()]) {
    const { status, body } = await sign(env, "polygon-dev", "--evm-message", hexlify(message));
    assert.equal(status, 0, JSON.stringify(body));
    assert.equal(body.digest, hashMessage(message));
    assert.equal(ethersVerifyMessage(message, body.signature), key.address);
    assert.ok(await verifyMessage({ address: key.address, message: { raw: message }, signature: body.signature }));
    const sig = Signature.from(body.signature);
    assert.ok(BigInt(sig.s) <= N / 2n);
    assert.ok(sig.v === 27 || sig.v === 28);
  }
});

test("EIP-712 typed data verifies with ethers and viem", async () => {
  const domain = { name: "FanPass", version: "1", chainId: 137, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
  const types = {
    Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
    Pass: [
      { name: "holder", type: "Person" }, { name: "tier", type: "uint8" },
      { name: "perks", type: "string[]" }, { name: "expires", type: "uint256" },
      { name: "seal", type: "bytes32" }, { name: "note", type: "bytes" },
    ],
  };
  const message = {
    holder: { name: "Ada", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
    tier: 3, perks: ["lounge", "merch"], expires: "1893456000",
    seal: "0x" + "ab".repeat(32), note: "0x0102",
  };
  const { status, body } = await sign(env, "polygon-dev", "--evm-typed-data", { types, primaryType: "Pass", domain, message });
  assert.equal(status, 0, JSON.stringify(body));
  assert.equal(body.digest, TypedDataEncoder.hash(domain, types, message));
  assert.equal(body.digest, hashTypedData({ domain, types, primaryType: "Pass", message }));
  assert.equal(ethersVerifyTypedData(domain, types, message, body.signature), key.address);
  assert.ok(await verifyTypedData({ address: key.address, domain, types, primaryType: "Pass", message, signature: body.signature }));
  assert.equal(await recoverAddress({ hash: body.digest, signature: body.signature }), key.address);
});

test("what signerd refuses", async () => {
  // a pre-EIP-155 legacy transaction (no chain id): replayable, refused
  const pre155 = Transaction.from({ type: 0, nonce: 7, gasPrice: 1n, gasLimit: 21000n, to: recipient, value: 1n }).unsignedSerialized;
  let r = await sign(env, "polygon-dev", "--evm-transaction", pre155);
  assert.equal(r.status, 1);
  assert.equal(r.body.error.code, "invalid_payload");
  assert.match(r.body.error.message, /EIP-155/);
  // a blob transaction type
  r = await sign(env, "polygon-dev", "--evm-transaction", "0x03c0");
  assert.equal(r.body.error.code, "invalid_payload");
  // a Solana key for an EVM payload
  r = await sign(env, "solana-dev", "--evm-message", "0x00");
  assert.equal(r.body.error.code, "wrong_chain");
  // a key no grant names: forbidden (the policy answers before the key store is asked)
  r = await sign(env, "nobody", "--evm-message", "0x00");
  assert.equal(r.body.error.code, "forbidden");
  // an operation no grant names
  r = await sign(env, "polygon-dev", "--evm-message", "0x00", "mint");
  assert.equal(r.body.error.code, "forbidden");
  // typed data with a field its type does not have
  r = await sign(env, "polygon-dev", "--evm-typed-data", { types: { A: [] }, primaryType: "A", domain: {}, message: { x: 1 } });
  assert.equal(r.body.error.code, "invalid_payload");
});
