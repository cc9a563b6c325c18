#!/usr/bin/env bash
# tools/quickstart: it shows the build's progress, needs neither node nor npm, refuses a port that
# is taken (naming it and its holder) before it prints its banner, serves, and the curl command it
# prints signs.
root=$1
TL_NAME=quickstart TL_ROOT=$root
. "$(dirname "$0")/test-lib.sh"
work=$tl_work
qs_pid=
holder_pid=
stop_all() {
  # (a process that already exited must not stop the clean-up)
  [[ -n $qs_pid ]] && kill -TERM "$qs_pid" 2>/dev/null || true
  [[ -n $holder_pid ]] && kill "$holder_pid" 2>/dev/null || true
  sleep 0.5
}
tl_on_exit stop_all

# A PATH without node, nodejs, npm, npx or corepack: every other program of this PATH, linked.
bin=$work/bin
mkdir -p "$bin"
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
  [[ -d $d ]] || continue
  for f in "$d"/*; do
    name=${f##*/}
    case $name in node|nodejs|npm|npx|corepack) continue ;; esac
    [[ -x $f && ! -e $bin/$name ]] && ln -s "$f" "$bin/$name"
  done
done
no_node=$bin
# (preconditions of the checks, not checks: the test stops when one does not hold)
need() { "$@" >/dev/null 2>&1 || { echo "quickstart: the test cannot run: $*" >&2; exit 1; }; }
need bash -c "PATH='$no_node'; ! command -v node && ! command -v npm"

api_port=$(tl_port)
ops_port=$((api_port + 1))
dev=$work/dev
quickstart() { # quickstart OUT ARGS...: in the background, without node or npm
  SIGNER_DEV_DIR=$dev PATH=$no_node "$root/tools/quickstart" "${@:2}" > "$1" 2>&1 &
  qs_pid=$!
}

# --- a port that is taken: refused before the banner, the port and its holder named ---
hold_port() { # a listener on 127.0.0.1:PORT that is not signerd
  openssl s_server -accept "127.0.0.1:$1" -nocert -quiet </dev/null >/dev/null 2>&1 &
  holder_pid=$!
  for _ in $(seq 1 50); do
    ss -Hltn "( sport = :$1 )" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
refused() { # refused RC OUT: quickstart exited 1 without printing its banner or starting signerd
  [[ $1 -eq 1 ]] || { echo "quickstart exited $1" >&2; cat "$2" >&2; return 1; }
  ! grep -q 'signerd serves the API' "$2" && ! grep -q 'Running signerd' "$2"
}
for listener in api ops; do
  port=$api_port
  [[ $listener == ops ]] && port=$ops_port
  need hold_port "$port"
  quickstart "$work/taken-$listener.out" --api-port "$api_port" --ops-port "$ops_port"
  rc=0
  wait "$qs_pid" || rc=$? # (here: only this shell can wait for its child)
  qs_pid=
  test_expect "$listener port taken: exit 1 before the banner" refused "$rc" "$work/taken-$listener.out"
  test_expect "$listener port taken: the port and its holder named" \
    grep -q "^quickstart: port $port (the $listener listener, 127.0.0.1:$port) is in use by openssl (pid $holder_pid)" \
    "$work/taken-$listener.out"
  kill "$holder_pid"
  wait "$holder_pid" 2>/dev/null || true
  holder_pid=
done
test_expect "the build's progress is shown (cmake's output)" grep -q 'Built target signerd' "$work/taken-api.out"

# --- the quickstart itself, without node or npm: it serves, and its curl command signs ---
quickstart "$work/out" --api-port "$api_port" --ops-port "$ops_port"
serving() {
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$qs_pid" 2>/dev/null || { cat "$work/out" >&2; return 1; }
    sleep 0.2
  done
  return 1
}
test_expect "quickstart serves without node or npm" serving
test_expect "and runs no npm" bash -c "kill -0 $qs_pid && ! grep -qi 'npm' '$work/out'"
test_expect "the build's progress comes before the banner" bash -c "
  awk '/Built target signerd/ { b = NR } /signerd serves the API/ { s = NR } END { exit !(b && s && b < s) }' '$work/out'"
signs() {
  local cmd out
  cmd=$(sed -n '/^  curl --cacert/,/sign$/p' "$work/out" | sed 's/^  //')
  [[ -n $cmd ]] || { cat "$work/out" >&2; return 1; }
  out=$(bash -c "$cmd -s")
  jq -e '.key == "polygon-dev" and (.signature | length) == 132' <<<"$out" >/dev/null ||
    { echo "the printed command answered: $out" >&2; return 1; }
}
test_expect "the printed curl command signs" signs

# --- the build configures where node is missing (the client tests are left out) ---
configure_without_node() {
  PATH=$no_node cmake -S "$root" -B "$work/build-no-node" -DSIGNER_TESTS=ON > "$work/configure.out" 2>&1 ||
    { cat "$work/configure.out" >&2; return 1; }
  grep -q 'the client tests (label clients) are left out' "$work/configure.out"
}
test_expect "cmake configures without node, leaving the client tests out" configure_without_node

test_done
