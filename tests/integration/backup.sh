#!/usr/bin/env bash
# Backups, restores and DR drills end to end (API.md section 6; docs/backup.md) on the dev
# environment with ceremonies: the backup key made by a ceremony and split among three real
# OpenPGP custodians; keys backed up before activation; backup list, verify, state, sync; a DR
# drill; every refusal of shares (too few, the same twice, a changed one, a foreign one, a
# readable file); a restore into a fresh token that signs with the same addresses and keeps the
# audit log; one target corrupted and one down, the third restores; kill -9 at each step of a
# restore, then it finishes; and the proof that the token directory and every target without the
# shares open no key (keyscan).
signerctl=$1 TL_ROOT=$2 keyscan=$3
TL_NAME=backup SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

env=$tl_work/env
tl_dev_env "$env" --ceremonies
cfg=$env/signerd.yaml
homes=("$env/custodians/alice/gnupg" "$env/custodians/bob/gnupg" "$env/custodians/carol/gnupg"
	"$env/custodians.gnupg" "$tl_work/other/custodians/alice/gnupg"
	"$tl_work/other/custodians/bob/gnupg" "$tl_work/other/custodians/carol/gnupg")
kill_agents() { for h in "${homes[@]}"; do gpgconf --homedir "$h" --kill all 2>/dev/null || true; done; }
tl_on_exit kill_agents
ctl() { "$signerctl" --config "$cfg" "$@"; }
g() { GNUPGHOME=$1 gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "${@:2}" 2>/dev/null; }
approve() { g "$env/custodians/$1/gnupg" --yes --detach-sign --armor -o "$2.$1.asc" "$2"; }
# each custodian decrypts their share into an owner-only file of the test's own
mkdir -m 0700 "$tl_work/shares"
for n in alice bob carol; do
	(umask 0077; g "$env/custodians/$n/gnupg" --decrypt "$env/custodians/$n/backup-share.asc" >"$tl_work/shares/$n")
done
s=$tl_work/shares
w=$tl_work

# --- what dev-env --ceremonies made ---
test_expect "dev-env: two directory targets, min_targets 2, share_threshold 2" bash -c "grep -A6 '^backup:' '$cfg' | grep -q 'name: region-a, dir: $env/backup/region-a' && grep -q 'min_targets: 2' '$cfg' && grep -q 'share_threshold: 2' '$cfg'"
test_expect "each custodian's share is encrypted (armoured OpenPGP), not the share itself" bash -c "for n in alice bob carol; do head -1 '$env/custodians/'\$n/backup-share.asc | grep -q 'BEGIN PGP MESSAGE' || exit 1; ! grep -q signerd-share '$env/custodians/'\$n/backup-share.asc || exit 1; done"
test_expect "a decrypted share is one line naming its backup key, threshold and index" bash -c "for n in alice bob carol; do grep -Eqx 'signerd-share-1 [0-9a-f]{16} 2 [0-9]+ [0-9a-f]{64}' '$s/'\$n || exit 1; done"
test_expect "every target holds the backups, the key record and the encrypted shares" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; ctl backup list --json | jq -e '(.targets | map(.name)) == [\"region-a\",\"region-b\"] and all(.targets[]; .reachable and (.backups | length) >= 3)' >/dev/null && ls '$env'/backup/region-a/backup-keys/*.json '$env'/backup/region-b/shares/*/carol.asc >/dev/null"
test_expect "the newest backup holds both keys, each with its wrapped key, and the state" bash -c "f=\$(ls '$env'/backup/region-a/backups/*.json | tail -1); jq -e '.manifest | fromjson | (.keys | length) == 2 and all(.keys[]; (.wrapped.sha256 | length) == 64 and (.public_key_hex | length) > 0) and .token == \"signerd-dev\" and (.state.audit | length) >= 1 and .state.config.sha256 != null and .state.policy.sha256 != null and (.objects | length) >= 5' \"\$f\" && jq -e '.format == \"signerd-backup-envelope-1\" and (.mac | length) == 64' \"\$f\""
test_expect "key show says where each key was made: Ed25519 by the ceremony (SoftHSM2 2.6 cannot wrap it), secp256k1 in the token" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; test \"\$(ctl key show solana-dev --json | jq -r .origin)\" = ceremony && test \"\$(ctl key show polygon-dev --json | jq -r .origin)\" = token"
test_expect "backup verify: every target good and holding the newest" tl_exits 0 "$w/v.json" ctl backup verify --json
test_expect "its report" jq -e '.ok and all(.targets[]; .has_newest and .good == .backups and (.failures | length) == 0)' "$w/v.json"
test_expect "with backups, a direct key create is refused without shares" tl_fails_saying "ceremony plan key-create" ctl key create --name direct --chain evm

