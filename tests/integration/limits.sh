#!/usr/bin/env bash
# Limits cannot be reset by a reload or bypassed by the console, and spend limits read every
# way value moves, through the running daemon: a reload that changes a window, drops a limit or
# adds it back starts it from what the audit log says was spent; spends and signatures made by
# signerctl sign on the same log count for a running signerd at once; restarts (clean, and
# kill -9) keep them; fees count; calls and typed data that give value away unread are refused.
signerd=$1 signerctl=$2 TL_ROOT=$3
TL_NAME=limits SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
clients=$TL_ROOT/tests/clients

tl_dev_env "$tl_work/env"
env=$tl_work/env
cfg=$env/signerd.yaml
pki=$env/pki
log=$tl_work/signerd.log
cp "$env/policy.yaml" "$tl_work/base-policy.yaml"
policy_with() { # policy_with YAML...: the dev policy and these sections, then SIGHUP
	{ cat "$tl_work/base-policy.yaml"; printf '%s\n' "$@"; } >"$env/policy.yaml.new"
	mv "$env/policy.yaml.new" "$env/policy.yaml"
}
limit() { # limit WINDOW MAX: a native spend limit on polygon-dev
	printf 'spend_limits:\n  - key: polygon-dev\n    asset: native\n    window: %s\n    max: "%s"\n' "$1" "$2"
}
reload() {
	local n
	n=$(grep -c 'reload: policy' "$log" || true)
	kill -HUP "$tl_signerd_pid"
	tl_until 10 bash -c "(( \$(grep -c 'reload: policy' '$log') > $n ))"
}
to=0x1111111111111111111111111111111111111111
tx() { (cd "$clients" && node tools/evm-tx.mjs "$@"); }
sign_tx() { # sign_tx VALUE [DATA GAS MAX_FEE]: "STATUS BODY" of polygon-adapter signing it
	tl_api "$pki" polygon-adapter POST /v1/keys/polygon-dev/sign \
		"{\"operation\":\"dev\",\"evm_transaction\":\"$(tx "$to" "$@")\"}"
}
expect_tx() { # expect_tx STATUS REASON VALUE [...]
	local want=$1 reason=$2 out
	shift 2
	out=$(sign_tx "$@")
	echo "$out"
	[[ ${out%% *} == "$want" ]] || return 1
	[[ -z $reason ]] || jq -e --arg r "$reason" '.error.reason == $r' <<<"${out#* }"
}

policy_with "$(limit 24h 1000)"
tl_signerd_start "$cfg" "$log"
test_expect "600 of a 1000 a day cap signs" expect_tx 200 "" 600
test_expect "600 more is over the cap" expect_tx 403 spend_limit_exceeded 600

# reloads: a new window, the limit dropped and added back: none starts from zero
policy_with "$(limit 12h 1000)"
reload
test_expect "after a reload to a 12 h window, 600 more is still over" expect_tx 403 spend_limit_exceeded 600
policy_with "$(limit 23h 1000)"
reload
test_expect "after another reload (23 h), still over" expect_tx 403 spend_limit_exceeded 600
test_expect "but 400 fits (600 + 400)" expect_tx 200 "" 400
for i in 1 2 3; do
	policy_with "$(limit $((20 + i))h 1000)"
	reload
	test_expect "reload $i: 1000 more does not get through" expect_tx 403 spend_limit_exceeded 1000
done
policy_with
reload
test_expect "without the limit, 5000 signs" expect_tx 200 "" 5000
policy_with "$(limit 24h 10000)"
reload
test_expect "the limit added back counts the 6000 spent meanwhile: 4001 is over" expect_tx 403 spend_limit_exceeded 4001
test_expect "and 4000 fits" expect_tx 200 "" 4000

# fees count: gas limit x maxFeePerGas is spent whatever the value
test_expect "a transaction of value 0 whose worst-case fee is 21000 wei is over a spent cap" \
	expect_tx 403 spend_limit_exceeded 0 0x 21000 1
test_expect "the same with fees of 0 signs" expect_tx 200 "" 0 0x 21000 0

# what gives value away without an amount the signer reads is refused where a limit watches
word() { printf '%064x' "$1"; }
tac_data=0x4000aea0000000000000000000000000$(printf '2%.0s' {1..40})$(word 5)$(word 96)$(word 0)
test_expect "transferAndCall (ERC-677) to any contract: spend_unreadable" expect_tx 403 spend_unreadable 0 "$tac_data" 90000 0
jq '.typedData' "$TL_ROOT/../shared/testvectors/evm/eip712_typed_data.json" >"$tl_work/mail.json" 2>/dev/null ||
	jq '.typedData' "${SIGNER_TESTVECTORS_DIR:-/nonexistent}/evm/eip712_typed_data.json" >"$tl_work/mail.json"
