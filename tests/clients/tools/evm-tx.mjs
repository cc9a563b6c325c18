// node evm-tx.mjs TO VALUE_WEI [DATA_HEX] [GAS] [MAX_FEE_WEI] [CHAIN_ID]: the unsigned EIP-1559
// transaction as ethers serialises it (unsignedSerialized), for the shell tests that sign it.
import { Transaction } from "ethers";

const [to, value, data = "0x", gas = "21000", maxFee = "0", chainId = "137"] = process.argv.slice(2);
if (!to || value === undefined) {
  console.error("usage: evm-tx.mjs TO VALUE_WEI [DATA_HEX] [GAS] [MAX_FEE_WEI] [CHAIN_ID]");
  process.exit(2);
}
const tx = Transaction.from({
  type: 2, chainId: BigInt(chainId), nonce: 0, to, value: BigInt(value), data,
  gasLimit: BigInt(gas), maxFeePerGas: BigInt(maxFee), maxPriorityFeePerGas: 0n,
});
console.log(tx.unsignedSerialized);
