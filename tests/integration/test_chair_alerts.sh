#!/usr/bin/env bash
# Alerts reach the chair (docs/agent.md, "The alerts socket"): a real broker,
# collector and agent. A producer runs a session whose cartridge crosses the
# R3 wear limit (a small limit in the policy file, the same in the agent);
# a client of the agent's alerts_socket gets the collector's R3 line (the
# latency from the crossing record's "ok" to the line is printed); a client
# connecting later, and one after an agent restart (retained alerts topic),
# get it as replay; removing the cartridge clears it. Then, with the
# collector stopped, a new cartridge crosses the limit and the agent's own
# local warning arrives (source agent), cleared again at removal.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

CLIENT=$(dirname "$0")/alerts_client.py
PKI=$WORK/pki
DB=$WORK/fleet.db
DEV=chair-01
issue_pki "$PKI" "$DEV"
new_db "$DB"
"$BIN/smpctl" device add "$DEV" --clinic c1 --cert "$PKI/devices/$DEV.crt" --db "$DB" >/dev/null
start_broker "$PKI" "$WORK/broker"

cat >"$WORK/policy.conf" <<'CONF'
cartridge_max_run_s = 120
cartridge_max_strokes = 5000
CONF
COLLECTOR_EXTRA_CONF="policy_file = $WORK/policy.conf" start_collector "$PKI" "$DB"

AGENT_CONF="feed_socket = $WORK/feed.sock
alerts_socket = $WORK/alerts.sock
cartridge_max_run_s = 120
cartridge_max_strokes = 5000
local_alert_wait_s = 2"
AGENT_EXTRA_CONF=$AGENT_CONF start_agent "$PKI" "$DEV"
wait_until 10 test -S "$WORK/alerts.sock" || fail "agent did not open its alerts socket: $(tail -3 "$WORK/$DEV.log")"
wait_until 10 test -S "$WORK/feed.sock" || fail "agent did not open its feed socket"

listen() { # listen OUT: a client of the alerts socket, in the background
    /usr/bin/python3 "$CLIENT" listen "$WORK/alerts.sock" "$1" &
    track_pid $!
}
feed() { # feed LINE: prints "<answer> <epoch of the answer>"
    local got
    got=$(/usr/bin/python3 "$CLIENT" send "$WORK/feed.sock" "$1")
    case $got in ok\ *) ;; *) fail "feed refused $1: $got" ;; esac
    echo "$got"
}
wait_line() { # wait_line OUT SECONDS KEY=VALUE...: prints "<epoch> <line>"
    /usr/bin/python3 "$CLIENT" wait "$@"
}
counters() { # counters UID RUN_S STROKES
    feed "{\"type\":\"usage.counters\",\"motor_s_total\":$2,\"strokes_total\":$3,\"cartridge_uid\":\"$1\",\"cartridge_run_s\":$2,\"cartridge_strokes\":$3}"
}
insert() { # insert UID SESSION
    feed "{\"type\":\"cartridge.insert\",\"cartridge_uid\":\"$1\",\"sku\":\"RL-3\",\"needles\":3,\"config\":\"RL\",\"lot\":\"LOT-1\",\"expiry\":\"2099-12-31\",\"session_id\":\"$2\"}" >/dev/null
}
remove() { # remove UID SESSION RUN_S STROKES
    feed "{\"type\":\"cartridge.remove\",\"cartridge_uid\":\"$1\",\"session_id\":\"$2\",\"run_s\":$3,\"strokes\":$4,\"reason\":\"worn\"}" >/dev/null
}

listen "$WORK/client1.txt"
wait_until 5 bash -c "grep -q '\"alerts_clients\":1' '$WORK/agents/$DEV/status'" ||
    fail "the alerts client is not connected: $(cat "$WORK/agents/$DEV/status")"

