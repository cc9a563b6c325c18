#!/usr/bin/env bash
# signerctl readiness (API.md section 7; docs/operations.md, "Readiness") on real environments:
# a healthy dev env with signerd running is ready (the backups, ceremonies and CRL warn); a
# healthy --ceremonies env with a CRL passes every check; then one thing broken at a time, each
# failing its own check with its reason (exit 1) while every other check says what it said on
# the healthy env: signerd stopped, a wrong PIN, a policy granting a key the token lacks, an
# expired server certificate, a key that is not the certificate's, a CRL past its nextUpdate or
# signed by another CA, a truncated audit log (in the words signerd refuses to start with, and
# signer_readiness_audit_anchor_reached 0), a backup target gone, a backup deleted from a
# target, a custodian's key missing from the keyring. The --textfile passes promtool; no output
# holds a PIN.
signerctl=$1 TL_ROOT=$2 signerd=$3
TL_NAME=readiness SIGNERCTL=$signerctl SIGNERD=$signerd
. "$(dirname "$0")/test-lib.sh"

w=$tl_work
out=$w/out
mkdir -p "$out"

# rd CODE NAME [global options...]: readiness --json --textfile; stdout in $out/NAME.json, stderr
# in $out/NAME.err, the textfile in $out/NAME.prom; exits as CODE or fails saying how
rd() {
	local want=$1 name=$2 got=0
	shift 2
	"$signerctl" "$@" readiness --json --textfile "$out/$name.prom" >"$out/$name.json" 2>"$out/$name.err" || got=$?
	((got == want)) || { echo "exit $got, wanted $want"; cat "$out/$name.json" "$out/$name.err"; return 1; }
}
# status NAME CHECK STATUS [PATTERN]: the check's status in that run, and its detail matches
status() {
	jq -e --arg c "$2" --arg s "$3" --arg p "${4:-}" \
		'.checks[] | select(.name == $c) | .status == $s and (.detail | test($p))' "$out/$1.json" >/dev/null ||
		{ jq -c --arg c "$2" '.checks[] | select(.name == $c)' "$out/$1.json"; return 1; }
}
# unchanged NAME BASE CHECK...: every check but those named has the status it had in BASE
unchanged() {
	local name=$1 base=$2 l
	shift 2
	l=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
	jq -e --slurpfile b "$out/$base.json" --argjson l "$l" '
		def rest($l): [.checks[] | select(.name as $n | $l | index($n) | not) | {name, status}];
		rest($l) == ($b[0] | rest($l))' "$out/$name.json" >/dev/null ||
		{ jq -c '[.checks[] | {name, status}]' "$out/$name.json" "$out/$base.json"; return 1; }
}
# variant NAME SED: a copy of the config ($cfg), changed by SED; prints its path
variant() { sed "$2" "$cfg" >"$w/$1.yaml" && chmod 0600 "$w/$1.yaml" && echo "$w/$1.yaml"; }
crl() { # crl OUT CA TEMPLATE-LINES...: a CRL signed by CA (client-ca or other-ca)
	printf '%s\n' "${@:3}" >"$w/crl.tmpl"
	certtool --generate-crl --load-ca-privkey "$pki/$2.key" --load-ca-certificate "$pki/$2.pem" \
		--template "$w/crl.tmpl" --outfile "$1" >/dev/null 2>&1
	chmod 0644 "$1"
}
server_cert() { # server_cert OUT TEMPLATE-LINES...: for server.key, signed by the server CA
	printf '%s\n' "cn = localhost" "dns_name = localhost" "ip_address = 127.0.0.1" \
		"tls_www_server" "signing_key" "serial = $RANDOM$RANDOM" "${@:2}" >"$w/cert.tmpl"
	certtool --generate-certificate --load-privkey "$pki/server.key" --load-ca-certificate "$pki/ca.pem" \
		--load-ca-privkey "$pki/ca.key" --template "$w/cert.tmpl" --outfile "$1" >/dev/null 2>&1
	chmod 0644 "$1"
}
all_checks='["token","policy","certificates","crl","audit_log","keys","backups","backup_targets","ceremonies","signerd"]'

