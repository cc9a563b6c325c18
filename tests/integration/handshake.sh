#!/usr/bin/env bash
# Nothing holds a connection before the TLS handshake ends: sockets that send nothing, stop
# after part of a record or after a whole ClientHello, or trickle a byte at a time, are shut down
# at the handshake deadline, and freed when their peer closes; the per-address cap of them does
# not lock the address out, nor four addresses everyone.
signerd=$1 signerctl=$2 TL_ROOT=$3 sockpile=$4
TL_NAME=handshake SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

tl_dev_env "$tl_work/env"
cfg=$tl_work/env/signerd.yaml
pki=$tl_work/env/pki
# a small cap and a short deadline keep the test quick; the behaviour is the same at 64 and 5 s
printf 'limits:\n  max_connections: 64\n  max_connections_per_ip: 16\n  handshake_timeout_seconds: 3\n' >>"$cfg"
tl_signerd_start "$cfg" "$tl_work/signerd.log"

served() { [[ $(tl_api "$pki" polygon-adapter GET /v1/keys | cut -d' ' -f1) == 200 ]]; }
# signerd holds at least N connections in the handshake (it has accepted them, not just the
# kernel: on a loaded machine the accepts lag the peer's connects)
handshaking_at_least() { (($(tl_metric 'signer_api_connections{state="handshake"}') >= $1)); }
open_fds() { ls "/proc/$tl_signerd_pid/fd" | wc -l; }
server_sockets() { ss -Htn "( sport = :$tl_api_port )" | grep -vc LISTEN || true; }
served >/dev/null || true
base_fds=$(open_fds)

for mode in silent partial hello; do
	"$sockpile" "$tl_api_port" 16 "$mode" 0.3 >/dev/null
	test_expect "16 $mode sockets from one address, closed by their peer: the address is served" \
		tl_until 3 served
done

# held open past the deadline: signerd shuts them down itself
for mode in silent hello trickle; do
	"$sockpile" "$tl_api_port" 16 "$mode" 5 >"$tl_work/pile.out" &
	pile=$!
	tl_pids+=("$pile")
	tl_until 5 grep -q '^open 16' "$tl_work/pile.out"
	tl_until 2 handshaking_at_least 16 || true
	test_expect "16 $mode sockets held: the address is locked out only until the deadline" \
		bash -c "! curl -s -o /dev/null --max-time 1 --cacert '$pki/ca.pem' --cert '$pki/clients/polygon-adapter.pem' --key '$pki/clients/polygon-adapter.key' --resolve localhost:$tl_api_port:127.0.0.1 https://localhost:$tl_api_port/v1/keys"
	sleep 3.2
	test_expect "16 $mode sockets still held after the deadline: the address is served" served
	wait "$pile"
	test_expect "signerd closed all 16 $mode sockets itself" grep -q 'the server had closed 16$' "$tl_work/pile.out"
done

# four addresses at their cap fill every connection slot (64): until the deadline only
piles=()
for a in 2 3 4 5; do
	"$sockpile" "$tl_api_port" 16 hello 5 "127.0.0.$a" >"$tl_work/pile$a.out" &
	piles+=($!)
done
tl_pids+=("${piles[@]}")
for a in 2 3 4 5; do tl_until 5 grep -q '^open 16' "$tl_work/pile$a.out"; done
sleep 3.2
test_expect "four addresses at their cap, after the deadline: everyone is served" served
wait "${piles[@]}"
test_expect "and signerd closed all 64" bash -c "grep -h 'the server had closed' $tl_work/pile[2-5].out | grep -c 'closed 16$' | grep -qx 4"

test_expect "no connection is left in the handshake" tl_until 3 test "$(tl_metric 'signer_api_connections{state="handshake"}')" = 0
test_expect "every socket is freed (no CLOSE-WAIT, no fd left)" tl_until 5 bash -c "(( \$(ls /proc/$tl_signerd_pid/fd | wc -l) <= $base_fds + 2 )) && ! ss -Htn state close-wait '( sport = :$tl_api_port )' | grep -q ."
test_expect "each is counted, as timed out or shed (max_handshakes: the oldest goes)" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | awk '/^signer_tls_handshake_failures_total\\{reason=\"(timeout|shed)\"\\}/ {s += \$2} END {exit s < 112}'"
# an attacker that keeps reconnecting from four addresses, each at its cap, faster than the
# deadline: the oldest handshakes are shed, so a client that is quick is always served
attack() {
	local until=$((SECONDS + 6))
	while ((SECONDS < until)); do "$sockpile" "$tl_api_port" 16 hello 0.7 "127.0.0.$1" >/dev/null 2>&1 || true; done
}
attackers=()
for a in 2 3 4 5; do
	attack "$a" &
	attackers+=($!)
done
tl_pids+=("${attackers[@]}")
sleep 1
served_count=0
for _ in $(seq 1 10); do
	if curl -s -o /dev/null --max-time 3 --cacert "$pki/ca.pem" --cert "$pki/clients/polygon-adapter.pem" \
		--key "$pki/clients/polygon-adapter.key" --resolve "localhost:$tl_api_port:127.0.0.1" \
		"https://localhost:$tl_api_port/v1/keys"; then
		served_count=$((served_count + 1))
	fi
done
wait "${attackers[@]}" 2>/dev/null || true
echo "served $served_count of 10" >&2; test_expect "while four addresses keep reconnecting at their cap, a client is served 10 times of 10" \
	test "$served_count" = 10
test_expect "and the attackers' handshakes were shed" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | grep -q '^signer_tls_handshake_failures_total{reason=\"shed\"}'"
test_expect "/readyz stays 200 (the listener is not the token's problem)" curl -sf "http://127.0.0.1:$tl_ops_port/readyz"
test_expect "the log says so in a few lines, not one a socket" bash -c "(( \$(grep -c 'did not finish the TLS handshake' '$tl_work/signerd.log') <= 4 ))"
tl_signerd_stop
test_expect "signerd stops cleanly" test "$tl_signerd_rc" = 0
test_done
