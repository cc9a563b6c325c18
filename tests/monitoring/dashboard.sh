#!/usr/bin/env bash
# tests/monitoring/dashboard.sh [ROOT]: docs/blockchain/grafana-dashboard.json is importable and its
# queries work. The structure (dashboard-lint.jq: current schema, stat/timeseries/gauge/table
# panels, the datasource variable used everywhere, the adapter and instance variables,
# $__rate_interval, unique ids, gridPos); the same validator refuses the seed's removed panel types
# (graph, singlestat); every panel target, with the Grafana variables filled in as Grafana would
# ($__rate_interval 1m for a 15 s scrape, "All" as .*, or one value), becomes a recording rule that
# `promtool check rules` parses and `promtool test rules` evaluates on test series
# (dashboard-series.test.yaml.in): every panel returns a sample, the key panels the values computed
# by hand; every metric queried exists (signerd's sources, the guide's metric definitions).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$root/tests/monitoring
TL_NAME=dashboard
. "$root/tests/integration/test-lib.sh"
. "$root/tests/monitoring/metrics-defined.sh"
shopt -u patsub_replacement 2>/dev/null || true

dash=$root/docs/blockchain/grafana-dashboard.json
lint=$here/dashboard-lint.jq
guide=${GUIDE:-$root/docs/blockchain/adapter-operations.md}
command -v promtool >/dev/null || { echo "promtool not found (Debian package prometheus; tools/deps)" >&2; exit 1; }

# lint FILE: the validator's problems on stdout; fails when there is any
lint() {
	local out
	out=$(jq -r -f "$lint" "$1")
	[[ -z $out ]] || { printf '%s\n' "$out"; return 1; }
}

# the record name of the target REFID of the panel titled TITLE
rec() {
	jq -er --arg t "$1" --arg r "$2" '[.panels[]?, (.panels[]?.panels[]? // empty)] | .[]
		| select(.title == $t) | select(any(.targets[]?; .refId == $r))
		| "dashboard:panel\(.id):\($r)"' "$dash"
}

# targets ADAPTER INSTANCE RATE_INTERVAL: every panel target, one JSON object a line
# {record, title, expr}, with Grafana's variables replaced
targets() {
	jq -c --arg ad "$1" --arg in "$2" --arg ri "$3" '[.panels[]?, (.panels[]?.panels[]? // empty)] | .[]
		| select(.type != "row") | . as $p | .targets[]
		| {record: "dashboard:panel\($p.id):\(.refId)", title: $p.title,
		   expr: (.expr | gsub("\\$__rate_interval"; $ri) | gsub("\\$adapter"; $ad)
		                | gsub("\\$instance"; $in) | gsub("\n"; " "))}' "$dash"
}