# ====== a dev environment without backups or ceremonies, signerd running ======
env=$w/env
tl_dev_env "$env"
cfg=$env/signerd.yaml
pki=$env/pki
tl_signerd_start "$cfg" "$w/signerd.log"
ctl() { "$signerctl" --config "$cfg" "$@"; }
for _ in 1 2 3; do ctl sign --key polygon-dev --operation dev --evm-message 0x68656c6c6f >/dev/null; done

t0=$(date +%s%N)
test_expect "healthy: ready (exit 0)" rd 0 healthy --config "$cfg"
echo "# one readiness run: $((($(date +%s%N) - t0) / 1000000)) ms (checks: $(jq -c '[.checks[] | .duration_ms]' "$out/healthy.json" 2>/dev/null))"
test_expect "API.md's JSON: ready, and the ten checks each with a status and a detail" jq -e --argjson all "$all_checks" \
	'.ready == true and ([.checks[].name] == $all) and all(.checks[]; (.status | IN("pass","warn","fail")) and (.detail | length) > 10)' "$out/healthy.json"
for c in token policy certificates audit_log keys signerd; do
	test_expect "healthy: $c passes" status healthy "$c" pass
done
test_expect "healthy: backups warn: no backup configured" status healthy backups warn "no backup configured"
test_expect "healthy: backup_targets warn" status healthy backup_targets warn "no backup configured"
test_expect "healthy: ceremonies warn: lifecycle commands run without M-of-N approval" status healthy ceremonies warn "lifecycle commands run without M-of-N approval"
test_expect "healthy: crl warns: none configured, revocation impossible" status healthy crl warn "cannot be revoked"
test_expect "healthy: the audit log reaches the token's anchor" status healthy audit_log pass "reaches the token's anchor \\(record [1-9]"
test_expect "healthy: signerd's /readyz answered 200" status healthy signerd pass "GET http://127.0.0.1:$tl_ops_port/readyz: 200"
test_expect "the textfile passes promtool check metrics" bash -c "promtool check metrics <'$out/healthy.prom'"
test_expect "the textfile: ready 1, anchor reached 1, a status per check (2 pass, 1 warn)" bash -c "
	test \"\$(awk '\$1 == \"signer_readiness_ready\" {print \$2}' '$out/healthy.prom')\" = 1 &&
	test \"\$(awk '\$1 == \"signer_readiness_audit_anchor_reached\" {print \$2}' '$out/healthy.prom')\" = 1 &&
	test \"\$(grep -c '^signer_readiness_check_status{check=\"[a-z_]*\"} [012]\$' '$out/healthy.prom')\" = 10 &&
	grep -qx 'signer_readiness_check_status{check=\"token\"} 2' '$out/healthy.prom' &&
	grep -qx 'signer_readiness_check_status{check=\"backups\"} 1' '$out/healthy.prom'"
test_expect "the textfile's run time is now" bash -c "(( \$(date +%s) - \$(awk '\$1 == \"signer_readiness_last_run_timestamp_seconds\" {print \$2}' '$out/healthy.prom') < 60 ))"
test_expect "the textfile is written atomically: no temporary file is left beside it" bash -c "test -z \"\$(find '$out' -name '.*.prom.*')\""
test_expect "without --json: a line per check (status, name, detail), then 'ready'" bash -c "
	'$signerctl' --config '$cfg' readiness >'$out/table.txt' &&
	test \$(wc -l <'$out/table.txt') = 11 && test \"\$(tail -1 '$out/table.txt')\" = ready &&
	grep -Eq '^pass +token +token .signerd-dev.' '$out/table.txt' && grep -Eq '^warn +ceremonies ' '$out/table.txt'"
test_expect "an operand is a usage error (exit 2)" tl_exits 2 "$out/usage1.txt" "$signerctl" --config "$cfg" readiness extra
test_expect "--textfile needs its FILE (exit 2)" tl_exits 2 "$out/usage2.txt" "$signerctl" --config "$cfg" readiness --textfile
test_expect "a textfile that cannot be written fails the command" tl_fails_saying "textfile" "$signerctl" --config "$cfg" readiness --textfile "$w/no/such/dir/r.prom"

test_expect "a config that does not load: every check fails saying so" rd 1 no-config --config "$w/none.yaml"
test_expect "and the textfile says not ready" bash -c "jq -e 'all(.checks[]; .status == \"fail\" and (.detail | test(\"does not load\")))' '$out/no-config.json' >/dev/null && grep -qx 'signer_readiness_ready 0' '$out/no-config.prom'"

