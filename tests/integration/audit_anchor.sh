#!/usr/bin/env bash
# The audit log cannot be quietly rewritten, truncated or deleted, and stays bounded: its head is
# anchored in the token (within a second while records are written) and signerd refuses to start,
# and audit verify fails, when the log does not reach the anchor; a log changed behind a running
# signerd stops it signing; segments rotate and the chain runs across them; start-up replays
# from the checkpoint; refusals from one peer are summarised; a loss can be accepted on purpose.
signerd=$1 signerctl=$2 TL_ROOT=$3 mkcert=$5
TL_NAME=audit_anchor SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
clients=$TL_ROOT/tests/clients

tl_dev_env "$tl_work/env"
env=$tl_work/env
cfg=$env/signerd.yaml
pki=$env/pki
log=$tl_work/signerd.log
export SIGNER_CONFIG=$cfg
alog=$env/audit.log
msg='{"operation":"dev","evm_message":"0x48656c6c6f"}'
sign() { tl_api "$pki" polygon-adapter POST /v1/keys/polygon-dev/sign "${1:-$msg}" | cut -d' ' -f1; }
starts() { timeout 20 "$signerd" --config "$cfg" >"$tl_work/start.out" 2>&1 & local p=$!; sleep 0.1
	for _ in $(seq 1 100); do grep -q serving "$tl_work/start.out" && break; kill -0 $p 2>/dev/null || break; sleep 0.05; done
	kill -TERM $p 2>/dev/null || true; wait $p 2>/dev/null || true; grep -q serving "$tl_work/start.out"; }
refuses_start() { ! starts && grep -q "$1" "$tl_work/start.out"; }

tl_signerd_start "$cfg" "$log"
for i in 1 2 3 4 5; do sign >/dev/null; done
test_expect "the head is a metric" test "$(tl_metric signer_audit_head_sequence)" = 5
anchored() { test "$(tl_metric signer_audit_anchor_sequence)" = "$1"; }
test_expect "and is anchored in the token within about a second" tl_until 3 anchored 5
test_expect "audit verify with the config reaches the anchor" bash -c "'$signerctl' audit verify | grep -q 'reaches the token.s anchor (record 5'"
test_expect "promtool accepts the metrics" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | promtool check metrics"
tl_signerd_stop
cp "$alog" "$tl_work/audit.good"

# deleted, emptied, truncated, rewritten: refused, and verify says so
rm "$alog"
test_expect "a deleted log: signerd refuses to start" refuses_start 'ends at record 0, but the token.s anchor'
test_expect "and says what is missing and how to recover" grep -q 'records 1 to 5 are missing.*accept-loss' "$tl_work/start.out"
: >"$alog"
test_expect "an emptied log: refused" refuses_start 'records 1 to 5 are missing'
test_expect "audit verify fails on it, naming what is missing" tl_fails_saying 'records 1 to 5 are missing' "$signerctl" audit verify
head -n 3 "$tl_work/audit.good" >"$alog"
test_expect "a truncated log: refused" refuses_start 'ends at record 3.*records 4 to 5 are missing'
test_expect "audit verify fails, naming the records" bash -c "'$signerctl' audit verify 2>&1 | grep -q 'records 4 to 5 are missing'"
test_expect "without the config, verify still checks the chain (and says the anchor was not)" \
	bash -c "SIGNER_CONFIG= '$signerctl' audit verify '$alog' | grep -q 'not checked against the token'"
# rewritten: record 2 changed, the chain recomputed after it (it verifies on its own)
rechain() {
	local prev="" n=0 line
	while IFS= read -r line; do
		n=$((n + 1))
		[[ $n == 2 ]] && line=$(jq -c '.operation = "rewritten"' <<<"$line")
		[[ $n -gt 1 ]] && line=$(jq -c --arg p "$prev" '.prev = $p' <<<"$line")
		printf '%s\n' "$line"
		prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
	done <"$tl_work/audit.good"
}
rechain >"$alog"
test_expect "a rewritten log's own chain holds" bash -c "SIGNER_CONFIG= '$signerctl' audit verify '$alog'"
test_expect "but signerd refuses it: the anchored record is not the same" refuses_start 'record 5 is not the one the anchor names'
test_expect "and audit verify with the config fails, saying so" tl_fails_saying 'record 5 is not the one the anchor names' "$signerctl" audit verify
cp "$tl_work/audit.good" "$alog"
test_expect "the log put back: signerd starts" starts

