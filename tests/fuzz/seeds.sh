#!/usr/bin/env bash
# tests/fuzz/seeds.sh OUTDIR: writes the seed corpus of every fuzz target from the shared vectors
# (read in place, never copied into the repository): OUTDIR/<target>/<name>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
vectors=${SIGNER_TESTVECTORS_DIR:-$root/../shared/testvectors}
out=$1
# a directory per target (fuzz_<target>.c), empty where the shared vectors have nothing for it
for src in "$root"/tests/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c); mkdir -p "$out/${t#fuzz_}"
done
hex_to() { xxd -r -p > "$1"; }

for f in "$vectors"/solana/*.json; do
  jq -e -r '.message_hex // empty' "$f" >/dev/null 2>&1 || continue
  jq -r '.message_hex' "$f" | hex_to "$out/solana_message/$(basename "$f" .json)"
done
i=0
jq -r '.vectors[].encodings[] | .unsigned, .signed' "$vectors/evm/ethers_tx_vectors.json" \
  "$vectors/evm/ethers_tx_vectors.json" | sort -u | while read -r h; do
  i=$((i + 1)); printf '%s' "${h#0x}" | hex_to "$out/evm_tx/ethers-$i"
done
jq -r '.vectors[] | .unsigned' "$vectors/evm/polygon_generated_tx.json" | while read -r h; do
  i=$((i + 1)); printf '%s' "${h#0x}" | hex_to "$out/evm_tx/polygon-$i"
done
jq -c '.typedData' "$vectors/evm/eip712_typed_data.json" > "$out/eip712/mail.json"