# --- the DR drill ---
audit_before=$(sha256sum "$env/audit.log")
test_expect "dr drill with alice's and carol's shares passes" tl_exits 0 "$w/drill.json" ctl dr drill --from region-a --share "$s/alice" --share "$s/carol" --json
test_expect "it reports API.md's fields: every key restored and probed, RTO and RPO measured" jq -e '.result == "pass" and .target == "region-a" and (.backup_created_at | test("Z$")) and .rto_seconds > 0 and .rpo_seconds >= 0 and (.keys | length) == 2 and all(.keys[]; .restored and .probe == "signed" and .state == "active")' "$w/drill.json"
test_expect "the drill's addresses are the token's" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; diff <(jq -r '.keys[] | .name + \" \" + .address' '$w/drill.json' | sort) <(ctl key list --json | jq -r '.keys[] | .name + \" \" + .address' | sort)"
scratch_gone() { local d; d=$(jq -r .scratch_dir "$w/drill.json"); [[ $d == /tmp/signerd-drill-* ]] && test ! -e "$d"; }
test_expect "the drill removed its scratch token" scratch_gone
test_expect "and did not touch the configured one's audit log" test "$(sha256sum "$env/audit.log")" = "$audit_before"

# --- shares that must be refused, before anything changes ---
# each refusal's output is kept, to show afterwards that none printed a share
refused() { local rc=0; tl_fails_saying "$@" || rc=$?; cat "$tl_work/.said" >>"$w/refusals.log"; return $rc; }
test_expect "one share is too few" refused "needs 2 shares" ctl dr drill --from region-a --share "$s/alice"
test_expect "the same share twice is one share" refused "the same share" ctl dr drill --from region-a --share "$s/bob" --share "$s/bob"
(umask 0077; sed -E 's/(.)$/\1/; s/ ([0-9a-f])([0-9a-f]{63})$/ \2\1/' "$s/carol" >"$s/changed")
test_expect "a changed share is refused before use (its hash is not the recorded one)" refused "share 2 was not made with this backup key" ctl dr drill --from region-a --share "$s/alice" --share "$s/changed"
cp "$s/alice" "$s/readable"
chmod 0644 "$s/readable"
test_expect "a share others can read is refused" refused "share file" ctl dr drill --from region-a --share "$s/readable" --share "$s/bob"
test_expect "standard input works as a share (-)" bash -c "'$signerctl' --config '$cfg' dr drill --from region-a --share - --share '$s/bob' --json <'$s/carol' | jq -e '.result == \"pass\"' >/dev/null"
# a foreign share: another environment's backup key
tl_dev_env "$tl_work/other" --ceremonies >/dev/null
(umask 0077; g "$tl_work/other/custodians/alice/gnupg" --decrypt "$tl_work/other/custodians/alice/backup-share.asc" >"$s/foreign")
test_expect "a foreign share is refused, naming the other backup key" refused "share 2 is not a share of backup key" ctl dr drill --from region-a --share "$s/alice" --share "$s/foreign"
no_share_printed() { test "$(grep -c . "$w/refusals.log")" -ge 5 && ! grep -F -f <(awk '{print $5}' "$s/alice" "$s/bob" "$s/carol" "$s/foreign") "$w/refusals.log"; }
test_expect "no refusal printed a share (five refusals read)" no_share_printed