# --- a wrong PIN: the token fails; what needs the token says it was not checked ---
(umask 0377; printf '00000000000000000000000000000000' >"$w/wrong-pin")
test_expect "wrong PIN: not ready (exit 1)" rd 1 pin --config "$cfg" --pin-file "$w/wrong-pin"
test_expect "the token fails: the login (C_Login: CKR_PIN_INCORRECT)" status pin token fail "C_Login: CKR_PIN_INCORRECT"
test_expect "the keys are not checked (warn, never pass)" status pin keys warn "not checked: the token failed"
test_expect "the policy still loads; its keys not checked" status pin policy warn "not checked: the token failed"
test_expect "the audit chain is checked, the anchor not" status pin audit_log warn "not checked against the token's anchor"
test_expect "the others as on the healthy env" unchanged pin healthy token keys policy audit_log
test_expect "the textfile: token 0, ready 0, no anchor sample (undetermined)" bash -c "
	grep -qx 'signer_readiness_check_status{check=\"token\"} 0' '$out/pin.prom' && grep -qx 'signer_readiness_ready 0' '$out/pin.prom' &&
	! grep -q '^signer_readiness_audit_anchor_reached' '$out/pin.prom' && promtool check metrics <'$out/pin.prom'"

# --- a policy that grants a key the token does not hold ---
cp "$env/policy.yaml" "$w/ghost-policy.yaml"
printf '  - client: local\n    key: ghost-key\n    operations: [dev]\n' >>"$w/ghost-policy.yaml"
ghost=$(variant ghost "s|^  path: $env/policy.yaml\$|  path: $w/ghost-policy.yaml|")
test_expect "a grant of a missing key: not ready" rd 1 ghost --config "$ghost"
test_expect "policy fails, naming the grant's line and the key" status ghost policy fail "ghost-policy.yaml:[0-9]+: the grant's key 'ghost-key' is not in token 'signerd-dev'"
test_expect "keys fails: the granted key is not in the token" status ghost keys fail "key 'ghost-key' \\(granted at .*ghost-policy.yaml:[0-9]+\\) is not in the token"
test_expect "the others as on the healthy env" unchanged ghost healthy policy keys

# --- certificates: expired, expiring soon, another key's ---
server_cert "$w/expired.pem" 'activation_date = "2020-01-01 00:00:00"' 'expiration_date = "2021-01-01 00:00:00"'
expired=$(variant expired "s|^  cert: .*|  cert: $w/expired.pem|")
test_expect "an expired server certificate: not ready" rd 1 expired --config "$expired"
test_expect "certificates fails: expired, when" status expired certificates fail "server certificate .*expired.pem .* expired at 2021-01-01T00:00:00Z"
test_expect "the others as on the healthy env" unchanged expired healthy certificates
server_cert "$w/soon.pem" "expiration_days = 7"
soon=$(variant soon "s|^  cert: .*|  cert: $w/soon.pem|")
test_expect "a server certificate 7 days from expiry: ready (a warn)" rd 0 soon --config "$soon"
test_expect "certificates warns: under 14 days" status soon certificates warn "expires at .*, in [67] days: under 14 days"
other=$(variant other-key "s|^  cert: .*|  cert: $pki/clients/solana-adapter.pem|")
test_expect "a certificate that is not the TLS key's: not ready" rd 1 other-key --config "$other"
test_expect "certificates fails: the key does not belong to it" status other-key certificates fail "TLS key .*server.key does not belong to certificate .*solana-adapter.pem"

