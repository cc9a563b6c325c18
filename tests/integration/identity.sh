#!/usr/bin/env bash
# Identities are exact: a SAN URI or CN holding a NUL (or any byte a name cannot hold) is
# refused, never read as the name before it; a CRL must be signed by the client CA, and one past
# its nextUpdate is kept with a warning, its revocations in force; refusals
# without a certificate are counted as no_certificate; the policy, CA and CRL files get the
# config's permission check.
signerd=$1 signerctl=$2 TL_ROOT=$3 mkcert=$5
TL_NAME=identity SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"

tl_dev_env "$tl_work/env"
env=$tl_work/env
cfg=$env/signerd.yaml
pki=$env/pki
log=$tl_work/signerd.log
hex() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
# a client known by its CN (no SAN URI)
sed -i 's|^clients:|clients:\n  cn-client:\n    cn: cn-client|' "$env/policy.yaml"
printf '  - client: cn-client\n    key: polygon-dev\n    operations: [dev]\n' >>"$env/policy.yaml"

# certificates whose names are exactly these bytes, signed by the client CA
mk() { "$mkcert" "$pki/client-ca.pem" "$pki/client-ca.key" "$pki/clients/$1.pem" "$pki/clients/$1.key" "${@:2}"; }
uri=spiffe://signerd-dev/polygon-adapter
mk exact-uri "uri=$(hex "$uri")"
mk nul-uri "uri=$(hex "$uri")00$(hex evil)"
mk space-uri "uri=$(hex "$uri x")"
mk ctrl-uri "uri=$(hex "$uri")0a"
mk high-uri "uri=$(hex "$uri")c3a9"
mk exact-cn "cn=$(hex cn-client)"
mk nul-cn "cn=$(hex cn-client)00$(hex evil)"
mk ctrl-cn "cn=$(hex cn-client)01"

tl_signerd_start "$cfg" "$log"
msg='{"operation":"dev","evm_message":"0x48656c6c6f"}'
status() { tl_api "$pki" "$1" POST /v1/keys/polygon-dev/sign "$msg" | cut -d' ' -f1; }
test_expect "the helper's certificate with the exact SAN URI signs" test "$(status exact-uri)" = 200
test_expect "the helper's certificate with the exact CN signs" test "$(status exact-cn)" = 200
for c in nul-uri space-uri ctrl-uri high-uri nul-cn ctrl-cn; do
	test_expect "$c: refused in the handshake, no HTTP answer" test "$(status "$c")" = 000
done
test_expect "refused names are counted as invalid" bash -c "(( \$(curl -s http://127.0.0.1:$tl_ops_port/metrics | awk '\$1 == \"signer_tls_handshake_failures_total{reason=\\\"invalid\\\"}\" {print \$2}') >= 6 ))"
test_expect "nothing was audited as polygon-adapter but the exact certificate's request" \
	test "$(grep -c '"client":"polygon-adapter"' "$env/audit.log")" = 1
before=$(tl_metric 'signer_tls_handshake_failures_total{reason="no_certificate"}')
tl_api "$pki" "" GET /v1/keys >/dev/null
tl_api "$pki" "" GET /v1/keys >/dev/null
test_expect "no certificate: counted as no_certificate" test "$(tl_metric 'signer_tls_handshake_failures_total{reason="no_certificate"}')" = $((${before:-0} + 2))

# a CRL signed by another key under the client CA's name is not honoured
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tl_work/fake.key" 2>/dev/null
openssl req -x509 -new -key "$tl_work/fake.key" -days 30 -out "$tl_work/fake.pem" \
	-subj "/$(openssl x509 -in "$pki/client-ca.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" 2>/dev/null
printf '%s\n' "crl_next_update = 30" "crl_number = 1" >"$tl_work/crl.tmpl"
certtool --generate-crl --load-ca-privkey "$tl_work/fake.key" --load-ca-certificate "$tl_work/fake.pem" \
	--load-certificate "$pki/clients/polygon-adapter.pem" --template "$tl_work/crl.tmpl" \
	--outfile "$pki/forged.crl" >/dev/null 2>&1
certtool --generate-crl --load-ca-privkey "$pki/client-ca.key" --load-ca-certificate "$pki/client-ca.pem" \
	--load-certificate "$pki/clients/exact-uri.pem" --template "$tl_work/crl.tmpl" \
	--outfile "$pki/real.crl" >/dev/null 2>&1
cp "$cfg" "$tl_work/plain.yaml"
printf '  crl: %s\n' "$pki/forged.crl" >>"$cfg"
kill -HUP "$tl_signerd_pid"
test_expect "a reload with a forged CRL keeps the TLS files in force, saying why" \
	tl_until 5 grep -q 'keeping the TLS files in force: CRL .*forged.crl.* is not signed by a CA of' "$log"
