#!/usr/bin/env bash
# tests/monitoring/rules.sh [ROOT]: docs/blockchain/prometheus-alerts.yaml loads (`promtool check
# rules`) and passes its unit tests (rules.test.yaml: every alert fires when it should and stays
# silent when it should not, on both sides of each threshold); a real Prometheus loads it, and what
# it loaded (/api/v1/rules) is the contract's alert list: each alert with its severity (critical or
# warning), a summary, a description and a runbook_url whose fragment is the GitHub slug of a
# "### Runbook:" heading of docs/blockchain/adapter-operations.md; each has unit tests; each metric
# the rules query exists (signerd's sources, the guide's metric definitions).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$root/tests/monitoring
TL_NAME=rules
. "$root/tests/integration/test-lib.sh"
. "$root/tests/monitoring/metrics-defined.sh"
rules=$root/docs/blockchain/prometheus-alerts.yaml
guide=${GUIDE:-$root/docs/blockchain/adapter-operations.md}
base_url=https://signerd.example/docs/blockchain/adapter-operations.md
for c in promtool prometheus curl jq; do
	command -v $c >/dev/null || { echo "$c not found (tools/deps)" >&2; exit 1; }
done

# The alerts the guide and Alertmanager rely on: alert, severity, runbook heading's slug
contract="AdapterDown critical runbook-adapter-crash
HighErrorRate critical runbook-transaction-failures
SlowTransactions warning runbook-congestion-and-high-gas
HighRpcErrorRate warning runbook-rpc-outage
SignerDown critical runbook-signer-down
SignerTokenLoggedOut critical runbook-token-lost
SignerHsmErrors warning runbook-token-lost
SignerAuditWriteFailures critical runbook-audit-disk-full
SignerAuditAnchorRefused critical runbook-audit-anchor-refused-start
SignerCertificateExpiringSoon warning runbook-certificate-expiry
SignerCertificateExpiryCritical critical runbook-certificate-expiry
SignerCrlExpiringSoon warning runbook-certificate-expiry
SignerPolicyDenialsSpike warning runbook-policy-denials-or-rate-limiting
SignerRateLimited warning runbook-policy-denials-or-rate-limiting
SignerBackupStale warning runbook-backup-target-down
SignerBackupKeysMissing critical runbook-backup-target-down
SignerKeyCompromised critical runbook-key-compromise-or-rotation
SignerReadinessStale warning runbook-signer-down
SignerReadinessCheckFailing warning runbook-readiness-check-failing"

# slug TEXT: GitHub's anchor for a heading's text: lower case, every character that is not a
# letter, digit, underscore, hyphen or space dropped, each space a hyphen
slug() {
	local s=${1,,}
	s=$(sed -E 's/[^[:alnum:]_ -]//g' <<<"$s")
	printf '%s\n' "${s// /-}"
}

