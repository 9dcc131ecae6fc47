#!/usr/bin/env bash
# test_acl: the real broker (broker-config/) with a PKI from `smpctl pki`
# enforces docs/protocol.md:
#   (a) the collector receives what dev-a publishes on its own events topic;
#   (b) dev-a cannot publish as dev-b, nor acks or alerts (v5 "Not authorized");
#   (c) dev-a cannot read dev-b's acks, only its own;
#   (d) a client cert from another CA, or no cert, fails the TLS handshake;
#   (e) the broker listens on 127.0.0.1:PORT only.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

need_bin "$SMPCTL"
command -v mosquitto_pub >/dev/null || fail "mosquitto_pub not found; install mosquitto-clients"

PKI=$WORK/pki
OTHER=$WORK/other-pki

pki() { "$SMPCTL" pki "$@" >/dev/null || fail "smpctl pki $* failed"; }

pki init --dir "$PKI"
pki issue-broker --dir "$PKI"
pki issue-collector --dir "$PKI"
pki issue-device dev-a --dir "$PKI"
pki issue-device dev-b --dir "$PKI"
# A second fleet CA with a device of the same name: only the CA differs.
pki init --dir "$OTHER"
pki issue-device dev-a --dir "$OTHER"

start_broker "$PKI" "$WORK/state"

# pub WHO ARGS...: one QoS 1 MQTT v5 publish as identity WHO.
pub() {
    local who=$1
    shift
    mqtt_tls "$PKI" "$who"
    mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 "$@"
}

# sub_bg OUT WHO ARGS...: background subscriber printing "topic payload"
# lines to OUT; its pid goes to SUB_PID and is cleaned up on exit.
sub_bg() {
    local out=$1 who=$2
    shift 2
    mqtt_tls "$PKI" "$who"
    mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 -v "$@" \
        >"$out" 2>"$out.err" &
    SUB_PID=$!
    track_pid "$SUB_PID"
}

# publish_until_seen OUT LINE WHO TOPIC MSG: a subscriber started in the
# background may not have subscribed yet, so publish until LINE shows up.
publish_until_seen() {
    local out=$1 line=$2 who=$3 topic=$4 msg=$5 i
    for i in $(seq 1 20); do
        pub "$who" -t "$topic" -m "$msg" || fail "$who could not publish to $topic"
        wait_until 1 grep -qxF "$line" "$out" && return 0
    done
    fail "'$line' never reached the subscriber (output: $(cat "$out" "$out.err"))"
}

log_since() { tail -n +"$1" "$BROKER_LOG"; }
# log_has FROM TEXT: the broker logged TEXT at or after line FROM.
log_has() { log_since "$1" | grep -qF "$2"; }

log "(a) dev-a's own events reach the collector"
EVENTS=$WORK/collector-events.out
sub_bg "$EVENTS" collector -t 'smp/v1/dev/+/events' -W 90
COLLECTOR_SUB=$SUB_PID
publish_until_seen "$EVENTS" "smp/v1/dev/dev-a/events hello-from-dev-a" \
    dev-a smp/v1/dev/dev-a/events hello-from-dev-a

log "(b) dev-a may not publish as dev-b, nor acks or alerts"
for topic in smp/v1/dev/dev-b/events smp/v1/dev/dev-b/status \
             smp/v1/dev/dev-a/ack smp/v1/dev/dev-b/ack smp/v1/alerts/clinic-1; do
    pub dev-a -t "$topic" -m forged-by-dev-a 2>"$WORK/forged.err" ||
        fail "mosquitto_pub as dev-a to $topic failed outright: $(cat "$WORK/forged.err")"
    # mosquitto 2.0 answers a denied v5 QoS 1 publish with PUBACK reason
    # 0x87, which mosquitto_pub reports as "Publish 1 failed: Not authorized".
    grep -q "Not authorized" "$WORK/forged.err" ||
        fail "publish by dev-a to $topic was not refused with 'Not authorized' (stderr: $(cat "$WORK/forged.err"))"
done
# Barrier: a later allowed message on the same subscription has arrived, so
# the forged one would have too.
publish_until_seen "$EVENTS" "smp/v1/dev/dev-a/events after-forgery" \
    dev-a smp/v1/dev/dev-a/events after-forgery