test_expect "and the certificate the forged CRL names is still served" test "$(status polygon-adapter)" = 200
tl_signerd_stop
test_expect "signerd refuses to start on a forged CRL" bash -c "! timeout 10 '$signerd' --config '$cfg' 2>&1 | grep -q serving"
test_expect "naming the CRL and why" bash -c "timeout 10 '$signerd' --config '$cfg' 2>&1 | grep -q 'forged.crl (number 1 in the file) is not signed by a CA of'"
cp "$tl_work/plain.yaml" "$cfg"
printf '  crl: %s\n' "$pki/real.crl" >>"$cfg"
tl_signerd_start "$cfg" "$log"
test_expect "a CRL the client CA signed is honoured" test "$(status exact-uri)" = 000
test_expect "and the others are served" test "$(status polygon-adapter)" = 200
test_expect "the CRL's nextUpdate is a metric" bash -c "(( \$(curl -s http://127.0.0.1:$tl_ops_port/metrics | awk '\$1 == \"signer_certificate_expiry_timestamp_seconds{cert=\\\"crl\\\"}\" {print \$2}') > \$(date +%s) ))"

# a CRL past its nextUpdate: kept with a warning, its revocations still apply
printf '%s\n' 'crl_this_update_date = "2025-01-01 00:00:00"' 'crl_next_update_date = "2025-02-01 00:00:00"' \
	"crl_number = 2" >"$tl_work/stale.tmpl"
certtool --generate-crl --load-ca-privkey "$pki/client-ca.key" --load-ca-certificate "$pki/client-ca.pem" \
	--load-certificate "$pki/clients/exact-uri.pem" --template "$tl_work/stale.tmpl" \
	--outfile "$pki/stale.crl" >/dev/null 2>&1
sed -i "s|crl: .*real.crl|crl: $pki/stale.crl|" "$cfg"
revoked=$(tl_metric 'signer_tls_handshake_failures_total{reason="revoked"}')
kill -HUP "$tl_signerd_pid"
test_expect "a reload with a stale CRL loads it, warning when it was due" \
	tl_until 5 grep -q 'CRL .*stale.crl (number 1 in the file) was due for renewal at 2025-02-01T00:00:00Z; the revocations it lists still apply' "$log"
test_expect "the metric shows its nextUpdate, in the past" test "$(tl_metric 'signer_certificate_expiry_timestamp_seconds{cert="crl"}')" = "$(date -d 2025-02-01T00:00:00Z +%s)"
test_expect "the certificate the stale CRL revokes is still refused" test "$(status exact-uri)" = 000
test_expect "counted as revoked" test "$(tl_metric 'signer_tls_handshake_failures_total{reason="revoked"}')" = $((${revoked:-0} + 1))
test_expect "the others are served" test "$(status polygon-adapter)" = 200
sed -i "s|crl: .*stale.crl|crl: $pki/real.crl|" "$cfg"
kill -HUP "$tl_signerd_pid"
crl_fresh() { (($(tl_metric 'signer_certificate_expiry_timestamp_seconds{cert="crl"}') > $(date +%s))); }
test_expect "the renewed CRL is back in force" tl_until 5 crl_fresh

# files others can change are refused like the config
chmod 0666 "$env/policy.yaml"
kill -HUP "$tl_signerd_pid"
test_expect "a reload of a policy others can change keeps the policy in force" \
	tl_until 5 grep -q 'keeping the policy in force: policy file .* can be changed by group or others (mode 0666)' "$log"
tl_signerd_stop
test_expect "signerd refuses to start on it" bash -c "timeout 10 '$signerd' --config '$cfg' 2>&1 | grep -q 'policy file .*policy.yaml can be changed by group or others (mode 0666); chmod go-w it'"
test_expect "policy lint says the same" bash -c "! '$signerctl' policy lint '$env/policy.yaml' 2>&1 | grep -q 'no problems' && '$signerctl' policy lint '$env/policy.yaml' 2>&1 | grep -q 'mode 0666'"
chmod 0644 "$env/policy.yaml"
for f in client-ca.pem real.crl server.pem; do
	chmod 0664 "$pki/$f"
	test_expect "signerd refuses to start when $f is group-writable" bash -c "timeout 10 '$signerd' --config '$cfg' 2>&1 | grep -q '$f can be changed by group or others (mode 0664)'"
	chmod 0644 "$pki/$f"
done
tl_signerd_start "$cfg" "$log"
test_expect "with the modes mended, it serves" test "$(status polygon-adapter)" = 200
tl_signerd_stop
test_expect "signerd stops cleanly" test "$tl_signerd_rc" = 0
test_done
