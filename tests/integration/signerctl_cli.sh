#!/usr/bin/env bash
# signerctl and tools/dev-env from the outside: a fresh development environment, its keys, the
# JSON of API.md, exit codes, and that no secret reaches the output.
signerctl=$1
root=$2
TL_NAME=signerctl_cli TL_ROOT=$root SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
work=$tl_work

env_dir=$work/env
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" > "$work/dev-env.out"
ctl() { "$signerctl" --config "$env_dir/signerd.yaml" "$@"; }

ctl key list --json > "$work/list.json"
test_expect "two keys listed" test "$(jq '.keys | length' "$work/list.json")" -eq 2
test_expect "solana-dev as API.md's KEY" jq -e >/dev/null '.keys[] | select(.name == "solana-dev")
  | .chain == "solana" and .version == 1 and .state == "active"
    and .public_key == .address and (.address | test("^[1-9A-HJ-NP-Za-km-z]{32,44}$"))
    and (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' \
  "$work/list.json"
test_expect "polygon-dev as API.md's KEY" jq -e '.keys[] | select(.name == "polygon-dev")
  | .chain == "evm" and .version == 1 and .state == "active"
    and (.public_key | test("^0x04[0-9a-f]{128}$"))
    and (.address | test("^0x[0-9a-fA-F]{40}$"))
    and (.address | test("[A-F]")) and (.address | test("[a-f]"))' "$work/list.json"
test_expect "only the KEY fields (API.md 4: with its transitions)" jq -e '([.keys[] | keys] | all(. == ["address","chain","created_at","name","origin","public_key","state","transitions","version"])) and (.keys | all(.transitions[-1].state == .state))' "$work/list.json"

ctl key show polygon-dev --json > "$work/show.json"
test_expect "show matches list" test "$(jq -c . "$work/show.json")" = \
  "$(jq -c '.keys[] | select(.name == "polygon-dev")' "$work/list.json")"
ctl key list > "$work/list.txt"
test_expect "table lists both" grep -q '^solana-dev .* solana .* active' "$work/list.txt"

# idempotent: a second run changes nothing
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" > /dev/null
ctl key list --json > "$work/list2.json"
test_expect "dev-env is idempotent" cmp -s "$work/list.json" "$work/list2.json"
test_expect "PIN file is 0400" test "$(stat -c %a "$env_dir/pin")" = 400
test_expect "SO PIN file is 0400" test "$(stat -c %a "$env_dir/so-pin")" = 400
test_expect "the token's files are inside DIR" test -n "$(find "$env_dir/tokens" -name '*.object' -print -quit)"
test_expect "a bad DIR is a usage error" tl_exits 2 "$work/u00" "$root/tools/dev-env" "$work/a #b"
test_expect "a port out of range is a usage error" tl_exits 2 "$work/u01" "$root/tools/dev-env" "$env_dir" --ops-port 70000

test_expect "default listeners" grep -q 'listen: 127.0.0.1:8443' "$env_dir/signerd.yaml"
SIGNERCTL=$signerctl "$root/tools/dev-env" "$env_dir" --api-port 18443 --ops-port 19810 > /dev/null
test_expect "--api-port" grep -q 'listen: 127.0.0.1:18443' "$env_dir/signerd.yaml"
test_expect "--ops-port" grep -q 'listen: 127.0.0.1:19810' "$env_dir/signerd.yaml"
test_expect "bad port is a usage error" tl_exits 2 "$work/u0" "$root/tools/dev-env" "$env_dir" --api-port x
mv "$env_dir/pin" "$work/pin.saved"
test_expect "a token without its PIN is refused" tl_exits 1 "$work/u02" "$root/tools/dev-env" "$env_dir"
test_expect "and says why" grep -q "pin is missing" "$work/u02"
mv "$work/pin.saved" "$env_dir/pin"

# $SIGNER_CONFIG is the default config
test_expect "SIGNER_CONFIG is used" env SIGNER_CONFIG="$env_dir/signerd.yaml" "$signerctl" key show solana-dev

# a new key, then the same again
test_expect "key create evm" tl_exits 0 "$work/create.out" ctl key create --name extra-1 --chain evm --json
test_expect "created key is active v1" jq -e '.name == "extra-1" and .version == 1 and .state == "active"' "$work/create.out"
test_expect "duplicate create fails" tl_exits 1 "$work/dup.out" ctl key create --name extra-1 --chain evm
test_expect "duplicate says why" grep -q "key 'extra-1' already exists" "$work/dup.out"
test_expect "one line on stderr" test "$(wc -l < "$work/dup.out")" -eq 1

# usage errors exit 2
test_expect "no command" tl_exits 2 "$work/u1" "$signerctl"
test_expect "create without chain" tl_exits 2 "$work/u2" ctl key create --name x
test_expect "unknown chain" tl_exits 2 "$work/u3" ctl key create --name x --chain bitcoin
test_expect "bad key name" tl_exits 2 "$work/u4" ctl key create --name Bad_Name --chain evm
test_expect "unknown command" tl_exits 2 "$work/u5" ctl key frobnicate
test_expect "unknown option" tl_exits 2 "$work/u6" ctl key list --colour

# failures exit 1 with what and why
test_expect "unknown key" tl_exits 1 "$work/f1" ctl key show no-such-key
test_expect "unknown key says so" grep -q "no key named 'no-such-key'" "$work/f1"
test_expect "missing config" tl_exits 1 "$work/f2" "$signerctl" --config "$work/none.yaml" key list
test_expect "missing config named" grep -q "$work/none.yaml" "$work/f2"
printf 'token:\n  label: signerd-dev\n  pin_file: pin\n  colour: blue\n' > "$work/bad.yaml"
test_expect "bad config" tl_exits 1 "$work/f3" "$signerctl" --config "$work/bad.yaml" key list
test_expect "bad config FILE:LINE" grep -q "$work/bad.yaml:4: unknown field 'colour'" "$work/f3"
cp "$env_dir/signerd.yaml" "$work/open-pin.yaml"
cp "$env_dir/pin" "$work/pin-copy"; chmod 0644 "$work/pin-copy"
sed -i "s|pin_file: .*|pin_file: $work/pin-copy|" "$work/open-pin.yaml"
test_expect "readable PIN file refused" tl_exits 1 "$work/f4" "$signerctl" --config "$work/open-pin.yaml" key list
test_expect "readable PIN file says why" grep -q "can be read or written by others (mode 0644)" "$work/f4"

# sign: usage errors exit 2, refusals exit 1 with the API's error object on stdout
test_expect "sign without a payload" tl_exits 2 "$work/s1" ctl sign --key polygon-dev --operation dev
test_expect "sign with two payloads" tl_exits 2 "$work/s2" ctl sign --key polygon-dev --operation dev --evm-message 0x00 --evm-message 0x01
test_expect "sign without an operation" tl_exits 2 "$work/s3" ctl sign --key polygon-dev --evm-message 0x00
ctl sign --key polygon-dev --operation dev --request-id r-1 --evm-message 0x48656c6c6f --json > "$work/s4.json"
test_expect "personal_sign response" jq -e '.key == "polygon-dev" and .key_version == 1 and .operation == "dev"
  and .request_id == "r-1" and (.signature | test("^0x[0-9a-f]{130}$")) and (.digest | test("^0x[0-9a-f]{64}$"))' "$work/s4.json"
test_expect "personal_sign from" test "$(jq -r .from "$work/s4.json")" = "$(jq -r '.keys[] | select(.name == "polygon-dev") | .address' "$work/list.json")"
test_expect "refusal exits 1" tl_exits 1 "$work/s5" ctl sign --key polygon-dev --operation dev --evm-transaction 0x03c0 --json
test_expect "refusal is the API's error object" jq -e '.error.code == "invalid_payload" and (.error.message | test("blob"))' <(grep -v '^signerctl:' "$work/s5")
test_expect "refusal says why on stderr" grep -q "^signerctl: sign: .*(invalid_payload)$" "$work/s5"

# policy: lint, and a sign no grant allows
test_expect "dev policy lints" tl_exits 0 "$work/p1" "$signerctl" policy lint "$env_dir/policy.yaml"
test_expect "the documented platform policy lints" tl_exits 0 "$work/p0" "$signerctl" policy lint "$root/docs/examples/platform-policy.yaml"
test_expect "with a config, keys are looked up in the token" tl_exits 0 "$work/p01" ctl policy lint "$env_dir/policy.yaml"
test_expect "and said so" grep -q "keys checked against the token" "$work/p01"
test_expect "a key the token lacks" tl_exits 1 "$work/p02" ctl policy lint "$root/docs/examples/platform-policy.yaml"
test_expect "is named with its line" grep -q "platform-policy.yaml:[0-9]*: key 'solana-org' is not in token 'signerd-dev'" "$work/p02"
printf 'grants:\n  - client: ghost\n    key: k\n    operations: [dev]\n' > "$work/bad-policy.yaml"
test_expect "bad policy fails lint" tl_exits 1 "$work/p2" "$signerctl" policy lint "$work/bad-policy.yaml"
test_expect "lint says FILE:LINE" grep -q "^$work/bad-policy.yaml:2: client 'ghost' is not defined" "$work/p2"
test_expect "no grant: refused" tl_exits 1 "$work/p3" ctl sign --key polygon-dev --operation mint --evm-message 0x00 --json
test_expect "no grant: forbidden" grep -q '"code": "forbidden"' "$work/p3"

# policy explain: each check and its outcome, without signing (nothing is audited)
lines_before=$(wc -l < "$env_dir/audit.log")
test_expect "explain: allowed exits 0" tl_exits 0 "$work/e1" ctl policy explain --client polygon-adapter --key polygon-dev --operation dev --evm-message 0x00 --json
test_expect "explain: the checks" jq -e '.decision == "allow" and ([.checks[].check] | index("access") != null and index("content") != null)' "$work/e1"
test_expect "explain: denied exits 1" tl_exits 1 "$work/e2" ctl policy explain --client polygon-adapter --key solana-dev --operation dev --evm-message 0x00 --json
test_expect "explain: says forbidden" jq -e '.decision == "deny" and .checks[0].reason == "forbidden"' "$work/e2"
test_expect "explain: a wrong chain is denied" tl_exits 1 "$work/e4" ctl policy explain --client local --key solana-dev --operation dev --evm-message 0x00 --json
test_expect "explain: says wrong_chain and why" jq -e '.decision == "deny" and .checks[-1].check == "decode" and .checks[-1].reason == "wrong_chain" and (.checks[-1].detail | contains("solana-dev") and contains("chain evm"))' "$work/e4"
test_expect "explain: an unparsable payload is denied" tl_exits 1 "$work/e5" ctl policy explain --client local --key polygon-dev --operation dev --evm-transaction 0x02 --json
test_expect "explain: says invalid_payload with the decoder's reason" jq -e '.checks[-1].reason == "invalid_payload" and (.checks[-1].detail | contains("RLP"))' "$work/e5"
test_expect "explain: nothing signed or audited" test "$(wc -l < "$env_dir/audit.log")" -eq "$lines_before"
test_expect "explain: usage" tl_exits 2 "$work/e3" ctl policy explain --key polygon-dev --operation dev --evm-message 0x00

# the audit log: every sign left a record; a changed line breaks the chain there
ctl sign --key polygon-dev --operation dev --evm-message 0x01 > /dev/null
ctl sign --key polygon-dev --operation dev --evm-message 0x02 > /dev/null
test_expect "audit verify" tl_exits 0 "$work/a1" "$signerctl" audit verify "$env_dir/audit.log"
test_expect "audit records: the key create and the signer's five" test "$(wc -l < "$env_dir/audit.log")" -eq 6
test_expect "the key create is an audit record" bash -c "head -n 1 '$env_dir/audit.log' | jq -e '.event == \"key_lifecycle\" and .action == \"create\" and .key == \"extra-1\" and .state == \"active\"'"
test_expect "the refusal was recorded" grep -q '"decision":"invalid","reason":"invalid_payload"' "$env_dir/audit.log"
test_expect "the denial was recorded" grep -q '"decision":"denied","reason":"forbidden"' "$env_dir/audit.log"
cp "$env_dir/audit.log" "$work/tampered.log"
sed -i '2s/"operation":"dev"/"operation":"dew"/' "$work/tampered.log"
test_expect "tampered log fails" tl_exits 1 "$work/a2" "$signerctl" audit verify "$work/tampered.log"
test_expect "and names line 3" grep -q "tampered.log:3: the chain is broken" "$work/a2"
test_expect "audit verify of nothing" tl_exits 1 "$work/a3" "$signerctl" audit verify "$work/none.log"

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
test_expect "--help: every command and the global options on stdout" full_help
test_expect "-h: the same usage" on_stdout 0 '^usage: signerctl \[--config FILE\]' "$signerctl" -h
test_expect "--version: signerctl and CMake's project version" on_stdout 0 "^signerctl $version\$" "$signerctl" --version
test_expect "help: the usage" on_stdout 0 '^  audit verify \[FILE|DIRECTORY\]' "$signerctl" help
test_expect "help key create: that command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] key create --name NAME --chain solana\|evm' "$signerctl" help key create
test_expect "help key: the group" on_stdout 0 '^  key show NAME' "$signerctl" help key
test_expect "help sign: the command without a verb" on_stdout 0 'PAYLOAD: --solana-message' "$signerctl" help sign
test_expect "key --help: the group" on_stdout 0 '^  key list \[--json\]' "$signerctl" key --help
test_expect "key create --help: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] key create ' "$signerctl" key create --help
test_expect "key create --help needs no config" on_stdout 0 'generate a key inside the token' "$signerctl" --config "$work/none.yaml" key create --help
test_expect "policy explain -h: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] policy explain ' "$signerctl" policy explain -h
test_expect "sign --help: the command" on_stdout 0 '^usage: signerctl \[GLOBAL OPTIONS\] sign --key NAME' "$signerctl" sign --help
test_expect "help of an unknown command" on_stderr 2 "signerctl: help: unknown command 'frobnicate'" "$signerctl" help frobnicate
test_expect "an unknown global option is named" on_stderr 2 "signerctl: unknown option '--frobnicate'" "$signerctl" --frobnicate key list
test_expect "a global option without its argument is named" on_stderr 2 "signerctl: option '--config' needs an argument" "$signerctl" --config
test_expect "a command's option without its argument is named" on_stderr 2 "signerctl: key create: option '--name' needs an argument" ctl key create --chain evm --name
test_expect "an unknown command is named" on_stderr 2 "signerctl: unknown command 'key frobnicate'" ctl key frobnicate
test_expect "a group without its verb" on_stderr 2 "signerctl: key: missing command" ctl key
# each command parses only its own options: another command's option is refused, by name
test_expect "key list refuses sign's --key" on_stderr 2 "signerctl: key list: unknown option '--key'" ctl key list --key x
test_expect "key show refuses key create's --name" on_stderr 2 "signerctl: key show: unknown option '--name'" ctl key show polygon-dev --name x
test_expect "token init refuses --json" on_stderr 2 "signerctl: token init: unknown option '--json'" ctl token init --so-pin-file "$env_dir/so-pin" --json
test_expect "policy lint refuses --client" on_stderr 2 "signerctl: policy lint: unknown option '--client'" ctl policy lint "$env_dir/policy.yaml" --client x
test_expect "sign refuses policy explain's --client" on_stderr 2 "signerctl: sign: unknown option '--client'" ctl sign --key polygon-dev --operation dev --evm-message 0x00 --client polygon-adapter
test_expect "policy explain refuses sign's --request-id" on_stderr 2 "signerctl: policy explain: unknown option '--request-id'" ctl policy explain --client local --key polygon-dev --operation dev --evm-message 0x00 --request-id r
test_expect "an unknown option is named without its value" on_stderr 2 "signerctl: key list: unknown option '--colour'" ctl key list --colour=red
test_expect "an unknown short option is named, also in a cluster" on_stderr 2 "signerctl: key list: unknown option '-x'" ctl key list --json -xy
test_expect "a flag given a value" on_stderr 2 "signerctl: key list: option '--json' takes no argument" ctl key list --json=yes
test_expect "an ambiguous abbreviation" on_stderr 2 "signerctl: sign: option '--evm' is ambiguous" ctl sign --key polygon-dev --operation dev --evm 0x00

# a failed write to stdout is a failure (exit 1, one line), not a silent success
test_expect "key list > /dev/full exits 1" bash -c "'$signerctl' --config '$env_dir/signerd.yaml' key list > /dev/full 2> '$work/full1'; test \$? -eq 1"
test_expect "and says so on one line" test "$(cat "$work/full1")" = "signerctl: cannot write to standard output: No space left on device"
test_expect "key list --json > /dev/full exits 1" bash -c "'$signerctl' --config '$env_dir/signerd.yaml' key list --json > /dev/full 2>/dev/null; test \$? -eq 1"
test_expect "--help > /dev/full exits 1" bash -c "'$signerctl' --help > /dev/full 2>/dev/null; test \$? -eq 1"

# --pin-file: the token's PIN for one command, instead of the config's source; owner-only
cred_cfg=$work/credential.yaml
sed "s|pin_file: .*|pin_credential: token-pin|" "$env_dir/signerd.yaml" > "$cred_cfg"
chmod 0600 "$cred_cfg"
pin_for_credential() { # without it, pin_credential needs $CREDENTIALS_DIRECTORY; with it, not
  tl_exits 1 "$work/k1" env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$cred_cfg" key list &&
    grep -q 'needs \$CREDENTIALS_DIRECTORY' "$work/k1" &&
    tl_exits 0 "$work/k2" env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$cred_cfg" --pin-file "$env_dir/pin" key list --json
}
test_expect "--pin-file stands in for pin_credential" pin_for_credential
test_expect "and lists the keys" jq -e '.keys | length == 3' "$work/k2"
test_expect "--pin-file stands in for pin_file" tl_exits 0 "$work/k3" ctl --pin-file "$env_dir/pin" key show polygon-dev
test_expect "--pin-file readable by others is refused" on_stderr 1 "signerctl: listing keys: PIN file $work/pin-copy can be read or written by others (mode 0644); make it owner-only (chmod 0400)" ctl --pin-file "$work/pin-copy" key list
test_expect "--pin-file that is not there" tl_exits 1 "$work/k4" ctl --pin-file "$work/no-pin" key list
test_expect "--pin-file without a FILE" on_stderr 2 "signerctl: option '--pin-file' needs a FILE" ctl --pin-file '' key list
# a new token and its first key with the PIN from --pin-file, the config naming a credential
t2=$work/t2
mkdir -p "$t2/tokens"
printf '%s\n' "directories.tokendir = $t2/tokens" "objectstore.backend = file" "log.level = ERROR" > "$t2/softhsm2.conf"
sed -e "s|pin_file: .*|pin_credential: token-pin|" -e "s|label: signerd-dev|label: signerd-t2|" \
  -e "s|SOFTHSM2_CONF: .*|SOFTHSM2_CONF: $t2/softhsm2.conf|" -e "s|$env_dir/audit.log|$t2/audit.log|" \
  "$env_dir/signerd.yaml" > "$t2/signerd.yaml"
chmod 0600 "$t2/signerd.yaml"
ctl2() { env -u CREDENTIALS_DIRECTORY "$signerctl" --config "$t2/signerd.yaml" --pin-file "$env_dir/pin" "$@"; }
test_expect "token init with --pin-file" tl_exits 0 "$work/k6" ctl2 token init --so-pin-file "$env_dir/so-pin"
test_expect "key create with --pin-file" tl_exits 0 "$work/k7" ctl2 key create --name t2-key --chain solana --json
test_expect "the new token holds it" tl_exits 0 "$work/k8" ctl2 key show t2-key

# no secret in any output
# (the PINs are searched for with grep -f, so that they never reach a command line)
test_expect "PINs are long enough to search for" test "$(wc -c < "$env_dir/pin")" -ge 16 -a "$(wc -c < "$env_dir/so-pin")" -ge 16
no_pin_in() { ! grep -rqF -f "$env_dir/pin" -f "$env_dir/so-pin" "$@"; }
test_expect "no PIN in any output" no_pin_in "$work" --exclude=pin-copy --exclude-dir=env
test_expect "no PIN in signerd.yaml" no_pin_in "$env_dir/signerd.yaml"
test_expect "the search would find a PIN" grep -qF -f "$env_dir/pin" "$work/pin-copy"

test_done