# --- a rotation: backed up before it can be activated ---
plan() { ctl ceremony plan "$@"; }
run() { ctl ceremony run "$@"; }
plan key-rotate polygon-dev --out "$w/rotate.json" >/dev/null
approve alice "$w/rotate.json"
approve bob "$w/rotate.json"
test_expect "a rotation without shares is refused, and spends no plan" tl_fails_saying "needs 2 shares" run "$w/rotate.json" --approval "$w/rotate.json.alice.asc" --approval "$w/rotate.json.bob.asc"
test_expect "with two shares: rotated, and v2 is in the newest backup of both targets" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; ctl ceremony run '$w/rotate.json' --approval '$w/rotate.json.alice.asc' --approval '$w/rotate.json.bob.asc' --share '$s/bob' --share '$s/carol' >/dev/null && for t in region-a region-b; do jq -e '.manifest | fromjson | any(.keys[]; .name == \"polygon-dev\" and .version == 2 and .wrapped != null)' \"\$(ls '$env'/backup/\$t/backups/*.json | tail -1)\" >/dev/null || exit 1; done"
# region-b loses the newest backup: activation must refuse (backup_missing)
newest=$(basename "$(ls "$env"/backup/region-b/backups/*.json | tail -1)")
mkdir -p "$w/held"
for f in "$env"/backup/region-b/backups/*.json; do
	jq -e '.manifest | fromjson | any(.keys[]; .name == "polygon-dev" and .version == 2)' "$f" >/dev/null && mv "$f" "$w/held/"
done
plan key-activate polygon-dev --version 2 --out "$w/activate.json" >/dev/null
approve alice "$w/activate.json"
approve carol "$w/activate.json"
test_expect "activation refuses while one of the min_targets lacks the version: backup_missing" tl_fails_saying "backup_missing: polygon-dev v2 is backed up in 1 target" run "$w/activate.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.carol.asc"
test_expect "backup verify says region-b lacks the newest backup" tl_fails_saying "lacks the newest backup" ctl backup verify
test_expect "backup sync copies it back" bash -c "'$signerctl' --config '$cfg' backup sync | grep -q 'copied' && test -s '$env/backup/region-b/backups/$newest'"
test_expect "verify passes again" tl_exits 0 "$w/v2.out" ctl backup verify
test_expect "and the same plan (unspent) now activates v2" tl_exits 0 "$w/act.out" run "$w/activate.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.carol.asc"
test_expect "v2 active, v1 deactivated" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; test \"\$(ctl key show polygon-dev --json | jq -r '.version,.state' | tr '\n' ' ')\" = '2 active '"
plan key-compromise solana-dev --version 1 --reason drill --out "$w/comp.json" >/dev/null
approve carol "$w/comp.json"
run "$w/comp.json" --approval "$w/comp.json.carol.asc" >/dev/null
test_expect "backup state after the compromise: the newest backup says so" bash -c "'$signerctl' --config '$cfg' backup state >/dev/null && jq -e '.manifest | fromjson | any(.keys[]; .name == \"solana-dev\" and .state == \"compromised\")' \"\$(ls '$env'/backup/region-a/backups/*.json | tail -1)\" >/dev/null"

# --- forged and poisoned manifests: only authentic ones count ---
newest_a=$(ls "$env"/backup/region-a/backups/*.json | tail -1)
kid=$(jq -r .kid "$newest_a")
# a rollback: the compromised version made active again, dated last, its MAC kept
jq '.manifest |= (fromjson | .keys |= map(if .name == "solana-dev" and .version == 1 then .state = "active" | .transitions = [.transitions[0], {state: "active", at: .transitions[1].at}] else . end) | .created_at_ns += 1000000000000000 | tojson)' "$newest_a" >"$env/backup/region-a/backups/29991231t000000.000000000z-0123456789abcdef.json"
# a stranger's manifest of no keys, and broken ones (a key without a name; not JSON inside)
printf '{"format":"signerd-backup-envelope-1","kid":"%s","mac":"%064d","manifest":"{\\"keys\\":[]}"}' "$kid" 0 >"$env/backup/region-b/backups/29991231t000001.000000000z-fedcba9876543210.json"
jq '.manifest |= (fromjson | .keys[0] |= del(.name) | tojson) | .mac = ("0" * 64)' "$newest_a" >"$env/backup/region-b/backups/29991231t000002.000000000z-00000000000000aa.json"
# an authentic but old manifest renamed to pass for the newest
cp "$(ls "$env"/backup/region-a/backups/*.json | head -1)" "$env/backup/region-a/backups/29991231t000003.000000000z-00000000000000bb.json"
test_expect "backup verify refuses the forged manifests as not authentic, naming them" bash -c "! '$signerctl' --config '$cfg' backup verify >'$w/forged.out' 2>&1; grep -q '29991231t000000.*not authentic' '$w/forged.out' && grep -q '29991231t000001' '$w/forged.out' && grep -q '29991231t000002' '$w/forged.out' && grep -q '29991231t000003.*renamed' '$w/forged.out'"
test_expect "backup state passes them over (no crash), and carries every wrapped key forward" bash -c "'$signerctl' --config '$cfg' backup state >/dev/null && jq -e '.manifest | fromjson | all(.keys[]; .wrapped != null)' \"\$(ls '$env'/backup/region-a/backups/2026*.json | tail -1)\" >/dev/null"
test_expect "a drill from the forged target restores the compromised version as compromised" bash -c "'$signerctl' --config '$cfg' dr drill --from region-a --share '$s/alice' --share '$s/bob' --json >'$w/forged.json' 2>'$w/forged.err'; jq -e '.result == \"pass\" and (.keys[] | select(.name == \"solana-dev\" and .version == 1) | .state == \"compromised\" and .probe == \"skipped\")' '$w/forged.json' >/dev/null && grep -q 'not authentic' '$w/forged.err'"
test_expect "backup sync passes the forgeries over" tl_exits 0 "$w/sync-forged.out" ctl backup sync
rm -f "$env"/backup/region-*/backups/2999*.json
test_expect "the forgeries were not copied by backup sync" bash -c "! ls '$env'/backup/region-*/backups/2999* 2>/dev/null | grep -q ."

