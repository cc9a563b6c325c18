#!/usr/bin/env bash
# Key versions and states through a running signerd (API.md section 4): a rotation makes a new
# address in pre-activation, activation switches in one step, a pinned key_version is honoured,
# a compromise under live traffic stops every signature within 5 s (and signer_key_info says
# so), destroy removes the private key and keeps the record, every change is an audit record,
# and the lifecycle commands' refusals say why.
signerd=$1 signerctl=$2 TL_ROOT=$3
TL_NAME=lifecycle SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

tl_dev_env "$tl_work/env"
env=$tl_work/env
cfg=$env/signerd.yaml
pki=$env/pki
log=$tl_work/signerd.log
ctl() { "$signerctl" --config "$cfg" "$@"; }
msg='{"operation":"dev","evm_message":"0x48656c6c6f"}'
pinned() { printf '{"operation":"dev","key_version":%s,"evm_message":"0x48656c6c6f"}' "$1"; }
sign() { tl_api "$pki" polygon-adapter POST /v1/keys/polygon-dev/sign "${1:-$msg}"; }
# signed_by STATUS_BODY VERSION ADDRESS: a 200 by that version, recovering to that address
signed_by() {
	[[ ${1%% *} == 200 ]] && jq -e --argjson v "$2" --arg a "$3" \
		'.key_version == $v and (.from | ascii_downcase) == ($a | ascii_downcase)' <<<"${1#* }"
}
not_active() { [[ ${1%% *} == 409 ]] && jq -e '.error.code == "key_not_active"' <<<"${1#* }"; }
address_of() { ctl key show polygon-dev --version "$1" --json | jq -r .address; }

tl_signerd_start "$cfg" "$log"
v1=$(address_of 1)
test_expect "v1 signs, and the response names its version" signed_by "$(sign)" 1 "$v1"

# --- rotate: a new address, pre-activation ---
ctl key rotate polygon-dev --json >"$tl_work/rotate.json"
v2=$(jq -r .address "$tl_work/rotate.json")
test_expect "rotate prints version 2 in pre-activation" jq -e '.version == 2 and .state == "pre-activation" and .transitions[0].state == "pre-activation"' "$tl_work/rotate.json"
test_expect "with a new address" test "$v2" != "$v1"
test_expect "v1 still signs" signed_by "$(sign)" 1 "$v1"
v2_pinned_refused() { not_active "$(sign "$(pinned 2)")"; }
test_expect "v2, pinned, does not sign before activation" tl_until 5 v2_pinned_refused
status_is() { [[ ${2%% *} == "$1" ]] || { echo "got: $2"; return 1; }; }
test_expect "a pinned version that does not exist: 404" status_is 404 "$(sign "$(pinned 7)")"
test_expect "key_version must be an integer from 1 (not a string)" status_is 400 "$(sign '{"operation":"dev","key_version":"2","evm_message":"0x00"}')"
test_expect "key_version 0 is refused" status_is 400 "$(sign "$(pinned 0)")"

# --- activate: one step; v1 deactivated; within 5 s the daemon signs with v2 ---
ctl key activate polygon-dev --version 2 --json >"$tl_work/activate.json"
test_expect "activate: v2 active" jq -e '.version == 2 and .state == "active"' "$tl_work/activate.json"
test_expect "activate: v1 deactivated in the same step" bash -c "'$signerctl' --config '$cfg' key versions polygon-dev --json | jq -e '[.versions[] | .state] == [\"deactivated\", \"active\"]'"
v2_signs() { signed_by "$(sign)" 2 "$v2"; }
test_expect "within 5 s, signatures recover to v2's address" tl_until 5 v2_signs
test_expect "v1, pinned, is refused" not_active "$(sign "$(pinned 1)")"
test_expect "an older version cannot be activated over the active one" tl_fails_saying "version 1 is older and cannot replace it" ctl key activate polygon-dev --version 1
test_expect "activate needs --version" tl_exits 2 "$tl_work/u1" ctl key activate polygon-dev
test_expect "a deactivated version cannot be suspended, saying why" tl_fails_saying "cannot go from deactivated to suspended" ctl key suspend polygon-dev --version 1

