#!/usr/bin/env bash
# M-of-N ceremonies end to end (API.md section 5) with three real OpenPGP custodians (GnuPG, no
# passphrase, each in a GNUPGHOME of this test's own): a rotation and its activation approved by
# two, a compromise by one (its lower quorum), a key-sign that lets the retired version sign one
# approved payload and nothing else; and each refusal: too few distinct custodians, an unpinned
# key, a key the keyring lacks, a tampered plan, an expired plan, a replayed plan, a plan for
# another token; a subkey's signature counts as its primary key's; with ceremonies configured the
# direct lifecycle commands are refused. Every gpg-agent it started is killed when it ends.
signerctl=$1 TL_ROOT=$2
TL_NAME=ceremony SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

env=$tl_work/env
tl_dev_env "$env" --ceremonies
cfg=$env/signerd.yaml
pub=$env/custodians.gnupg
homes=("$env/custodians/alice/gnupg" "$env/custodians/bob/gnupg" "$env/custodians/carol/gnupg"
	"$tl_work/mallory" "$tl_work/stranger" "$pub")
kill_agents() { for h in "${homes[@]}"; do gpgconf --homedir "$h" --kill all 2>/dev/null || true; done; }
tl_on_exit kill_agents
ctl() { "$signerctl" --config "$cfg" "$@"; }
g() { # g HOME gpg-args...: gpg quietly, offline, without a passphrase
	GNUPGHOME=$1 gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "${@:2}" 2>/dev/null
}
approve() { # approve NAME PLAN: NAME's detached signature over PLAN's bytes, in PLAN.NAME.asc
	g "$env/custodians/$1/gnupg" --yes --detach-sign --armor -o "$2.$1.asc" "$2"
}
plan() { ctl ceremony plan "$@"; }
# with backups (dev-env --ceremonies), a rotation backs the new version up as it makes it: its run
# needs two custodians' shares of the backup key (tests/integration/backup.sh tests them)
mkdir -m 0700 "$tl_work/shares"
for n in alice bob; do
	(umask 0077; g "$env/custodians/$n/gnupg" --decrypt "$env/custodians/$n/backup-share.asc" >"$tl_work/shares/$n")
done
shares=(--share "$tl_work/shares/alice" --share "$tl_work/shares/bob")
run() { ctl ceremony run "$@"; }
state_of() { ctl key show polygon-dev --version "$1" --json | jq -r .state; }

test_expect "dev-env pinned three custodians, quorum 2, key-compromise 1" bash -c "grep -A6 '^ceremonies:' '$cfg' | grep -c '^    [a-z]*: \"[0-9A-F]\{40\}\"' | grep -qx 3 && grep -q 'quorum: {default: 2, key-compromise: 1}' '$cfg'"
test_expect "with ceremonies, a direct rotate is refused, naming the way" tl_fails_saying "needs one \\(signerctl ceremony plan key-rotate" ctl key rotate polygon-dev
test_expect "and a direct compromise" tl_fails_saying "ceremony plan key-compromise" ctl key compromise polygon-dev --version 1
test_expect "list and show still work" tl_exits 0 "$tl_work/l" ctl key versions polygon-dev

# --- rotate, approved by two ---
w=$tl_work
test_expect "plan key-rotate" tl_exits 0 "$w/p.out" plan key-rotate polygon-dev --out "$w/rotate.json"
test_expect "the plan is API.md's" jq -e '(keys == ["action","args","ceremony","created_at","not_after","quorum","token"]) and .action == "key-rotate" and .args.name == "polygon-dev" and .args.version == 2 and .quorum == 2 and .token == "signerd-dev" and (.ceremony | test("^[0-9a-f]{32}$"))' "$w/rotate.json"
test_expect "show says what it does" bash -c "'$signerctl' ceremony show '$w/rotate.json' | grep -q 'makes version 2 of key .polygon-dev. (a new address)'"
test_expect "a plan is never overwritten" tl_fails_saying "cannot write" plan key-rotate polygon-dev --out "$w/rotate.json"
approve alice "$w/rotate.json"
approve bob "$w/rotate.json"
test_expect "one approval is too few" tl_fails_saying "needs the approvals of 2 distinct custodians; it has 1 \\(alice\\)" run "$w/rotate.json" --approval "$w/rotate.json.alice.asc"
test_expect "the same custodian twice counts once" tl_fails_saying "it has 1 \\(alice\\)" run "$w/rotate.json" --approval "$w/rotate.json.alice.asc" --approval "$w/rotate.json.alice.asc"
test_expect "nothing changed by a refusal" test "$(ctl key versions polygon-dev --json | jq '.versions | length')" = 1
test_expect "two approvals: rotated" tl_exits 0 "$w/r.json" run "$w/rotate.json" --approval "$w/rotate.json.alice.asc" --approval "$w/rotate.json.bob.asc" "${shares[@]}" --json
test_expect "the run names its approvers and the new version" jq -e '.approvers == ["alice","bob"] and .result.version == 2 and .result.state == "pre-activation"' "$w/r.json"
test_expect "the audit record names the plan's sha256, id, action and approvers" bash -c "tail -n 1 '$env/audit.log' | jq -e --arg id \"\$(jq -r .ceremony '$w/rotate.json')\" --arg h \"\$(sha256sum '$w/rotate.json' | cut -d' ' -f1)\" '.event == \"key_lifecycle\" and .action == \"rotate\" and .client == \"ceremony\" and .ceremony.id == \$id and .ceremony.plan_sha256 == \$h and .ceremony.action == \"key-rotate\" and .ceremony.approvers == [\"alice\",\"bob\"]'"
test_expect "a replayed plan is refused" tl_fails_saying "was carried out already: a plan runs once" run "$w/rotate.json" --approval "$w/rotate.json.alice.asc" --approval "$w/rotate.json.bob.asc" "${shares[@]}"