# anchors FILE: "slug<TAB>heading" for every heading outside code fences, as GitHub numbers them
# (a repeated slug gets -1, -2, ...)
anchors() {
	local text s
	local -A seen=()
	while IFS= read -r text; do
		s=$(slug "$text")
		if [[ -n ${seen[$s]+x} ]]; then
			seen[$s]=$((seen[$s] + 1))
			s=$s-${seen[$s]}
		else
			seen[$s]=0
		fi
		printf '%s\t%s\n' "$s" "$text"
	done < <(awk '/^ *(```|~~~)/ { fence = !fence; next }
		!fence && /^ *##?#?#?#?#?[ \t]/ { sub(/^ *#+[ \t]+/, ""); sub(/[ \t]+#+[ \t]*$/, ""); sub(/[ \t]+$/, ""); print }' "$1")
}

check_slug() {
	[[ $(slug "Runbook: adapter crash") == runbook-adapter-crash ]]
	[[ $(slug "Runbook: RPC outage") == runbook-rpc-outage ]]
	[[ $(slug "Runbook: policy denials or rate limiting") == runbook-policy-denials-or-rate-limiting ]]
	[[ $(slug "Hello, World! (v2.0)") == hello-world-v20 ]]
	[[ $(slug "signer_key_info: the \`state\` label") == signer_key_info-the-state-label ]]
	[[ $(slug "RTO/RPO -- measured") == rtorpo----measured ]]
	printf '%s\n' '# Guide' '## Runbooks' '```sh' '# not a heading' '```' '### Runbook: token lost' \
		'### Runbook: token lost' '### Runbook: RPC outage ##' >"$tl_work/anchors.md"
	diff <(anchors "$tl_work/anchors.md" | cut -f1) <(printf '%s\n' guide runbooks runbook-token-lost \
		runbook-token-lost-1 runbook-rpc-outage)
}

check_rules() { promtool check rules "$rules"; }
check_unit() { promtool test rules "$here/rules.test.yaml"; }

# What a real Prometheus loaded: its rules API, fetched once (the server is stopped at once)
port=$(tl_port)
printf 'global: {evaluation_interval: 1h}\nrule_files: ["%s"]\n' "$rules" >"$tl_work/prometheus.yml"
prometheus --config.file="$tl_work/prometheus.yml" --storage.tsdb.path="$tl_work/data" \
	--web.listen-address="127.0.0.1:$port" >"$tl_work/prometheus.log" 2>&1 &
prom_pid=$!
tl_pids+=("$prom_pid")
loaded=false
if tl_until 30 curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null &&
	curl -fsS "http://127.0.0.1:$port/api/v1/rules" >"$tl_work/api.json"; then
	loaded=true
fi
kill "$prom_pid" 2>/dev/null || true
wait "$prom_pid" 2>/dev/null || true

alerts() { jq -c '.data.groups[].rules[] | select(.type == "alerting")' "$tl_work/api.json"; }

check_loaded() {
	$loaded || { tail -n 20 "$tl_work/prometheus.log"; return 1; }
	# as many rules as the contract has alerts (check_contract compares them one by one)
	jq -e --argjson n "$(wc -l <<<"$contract")" '.status == "success" and ([.data.groups[].rules[]] | length) == $n' \
		"$tl_work/api.json" >/dev/null
}

check_contract() {
	$loaded
	diff <(alerts | jq -r '"\(.name) \(.labels.severity) \(.annotations.runbook_url // "" | sub("^.*#"; ""))"' | sort) \
		<(sort <<<"$contract")
	# and the URL is the guide's, not only its fragment
	alerts | jq -e --arg b "$base_url#" 'select((.annotations.runbook_url // "") | startswith($b) | not)' && return 1
	return 0
}

check_annotations() {
	$loaded
	alerts | jq -e -s 'map(select(
		((.labels.severity // "") | IN("critical", "warning") | not)
		or (.annotations.summary // "") == "" or (.annotations.description // "") == ""
		or (.annotations.runbook_url // "") == "")) | length == 0' >/dev/null || {
		alerts | jq -r 'select(((.labels.severity // "") | IN("critical", "warning") | not) or
			(.annotations.summary // "") == "" or (.annotations.description // "") == "" or
			(.annotations.runbook_url // "") == "") | "\(.name): severity, summary, description or runbook_url missing"'
		return 1
	}
}

check_runbooks() {
	$loaded
	[[ -f $guide ]] || { echo "$guide is missing (its runbook headings are the alerts' runbook_url)" >&2; return 1; }
	anchors "$guide" | awk -F '\t' '$2 ~ /^Runbook: /' | cut -f1 | sort -u >"$tl_work/runbook-slugs"
	local bad=0 a url frag
	while read -r a url; do
		frag=${url#*#}
		grep -qxF -- "$frag" "$tl_work/runbook-slugs" ||
			{ echo "$a: $url names no \"### Runbook:\" heading of the guide" >&2; bad=1; }
	done < <(alerts | jq -r '"\(.name) \(.annotations.runbook_url)"')
	return $bad
}

# every alert has unit tests: a test where it fires and one where it must not
check_tested() {
	$loaded
	local a bad=0
	for a in $(alerts | jq -r .name); do
		awk -v a="$a" '$0 ~ "alertname: " a "$" { getline; if ($0 ~ /exp_alerts: \[\]/) quiet++; else fires++ }
			END { exit !(quiet > 0 && fires > 0) }' "$here/rules.test.yaml" ||
			{ echo "$a: rules.test.yaml lacks a test where it fires or one where it stays silent" >&2; bad=1; }
	done
	return $bad
}

check_metrics_exist() {
	$loaded
	alerts | jq -r .query | metrics_defined
}

test_expect "the GitHub slug function and heading anchors" check_slug
test_expect "promtool check rules passes" check_rules
test_expect "promtool test rules passes (every alert, both sides of its thresholds)" check_unit
test_expect "Prometheus loads the rules" check_loaded
test_expect "the alerts are the contract's, with its severities and runbooks" check_contract
test_expect "every alert has a severity, a summary, a description and a runbook_url" check_annotations
test_expect "every runbook_url is a \"### Runbook:\" heading of the guide" check_runbooks
test_expect "every alert has a test where it fires and one where it stays silent" check_tested
test_expect "every metric the alerts query exists (signerd's sources, the guide)" check_metrics_exist
test_done
