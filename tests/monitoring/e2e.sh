#!/usr/bin/env bash
# Monitoring end to end (the "PagerDuty or equivalent" item of the readiness
# checklist, proven). A real signerd on a dev environment, Prometheus 2.42 scraping its ops
# listener with the shipped rules (docs/blockchain/prometheus-alerts.yaml; the test copy has its
# `for:` durations shortened, nothing else), Alertmanager 0.25 with the shipped
# docs/blockchain/alertmanager.yml (the test copy has only the receivers' endpoints pointed at the
# test's own receiver: PagerDuty's `url:` and the files of /etc/prometheus/secrets/), and a webhook
# receiver (webhook-receiver.mjs) standing in for PagerDuty and Slack, recording what arrives.
#   healthy: the target is up, every rule loaded, and neither SignerDown nor SignerTokenLoggedOut
#   is pending, firing or notified;
#   kill -9 signerd: SignerDown reaches the pager (PagerDuty event, severity critical, runbook link);
#   signerd again, then its token's storage taken away behind it (the process stays up):
#   SignerTokenLoggedOut reaches the pager; the token back: the alert resolves;
#   a warning reaches the chat receiver; the inhibit rules hold in the running Alertmanager.
signerd=$1 signerctl=$2 root=$3 node=${4:-node}
TL_NAME=monitoring_e2e TL_ROOT=$root SIGNERD=$signerd SIGNERCTL=$signerctl
. "$(dirname "$0")/../integration/test-lib.sh"
w=$tl_work
here=$(cd "$(dirname "$0")" && pwd)
rules=$root/docs/blockchain/prometheus-alerts.yaml
amconfig=$root/docs/blockchain/alertmanager.yml
runbooks=https://signerd.example/docs/blockchain/adapter-operations.md
prometheus=${PROMETHEUS:-prometheus}
alertmanager=${ALERTMANAGER:-prometheus-alertmanager}
amtool=${AMTOOL:-amtool}
# a shortened `for:` (long enough that one slow scrape on a loaded machine does not fire an alert)
short_for=5s

# stops here (with the summary and the servers' logs) when something the rest depends on failed
bail_if_failed() {
	((TL_FAILS == 0)) && return 0
	echo "stopping after: $1" >&2
	for f in prometheus alertmanager receiver signerd; do
		[[ -s $w/$f.log ]] && { echo "--- $f.log" >&2; tail -n 15 "$w/$f.log" >&2; }
	done
	test_done
	exit 1
}

test_expect "the shipped rules exist: $rules" test -f "$rules"
test_expect "the shipped Alertmanager config exists: $amconfig" test -f "$amconfig"
test_expect "prometheus, prometheus-alertmanager, amtool and node are installed (tools/deps)" \
	command -v "$prometheus" "$alertmanager" "$amtool" "$node"
bail_if_failed "the files and programs"

# --- ports: each server its own (tl_port checks that nothing listens; the set keeps this test's
# own picks apart before their servers listen) ---
used=" "
pick_port() { # pick_port VAR
	local -n var=$1
	local p
	for _ in $(seq 1 50); do
		p=$(tl_port)
		[[ $used == *" $p "* || $used == *" $((p + 1)) "* ]] && continue
		used+="$p $((p + 1)) "
		var=$p
		return 0
	done
	return 1
}

# --- signerd on a dev environment ---
tl_dev_env "$w/env"
used+="$tl_api_port $tl_ops_port "
env=$w/env
cfg=$env/signerd.yaml
inst=127.0.0.1:$tl_ops_port
pick_port prom_port
pick_port am_port
pick_port hook_port
tl_signerd_start "$cfg" "$w/signerd.log"