# --- the CRL: fresh, past nextUpdate, due within a day, signed by another CA ---
with_crl() { variant "$1" "s|^  client_ca: \\(.*\\)\$|  client_ca: \\1\\n  crl: $2|"; }
crl "$w/fresh.crl" client-ca "crl_next_update = 30" "crl_number = 1"
test_expect "a fresh CRL: crl passes" rd 0 crl-fresh --config "$(with_crl crl-fresh "$w/fresh.crl")"
test_expect "signed by the client CA, its next update named" status crl-fresh crl pass "signed by the client CA, next update"
crl "$w/stale.crl" client-ca 'crl_this_update_date = "2025-01-01 00:00:00"' 'crl_next_update_date = "2025-02-01 00:00:00"' "crl_number = 2"
test_expect "a CRL past its nextUpdate: not ready" rd 1 crl-stale --config "$(with_crl crl-stale "$w/stale.crl")"
test_expect "crl fails: past its nextUpdate, when" status crl-stale crl fail "past its nextUpdate 2025-02-01T00:00:00Z"
test_expect "the others as on the healthy env" unchanged crl-stale healthy crl
crl "$w/due.crl" client-ca "crl_next_update_date = \"$(date -u -d '+12 hours' '+%Y-%m-%d %H:%M:%S')\"" "crl_number = 3"
test_expect "a CRL due in 12 hours: ready (a warn)" rd 0 crl-due --config "$(with_crl crl-due "$w/due.crl")"
test_expect "its warning" status crl-due crl warn "under a day"
crl "$w/forged.crl" other-ca "crl_next_update = 30" "crl_number = 4"
test_expect "a CRL of another CA: not ready" rd 1 crl-forged --config "$(with_crl crl-forged "$w/forged.crl")"
test_expect "crl fails: not signed by the client CA" status crl-forged crl fail "forged.crl \\(number 1 in the file\\) is not signed by a CA of .*client-ca.pem"

# --- the audit log truncated: signerd's own refusal ---
mkdir -m 0700 "$w/trunc"
head -n -1 "$env/audit.log" >"$w/trunc/audit.log"
chmod 0600 "$w/trunc/audit.log"
trunc=$(variant trunc "s|^  path: $env/audit.log\$|  path: $w/trunc/audit.log|")
test_expect "a truncated audit log: not ready" rd 1 trunc --config "$trunc"
test_expect "audit_log fails: records missing up to the anchor" status trunc audit_log fail "ends at record [0-9]+, but the token's anchor .* says records up to [0-9]+ were written"
test_expect "the others as on the healthy env" unchanged trunc healthy audit_log
test_expect "the textfile: signer_readiness_audit_anchor_reached 0" bash -c "grep -qx 'signer_readiness_audit_anchor_reached 0' '$out/trunc.prom' && promtool check metrics <'$out/trunc.prom'"
# signerd on the same log (other ports) refuses to start, in the same words
p=$(tl_port)
sed -e "s|^  listen: 127.0.0.1:$tl_api_port\$|  listen: 127.0.0.1:$p|" -e "s|^  listen: 127.0.0.1:$tl_ops_port\$|  listen: 127.0.0.1:$((p + 1))|" "$trunc" >"$w/trunc-ports.yaml"
chmod 0600 "$w/trunc-ports.yaml"
same_words() {
	local detail rc=0
	timeout 20 "$signerd" --config "$w/trunc-ports.yaml" >"$out/trunc-signerd.txt" 2>&1 || rc=$?
	((rc != 0 && rc != 124)) || { echo "signerd exited $rc"; cat "$out/trunc-signerd.txt"; return 1; }
	detail=$(jq -r '.checks[] | select(.name == "audit_log") | .detail' "$out/trunc.json")
	grep -qF -- "$detail" "$out/trunc-signerd.txt" || { echo "not in signerd's refusal: $detail"; cat "$out/trunc-signerd.txt"; return 1; }
}
test_expect "signerd refuses to start on it with the explanation readiness gave" same_words

# --- a compromised version: a warning (the key has another active version) ---
ctl key rotate polygon-dev >/dev/null
ctl key activate polygon-dev --version 2 >/dev/null
ctl key compromise polygon-dev --version 1 --reason "readiness test" >/dev/null
test_expect "a compromised version: still ready" rd 0 compromised --config "$cfg"
test_expect "keys warns, naming it" status compromised keys warn "polygon-dev v1 is compromised"
test_expect "the others as on the healthy env" unchanged compromised healthy keys

# --- signerd stopped ---
tl_signerd_stop
test_expect "signerd stopped: not ready" rd 1 stopped --config "$cfg"
test_expect "signerd fails: not reachable" status stopped signerd fail "GET http://127.0.0.1:$tl_ops_port/readyz: not reachable"
test_expect "the others as before it stopped" unchanged stopped compromised signerd

