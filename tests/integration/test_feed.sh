#!/usr/bin/env bash
# The feed socket (docs/agent.md): producers get "ok <seq>" only for events
# that were journaled and fsynced, an error naming the field otherwise; a
# producer sending garbage, half lines or oversized lines does not stop the
# agent, and every accepted event reaches the collector's database.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
issue_pki "$PKI" feed-dev
"$BIN/smpctl" device add feed-dev --clinic c1 --cert "$PKI/devices/feed-dev.crt" --db "$DB" >/dev/null
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"
AGENT_EXTRA_CONF="feed_socket = $WORK/feed.sock" start_agent "$PKI" feed-dev
wait_until 10 test -S "$WORK/feed.sock" || fail "agent did not open its feed socket: $(tail -3 "$WORK/feed-dev.log")"

/usr/bin/python3 "$(dirname "$0")/feed_client.py" "$WORK/feed.sock" >"$WORK/answers.txt"
cat >"$WORK/expected.txt" <<'TXT'
ok 1
error line: not valid JSON
error strokes: must not be negative
error seq: assigned by the agent; leave it out
error line: contains a NUL byte
error line: contains a \u0000 escape
error type: unknown record type
error line: longer than 16383 bytes
ok 2
ok 3
ok 4
ok 5
TXT
diff -u "$WORK/expected.txt" "$WORK/answers.txt" || fail "feed answers differ from the expected ones"
kill -0 "$AGENT_PID" || fail "agent died while serving bad producers"

wait_until 20 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT acked_seq FROM device_state WHERE device_id='feed-dev'\")\" = 5 ]" ||
    fail "collector did not ack seq 5: $(sqlite3 "$DB" 'SELECT * FROM device_state')"
got=$(sqlite3 "$DB" "SELECT group_concat(seq || ':' || type, ' ') FROM (SELECT seq, type FROM records WHERE device_id='feed-dev' ORDER BY seq)")
[ "$got" = "1:grip.assign 2:grip.assign 3:grip.assign 4:grip.assign 5:grip.assign" ] ||
    fail "stored records: $got"
echo "ok: 5 accepted events stored, 7 bad lines refused with their field, agent still serving"
