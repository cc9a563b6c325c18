# Sourced by signerd_api.sh and signerd_process.sh after test-lib.sh: a development environment
# (tools/dev-env) on free ports, the adapters' certificates in $work/c, and the helpers start,
# stop, api and expect. Needs signerd, signerctl, root and work set.
stop_signerd() { [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true; }
tl_on_exit stop_signerd

api_port=$(tl_port)
ops_port=$((api_port + 1))
env_dir=$work/env
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" --api-port "$api_port" --ops-port "$ops_port" >/dev/null
pki=$env_dir/pki
cfg=$env_dir/signerd.yaml
base=https://localhost:$api_port

start() {
  NOTIFY_SOCKET=${NOTIFY_SOCKET:-} "$signerd" --config "$cfg" >> "$work/signerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$ops_port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "signerd exited:"; cat "$work/signerd.log"; return 1; }
    sleep 0.1
  done
  echo "signerd did not come up"; cat "$work/signerd.log"; return 1
}
stop() { # SIGTERM, and its exit code
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  return $rc
}
# api CLIENT METHOD PATH [BODY] [CONTENT-TYPE]: prints "STATUS BODY"
api() {
  local client=$1 method=$2 path=$3 body=${4:-} ctype=${5:-application/json}
  local out_file
  out_file=$(mktemp -p "$work" body.XXXXXX)
  local args=(-s -o "$out_file" -w '%{http_code}' --cacert "$pki/ca.pem" -X "$method"
    --resolve "localhost:$api_port:127.0.0.1")
  [[ -n $client ]] && args+=(--cert "$work/c/$client.pem" --key "$work/c/$client.key")
  [[ -n $body ]] && args+=(-H "Content-Type: $ctype" --data-binary "$body")
  local code
  code=$(curl "${args[@]}" "$base$path") || code="000"
  echo "$code $(cat "$out_file" 2>/dev/null)"
  rm -f "$out_file"
}
expect() { # expect STATUS CODE CLIENT METHOD PATH [BODY] [CTYPE]
  local want_status=$1 want_code=$2; shift 2
  local out
  out=$(api "$@")
  [[ ${out%% *} == "$want_status" ]] || { echo "  got $out" >&2; return 1; }
  [[ -z $want_code ]] || jq -e --arg c "$want_code" '.error.code == $c' <<<"${out#* }" >/dev/null ||
    { echo "  got $out" >&2; return 1; }
}

mkdir -p "$work/c"
cp "$pki/clients/"*.pem "$pki/clients/"*.key "$work/c/"
p=/v1/keys/polygon-dev/sign
msg='{"operation":"dev","evm_message":"0x48656c6c6f"}'
