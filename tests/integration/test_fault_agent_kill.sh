#!/usr/bin/env bash
# Fault (c): an agent is killed with SIGKILL in the middle of a paced clinic
# day (twice) and started again with the same config, data dir and arguments. It
# recovers its journal head and continues the seq from there (its
# simulator replays the day from the start, so it journals a new run of
# events after the recovered head). Every record its journal holds or held
# is in the database exactly once, seq has no gap, and every record's prev
# is the hash of the record before it, across the restart.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEVICES=(dev-a dev-b)
VICTIM=dev-a
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

issue_pki "$PKI" "${DEVICES[@]}"
new_db "$DB"
register_devices "$PKI" "$DB" "${DEVICES[@]}"
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"

declare -A ARGS PID
SEAMS=()
seed=41
for d in "${DEVICES[@]}"; do
    ARGS[$d]="--simulate --seed $seed --speed 2000 --sim-days 1 --sim-start 2026-03-02 --fault-rate 10 --exit-when-done"
    # shellcheck disable=SC2086
    start_agent "$PKI" "$d" ${ARGS[$d]}
    PID[$d]=$AGENT_PID
    seed=$((seed + 1))
done

# Killed twice: first mid-day (some of its records in the database), then
# again mid-way through the replayed day after the first restart, so the
# second recovery reads a journal that was itself recovered.
recovered=0
for round in 1 2; do
    want=$((recovered + 100))
    wait_until 30 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM records WHERE device_id='$VICTIM'\" 2>/dev/null || echo 0) -ge $want ]" ||
        fail "$VICTIM: database never reached $want records before kill $round"
    kill -0 "${PID[$VICTIM]}" 2>/dev/null || fail "$VICTIM finished before kill $round; slow it down"

    log "kill $round: kill -9 $VICTIM pid ${PID[$VICTIM]}"
    kill9 "${PID[$VICTIM]}"
    log "at kill $round: $VICTIM db=$(db_count "$DB" "$VICTIM") last status head=$(status_field "$VICTIM" head_seq || echo ?) acked=$(status_field "$VICTIM" acked_seq || echo ?)"
    # What it published before dying may still be arriving; let it settle.
    sleep 2
    db_at_kill=$(db_count "$DB" "$VICTIM")

    # shellcheck disable=SC2086
    start_agent "$PKI" "$VICTIM" ${ARGS[$VICTIM]}
    PID[$VICTIM]=$AGENT_PID
    wait_until 10 bash -c "[ \$(grep -c 'started device=$VICTIM' '$WORK/$VICTIM.log') -ge $((round + 1)) ]" ||
        fail "$VICTIM did not start again"
    recovered=$(grep "started device=$VICTIM" "$WORK/$VICTIM.log" | tail -n 1 | sed -n 's/.* head_seq=\([0-9]*\).*/\1/p')
    log "restarted $VICTIM pid ${PID[$VICTIM]}: $(grep "started device=$VICTIM" "$WORK/$VICTIM.log" | tail -n 1 | sed 's/.*started //')"
    [ -n "$recovered" ] && [ "$recovered" -gt 0 ] || fail "$VICTIM recovered no journal head"
    # Everything the collector stored came from the journal, so the
    # recovered head cannot be behind it.
    [ "$recovered" -ge "$db_at_kill" ] ||
        fail "$VICTIM recovered head_seq=$recovered but the database already held $db_at_kill of its records"
    SEAMS+=("$recovered")
done

wait_agents_exit 90 "${PID[@]}"

for d in "${DEVICES[@]}"; do
    assert_exactly_once "$DB" "$d"
done
final=$(agent_status "$VICTIM" head_seq)
[ "$final" -gt "$recovered" ] || fail "$VICTIM journaled nothing after the restart (head $final)"
# The seams: the first record journaled after each restart links to the
# recovered head (assert_prev_chain checked every link; this names them).
for r in "${SEAMS[@]}"; do
    seam=$(sqlite3 "$DB" "SELECT n.prev = p.hash FROM records n JOIN records p
        ON p.device_id = n.device_id AND p.seq = n.seq - 1
        WHERE n.device_id = '$VICTIM' AND n.seq = $r + 1")
    [ "$seam" = 1 ] || fail "$VICTIM: seq $((r + 1)) does not link to the recovered head $r"
done
assert_no_integrity_alerts "$DB"
echo "ok: $VICTIM killed twice, recovered heads ${SEAMS[*]}, continued to $final with no gap"
