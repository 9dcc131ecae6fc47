#!/usr/bin/env bash
# The feed socket (docs/agent.md): producers get "ok <seq>" only for events
# that were journaled and fsynced, an error naming the field otherwise; a
# producer sending garbage, half lines or oversized lines does not stop the
# agent, and every accepted event reaches the collector's database.
#
# Then: the ack timer after an idle pause (the first record sent after
# being idle longer than ack_timeout_s used to be resent at once), and
# event_id (a retry with the same id gets the original seq, also after an
# agent restart, and the collector stores the event once).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
issue_pki "$PKI" feed-dev
new_db "$DB"
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

feed() { /usr/bin/python3 "$(dirname "$0")/feed_client.py" "$WORK/feed.sock" send "$@"; }
acked_is() {
    wait_until 20 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT acked_seq FROM device_state WHERE device_id='feed-dev'\")\" = $1 ]" ||
        fail "collector did not ack seq $1: $(sqlite3 "$DB" 'SELECT * FROM device_state')"
}

# ---- the ack timer after an idle pause ----------------------------------
# Everything is acked; idle for longer than ack_timeout_s (5 s, fleet.sh).
# The collector is paused so the next record's ack cannot race the check:
# the agent must wait a full ack_timeout_s before resending it.
sleep 6
resends_before=$(grep -c "no ack progress" "$WORK/feed-dev.log" || true)
kill -STOP "$COLLECTOR_PID"
at_cleanup "kill -CONT $COLLECTOR_PID"
[ "$(feed '{"type":"grip.assign","grip_id":"g-6","load_id":"L-6","session_id":"S-6"}')" = "ok 6" ] ||
    fail "event after the pause not accepted as seq 6"
sleep 2
resends=$(grep -c "no ack progress" "$WORK/feed-dev.log" || true)
kill -CONT "$COLLECTOR_PID"
[ "$resends" = "$resends_before" ] ||
    fail "seq 6 was resent at once after an idle pause: $(grep "no ack progress" "$WORK/feed-dev.log" | tail -1)"
acked_is 6
echo "ok: after an idle pause the first record is not resent before ack_timeout_s"

# ---- event_id: retries get the original seq -----------------------------
EV='{"type":"grip.assign","grip_id":"g-9","load_id":"L-9","session_id":"S-9","event_id":"scanner-7:0001"}'
feed "$EV" "$EV" '{"type":"grip.assign","grip_id":"g-other","load_id":"L-9","session_id":"S-9","event_id":"scanner-7:0001"}' \
    '{"type":"grip.assign","grip_id":"g","load_id":"L","session_id":"S","event_id":"has space"}' \
    '{"type":"grip.assign","grip_id":"g","load_id":"L","session_id":"S","event_id":""}' \
    '{"type":"grip.assign","grip_id":"g","load_id":"L","session_id":"S","event_id":7}' \
    "{\"type\":\"grip.assign\",\"grip_id\":\"g\",\"load_id\":\"L\",\"session_id\":\"S\",\"event_id\":\"$(printf 'a%.0s' $(seq 65))\"}" \
    '{"type":"grip.assign","grip_id":"g","load_id":"L","session_id":"S","event_id":"a","event_id":"b"}' \
    >"$WORK/id-answers.txt"
cat >"$WORK/id-expected.txt" <<'TXT'
ok 7
ok 7
ok 7
error event_id: must be 1 to 64 characters of A-Z a-z 0-9 . _ : -
error event_id: must be 1 to 64 characters of A-Z a-z 0-9 . _ : -
error event_id: must be a string
error event_id: must be 1 to 64 characters of A-Z a-z 0-9 . _ : -
error event_id: duplicate field
TXT
diff -u "$WORK/id-expected.txt" "$WORK/id-answers.txt" || fail "event_id answers differ from the expected ones"

# After a restart the id is still known: it is in the journal.
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not stop cleanly"
AGENT_EXTRA_CONF="feed_socket = $WORK/feed.sock" start_agent "$PKI" feed-dev
wait_until 10 test -S "$WORK/feed.sock" || fail "restarted agent did not open its feed socket"
[ "$(feed "$EV")" = "ok 7" ] || fail "after a restart the retry of scanner-7:0001 was not answered 'ok 7'"
[ "$(feed '{"type":"grip.assign","grip_id":"g-10","load_id":"L-9","session_id":"S-9","event_id":"scanner-7:0002"}')" = "ok 8" ] ||
    fail "a new event_id was not stored as seq 8"
acked_is 8
n=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE device_id='feed-dev' AND body LIKE '%\"g-9\"%'")
[ "$n" = 1 ] || fail "the event with event_id scanner-7:0001 is stored $n times"
total=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE device_id='feed-dev'")
[ "$total" = 8 ] || fail "database holds $total records, want 8"
grep -q "event_id" <<<"$(sqlite3 "$DB" "SELECT body FROM records WHERE device_id='feed-dev' AND seq=7")" &&
    fail "event_id reached the collector; it is agent-local"
echo "ok: event_id retries answered with the original seq (also after a restart), stored once"
