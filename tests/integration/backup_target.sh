#!/usr/bin/env bash
# Backup targets against real S3-protocol servers: test_backup_target's suite against an s3rver
# region whose proxy checks every request's AWS Signature V4 and body hash (none of its S3 tests
# may be skipped), a second region started and stopped for "cannot connect"; the proxy counted
# the client's requests as verified (so signatures were checked, not waved through), and it
# refuses a request signed with a wrong secret, or whose body is not the one signed, while
# curl's own SigV4 with the right secret passes.
test_bin=$1 TL_ROOT=$2
TL_NAME=backup_target
. "$(dirname "$0")/test-lib.sh"
. "$TL_ROOT/tests/support/s3-region.sh"

bucket=signer-backups
s3_region_start eu-west "$bucket" eu-west-1 >/dev/null
s3_region_start down "$bucket" >/dev/null
s3_region_stop down
ep=$S3_ENDPOINT_EU_WEST
creds=$S3_CREDENTIALS_EU_WEST

verified() { s3_region_stats eu-west | jq -r .verified; }
refused() { s3_region_stats eu-west | jq -r .refused; }
v0=$(verified)
r0=$(refused)

run_suite() {
	SIGNER_TEST_S3_ENDPOINT=$ep SIGNER_TEST_S3_CREDENTIALS=$creds SIGNER_TEST_S3_BUCKET=$bucket \
		SIGNER_TEST_S3_REGION=eu-west-1 SIGNER_TEST_S3_DOWN_ENDPOINT=$S3_ENDPOINT_DOWN \
		"$test_bin" >"$tl_work/suite.out" 2>&1 || { cat "$tl_work/suite.out"; return 1; }
	cat "$tl_work/suite.out"
	if grep -q SKIPPED "$tl_work/suite.out"; then
		echo "a test was skipped"
		return 1
	fi
}
test_expect "the suite passes against the region, none skipped" run_suite
test_expect "it ran the S3 tests (1100 objects over 2 pages)" grep -q '1100 PUTs and a listing of 2 pages' "$tl_work/suite.out"
test_expect "the proxy verified the signatures of its requests" test "$(verified)" -gt $((v0 + 1100))
test_expect "and refused the wrong ones (secret, key id, region)" test "$(refused)" -ge $((r0 + 4))

# curl's own SigV4 (the same libcurl, another program): the right secret passes, a wrong one
# does not, nor a body other than the one whose hash was signed
id=$(awk -F' = ' '$1 == "aws_access_key_id" { print $2 }' "$creds")
secret_file=$tl_work/curl-user
(umask 077 && awk -F' = ' '$1 == "aws_access_key_id" { id = $2 } $1 == "aws_secret_access_key" { print "user = \"" id ":" $2 "\"" }' "$creds" >"$secret_file")
(umask 077 && echo "user = \"$id:not-the-secret\"" >"$tl_work/curl-wrong")
empty=$(printf '' | sha256sum | cut -d' ' -f1)
hello=$(printf hello | sha256sum | cut -d' ' -f1)
s3curl() { # s3curl CONFIG ARGS...: prints the HTTP status, the body in $tl_work/curl.out
	curl -s -o "$tl_work/curl.out" -w '%{http_code}' --max-time 10 --aws-sigv4 "aws:amz:eu-west-1:s3" \
		-K "$1" "${@:2}"
}
test_expect "curl with the right secret: PUT passes" test "$(s3curl "$secret_file" -H "x-amz-content-sha256: $hello" -T <(printf hello) "$ep/$bucket/by-curl")" = 200
got=$(s3curl "$secret_file" -H "x-amz-content-sha256: $empty" "$ep/$bucket/by-curl")
test_expect "curl with the right secret: GET returns the object" bash -c "[[ '$got' == 200 && \$(cat '$tl_work/curl.out') == hello ]]"
r1=$(refused)
got=$(s3curl "$tl_work/curl-wrong" -H "x-amz-content-sha256: $empty" "$ep/$bucket/by-curl")
test_expect "a wrong secret: 403 SignatureDoesNotMatch" bash -c "[[ '$got' == 403 ]] && grep -q '<Code>SignatureDoesNotMatch</Code>' '$tl_work/curl.out'"
got=$(s3curl "$secret_file" -H "x-amz-content-sha256: $hello" -T <(printf jello) "$ep/$bucket/by-curl")
test_expect "a body other than the signed one: 400 XAmzContentSHA256Mismatch" bash -c "[[ '$got' == 400 ]] && grep -q '<Code>XAmzContentSHA256Mismatch</Code>' '$tl_work/curl.out'"
got=$(s3curl "$secret_file" "$ep/$bucket/by-curl")
test_expect "no x-amz-content-sha256 at all: refused" test "$got" = 403
test_expect "each refusal was counted" test "$(refused)" -eq $((r1 + 3))
got=$(s3curl "$secret_file" -H "x-amz-content-sha256: $empty" "$ep/$bucket/by-curl")
test_expect "and the object is still the signed one" bash -c "[[ '$got' == 200 && \$(cat '$tl_work/curl.out') == hello ]]"
test_expect "the credentials never reached the suite's output" bash -c "! grep -qF \"\$(awk -F' = ' '\$1 == \"aws_secret_access_key\" { print \$2 }' '$creds')\" '$tl_work/suite.out'"

test_done
