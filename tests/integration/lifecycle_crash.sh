#!/usr/bin/env bash
# kill -9 at every step of rotate, activate, destroy (and between a change and its audit record)
# leaves the catalogue as it was before the step or after it, never between; running the
# command again finishes it, and records it. The kills come from the fault points of
# common/fault.h (a build with -DSIGNER_FAULTS=ON, as tools/test makes): SIGNER_FAULT=POINT.
signerctl=$1 TL_ROOT=$2
TL_NAME=lifecycle_crash SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

tl_dev_env "$tl_work/env"
env=$tl_work/env
cfg=$env/signerd.yaml
ctl() { "$signerctl" --config "$cfg" "$@"; }
states() { ctl key versions polygon-dev --json | jq -c '[.versions[] | [.version, .state]]'; }
# killed_at POINT command...: the command dies by SIGKILL at POINT (exit 137)
killed_at() {
	local point=$1 rc=0
	shift
	SIGNER_FAULT=$point "$@" >"$tl_work/killed.out" 2>&1 || rc=$?
	((rc == 137)) || { echo "exit $rc, not killed at $point:"; cat "$tl_work/killed.out"; return 1; }
}
is() { [[ $(states) == "$1" ]] || { echo "catalogue: $(states), wanted $1"; return 1; }; }
records() { jq -s -c --arg a "$1" '[.[] | select(.event == "key_lifecycle" and .action == $a) | .key_version]' "$env/audit.log"; }

ctl sign --key polygon-dev --operation dev --evm-message 0x01 >/dev/null # the log exists

# --- rotate: killed between the key pair and its record ---
test_expect "rotate: killed after the key pair, before its record" killed_at generate.after_keypair ctl key rotate polygon-dev
test_expect "rotate: the catalogue is as before (no version 2)" is '[[1,"active"]]'
test_expect "rotate again: version 2 is made (the left-over key pair removed)" tl_exits 0 "$tl_work/r2" ctl key rotate polygon-dev
test_expect "rotate: the catalogue is as after" is '[[1,"active"],[2,"pre-activation"]]'
test_expect "rotate: one record, of the run that finished" test "$(records rotate)" = '[2]'

# --- activate: killed between the switch and the old version's record ---
test_expect "activate: killed after the switch" killed_at activate.after_switch ctl key activate polygon-dev --version 2
test_expect "activate: the catalogue is as after (one active version, never two or none)" is '[[1,"deactivated"],[2,"active"]]'
test_expect "activate: the change is not recorded yet" test "$(records activate)" = '[]'
# the old version stays retired whatever becomes of the new one (its record still says active)
ctl key suspend polygon-dev --version 2 >/dev/null
test_expect "activate cut short, then v2 suspended: v1 does not come back" is '[[1,"deactivated"],[2,"suspended"]]'
test_expect "and nothing signs" tl_fails_saying "not active" ctl sign --key polygon-dev --operation dev --evm-message 0x03
ctl key resume polygon-dev --version 2 >/dev/null
test_expect "activate again: finishes" tl_exits 0 "$tl_work/a2" ctl key activate polygon-dev --version 2
test_expect "activate: as after" is '[[1,"deactivated"],[2,"active"]]'
test_expect "activate: recorded once, naming the deactivated version" bash -c "jq -s -e '[.[] | select(.action == \"activate\")] | length == 1 and .[0].deactivated_version == 1' '$env/audit.log'"
test_expect "v2 signs" tl_exits 0 "$tl_work/s2" ctl sign --key polygon-dev --operation dev --evm-message 0x02 --json
test_expect "as version 2" jq -e '.key_version == 2' "$tl_work/s2"

# --- destroy: killed between the private key's destruction and the record ---
test_expect "destroy: killed after the private key went" killed_at destroy.after_private ctl key destroy polygon-dev --version 1
test_expect "destroy: the catalogue is as before (deactivated)" is '[[1,"deactivated"],[2,"active"]]'
test_expect "destroy again: finishes" tl_exits 0 "$tl_work/d2" ctl key destroy polygon-dev --version 1 --json
test_expect "destroy: as after" is '[[1,"destroyed"],[2,"active"]]'
test_expect "destroy: its record proves the private key gone" bash -c "jq -s -e '[.[] | select(.action == \"destroy\")] | length == 1 and .[0].private_key_present == false' '$env/audit.log'"
test_expect "destroy: the public key and address are kept" jq -e '.state == "destroyed" and (.address | test("^0x[0-9a-fA-F]{40}$"))' "$tl_work/d2"

# --- a change made, killed before its audit record: the rerun records it ---
test_expect "suspend: killed between the token and the audit log" killed_at lifecycle.before_audit ctl key suspend polygon-dev --version 2
test_expect "suspend: the catalogue is as after" is '[[1,"destroyed"],[2,"suspended"]]'
test_expect "suspend again: done already, and recorded" tl_exits 0 "$tl_work/u2" ctl key suspend polygon-dev --version 2
test_expect "suspend: a record of each suspension, the cut-short one's from its rerun" test "$(records suspend)" = '[2,2]'

test_expect "the audit chain verifies and reaches the anchor" ctl audit verify
test_done
