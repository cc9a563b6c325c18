#!/usr/bin/env bash
# The runbooks of docs/blockchain/adapter-operations.md run as written, so that the guide and the
# commands cannot drift apart. Every ```sh runbook block of the guide is taken in order (awk, as
# install.sh takes docs/operations.md's blocks) and run with bash -euo pipefail against a
# development environment (tools/dev-env --ceremonies, signerd started here on its own ports),
# put in the broken state its runbook is for:
#
#   adapter crash, RPC outage, transaction    healthy; a signature with the runbook's request_id
#   failures, congestion and high gas
#   policy denials or rate limiting           a rate limit of 1/min hit through the API, a forbidden
#                                             operation
#   key compromise or rotation                healthy (tools/pki's certificates and CRL); the
#                                             blocks compromise, revoke, rotate, activate
#   signer down                               signerd killed (kill -9); restarted between the
#                                             diagnosis and the check (systemctl restart)
#   token lost                                the token's storage taken away under signerd; back
#                                             (recovery by itself); away for good: signerd stopped,
#                                             a new empty token directory, the log moved aside,
#                                             then the restore ceremony
#   audit disk full                           signerd under a file-size limit: the audit log cannot
#                                             grow (503); restarted without it (room made)
#   audit anchor refused start                the audit log deleted after a state backup (signerd
#                                             refuses to start): the segments put back; then
#                                             deleted with a record newer than any backup: the
#                                             loss accepted
#   certificate expiry                        a server certificate of 5 days and a CRL of 2 (tools/pki);
#                                             renewed, reloaded (SIGHUP for systemctl reload)
#   backup target down                        region-b's directory replaced by a file (unreachable);
#                                             then a new empty directory
#   region failover                           signerd killed, its token, log and region-a lost; a
#                                             new token restored from region-b (drill first),
#                                             region-a replaced by region-c in the config
#   readiness check failing                   a custodian's public key deleted from the
#                                             ceremonies' keyring (readiness: ceremonies fails);
#                                             imported again from what the custodian exported
#
# The doc's host paths are moved into the environment: /etc/signerd/ -> DIR/, /var/log/signerd ->
# DIR, /mnt/signerd-backup -> DIR/backup, the ceremonies' and shares' directories and the textfile
# directory into this test's, 127.0.0.1:9810 -> the test's ops port, /root/signerd-pki -> a
# tools/pki directory of the test's, a custodian's ~/signerd/backup-share.asc -> DIR/custodians/
# NAME/backup-share.asc; install's -o/-g signerd are dropped (no user signerd here). A block that
# starts CUSTODIAN=alice is run once per approving custodian (alice, bob) with that custodian's
# GNUPGHOME (gpg in batch mode: their keys have no passphrase). What a console block says (a
# restart, a reload, making room) the test does itself, between the blocks.
# It fails on any block that exits nonzero, on a block that no scenario runs, on a `signerctl`
# command in the runbooks section outside a ```sh runbook block, on a ```sh runbook block outside
# that section, and on a runbook heading of the contract that is missing (or an alert's
# runbook_url that names no heading).
# KEEP=1 keeps the work directory.
signerctl=$1 root=$2 signerd=$3
TL_NAME=runbooks TL_ROOT=$root SIGNERCTL=$signerctl SIGNERD=$signerd
. "$(dirname "$0")/test-lib.sh"
w=$tl_work
doc=$root/docs/blockchain/adapter-operations.md
alerts=$root/docs/blockchain/prometheus-alerts.yaml
bindir=$(cd "$(dirname "$signerctl")" && pwd)
mkdir -p "$w/blocks" "$w/out" "$w/ran" "$w/cwd" "$w/bin" "$w/textfile" "$w/ceremonies" "$w/shares"
chmod 0700 "$w/shares"