# panel_files RUN ADAPTER INSTANCE: the rules file and the test file of one variable setting
panel_files() {
	local run=$1
	targets "$2" "$3" 1m >"$tl_work/targets-$run.jsonl"
	if jq -e -s 'map(select(.expr | test("\\$"))) | length > 0' "$tl_work/targets-$run.jsonl" >/dev/null; then
		echo "a variable Grafana would fill in is left in:" >&2
		jq -r 'select(.expr | test("\\$")) | "\(.title): \(.expr)"' "$tl_work/targets-$run.jsonl" >&2
		return 1
	fi
	# JSON is YAML: promtool reads it as a rules file
	jq -s '{groups: [{name: "dashboard", rules: map({record, expr})}]}' \
		"$tl_work/targets-$run.jsonl" >"$tl_work/rules-$run.json"
	local t r re='@REC\(([^,@]+),([A-Z])\)@'
	t=$(<"$here/dashboard-series.test.yaml.in")
	# @REC(TITLE,REFID)@: the record of that panel target
	while [[ $t =~ $re ]]; do
		r=$(rec "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}") ||
			{ echo "no panel \"${BASH_REMATCH[1]}\" with a target ${BASH_REMATCH[2]}" >&2; return 1; }
		t=${t//"${BASH_REMATCH[0]}"/$r}
	done
	printf '%s\n' "${t//@RULES@/$tl_work/rules-$run.json}" >"$tl_work/test-$run.yaml"
	{
		echo "    promql_expr_test:"
		# every panel target returns at least one sample
		jq -r '"      - expr: '"'"'count(\(.record)) > bool 0'"'"'  # \(.title)\n        eval_time: 10m\n        exp_samples: [{labels: '"'"'{}'"'"', value: 1}]"' \
			"$tl_work/targets-$run.jsonl"
	} >>"$tl_work/test-$run.yaml"
}

# expect RUN RECORD 'LABELS = VALUE'...: the record's samples at 10m are exactly these (' = VALUE'
# for a sample without labels)
expect() {
	local run=$1 record=$2
	shift 2
	{
		echo "      - expr: '$record'"
		echo "        eval_time: 10m"
		echo "        exp_samples:"
		for lv in "$@"; do
			echo "          - {labels: '$record{${lv% = *}}', value: ${lv##* = }}"
		done
	} >>"$tl_work/test-$run.yaml"
}

check_structure() { lint "$dash"; }

check_sketch_refused() {
	local out
	if out=$(lint "$here/dashboard-sketch.json"); then
		echo "the validator accepted the seed's sketch" >&2
		return 1
	fi
	printf '%s\n' "$out"
	grep -q 'panel 2 (Transaction Latency): panel type "graph" was removed' <<<"$out"
	grep -q 'panel 3 (Error Rate): panel type "graph" was removed' <<<"$out"
	grep -q 'panel 4 (Adapter Health): panel type "singlestat" was removed' <<<"$out"
}

# the same validator on our dashboard with two panels turned into the seed's types: exactly those
# two refusals
check_types_refused() {
	local out
	jq '(.panels[] | select(.title == "Transaction latency (p50, p95, p99)")).type = "graph"
	    | (.panels[] | select(.title == "Adapter health")).type = "singlestat"' \
		"$dash" >"$tl_work/deprecated.json"
	if out=$(lint "$tl_work/deprecated.json"); then
		echo "the validator accepted graph and singlestat panels" >&2
		return 1
	fi
	printf '%s\n' "$out"
	[[ $(wc -l <<<"$out") -eq 2 ]]
	grep -q '(Transaction latency (p50, p95, p99)): panel type "graph" was removed' <<<"$out"
	grep -q '(Adapter health): panel type "singlestat" was removed' <<<"$out"
}

check_parse() {
	panel_files all '.*' '.*'
	[[ $(wc -l <"$tl_work/targets-all.jsonl") -ge 30 ]]
	promtool check rules "$tl_work/rules-all.json"
}

check_eval_all() {
	panel_files all '.*' '.*'
	expect all "$(rec 'Transaction success rate' A)" 'adapter="solana" = 0.9375' 'adapter="polygon" = 0.96875'
	expect all "$(rec 'Transaction error ratio' A)" 'adapter="solana" = 0.0625' 'adapter="polygon" = 0.03125'
	expect all "$(rec 'Transaction latency (p50, p95, p99)' A)" 'adapter="solana" = 1.2' 'adapter="polygon" = 2.5555555555555554'
	expect all "$(rec 'Transaction latency (p50, p95, p99)' B)" 'adapter="solana" = 2.5' 'adapter="polygon" = 4'
	expect all "$(rec 'RPC error ratio' A)" 'adapter="solana" = 0.01' 'adapter="polygon" = 0.04'
	expect all "$(rec 'RPC errors by type' A)" 'adapter="solana",error_type="connection_timeout" = 1' \
		'adapter="polygon",error_type="rpc_error" = 2'
	# solana-1 crashed (up 0, no health series): solana DOWN, and one target down
	expect all "$(rec 'Adapter health' A)" 'adapter="solana" = 0' 'adapter="polygon" = 1'
	expect all "$(rec 'Adapter targets down' A)" ' = 1'
	expect all "$(rec 'Signing rate by chain and status' A)" 'chain="solana",status="signed" = 15' \
		'chain="evm",status="signed" = 20' 'chain="evm",status="denied" = 1'
	expect all "$(rec 'Policy denials by reason' A)" 'reason="evm.recipient_not_allowed" = 0.5' 'reason="rate_limited" = 0.5'
	expect all "$(rec 'Audit log health' C)" 'instance="signer-a:9810",job="signerd" = 5' 'instance="signer-b:9810",job="signerd" = 5'
	# the ages of the targets backed up; the one never backed up (0) apart, not 56 years old
	expect all "$(rec 'Backup age per target' A)" 'instance="signer-a:9810",job="signerd",target="region-a" = 300' \
		'instance="signer-a:9810",job="signerd",target="region-b" = 540' \
		'instance="signer-b:9810",job="signerd",target="region-a" = 300' \
		'instance="signer-b:9810",job="signerd",target="region-b" = 540'
	expect all "$(rec 'Backup age per target' B)" 'instance="signer-a:9810",job="signerd",target="offline" = 0'
	promtool test rules "$tl_work/test-all.yaml"
}

check_eval_one() {
	panel_files one polygon 'signer-a:9810'
	expect one "$(rec 'Transaction success rate' A)" 'adapter="polygon" = 0.96875'
	expect one "$(rec 'Transaction error ratio' A)" 'adapter="polygon" = 0.03125'
	expect one "$(rec 'Transaction latency (p50, p95, p99)' B)" 'adapter="polygon" = 4'
	expect one "$(rec 'Signing rate by chain and status' A)" 'chain="solana",status="signed" = 10' \
		'chain="evm",status="signed" = 20' 'chain="evm",status="denied" = 1'
	expect one "$(rec 'Token logged in' A)" 'instance="signer-a:9810",job="signerd" = 1'
	# only polygon's targets: solana-1's is down
	expect one "$(rec 'Adapter health' A)" 'adapter="polygon" = 1'
	expect one "$(rec 'Adapter targets down' A)" ' = 0'
	expect one "$(rec 'Backup age per target' A)" 'instance="signer-a:9810",job="signerd",target="region-a" = 300' \
		'instance="signer-a:9810",job="signerd",target="region-b" = 540'
	expect one "$(rec 'Backup age per target' B)" 'instance="signer-a:9810",job="signerd",target="offline" = 0'
	promtool test rules "$tl_work/test-one.yaml"
}

# every metric a panel queries is one signerd exports or the guide defines (metrics-defined.sh)
check_metrics_exist() {
	jq -r '[.panels[]?, (.panels[]?.panels[]? // empty)] | .[] | .targets[]?.expr // empty' "$dash" | metrics_defined
}

test_expect "the dashboard's structure is what current Grafana imports" check_structure
test_expect "the validator refuses the seed's sketch: graph and singlestat panels" check_sketch_refused
test_expect "the validator refuses graph and singlestat in this dashboard, and nothing else" check_types_refused
test_expect "every panel query parses (promtool check rules)" check_parse
test_expect "every panel returns data, the key panels the values computed by hand (All)" check_eval_all
test_expect "with adapter=polygon and instance=signer-a:9810 the panels show only those" check_eval_one
test_expect "every metric the panels query exists (signerd's sources, the guide)" check_metrics_exist
test_done