if grep -q forged "$EVENTS"; then
    fail "collector received a message dev-a forged: $(grep forged "$EVENTS")"
fi

log "(c) dev-a cannot read dev-b's acks"
ACKS=$WORK/dev-a-acks.out
sub_bg "$ACKS" dev-a -t smp/v1/dev/dev-b/ack -t 'smp/v1/dev/+/ack' -W 60
DEV_A_SUB=$SUB_PID
# The collector publishes dev-b's ack (retained, as it does for real) and then
# dev-a's; once dev-a has its own, it would have had dev-b's too.
for i in $(seq 1 20); do
    pub collector -r -t smp/v1/dev/dev-b/ack -m "ack-b-$i" 2>"$WORK/ack.err" ||
        fail "collector could not publish dev-b's ack: $(cat "$WORK/ack.err")"
    ! grep -q "Not authorized" "$WORK/ack.err" || fail "collector may not write acks: $(cat "$WORK/ack.err")"
    pub collector -t smp/v1/dev/dev-a/ack -m "ack-a-$i" || fail "collector could not publish dev-a's ack"
    wait_until 1 grep -q '^smp/v1/dev/dev-a/ack ack-a-' "$ACKS" && break
done
grep -q '^smp/v1/dev/dev-a/ack ack-a-' "$ACKS" ||
    fail "dev-a never received its own ack (output: $(cat "$ACKS" "$ACKS.err"))"
if grep -q 'dev-b' "$ACKS"; then
    fail "dev-a received dev-b's ack: $(grep dev-b "$ACKS")"
fi
# Positive control: the ack dev-a was refused is really there for dev-b.
mqtt_tls "$PKI" dev-b
got=$(mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 -v \
    -t smp/v1/dev/dev-b/ack -C 1 -W 10) || fail "dev-b could not read its own retained ack"
[[ $got == "smp/v1/dev/dev-b/ack ack-b-"* ]] || fail "dev-b got '$got' instead of its ack"
# ... and the collector reads retained acks back, as it does at start-up.
mqtt_tls "$PKI" collector
got=$(mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 -v \
    -t 'smp/v1/dev/+/ack' -C 1 -W 10) || fail "collector could not read retained acks back"
[[ $got == "smp/v1/dev/dev-b/ack ack-b-"* ]] || fail "collector got '$got' instead of dev-b's ack"

log "(d) foreign CA and missing certs fail the TLS handshake"
from=$(($(wc -l <"$BROKER_LOG") + 1))
rc=0
mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" --cafile "$PKI/ca.crt" \
    --cert "$OTHER/devices/dev-a.crt" --key "$OTHER/devices/dev-a.key" \
    -q 1 -t smp/v1/dev/dev-a/events -m from-foreign-ca 2>"$WORK/foreign.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a client with a cert from another CA could publish"
wait_until 5 log_has "$from" "certificate verify failed" ||
    fail "broker log shows no certificate verification failure: $(log_since "$from")"
if log_since "$from" | grep -q "u'dev-a'"; then
    fail "the foreign-CA client got as far as an MQTT session: $(log_since "$from")"
fi
from=$(($(wc -l <"$BROKER_LOG") + 1))
rc=0
mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" --cafile "$PKI/ca.crt" \
    -q 1 -t smp/v1/dev/dev-a/events -m without-cert 2>"$WORK/nocert.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a client without a cert could publish"
wait_until 5 log_has "$from" "peer did not return a certificate" ||
    fail "broker log shows no missing-certificate failure: $(log_since "$from")"
if grep -qE 'from-foreign-ca|without-cert' "$EVENTS"; then
    fail "collector received a message from an unauthenticated client"
fi

log "(e) the only listener is 127.0.0.1:$BROKER_PORT"
if command -v ss >/dev/null; then
    pid=$(cat "$WORK/state/mosquitto.pid")
    listeners=$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}' | sort -u)
    [ "$listeners" = "127.0.0.1:$BROKER_PORT" ] ||
        fail "broker pid $pid listens on '$listeners', expected only 127.0.0.1:$BROKER_PORT"
fi

kill "$COLLECTOR_SUB" "$DEV_A_SUB" 2>/dev/null || true
log "PASS"