# --- the proof: the token directory and every target, without the shares, open no key ---
find "$env/backup" -path '*/objects/*' -type f >"$w/all-objects"
: >"$w/blobs"
for f in "$env"/backup/region-a/backups/*.json; do
	jq -r '.manifest | fromjson | .keys[] | select(.wrapped != null) | .wrapped.sha256' "$f"
done | sort -u | sed "s|^|$env/backup/region-a/objects/|" >"$w/blobs"
test_expect "there are wrapped keys to try (three versions)" test "$(wc -l <"$w/blobs")" -ge 3
mapfile -t token_files < <(find "$env/tokens" -type f)
mapfile -t target_files < <(find "$env/backup" -type f)
test_expect "every 32-byte window of the token's files and of every target, as the AES key, opens no wrapped key" bash -c "'$keyscan' scan '$w/blobs' ${token_files[*]} ${target_files[*]} >'$w/scan.out' && cat '$w/scan.out' && grep -Eq '^blobs [3-9][0-9]* windows [1-9][0-9]* opened 0$' '$w/scan.out'"
test_expect "the control: the same scanner finds the real key hidden in random bytes" bash -c "'$keyscan' plant \"\$(ls '$env'/backup/region-a/backup-keys/*.json)\" '$s/alice' '$s/bob' '$w/blobs' >'$w/plant.out' && grep -Eq ' opened [3-9][0-9]*$' '$w/plant.out'"

# --- a fresh machine: a new token restored from the backups ---
addresses_before=$(ctl key versions polygon-dev --json | jq -c '[.versions[] | {version, state, address}]')
solana_before=$(ctl key versions solana-dev --json | jq -c '[.versions[] | {version, state, address}]')
fresh() { # a new machine: the config and the backups; a new, empty token; no audit log
	mv "$env/tokens" "$w/tokens.$1"
	mkdir -m 0700 "$env/tokens"
	mv "$env/audit.log" "$w/audit.log.$1"
	rm -f "$env"/audit.log.*
	ctl token init --so-pin-file "$env/so-pin" >/dev/null
}
fresh 1
plan restore --from region-a --out "$w/restore.json" >/dev/null
approve alice "$w/restore.json"
approve bob "$w/restore.json"
test_expect "restore with ceremonies configured is a ceremony" tl_fails_saying "restore is a ceremony" ctl restore --from region-a --share "$s/alice" --share "$s/bob"
test_expect "the restore ceremony with a wrong share changes nothing" bash -c "! '$signerctl' --config '$cfg' ceremony run '$w/restore.json' --approval '$w/restore.json.alice.asc' --approval '$w/restore.json.bob.asc' --share '$s/alice' --share '$s/changed' 2>'$w/wrong.err'; grep -q 'not made with this backup key' '$w/wrong.err' && test \"\$('$signerctl' --config '$cfg' key list --json | jq '.keys | length')\" = 0"
# kill -9 at each step, then run it again: it finishes
for point in restore.after_mark import.after_private restore.after_version restore.before_audit restore.before_done; do
	rc=0
	SIGNER_FAULT=$point "$signerctl" --config "$cfg" ceremony run "$w/restore.json" --approval "$w/restore.json.alice.asc" --approval "$w/restore.json.bob.asc" --share "$s/alice" --share "$s/bob" >"$w/killed.$point" 2>&1 || rc=$?
	test_expect "kill -9 at $point: the restore is cut short there" test "$rc" = 137
done
test_expect "run again, the restore finishes" tl_exits 0 "$w/restored.json" ctl ceremony run "$w/restore.json" --approval "$w/restore.json.alice.asc" --approval "$w/restore.json.bob.asc" --share "$s/alice" --share "$s/bob" --json
test_expect "every version is back with its state and address" bash -c "ctl() { '$signerctl' --config '$cfg' \"\$@\"; }; test \"\$(ctl key versions polygon-dev --json | jq -c '[.versions[] | {version, state, address}]')\" = '$addresses_before' && test \"\$(ctl key versions solana-dev --json | jq -c '[.versions[] | {version, state, address}]')\" = '$solana_before'"
test_expect "the compromised version never signs again" tl_fails_saying "key_not_active" ctl sign --key solana-dev --key-version 1 --operation dev --solana-message "$(printf '\x01\x00\x01\x02%064d' 0 | head -c 36 | base64 -w0)" --json
test_expect "the active polygon-dev signs through the door, with its old address" bash -c "'$signerctl' --config '$cfg' sign --key polygon-dev --operation dev --evm-message 0x68656c6c6f --json | jq -e --arg a \"\$(echo '$addresses_before' | jq -r '.[] | select(.state == \"active\") | .address')\" '.from == \$a and (.signature | startswith(\"0x\"))' >/dev/null"
test_expect "the audit log came back: its chain reaches the restored anchor, and the restore is in it" bash -c "'$signerctl' --config '$cfg' audit verify >/dev/null && grep -q '\"event\":\"restore\"' '$env/audit.log'"
test_expect "the restored token backs up again: its backup key and MAC key came back" tl_exits 0 "$w/state-after.out" ctl backup state
test_expect "a second restore into the now full token is refused" tl_fails_saying "restore needs a new token" ctl ceremony run "$w/restore.json" --approval "$w/restore.json.alice.asc" --approval "$w/restore.json.bob.asc" --share "$s/alice" --share "$s/bob"

# --- one target corrupted, one down: the third restores ---
sed -i 's|^  min_targets: 2$|  min_targets: 2|; s|^    - {name: region-b, dir: \(.*\)}$|    - {name: region-b, dir: \1}\n    - {name: region-c, dir: '"$env"'/backup/region-c}|' "$cfg"
mkdir -m 0700 "$env/backup/region-c"
test_expect "a new third target filled by backup sync" bash -c "'$signerctl' --config '$cfg' backup sync >/dev/null && '$signerctl' --config '$cfg' backup verify >/dev/null"
fresh 2
blob=$(jq -r '.manifest | fromjson | .keys[] | select(.name == "polygon-dev" and .version == 2) | .wrapped.sha256' "$(ls "$env"/backup/region-a/backups/*.json | tail -1)")
printf 'x' | dd of="$env/backup/region-a/objects/$blob" bs=1 seek=20 conv=notrunc 2>/dev/null
mv "$env/backup/region-b" "$w/region-b.down"
test_expect "backup verify names the corrupt object and the target that is down" bash -c "! '$signerctl' --config '$cfg' backup verify >'$w/bad.out' 2>&1; grep -q 'region-a: .* good' '$w/bad.out' && grep -q 'FAIL.*$blob' '$w/bad.out' && grep -q 'region-b' '$w/bad.out'"
test_expect "restore --from region-a (corrupt; region-b down) restores from region-c" bash -c "'$signerctl' --config '$cfg' ceremony run '$w/restore.json' --approval '$w/restore.json.alice.asc' --approval '$w/restore.json.bob.asc' --share '$s/carol' --share '$s/bob' --json >'$w/c.json' 2>'$w/c.err'; jq -e '.result.target == \"region-c\" and .result.result == \"pass\"' '$w/c.json' >/dev/null"
test_expect "and signs with the same address again" bash -c "'$signerctl' --config '$cfg' sign --key polygon-dev --operation dev --evm-message 0x68656c6c6f --json | jq -e --arg a \"\$(echo '$addresses_before' | jq -r '.[] | select(.state == \"active\") | .address')\" '.from == \$a' >/dev/null"
test_expect "a foreign token's backup is refused" bash -c "sed -i 's/^  label: signerd-dev$/  label: signerd-other/' '$cfg'; ! '$signerctl' --config '$cfg' dr drill --from region-c --share '$s/alice' --share '$s/bob' 2>'$w/foreign.err'; sed -i 's/^  label: signerd-other$/  label: signerd-dev/' '$cfg'; grep -q 'foreign token' '$w/foreign.err'"

test_done
