#!/usr/bin/env bash
# tools/quickstart serves, and the curl command it prints signs.
set -euo pipefail
root=$1
work=$(mktemp -d /tmp/signer-quickstart-XXXXXX)
qs_pid=
trap '[[ -n $qs_pid ]] && kill -TERM $qs_pid 2>/dev/null; sleep 0.5; rm -rf "$work"' EXIT
api_port=$((20000 + RANDOM % 20000))
ops_port=$((api_port + 1))
SIGNER_DEV_DIR=$work/dev "$root/tools/quickstart" --api-port "$api_port" --ops-port "$ops_port" \
  > "$work/out" 2>&1 &
qs_pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$qs_pid" 2>/dev/null || { cat "$work/out"; echo "quickstart: 0 passed, 1 failed"; exit 1; }
  sleep 0.2
done
cmd=$(sed -n '/^  curl --cacert/,/sign$/p' "$work/out" | sed 's/^  //')
[[ -n $cmd ]] || { cat "$work/out"; echo "quickstart: 0 passed, 1 failed"; exit 1; }
out=$(bash -c "$cmd -s")
if jq -e '.key == "polygon-dev" and (.signature | length) == 132' <<<"$out" >/dev/null; then
  echo "quickstart: 1 passed, 0 failed"
else
  echo "the printed command answered: $out"
  echo "quickstart: 0 passed, 1 failed"
  exit 1
fi
