#!/usr/bin/env bash
# What a device holding a valid certificate must not be able to do to
# others through the broker:
#  - take over the collector's session by connecting with its client id,
#  - kick another device off by connecting with that device's client id,
#  - make the collector process one retained (poison) batch again at every
#    restart.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PKI=$WORK/pki
DB=$WORK/fleet.db
issue_pki "$PKI" dev-a dev-b
new_db "$DB"
for d in dev-a dev-b; do
    "$BIN/smpctl" device add "$d" --clinic clinic-h --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done
start_broker "$PKI" "$WORK/broker"
grep -q '^use_username_as_clientid true' "$WORK/broker/mosquitto.conf" ||
    fail "rendered broker config lacks use_username_as_clientid"
start_collector "$PKI" "$DB"
start_agent "$PKI" dev-b
wait_until 15 grep -q 'connected broker=' "$WORK/dev-b.log" || fail "dev-b did not connect"

# dev_connect ID: dev-a's certificate connects with client id ID and stays
# connected for 3 s.
dev_connect() {
    mqtt_tls "$PKI" dev-a
    timeout 3 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 "${MQTT_TLS[@]}" -i "$1" \
        -t smp/v1/dev/dev-a/ack -q 1 >/dev/null 2>&1 || true
}

# ---- session hijack --------------------------------------------------------

dev_connect smp-collector
dev_connect dev-b
sleep 1
if grep -q 'connection lost' "$COLLECTOR_LOG"; then
    fail "a device using client id smp-collector kicked the collector off: $(grep 'connection lost' "$COLLECTOR_LOG")"
fi
if grep -q 'connection lost' "$WORK/dev-b.log"; then
    fail "dev-a using client id dev-b kicked dev-b off: $(grep 'connection lost' "$WORK/dev-b.log")"
fi
# The broker gave dev-a its own name as client id both times.
grep -q 'New client connected .* as dev-a ' "$BROKER_LOG" || fail "broker log shows no client id dev-a"
if grep 'New client connected' "$BROKER_LOG" | grep -q ' as smp-collector .*u.dev-a'; then
    fail "dev-a connected under the id smp-collector"
fi
echo "ok: client ids smp-collector and dev-b claimed by dev-a's certificate: nobody kicked off"

# ---- retained poison -------------------------------------------------------

quarantined() { sqlite3 "$DB" "SELECT count(*) FROM quarantine WHERE device_id='dev-a'"; }
[ "$(quarantined)" = 0 ] || fail "quarantine not empty before the poison"
mqtt_tls "$PKI" dev-a
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 -q 1 -r "${MQTT_TLS[@]}" \
    -t smp/v1/dev/dev-a/events -m '{"v":1,"device":"dev-a","records":"poison"}' ||
    fail "dev-a could not publish on its own events topic"
wait_until 10 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM quarantine WHERE device_id='dev-a'\") -eq 1 ]" ||
    fail "the poison batch was not quarantined"

# Restart the collector twice. Before the second start, show that the
# poison is still retained on the broker: a plain subscriber with the
# collector's certificate is handed it at once (that also ends the
# collector's persistent session, so the second start subscribes anew).
for round in 1 2; do
    kill -TERM "$COLLECTOR_PID"
    wait "$COLLECTOR_PID" 2>/dev/null || true
    if [ "$round" = 2 ]; then
        mqtt_tls "$PKI" collector
        got=$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -V mqttv5 "${MQTT_TLS[@]}" \
            -t smp/v1/dev/dev-a/events -C 1 -W 3 2>/dev/null || true)
        [ "$got" = '{"v":1,"device":"dev-a","records":"poison"}' ] ||
            fail "the poison is not retained on the broker (got '$got'): the test proves nothing"
    fi
    start_collector "$PKI" "$DB"
    sleep 2
    [ "$(quarantined)" = 1 ] || fail "restart $round: the retained poison was processed again ($(quarantined) rows)"
done
echo "ok: retained poison quarantined once across two collector restarts"
