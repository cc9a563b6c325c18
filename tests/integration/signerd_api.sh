#!/usr/bin/env bash
# signerd's API from the outside, over real mTLS: refused certificates (none, another CA, expired,
# revoked, TLS 1.0/1.1), identities without grants, every malformed request and its code, the
# audit chain, SIGHUP with a broken policy, content rules, rate and spend limits, a reload racing
# live traffic, and the ops listener (promtool checks /metrics). signerd as a process (audit
# failures, signals, start-up): signerd_process.sh.
signerd=$1
signerctl=$2
root=$3
notify_listener=$4
TL_NAME=signerd_api TL_ROOT=$root SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
work=$tl_work
pid=
. "$(dirname "$0")/signerd-lib.sh"

# the command line: help and version on stdout (exit 0), an unknown option named (exit 2)
test_expect "signerd -h: usage on stdout" bash -c "'$signerd' -h 2>&1 >/dev/null | grep -q . && exit 1; '$signerd' -h | grep -q '^usage: signerd \[--config FILE\]'"
test_expect "signerd --help: usage on stdout" bash -c "'$signerd' --help | grep -q '^usage: signerd'"
test_expect "signerd --version: CMake's project version" test "$("$signerd" --version)" = \
  "signerd $(sed -n 's/^project(signerd VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
test_expect "signerd: an unknown option is named, exit 2" bash -c "'$signerd' --frobnicate 2>&1 >/dev/null | grep -q \"unrecognized option '--frobnicate'\"; '$signerd' --frobnicate 2>/dev/null; test \$? -eq 2"

