#!/usr/bin/env bash
# signerd as a process: an audit log that cannot be written (503, logged with its cause), SIGTERM
# under load, a torn audit line repaired on start, slow clients and sd_notify, refusal to start,
# and the drop from root to user:.
signerd=$1
signerctl=$2
root=$3
notify_listener=$4
TL_NAME=signerd_process TL_ROOT=$root SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
work=$tl_work
pid=
. "$(dirname "$0")/signerd-lib.sh"

start
# a few signatures, so that the log has records to tamper with below
for _ in 1 2 3; do api polygon-adapter POST $p "$msg" >/dev/null; done

# --- the audit log cannot be written: 503 at once, readyz 503, metric up, no signature ---
# (signerd runs with a file-size limit just past the log's size, which ulimit takes in KiB: the
# log is first padded to end under 150 bytes short of a KiB, so that no record fits, neither a
# signature's nor the probe's that signerd tries every few seconds (about 210 bytes); signerd is
# not dumpable, so the limit is set when it starts)
log_size() { stat -c %s "$env_dir/audit.log"; }
sign_with_id() { api polygon-adapter POST $p "{\"operation\":\"dev\",\"request_id\":\"$1\",\"evm_message\":\"0x48656c6c6f\"}" >/dev/null; }
before=$(log_size)
sign_with_id p
record_base=$(( $(log_size) - before - 1 )) # a record with an id of L characters: base + L bytes
for _ in $(seq 1 20); do
  id_len=$(( ((1024 - $(log_size) % 1024) - 60 - record_base) % 1024 ))
  (( id_len < 0 )) && id_len=$(( id_len + 1024 ))
  if (( id_len >= 1 && id_len <= 128 )); then
    sign_with_id "$(printf 'x%.0s' $(seq 1 $id_len))"
    break
  fi
  sign_with_id q
