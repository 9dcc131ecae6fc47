#!/usr/bin/env bash
# Fault (b): the collector is killed with SIGKILL while agents publish a
# paced clinic day (the database holds some but not all records), stays
# down a few seconds and is started again on the same database. The broker
# queues events for its persistent session meanwhile; whatever was lost
# between the broker's delivery and the commit is resent by the agents.
# Every record ends up in the database exactly once, chain intact.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEVICES=(dev-a dev-b dev-c)
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

issue_pki "$PKI" "${DEVICES[@]}"
new_db "$DB"
register_devices "$PKI" "$DB" "${DEVICES[@]}"
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"

pids=()
seed=31
for d in "${DEVICES[@]}"; do
    start_agent "$PKI" "$d" --simulate --seed $seed --speed 2000 --sim-days 1 --sim-start 2026-03-02 \
        --fault-rate 10 --exit-when-done
    pids+=("$AGENT_PID")
    seed=$((seed + 1))
done

# Mid-run: every device has records in the database, none is finished.
for d in "${DEVICES[@]}"; do
    wait_until 30 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM records WHERE device_id='$d'\" 2>/dev/null || echo 0) -ge 60 ]" ||
        fail "$d: no records reached the database before the kill"
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent finished before the kill; slow it down"; done

log "kill -9 collector pid $COLLECTOR_PID"
kill9 "$COLLECTOR_PID"
for d in "${DEVICES[@]}"; do log "at kill: $d db=$(db_count "$DB" "$d")"; done
sleep 4
for d in "${DEVICES[@]}"; do
    log "collector down: $d db=$(db_count "$DB" "$d") head=$(status_field "$d" head_seq || echo ?) acked=$(status_field "$d" acked_seq || echo ?)"
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent finished while the collector was down"; done

start_collector "$PKI" "$DB"
log "collector restarted pid $COLLECTOR_PID"

wait_agents_exit 90 "${pids[@]}"

for d in "${DEVICES[@]}"; do
    assert_exactly_once "$DB" "$d"
done
grep -q "session_present=1" "$COLLECTOR_LOG" || fail "restarted collector did not resume its broker session"
assert_no_integrity_alerts "$DB"
echo "ok: collector killed and restarted: all records exactly once"
