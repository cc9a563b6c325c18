#!/usr/bin/env bash
# Backups to S3 (docs/backup.md): two regions, each a real S3-protocol server (s3rver) behind a
# proxy that checks every request's AWS Signature V4 against the region's own credentials
# (tests/support/s3-region.sh), beside the dev environment's directory target. backup sync fills
# them, a DR drill restores from one; a region that is down makes a backup report it and still
# succeed in min_targets others, backup verify fails naming it, and backup sync repairs it once
# it is back; a wrong secret is refused by the region, and said so.
signerctl=$1 TL_ROOT=$2 SIGNERD=$3
TL_NAME=backup_s3 SIGNERCTL=$signerctl
. "$(dirname "$0")/test-lib.sh"
. "$TL_ROOT/tests/support/s3-region.sh"

env=$tl_work/env
tl_dev_env "$env" --ceremonies
cfg=$env/signerd.yaml
kill_agents() { for n in alice bob carol; do gpgconf --homedir "$env/custodians/$n/gnupg" --kill all 2>/dev/null || true; done; }
tl_on_exit kill_agents
ctl() { "$signerctl" --config "$cfg" "$@"; }
g() { GNUPGHOME=$1 gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "${@:2}" 2>/dev/null; }
mkdir -m 0700 "$tl_work/shares"
for n in alice bob; do
	(umask 0077; g "$env/custodians/$n/gnupg" --decrypt "$env/custodians/$n/backup-share.asc" >"$tl_work/shares/$n")
done
shares=(--share "$tl_work/shares/alice" --share "$tl_work/shares/bob")

bucket=signerd-backup
s3_region_start eu-west "$bucket" eu-west-1 >/dev/null
s3_region_start us-east "$bucket" us-east-1 >/dev/null
targets() { # the backup section: the directory and the two regions
	sed -i '/^backup:/,$d' "$cfg"
	cat >>"$cfg" <<CONF
backup:
  targets:
    - {name: region-a, dir: $env/backup/region-a}
    - name: eu-west
      s3: {endpoint: "$S3_ENDPOINT_EU_WEST", region: eu-west-1, bucket: $bucket, prefix: prod/,
           credentials_file: $S3_CREDENTIALS_EU_WEST}
    - name: us-east
      s3: {endpoint: "$S3_ENDPOINT_US_EAST", region: us-east-1, bucket: $bucket, prefix: prod/,
           credentials_file: $S3_CREDENTIALS_US_EAST}
  min_targets: 2
  share_threshold: 2
CONF
}
targets

test_expect "the config with S3 targets loads (the regions start empty)" bash -c "'$signerctl' --config '$cfg' backup list --json | jq -e '(.targets | length) == 3 and all(.targets[]; .reachable) and ([.targets[] | select(.name != \"region-a\") | .backups | length] == [0,0])' >/dev/null"
test_expect "backup sync copies the backups into both regions" tl_exits 0 "$tl_work/sync.out" ctl backup sync
test_expect "backup verify: all three hold the newest, every object checks out" tl_exits 0 "$tl_work/v.json" ctl backup verify --json
test_expect "in S3, under the prefix" bash -c "find '$tl_work/s3/eu-west' -type f | grep -q 'prod/backups/' && find '$tl_work/s3/us-east' -type f | grep -q 'prod/objects/'"
test_expect "a DR drill from eu-west passes" bash -c "'$signerctl' --config '$cfg' dr drill --from eu-west ${shares[*]} --json | jq -e '.result == \"pass\" and .target == \"eu-west\" and all(.keys[]; .probe == \"signed\")' >/dev/null"
signed_all() { local st; st=$(s3_region_stats "$1"); jq -e '.verified > 10 and .refused == 0' <<<"$st"; }
for r in eu-west us-east; do
	test_expect "$r: the proxy verified every request's SigV4 and refused none" signed_all "$r"
done