# ====== a --ceremonies dev environment with a CRL: every check passes ======
env=$w/cer
tl_dev_env "$env" --ceremonies
cfg=$env/signerd.yaml
pki=$env/pki
kill_agents() { local h; for h in "$env"/custodians/*/gnupg "$env/custodians.gnupg" "$w/keyring"; do gpgconf --homedir "$h" --kill all 2>/dev/null || true; done; }
tl_on_exit kill_agents
crl "$pki/client-ca.crl" client-ca "crl_next_update = 30" "crl_number = 1"
sed -i "s|^  client_ca: \\(.*\\)\$|  client_ca: \\1\\n  crl: $pki/client-ca.crl|" "$cfg"
tl_signerd_start "$cfg" "$w/signerd-cer.log"

test_expect "ceremonies env: ready (exit 0)" rd 0 cer --config "$cfg"
test_expect "every check passes" jq -e --argjson all "$all_checks" '.ready and ([.checks[].name] == $all) and all(.checks[]; .status == "pass")' "$out/cer.json"
test_expect "backups: every version in both targets, a fresh state backup" status cer backups pass "2 key versions .* in at least 2 of 2 targets.*newest state backup"
test_expect "ceremonies: three custodians, the backup key's record" status cer ceremonies pass "3 custodians.*backup key [0-9a-f]{16}: 3 shares, 2 needed"
test_expect "the textfile: all 2, ready 1" bash -c "test \$(grep -c '^signer_readiness_check_status{.*} 2\$' '$out/cer.prom') = 10 && grep -qx 'signer_readiness_ready 1' '$out/cer.prom' && promtool check metrics <'$out/cer.prom'"

# --- a target's directory gone ---
mv "$env/backup/region-b" "$w/region-b.away"
test_expect "region-b's directory removed: not ready" rd 1 target-gone --config "$cfg"
test_expect "backup_targets fails, naming region-b" status target-gone backup_targets fail "target region-b: directory .*region-b: No such file or directory"
test_expect "backups fails: each version in 1 target, min_targets 2" status target-gone backups fail "v1 \\(active\\) is backed up in 1 target\\(s\\); backup.min_targets is 2 \\(region-b: "
test_expect "the others as on the healthy env" unchanged target-gone cer backups backup_targets
mv "$w/region-b.away" "$env/backup/region-b"

# --- the newest backup deleted from one target ---
newest=$(ls "$env"/backup/region-b/backups/*.json | tail -1)
mv "$newest" "$w/newest.away"
test_expect "region-b lacks the newest backup: not ready" rd 1 backup-gone --config "$cfg"
test_expect "backup_targets fails: region-b lacks the newest backup" status backup-gone backup_targets fail "target region-b lacks the newest backup [0-9a-f]{16}.*backup sync"
test_expect "the others as on the healthy env" unchanged backup-gone cer backup_targets backups
mv "$w/newest.away" "$newest"
test_expect "put back: ready again" rd 0 backup-back --config "$cfg"

# --- a custodian's key missing from the keyring ---
cp -a "$env/custodians.gnupg" "$w/keyring"
bob=$(sed -n 's/^    bob: "\([0-9A-F]*\)"$/\1/p' "$cfg")
gpg --homedir "$w/keyring" --batch --yes --delete-keys "$bob" >/dev/null 2>&1
keyring=$(variant keyring "s|^  gnupg_home: .*|  gnupg_home: $w/keyring|")
test_expect "bob's key missing: not ready" rd 1 keyring --config "$keyring"
test_expect "ceremonies fails, naming bob and his key" status keyring ceremonies fail "custodian bob: key $bob is not in the keyring $w/keyring"
test_expect "the others as on the healthy env" unchanged keyring cer ceremonies

# --- no PIN in any output ---
no_pin() {
	local f
	for f in "$w/env/pin" "$w/cer/pin" "$w/cer/so-pin" "$w/wrong-pin"; do
		! grep -rqF -- "$(cat "$f")" "$out" || { echo "a PIN is in: $(grep -rlF -- "$(cat "$f")" "$out")"; return 1; }
	done
	test "$(ls "$out" | wc -l)" -ge 40
}
test_expect "no output (JSON, stderr, textfiles, tables) holds a PIN" no_pin
test_done