cat >"$tl_work/permit.json" <<'JSON'
{"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
  {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
 "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
  {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]},
 "primaryType": "Permit",
 "domain": {"name": "USD Coin", "version": "2", "chainId": 137, "verifyingContract": "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"},
 "message": {"owner": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "spender": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB",
  "value": 1000000, "nonce": 0, "deadline": 1900000000}}
JSON
test_expect "an EIP-2612 Permit through the door: 403 spend_unreadable" \
	bash -c "out=\$(curl -s --cacert '$pki/ca.pem' --cert '$pki/clients/polygon-adapter.pem' --key '$pki/clients/polygon-adapter.key' --resolve localhost:$tl_api_port:127.0.0.1 -H 'Content-Type: application/json' --data-binary \"{\\\"operation\\\":\\\"dev\\\",\\\"evm_typed_data\\\":\$(cat '$tl_work/permit.json')}\" https://localhost:$tl_api_port/v1/keys/polygon-dev/sign); echo \"\$out\"; jq -e '.error.reason == \"spend_unreadable\"' <<<\"\$out\""
test_expect "the Mail example (it spends nothing) signs" \
	bash -c "curl -s --cacert '$pki/ca.pem' --cert '$pki/clients/polygon-adapter.pem' --key '$pki/clients/polygon-adapter.key' --resolve localhost:$tl_api_port:127.0.0.1 -H 'Content-Type: application/json' --data-binary \"{\\\"operation\\\":\\\"dev\\\",\\\"evm_typed_data\\\":\$(cat '$tl_work/mail.json')}\" https://localhost:$tl_api_port/v1/keys/polygon-dev/sign | jq -e '.signature'"

# the console on the same log: what signerctl sign spends, the running signerd counts at once
policy_with "$(limit 24h 20000)"
reload
export SIGNER_CONFIG=$cfg
test_expect "signerctl sign spends 900 of what is left" bash -c "'$signerctl' sign --key polygon-dev --operation dev --evm-transaction \$(cd '$clients' && node tools/evm-tx.mjs $to 900) --json | jq -e .signed_transaction"
# 10000 spent by signerd (600 + 400 + 5000 + 4000), 900 by signerctl: 9100 left of 20000
test_expect "signerd counts it: 9101 more is over" expect_tx 403 spend_limit_exceeded 9101
test_expect "and 9100 fits" expect_tx 200 "" 9100
test_expect "signerctl counts signerd's spends too" tl_fails_saying 'spend_limit_exceeded|would spend more' "$signerctl" sign --key polygon-dev --operation dev --evm-transaction "$(cd "$clients" && node tools/evm-tx.mjs "$to" 1)" --json

# restarts keep it: a clean stop (checkpoint), then kill -9 (no checkpoint of the last spends)
tl_signerd_stop
tl_signerd_start "$cfg" "$log"
test_expect "after a restart from the checkpoint the cap is still used up" expect_tx 403 spend_limit_exceeded 1
test_expect "the start-up said it used the checkpoint" grep -q 'replayed in .* (from the checkpoint)' "$log"
policy_with "$(limit 24h 30000)"
reload
test_expect "a higher cap lets 10000 more through" expect_tx 200 "" 10000
kill -9 "$tl_signerd_pid"
wait "$tl_signerd_pid" 2>/dev/null || true
tl_signerd_pid=
tl_signerd_start "$cfg" "$log"
test_expect "after kill -9, what was signed since the checkpoint still counts" expect_tx 403 spend_limit_exceeded 1

# rate limits: one a reload adds starts from the signatures already made
policy_with "$(limit 24h 1000000)"
reload
for i in 1 2; do sign_tx 1 >/dev/null; done
policy_with "$(limit 24h 1000000)" 'rate_limits:' '  - client: polygon-adapter' '    operation: dev' '    per_minute: 1' '    burst: 2'
reload
test_expect "a rate limit added by a reload counts the signatures of the last minute: 429" \
	bash -c "out=\$(curl -s --cacert '$pki/ca.pem' --cert '$pki/clients/polygon-adapter.pem' --key '$pki/clients/polygon-adapter.key' --resolve localhost:$tl_api_port:127.0.0.1 -H 'Content-Type: application/json' --data-binary '{\"operation\":\"dev\",\"evm_message\":\"0x00\"}' https://localhost:$tl_api_port/v1/keys/polygon-dev/sign); echo \"\$out\"; jq -e '.error.code == \"rate_limited\"' <<<\"\$out\""
tl_signerd_stop
test_expect "signerd stops cleanly" test "$tl_signerd_rc" = 0
test_expect "the audit log verifies and reaches its anchor" "$signerctl" audit verify
test_done