# --- the test copies ---
# rules: every `for:` (and `keep_firing_for:`) at most $short_for; a diff shows nothing else changed
awk -v short="$short_for" '
	function secs(d,   n, s, u) { s = 0
		while (match(d, /^[0-9]+(ms|s|m|h|d|w|y)/)) {
			n = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			u = n; sub(/^[0-9]+/, "", u); n += 0
			s += u == "ms" ? n / 1000 : u == "s" ? n : u == "m" ? n * 60 : u == "h" ? n * 3600 : u == "d" ? n * 86400 : u == "w" ? n * 604800 : n * 31536000 }
		return s }
	match($0, /^[[:space:]]*(keep_firing_)?for:[[:space:]]*/) {
		key = substr($0, 1, RLENGTH); v = substr($0, RLENGTH + 1); gsub(/["'\'' ]/, "", v)
		if (secs(v) > secs(short)) { print key short; next } }
	{ print }' "$rules" >"$w/rules.yaml"
only_for_changed() {
	diff "$rules" "$w/rules.yaml" | grep '^[<>]' | grep -Ev '^[<>][[:space:]]*(keep_firing_)?for:' && return 1
	grep -Eq "^[[:space:]]*for: $short_for\$" "$w/rules.yaml"
}
test_expect "the rules' test copy differs only in its for: durations" only_for_changed
test_expect "promtool accepts the test copy" promtool check rules "$w/rules.yaml"

# Alertmanager: the shipped file with only the endpoints replaced: PagerDuty's `url:` by the
# receiver's /pagerduty, and /etc/prometheus/secrets/ by a directory of the test's, which holds a
# routing key of its own and the Slack webhook URL (the receiver's /slack). The routing tree,
# inhibit rules, timings and templates are the shipped ones (checked below).
mkdir -m 0700 "$w/secrets"
routing_key=$(head -c 16 /dev/urandom | xxd -p)
(umask 0377; printf '%s' "$routing_key" >"$w/secrets/pagerduty-routing-key"
	printf 'http://127.0.0.1:%s/slack' "$hook_port" >"$w/secrets/slack-webhook-url")
sed -E -e "s|^([[:space:]]*url:[[:space:]]*)['\"]?https://events(\.eu)?\.pagerduty\.com/[^'\" ]*['\"]?|\1http://127.0.0.1:$hook_port/pagerduty|" \
	-e "/^[[:space:]]*(- )?[a-z_]+_file:/s|/etc/prometheus/secrets/|$w/secrets/|" "$amconfig" >"$w/alertmanager.yml"
only_endpoints_changed() {
	diff "$amconfig" "$w/alertmanager.yml" | grep '^[<>]' |
		grep -Ev '^[<>][[:space:]]*(-[[:space:]]+)?(url|routing_key_file|api_url_file):' && return 1
	test "$(diff "$amconfig" "$w/alertmanager.yml" | grep -c '^>')" = 3
}
test_expect "the Alertmanager test copy differs only in the receivers' endpoints (url, two secret files)" only_endpoints_changed
test_expect "amtool check-config passes on the shipped file" "$amtool" check-config "$amconfig"
test_expect "and on the test copy" "$amtool" check-config "$w/alertmanager.yml"
same_tree() {
	diff <("$amtool" config routes show --config.file="$amconfig" 2>/dev/null) \
		<("$amtool" config routes show --config.file="$w/alertmanager.yml" 2>/dev/null)
}
test_expect "the test copy's routing tree is the shipped one" same_tree
routes_to() { # routes_to RECEIVER LABEL=VALUE...
	local want=$1
	shift
	"$amtool" config routes test --config.file="$amconfig" --verify.receivers="$want" "$@"
}
test_expect "amtool: a critical signerd alert pages (oncall-pager)" routes_to oncall-pager alertname=SignerDown severity=critical instance=signer-1:9810 job=signerd
test_expect "amtool: a critical adapter alert pages" routes_to oncall-pager alertname=AdapterDown severity=critical adapter=solana
test_expect "amtool: a warning goes to the chat (ops-chat)" routes_to ops-chat alertname=SignerCertificateExpiringSoon severity=warning instance=signer-1:9810 cert=server
test_expect "amtool: an adapter warning goes to the chat" routes_to ops-chat alertname=SlowTransactions severity=warning adapter=polygon
test_expect "amtool: an alert without a known severity still reaches the chat" routes_to ops-chat alertname=Unknown severity=info
bail_if_failed "the configurations"

# --- the servers ---
"$node" "$here/webhook-receiver.mjs" "$hook_port" "$w/hooks.jsonl" >"$w/receiver.log" 2>&1 &
tl_pids+=($!)
: >"$w/hooks.jsonl"
"$alertmanager" --config.file="$w/alertmanager.yml" --storage.path="$w/am-data" \
	--web.listen-address="127.0.0.1:$am_port" --web.external-url="http://127.0.0.1:$am_port" \
	--cluster.listen-address= --log.level=info >"$w/alertmanager.log" 2>&1 &
tl_pids+=($!)
cat >"$w/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ['$w/rules.yaml']
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$am_port']}]
scrape_configs:
  - job_name: signerd
    static_configs: [{targets: ['$inst']}]
EOF
"$prometheus" --config.file="$w/prometheus.yml" --storage.tsdb.path="$w/prom-data" \
	--web.listen-address="127.0.0.1:$prom_port" --log.level=info >"$w/prometheus.log" 2>&1 &
tl_pids+=($!)
# at exit, however the test ends: SIGTERM, a few seconds to stop (then test-lib's kill -9)
stop_servers() {
	local p st
	kill -TERM "$@" 2>/dev/null || true
	for p in "$@"; do
		for _ in $(seq 1 50); do
			st=$(ps -o stat= -p "$p" 2>/dev/null) || break # gone
			[[ $st == Z* ]] && break                        # exited, not yet reaped
			sleep 0.1
		done
	done
}
tl_on_exit "stop_servers ${tl_pids[*]}"

ready() { curl -sf --max-time 5 -o /dev/null "$1"; }
test_expect "the webhook receiver answers" tl_until 30 ready "http://127.0.0.1:$hook_port/"
test_expect "Alertmanager is ready (gossip off: --cluster.listen-address=)" tl_until 60 ready "http://127.0.0.1:$am_port/-/ready"
test_expect "Prometheus is ready" tl_until 60 ready "http://127.0.0.1:$prom_port/-/ready"
bail_if_failed "starting the servers"

prom() { curl -sf --max-time 5 "http://127.0.0.1:$prom_port$1" "${@:2}"; }
am() { curl -sf --max-time 5 "http://127.0.0.1:$am_port$1" "${@:2}"; }
query() { prom /api/v1/query --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
target_is() { # target_is up|down
	prom /api/v1/targets | jq -e --arg i "$inst" --arg h "$1" \
		'[.data.activeTargets[] | select(.labels.job == "signerd" and .labels.instance == $i)] | length == 1 and .[0].health == $h'
}
# the state of alert NAME for our instance in Prometheus: inactive, pending or firing
alert_state() {
	prom /api/v1/rules | jq -er --arg n "$1" --arg i "$inst" \
		'[.data.groups[].rules[] | select(.type == "alerting" and .name == $n)] | if length == 0 then "missing" else
		 ([.[].alerts[]? | select(.labels.instance == $i or .labels.instance == null) | .state] |
		  if index("firing") then "firing" elif index("pending") then "pending" else "inactive" end) end'
}
alert_is() { test "$(alert_state "$1")" = "$2"; }
alert_is_not() { local s; s=$(alert_state "$1") && test "$s" != "$2" && test "$s" != missing; }
# Alertmanager's view of alert NAME for our instance (the alert objects, as a JSON array)
am_alerts() { am /api/v2/alerts | jq -c --arg n "$1" --arg i "$inst" '[.[] | select(.labels.alertname == $n and .labels.instance == $i)]'; }
am_active() { am_alerts "$1" | jq -e 'length > 0 and all(.status.state == "active")'; }
am_absent() { am_alerts "$1" | jq -e 'length == 0'; }
# what the receiver got: PagerDuty events (triggers) for alert NAME of our instance
pages() { jq -c --arg n "$1" --arg i "$inst" --arg a "${2:-trigger}" 'select(.path == "/pagerduty") | .body |
	select(.event_action == $a and .payload.custom_details.alertname == $n and .payload.custom_details.instance == $i)' "$w/hooks.jsonl"; }
paged() { test -n "$(pages "$@")"; }
not_paged() { test -z "$(pages "$1")"; }
# (jq -s: jq 1.6's -e looks at the last line's result only)
not_in_chat() { jq -se --arg n "$1" --arg i "$inst" 'map(select(.path == "/slack") | .body.attachments[]? | select((.title | contains($n)) and (.text | contains($i)))) | length == 0' "$w/hooks.jsonl"; }
# a page as the shipped pagerduty_configs make it: our routing key (read from its file), severity
# critical, the summary naming the alert, a link to its runbook and the runbook in the details
page_is_right() { # page_is_right NAME SLUG
	local page
	page=$(pages "$1" | sed -n 1p) # (sed reads it all: head could leave pages a SIGPIPE, which pipefail counts)
	jq 'del(.routing_key)' <<<"$page" # shown on failure (the key is not)
	jq -e --arg k "$routing_key" --arg n "$1" --arg r "$runbooks#$2" '.routing_key == $k and
		.payload.severity == "critical" and (.payload.summary | contains($n)) and
		.payload.custom_details.severity == "critical" and .payload.custom_details.runbook_url == $r and
		.links[0].href == $r and (.dedup_key | length > 0)' <<<"$page"
}
# Alertmanager holds it as Prometheus sent it: labels severity critical, the runbook_url annotation,
# active (not inhibited), for the pager
am_alert_is_right() { # am_alert_is_right NAME SLUG
	am_alerts "$1" | tee /dev/stderr | jq -e --arg r "$runbooks#$2" 'length == 1 and .[0].labels.severity == "critical" and
		.[0].annotations.runbook_url == $r and .[0].status.state == "active" and
		(.[0].receivers | map(.name) == ["oncall-pager"]) and (.[0].labels.job == "signerd")'
}
synthetic() { # synthetic LABELS_JSON: posts one alert to Alertmanager's API, as Prometheus would
	am /api/v2/alerts -X POST -H 'Content-Type: application/json' -o /dev/null \
		--data-binary "[{\"labels\":$1,\"annotations\":{\"summary\":\"synthetic alert of monitoring_e2e\",\"runbook_url\":\"$runbooks#runbook-signer-down\"}}]"
}

# A warning, posted now (the chat's group_wait is 30 s: it is checked at the end)
test_expect "a synthetic warning is accepted by Alertmanager" synthetic \
	'{"alertname":"SignerRateLimited","severity":"warning","instance":"route-test:1","job":"signerd"}'

# --- (a) healthy: the target is up, the rules loaded, nothing of ours pending or notified ---
test_expect "Prometheus scrapes signerd (job signerd, target up)" tl_until 60 target_is up
up_at=$SECONDS
query_is() { test "$(query "$1")" = "$2"; } # query_is PROMQL VALUE
test_expect "and reads signer_token_logged_in 1 from it" tl_until 30 query_is "signer_token_logged_in{instance=\"$inst\"}" 1
mapfile -t shipped_alerts < <(sed -nE 's/^[[:space:]]*-?[[:space:]]*alert:[[:space:]]*["'\'']?([A-Za-z0-9_:]+).*/\1/p' "$rules")
rules_loaded() {
	local loaded
	loaded=$(prom /api/v1/rules | jq -r '.data.groups[].rules[] | select(.type == "alerting" and .health == "ok") | .name' | sort -u)
	test "${#shipped_alerts[@]}" -gt 0
	for a in "${shipped_alerts[@]}"; do grep -qx "$a" <<<"$loaded" || { echo "not loaded (or unhealthy): $a"; return 1; }; done
}
test_expect "/api/v1/rules lists every alert of the shipped file (${#shipped_alerts[@]}), healthy" tl_until 30 rules_loaded
test_expect "SignerDown and SignerTokenLoggedOut are among them" bash -c "printf '%s\n' ${shipped_alerts[*]} | grep -qx SignerDown && printf '%s\n' ${shipped_alerts[*]} | grep -qx SignerTokenLoggedOut"
# every shipped alert goes where its severity says (the severities as Prometheus loaded them)
every_alert_routed() {
	local name sev want
	prom /api/v1/rules | jq -r '.data.groups[].rules[] | select(.type == "alerting") | "\(.name) \(.labels.severity // "")"' |
		while read -r name sev; do
			case $sev in critical) want=oncall-pager ;; warning) want=ops-chat ;; *) echo "$name: severity '$sev'"; return 1 ;; esac
			routes_to "$want" alertname="$name" severity="$sev" instance=signer-1:9810 adapter=solana >/dev/null 2>&1 ||
				{ echo "$name ($sev) does not reach $want"; return 1; }
		done
}
test_expect "amtool: every loaded alert reaches the receiver of its severity" every_alert_routed
bail_if_failed "Prometheus scraping signerd with the shipped rules"
# long enough for a pending alert to have fired ($short_for) and reached Alertmanager
while ((SECONDS < up_at + 8)); do sleep 0.5; done
for a in SignerDown SignerTokenLoggedOut; do
	# (not firing: a scrape that times out on a loaded machine may make SignerDown pending, for
	# less than its for:)
	test_expect "healthy: $a is not firing in Prometheus" alert_is_not $a firing
	test_expect "healthy: Alertmanager has no $a" am_absent $a
	test_expect "healthy: no page for $a" not_paged $a
done

# --- (b) kill -9 signerd: SignerDown reaches the pager ---
kill -9 "$tl_signerd_pid"
wait "$tl_signerd_pid" 2>/dev/null || true
tl_signerd_pid=
killed_at=$SECONDS
test_expect "killed: the target goes down" tl_until 30 target_is down
test_expect "killed: SignerDown fires in Prometheus" tl_until 60 alert_is SignerDown firing
bail_if_failed "SignerDown in Prometheus"
test_expect "killed: Alertmanager has SignerDown, active" tl_until 60 am_active SignerDown
bail_if_failed "SignerDown in Alertmanager"
test_expect "killed: SignerDown is paged (PagerDuty event, trigger)" tl_until 90 paged SignerDown
echo "SignerDown paged $((SECONDS - killed_at)) s after kill -9"
test_expect "the page: our routing key, severity critical, the summary, the runbook link" page_is_right SignerDown runbook-signer-down
test_expect "Alertmanager's alert: severity critical, runbook_url, active, for oncall-pager" am_alert_is_right SignerDown runbook-signer-down
test_expect "SignerDown did not go to the chat" not_in_chat SignerDown
bail_if_failed "SignerDown"

# --- (c) signerd again; then the token's storage goes behind its back ---
tl_signerd_start "$cfg" "$w/signerd.log"
test_expect "restarted: the target is up again" tl_until 60 target_is up
test_expect "restarted: SignerDown resolves in Prometheus" tl_until 60 alert_is SignerDown inactive
# (resolved in Alertmanager too, or it would inhibit the token alert of the same instance)
am_resolved() { am_alerts SignerDown | jq -e 'all(.status.state != "active" or (.endsAt | sub("\\.[0-9]+"; "") | fromdateiso8601) <= now)'; }
test_expect "restarted: SignerDown is resolved in Alertmanager" tl_until 60 am_resolved
bail_if_failed "signerd's restart"

# signer_token_logged_in is the key store's health: it goes 0 when a token operation finds the
# token gone and its recovery fails (docs/keystore.md, "Sessions and recovery"). SoftHSM2's token
# is its directory: taken away (as an unplugged HSM), C_GetTokenInfo fails, the re-initialisation
# finds no token, and signerd keeps running, answering 503. Nothing but Prometheus' scrapes
# touches the idle signerd here (no sign request, no /readyz probe): each scrape asks the token
# (api/ops.c), so the gauge goes 0 without a kubelet probing /readyz.
mv "$env/tokens" "$w/tokens.away"
broken_at=$SECONDS
test_expect "token gone: signer_token_logged_in 0 in Prometheus (scrapes alone)" tl_until 30 query_is "signer_token_logged_in{instance=\"$inst\"}" 0
not_ready() { test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$tl_ops_port/readyz")" = 503; }
test_expect "token gone: /readyz 503" tl_until 30 not_ready
test_expect "token gone: signerd still runs and /healthz answers 200" bash -c "kill -0 $tl_signerd_pid && curl -sf -o /dev/null http://127.0.0.1:$tl_ops_port/healthz"
test_expect "token gone: SignerTokenLoggedOut fires in Prometheus" tl_until 60 alert_is SignerTokenLoggedOut firing
bail_if_failed "the token's loss in Prometheus"
test_expect "token gone: Alertmanager has SignerTokenLoggedOut, active (not inhibited)" tl_until 60 am_active SignerTokenLoggedOut
bail_if_failed "SignerTokenLoggedOut in Alertmanager"
test_expect "token gone: SignerTokenLoggedOut is paged" tl_until 90 paged SignerTokenLoggedOut
echo "SignerTokenLoggedOut paged $((SECONDS - broken_at)) s after the token went"
test_expect "the page: our routing key, severity critical, the summary, the runbook link" page_is_right SignerTokenLoggedOut runbook-token-lost
test_expect "Alertmanager's alert: severity critical, runbook_url, active, for oncall-pager" am_alert_is_right SignerTokenLoggedOut runbook-token-lost
test_expect "signerd still runs" kill -0 "$tl_signerd_pid"

# the token back: the key store recovers (at most once a second), the alert resolves
mv "$w/tokens.away" "$env/tokens"
is_ready() { test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$tl_ops_port/readyz")" = 200; }
test_expect "token back: /readyz 200" tl_until 30 is_ready
test_expect "token back: SignerTokenLoggedOut resolves in Prometheus" tl_until 60 alert_is SignerTokenLoggedOut inactive

# --- the chat receiver and the inhibit rules, in the running Alertmanager ---
in_chat() {
	jq -se 'map(select(.path == "/slack") | .body.attachments[]? | select((.title | contains("SignerRateLimited")) and
		(.text | contains("route-test:1")) and (.title_link | endswith("#runbook-signer-down")))) | length > 0' "$w/hooks.jsonl"
}
test_expect "the warning reached the chat (Slack, its URL read from its file)" tl_until 60 in_chat
not_paged_at_all() { jq -se --arg n "$1" 'map(select(.path == "/pagerduty" and .body.payload.custom_details.alertname == $n)) | length == 0' "$w/hooks.jsonl"; }
test_expect "and was not paged" not_paged_at_all SignerRateLimited
synthetic '{"alertname":"SignerDown","severity":"critical","instance":"inhibit-test:1","job":"signerd"}'
synthetic '{"alertname":"SignerAuditWriteFailures","severity":"critical","instance":"inhibit-test:1","job":"signerd"}'
synthetic '{"alertname":"SignerAuditWriteFailures","severity":"critical","instance":"inhibit-test:2","job":"signerd"}'
synthetic '{"alertname":"AdapterDown","severity":"critical","adapter":"solana","job":"blockchain-adapters"}'
synthetic '{"alertname":"HighErrorRate","severity":"critical","adapter":"solana"}'
synthetic '{"alertname":"HighErrorRate","severity":"critical","adapter":"polygon"}'
state_of() { # state_of ALERTNAME LABEL VALUE
	am /api/v2/alerts | jq -r --arg n "$1" --arg l "$2" --arg v "$3" '.[] | select(.labels.alertname == $n and .labels[$l] == $v) | .status.state'
}
state_is() { test "$(state_of "${@:2}")" = "$1"; } # state_is STATE ALERTNAME LABEL VALUE
test_expect "inhibit: SignerDown suppresses the other alerts of its instance" tl_until 10 state_is suppressed SignerAuditWriteFailures instance inhibit-test:1
test_expect "inhibit: but not those of another instance" state_is active SignerAuditWriteFailures instance inhibit-test:2
test_expect "inhibit: nor SignerDown itself" state_is active SignerDown instance inhibit-test:1
test_expect "inhibit: AdapterDown suppresses its adapter's HighErrorRate" state_is suppressed HighErrorRate adapter solana
test_expect "inhibit: not another adapter's" state_is active HighErrorRate adapter polygon

tl_signerd_stop
test_expect "signerd stops cleanly (SIGTERM: exit 0)" test "$tl_signerd_rc" = 0
echo "runtime ${SECONDS} s"
test_done
