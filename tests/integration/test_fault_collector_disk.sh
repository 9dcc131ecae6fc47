#!/usr/bin/env bash
# Fault (f): the collector's disk fills up while agents publish. The
# database lives on a small tmpfs of its own; a filler file takes its last
# bytes mid-run, so the committer's COMMIT fails (SQLITE_FULL). The
# collector must keep the group and retry it (nothing acked meanwhile, the
# inbox and Paho's thread hold the rest), say once that storage is failing
# and once that it recovered, and when the filler is removed store every
# record exactly once, with no R9 gap alert although the outage outlasts
# gap_grace_s. Needs root (mount); the tmpfs is unmounted on any exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"

[ "$(id -u)" = 0 ] || fail "needs root to mount a tmpfs"
PKI=$WORK/pki
DISK=$WORK/disk
DB=$DISK/fleet.db
DEVICES=(dev-a dev-b)
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"

mkdir -p "$DISK"
# Room for the database and its WAL between checkpoints (up to 32 MiB,
# common/sqldb_sqlite.c) until the filler takes the rest.
mount -t tmpfs -o size=64m,mode=0755 smp-test-disk "$DISK" || fail "cannot mount a tmpfs on $DISK"
at_cleanup "umount -l '$DISK'"

issue_pki "$PKI" "${DEVICES[@]}"
new_db "$DB"
register_devices "$PKI" "$DB" "${DEVICES[@]}"
# gap_grace_s far below the outage: a group dropped during it would leave a
# hole that later messages sit above for longer than this.
cat >"$WORK/policy.conf" <<'CONF'
profile = cdc
gap_grace_s = 5
CONF
start_broker "$PKI" "$WORK/broker"
COLLECTOR_EXTRA_CONF="policy_file = $WORK/policy.conf" start_collector "$PKI" "$DB"

pids=()
seed=51
for d in "${DEVICES[@]}"; do
    start_agent "$PKI" "$d" --simulate --seed $seed --speed 600 --sim-days 1 --sim-start 2026-03-02 \
        --exit-when-done
    pids+=("$AGENT_PID")
    seed=$((seed + 1))
done
for d in "${DEVICES[@]}"; do
    wait_until 30 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM records WHERE device_id='$d'\" 2>/dev/null || echo 0) -ge 20 ]" ||
        fail "$d: no records reached the database before the disk filled"
done

log "filling $DISK"
dd if=/dev/zero of="$DISK/filler" bs=64k 2>/dev/null || true
wait_until 60 grep -q "storage failing:" "$COLLECTOR_LOG" ||
    fail "the collector never reported failing storage: $(tail -5 "$COLLECTOR_LOG")"
log "storage failing; holding the disk full for 12 s (gap_grace_s is 5)"
sleep 2
acked_before=()
for d in "${DEVICES[@]}"; do acked_before+=("$(sqlite3 "$DB" "SELECT acked_seq FROM device_state WHERE device_id='$d'")"); done
agent_acked_before=()
for d in "${DEVICES[@]}"; do agent_acked_before+=("$(status_field "$d" acked_seq || echo 0)"); done
sleep 10
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent finished while the disk was full"; done
i=0
for d in "${DEVICES[@]}"; do
    now=$(sqlite3 "$DB" "SELECT acked_seq FROM device_state WHERE device_id='$d'")
    [ "$now" = "${acked_before[$i]}" ] || fail "$d: stored head moved while the disk was full (${acked_before[$i]} -> $now)"
    a=$(status_field "$d" acked_seq || echo 0)
    [ "$a" -le "$now" ] || fail "$d: agent holds ack $a above the stored head $now: acked what is not committed"
    log "$d during outage: stored head $now, agent acked ${agent_acked_before[$i]} -> $a"
    i=$((i + 1))
done
[ "$(grep -c "storage failing:" "$COLLECTOR_LOG")" = 1 ] || fail "storage failing reported more than once"
# The one line carries SQLite's own words, and nothing else repeats per try.
grep -q "storage failing: the store cannot [a-z]* a group (.*full" "$COLLECTOR_LOG" ||
    fail "the storage failing line does not say the disk is full: $(grep "storage failing:" "$COLLECTOR_LOG")"
[ "$(grep -c "level=error" "$COLLECTOR_LOG")" -le 2 ] ||
    fail "errors repeated during the outage: $(grep "level=error" "$COLLECTOR_LOG" | head -5)"

log "freeing the disk"
rm -f "$DISK/filler"
wait_until 30 grep -q "storage recovered after" "$COLLECTOR_LOG" ||
    fail "the collector never reported recovery: $(tail -5 "$COLLECTOR_LOG")"
wait_agents_exit 120 "${pids[@]}"

for d in "${DEVICES[@]}"; do
    assert_exactly_once "$DB" "$d"
done
[ "$(grep -c "storage failing:" "$COLLECTOR_LOG")" = 1 ] || fail "storage failing reported more than once"
# The one line carries SQLite's own words, and nothing else repeats per try.
grep -q "storage failing: the store cannot [a-z]* a group (.*full" "$COLLECTOR_LOG" ||
    fail "the storage failing line does not say the disk is full: $(grep "storage failing:" "$COLLECTOR_LOG")"
[ "$(grep -c "level=error" "$COLLECTOR_LOG")" -le 2 ] ||
    fail "errors repeated during the outage: $(grep "level=error" "$COLLECTOR_LOG" | head -5)"
[ "$(grep -c "storage recovered after" "$COLLECTOR_LOG")" = 1 ] || fail "recovery reported more than once"
grep "storage recovered after" "$COLLECTOR_LOG" >&2
gaps=$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE rule='R9'")
[ "$gaps" = 0 ] || fail "R9 alerts after the outage: $(sqlite3 "$DB" "SELECT cause FROM alerts WHERE rule='R9'")"
assert_no_integrity_alerts "$DB"
echo "ok: disk full mid-run: group kept and retried, every record exactly once, no R9 gap"
