#!/usr/bin/env bash
# Stalls (issue "Never stall, never crash, never lie"): a producer on the
# agent's feed socket sends an event timed 2 days ahead (beyond the
# collector's future_skew_s), then normal events, with a real agent, broker
# and collector. The collector used to quarantine the far-future record's
# whole batch, and the agent resent it for ever: nothing after it was ever
# stored. Now every event is stored and acked (agent --status backlog 0)
# within a bounded time, R10 future-ts is raised exactly once with the
# device ts and the receive time, and nothing is quarantined.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEV=stall-dev
NORMAL=20
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

issue_pki "$PKI" "$DEV"
new_db "$DB"
register_devices "$PKI" "$DB" "$DEV"
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"
AGENT_EXTRA_CONF="feed_socket = $WORK/feed.sock" start_agent "$PKI" "$DEV"
wait_until 10 test -S "$WORK/feed.sock" || fail "agent did not open its feed socket: $(tail -3 "$WORK/$DEV.log")"

FUTURE=$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%S.000Z)
# feed: one connection per line group; prints the agent's answers.
/usr/bin/python3 - "$WORK/feed.sock" "$FUTURE" "$NORMAL" >"$WORK/answers.txt" <<'PY'
import socket, sys, time
path, future, normal = sys.argv[1], sys.argv[2], int(sys.argv[3])

def send(lines):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall("".join(l + "\n" for l in lines).encode())
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while buf.count(b"\n") < len(lines):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    sys.stdout.write(buf.decode())

ev = '{"type":"grip.assign","grip_id":"g-%d","load_id":"L-1","session_id":"S-1"%s}'
send([ev % (0, ',"ts":"%s"' % future)])
time.sleep(1)          # its batch goes out alone, as in the issue
send([ev % (i, "") for i in range(1, normal + 1)])
PY
want=$((NORMAL + 1))
expected=$(for i in $(seq 1 $want); do echo "ok $i"; done)
[ "$(cat "$WORK/answers.txt")" = "$expected" ] || fail "feed answers: $(cat "$WORK/answers.txt")"

# Bounded: the agent's ack timeout is 5 s here; the old code never got there.
wait_until 30 bash -c "[ \"\$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s[\"acked_seq\"], s[\"backlog\"])' '$WORK/agents/$DEV/status' 2>/dev/null)\" = '$want 0' ]" ||
    fail "agent not fully acked within 30 s: $(cat "$WORK/agents/$DEV/status"); db has $(db_count "$DB" "$DEV") records; $(grep -E 'quarantined|future' "$COLLECTOR_LOG" | tail -3)"
"$BIN/smp-agent" --config "$WORK/$DEV.conf" --status | grep -q '"backlog":0' ||
    fail "smp-agent --status does not show backlog 0: $("$BIN/smp-agent" --config "$WORK/$DEV.conf" --status)"

[ "$(db_count "$DB" "$DEV")" = "$want" ] || fail "database holds $(db_count "$DB" "$DEV") records, expected $want"
[ "$(sqlite3 "$DB" "SELECT acked_seq FROM device_state WHERE device_id='$DEV'")" = "$want" ] ||
    fail "collector chain head is not $want"
assert_prev_chain "$DB" "$DEV"
[ "$(sqlite3 "$DB" "SELECT ts FROM records WHERE device_id='$DEV' AND seq=1")" = "$FUTURE" ] ||
    fail "seq 1 was not stored with its device ts $FUTURE"

# Raised exactly once, whatever the agent resent; the evidence keeps both times.
[ "$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE rule='R10' AND cause='future-ts' AND device_id='$DEV'")" = 1 ] ||
    fail "R10 future-ts alerts: $(sqlite3 "$DB" "SELECT * FROM alerts")"
[ "$(grep -c 'record beyond future_skew_s' "$COLLECTOR_LOG")" = 1 ] ||
    fail "collector flagged the far-future record $(grep -c 'record beyond future_skew_s' "$COLLECTOR_LOG") times"
evidence=$(sqlite3 "$DB" "SELECT evidence FROM alerts WHERE rule='R10' AND cause='future-ts'")
case $evidence in
    *"\"seq\":1,"*"\"ts\":\"$FUTURE\""*"\"received_at\":\""*) ;;
    *) fail "R10 future-ts evidence: $evidence" ;;
esac
[ "$(sqlite3 "$DB" "SELECT count(*) FROM quarantine") $(sqlite3 "$DB" "SELECT count(*) FROM quarantined_records")" = "0 0" ] ||
    fail "something was quarantined: $(sqlite3 "$DB" "SELECT reason FROM quarantine")"

# The operator command refuses to take acked records out of the chain, and
# the device's history shows no recovery.
if "$BIN/smpctl" device recover-chain "$DEV" --from-seq 5 --by it-test --reason check --db "$DB" 2>"$WORK/recover.err"; then
    fail "recover-chain accepted a seq below the ack"
fi
grep -q "acked up to seq $want" "$WORK/recover.err" || fail "recover-chain: $(cat "$WORK/recover.err")"
"$BIN/smpctl" device history "$DEV" --db "$DB" | grep -q "no chain recoveries" || fail "device history"
echo "ok: $want events stored and acked past a record timed $FUTURE; R10 future-ts raised once"
