#!/usr/bin/env bash
# The systemd units: signerd.service's exposure score by systemd-analyze (offline) must be 2.0
# or less; signerd-backup-state.service (which needs the network to reach S3) 2.5 or less; its
# timer runs it hourly, and systemd-analyze reads the timer's calendar. signerd-readiness.service
# (signerctl readiness into node_exporter's textfile directory) 2.5 or less, with the main unit's
# PIN credential; its timer runs it every 5 minutes.
unit=$1 backup_unit=${2:-} timer=${3:-} readiness_unit=${4:-} readiness_timer=${5:-}
TL_NAME=systemd_unit
. "$(dirname "$0")/test-lib.sh"

exposure_at_most() { # exposure_at_most LIMIT [UNIT]: the score, and the worst settings when over
	local out score
	out=$(systemd-analyze security --offline=true --no-pager "${2:-$unit}" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	echo "# systemd-analyze security: exposure $score"
	[[ -n $score ]] || { echo "$out"; return 1; }
	awk -v s="$score" -v m="$1" 'BEGIN { exit !(s <= m) }' || { grep -E '^✗' <<<"$out" | head -20; return 1; }
}
test_expect "systemd-analyze security: exposure 2.0 or less" exposure_at_most 2.0
if [[ -n $backup_unit ]]; then
	test_expect "the state backup's unit: exposure 2.5 or less" exposure_at_most 2.5 "$backup_unit"
	test_expect "it runs signerctl backup state, once" grep -Eq '^ExecStart=/.*/signerctl --config /etc/signerd/signerd.yaml backup state$' "$backup_unit"
	test_expect "the timer runs hourly, catching up after downtime" bash -c "grep -qx 'OnCalendar=hourly' '$timer' && grep -qx 'Persistent=true' '$timer' && systemd-analyze calendar hourly >/dev/null"
	test_expect "the timer and the service share their name" test "$(basename "$timer" .timer)" = "$(basename "$backup_unit" .service)"
fi
if [[ -n $readiness_unit ]]; then
	test_expect "the readiness unit: exposure 2.5 or less" exposure_at_most 2.5 "$readiness_unit"
	test_expect "it runs signerctl readiness into node_exporter's textfile directory, once, as signerd" bash -c "grep -Eqx 'ExecStart=/.*/signerctl --config /etc/signerd/signerd.yaml readiness --textfile /var/lib/prometheus/node-exporter/signerd-readiness.prom' '$readiness_unit' && grep -qx 'Type=oneshot' '$readiness_unit' && grep -qx 'User=signerd' '$readiness_unit' && grep -qx 'ReadWritePaths=/var/lib/prometheus/node-exporter' '$readiness_unit'"
	test_expect "it gets the token's PIN as signerd.service does (LoadCredential)" bash -c "test \"\$(grep '^LoadCredential=' '$readiness_unit')\" = \"\$(grep '^LoadCredential=' '$unit')\" && grep -q '^LoadCredential=token-pin:' '$unit'"
	test_expect "its timer runs every 5 minutes, catching up after downtime" bash -c "grep -qx 'OnCalendar=\*:0/5' '$readiness_timer' && grep -qx 'Persistent=true' '$readiness_timer' && systemd-analyze calendar --iterations=2 '*:0/5' | grep -q 'Next elapse'"
	test_expect "the readiness timer and service share their name" test "$(basename "$readiness_timer" .timer)" = "$(basename "$readiness_unit" .service)"
fi
test_done
