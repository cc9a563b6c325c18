# jq -r -f dashboard-lint.jq DASHBOARD.json: one line per problem of a Grafana dashboard, none when
# it is importable as docs/blockchain/grafana-dashboard.json promises (tests/monitoring/dashboard.sh):
# a current schema; panels of the types current Grafana has (no graph, singlestat, table-old);
# a `datasource` variable of type datasource (prometheus) that every panel and target uses; the
# `adapter` and `instance` query variables (label_values), used by the selectors of the adapters'
# series (and their targets' up{}) and signerd's; `$__rate_interval` as the range of every rate(),
# irate() and increase() (and no other range but a max_over_time(...[1h]) lookback); unique panel
# ids; a gridPos for each panel, inside 24 columns, no overlap.

def ds: {"type": "prometheus", "uid": "${datasource}"};
def allowed: ["stat", "timeseries", "gauge", "table", "row"];
def removed: ["graph", "singlestat", "table-old", "grafana-singlestat-panel", "grafana-piechart-panel"];
def where: "panel \(.id // "?") (\(.title // "untitled"))";
def allpanels: [.panels[]? | ., (.panels[]? // empty)];
def vars: [.templating.list[]?];
def varquery: if (.query | type) == "object" then .query.query else .query end;
def ranges_ok:
  ([match("(?<![A-Za-z0-9_:])(irate|rate|increase)\\("; "g")] | length) as $calls
  | ([match("(?<![A-Za-z0-9_:])(irate|rate|increase)\\(\\s*[A-Za-z_:][A-Za-z0-9_:]*(\\{[^}]*\\})?\\s*\\[\\$__rate_interval\\]\\s*\\)"; "g")] | length) as $good
  | $calls == $good;
# the one fixed range allowed: max_over_time(SELECTOR[1h]), "reported within the last hour" (the
# adapters AdapterDown calls vanished), a lookback and no rate
def lookback: "(?<![A-Za-z0-9_:])max_over_time\\(\\s*[A-Za-z_:][A-Za-z0-9_:]*(\\{[^}]*\\})?\\s*\\[1h\\]\\s*\\)";
def other_ranges: gsub(lookback; "") | [match("\\[([^\\]]*)\\]"; "g") | .captures[0].string | select(. != "$__rate_interval")];
# the selectors of the adapters' (blockchain_*) and signerd's (signer_*, not the readiness
# textfile's) series, with their label matchers
def selectors: [match("(?<![A-Za-z0-9_:])(blockchain_[a-z0-9_]+|signer_(?!readiness_)[a-z0-9_]+)(\\{[^}]*\\})?"; "g")
  | {metric: .captures[0].string, matchers: (.captures[1].string // "")}];
# the adapters' targets: up{job="blockchain-adapters", ...}, which carry the adapter label too (the
# guide's scrape config)
def adapter_ups: [match("(?<![A-Za-z0-9_:])up\\{[^}]*\\}"; "g") | .string | select(contains("job=\"blockchain-adapters\""))];
def overlap($a; $b):
  $a.x < $b.x + $b.w and $b.x < $a.x + $a.w and $a.y < $b.y + $b.h and $b.y < $a.y + $a.h;

. as $d
| (
  (if (.schemaVersion // 0) < 37 then "schemaVersion \(.schemaVersion // "missing") is older than Grafana 9.4 (37)" else empty end),
  (if (.uid // "") == "" or (.title // "") == "" then "the dashboard needs a uid and a title" else empty end),

  # variables
  (vars | map(select(.name == "datasource")) | if length != 1 then "no (or more than one) variable named datasource"
     elif .[0].type != "datasource" or .[0].query != "prometheus" then "the datasource variable must be of type datasource, query prometheus"
     else empty end),
  ((["adapter", "instance"][]) as $n
     | (vars | map(select(.name == $n))) as $v
     | if ($v | length) != 1 then "no (or more than one) variable named \($n)"
       elif $v[0].type != "query" then "variable \($n) must be of type query"
       elif $v[0].datasource != ds then "variable \($n) must query the datasource ${datasource}"
       elif ($v[0] | varquery | tostring | test("^label_values\\(.+,\\s*\($n)\\s*\\)$") | not) then "variable \($n) must be label_values(..., \($n))"
       else empty end),

  # panels
  (allpanels | map(.id) | group_by(.) | map(select(length > 1) | .[0]) | .[] | "panel id \(.) is not unique"),
  (allpanels[] | select(.id == null or (.id | type) != "number") | "\(where): no numeric id"),
  (allpanels[] | select(.type as $t | removed | index($t)) | "\(where): panel type \"\(.type)\" was removed from Grafana (use stat, timeseries, gauge or table)"),
  (allpanels[] | select(.type as $t | (removed | index($t) | not) and (allowed | index($t) | not)) | "\(where): panel type \"\(.type)\" is not one of \(allowed | join(", "))"),
  (allpanels[] | select((.gridPos | type) != "object" or ([.gridPos.h, .gridPos.w, .gridPos.x, .gridPos.y] | map(type == "number") | all | not))
     | "\(where): no gridPos {h, w, x, y}"),
  (allpanels[] | select((.gridPos.x // 0) + (.gridPos.w // 0) > 24) | "\(where): gridPos wider than the 24 columns"),
  ([allpanels[] | select((.gridPos | type) == "object")] as $p
     | range(0; $p | length) as $i | range($i + 1; $p | length) as $j
     | select(overlap($p[$i].gridPos; $p[$j].gridPos))
     | "panels \($p[$i].id) and \($p[$j].id) overlap"),
  (allpanels[] | select(.type != "row") |
     (if .datasource != ds then "\(where): datasource must be {\"type\":\"prometheus\",\"uid\":\"${datasource}\"}" else empty end),
     (if ((.targets // []) | length) == 0 then "\(where): no targets" else empty end),
     (. as $p | .targets[]? | . as $t |
        (if .datasource != ds then "\($p | where) target \(.refId // "?"): datasource must be ${datasource}" else empty end),
        (if (.expr // "") == "" then "\($p | where) target \(.refId // "?"): no expr" else
           (if (.expr | ranges_ok) then empty else "\($p | where) target \($t.refId // "?"): a rate(), irate() or increase() whose range is not [$__rate_interval]" end),
           (.expr | other_ranges[] | "\($p | where) target \($t.refId // "?"): range [\(.)] (only [$__rate_interval])"),
           (.expr | selectors[] | select(.metric | startswith("blockchain_")) | select(.matchers | contains("adapter=~\"$adapter\"") | not)
              | "\($p | where): \(.metric) is not filtered by adapter=~\"$adapter\""),
           (.expr | selectors[] | select(.metric | startswith("signer_")) | select(.matchers | contains("instance=~\"$instance\"") | not)
              | "\($p | where): \(.metric) is not filtered by instance=~\"$instance\""),
           (.expr | adapter_ups[] | select(contains("adapter=~\"$adapter\"") | not)
              | "\($p | where): \(.) is not filtered by adapter=~\"$adapter\"")
         end)))
  )