# --- refusals of a plan's own terms, and of approvals that are not a custodian's ---
plan key-activate polygon-dev --version 2 --out "$w/activate.json" >/dev/null
approve alice "$w/activate.json"
approve carol "$w/activate.json"
cp "$w/activate.json" "$w/tampered.json"
sed -i 's/"version": 2/"version": 1/' "$w/tampered.json"
sed 's/$/\r/' "$w/activate.json" >"$w/crlf.json"
test_expect "the plan with other line endings is refused (a text-mode signature would verify it)" tl_fails_saying "not written as signerctl ceremony plan writes it" run "$w/crlf.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.carol.asc"
test_expect "a tampered plan is refused" tl_fails_saying "does not match the plan's bytes" run "$w/tampered.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.carol.asc"
jq --indent 2 -S '.not_after = "2020-01-01T00:00:00Z"' "$w/activate.json" >"$w/expired.json"
approve alice "$w/expired.json"
approve carol "$w/expired.json"
test_expect "an expired plan is refused, even well approved" tl_fails_saying "the plan expired at 2020-01-01T00:00:00Z" run "$w/expired.json" --approval "$w/expired.json.alice.asc" --approval "$w/expired.json.carol.asc"
jq --indent 2 -S '.token = "another-token"' "$w/activate.json" >"$w/other.json"
approve alice "$w/other.json"
approve carol "$w/other.json"
test_expect "a plan for another token is refused" tl_fails_saying "the plan is for token 'another-token'; this config's token is 'signerd-dev'" run "$w/other.json" --approval "$w/other.json.alice.asc" --approval "$w/other.json.carol.asc"
# mallory: a good signature by a key the keyring holds, but no custodian's
mkdir -m 0700 "$w/mallory" "$w/stranger"
g "$w/mallory" --quick-gen-key "mallory <mallory@example.org>" ed25519 sign never
g "$w/mallory" --export mallory@example.org | g "$pub" --import
g "$w/mallory" --yes --detach-sign --armor -o "$w/activate.json.mallory.asc" "$w/activate.json"
test_expect "a signature by an unpinned key is refused" tl_fails_saying "is signed by key [0-9A-F]{40}, which is not pinned to any custodian" run "$w/activate.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.mallory.asc"
g "$w/stranger" --quick-gen-key "stranger <stranger@example.org>" ed25519 sign never
g "$w/stranger" --yes --detach-sign --armor -o "$w/activate.json.stranger.asc" "$w/activate.json"
test_expect "a signature by a key the keyring lacks is refused" tl_fails_saying "is not in ceremonies.gnupg_home" run "$w/activate.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.stranger.asc"
test_expect "a file that is no signature is refused" tl_fails_saying "approval .* (is not a detached OpenPGP signature|holds no signature)" run "$w/activate.json" --approval "$w/activate.json" --approval "$w/activate.json.carol.asc"
test_expect "after all the refusals, version 2 is still pre-activation" test "$(state_of 2)" = pre-activation

