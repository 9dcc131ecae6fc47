#!/usr/bin/env bash
# Fault (a): the broker goes away for ~5 s in the middle of a paced clinic
# day and comes back on the same port with the same state dir (persistence
# on). Agents and collector reconnect by themselves; every record each
# agent journaled ends up in the database exactly once, chain intact.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
STATE=$WORK/broker
DEVICES=(dev-a dev-b dev-c)
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

issue_pki "$PKI" "${DEVICES[@]}"
new_db "$DB"
register_devices "$PKI" "$DB" "${DEVICES[@]}"
start_broker "$PKI" "$STATE"
PORT=$BROKER_PORT
start_collector "$PKI" "$DB"

pids=()
seed=21
for d in "${DEVICES[@]}"; do
    start_agent "$PKI" "$d" --simulate --seed $seed --speed 2000 --sim-days 1 --sim-start 2026-03-02 \
        --fault-rate 10 --exit-when-done
    pids+=("$AGENT_PID")
    seed=$((seed + 1))
done

# Mid-run: every device has records in the database, none is finished.
for d in "${DEVICES[@]}"; do
    wait_until 30 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM records WHERE device_id='$d'\" 2>/dev/null || echo 0) -ge 20 ]" ||
        fail "$d: no records reached the database before the outage"
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent finished before the outage; slow it down"; done
for d in "${DEVICES[@]}"; do log "before outage: $d db=$(db_count "$DB" "$d") head=$(status_field "$d" head_seq || echo ?)"; done

log "stopping the broker for 5 s"
stop_broker_state "$STATE"
sleep 5
for d in "${DEVICES[@]}"; do
    log "during outage: $d head=$(status_field "$d" head_seq || echo ?) connected=$(status_field "$d" connected || echo ?)"
done
start_broker_on_port "$PKI" "$STATE" "$PORT"
log "broker back on port $PORT"

wait_agents_exit 90 "${pids[@]}"

for d in "${DEVICES[@]}"; do
    assert_exactly_once "$DB" "$d"
    grep -q "connection lost" "$WORK/$d.log" || fail "$d: no 'connection lost' in its log"
    grep -q "connected broker=.* generation=2" "$WORK/$d.log" || fail "$d: never reconnected (no generation=2)"
done
[ "$(grep -c "subscribed topics=" "$COLLECTOR_LOG")" -ge 2 ] || fail "collector did not resubscribe after the restart"
assert_no_integrity_alerts "$DB"
echo "ok: broker restart on port $PORT: all records exactly once, agents and collector reconnected"
