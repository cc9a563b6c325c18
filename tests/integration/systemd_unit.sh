#!/usr/bin/env bash
# The systemd units: signerd.service's exposure score by systemd-analyze (offline) must be 2.0
# or less; signerd-backup-state.service (which needs the network to reach S3) 2.5 or less; its
# timer runs it hourly, and systemd-analyze reads the timer's calendar.
unit=$1 backup_unit=${2:-} timer=${3:-}
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
test_done