# changed behind a running signerd: it stops signing (503) and is not ready
tl_signerd_start "$cfg" "$log"
test_expect "it signs" test "$(sign)" = 200
test_expect "record 6 is anchored" tl_until 3 anchored 6
head -n 2 "$alog" >"$alog.cut" && cat "$alog.cut" >"$alog"
test_expect "a log truncated under it: 503, nothing signed" test "$(sign)" = 503
refused_all_503() { # refusals are not folded into a summary that could not be written
	local i code
	for i in $(seq 1 15); do
		code=$(tl_api "$pki" polygon-adapter POST /v1/keys/solana-dev/sign "$msg" | cut -d' ' -f1)
		[[ $code == 503 ]] || { echo "refusal $i: $code"; return 1; }
	done
}
test_expect "and refusals too, past the few a second of their own: 503, none answered 403" refused_all_503
test_expect "and /readyz says the audit log cannot be written" bash -c "curl -s http://127.0.0.1:$tl_ops_port/readyz | grep -q 'audit log'"
test_expect "the log says why" grep -q 'shrank from .* records were cut off' "$log"
tl_signerd_stop
cp "$tl_work/audit.good" "$alog"
# ... signerd signed one more (record 6) before the cut: the good copy lacks it
test_expect "the copy without the last record is refused" refuses_start 'records 6 to 6 are missing'

# a loss accepted on purpose
test_expect "accept-loss needs a reason" bash -c "'$signerctl' audit accept-loss; test \$? = 2"
test_expect "accept-loss records it" bash -c "'$signerctl' audit accept-loss --reason 'record 6 lost in the test' | grep -q 'is recorded as record 6'"
test_expect "the gap is in the log" bash -c "tail -n 1 '$alog' | jq -e '.event == \"audit_gap\" and .anchor_seq == 6 and .spends_unknown == true'"
test_expect "and verify reaches the new anchor" "$signerctl" audit verify
test_expect "signerd starts" starts
test_expect "accept-loss refuses when nothing is lost" tl_fails_saying 'reaches its anchor .* nothing was lost' "$signerctl" audit accept-loss --reason again
# after a loss, spend limits count as used up for their window (unless --limits reset)
printf 'spend_limits:\n  - key: polygon-dev\n    asset: native\n    window: 1h\n    max: "1000"\n' >>"$env/policy.yaml"
tx=$(cd "$clients" && node tools/evm-tx.mjs 0x1111111111111111111111111111111111111111 1)
test_expect "policy explain says the same as the door: denied, records lost" \
	bash -c "'$signerctl' policy explain --client polygon-adapter --key polygon-dev --operation dev --evm-transaction '$tx' --json | jq -e '.decision == \"deny\" and ([.checks[] | select(.outcome == \"deny\")][0] | .reason == \"spend_limit_exceeded\" and (.detail | test(\"lost\")))'"
tl_signerd_start "$cfg" "$log"
test_expect "after a loss accepted with spends unknown, no spend fits its window" bash -c "curl -s --cacert '$pki/ca.pem' --cert '$pki/clients/polygon-adapter.pem' --key '$pki/clients/polygon-adapter.key' --resolve localhost:$tl_api_port:127.0.0.1 -H 'Content-Type: application/json' --data-binary '{\"operation\":\"dev\",\"evm_transaction\":\"$tx\"}' https://localhost:$tl_api_port/v1/keys/polygon-dev/sign | jq -e '.error.reason == \"spend_limit_exceeded\" and (.error.message | test(\"lost\"))'"
tl_signerd_stop

