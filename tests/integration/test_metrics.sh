#!/usr/bin/env bash
# The collector's Prometheus endpoint (docs/collector.md "Metrics"): a real
# broker, the collector with metrics_port set, one simulated agent publishing
# a clinic day. The scrape must pass `promtool check metrics`, its numbers
# must match the database, other paths are 404 and the port is bound on
# loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PROMTOOL=/usr/bin/promtool
[ -x "$PROMTOOL" ] || fail "$PROMTOOL missing; run scripts/install-deps.sh (package prometheus)"
command -v curl >/dev/null || fail "curl missing; run scripts/install-deps.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEV=dev-m

issue_pki "$PKI" "$DEV"
new_db "$DB"
"$BIN/smpctl" device add "$DEV" --clinic clinic-metrics --cert "$PKI/devices/$DEV.crt" --db "$DB" >/dev/null
start_broker "$PKI" "$WORK/broker"
METRICS_PORT=$(free_port)
COLLECTOR_EXTRA_CONF="metrics_port = $METRICS_PORT"
start_collector "$PKI" "$DB"
grep -q "metrics listening bind=127.0.0.1 port=$METRICS_PORT" "$COLLECTOR_LOG" ||
    fail "collector did not log its metrics listener: $(tail -5 "$COLLECTOR_LOG")"
URL=http://127.0.0.1:$METRICS_PORT

start_agent "$PKI" "$DEV" --simulate --seed 5 --speed 0 --sim-days 1 --sim-start 2026-02-02 \
    --exit-when-done
wait_pid_exit "$AGENT_PID" 120

# scrape FILE: GET /metrics into FILE, 200 and the 0.0.4 content type.
scrape() {
    local headers=$WORK/headers code
    code=$(curl -sS -o "$1" -D "$headers" -w '%{http_code}' "$URL/metrics") || fail "curl $URL/metrics failed"
    [ "$code" = 200 ] || fail "GET /metrics returned $code"
    grep -qi '^content-type: text/plain; version=0.0.4' "$headers" ||
        fail "wrong content type: $(grep -i '^content-type' "$headers")"
}

# value FILE SERIES: the value of one exact series (name{labels}; label
# values may hold spaces, so compare the line's prefix, not its first field).
value() {
    awk -v s="$2 " 'index($0, s) == 1 { print $NF; found = 1 } END { exit !found }' "$1" ||
        fail "series $2 not in the scrape: $(grep -v '^#' "$1")"
}

M=$WORK/metrics.txt
scrape "$M"
out=$("$PROMTOOL" check metrics <"$M" 2>&1) || fail "promtool check metrics failed: $out"
[ -z "$out" ] || fail "promtool check metrics reported problems: $out"
echo "ok: promtool check metrics passed ($(grep -vc '^#' "$M") samples)"

records=$(sqlite3 "$DB" "SELECT count(*) FROM records")
[ "$records" -gt 100 ] || fail "only $records records stored for a clinic day"
# This process's own counters carry the collector's name (its certificate
# CN), so that several collectors' series add up without colliding.
OWN='{collector="smp-collector"}'
stored=$(value "$M" "smp_records_stored_total$OWN")
[ "$stored" = "$records" ] || fail "smp_records_stored_total $stored != $records records in the database"
received=$(value "$M" "smp_messages_received_total$OWN")
[ "$received" -gt 0 ] || fail "smp_messages_received_total is $received"
[ "$(value "$M" "smp_commit_failures_total$OWN")" = 0 ] || fail "commit failures in a clean run"
[ "$(value "$M" "smp_metrics_db_ok$OWN")" = 1 ] || fail "the scrape could not read the database"
echo "ok: smp_records_stored_total = $records = count(*) of records; $received messages"

series="smp_device_last_seen_seconds{device=\"$DEV\",clinic=\"clinic-metrics\"}"
seen=$(value "$M" "$series")
want=$(sqlite3 "$DB" "SELECT CAST(strftime('%s', last_seen) AS INTEGER) FROM device_state WHERE device_id='$DEV'")
[ "$seen" = "$want" ] || fail "$series = $seen, database says $want"
now=$(date +%s)
[ $((now - seen)) -ge 0 ] && [ $((now - seen)) -lt 300 ] || fail "$series = $seen is not recent (now $now)"
acked=$(value "$M" "smp_device_acked_seq{device=\"$DEV\",clinic=\"clinic-metrics\"}")
[ "$acked" = "$(agent_status "$DEV" head_seq)" ] || fail "smp_device_acked_seq $acked != agent head"
echo "ok: $series = $seen, acked seq $acked"