kill_agents() {
	local h
	for h in "$w"/*/custodians/*/gnupg "$w"/*/custodians.gnupg; do
		[[ -d $h ]] && gpgconf --homedir "$h" --kill all 2>/dev/null
	done
	return 0
}
tl_on_exit kill_agents

# custodians' gpg: batch mode, their development keys have no passphrase
real_gpg=$(command -v gpg)
printf '#!/bin/sh\nexec %s --batch --no-tty --quiet --pinentry-mode loopback --passphrase "" "$@"\n' \
	"$real_gpg" >"$w/bin/gpg"
chmod 0755 "$w/bin/gpg"

# --- the guide's blocks ---
# blocks/N.sh, and index lines "N<TAB>in-runbooks<TAB>section"; problems (a signerctl command in
# another block of the runbooks section, or on a line of its own) in problems.txt; the inline
# `signerctl ...` mentions of the runbooks section in inline.txt
awk -v dir="$w/blocks" '
	function flush() { if (cur) close(file); cur = 0 }
	/^```/ || /^ +```/ {
		if (!infence) {
			infence = 1
			info = $0; sub(/^ *```/, "", info)
			indent = match($0, /[^ ]/) - 1
			if (info == "sh runbook") {
				n++; file = dir "/" n ".sh"; cur = 1; printf "" > file
				print n "\t" inrb "\t" section > (dir "/index")
			}
			next
		}
		infence = 0; flush(); next
	}
	infence && cur { line = $0; if (indent > 0) line = substr(line, 1 + indent); print line > file; next }
	# the name of the signerd pod'"'"'s signerctl container (kubectl -c signerctl, "the signerctl
	# sidecar") is not a command
	function ctl_command(l) { gsub(/-c signerctl|signerctl (sidecar|container)|'"'"'s signerctl/, "", l); return l ~ /signerctl/ }
	infence && inrb && ctl_command($0) { print "a signerctl command outside a ```sh runbook block (" section "): " $0 > (dir "/problems.txt"); next }
	infence { next }
	/^## / { inrb = ($0 ~ /^## ([0-9]+\. )?Runbooks *$/); section = substr($0, 4) }
	/^### / { section = substr($0, 5) }
	inrb && /^ *(\$ )?signerctl / && !/^ *signerctl (sidecar|container)/ { print "a signerctl line outside a ```sh runbook block (" section "): " $0 > (dir "/problems.txt") }
	inrb {
		s = $0
		while (match(s, /`signerctl [^`]*`/)) {
			print section "\t" substr(s, RSTART + 1, RLENGTH - 2) > (dir "/inline.txt")
			s = substr(s, RSTART + RLENGTH)
		}
	}
' "$doc"
touch "$w/blocks/index" "$w/blocks/problems.txt" "$w/blocks/inline.txt"
nblocks=$(wc -l <"$w/blocks/index")

# --- static checks ---
headings=("Runbook: adapter crash" "Runbook: RPC outage" "Runbook: transaction failures"
	"Runbook: congestion and high gas" "Runbook: key compromise or rotation" "Runbook: signer down"
	"Runbook: token lost" "Runbook: audit disk full" "Runbook: audit anchor refused start"
	"Runbook: certificate expiry" "Runbook: policy denials or rate limiting"
	"Runbook: backup target down" "Runbook: region failover" "Runbook: readiness check failing")
every_heading() {
	local h rc=0
	for h in "${headings[@]}"; do
		grep -qxF "### $h" "$doc" || { echo "missing heading: ### $h"; rc=1; }
	done
	return $rc
}
test_expect "every runbook heading of the contract is in the guide" every_heading
slug() { tr 'A-Z' 'a-z' <<<"$1" | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'; }
slugs_resolve() { # every alert's runbook_url names a heading of the guide
	local s rc=0 all
	all=$(sed -n 's/^#\{1,6\} //p' "$doc" | while IFS= read -r h; do slug "$h"; done)
	[[ -s $alerts ]] || { echo "no $alerts"; return 1; }
	for s in $(grep -o 'adapter-operations\.md#[a-z0-9_-]*' "$alerts" | sed 's/.*#//' | sort -u); do
		grep -qxF "$s" <<<"$all" || { echo "runbook_url #$s names no heading"; rc=1; }
	done
	return $rc
}
test_expect "every alert's runbook_url resolves to a heading of the guide" slugs_resolve
test_expect "the guide has runbook blocks" test "$nblocks" -gt 20
test_expect "every signerctl command of the runbooks section is in a \`\`\`sh runbook block" \
	bash -c "! grep . '$w/blocks/problems.txt'"
only_in_runbooks() { ! awk -F'\t' '$2 != 1 { print "block " $1 " (" $3 ") is outside the Runbooks section"; bad = 1 } END { exit !bad }' "$w/blocks/index"; }
test_expect "\`\`\`sh runbook blocks only in the Runbooks section" only_in_runbooks
inline_mentions_run() { # an inline `signerctl ...` of the runbooks section is a command some block runs
	local section text rc=0
	while IFS=$'\t' read -r section text; do
		grep -qF -- "$text" "$w"/blocks/[0-9]*.sh ||
			{ echo "'$text' ($section) is in no runbook block"; rc=1; }
	done <"$w/blocks/inline.txt"
	return $rc
}
test_expect "every inline signerctl command of the runbooks section is one a block runs" inline_mentions_run

# --- running blocks ---
# the preamble (Before any runbook) goes before every block
: >"$w/blocks/preamble.sh"
while IFS=$'\t' read -r id _ section; do
	if [[ $section == "Before any runbook" ]]; then
		cat "$w/blocks/$id.sh" >>"$w/blocks/preamble.sh"
		touch "$w/ran/$id"
	fi
done <"$w/blocks/index"
test_expect "the preamble sets SIGNER_CONFIG" grep -qx 'export SIGNER_CONFIG=/etc/signerd/signerd.yaml' "$w/blocks/preamble.sh"

env='' slug='' pki=''
subst() {
	sed -e "s|/etc/signerd/|$env/|g" -e "s|/var/log/signerd|$env|g" \
		-e "s|/var/lib/signerd/ceremonies|$w/ceremonies/$slug|g" \
		-e "s|/dev/shm/signerd-shares|$w/shares/$slug|g" \
		-e "s|/mnt/signerd-backup|$env/backup|g" \
		-e "s|/var/lib/prometheus/node-exporter|$w/textfile|g" \
		-e "s|127\.0\.0\.1:9810|127.0.0.1:$tl_ops_port|g" \
		-e "s|~/signerd/backup-share\.asc|$env/custodians/\$CUSTODIAN/backup-share.asc|g" \
		-e "s|/root/signerd-pki|${pki:-/nonexistent}|g" \
		-e "s#\(^\|[ (;]\)tools/pki #\1$root/tools/pki #g" \
		-e "s| -o signerd -g signerd||g" -e "s| -g signerd||g"
}
# run_block ID [PATTERN]: the block (once per custodian for a custodian's block), its output in
# out/ID.txt; PATTERN (an extended regular expression) must be in the output
run_block() {
	local id=$1 pattern=${2:-} out=$w/out/$1.txt text c
	local custodians=("")
	: >"$out"
	touch "$w/ran/$id"
	grep -q '^CUSTODIAN=alice' "$w/blocks/$id.sh" && custodians=(alice bob)
	for c in "${custodians[@]}"; do
		text="$(subst <"$w/blocks/preamble.sh")
$(subst <"$w/blocks/$id.sh" | sed "s/^CUSTODIAN=alice/CUSTODIAN=${c:-alice}/")"
		if ! (cd "$w/cwd" && env -u CREDENTIALS_DIRECTORY -u SIGNER_CONFIG PATH="$w/bin:$bindir:$PATH" \
			${c:+GNUPGHOME=$env/custodians/$c/gnupg} bash -euo pipefail -c "$text") >>"$out" 2>&1; then
			echo "block $id${c:+ (as $c)} failed:"
			cat "$out"
			return 1
		fi
	done
	cat "$out"
	if [[ -n $pattern ]] && ! grep -Eq -- "$pattern" "$out"; then
		echo "block $id: no '$pattern' in its output"
		return 1
	fi
}
block_title() { grep -m1 -v -E '^[A-Z_]+=' "$w/blocks/$1.sh" | cut -c1-60; }

rb_name='' rb_ids=() rb_cursor=0
rb_begin() { # rb_begin HEADING: the blocks of that runbook, in order
	rb_name=$1
	mapfile -t rb_ids < <(awk -F'\t' -v s="$1" '$3 == s { print $1 }' "$w/blocks/index")
	rb_cursor=0
}
rb_next() { # rb_next [PATTERN]: the runbook's next block
	local id=${rb_ids[rb_cursor]:-}
	rb_cursor=$((rb_cursor + 1))
	if [[ -z $id ]]; then
		test_expect "$rb_name: a block $rb_cursor (the test expects more blocks than the guide has)" false
		return 0
	fi
	test_expect "$rb_name, block $rb_cursor: $(block_title "$id")" run_block "$id" "$@"
}
rb_again() { # rb_again N [PATTERN]: the runbook's Nth block once more (another state)
	local n=$1 id=${rb_ids[$1 - 1]:-}
	shift
	test_expect "$rb_name, block $n again: $(block_title "$id")" run_block "$id" "$@"
}
rb_end() {
	test_expect "$rb_name: every block run (${#rb_ids[@]} in the guide, $rb_cursor run)" test "$rb_cursor" -eq "${#rb_ids[@]}"
}

# --- scenario helpers ---
setup() { # setup NAME: a new dev environment (ceremonies, backups), signerd not started
	[[ -n $tl_signerd_pid ]] && tl_signerd_stop
	slug=$1 env=$w/$1 pki=
	tl_dev_env "$env" --ceremonies
}
with_pki() { # with_pki SERVER_DAYS CRL_DAYS: tools/pki's CAs and certificates in DIR/tls, a CRL
	pki=$w/$slug-pki
	"$root/tools/pki" ca "$pki" >/dev/null
	"$root/tools/pki" server "$pki" --dns localhost --ip 127.0.0.1 --days "$1" >/dev/null
	"$root/tools/pki" client "$pki" polygon-adapter --uri spiffe://fanplatform/polygon-adapter >/dev/null
	"$root/tools/pki" crl "$pki" --days "$2" >/dev/null
	mkdir -m 0700 "$env/tls"
	install -m 0640 "$pki/server.pem" "$pki/client-ca.pem" "$pki/client-ca.crl" "$env/tls/"
	install -m 0400 "$pki/server.key" "$env/tls/"
	sed -i -e "s|^  cert: .*|  cert: $env/tls/server.pem|" -e "s|^  key: .*|  key: $env/tls/server.key|" \
		-e "s|^  client_ca: .*|  client_ca: $env/tls/client-ca.pem\n  crl: $env/tls/client-ca.crl|" "$env/signerd.yaml"
}
start() { # (a failure to start is counted, and the scenario goes on: its blocks then fail too)
	tl_signerd_start "$env/signerd.yaml" "$w/$slug.signerd.log" ||
		{ TL_FAILS=$((TL_FAILS + 1)); echo "FAIL: signerd did not start ($slug)" >&2; }
}
kill9() { [[ -n $tl_signerd_pid ]] && { kill -9 "$tl_signerd_pid"; wait "$tl_signerd_pid" 2>/dev/null || true; tl_signerd_pid=; }; return 0; }
ctl() { "$signerctl" --config "$env/signerd.yaml" "$@"; }
ready() { curl -sf "http://127.0.0.1:$tl_ops_port/readyz" >/dev/null; }
not_ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$tl_ops_port/readyz") == 503 ]]; }
sign_api() { # sign_api OPERATION [REQUEST_ID]: polygon-adapter signs a message through the API; prints the status
	local body="{\"operation\":\"$1\",${2:+\"request_id\":\"$2\",}\"evm_message\":\"0x48656c6c6f\"}" out
	out=$(tl_api "$env/pki" polygon-adapter POST /v1/keys/polygon-dev/sign "$body")
	echo "${out%% *}"
}
sign_local() { ctl sign --key polygon-dev --operation dev --evm-message 0x48656c6c6f >/dev/null; }
metric_days() { # metric_days CERT: days left of signer_certificate_expiry_timestamp_seconds{cert}
	tl_metric "signer_certificate_expiry_timestamp_seconds{cert=\"$1\"}" | awk '{ printf "%d\n", ($1 - systime()) / 86400 }'
}

# === healthy: adapter crash, RPC outage, transaction failures, congestion; then policy denials ===
setup healthy
start
req=$(sed -n 's/^REQ=\([^ ]*\).*/\1/p' "$w"/blocks/[0-9]*.sh | sed -n 1p)
test_expect "the transaction failures runbook names a request_id" test -n "$req"
test_expect "a signature through the API with that request_id" test "$(sign_api dev "$req")" = 200
rb_begin "Runbook: adapter crash"
rb_next 'HTTP 200.*|signer_sign_requests_total\{client="polygon-adapter"'
rb_end
test_expect "adapter crash: the diagnosis shows the adapter's signatures and readiness" \
	grep -q 'signer_sign_requests_total{client="polygon-adapter"' "$w/out/${rb_ids[0]:-0}.txt"
rb_begin "Runbook: RPC outage"
rb_next 'signer_sign_requests_total'
rb_end
rb_begin "Runbook: transaction failures"
rb_next '"decision":"signed"'
rb_next 'decision +allow'
rb_end
rb_begin "Runbook: congestion and high gas"
rb_next 'no fee caps in the policy'
rb_next
rb_end

# a rate limit of one a minute, hit; a forbidden operation
cat >>"$env/policy.yaml" <<'POLICY'
rate_limits:
  - client: polygon-adapter
    operation: dev
    per_minute: 1
    burst: 1
POLICY
kill -HUP "$tl_signerd_pid"
limited() { local s; s=$(sign_api dev); [[ $s == 429 ]]; }
test_expect "the rate limit is hit (429)" tl_until 10 limited
test_expect "a forbidden operation (403)" test "$(sign_api mint)" = 403
rb_begin "Runbook: policy denials or rate limiting"
rb_next 'reason="rate_limited"'
rb_next 'rate_limit'
rb_next
rb_end

# === key compromise, then rotation ===
setup compromise
with_pki 825 30
start
sign_local
rb_begin "Runbook: key compromise or rotation"
rb_next "reaches the token's anchor"
rb_next
rb_next
rb_next '"state":"compromised"'
rb_next 'revoked'
kill -HUP "$tl_signerd_pid" # systemctl reload signerd
test_expect "signerd reloaded the CRL and is ready" tl_until 10 ready
rb_next
rb_next
rb_next '"state":"pre-activation"'
rb_next
rb_next
rb_next '"version":2,"state":"active"'
rb_end
test_expect "the running signerd signs with version 2, and version 1 never again" bash -c "
	'$signerctl' --config '$env/signerd.yaml' sign --key polygon-dev --operation dev --evm-message 0x00 --json | jq -e '.key_version == 2' >/dev/null &&
	! '$signerctl' --config '$env/signerd.yaml' sign --key polygon-dev --key-version 1 --operation dev --evm-message 0x00 >/dev/null 2>&1"

# === signer down ===
setup down
start
kill9
rb_begin "Runbook: signer down"
rb_next 'no answer on the ops listener'
test_expect "signer down: readiness names signerd as failing" grep -Eq '^fail +signerd' "$w/out/${rb_ids[0]:-0}.txt"
rb_next
start # systemctl restart signerd
rb_next
rb_next 'signer_readiness_ready 1'
rb_end

# === token lost ===
setup token
start
sign_local
ctl backup state >/dev/null
mv "$env/tokens" "$w/token.away"
test_expect "token lost: readyz 503" tl_until 10 not_ready
rb_begin "Runbook: token lost"
rb_next 'signer_token_logged_in 0'
mv "$w/token.away" "$env/tokens" # the storage comes back
test_expect "the token back: signerd recovers by itself" tl_until 20 ready
rb_next
# lost for good: signerd stopped, the token and the log moved aside (the console block)
mv "$env/tokens" "$w/token.lost"
tl_signerd_stop
mkdir -m 0700 "$env/tokens" "$w/pre-restore"
mv "$env"/audit.log* "$w/pre-restore/"
rb_next 'initialised'
rb_next
rb_next
rb_next '"result"'
start # systemctl start signerd
rb_next
rb_end
test_expect "token lost: restored with the same addresses" bash -c "
	test \"\$('$signerctl' --config '$env/signerd.yaml' key show polygon-dev --json | jq -r .state)\" = active"

# === audit disk full ===
setup disk
blocks=$(( ($(stat -c %s "$env/audit.log") + 1023) / 1024 ))
printf '#!/bin/bash\nulimit -S -f %d\nexec %q "$@"\n' "$blocks" "$signerd" >"$w/signerd-limited"
chmod 0755 "$w/signerd-limited"
SIGNERD=$w/signerd-limited start
full() { local i; for i in 1 2 3 4 5 6 7 8; do [[ $(sign_api dev) == 503 ]] && return 0; done; return 1; }
test_expect "audit disk full: sign requests answer 503" full
rb_begin "Runbook: audit disk full"
rb_next 'HTTP 503'
test_expect "audit disk full: the diagnosis shows the failures counted" \
	grep -Eq '^signer_audit_write_failures_total [1-9]' "$w/out/${rb_ids[0]:-0}.txt"
rb_next
# room made, on the running signerd (its file-size limit lifted): it writes again by itself
prlimit --pid "$tl_signerd_pid" --fsize=unlimited:
test_expect "audit disk full: /readyz 200 again within 15 s, without a restart" tl_until 15 ready
rb_next 'signer_audit_write_failures_total [1-9]'
test_expect "audit disk full: the log says when it took writes again, and how many failed" \
	grep -Eq '"event":"audit_writable".*"write_failures":[1-9]' "$env/audit.log"
resumed() { [[ $(sign_api dev) == 200 ]]; }
test_expect "audit disk full: signing resumes on the same process" resumed
rb_end

# === audit anchor refused start ===
setup anchor
start
sign_local
tl_signerd_stop
ctl backup state >/dev/null
rm "$env/audit.log"
test_expect "signerd refuses to start on a log that does not reach its anchor" \
	tl_fails_saying "does not reach|records 1 to [0-9]+ are missing" "$signerd" --config "$env/signerd.yaml"
rb_begin "Runbook: audit anchor refused start"
rb_next 'are missing'
rb_next "restored .*audit.log.*reaches the token's anchor|reaches the token's anchor"
start
test_expect "anchor: signerd starts on the log put back" ready
# again, with a record newer than any backup: lost for good
tl_signerd_stop
sign_local
rm "$env/audit.log"
rb_again 2 'are missing'
rb_next "reaches the token's anchor"
start
rb_next
rb_end

# === certificate expiry ===
setup certs
with_pki 5 2
start
rb_begin "Runbook: certificate expiry"
rb_next 'cert="server"\} in [0-5]\.[0-9] days'
rb_next
rb_next
rb_next
kill -HUP "$tl_signerd_pid" # systemctl reload signerd
renewed() { (( $(metric_days server) > 800 && $(metric_days crl) > 28 )); }
test_expect "after the reload: the server certificate has 825 days, the CRL 30" tl_until 10 renewed
rb_next 'cert="server"\} in 8[0-9][0-9]\.[0-9] days'
rb_end

# === backup target down ===
setup backup
start
rm -rf "$env/backup/region-b"
echo "not a directory" >"$env/backup/region-b"
rb_begin "Runbook: backup target down"
rb_next 'region-b.*Not a directory'
rm "$env/backup/region-b" # the target back: a new, empty one
mkdir -m 0700 "$env/backup/region-b"
rb_next 'region-b: [0-9]+ backups, [0-9]+ good, the newest among them'
rb_end

# === region failover ===
setup region
start
sign_local
ctl backup state >/dev/null
kill9 # the region is gone: its signer, its token, its log, its target
mv "$env/tokens" "$w/region.tokens"
mkdir -m 0700 "$env/tokens" "$w/region.log"
mv "$env"/audit.log* "$w/region.log/"
mv "$env/backup/region-a" "$w/region-a.lost"
echo "region A is gone" >"$env/backup/region-a"
rb_begin "Runbook: region failover"
rb_next 'region-a'
rb_next
rb_next
rb_next '"result": "pass"'
rb_next '"result"'
start
rb_next
mkdir -m 0700 "$env/backup/region-c"
sed -i "s|{name: region-a, dir: [^}]*}|{name: region-c, dir: $env/backup/region-c}|" "$env/signerd.yaml"
rb_next 'region-c: [0-9]+ backups'
rb_end

# === readiness check failing ===
setup readiness
start
# what bob sends (gpg --export --armor, on his machine), then his key gone from the keyring
mkdir -m 0700 "$env/incoming"
GNUPGHOME=$env/custodians/bob/gnupg gpg --batch --export --armor bob@signerd-dev >"$env/incoming/bob.asc"
bob_fpr=$(gpg --homedir "$env/custodians.gnupg" --batch --list-keys --with-colons bob@signerd-dev | awk -F: '/^fpr/ { print $10; exit }')
gpg --homedir "$env/custodians.gnupg" --batch --yes --delete-keys "$bob_fpr" 2>/dev/null
test_expect "readiness check failing: readiness fails (exit 1) without bob's key" tl_exits 1 "$w/readiness-failing.txt" ctl readiness
rb_begin "Runbook: readiness check failing"
rb_next '^fail  ceremonies: .*bob'
rb_next "$bob_fpr"
test_expect "readiness check failing: every check passes or warns again" ctl readiness
rb_end

# --- every block run ---
unrun() {
	local id rc=0
	while IFS=$'\t' read -r id _ section; do
		[[ -e $w/ran/$id ]] || { echo "block $id ($section) was not run: $(block_title "$id")"; rc=1; }
	done <"$w/blocks/index"
	return $rc
}
test_expect "every \`\`\`sh runbook block of the guide was run ($nblocks)" unrun
[[ -n $tl_signerd_pid ]] && tl_signerd_stop
test_done