# segments: rotated at a size, the chain across them, start-up from the checkpoint
printf 'audit:\n  path: %s\n  segment_max_bytes: 4096\n  keep_segments: 3\n' "$alog" >"$tl_work/audit.yaml"
sed -i '/^audit:/,/^  path:.*/d' "$cfg"
cat "$tl_work/audit.yaml" >>"$cfg"
tl_signerd_start "$cfg" "$log"
for i in $(seq 1 40); do sign >/dev/null; done
test_expect "the log rotated into segments" bash -c "ls '$env' | grep -cE '^audit\.log\.[0-9]{20}$' | grep -qvx 0"
test_expect "keep_segments never lets go of segments the limits may read (younger than 7 days)" \
	bash -c "(( \$(ls '$env' | grep -cE '^audit\.log\.[0-9]{20}$') > 3 ))"
test_expect "the running signerd goes on across them" test "$(sign)" = 200
tl_signerd_stop
test_expect "audit verify of the directory checks every segment" bash -c "'$signerctl' audit verify '$env' | grep -qE 'records in [0-9]+ segments, chain intact; reaches the token.s anchor'"
tl_signerd_start "$cfg" "$log"
test_expect "start-up replayed only what follows the checkpoint" bash -c "tail -n 5 '$log' | grep -q ' 0 replayed in .* (from the checkpoint)'"
test_expect "and signs" test "$(sign)" = 200

# refusals from one peer: a record for the first of each second, one summary for the rest
mk() { "$mkcert" "$pki/client-ca.pem" "$pki/client-ca.key" "$pki/clients/$1.pem" "$pki/clients/$1.key" "uri=$(printf '%s' "$2" | xxd -p | tr -d '\n')"; }
mk stranger spiffe://signerd-dev/stranger
before=$(wc -l <"$alog")
urls=()
for i in $(seq 1 300); do urls+=("https://localhost:$tl_api_port/v1/keys/polygon-dev/sign"); done
start_s=$SECONDS
curl -s --cacert "$pki/ca.pem" --cert "$pki/clients/stranger.pem" --key "$pki/clients/stranger.key" \
	--resolve "localhost:$tl_api_port:127.0.0.1" -H 'Content-Type: application/json' --data-binary "$msg" \
	"${urls[@]}" >/dev/null
elapsed=$((SECONDS - start_s + 2))
sleep 1.5 # the last second's summary
test_expect "300 refusals are counted one by one" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | awk '/^signer_sign_requests_total\\{client=\"unknown\".*status=\"denied\"/ {s += \$2} END {exit s != 300}'"
test_expect "but the log holds at most two records a second for them" bash -c "(( \$(grep -c '\"peer\":\"spiffe://signerd-dev/stranger\"' '$alog' '$env'/audit.log.* | awk -F: '{s+=\$2} END {print s}') <= 2 * $elapsed ))"
# the last second's summary is written by signerd's next tick: on a loaded machine that can be
# later than the sleep above, so the sum is awaited, then checked again a tick later
refusals_sum_is_300() { cat "$env"/audit.log.* "$alog" 2>/dev/null | grep '"peer":"spiffe://signerd-dev/stranger"' | jq -s '[.[] | if .event == "refusals" then .count else 1 end] | add' | grep -qx 300; }
refusals_settle_at_300() { tl_until 10 refusals_sum_is_300 && sleep 1.2 && refusals_sum_is_300; }
test_expect "whose counts add up to 300 (and stay there)" refusals_settle_at_300
test_expect "a summary says why" bash -c "grep '\"event\":\"refusals\"' '$alog' '$env'/audit.log.* | head -n 1 | cut -d: -f2- | jq -e '.reasons.forbidden > 0 and .count > 0'"
tl_signerd_stop
test_expect "signerd stops cleanly" test "$tl_signerd_rc" = 0
test_expect "and the whole log verifies" bash -c "'$signerctl' audit verify '$env'"

# the checkpoint and the oldest segments deleted (they would hold what the limits count): refused
mkdir "$tl_work/moved"
mv "$env/audit.log.checkpoint" "$(ls "$env"/audit.log.[0-9]* | sort | head -n 1)" "$tl_work/moved/"
test_expect "without its checkpoint and its oldest segment, the log cannot rebuild its limits" \
	refuses_start 'the limits cannot be rebuilt: the checkpoint the token.s anchor names is missing'
mv "$tl_work"/moved/* "$env"/
test_expect "put back, it starts" starts
test_done
