#!/usr/bin/env bash
# The systemd unit: its exposure score by systemd-analyze (offline) must be 2.0 or less.
unit=$1
TL_NAME=systemd_unit
. "$(dirname "$0")/test-lib.sh"

exposure_at_most() { # exposure_at_most LIMIT: the score, and the worst settings when it is over
	local out score
	out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	echo "# systemd-analyze security: exposure $score"
	[[ -n $score ]] || { echo "$out"; return 1; }
	awk -v s="$score" -v m="$1" 'BEGIN { exit !(s <= m) }' || { grep -E '^✗' <<<"$out" | head -20; return 1; }
}
test_expect "systemd-analyze security: exposure 2.0 or less" exposure_at_most 2.0
test_done