# bob signs with a subkey: it counts as bob's primary key (the pinned one)
bob_fpr=$(GNUPGHOME=$env/custodians/bob/gnupg gpg --batch --with-colons --list-keys bob@signerd-dev | awk -F: '/^fpr/ { print $10; exit }')
g "$env/custodians/bob/gnupg" --quick-add-key "$bob_fpr" ed25519 sign never
g "$env/custodians/bob/gnupg" --export bob@signerd-dev | g "$pub" --import
approve bob "$w/activate.json"
test_expect "bob's approval was made by a subkey" bash -c "GNUPGHOME='$pub' gpg --batch --status-fd 1 --verify '$w/activate.json.bob.asc' '$w/activate.json' 2>/dev/null | awk '/VALIDSIG/ { exit !(\$3 != \$12) }'"
test_expect "a subkey's approval counts as its primary key's: activated" tl_exits 0 "$w/a.json" run "$w/activate.json" --approval "$w/activate.json.alice.asc" --approval "$w/activate.json.bob.asc" --json
test_expect "v2 active, v1 deactivated" bash -c "[[ \$('$signerctl' --config '$cfg' key versions polygon-dev --json | jq -c '[.versions[].state]') == '[\"deactivated\",\"active\"]' ]]"

# --- key-sign: the retired v1 signs one approved transfer (to v2's address), nothing else ---
v2=$(ctl key show polygon-dev --version 2 --json | jq -r .address)
tx=$(cd "$TL_ROOT/tests/clients" && node tools/evm-tx.mjs "$v2" 1000)
test_expect "v1 does not sign by itself" tl_fails_saying "key_not_active|not active" ctl sign --key polygon-dev --key-version 1 --operation dev --evm-transaction "$tx"
plan key-sign --key polygon-dev --version 1 --operation dev --evm-transaction "$tx" --out "$w/sign.json" >/dev/null
test_expect "show names the exact payload" bash -c "'$signerctl' ceremony show '$w/sign.json' | grep -q \"signs ONE payload with key 'polygon-dev' version 1\" && '$signerctl' ceremony show '$w/sign.json' | grep -q '${tx#0x}'"
approve alice "$w/sign.json"
approve carol "$w/sign.json"
test_expect "key-sign: v1 signs the approved transaction" tl_exits 0 "$w/s.json" run "$w/sign.json" --approval "$w/sign.json.alice.asc" --approval "$w/sign.json.carol.asc" --json
v1=$(ctl key show polygon-dev --version 1 --json | jq -r .address)
test_expect "signed by v1, to v2" jq -e --arg a "$v1" '.result.key_version == 1 and (.result.from | ascii_downcase) == ($a | ascii_downcase) and (.result.signed_transaction | startswith("0x02"))' "$w/s.json"
test_expect "the signature's record names the ceremony" bash -c "grep '\"decision\":\"signed\"' '$env/audit.log' | tail -n 1 | jq -e '.key_version == 1 and .ceremony.action == \"key-sign\" and .ceremony.approvers == [\"alice\",\"carol\"]'"
test_expect "and only once: the plan is spent" tl_fails_saying "was carried out already" run "$w/sign.json" --approval "$w/sign.json.alice.asc" --approval "$w/sign.json.carol.asc"
test_expect "v1 still signs nothing else" tl_fails_saying "key_not_active|not active" ctl sign --key polygon-dev --key-version 1 --operation dev --evm-message 0x01

# --- compromise: one custodian is enough (an emergency is never blocked) ---
plan key-compromise polygon-dev --version 2 --reason "drill" --out "$w/compromise.json" >/dev/null
test_expect "the compromise plan asks for 1" jq -e '.quorum == 1' "$w/compromise.json"
test_expect "a reason that cannot be recorded is refused when the plan is made" tl_exits 2 "$w/bad-reason" plan key-compromise polygon-dev --version 2 --reason "$(head -c 300 /dev/zero | tr '\0' x)" --out "$w/bad-reason.json"
approve carol "$w/compromise.json"
test_expect "compromise with one approval" tl_exits 0 "$w/c.out" run "$w/compromise.json" --approval "$w/compromise.json.carol.asc"
test_expect "v2 compromised" test "$(state_of 2)" = compromised
plan key-sign --key polygon-dev --version 2 --operation dev --evm-message 0x01 --out "$w/sign2.json" >/dev/null
approve alice "$w/sign2.json"
approve bob "$w/sign2.json"
test_expect "a compromised version signs nothing, even approved" tl_fails_saying "refused it" run "$w/sign2.json" --approval "$w/sign2.json.alice.asc" --approval "$w/sign2.json.bob.asc"
test_expect "the audit chain verifies and reaches the anchor" ctl audit verify
test_done
