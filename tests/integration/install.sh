#!/usr/bin/env bash
# docs/operations.md, "Install (systemd)", run as written in a scratch directory, so that the doc
# cannot rot: each step is taken from the doc's own code blocks (found by their first line) and run
# with the host's paths moved under $stage (/etc/signerd -> $stage/etc/signerd, /var/lib/signerd,
# /var/log/signerd, /usr/local and the listeners' ports likewise). Step by step:
#
#   tools/deps --no-clients && tools/build ...  run (into a scratch build directory)
#   cmake --install build                       run with DESTDIR=$stage; also --prefix DIR
#   systemd-sysusers, systemd-tmpfiles          run with --root=$stage
#   systemctl daemon-reload                     NOT RUN: systemd is not PID 1 here; instead
#                                               systemd-analyze --root=$stage finds the installed
#                                               unit under the prefix
#   the PIN files, softhsm2.conf, signerd.yaml  run / written from the doc's blocks
#   chown root:signerd, install -o/-g signerd   run with the staged user's numeric ids (the host has
#                                               no user signerd; as root only, else without owners)
#   install the example policy, policy lint     run
#   tools/pki ca/server/client, install tls/    run as written (pki=$work/ca instead of /root/...)
#   signerd_run ... (token init, key create,    the same commands, but NOT through systemd-run (no
#   policy lint with the token)                 systemd here): signerd_run is replaced by one that
#                                               sets CREDENTIALS_DIRECTORY to copies of the PIN
#                                               files, as LoadCredential= hands them over, and runs
#                                               as User=signerd (setpriv, when root)
#   the --pin-file way (runuser ...)            run as root, without runuser (no user signerd), on
#                                               a second token
#   systemctl enable --now signerd              NOT RUN: signerd is started with the installed
#                                               unit's ExecStart= and CREDENTIALS_DIRECTORY, as
#                                               its User= (setpriv, when root)
#   curl .../readyz                             run; and an adapter's certificate lists its keys
#   tools/pki revoke, install, systemctl reload run; the reload is the unit's ExecReload= (SIGHUP)
#   tools/pki crl                               run
#   IPAddressAllow drop-in                      NOT RUN (systemctl edit)
#
# KEEP=1 keeps the scratch directory (for a look after a failure).
root=$1
TL_NAME=install TL_ROOT=$root
. "$(dirname "$0")/test-lib.sh"
work=$tl_work
pid=
stop_signerd() { [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true; }
tl_on_exit stop_signerd
stop_here() {
  echo "install: stopped: $*" >&2
  TL_FAILS=$((TL_FAILS + 1))
  test_done || exit 1
}

doc=$root/docs/operations.md
# the Install section, and in it the fenced block whose first line starts with PREFIX
section=$(awk '/^## Install/ { on = 1; print; next } /^## / { on = 0 } on' "$doc")
doc_block() {
  awk -v p="$1" '
    /^```/ { if (inside) { if (hit) exit; inside = 0; next } inside = 1; first = 1; next }
    inside && first { first = 0; if (index($0, p) == 1) hit = 1 }
    inside && hit { print }' <<<"$section"
}
api_port=$(tl_port)
ops_port=$((api_port + 1))
stage=$work/root
suid=0 sgid=0 # the staged user signerd, once systemd-sysusers made it
# the doc's text with the host's paths under $stage, the ports this test picked, and the user
# signerd as its staged numeric ids
staged() {
  sed -e "s|/etc/signerd|$stage/etc/signerd|g" -e "s|/var/lib/signerd|$stage/var/lib/signerd|g" \
    -e "s|/var/log/signerd|$stage/var/log/signerd|g" -e "s|/usr/local/|$stage/usr/local/|g" \
    -e "s|0\.0\.0\.0:8443|127.0.0.1:$api_port|g" -e "s|127\.0\.0\.1:9810|127.0.0.1:$ops_port|g" \
    -e "s|root:signerd|0:$sgid|g" -e "s|-o signerd -g signerd|-o $suid -g $sgid|g" \
    -e "s|-g signerd|-g $sgid|g" -e "s|^signerctl |$stage/usr/local/bin/signerctl |" \
    -e "s|^tools/|$root/tools/|" -e "s|pki=/root/signerd-pki|pki=$work/ca|"
}
run_block() { # run_block PREFIX [SED-ARGS...]: the doc's block, staged (then SED-ARGS), in bash -e
  local text
  text=$(doc_block "$1" | staged | sed "${@:2}" -e '')
  [[ -n $text ]] || { echo "no block starting with '$1' in the Install section" >&2; return 1; }
  bash -euo pipefail -c "$text" >> "$work/steps.log" 2>&1 ||
    { echo "the block '$1' failed:" >&2; tail -n 20 "$work/steps.log" >&2; return 1; }
}
mode_is() { [[ -e $2 && $(stat -c %a "$2") == "$1" ]] || { echo "$2: $(stat -c '%a %u:%g' "$2" 2>&1), wanted $1" >&2; return 1; }; }

# --- build and install ---
build=$work/build
steps=$(doc_block "tools/deps --no-clients")
build_step() {
  grep -qx 'tools/deps --no-clients && tools/build -DSIGNER_TESTS=OFF' <<<"$steps" &&
    "$root/tools/deps" --no-clients >> "$work/steps.log" &&
    SIGNER_BUILD_DIR=$build "$root/tools/build" -DSIGNER_TESTS=OFF >> "$work/steps.log"
}
test_expect "tools/deps --no-clients && tools/build -DSIGNER_TESTS=OFF" build_step
install_step() {
  grep -q '^cmake --install build ' <<<"$steps" &&
    DESTDIR=$stage cmake --install "$build" >> "$work/steps.log"
}
test_expect "cmake --install build (staged: DESTDIR)" install_step
installed() { # the files of the doc's comment, with their modes
  local p=$1
  mode_is 755 "$p/bin/signerd" && mode_is 755 "$p/bin/signerctl" &&
    mode_is 644 "$p/lib/systemd/system/signerd.service" &&
    mode_is 644 "$p/lib/sysusers.d/signerd.conf" && mode_is 644 "$p/lib/tmpfiles.d/signerd.conf" &&
    mode_is 644 "$p/share/doc/signerd/operations.md" && mode_is 644 "$p/share/doc/signerd/README.md" &&
    mode_is 644 "$p/share/doc/signerd/examples/platform-policy.yaml" &&
    mode_is 644 "$p/share/doc/signerd/blockchain/evm.md" &&
    cmp -s "$p/lib/sysusers.d/signerd.conf" "$root/systemd/signerd.sysusers" &&
    cmp -s "$p/lib/tmpfiles.d/signerd.conf" "$root/systemd/signerd.tmpfiles"
}
test_expect "installed: programs, unit, sysusers, tmpfiles and docs, with their modes" installed "$stage/usr/local"
test_expect "the unit runs the installed signerd" grep -qx 'ExecStart=/usr/local/bin/signerd --config /etc/signerd/signerd.yaml' \
  "$stage/usr/local/lib/systemd/system/signerd.service"
test_expect "the unit's docs are the installed ones" grep -qx 'Documentation=file:///usr/local/share/doc/signerd/operations.md' \
  "$stage/usr/local/lib/systemd/system/signerd.service"
prefix_step() { cmake --install "$build" --prefix "$work/prefix" >> "$work/steps.log" && installed "$work/prefix"; }
test_expect "cmake --install build --prefix DIR: the same files under DIR" prefix_step
[[ -x $stage/usr/local/bin/signerctl ]] || stop_here "nothing installed"
signerctl=$stage/usr/local/bin/signerctl

# --- systemd's files: the user, the directories; systemd finds the unit under the prefix ---
analyze() {
  systemd-analyze security --offline=true --root="$stage" --no-pager signerd.service > "$work/analyze.out" 2>&1
  grep -q 'Overall exposure level for signerd.service' "$work/analyze.out"
}
test_expect "systemctl daemon-reload (not run): systemd finds the installed unit" analyze
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$stage/etc" # as on any host
  sysusers_step() {
    grep -q '^systemd-sysusers signerd.conf' <<<"$steps" &&
      systemd-sysusers --root="$stage" signerd.conf >> "$work/steps.log" 2>&1
  }
  test_expect "systemd-sysusers signerd.conf (--root)" sysusers_step
  suid=$(awk -F: '$1 == "signerd" { print $3 }' "$stage/etc/passwd" 2>/dev/null || true)
  sgid=$(awk -F: '$1 == "signerd" { print $3 }' "$stage/etc/group" 2>/dev/null || true)
  test_expect "the user and group signerd" test -n "$suid" -a -n "$sgid"
  tmpfiles_step() {
    grep -q '^systemd-tmpfiles --create signerd.conf' <<<"$steps" &&
      systemd-tmpfiles --root="$stage" --create signerd.conf >> "$work/steps.log" 2>&1
  }
  test_expect "systemd-tmpfiles --create signerd.conf (--root)" tmpfiles_step
  dirs() {
    [[ $(stat -c '%a %u:%g' "$stage/etc/signerd") == "750 0:$sgid" &&
       $(stat -c '%a %u:%g' "$stage/etc/signerd/tls") == "750 0:$sgid" &&
       $(stat -c '%a %u:%g' "$stage/var/lib/signerd/tokens") == "700 $suid:$sgid" &&
       $(stat -c '%a %u:%g' "$stage/var/log/signerd") == "700 $suid:$sgid" ]]
  }
  test_expect "the directories, their owners and modes" dirs
else
  echo "# not root: systemd-sysusers, systemd-tmpfiles and the owners are not checked"
  mkdir -p "$stage/etc/signerd/tls" "$stage/var/lib/signerd/tokens" "$stage/var/log/signerd"
  suid=$(id -u) sgid=$(id -g)
fi
suid=${suid:-0} sgid=${sgid:-0}

# --- /etc/signerd: PINs, softhsm2.conf, signerd.yaml, the policy ---
etc=$stage/etc/signerd
test_expect "the PIN files" run_block "( umask 0377;"
test_expect "PINs are root's, 0400, 32 hex digits" bash -c "
  for f in '$etc/token-pin' '$etc/so-pin'; do
    [[ \$(stat -c '%a %u' \"\$f\") == '400 0' ]] && grep -Eqx '[0-9a-f]{32}' \"\$f\" || exit 1
  done"
write_file() { # write_file NAME: the doc's block that starts with "# /etc/signerd/NAME"
  doc_block "# /etc/signerd/$1" | staged > "$etc/$1" && [[ -s $etc/$1 ]]
}
test_expect "softhsm2.conf from the doc" write_file softhsm2.conf
test_expect "signerd.yaml from the doc" write_file signerd.yaml
test_expect "chown and chmod of the two files" run_block "chown root:signerd"
test_expect "signerd.yaml and softhsm2.conf are 0640" bash -c "[[ \$(stat -c %a '$etc/signerd.yaml') == 640 && \$(stat -c %a '$etc/softhsm2.conf') == 640 ]]"
test_expect "the config names the PIN as a credential" grep -qx '  pin_credential: token-pin' "$etc/signerd.yaml"
test_expect "the policy: the installed example, linted" run_block "install -m 0640 -g signerd /usr/local/share/doc/signerd/examples/"
test_expect "policy.yaml is the example, 0640" bash -c "cmp -s '$etc/policy.yaml' '$root/docs/examples/platform-policy.yaml' && [[ \$(stat -c %a '$etc/policy.yaml') == 640 ]]"

# --- the PKI ---
test_expect "tools/pki ca, server, client; the files installed" run_block "pki=/root/signerd-pki"
ca=$work/ca
server_name=$(doc_block "pki=/root/signerd-pki" | sed -n 's/^tools\/pki server .*--dns \([^ ]*\).*/\1/p' | head -n 1)
test_expect "a client CA, a server certificate, a client certificate with a SAN URI" bash -c "
  certtool --verify --load-ca-certificate '$ca/server-ca.pem' --infile '$ca/server.pem' 2>&1 | grep -q 'Verified' &&
  certtool --verify --load-ca-certificate '$ca/client-ca.pem' --infile '$ca/clients/polygon-adapter.pem' 2>&1 | grep -q 'Verified' &&
  certtool -i --infile '$ca/clients/polygon-adapter.pem' | grep -q 'URI: spiffe://fanplatform/polygon-adapter' &&
  certtool -i --infile '$ca/server.pem' | grep -q 'DNSname: $server_name'"
test_expect "a CRL signed by the client CA" bash -c "certtool --crl-info --infile '$etc/tls/client-ca.crl' --load-ca-certificate '$ca/client-ca.pem' 2>&1 | grep -q 'Issuer: CN=signerd client CA'"
test_expect "the CA keys are owner-only" bash -c "[[ \$(stat -c %a '$ca/client-ca.key') == 400 && \$(stat -c %a '$ca/server-ca.key') == 400 && \$(stat -c %a '$ca') == 700 ]]"
test_expect "tls/: the certificates 0640, the key 0400 and signerd's" bash -c "
  [[ \$(stat -c %a '$etc/tls/server.pem') == 640 && \$(stat -c %a '$etc/tls/client-ca.pem') == 640 &&
     \$(stat -c %a '$etc/tls/client-ca.crl') == 640 && \$(stat -c '%a %u' '$etc/tls/server.key') == '400 $suid' ]]"

pki_refusals() { # a name is not issued twice; what a template cannot hold is refused
  local rc=0
  "$root/tools/pki" client "$ca" polygon-adapter --uri spiffe://fanplatform/polygon-adapter 2> "$work/pki.err" || rc=$?
  [[ $rc -eq 1 ]] && grep -q 'exists already (revoke it first' "$work/pki.err" || return 1
  rc=0
  "$root/tools/pki" client "$ca" other --uri 'spiffe://fanplatform/x"y' 2>/dev/null || rc=$?
  [[ $rc -ne 0 && ! -e $ca/clients/other.pem ]] || return 1
  rc=0
  "$root/tools/pki" client "$ca" other 2>/dev/null || rc=$?
  [[ $rc -eq 2 ]] && "$root/tools/pki" --help | grep -q 'tools/pki revoke DIR NAME'
}
test_expect "tools/pki: no name issued twice, no bad URI, usage errors exit 2" pki_refusals

# --- the token and its keys: systemd-run replaced by the credentials it would hand over ---
# as User=signerd and Group=signerd (when root: setpriv to the staged ids), with the credentials
# owned by that user, as systemd hands them over
run_as=()
if [[ $(id -u) -eq 0 && $suid != 0 ]]; then
  run_as=(setpriv --reuid="$suid" --regid="$sgid" --clear-groups)
  chmod 0711 "$work"
fi
creds=$work/credentials
install -d -m 0500 -o "$suid" "$creds"
install -m 0400 -o "$suid" "$etc/token-pin" "$creds/token-pin"
install -m 0400 -o "$suid" "$etc/so-pin" "$creds/so-pin"
token_steps=$(doc_block "signerd_run() {")
by_systemd_run() {
  grep -q 'systemd-run --quiet --pipe --wait --collect -p User=signerd -p Group=signerd' <<<"$token_steps" &&
    grep -q 'LoadCredential=token-pin:/etc/signerd/token-pin' <<<"$token_steps"
}
test_expect "the doc hands the PINs over with systemd-run and LoadCredential" by_systemd_run
signerd_run_lines() { grep '^signerd_run ' <<<"$token_steps" | staged; }
test_expect "token init, key create (twice), policy lint with the token" test "$(signerd_run_lines | wc -l)" -eq 4
run_token_steps() {
  local text
  text="signerd_run() { while [[ \$1 == -p ]]; do shift 2; done; CREDENTIALS_DIRECTORY='$creds' ${run_as[*]} \"\$@\"; }
$(signerd_run_lines)"
  bash -euo pipefail -c "$text" >> "$work/steps.log" 2>&1 || { tail -n 20 "$work/steps.log" >&2; return 1; }
}
test_expect "the token steps (with CREDENTIALS_DIRECTORY, as systemd-run gives it)" run_token_steps
test_expect "the keys are in the token" bash -c "CREDENTIALS_DIRECTORY='$creds' '$signerctl' --config '$etc/signerd.yaml' key list --json |
  jq -e '[.keys[].name] == [\"polygon-minter\", \"solana-org\"]'"
test_expect "the token's files are in /var/lib/signerd/tokens" test -n "$(find "$stage/var/lib/signerd/tokens" -name '*.object' -print -quit)"

# --- the same without systemd: signerctl --pin-file, on a second token ---
plain=$work/plain
mkdir -p "$plain/tokens"
sed "s|$stage/var/lib/signerd/tokens|$plain/tokens|" "$etc/softhsm2.conf" > "$plain/softhsm2.conf"
sed -e "s|$etc/softhsm2.conf|$plain/softhsm2.conf|" -e "s|label: signerd-prod|label: signerd-plain|" \
  "$etc/signerd.yaml" > "$plain/signerd.yaml"
chmod 0600 "$plain/signerd.yaml"
run_plain_steps() { # as root, without runuser; the PIN copies root's (the process's own user)
  local text
  text=$(doc_block "install -d -m 0700 -o signerd -g signerd /run/signerd-pins" |
    sed -e 's|runuser -u signerd -- ||' -e 's| -o signerd -g signerd||g' \
        -e "s|/etc/signerd/signerd.yaml|$plain/signerd.yaml|g" -e "s|/run/signerd-pins|$plain/pins|g" | staged)
  [[ -n $text ]] || { echo "no --pin-file block" >&2; return 1; }
  grep -q -- '--pin-file' <<<"$text" || return 1
  env -u CREDENTIALS_DIRECTORY bash -euo pipefail -c "$text" >> "$work/steps.log" 2>&1 ||
    { tail -n 20 "$work/steps.log" >&2; return 1; }
}
test_expect "the --pin-file steps: token init and key create without CREDENTIALS_DIRECTORY" run_plain_steps
test_expect "and the PIN copies are gone" test ! -e "$plain/pins"
test_expect "the second token holds its key" bash -c "env -u CREDENTIALS_DIRECTORY '$signerctl' --config '$plain/signerd.yaml' --pin-file '$etc/token-pin' key show polygon-minter"

# --- start: the installed unit's ExecStart= with the credential; readyz; an adapter's keys ---
exec_start=$(sed -n 's/^ExecStart=//p' "$stage/usr/local/lib/systemd/system/signerd.service" | staged)
start_steps=$(doc_block "systemctl enable --now signerd")
test_expect "the doc starts signerd with systemctl enable --now" test -n "$start_steps"
test_expect "the unit runs as the user signerd" grep -qx 'User=signerd' "$stage/usr/local/lib/systemd/system/signerd.service"
# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it (no quotes in it)
CREDENTIALS_DIRECTORY=$creds "${run_as[@]}" $exec_start >> "$work/signerd.log" 2>&1 &
pid=$!
readyz=$(grep '^curl ' <<<"$start_steps" | staged)
ready() {
  for _ in $(seq 1 100); do
    bash -c "$readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/signerd.log" >&2; return 1; }
    sleep 0.1
  done
  cat "$work/signerd.log" >&2
  return 1
}
test_expect "signerd starts on the installed files; the doc's readyz answers" ready
adapter() { # adapter NAME: GET /v1/keys with NAME's certificate; prints "STATUS BODY"
  local code
  code=$(curl -s -o "$work/body" -w '%{http_code}' --cacert "$ca/server-ca.pem" \
    --cert "$ca/clients/$1.pem" --key "$ca/clients/$1.key" \
    --resolve "$server_name:$api_port:127.0.0.1" "https://$server_name:$api_port/v1/keys") || code=000
  echo "$code $(cat "$work/body" 2>/dev/null)"
}
adapter_keys() { # adapter_keys NAME KEY: NAME's certificate lists exactly KEY
  local out
  out=$(adapter "$1")
  [[ ${out%% *} == 200 ]] && jq -e --arg k "$2" '[.keys[].name] == [$k]' <<<"${out#* }" >/dev/null ||
    { echo "$1: $out" >&2; return 1; }
}
test_expect "the polygon adapter's certificate: its key, by the SAN URI the policy names" adapter_keys polygon-adapter polygon-minter
test_expect "the solana adapter's: its key" adapter_keys solana-adapter solana-org

# --- revoke and reload (ExecReload= is kill -HUP $MAINPID) ---
cp "$ca/clients/polygon-adapter.pem" "$ca/clients/polygon-adapter.key" "$work/"
test_expect "the unit reloads with SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$stage/usr/local/lib/systemd/system/signerd.service"
test_expect "tools/pki revoke, install the CRL, reload" run_block "tools/pki revoke" -e "1i pki=$ca" \
  -e "s|^systemctl reload signerd\$|kill -HUP $pid|"
revoked() {
  local code
  for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca/server-ca.pem" \
      --cert "$work/polygon-adapter.pem" --key "$work/polygon-adapter.key" \
      --resolve "$server_name:$api_port:127.0.0.1" "https://$server_name:$api_port/v1/keys") || code=000
    [[ $code == 000 ]] && return 0
    sleep 0.1
  done
  return 1
}
test_expect "the revoked certificate is refused after the reload" revoked
test_expect "the other adapter still works" adapter_keys solana-adapter solana-org
test_expect "the CRL lists it, verified by the client CA" bash -c "
  certtool --verify --load-ca-certificate '$ca/client-ca.pem' --load-crl '$etc/tls/client-ca.crl' --infile '$work/polygon-adapter.pem' 2>&1 | grep -q 'revoked'"
crl_step() { # the doc's renewal: tools/pki crl "$pki"
  grep -q 'tools/pki crl "$pki"' <<<"$section" && "$root/tools/pki" crl "$ca" >> "$work/steps.log" &&
    certtool --crl-info --infile "$ca/client-ca.crl" > "$work/crl.txt" &&
    grep -q 'Revoked certificates (1)' "$work/crl.txt" && grep -q 'CRL Number (not critical): 03' "$work/crl.txt"
}
test_expect "tools/pki crl: a new CRL, the revocation kept" crl_step
test_expect "signerd keeps its audit log in /var/log/signerd" test -e "$stage/var/log/signerd/audit.log"
stop_rc=1
if [[ -n $pid ]]; then
  kill -TERM "$pid"
  stop_rc=0
  wait "$pid" || stop_rc=$?
  pid=
fi
# (the PINs are searched for with grep -f, so that they never reach a command line)
no_pin() { ! grep -rqF -f "$etc/token-pin" -f "$etc/so-pin" "$work/steps.log" "$work/signerd.log" "$work/analyze.out"; }
stops_clean() { [[ $stop_rc -eq 0 ]] && no_pin; }
test_expect "signerd stops on SIGTERM (exit 0), and no PIN is in any step's output" stops_clean

test_done
