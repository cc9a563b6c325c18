#!/usr/bin/env bash
# signerctl and tools/dev-env from the outside: a fresh development environment, its keys, the
# JSON of API.md, exit codes, and that no secret reaches the output.
set -euo pipefail
signerctl=$1
root=$2
work=$(mktemp -d /tmp/signer-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
passes=0

check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >/dev/null; then passes=$((passes + 1)); else echo "FAIL: $what" >&2; fails=$((fails + 1)); fi
}
# expect_exit CODE OUTFILE COMMAND...: runs COMMAND, stdout+stderr to OUTFILE, checks the code
expect_exit() {
  local want=$1 out=$2; shift 2
  local got=0
  "$@" >"$out" 2>&1 || got=$?
  [[ $got -eq $want ]] || { echo "exit $got, wanted $want: $*" >&2; cat "$out" >&2; return 1; }
}

env_dir=$work/env
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" > "$work/dev-env.out"
ctl() { "$signerctl" --config "$env_dir/signerd.yaml" "$@"; }

ctl key list --json > "$work/list.json"
check "two keys listed" test "$(jq '.keys | length' "$work/list.json")" -eq 2
check "solana-dev as API.md's KEY" jq -e >/dev/null '.keys[] | select(.name == "solana-dev")
  | .chain == "solana" and .version == 1 and .state == "active"
    and .public_key == .address and (.address | test("^[1-9A-HJ-NP-Za-km-z]{32,44}$"))
    and (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' \
  "$work/list.json"
check "polygon-dev as API.md's KEY" jq -e '.keys[] | select(.name == "polygon-dev")
  | .chain == "evm" and .version == 1 and .state == "active"
    and (.public_key | test("^0x04[0-9a-f]{128}$"))
    and (.address | test("^0x[0-9a-fA-F]{40}$"))
    and (.address | test("[A-F]")) and (.address | test("[a-f]"))' "$work/list.json"
check "only the KEY fields" jq -e '[.keys[] | keys] | all(. == ["address","chain","created_at","name","public_key","state","version"])' "$work/list.json"

ctl key show polygon-dev --json > "$work/show.json"
check "show matches list" test "$(jq -c . "$work/show.json")" = \
  "$(jq -c '.keys[] | select(.name == "polygon-dev")' "$work/list.json")"
ctl key list > "$work/list.txt"
check "table lists both" grep -q '^solana-dev .* solana .* active' "$work/list.txt"

# idempotent: a second run changes nothing
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" > /dev/null
ctl key list --json > "$work/list2.json"
check "dev-env is idempotent" cmp -s "$work/list.json" "$work/list2.json"
check "PIN file is 0400" test "$(stat -c %a "$env_dir/pin")" = 400
check "SO PIN file is 0400" test "$(stat -c %a "$env_dir/so-pin")" = 400
check "the token's files are inside DIR" test -n "$(find "$env_dir/tokens" -name '*.object' -print -quit)"
check "a bad DIR is a usage error" expect_exit 2 "$work/u00" "$root/tools/dev-env" "$work/a #b"
check "a port out of range is a usage error" expect_exit 2 "$work/u01" "$root/tools/dev-env" "$env_dir" --ops-port 70000

check "default listeners" grep -q 'listen: 127.0.0.1:8443' "$env_dir/signerd.yaml"
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" --api-port 18443 --ops-port 19810 > /dev/null
check "--api-port" grep -q 'listen: 127.0.0.1:18443' "$env_dir/signerd.yaml"
check "--ops-port" grep -q 'listen: 127.0.0.1:19810' "$env_dir/signerd.yaml"
check "bad port is a usage error" expect_exit 2 "$work/u0" "$root/tools/dev-env" "$env_dir" --api-port x
mv "$env_dir/pin" "$work/pin.saved"
check "a token without its PIN is refused" expect_exit 1 "$work/u02" "$root/tools/dev-env" "$env_dir"
check "and says why" grep -q "pin is missing" "$work/u02"
mv "$work/pin.saved" "$env_dir/pin"

# $SIGNER_CONFIG is the default config
check "SIGNER_CONFIG is used" env SIGNER_CONFIG="$env_dir/signerd.yaml" "$signerctl" key show solana-dev

# a new key, then the same again
check "key create evm" expect_exit 0 "$work/create.out" ctl key create --name extra-1 --chain evm --json
check "created key is active v1" jq -e '.name == "extra-1" and .version == 1 and .state == "active"' "$work/create.out"
check "duplicate create fails" expect_exit 1 "$work/dup.out" ctl key create --name extra-1 --chain evm
check "duplicate says why" grep -q "key 'extra-1' already exists" "$work/dup.out"
check "one line on stderr" test "$(wc -l < "$work/dup.out")" -eq 1

# usage errors exit 2
check "no command" expect_exit 2 "$work/u1" "$signerctl"
check "create without chain" expect_exit 2 "$work/u2" ctl key create --name x
check "unknown chain" expect_exit 2 "$work/u3" ctl key create --name x --chain bitcoin
check "bad key name" expect_exit 2 "$work/u4" ctl key create --name Bad_Name --chain evm
check "unknown command" expect_exit 2 "$work/u5" ctl key frobnicate
check "unknown option" expect_exit 2 "$work/u6" ctl key list --colour

# failures exit 1 with what and why
check "unknown key" expect_exit 1 "$work/f1" ctl key show no-such-key
check "unknown key says so" grep -q "no key named 'no-such-key'" "$work/f1"
check "missing config" expect_exit 1 "$work/f2" "$signerctl" --config "$work/none.yaml" key list
check "missing config named" grep -q "$work/none.yaml" "$work/f2"
printf 'token:\n  label: signerd-dev\n  pin_file: pin\n  colour: blue\n' > "$work/bad.yaml"
check "bad config" expect_exit 1 "$work/f3" "$signerctl" --config "$work/bad.yaml" key list
check "bad config FILE:LINE" grep -q "$work/bad.yaml:4: unknown field 'colour'" "$work/f3"
cp "$env_dir/signerd.yaml" "$work/open-pin.yaml"
cp "$env_dir/pin" "$work/pin-copy"; chmod 0644 "$work/pin-copy"
sed -i "s|pin_file: .*|pin_file: $work/pin-copy|" "$work/open-pin.yaml"
check "readable PIN file refused" expect_exit 1 "$work/f4" "$signerctl" --config "$work/open-pin.yaml" key list
check "readable PIN file says why" grep -q "can be read or written by others (mode 0644)" "$work/f4"

# sign: usage errors exit 2, refusals exit 1 with the API's error object on stdout
check "sign without a payload" expect_exit 2 "$work/s1" ctl sign --key polygon-dev --operation dev
check "sign with two payloads" expect_exit 2 "$work/s2" ctl sign --key polygon-dev --operation dev --evm-message 0x00 --evm-message 0x01
check "sign without an operation" expect_exit 2 "$work/s3" ctl sign --key polygon-dev --evm-message 0x00
ctl sign --key polygon-dev --operation dev --request-id r-1 --evm-message 0x48656c6c6f --json > "$work/s4.json"
check "personal_sign response" jq -e '.key == "polygon-dev" and .key_version == 1 and .operation == "dev"
  and .request_id == "r-1" and (.signature | test("^0x[0-9a-f]{130}$")) and (.digest | test("^0x[0-9a-f]{64}$"))' "$work/s4.json"
check "personal_sign from" test "$(jq -r .from "$work/s4.json")" = "$(jq -r '.keys[] | select(.name == "polygon-dev") | .address' "$work/list.json")"
check "refusal exits 1" expect_exit 1 "$work/s5" ctl sign --key polygon-dev --operation dev --evm-transaction 0x03c0 --json
check "refusal is the API's error object" jq -e '.error.code == "invalid_payload" and (.error.message | test("blob"))' <(grep -v '^signerctl:' "$work/s5")
check "refusal says why on stderr" grep -q "^signerctl: sign: .*(invalid_payload)$" "$work/s5"

# policy: lint, and a sign no grant allows
check "dev policy lints" expect_exit 0 "$work/p1" "$signerctl" policy lint "$env_dir/policy.yaml"
check "the documented platform policy lints" expect_exit 0 "$work/p0" "$signerctl" policy lint "$root/docs/examples/platform-policy.yaml"
check "with a config, keys are looked up in the token" expect_exit 0 "$work/p01" ctl policy lint "$env_dir/policy.yaml"
check "and said so" grep -q "keys checked against the token" "$work/p01"
check "a key the token lacks" expect_exit 1 "$work/p02" ctl policy lint "$root/docs/examples/platform-policy.yaml"
check "is named with its line" grep -q "platform-policy.yaml:[0-9]*: key 'solana-org' is not in token 'signerd-dev'" "$work/p02"
printf 'grants:\n  - client: ghost\n    key: k\n    operations: [dev]\n' > "$work/bad-policy.yaml"
check "bad policy fails lint" expect_exit 1 "$work/p2" "$signerctl" policy lint "$work/bad-policy.yaml"
check "lint says FILE:LINE" grep -q "^$work/bad-policy.yaml:2: client 'ghost' is not defined" "$work/p2"
check "no grant: refused" expect_exit 1 "$work/p3" ctl sign --key polygon-dev --operation mint --evm-message 0x00 --json
check "no grant: forbidden" grep -q '"code": "forbidden"' "$work/p3"

# policy explain: each check and its outcome, without signing (nothing is audited)
lines_before=$(wc -l < "$env_dir/audit.log")
check "explain: allowed exits 0" expect_exit 0 "$work/e1" ctl policy explain --client polygon-adapter --key polygon-dev --operation dev --evm-message 0x00 --json
check "explain: the checks" jq -e '.decision == "allow" and ([.checks[].check] | index("access") != null and index("content") != null)' "$work/e1"
check "explain: denied exits 1" expect_exit 1 "$work/e2" ctl policy explain --client polygon-adapter --key solana-dev --operation dev --evm-message 0x00 --json
check "explain: says forbidden" jq -e '.decision == "deny" and .checks[0].reason == "forbidden"' "$work/e2"
check "explain: a wrong chain is denied" expect_exit 1 "$work/e4" ctl policy explain --client local --key solana-dev --operation dev --evm-message 0x00 --json
check "explain: says wrong_chain and why" jq -e '.decision == "deny" and .checks[-1].check == "decode" and .checks[-1].reason == "wrong_chain" and (.checks[-1].detail | contains("solana-dev") and contains("chain evm"))' "$work/e4"
check "explain: an unparsable payload is denied" expect_exit 1 "$work/e5" ctl policy explain --client local --key polygon-dev --operation dev --evm-transaction 0x02 --json
check "explain: says invalid_payload with the decoder's reason" jq -e '.checks[-1].reason == "invalid_payload" and (.checks[-1].detail | contains("RLP"))' "$work/e5"
check "explain: nothing signed or audited" test "$(wc -l < "$env_dir/audit.log")" -eq "$lines_before"
check "explain: usage" expect_exit 2 "$work/e3" ctl policy explain --key polygon-dev --operation dev --evm-message 0x00

# the audit log: every sign left a record; a changed line breaks the chain there
ctl sign --key polygon-dev --operation dev --evm-message 0x01 > /dev/null
ctl sign --key polygon-dev --operation dev --evm-message 0x02 > /dev/null
check "audit verify" expect_exit 0 "$work/a1" "$signerctl" audit verify "$env_dir/audit.log"
check "audit records" test "$(wc -l < "$env_dir/audit.log")" -eq 5
check "the refusal was recorded" grep -q '"decision":"invalid","reason":"invalid_payload"' "$env_dir/audit.log"
check "the denial was recorded" grep -q '"decision":"denied","reason":"forbidden"' "$env_dir/audit.log"
cp "$env_dir/audit.log" "$work/tampered.log"
sed -i '2s/"operation":"dev"/"operation":"dew"/' "$work/tampered.log"
check "tampered log fails" expect_exit 1 "$work/a2" "$signerctl" audit verify "$work/tampered.log"
check "and names line 3" grep -q "tampered.log:3: the chain is broken" "$work/a2"
check "audit verify of nothing" expect_exit 1 "$work/a3" "$signerctl" audit verify "$work/none.log"

# help and version: on stdout, exit 0; a usage error names what is wrong, exit 2
# on_stdout CODE REGEX COMMAND...: exits CODE, stdout matches REGEX, nothing on stderr
on_stdout() {
  local want=$1 re=$2; shift 2
  local got=0
  "$@" >"$work/o" 2>"$work/e" || got=$?
  [[ $got -eq $want ]] && grep -Eq -- "$re" "$work/o" && [[ ! -s $work/e ]] && return 0
  echo "exit $got, wanted $want and /$re/ on stdout: $*" >&2; cat "$work/o" "$work/e" >&2; return 1
}
# on_stderr CODE LINE COMMAND...: exits CODE, stderr's first line is LINE, nothing on stdout
on_stderr() {
  local want=$1 line=$2; shift 2
  local got=0
  "$@" >"$work/o" 2>"$work/e" || got=$?
  [[ $got -eq $want && "$(head -n 1 "$work/e")" == "$line" && ! -s $work/o ]] && return 0
  echo "exit $got, wanted $want and '$line' on stderr: $*" >&2; cat "$work/o" "$work/e" >&2; return 1
}
version=$(sed -n 's/^project(signerd VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
full_help() { # every command and the global options, on stdout
  on_stdout 0 '^  --pin-file FILE' "$signerctl" --help &&
    grep -q '^  key create --name NAME' "$work/o" && grep -q '^  sign --key NAME' "$work/o" &&
    grep -q '^  policy explain --client' "$work/o" && grep -q '^  token init' "$work/o"
}
check "--help: every command and the global options on stdout" full_help
check "-h: the same usage" on_stdout 0 '^usage: signerctl \[--config FILE\]' "$signerctl" -h
check "--version: signerctl and CMake's project version" on_stdout 0 "^signerctl $version\$" "$signerctl" --version
check "help: the usage" on_stdout 0 '^  audit verify \[FILE|DIRECTORY\]' "$signerctl" help
check "help key create: that command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] key create --name NAME --chain solana\|evm' "$signerctl" help key create
check "help key: the group" on_stdout 0 '^  key show NAME' "$signerctl" help key
check "help sign: the command without a verb" on_stdout 0 'PAYLOAD: --solana-message' "$signerctl" help sign
check "key --help: the group" on_stdout 0 '^  key list \[--json\]' "$signerctl" key --help
check "key create --help: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] key create ' "$signerctl" key create --help
check "key create --help needs no config" on_stdout 0 'generate a key inside the token' "$signerctl" --config "$work/none.yaml" key create --help
check "policy explain -h: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] policy explain ' "$signerctl" policy explain -h
check "sign --help: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] sign --key NAME' "$signerctl" sign --help
check "help of an unknown command" on_stderr 2 "signerctl: help: unknown command 'frobnicate'" "$signerctl" help frobnicate
check "an unknown global option is named" on_stderr 2 "signerctl: unknown option '--frobnicate'" "$signerctl" --frobnicate key list
check "a global option without its argument is named" on_stderr 2 "signerctl: option '--config' needs an argument" "$signerctl" --config
check "a command's option without its argument is named" on_stderr 2 "signerctl: key create: option '--name' needs an argument" ctl key create --chain evm --name
check "an unknown command is named" on_stderr 2 "signerctl: unknown command 'key frobnicate'" ctl key frobnicate
check "a group without its verb" on_stderr 2 "signerctl: key: missing command" ctl key
# each command parses only its own options: another command's option is refused, by name
check "key list refuses sign's --key" on_stderr 2 "signerctl: key list: unknown option '--key'" ctl key list --key x
check "key show refuses key create's --name" on_stderr 2 "signerctl: key show: unknown option '--name'" ctl key show polygon-dev --name x
check "token init refuses --json" on_stderr 2 "signerctl: token init: unknown option '--json'" ctl token init --so-pin-file "$env_dir/so-pin" --json
check "policy lint refuses --client" on_stderr 2 "signerctl: policy lint: unknown option '--client'" ctl policy lint "$env_dir/policy.yaml" --client x
check "sign refuses policy explain's --client" on_stderr 2 "signerctl: sign: unknown option '--client'" ctl sign --key polygon-dev --operation dev --evm-message 0x00 --client polygon-adapter
check "policy explain refuses sign's --request-id" on_stderr 2 "signerctl: policy explain: unknown option '--request-id'" ctl policy explain --client local --key polygon-dev --operation dev --evm-message 0x00 --request-id r
check "an unknown option is named without its value" on_stderr 2 "signerctl: key list: unknown option '--colour'" ctl key list --colour=red
check "an unknown short option is named, also in a cluster" on_stderr 2 "signerctl: key list: unknown option '-x'" ctl key list --json -xy
check "a flag given a value" on_stderr 2 "signerctl: key list: option '--json' takes no argument" ctl key list --json=yes
check "an ambiguous abbreviation" on_stderr 2 "signerctl: sign: option '--evm' is ambiguous" ctl sign --key polygon-dev --operation dev --evm 0x00

# a failed write to stdout is a failure (exit 1, one line), not a silent success
check "key list > /dev/full exits 1" bash -c "'$signerctl' --config '$env_dir/signerd.yaml' key list > /dev/full 2> '$work/full1'; test \$? -eq 1"
check "and says so on one line" test "$(cat "$work/full1")" = "signerctl: cannot write to standard output: No space left on device"
check "key list --json > /dev/full exits 1" bash -c "'$signerctl' --config '$env_dir/signerd.yaml' key list --json > /dev/full 2>/dev/null; test \$? -eq 1"
check "--help > /dev/full exits 1" bash -c "'$signerctl' --help > /dev/full 2>/dev/null; test \$? -eq 1"

# --pin-file: the token's PIN for one command, instead of the config's source; owner-only
cred_cfg=$work/credential.yaml
sed "s|pin_file: .*|pin_credential: token-pin|" "$env_dir/signerd.yaml" > "$cred_cfg"
chmod 0600 "$cred_cfg"
pin_for_credential() { # without it, pin_credential needs $CREDENTIALS_DIRECTORY; with it, not
  expect_exit 1 "$work/k1" env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$cred_cfg" key list &&
    grep -q 'needs \$CREDENTIALS_DIRECTORY' "$work/k1" &&
    expect_exit 0 "$work/k2" env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$cred_cfg" --pin-file "$env_dir/pin" key list --json
}
check "--pin-file stands in for pin_credential" pin_for_credential
check "and lists the keys" jq -e '.keys | length == 3' "$work/k2"
check "--pin-file stands in for pin_file" expect_exit 0 "$work/k3" ctl --pin-file "$env_dir/pin" key show polygon-dev
check "--pin-file readable by others is refused" on_stderr 1 "signerctl: listing keys: PIN file $work/pin-copy can be read or written by others (mode 0644); make it owner-only (chmod 0400)" ctl --pin-file "$work/pin-copy" key list
check "--pin-file that is not there" expect_exit 1 "$work/k4" ctl --pin-file "$work/no-pin" key list
check "--pin-file without a FILE" on_stderr 2 "signerctl: option '--pin-file' needs a FILE" ctl --pin-file '' key list
# a new token and its first key with the PIN from --pin-file, the config naming a credential
t2=$work/t2
mkdir -p "$t2/tokens"
printf '%s\n' "directories.tokendir = $t2/tokens" "objectstore.backend = file" "log.level = ERROR" > "$t2/softhsm2.conf"
sed -e "s|pin_file: .*|pin_credential: token-pin|" -e "s|label: signerd-dev|label: signerd-t2|" \
  -e "s|SOFTHSM2_CONF: .*|SOFTHSM2_CONF: $t2/softhsm2.conf|" -e "s|$env_dir/audit.log|$t2/audit.log|" \
  "$env_dir/signerd.yaml" > "$t2/signerd.yaml"
chmod 0600 "$t2/signerd.yaml"
ctl2() { env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$t2/signerd.yaml" --pin-file "$env_dir/pin" "$@"; }
check "token init with --pin-file" expect_exit 0 "$work/k6" ctl2 token init --so-pin-file "$env_dir/so-pin"
check "key create with --pin-file" expect_exit 0 "$work/k7" ctl2 key create --name t2-key --chain solana --json
check "the new token holds it" expect_exit 0 "$work/k8" ctl2 key show t2-key

# no secret in any output
# (the PINs are searched for with grep -f, so that they never reach a command line)
check "PINs are long enough to search for" test "$(wc -c < "$env_dir/pin")" -ge 16 -a "$(wc -c < "$env_dir/so-pin")" -ge 16
no_pin_in() { ! grep -rqF -f "$env_dir/pin" -f "$env_dir/so-pin" "$@"; }
check "no PIN in any output" no_pin_in "$work" --exclude=pin-copy --exclude-dir=env
check "no PIN in signerd.yaml" no_pin_in "$env_dir/signerd.yaml"
check "the search would find a PIN" grep -qF -f "$env_dir/pin" "$work/pin-copy"

echo "signerctl_cli: $passes passed, $fails failed"
[[ $fails -eq 0 ]]
