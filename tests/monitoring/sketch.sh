#!/usr/bin/env bash
# tests/monitoring/sketch.sh [ROOT]: the seed's sketch is wrong, each bug for the stated reason, and
# ours is right, on the same scenarios (sketch-scenarios.test.yaml.in). Against the seed's rules
# (sketch-rules.yaml, verbatim) and panel queries (dashboard-sketch.json) `promtool test rules` must
# fail with exactly these failures: AdapterDown silent on a crash, HighErrorRate firing at 100% on
# a 1.5625% error rate, the success-rate panel reading 1 (100%) per series and the error-rate panel
# a rate a second (not a ratio), SlowTransactions and the latency panel empty on a p95 of 4 s.
# Against docs/blockchain/prometheus-alerts.yaml and grafana-dashboard.json it must pass. (The
# removed panel types are dashboard.sh's.)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$root/tests/monitoring
TL_NAME=sketch
. "$root/tests/integration/test-lib.sh"
shopt -u patsub_replacement 2>/dev/null || true
command -v promtool >/dev/null || { echo "promtool not found (Debian package prometheus; tools/deps)" >&2; exit 1; }

# query DASHBOARD TITLE [REFID]: the panel's query with Grafana's variables filled in ("All", and
# $__rate_interval 5m: the scenarios sample every 15 s or 1 m), on one line
query() {
	jq -er --arg t "$2" --arg r "${3:-A}" '[.panels[]?, (.panels[]?.panels[]? // empty)] | .[]
		| select(.title == $t) | .targets[] | select(.refId == $r) | .expr
		| gsub("\\$__rate_interval"; "5m") | gsub("\\$adapter"; ".*") | gsub("\\$instance"; ".*")
		| gsub("\n"; " ")' "$1"
}

# scenarios NAME RULES SUCCESS ERRORS P95: the scenario file for one rule file and three queries
scenarios() {
	local t
	t=$(<"$here/sketch-scenarios.test.yaml.in")
	t=${t//@RULES@/$2}
	t=${t//@PANEL_SUCCESS@/$3}
	t=${t//@PANEL_ERRORS@/$4}
	t=${t//@PANEL_P95@/$5}
	printf '%s\n' "$t" >"$tl_work/$1.test.yaml"
}

seed=$here/dashboard-sketch.json
ours=$root/docs/blockchain/grafana-dashboard.json
scenarios sketch "$here/sketch-rules.yaml" "$(query "$seed" 'Transaction Success Rate')" \
	"$(query "$seed" 'Error Rate')" "$(query "$seed" 'Transaction Latency')"
scenarios ours "$root/docs/blockchain/prometheus-alerts.yaml" "$(query "$ours" 'Transaction success rate')" \
	"$(query "$ours" 'Transaction error ratio')" "$(query "$ours" 'Transaction latency (p50, p95, p99)' B)"

# failure PATTERN FIXED...: one failure of promtool's output (its blocks are paragraphs) matches
# the extended regex PATTERN and contains each FIXED string
failure() {
	local pattern=$1 s
	shift
	PAT=$pattern awk -v RS= '$0 ~ ENVIRON["PAT"]' "$tl_work/sketch.out" >"$tl_work/block"
	[[ -s $tl_work/block ]] || { echo "no failure matching $pattern" >&2; return 1; }
	for s in "$@"; do
		grep -qF -- "$s" "$tl_work/block" || { echo "the failure $pattern does not say: $s" >&2; cat "$tl_work/block" >&2; return 1; }
	done
}

run_sketch() {
	if promtool test rules "$tl_work/sketch.test.yaml" >"$tl_work/sketch.out" 2>&1; then
		echo "the seed's sketch passed its scenarios" >&2
		return 1
	fi
	cat "$tl_work/sketch.out"
	# unit test failures (exit 1), not a file promtool could not read
	grep -q 'FAILED:' "$tl_work/sketch.out"
}

bug_down() {
	failure 'ALERTS\{alertname=\\"AdapterDown\\"' 'time: 6m' 'got: nil'
}
bug_ratio() {
	failure 'alertname: HighErrorRate, time: 15m' 'exp:[]' 'alertname="HighErrorRate"' \
		'operation="create_organization"' 'status="failed"' 'description="Error rate is 100%"'
	# the success-rate panel: every success series divided by itself, 1 (100%) each
	failure 'status=\\"success\\"' 'exp: {adapter="solana"} 9.84375E-01' \
		'operation="create_organization", status="success"} 1E+00' 'operation="mint", status="success"} 1E+00'
	# the error-rate panel: failures a second (2), not a ratio
	failure '^    expr: "rate\(blockchain_transactions_total\{status=\\"failed\\"\}\[5m\]\)"' \
		'exp: {adapter="solana"} 1.5625E-02' 'operation="create_organization", status="failed"} 2E+00'
}
bug_latency() {
	failure 'ALERTS\{alertname=\\"SlowTransactions\\"' 'time: 15m' 'got: nil'
	failure 'histogram_quantile\(0.95, blockchain_transaction_duration_seconds\)' 'exp: {adapter="solana"} 4E+00' 'got: nil'
}
only_those() {
	local n
	n=$(grep -cE '^    (expr|alertname): ' "$tl_work/sketch.out")
	[[ $n -eq 6 ]] || { echo "expected exactly the 6 failures, got $n" >&2; return 1; }
}
run_ours() {
	promtool test rules "$tl_work/ours.test.yaml"
}

test_expect "the seed's sketch fails its scenarios (promtool test rules exits 1)" run_sketch
test_expect "bug: the seed's AdapterDown stays silent when the adapter crashes" bug_down
test_expect "bug: the seed's error ratio reads 100% at 1.5625% (alert and panels)" bug_ratio
test_expect "bug: the seed's latency alert and panel are empty at a p95 of 4 s" bug_latency
test_expect "the seed's sketch fails those scenarios and no other" only_those
test_expect "ours passes the same scenarios" run_ours
test_done