# --- suspend and resume ---
ctl key suspend polygon-dev --version 2 >/dev/null
suspended() { not_active "$(sign)"; }
test_expect "suspended: refused within 5 s" tl_until 5 suspended
ctl key resume polygon-dev --version 2 >/dev/null
test_expect "resumed: signs again within 5 s" tl_until 5 v2_signs

# --- compromise under live traffic: every request refused within 5 s of the command ---
: >"$tl_work/traffic"
traffic() {
	while :; do
		printf '%s %s\n' "$(date +%s%3N)" "$(sign | cut -d' ' -f1)" >>"$tl_work/traffic"
	done
}
traffic &
tl_pids+=($!)
sleep 1
ctl key compromise polygon-dev --version 2 --reason "drill: a leaked key" >/dev/null
done_at=$(date +%s%3N)
sleep 6
kill "${tl_pids[-1]}" 2>/dev/null || true
# the last 200 answered after the command exited, and every answer from 5 s on
last_ok=$(awk '$2 == 200 { t = $1 } END { printf "%.0f\n", t }' "$tl_work/traffic")
late=$(awk -v d="$done_at" '$1 > d + 5000 && $2 != 409' "$tl_work/traffic" | wc -l)
late_total=$(awk -v d="$done_at" '$1 > d + 5000' "$tl_work/traffic" | wc -l)
signed_before=$(awk -v d="$done_at" '$1 < d && $2 == 200' "$tl_work/traffic" | wc -l)
test_expect "compromise: the traffic was being signed before the command ($signed_before)" test "$signed_before" -gt 0
echo "# compromise: the last signature $((last_ok - done_at)) ms after the command exited; $late_total requests after 5 s"
test_expect "compromise: no signature 5 s after the command ($((last_ok - done_at)) ms)" test $((last_ok - done_at)) -le 5000
test_expect "compromise: every request after 5 s is 409 ($late of $late_total not)" test "$late" -eq 0 -a "$late_total" -gt 0
test_expect "compromise: signer_key_info shows it" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | grep -q '^signer_key_info{key=\"polygon-dev\",chain=\"evm\",version=\"2\",state=\"compromised\"'"
test_expect "a reason with a control character is refused before anything changes" tl_fails_saying "none of them a control character" ctl key compromise polygon-dev --version 1 --reason "$(printf 'a\tb')"
test_expect "and v1 is as it was" test "$(ctl key show polygon-dev --version 1 --json | jq -r .state)" = deactivated
test_expect "compromised cannot be resumed" tl_fails_saying "cannot go from compromised to active" ctl key resume polygon-dev --version 2

# --- destroy: the private key leaves the token, the record and public key stay ---
ctl key destroy polygon-dev --version 1 --json >"$tl_work/destroy.json"
test_expect "destroy: v1 destroyed, its address kept" jq -e --arg a "$v1" '.state == "destroyed" and .address == $a' "$tl_work/destroy.json"
test_expect "destroy: the audit record says the private key is gone" bash -c "grep '\"action\":\"destroy\"' '$env/audit.log' | tail -1 | jq -e '.private_key_present == false and .key_version == 1'"
test_expect "destroy again is done already (exit 0)" tl_exits 0 "$tl_work/d2" ctl key destroy polygon-dev --version 1

# --- every change is an audit record; the chain holds ---
test_expect "each change has its record: rotate, activate, suspend, resume, compromise, destroy" bash -c "jq -r 'select(.event == \"key_lifecycle\") | .action' '$env/audit.log' | tr '\n' ' ' | grep -q 'rotate activate suspend resume compromise destroy destroy \$'"
test_expect "the compromise record keeps its reason" bash -c "jq -s -e '[.[] | select(.action == \"compromise\")] | length == 1 and .[0].reason == \"drill: a leaked key\" and .[0].client == \"local\"' '$env/audit.log'"
tl_signerd_stop
test_expect "signerd stopped cleanly" test "$tl_signerd_rc" = 0
test_expect "the audit chain verifies and reaches the anchor" ctl audit verify
test_done