# client certificates: the adapters, an identity no client entry names, the intruder (another
# CA), an expired one and one to revoke (certtool sets the dates)
make_client() { # make_client NAME CA_BASE [TEMPLATE LINES...]
  local name=$1 ca=$2; shift 2
  ( umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/c/$name.key" 2>/dev/null )
  printf '%s\n' "cn = $name" "uri = spiffe://signerd-dev/$name" tls_www_client signing_key "$@" > "$work/c/$name.tmpl"
  certtool --generate-certificate --load-privkey "$work/c/$name.key" \
    --load-ca-certificate "$pki/$ca.pem" --load-ca-privkey "$pki/$ca.key" \
    --template "$work/c/$name.tmpl" --outfile "$work/c/$name.pem" >/dev/null 2>&1
}
make_client_cn() { # make_client_cn NAME CN [TEMPLATE LINES...]: no SAN unless given
  local name=$1 cn=$2; shift 2
  ( umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/c/$name.key" 2>/dev/null )
  printf '%s\n' "cn = $cn" tls_www_client signing_key "expiration_days = 30" "$@" > "$work/c/$name.tmpl"
  certtool --generate-certificate --load-privkey "$work/c/$name.key" \
    --load-ca-certificate "$pki/client-ca.pem" --load-ca-privkey "$pki/client-ca.key" \
    --template "$work/c/$name.tmpl" --outfile "$work/c/$name.pem" >/dev/null 2>&1
}
make_client_cn cn-only cn-only "serial = 104"
make_client_cn cn-with-san cn-only "serial = 105" "uri = spiffe://signerd-dev/someone-else"
make_client stranger client-ca "expiration_days = 30" "serial = 101"
make_client expired client-ca 'activation_date = "2020-01-01 00:00:00"' 'expiration_date = "2021-01-01 00:00:00"' "serial = 102"
make_client revoked client-ca "expiration_days = 30" "serial = 103"

# a client known by its CN only
cat >> "$env_dir/policy.yaml" <<'POLICY'
  - client: cn-client
    key: polygon-dev
    operations: [dev]
POLICY
sed -i 's|^clients:|clients:\n  cn-client:\n    cn: cn-only|' "$env_dir/policy.yaml"
"$signerctl" policy lint "$env_dir/policy.yaml" >/dev/null

start

# --- the signing path, both chains ---
out=$(api polygon-adapter POST /v1/keys/polygon-dev/sign "$msg")
test_expect "evm_message signs" test "${out%% *}" = 200
test_expect "evm response fields" jq -e '.key == "polygon-dev" and .key_version == 1 and (.signature | length) == 132
  and .digest == "0xaa744ba2ca576ec62ca0045eca00ad3917fdf7ffa34fbbae50828a5a69c1580e" and (.audit_id | length) == 32' <<<"${out#* }"
solana_payer=$(jq -r '.keys[] | select(.name == "solana-dev") | .public_key' < <("$signerctl" --config "$cfg" key list --json))
# a legacy transfer whose fee payer is solana-dev: the web3.js vector with its first key swapped
vec=$root/../shared/testvectors/solana/web3js-legacy-system-transfer.json
[[ -f $vec ]] || vec=${SIGNER_TESTVECTORS_DIR}/solana/web3js-legacy-system-transfer.json
payer_hex=$(printf '%s' "$solana_payer" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const A="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";let n=0n;for(const c of s)n=n*58n+BigInt(A.indexOf(c));console.log(n.toString(16).padStart(64,"0"))})')
msg_hex=$(jq -r .message_hex "$vec")
sol_b64=$(printf '%s' "${msg_hex:0:8}$payer_hex${msg_hex:72}" | xxd -r -p | base64 -w0)
out=$(api solana-adapter POST /v1/keys/solana-dev/sign "{\"operation\":\"dev\",\"solana_message\":\"$sol_b64\"}")
test_expect "solana_message signs" test "${out%% *}" = 200
test_expect "solana response fields" jq -e --arg p "$solana_payer" '.signer == $p and (.signature | length) >= 86' <<<"${out#* }"
test_expect "GET /v1/keys lists the client's keys" jq -e '.keys | length == 1 and .[0].name == "polygon-dev"' <<<"$(api polygon-adapter GET /v1/keys | cut -d' ' -f2-)"
test_expect "GET /v1/keys/polygon-dev" expect 200 "" polygon-adapter GET /v1/keys/polygon-dev
test_expect "another client's key is not found" expect 404 key_not_found polygon-adapter GET /v1/keys/solana-dev

# --- refused certificates: no HTTP answer at all ---
test_expect "no client certificate" test "$(api "" GET /v1/keys | cut -d' ' -f1)" = 000
test_expect "another CA" test "$(api intruder GET /v1/keys | cut -d' ' -f1)" = 000
test_expect "expired" test "$(api expired GET /v1/keys | cut -d' ' -f1)" = 000
test_expect "TLS 1.1 refused" bash -c "! gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' --x509cafile '$pki/ca.pem' \
  --x509certfile '$work/c/polygon-adapter.pem' --x509keyfile '$work/c/polygon-adapter.key' -p $api_port 127.0.0.1 </dev/null"
test_expect "TLS 1.0 refused" bash -c "! gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.0' --x509cafile '$pki/ca.pem' \
  --x509certfile '$work/c/polygon-adapter.pem' --x509keyfile '$work/c/polygon-adapter.key' -p $api_port 127.0.0.1 </dev/null"
test_expect "TLS 1.2 accepted" bash -c "gnutls-cli --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' --x509cafile '$pki/ca.pem' \
  --x509certfile '$work/c/polygon-adapter.pem' --x509keyfile '$work/c/polygon-adapter.key' -p $api_port 127.0.0.1 </dev/null"

# --- the identity is the first SAN URI, else the CN ---
test_expect "CN identity without a SAN URI: signs" expect 200 "" cn-only POST /v1/keys/polygon-dev/sign "$msg"
test_expect "the same CN with a SAN URI is that URI: 403" expect 403 forbidden cn-with-san POST /v1/keys/polygon-dev/sign "$msg"

# --- a peer without a certificate cannot even hold a connection open ---
( { printf 'GET /v1/keys HTTP/1.1\r\nHo'; sleep 10; } |
  openssl s_client -quiet -connect "127.0.0.1:$api_port" -CAfile "$pki/ca.pem" >/dev/null 2>&1 ) &
nocert=$!
sleep 1
test_expect "no certificate: connection closed at the handshake" test "$(ss -Htn state established "( sport = :$api_port )" | wc -l)" -eq 0
kill "$nocert" 2>/dev/null || true

# --- identities and grants: 403, audited ---
test_expect "unknown identity: 403" expect 403 forbidden stranger POST /v1/keys/polygon-dev/sign "$msg"
test_expect "no grant for the key: 403" expect 403 forbidden solana-adapter POST /v1/keys/polygon-dev/sign "$msg"
test_expect "no grant for the operation: 403" expect 403 forbidden polygon-adapter POST /v1/keys/polygon-dev/sign '{"operation":"mint","evm_message":"0x00"}'
test_expect "the stranger is in the audit log" grep -q '"decision":"denied".*"peer":"spiffe://signerd-dev/stranger"\|"peer":"spiffe://signerd-dev/stranger".*"decision":"denied"' "$env_dir/audit.log"

# --- malformed requests and their codes ---
test_expect "malformed JSON" expect 400 invalid_request polygon-adapter POST $p '{"operation":'
test_expect "duplicate keys" expect 400 invalid_request polygon-adapter POST $p '{"operation":"dev","operation":"dev","evm_message":"0x00"}'
test_expect "unknown field" expect 400 invalid_request polygon-adapter POST $p '{"operation":"dev","evm_message":"0x00","colour":1}'
test_expect "two payloads" expect 400 invalid_request polygon-adapter POST $p '{"operation":"dev","evm_message":"0x00","evm_transaction":"0x00"}'
test_expect "no payload" expect 400 invalid_request polygon-adapter POST $p '{"operation":"dev"}'
test_expect "not an object" expect 400 invalid_request polygon-adapter POST $p '[1]'
test_expect "bad hex" expect 400 invalid_request polygon-adapter POST $p '{"operation":"dev","evm_message":"0xzz"}'
test_expect "unparsable transaction" expect 400 invalid_payload polygon-adapter POST $p '{"operation":"dev","evm_transaction":"0x03c0"}'
test_expect "wrong content type" expect 415 unsupported_media_type polygon-adapter POST $p "$msg" text/plain
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
test_expect "oversized body" expect 413 payload_too_large polygon-adapter POST $p "{\"operation\":\"dev\",\"evm_message\":\"0x$big\"}"
test_expect "unknown path" expect 404 not_found polygon-adapter GET /v2/nothing
test_expect "wrong method" expect 405 method_not_allowed polygon-adapter GET $p
test_expect "405 says what is allowed" bash -c "curl -s -D - -o /dev/null --cacert '$pki/ca.pem' --cert '$work/c/polygon-adapter.pem' --key '$work/c/polygon-adapter.key' --resolve localhost:$api_port:127.0.0.1 $base$p | grep -qi '^allow: POST'"

# --- ops ---
test_expect "readyz" bash -c "curl -sf http://127.0.0.1:$ops_port/readyz | jq -e '.status == \"ready\"'"
curl -s "http://127.0.0.1:$ops_port/metrics" > "$work/metrics"
test_expect "promtool check metrics" promtool check metrics < "$work/metrics"
for family in signer_sign_requests_total signer_sign_duration_seconds signer_hsm_sign_duration_seconds \
  signer_policy_eval_duration_seconds signer_policy_denials_total signer_hsm_errors_total signer_hsm_sessions \
  signer_token_logged_in signer_audit_write_failures_total signer_tls_handshake_failures_total signer_key_info \
  signer_certificate_expiry_timestamp_seconds signer_build_info process_resident_memory_bytes \
  process_start_time_seconds process_open_fds; do
  test_expect "metric $family has HELP and TYPE" grep -q "^# TYPE $family " "$work/metrics"
done
test_expect "signed counted" grep -q 'signer_sign_requests_total{client="polygon-adapter",key="polygon-dev",operation="dev",chain="evm",status="signed"}' "$work/metrics"
test_expect "denials counted" grep -q '^signer_policy_denials_total{client="polygon-adapter",operation="other",reason="forbidden"} 1' "$work/metrics"
test_expect "names the policy does not use are not label values" bash -c "! grep -q 'operation=\"mint\"' '$work/metrics'"
test_expect "refused certificates counted" grep -q '^signer_tls_handshake_failures_total{reason="untrusted"}' "$work/metrics"
test_expect "expired counted" grep -q '^signer_tls_handshake_failures_total{reason="expired"}' "$work/metrics"

# --- the audit log ---
test_expect "audit chain verifies" "$signerctl" audit verify "$env_dir/audit.log"

# --- SIGHUP: a broken policy keeps the old one; a good one takes effect; a CRL revokes ---
cp "$env_dir/policy.yaml" "$work/policy.good"
printf 'grants:\n  - client: ghost\n' > "$env_dir/policy.yaml"
kill -HUP "$pid"; sleep 0.5
test_expect "broken policy: said so" grep -q "keeping the policy in force" "$work/signerd.log"
test_expect "broken policy: old one still signs" expect 200 "" polygon-adapter POST $p "$msg"
sed 's/operations: \[dev\]/operations: [dev, mint]/' "$work/policy.good" > "$env_dir/policy.yaml"
test_expect "the revoked one works before the CRL" expect 200 "" revoked GET /v1/keys
# and a kept-alive connection of it, opened before the CRL
mkfifo "$work/ka.in"
openssl s_client -quiet -connect "127.0.0.1:$api_port" -cert "$work/c/revoked.pem" -key "$work/c/revoked.key" \
  -CAfile "$pki/ca.pem" < "$work/ka.in" > "$work/ka.out" 2>/dev/null &
ka_pid=$!
exec 7> "$work/ka.in"
printf 'GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n' >&7
sleep 0.7
test_expect "kept-alive: answered before the CRL" test "$(grep -c '^HTTP/1.1 200' "$work/ka.out")" -eq 1
printf '%s\n' "crl_next_update = 30" "crl_number = 1" > "$work/crl.tmpl"
certtool --generate-crl --load-ca-privkey "$pki/client-ca.key" --load-ca-certificate "$pki/client-ca.pem" \
  --load-certificate "$work/c/revoked.pem" --template "$work/crl.tmpl" --outfile "$pki/client-ca.crl" >/dev/null 2>&1
printf '  crl: %s\n' "$pki/client-ca.crl" >> "$cfg"
kill -HUP "$pid"; sleep 0.5
test_expect "new policy: mint allowed" expect 200 "" polygon-adapter POST $p '{"operation":"mint","evm_message":"0x00"}'
test_expect "CRL: the revoked one is refused" test "$(api revoked GET /v1/keys | cut -d' ' -f1)" = 000
printf 'GET /v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n' >&7 2>/dev/null || true
sleep 0.7
exec 7>&-
kill "$ka_pid" 2>/dev/null || true
test_expect "CRL: the kept-alive connection gets no second answer" test "$(grep -c '^HTTP/1.1 200' "$work/ka.out")" -eq 1
test_expect "CRL: others still work" expect 200 "" polygon-adapter GET /v1/keys
curl -s "http://127.0.0.1:$ops_port/metrics" > "$work/metrics"
test_expect "revoked counted" grep -q '^signer_tls_handshake_failures_total{reason="revoked"}' "$work/metrics"

# --- content rules: a refusal says why and which rule, and is audited and counted ---
cat >> "$env_dir/policy.yaml" <<'POLICY'
rules:
  mint:
    evm:
      chain_ids: [137]
      max_value_wei: '1000'
      allow_create: false
POLICY
"$signerctl" policy lint "$env_dir/policy.yaml" >/dev/null
kill -HUP "$pid"; sleep 0.5
out=$(api polygon-adapter POST $p '{"operation":"mint","evm_message":"0x00"}')
test_expect "content rule: 403" test "${out%% *}" = 403
test_expect "content rule: policy_denied with reason and rule" jq -e '.error.code == "policy_denied" and .error.reason == "eip191.not_allowed"
  and (.error.rule | startswith("rules.mint.eip191")) and (.error.audit_id | length) == 32' <<<"${out#* }"
# an EIP-155 transaction on chain 137 with a value of 1001 wei: one over the cap
tx=$(node -e 'const {Transaction}=require(process.argv[1]);console.log(Transaction.from({type:2,chainId:137n,nonce:0,gasLimit:21000n,maxFeePerGas:1n,maxPriorityFeePerGas:1n,to:"0x3535353535353535353535353535353535353535",value:BigInt(process.argv[2])}).unsignedSerialized)' "$root/tests/clients/node_modules/ethers" 1001)
out=$(api polygon-adapter POST $p "{\"operation\":\"mint\",\"evm_transaction\":\"$tx\"}")
test_expect "value over the cap: evm.value_exceeded" jq -e '.error.reason == "evm.value_exceeded"' <<<"${out#* }"
tx=$(node -e 'const {Transaction}=require(process.argv[1]);console.log(Transaction.from({type:2,chainId:137n,nonce:0,gasLimit:21000n,maxFeePerGas:1n,maxPriorityFeePerGas:1n,to:"0x3535353535353535353535353535353535353535",value:BigInt(process.argv[2])}).unsignedSerialized)' "$root/tests/clients/node_modules/ethers" 1000)
test_expect "value at the cap: signed" expect 200 "" polygon-adapter POST $p "{\"operation\":\"mint\",\"evm_transaction\":\"$tx\"}"
test_expect "the denial is audited with its rule" grep -q '"reason":"evm.value_exceeded","rule":"rules.mint.evm.max_value_wei' "$env_dir/audit.log"
test_expect "the denial is counted by reason" bash -c "curl -s http://127.0.0.1:$ops_port/metrics | grep -q 'signer_policy_denials_total{client=\"polygon-adapter\",operation=\"mint\",reason=\"evm.value_exceeded\"} 1'"

# --- rate limits: a token bucket per (client, operation), rebuilt from the audit log on start ---
cat >> "$env_dir/policy.yaml" <<'POLICY'
rate_limits:
  - client: polygon-adapter
    operation: mint
    per_minute: 1
    burst: 4
POLICY
"$signerctl" policy lint "$env_dir/policy.yaml" >/dev/null
kill -HUP "$pid"; sleep 0.5
mint_tx="{\"operation\":\"mint\",\"evm_transaction\":\"$tx\"}"
over_tx=$(node -e 'const {Transaction}=require(process.argv[1]);console.log(Transaction.from({type:2,chainId:137n,nonce:0,gasLimit:21000n,maxFeePerGas:1n,maxPriorityFeePerGas:1n,to:"0x3535353535353535353535353535353535353535",value:1001n}).unsignedSerialized)' "$root/tests/clients/node_modules/ethers")
for _ in 1 2 3; do api polygon-adapter POST $p "{\"operation\":\"mint\",\"evm_transaction\":\"$over_tx\"}" >/dev/null; done
# the limit a reload added starts from the signatures already made: the two mints signed before
# the reload hold two of the burst's four tokens (and one a minute comes back)
test_expect "rate: first within the burst (refusals took no token)" expect 200 "" polygon-adapter POST $p "$mint_tx"
test_expect "rate: second within the burst" expect 200 "" polygon-adapter POST $p "$mint_tx"
out=$(api polygon-adapter POST $p "$mint_tx")
test_expect "rate: third is 429 rate_limited" jq -e '.error.code == "rate_limited" and .error.reason == "rate_limited"
  and (.error.rule | startswith("rate_limits[0]"))' <<<"${out#* }"
test_expect "rate: 429 has Retry-After" bash -c "curl -s -D - -o /dev/null --cacert '$pki/ca.pem' --cert '$work/c/polygon-adapter.pem' --key '$work/c/polygon-adapter.key' --resolve localhost:$api_port:127.0.0.1 -H 'Content-Type: application/json' -d '$mint_tx' $base$p | grep -Eqi '^retry-after: [1-9]'"
test_expect "rate: other operations are not limited" expect 200 "" polygon-adapter POST $p "$msg"
stop
start
test_expect "rate: the limit survives a restart" expect 429 rate_limited polygon-adapter POST $p "$mint_tx"

# --- spend limits: per (key, asset) over a rolling window, rebuilt from the audit log on start ---
cat >> "$env_dir/policy.yaml" <<'POLICY'
spend_limits:
  - key: polygon-dev
    asset: erc20:0x00000000000000000000000000000000000000cc
    window: 24h
    max: '2500'
POLICY
"$signerctl" policy lint "$env_dir/policy.yaml" >/dev/null
kill -HUP "$pid"; sleep 0.5
erc20_tx=$(node -e 'const {Transaction,Interface}=require(process.argv[1]);const i=new Interface(["function transfer(address,uint256)"]);console.log(Transaction.from({type:2,chainId:137n,nonce:0,gasLimit:60000n,maxFeePerGas:1n,maxPriorityFeePerGas:1n,to:"0x00000000000000000000000000000000000000cc",data:i.encodeFunctionData("transfer",["0x3535353535353535353535353535353535353535",1000n])}).unsignedSerialized)' "$root/tests/clients/node_modules/ethers")
spend="{\"operation\":\"dev\",\"evm_transaction\":\"$erc20_tx\"}"
test_expect "spend: 1000 of 2500" expect 200 "" polygon-adapter POST $p "$spend"
test_expect "spend: 2000 of 2500" expect 200 "" polygon-adapter POST $p "$spend"
out=$(api polygon-adapter POST $p "$spend")
test_expect "spend: 3000 of 2500 refused" jq -e '.error.code == "policy_denied" and .error.reason == "spend_limit_exceeded"
  and (.error.rule | startswith("spend_limits[0]"))' <<<"${out#* }"
# the transaction spends its token amount and, in native, the most its gas can cost (60000 x 1 wei)
test_expect "spend: recorded in the audit log, the fee as native" grep -q '"spends":\[{"amount":"60000","asset":"native"},{"amount":"1000","asset":"erc20:0x00000000000000000000000000000000000000cc"}\]\|"spends":\[{"asset":"native","amount":"60000"},{"asset":"erc20:0x00000000000000000000000000000000000000cc","amount":"1000"}\]' "$env_dir/audit.log"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
start
test_expect "spend: the window survives kill -9 and a restart" expect 403 policy_denied polygon-adapter POST $p "$spend"

# --- a reload racing with live traffic: every answer is a signature or a refusal, never a 5xx ---
cp "$env_dir/policy.yaml" "$work/policy.a"
sed 's/per_minute: 6/per_minute: 7/' "$work/policy.a" > "$work/policy.b"
mkdir -p "$work/race"
race_pids=()
for i in $(seq 1 40); do
  ( api polygon-adapter POST $p "$msg" | cut -d' ' -f1 > "$work/race/$i" ) &
  race_pids+=($!)
  if (( i % 8 == 0 )); then
    if (( i % 16 == 0 )); then cp "$work/policy.a" "$env_dir/policy.yaml"; else cp "$work/policy.b" "$env_dir/policy.yaml"; fi
    kill -HUP "$pid"
  fi
done
wait "${race_pids[@]}" 2>/dev/null || true
test_expect "reload race: 40 answers, all 200 ($(sort "$work/race/"* | uniq -c | tr -s " \n" " "))" test "$(cat "$work/race/"* | grep -c '^200$')" -eq 40
test_expect "reload race: still serving" kill -0 "$pid"
cp "$work/policy.a" "$env_dir/policy.yaml"; kill -HUP "$pid"; sleep 0.3

test_done
