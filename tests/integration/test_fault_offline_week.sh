#!/usr/bin/env bash
# Fault (d): agents offline for a simulated week. They are pointed at a
# port where nothing listens and journal seven clinic days flat out (4000+
# records each) while every connect fails. Then the broker comes up on that
# port with the collector; the agents connect by themselves, drain the
# backlog and exit. Every record ends up in the database exactly once,
# chain intact. A third agent runs a small day online, for comparison of
# peak RSS (printed, not asserted).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
STATE=$WORK/broker
OFFLINE=(dev-w1 dev-w2)
SMALL=dev-s
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

issue_pki "$PKI" "${OFFLINE[@]}" "$SMALL"
new_db "$DB"
register_devices "$PKI" "$DB" "${OFFLINE[@]}" "$SMALL"

# Nothing listens here until the broker is started on it below.
BROKER_PORT=$(free_port)
PORT=$BROKER_PORT
declare -A PID
seed=51
for d in "${OFFLINE[@]}"; do
    start_agent "$PKI" "$d" --simulate --seed $seed --speed 0 --sim-days 7 --sim-start 2026-03-02 \
        --fault-rate 10 --exit-when-done
    PID[$d]=$AGENT_PID
    seed=$((seed + 1))
done

# offline_done DEVICE: the week is journaled (head_seq > 3000 and no longer
# growing), nothing is acked and the agent is not connected.
offline_done() {
    local d=$1 h1 h2
    h1=$(status_field "$d" head_seq) || return 1
    [ "$h1" -gt 3000 ] || return 1
    sleep 1.2
    h2=$(status_field "$d" head_seq) || return 1
    [ "$h1" = "$h2" ] || return 1
    [ "$(status_field "$d" backlog)" = "$h2" ] && [ "$(status_field "$d" acked_seq)" = 0 ] &&
        [ "$(status_field "$d" connected)" = False ]
}
for d in "${OFFLINE[@]}"; do
    deadline=$((SECONDS + 30))
    until offline_done "$d"; do
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "$d: week not journaled offline within 30 s; status: $(cat "$WORK/agents/$d/status" 2>/dev/null)"
        sleep 0.2
    done
    kill -0 "${PID[$d]}" 2>/dev/null || fail "$d exited while offline"
    grep -q "connect failed" "$WORK/$d.log" || fail "$d: no failed connect attempts logged"
    log "offline: $(cat "$WORK/agents/$d/status") VmHWM=$(vm_hwm "${PID[$d]}") kB"
done

start_broker_on_port "$PKI" "$STATE" "$PORT"
start_collector "$PKI" "$DB"
log "broker and collector up on port $PORT"
start_agent "$PKI" "$SMALL" --simulate --seed 59 --speed 0 --sim-days 1 --sim-start 2026-03-02 \
    --fault-rate 10 --exit-when-done
PID[$SMALL]=$AGENT_PID

# The offline agents' back-off grew while nothing listened; the next
# attempt comes within about as long again.
wait_exit_hwm 60 "${PID[@]}"

for d in "${OFFLINE[@]}" "$SMALL"; do
    assert_exactly_once "$DB" "$d"
done
for d in "${OFFLINE[@]}"; do
    grep -q "connected broker=.* generation=1" "$WORK/$d.log" || fail "$d never connected"
done
assert_no_integrity_alerts "$DB"
for d in "${OFFLINE[@]}" "$SMALL"; do
    echo "info: $d head_seq=$(agent_status "$d" head_seq) peak RSS (VmHWM before exit) ${PEAK_RSS_KB[${PID[$d]}]:-?} kB"
done
echo "ok: a week journaled offline drained exactly once"
