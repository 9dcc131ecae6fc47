#!/usr/bin/env bash
# Fault: the agent's disk fills up. Its data_dir is a 2 MiB tmpfs, filled
# (a filler file, then the agent's own unacked records) until the journal
# cannot grow. A full disk must mean (docs/agent.md, "Full disk"):
#   - producers get a clear "error journal: ...: No space left on device"
#     answer, the agent keeps running (same pid), says so once in its log
#     (rate-limited) and in its status (intake, refused_events);
#   - it keeps sending and applying acks, which free space, and resumes
#     accepting by itself once space is back;
#   - it starts on a full disk, also when the ack it must record on start
#     is newer than the one on disk (recording it used to need space).
# Every accepted record reaches the collector exactly once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEV=disk-dev
MNT=$WORK/agents/$DEV                      # start_agent's data_dir for DEV
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"
[ "$(id -u)" = 0 ] || fail "needs root to mount a tmpfs"

mkdir -p "$MNT"
mount -t tmpfs -o size=2m,mode=0700 smp-test-disk "$MNT" || fail "cannot mount a 2 MiB tmpfs on $MNT"
at_cleanup "umount -l '$MNT'"

issue_pki "$PKI" "$DEV"
new_db "$DB"
register_devices "$PKI" "$DB" "$DEV"
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"

feed() { /usr/bin/python3 "$(dirname "$0")/feed_client.py" "$WORK/feed.sock" "$@"; }
GOOD='{"type":"grip.assign","grip_id":"g-after","load_id":"L-1","session_id":"S-1"}'
field() { status_field "$DEV" "$1" || echo "?"; }
agent_alive() { kill -0 "$AGENT_PID" 2>/dev/null || fail "agent died: $(tail -3 "$WORK/$DEV.log")"; }

# refuse_until_full TAG: sends events until the agent refuses one; checks
# the refusal is the disk-full answer.
refuse_until_full() {
    feed fill "$1" 20000 >"$WORK/fill-$1.txt" || fail "feed client failed: $(cat "$WORK/fill-$1.txt")"
    log "fill $1: $(tr '\n' ' ' <"$WORK/fill-$1.txt")"
    grep -q '^refused: error journal: .*No space left on device' "$WORK/fill-$1.txt" ||
        fail "expected a disk-full refusal, got: $(cat "$WORK/fill-$1.txt"); agent log: $(tail -3 "$WORK/$DEV.log")"
    agent_alive
}

AGENT_EXTRA_CONF="feed_socket = $WORK/feed.sock" start_agent "$PKI" "$DEV"
wait_until 10 test -S "$WORK/feed.sock" || fail "agent did not open its feed socket: $(tail -3 "$WORK/$DEV.log")"
[ "$(feed send "$GOOD")" = "ok 1" ] || fail "first event not accepted"
wait_until 10 bash -c "[ -f '$MNT/status' ]" || fail "no status file"
# Leave about 200 KiB for the journal.
avail=$(df --output=avail -k "$MNT" | tail -n 1)
dd if=/dev/zero of="$MNT/filler" bs=4k count=$(((avail - 200) / 4)) 2>/dev/null ||
    fail "could not write the filler file"
log "tmpfs: $(df -k --output=used,avail "$MNT" | tail -n 1)"

# ---- A: full while the collector does not ack; acks free space ----------
kill -STOP "$COLLECTOR_PID"
at_cleanup "kill -CONT $COLLECTOR_PID"
refuse_until_full a
# More events of the size that did not fit (smaller ones may still fit in
# what is left, and do): every one refused, the agent still alive.
feed big a2 20 >"$WORK/refused-a.txt"
[ "$(grep -c '^error journal: .*No space left on device' "$WORK/refused-a.txt")" = 20 ] ||
    fail "not every event was refused while the disk is full: $(sort "$WORK/refused-a.txt" | uniq -c)"
wait_until 5 bash -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"intake\"])' '$MNT/status' 2>/dev/null)\" = disk-full ]" ||
    fail "status does not say intake=disk-full: $(cat "$MNT/status")"