# the metrics: what each target holds, as the backups left it in the token
tl_signerd_start "$cfg" "$tl_work/signerd.log"
metric_is() { test "$(tl_metric "$1")" = "$2"; }
metric_recent() { local v; v=$(tl_metric "$1"); [[ -n $v ]] && ((v > $(date +%s) - 600)); }
fresh_and_whole() { # fresh_and_whole TARGET
	metric_recent "signer_backup_last_success_timestamp_seconds{target=\"$1\"}" &&
		metric_is "signer_backup_keys_missing{target=\"$1\"}" 0
}
for r in region-a eu-west us-east; do
	test_expect "metrics: $r last took a backup just now, and lacks no key" fresh_and_whole "$r"
done
test_expect "promtool accepts the metrics, the backup families among them" bash -c "curl -s http://127.0.0.1:$tl_ops_port/metrics | tee '$tl_work/metrics' | promtool check metrics && grep -q '^# TYPE signer_backup_keys_missing gauge' '$tl_work/metrics'"

# a rotation writes its new version to the regions before it can be activated
plan_run() { # plan_run ACTION ARGS... -- RUN-ARGS...
	local plan=$tl_work/plan.$RANDOM.json args=() n
	while [[ $1 != -- ]]; do args+=("$1"); shift; done
	shift
	ctl ceremony plan "${args[@]}" --out "$plan" >/dev/null
	for n in alice bob; do g "$env/custodians/$n/gnupg" --yes --detach-sign --armor -o "$plan.$n.asc" "$plan"; done
	ctl ceremony run "$plan" --approval "$plan.alice.asc" --approval "$plan.bob.asc" "$@"
}
rotated() { plan_run key-rotate polygon-dev -- "${shares[@]}" >/dev/null && ctl backup list --target eu-west --json | jq -e '.targets[0].backups[-1].keys == 3'; }
test_expect "a rotation is backed up to S3 as it is made" rotated

# --- a region down ---
s3_region_stop us-east
test_expect "with us-east down, backup state still succeeds in the two others, and names it" bash -c "'$signerctl' --config '$cfg' backup state 2>'$tl_work/down.err' | grep -q 'in 2 target' && grep -q 'us-east.*cannot connect' '$tl_work/down.err'"
test_expect "backup list says us-east is unreachable" bash -c "'$signerctl' --config '$cfg' backup list --json | jq -e '.targets[] | select(.name == \"us-east\") | .reachable == false' >/dev/null"
test_expect "backup verify fails, naming us-east" tl_fails_saying "a target lacks the newest backup" ctl backup verify
test_expect "activation still passes: v2 is durable in min_targets (2) targets" tl_exits 0 "$tl_work/act.out" plan_run key-activate polygon-dev --version 2 --
rotated3() { plan_run key-rotate polygon-dev -- "${shares[@]}" && ctl backup list --target eu-west --json | jq -e '.targets[0].backups[-1].keys == 4'; }
test_expect "a rotation while us-east is down: backed up in the two others, so made" rotated3
lacks_one() { metric_is 'signer_backup_keys_missing{target="us-east"}' 1 && metric_is 'signer_backup_keys_missing{target="eu-west"}' 0; }
test_expect "metrics: us-east lacks that version, eu-west does not" lacks_one
s3_region_start us-east "$bucket" us-east-1 >/dev/null
targets
test_expect "us-east is back (a new, empty store): backup sync repairs it" tl_exits 0 "$tl_work/sync2.out" ctl backup sync
test_expect "and verify passes again" tl_exits 0 "$tl_work/v2.out" ctl backup verify
test_expect "metrics: after the sync us-east lacks nothing" metric_is 'signer_backup_keys_missing{target="us-east"}' 0

# --- a wrong secret ---
sed -i 's/^aws_secret_access_key = .*/aws_secret_access_key = wrongwrongwrongwrongwrongwrongwrong0000/' "$S3_CREDENTIALS_EU_WEST"
test_expect "a wrong secret: eu-west refuses, and the error says so without the secret" bash -c "'$signerctl' --config '$cfg' backup list --json | jq -e '.targets[] | select(.name == \"eu-west\") | .reachable == false and (.error | test(\"403\")) and (.error | test(\"wrongwrong\") | not)' >/dev/null"
refused_some() { local st; st=$(s3_region_stats eu-west); jq -e '.refused >= 1' <<<"$st"; }
test_expect "its proxy counted the refusal" refused_some

test_done