# Open alerts match the database, per (rule, severity, clinic).
while IFS='|' read -r rule sev clinic n; do
    got=$(value "$M" "smp_alerts_open{rule=\"$rule\",severity=\"$sev\",clinic=\"$clinic\"}")
    [ "$got" = "$n" ] || fail "smp_alerts_open $rule/$sev/$clinic = $got, database $n"
done < <(sqlite3 "$DB" "SELECT rule, severity, clinic, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY 1, 2, 3")
echo "ok: smp_alerts_open agrees with the alerts table"

# A quarantined message shows in both the counter and the per-reason family.
mqtt_tls "$PKI" "$DEV"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -q 1 "${MQTT_TLS[@]}" \
    -t "smp/v1/dev/$DEV/events" -m 'not json' || fail "mosquitto_pub failed"
wait_until 10 bash -c "[ \$(sqlite3 '$DB' 'SELECT count(*) FROM quarantine') -eq 1 ]" ||
    fail "the bad message was not quarantined"
scrape "$M"
[ "$(value "$M" "smp_messages_quarantined_total$OWN")" = 1 ] || fail "smp_messages_quarantined_total is not 1"
[ "$(value "$M" 'smp_quarantine_total{reason="not_json"}')" = 1 ] ||
    fail "smp_quarantine_total for not_json ('payload: not valid JSON') is not 1"
echo "ok: quarantine counted by reason"

code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/other") || fail "curl $URL/other failed"
[ "$code" = 404 ] || fail "GET /other returned $code, expected 404"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$URL/metrics") || fail "curl POST failed"
[ "$code" = 405 ] || fail "POST /metrics returned $code, expected 405"
echo "ok: /other is 404, POST is 405"

# Bound on loopback only: every listening socket on the port is 127.0.0.1.
listeners=$(ss -Hltn "sport = :$METRICS_PORT" | awk '{ print $4 }')
[ -n "$listeners" ] || fail "nothing listens on port $METRICS_PORT"
[ "$listeners" = "127.0.0.1:$METRICS_PORT" ] || fail "metrics port bound on: $listeners"
echo "ok: metrics port bound on 127.0.0.1 only"

# The Grafana dashboard is valid JSON and every query parses as PromQL
# (Grafana's variables replaced): each becomes a recording rule for promtool.
python3 - "$REPO_ROOT/dashboard-export/grafana/smpfleet.json" >"$WORK/dashboard-rules.yml" <<'PY' ||
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schemaVersion"] >= 36 and any(v["type"] == "datasource" for v in d["templating"]["list"])
print("groups:\n- name: dashboard\n  rules:")
for p in d["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*")
        print("  - record: dashboard:panel%d:%s\n    expr: %s" % (p["id"], t["refId"], json.dumps(e)))
PY
    fail "dashboard-export/grafana/smpfleet.json is not a valid dashboard"
out=$("$PROMTOOL" check rules "$WORK/dashboard-rules.yml" 2>&1) || fail "dashboard queries do not parse: $out"
echo "ok: Grafana dashboard queries parse ($(grep -c 'record:' "$WORK/dashboard-rules.yml"))"

# The shipped alerting rules parse, fire and stay quiet as their unit tests
# say, and every metric they watch is one this collector really exports.
RULES=$REPO_ROOT/dashboard-export/prometheus/smpfleet.rules.yml
out=$("$PROMTOOL" check rules "$RULES" 2>&1) || fail "alerting rules do not parse: $out"
out=$(cd "$REPO_ROOT/tests/prometheus" && "$PROMTOOL" test rules smpfleet.rules.test.yml 2>&1) ||
    fail "promtool test rules failed: $out"
for name in $(grep -o 'smp_[a-z_]*' "$RULES" | sort -u); do
    grep -q "^# TYPE $name " "$M" || fail "alerting rule uses $name, which /metrics does not export"
done
echo "ok: $(grep -c -- '- alert:' "$RULES") alerting rules parse, pass promtool test rules, and use exported metrics only"
