#!/usr/bin/env bash
# The systemd unit: its exposure score by systemd-analyze (offline) must be 2.0 or less.
set -euo pipefail
unit=$1
out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
echo "# systemd-analyze security: exposure $score"
[[ -n $score ]] || { echo "$out"; echo "systemd_unit: 0 passed, 1 failed"; exit 1; }
if awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  echo "systemd_unit: 1 passed, 0 failed"
else
  echo "$out" | grep -E '^✗' | head -20
  echo "systemd_unit: 0 passed, 1 failed"
  exit 1
fi
