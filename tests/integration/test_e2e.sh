#!/usr/bin/env bash
# End to end over real mutual-TLS MQTT: three simulated agents publish a
# clinic day flat out; every record each agent journaled must be in the
# collector's database exactly once, with the same chain head. Also: a
# device cannot publish as another, and an unregistered device's messages
# are quarantined, not stored.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
DEVICES=(dev-a dev-b dev-c)

issue_pki "$PKI" "${DEVICES[@]}" dev-x
new_db "$DB"
for d in "${DEVICES[@]}"; do
    "$BIN/smpctl" device add "$d" --clinic clinic-e2e --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done
start_broker "$PKI" "$WORK/broker"
start_collector "$PKI" "$DB"

pids=()
seed=11
for d in "${DEVICES[@]}"; do
    start_agent "$PKI" "$d" --simulate --seed $seed --speed 0 --sim-days 2 --sim-start 2026-03-02 \
        --fault-rate 10 --exit-when-done
    pids+=("$AGENT_PID")
    seed=$((seed + 1))
done
for p in "${pids[@]}"; do wait_pid_exit "$p" 120; done

for d in "${DEVICES[@]}"; do
    head=$(agent_status "$d" head_seq)
    hash=$(agent_status "$d" head_hash)
    [ "$head" -gt 500 ] || fail "$d journaled only $head records for two clinic days"
    read -r count distinct lo hi <<<"$(sqlite3 -separator ' ' "$DB" \
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM records WHERE device_id='$d'")"
    [ "$count" = "$head" ] || fail "$d: agent journaled $head records, database holds $count"
    [ "$distinct" = "$head" ] && [ "$lo" = 1 ] && [ "$hi" = "$head" ] ||
        fail "$d: seq not 1..$head exactly once (distinct=$distinct min=$lo max=$hi)"
    stored=$(sqlite3 "$DB" "SELECT acked_seq || ' ' || acked_hash FROM device_state WHERE device_id='$d'")
    [ "$stored" = "$head $hash" ] || fail "$d: collector chain head '$stored' != agent '$head $hash'"
    echo "ok: $d $head records stored once, chain head $hash"
done

# Every checkpoint verified against the registered certificates, every prev
# linked, no clock was ahead: a clean run raises no integrity alert.
alerts=$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE rule IN ('R9','R10')")
[ "$alerts" = 0 ] || fail "clean run raised integrity alerts: $(sqlite3 "$DB" "SELECT rule, device_id, cause, message FROM alerts")"
ckpts=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE type='checkpoint'")
[ "$ckpts" -gt 30 ] || fail "only $ckpts checkpoints were stored"
echo "ok: $ckpts signed checkpoints verified, no R9/R10 alert"

# dev-a's certificate cannot publish on dev-b's topic: the broker drops it,
# so dev-b's records and the quarantine stay as they are.
before_b=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE device_id='dev-b'")
before_q=$(sqlite3 "$DB" "SELECT count(*) FROM quarantine")
forged='{"v":1,"device":"dev-b","records":[{"seq":999999,"ts":"2026-03-02T10:00:00.000Z","type":"grip.assign","prev":"'$(printf '0%.0s' {1..64})'","grip_id":"g","load_id":"l","session_id":"s"}]}'
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -q 1 --cafile "$PKI/ca.crt" \
    --cert "$PKI/devices/dev-a.crt" --key "$PKI/devices/dev-a.key" \
    -t smp/v1/dev/dev-b/events -m "$forged" >/dev/null 2>&1 || true

# An unregistered device (valid cert, own topic) is quarantined.
unknown='{"v":1,"device":"dev-x","records":[{"seq":1,"ts":"2026-03-02T10:00:00.000Z","type":"grip.assign","prev":"'$(printf '0%.0s' {1..64})'","grip_id":"g","load_id":"l","session_id":"s"}]}'
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -q 1 --cafile "$PKI/ca.crt" \
    --cert "$PKI/devices/dev-x.crt" --key "$PKI/devices/dev-x.key" \
    -t smp/v1/dev/dev-x/events -m "$unknown" || fail "dev-x could not publish on its own topic"
wait_until 10 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM quarantine WHERE device_id='dev-x'\") -eq 1 ]" ||
    fail "dev-x's message was not quarantined"
reason=$(sqlite3 "$DB" "SELECT reason FROM quarantine WHERE device_id='dev-x'")
[ "$reason" = "device: dev-x is not registered; add it with smpctl device add" ] ||
    fail "unexpected quarantine reason: $reason"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE device_id='dev-x'")" = 0 ] ||
    fail "records of unregistered dev-x were stored"

after_b=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE device_id='dev-b'")
after_q=$(sqlite3 "$DB" "SELECT count(*) FROM quarantine")
[ "$after_b" = "$before_b" ] || fail "dev-a's forged record reached dev-b's records"
[ "$after_q" = $((before_q + 1)) ] || fail "quarantine grew by $((after_q - before_q)), expected only dev-x's message"
echo "ok: forged publish refused, unregistered device quarantined"