# ---- the collector's R3 reaches the chair ------------------------------------
feed '{"type":"session.start","session_id":"S-1","operator_id":"op-1","client_ref":"cl-1","treatment_no":1}' >/dev/null
insert c-1 S-1
counters c-1 60 2000 >/dev/null
crossed=$(counters c-1 130 4000)
ok_at=${crossed##* }
got=$(wait_line "$WORK/client1.txt" 10 source=collector event=raised rule=R3 cause=wear:c-1) ||
    fail "no R3 line from the collector within 10 s: $(cat "$WORK/client1.txt"; tail -5 "$WORK/$DEV.log")"
line_at=${got%% *}
latency_ms=$(python3 -c "print(round(($line_at - $ok_at) * 1000))")
echo "R3 line: ${got#* }"
echo "latency: ${latency_ms} ms from the crossing record's 'ok' to the R3 line on the alerts socket"
grep -q '"severity":"maintenance"' <<<"$got" || fail "R3 line without severity maintenance: $got"
grep -q '"message":"replace cartridge c-1' <<<"$got" || fail "R3 line without its message: $got"
grep -q '"at":"20' <<<"$got" || fail "R3 line without the collector's timestamp: $got"
# The collector answered in time: no local warning for c-1.
sleep 3
grep -q '"source":"agent"' "$WORK/client1.txt" && fail "a local warning although the collector answered: $(cat "$WORK/client1.txt")"
echo "ok: the collector's R3 reached the alerts socket in ${latency_ms} ms, no local duplicate"

# ---- replay: a client connecting later, and after an agent restart -------------
listen "$WORK/client2.txt"
wait_line "$WORK/client2.txt" 5 source=collector event=open rule=R3 cause=wear:c-1 >/dev/null ||
    fail "a later client got no replay of the open R3: $(cat "$WORK/client2.txt")"
"$BIN/smp-agent" --config "$WORK/$DEV.conf" --status >"$WORK/status.json" || fail "smp-agent --status failed"
python3 - "$WORK/status.json" <<'PY' || fail "status does not list the open R3: $(cat "$WORK/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["open_alerts"] == 1, s["open_alerts"]
assert [(a["rule"], a["cause"], a["source"]) for a in s["alerts"]] == [("R3", "wear:c-1", "collector")]
PY
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not stop cleanly"
AGENT_EXTRA_CONF=$AGENT_CONF start_agent "$PKI" "$DEV"
wait_until 10 bash -c "grep -q '\"connected\":true' '$WORK/agents/$DEV/status'" || fail "restarted agent did not connect"
# The retained message is delivered on subscribe: the agent knows it by now.
listen "$WORK/client3.txt"
wait_line "$WORK/client3.txt" 5 source=collector event=open rule=R3 cause=wear:c-1 >/dev/null ||
    fail "after an agent restart the open R3 was not replayed: $(cat "$WORK/client3.txt"; tail -5 "$WORK/$DEV.log")"
echo "ok: the open R3 is replayed to a later client and after an agent restart (retained)"

remove c-1 S-1 130 4000
wait_line "$WORK/client3.txt" 10 source=collector event=cleared rule=R3 cause=wear:c-1 >/dev/null ||
    fail "removing c-1 did not clear R3 at the chair: $(cat "$WORK/client3.txt")"
echo "ok: removing the cartridge clears the collector's R3 at the chair"

# ---- local warning: the collector is down ---------------------------------------
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID" || true
insert c-2 S-1
counters c-2 50 1000 >/dev/null
crossed=$(counters c-2 125 1500)
ok_at=${crossed##* }
got=$(wait_line "$WORK/client3.txt" 10 source=agent event=raised rule=R3 cause=wear:c-2) ||
    fail "no local warning with the collector down: $(cat "$WORK/client3.txt"; tail -5 "$WORK/$DEV.log")"
line_at=${got%% *}
echo "local warning: ${got#* }"
echo "local warning after $(python3 -c "print(round(($line_at - $ok_at) * 1000))") ms (local_alert_wait_s = 2)"
grep -q '"message":"local warning (collector unreachable): replace cartridge c-2' <<<"$got" ||
    fail "the local warning does not say it is local: $got"
grep -q '"id"' <<<"$got" && fail "a local warning carries a collector id: $got"
# The status file is rewritten every second.
wait_until 3 bash -c "'$BIN/smp-agent' --config '$WORK/$DEV.conf' --status | grep -q '\"source\":\"agent\",\"rule\":\"R3\"'" ||
    fail "status does not list the local warning: $(cat "$WORK/agents/$DEV/status")"
remove c-2 S-1 125 1500
wait_line "$WORK/client3.txt" 5 source=agent event=cleared rule=R3 cause=wear:c-2 >/dev/null ||
    fail "removing c-2 did not clear the local warning: $(cat "$WORK/client3.txt")"
echo "ok: with the collector down the agent warned locally (source agent) and cleared it at removal"

# ---- the agent's retained status is JSON ----------------------------------------
# Published at connect (the backlog it had then); republished at most once a
# minute when the backlog changes, so not yet here.
mqtt_tls "$PKI" collector-watch
retained_status() {
    timeout 5 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -V mqttv5 \
        -t "smp/v1/dev/$DEV/status" -C 1 -W 4 || true
}
status=$(retained_status)
python3 - "$status" <<'PY' || fail "retained status is not the JSON object: $status"
import json, sys
s = json.loads(sys.argv[1])
assert set(s) == {"state", "backlog", "head_seq", "acked_seq", "at"}, s
assert s["state"] == "online" and s["backlog"] == s["head_seq"] - s["acked_seq"], s
PY
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not stop cleanly"
status=$(retained_status)
[ "$status" = '{"state":"offline"}' ] || fail "after a clean stop the retained status is $status"
echo "ok: retained status online as JSON while connected, {\"state\":\"offline\"} after a stop"