done
left=$(( 1024 - $(log_size) % 1024 ))
test_expect "audit failing: the log padded to $left bytes short of a KiB" test "$left" -lt 150
stop
limit_blocks=$(( ($(stat -c %s "$env_dir/audit.log") + 1023) / 1024 ))
start_limited() {
  bash -c "ulimit -f $limit_blocks; exec '$signerd' --config '$cfg'" >> "$work/signerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$ops_port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
start_limited
full=
for i in 1 2 3 4 5 6; do
  size=$(stat -c %s "$env_dir/audit.log")
  start_ms=$(date +%s%3N)
  out=$(api polygon-adapter POST $p "$msg")
  elapsed=$(( $(date +%s%3N) - start_ms ))
  if [[ ${out%% *} == 503 ]]; then full=$i; break; fi
done
test_expect "audit failing: 503 (after $full requests)" test -n "$full"
test_expect "audit failing: unavailable, no signature" jq -e '.error.code == "unavailable" and (.signature == null)' <<<"${out#* }"
test_expect "audit failing: within a second ($elapsed ms)" test "$elapsed" -lt 1000
test_expect "audit failing: nothing torn" test "$(stat -c %s "$env_dir/audit.log")" = "$size"
test_expect "audit failing: readyz 503" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops_port/readyz")" = 503
test_expect "audit failing: counted" bash -c "curl -s http://127.0.0.1:$ops_port/metrics | grep -Eq '^signer_audit_write_failures_total [1-9]'"
test_expect "audit failing: the 503 is logged with its cause" \
  grep -Eq "signerd: 503 unavailable: the audit log cannot be written; nothing was signed: .*(File too large|cannot be written|audit)" "$work/signerd.log"
stop
start
test_expect "audit back: signs again" expect 200 "" polygon-adapter POST $p "$msg"
test_expect "audit back: readyz 200" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops_port/readyz")" = 200
test_expect "audit back: chain verifies" "$signerctl" audit verify "$env_dir/audit.log"

# --- SIGTERM under load: every answered signature has its record ---
mkdir -p "$work/load"
load_one() {
  local out
  out=$(api polygon-adapter POST $p "{\"operation\":\"dev\",\"request_id\":\"load-$1\",\"evm_message\":\"0x0$(($1 % 10))\"}")
  printf '%s' "$out" > "$work/load/$1"
}
for i in $(seq 1 60); do load_one "$i" & done
# SIGTERM once answers are coming back, with more requests still arriving
for _ in $(seq 1 200); do
  grep -qs '^200 ' "$work/load/"* && break
  sleep 0.05
done
kill -TERM "$pid"
for i in $(seq 61 120); do load_one "$i" & done
wait_rc=0
wait "$pid" || wait_rc=$?
pid=
wait || true
test_expect "SIGTERM: exit 0" test "$wait_rc" = 0
test_expect "SIGTERM: drained" grep -q "stopped" "$work/signerd.log"
answered=0
for f in "$work/load/"*; do
  if [[ $(cut -d' ' -f1 < "$f") == 200 ]]; then
    answered=$((answered + 1))
    id=$(cut -d' ' -f2- < "$f" | jq -r .audit_id)
    test_expect "answered $(basename "$f") is audited" grep -q "\"audit_id\":\"$id\"" "$env_dir/audit.log"
  fi
done
test_expect "some requests were answered under load ($answered)" test "$answered" -ge 1
echo "# SIGTERM under load: $answered of 120 requests answered, each with its audit record"
test_expect "audit chain verifies after SIGTERM" "$signerctl" audit verify "$env_dir/audit.log"

# --- kill -9 mid-write: a torn last line is repaired on start ---
printf '{"seq":99999,"client":"torn' >> "$env_dir/audit.log"
test_expect "torn line breaks verify, saying so" bash -c "'$signerctl' audit verify '$env_dir/audit.log' >'$work/torn.out' 2>&1; test \$? = 1 && grep -q 'the last line is torn (no newline' '$work/torn.out'"
start
test_expect "repaired on start: said so" grep -q "torn last line" "$work/signerd.log"
test_expect "repaired: signs" expect 200 "" polygon-adapter POST $p "$msg"
test_expect "repaired: chain verifies" "$signerctl" audit verify "$env_dir/audit.log"
stop || true

# --- slow and idle clients hold no worker; sd_notify tells systemd what happens ---
printf 'limits:\n  timeout_seconds: 2\n' >> "$cfg"
"$notify_listener" "$work/notify.sock" 30 > "$work/notify.log" &
listener=$!
sleep 0.3
NOTIFY_SOCKET=$work/notify.sock start
slow=()
for i in $(seq 1 12); do # 12 connections that send half a request and stall (3 x the threads)
  ( { printf 'POST /v1/keys/polygon-dev/sign HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n'; sleep 20; } |
    openssl s_client -quiet -connect "127.0.0.1:$api_port" -cert "$work/c/polygon-adapter.pem" \
      -key "$work/c/polygon-adapter.key" -CAfile "$pki/ca.pem" >/dev/null 2>&1 ) &
  slow+=($!)
done
sleep 0.5
start_ms=$(date +%s%3N)
test_expect "slow clients: a real request is served" expect 200 "" polygon-adapter POST $p "$msg"
test_expect "slow clients: at once ($(( $(date +%s%3N) - start_ms )) ms)" test $(( $(date +%s%3N) - start_ms )) -lt 2000
sleep 3
open_conns=$(ss -Htn state established "( sport = :$api_port )" | wc -l)
test_expect "slow clients: closed after the timeout ($open_conns left)" test "$open_conns" -eq 0
kill "${slow[@]}" 2>/dev/null || true
kill -HUP "$pid"; sleep 0.5
stop || true
sleep 0.3
kill "$listener" 2>/dev/null || true
test_expect "sd_notify READY=1" grep -q "^READY=1" "$work/notify.log"
test_expect "sd_notify RELOADING=1" grep -q "^RELOADING=1" "$work/notify.log"
test_expect "sd_notify STOPPING=1" grep -q "^STOPPING=1" "$work/notify.log"

# --- refusal to start ---
cp "$cfg" "$work/bad.yaml"
sed -i "s|label: signerd-dev|label: no-such-token|" "$work/bad.yaml"
test_expect "wrong token: refuses to start" bash -c "! timeout 10 '$signerd' --config '$work/bad.yaml' 2>'$work/bad.log'"
test_expect "wrong token: says why" grep -q "no token labelled 'no-such-token'" "$work/bad.log"
cp "$cfg" "$work/bad2.yaml"
sed -i "s|cert: .*|cert: $work/none.pem|" "$work/bad2.yaml"
test_expect "missing certificate: refuses" bash -c "! timeout 10 '$signerd' --config '$work/bad2.yaml' 2>'$work/bad2.log'"
test_expect "missing certificate: says why" grep -q "none.pem" "$work/bad2.log"
cp "$cfg" "$work/bad4.yaml"
cp "$env_dir/audit.log" "$work/tampered.log"
sed -i '2s/"operation":"dev"/"operation":"dew"/' "$work/tampered.log"
sed -i "s|path: .*audit.log|path: $work/tampered.log|" "$work/bad4.yaml"
test_expect "tampered audit log: refuses to start" bash -c "! timeout 10 '$signerd' --config '$work/bad4.yaml' 2>'$work/bad4.log'"
test_expect "tampered audit log: says where" grep -q "tampered.log:[0-9]*: .*signerd will not start\|signerd will not start.*tampered.log:[0-9]*" "$work/bad4.log"
printf 'grants: {}\n' > "$work/bad-policy.yaml"
cp "$cfg" "$work/bad3.yaml"
sed -i "s|path: .*policy.yaml|path: $work/bad-policy.yaml|" "$work/bad3.yaml"
test_expect "bad policy: refuses" bash -c "! timeout 10 '$signerd' --config '$work/bad3.yaml' 2>'$work/bad3.log'"
test_expect "bad policy: FILE:LINE" grep -q "bad-policy.yaml:1: grants must be a list" "$work/bad3.log"

# --- started as root with user: set, it runs as that user ---
if [[ $(id -u) == 0 ]] && getent passwd nobody >/dev/null; then
  chown -R nobody "$env_dir"
  chmod 0711 "$work"
  printf 'user: nobody\n' >> "$cfg"
  # root reads the config: one nobody can change (its user:, its PKCS#11 module) is refused
  test_expect "as root: a config nobody owns is refused" bash -c "! timeout 10 '$signerd' --config '$cfg' 2>'$work/owned.log'"
  test_expect "naming its owner" grep -q "signerd.yaml belongs to uid $(id -u nobody), neither root nor this process" "$work/owned.log"
  cp "$cfg" "$work/root-signerd.yaml"
  chmod 0644 "$work/root-signerd.yaml"
  cfg=$work/root-signerd.yaml
  # a user: that does not exist is named before any file is read
  sed 's/^user: nobody$/user: signerd-no-such-user/' "$cfg" > "$work/no-user.yaml"
  chmod 0644 "$work/no-user.yaml"
  test_expect "as root: a user: that does not exist is refused, by name" \
    tl_fails_saying "user 'signerd-no-such-user' \(from the config's user:\) does not exist" timeout 10 "$signerd" --config "$work/no-user.yaml"
  # and the files of the user it becomes are trusted (its TLS key, read before the switch)
  start
  test_expect "dropped to nobody" test "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "/proc/$pid/status")" = "$(id -u nobody)$(id -u nobody)$(id -u nobody)$(id -u nobody)"
  test_expect "as nobody: signs" expect 200 "" polygon-adapter POST $p "$msg"
  test_expect "as nobody: said so" grep -q "running as nobody" "$work/signerd.log"
  stop || true
fi

test_done