refused=$(field refused_events)
[ "$refused" -ge 21 ] || fail "status refused_events=$refused, want >= 21"
lines=$(grep -c "refusing events" "$WORK/$DEV.log" || true)
[ "$lines" -ge 1 ] && [ "$lines" -le 2 ] || fail "want 1-2 rate-limited 'refusing events' log lines for 21 refusals, got $lines"
agent_alive
log "status while full: $(cat "$MNT/status")"

kill -CONT "$COLLECTOR_PID"
wait_until 30 bash -c "[ \"\$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s[\"acked_seq\"] == s[\"head_seq\"])' '$MNT/status' 2>/dev/null)\" = True ]" ||
    fail "collector's acks were not applied on the full disk: $(cat "$MNT/status"); $(tail -3 "$WORK/$DEV.log")"
# Nothing was removed by hand: the agent resumes by itself.
answer=$(feed send "$GOOD")
case $answer in ok\ *) ;; *) fail "agent did not resume accepting after the acks: '$answer'" ;; esac
wait_until 5 bash -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"intake\"])' '$MNT/status' 2>/dev/null)\" = accepting ]" ||
    fail "status does not say intake=accepting again: $(cat "$MNT/status")"
agent_alive
log "A: refused $refused events while full, resumed with '$answer'"

# ---- B: restart on a full disk with a newer ack waiting -----------------
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID" 2>/dev/null || true
refuse_until_full b
# Every journaled record must be at the broker (queued for the collector's
# session) before the agent stops, or the collector cannot ack up to head.
wait_until 20 bash -c "[ \"\$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s[\"sent_seq\"] == s[\"head_seq\"] and s[\"inflight\"] == 0)' '$MNT/status' 2>/dev/null)\" = True ]" ||
    fail "the agent did not hand every record to the broker: $(cat "$MNT/status")"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent did not stop cleanly on a full disk"
# Its last status (written on exit, in place on the full disk) has the head.
head=$(field head_seq)
# The collector comes back and acks what the broker kept for it; the ack
# waits, retained, for the agent.
start_collector "$PKI" "$DB"
wait_until 30 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT acked_seq FROM device_state WHERE device_id='$DEV'\")\" = $head ]" ||
    fail "collector did not ack the queued records up to $head: $(sqlite3 "$DB" 'SELECT * FROM device_state')"
log "tmpfs before restart: $(df -k --output=used,avail "$MNT" | tail -n 1)"

AGENT_EXTRA_CONF="feed_socket = $WORK/feed.sock" start_agent "$PKI" "$DEV"
wait_until 10 bash -c "[ \$(grep -c 'started device=$DEV' '$WORK/$DEV.log') -ge 2 ]" ||
    fail "agent did not start on a full disk: $(tail -3 "$WORK/$DEV.log")"
wait_until 20 bash -c "[ \"\$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s[\"acked_seq\"])' '$MNT/status' 2>/dev/null)\" = $head ]" ||
    fail "restarted agent did not apply the ack $head: $(cat "$MNT/status"); $(tail -3 "$WORK/$DEV.log")"
agent_alive
wait_until 10 test -S "$WORK/feed.sock" || fail "restarted agent did not open its feed socket"
# Events of the size that did not fit: only the reclaimed space holds them.
feed big b2 3 >"$WORK/after-restart.txt"
[ "$(grep -c '^ok ' "$WORK/after-restart.txt")" = 3 ] ||
    fail "restarted agent does not accept events: $(cat "$WORK/after-restart.txt")"
[ "$(grep -c 'deleted the acked newest segment' "$WORK/$DEV.log")" -ge 2 ] ||
    fail "the restarted agent did not reclaim its acked segment: $(tail -3 "$WORK/$DEV.log")"
answer=$(tail -n 1 "$WORK/after-restart.txt")
final=${answer#ok }
wait_until 30 bash -c "[ \"\$(sqlite3 '$DB' \"SELECT acked_seq FROM device_state WHERE device_id='$DEV'\")\" = $final ]" ||
    fail "collector did not ack $final"
wait_until 5 bash -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"acked_seq\"])' '$MNT/status' 2>/dev/null)\" = $final ]" ||
    fail "agent status never showed acked_seq=$final"
agent_alive
assert_exactly_once "$DB" "$DEV"
assert_no_integrity_alerts "$DB"
echo "ok: disk full refused with a clear error, agent kept running, resumed after acks, restarted on a full disk (head $final)"
