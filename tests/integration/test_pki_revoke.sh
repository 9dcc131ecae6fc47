#!/usr/bin/env bash
# test_pki_revoke: certificate revocation end to end on the real broker.
#   (a) smpctl pki init writes crl.pem and the broker is configured with it;
#   (b) dev-a publishes;
#   (c) after `smpctl pki revoke-device dev-a` dev-a still gets in until the
#       broker reloads crl.pem; after a reload (SIGHUP) the broker refuses
#       dev-a at the TLS handshake; dev-b still publishes;
#   (d) a second revocation (dev-b) is honoured after a second reload (the
#       newer CRL wins over the one already loaded);
#   (e) `smpctl pki renew-device dev-a` gives dev-a a new pair that connects,
#       while its revoked old pair stays refused, also after a restart;
#   (f) `smpctl pki status` lists the revoked certificates and exits 0.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

need_bin "$SMPCTL"
command -v mosquitto_pub >/dev/null || fail "mosquitto_pub not found; install mosquitto-clients"

PKI=$WORK/pki
STATE=$WORK/state

pki() { "$SMPCTL" pki "$@" >>"$WORK/smpctl.out" || fail "smpctl pki $* failed"; }

pki init --dir "$PKI"
pki issue-broker --dir "$PKI"
pki issue-collector --dir "$PKI"
pki issue-device dev-a --dir "$PKI"
pki issue-device dev-b --dir "$PKI"

log "(a) crl.pem exists from init and the broker is configured with it"
[ -s "$PKI/crl.pem" ] || fail "smpctl pki init wrote no $PKI/crl.pem"
openssl crl -in "$PKI/crl.pem" -noout -CAfile "$PKI/ca.crt" 2>"$WORK/crl.err" ||
    fail "crl.pem does not verify with ca.crt: $(cat "$WORK/crl.err")"
start_broker "$PKI" "$STATE"
grep -q "^crlfile $PKI/crl.pem" "$STATE/mosquitto.conf" ||
    fail "broker config has no 'crlfile $PKI/crl.pem' (broker-config/run-broker.sh renders it when crl.pem exists): $(grep -n crl "$STATE/mosquitto.conf")"

# pub_as CRT KEY MSG: one QoS 1 publish of dev-a or dev-b's pair to its own
# events topic (the CN picks the topic); stderr to $WORK/pub.err.
pub_as() {
    local crt=$1 key=$2 msg=$3 cn
    cn=$(openssl x509 -in "$crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
    mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" --cafile "$PKI/ca.crt" \
        --cert "$crt" --key "$key" -q 1 -t "smp/v1/dev/$cn/events" -m "$msg" 2>"$WORK/pub.err"
}
accepted() { pub_as "$1" "$2" "$3" && ! grep -q "Not authorized" "$WORK/pub.err"; }
refused() { ! pub_as "$1" "$2" "$3"; }
dev() { echo "$PKI/devices/$1.crt" "$PKI/devices/$1.key"; }

log_since() { tail -n +"$1" "$BROKER_LOG"; }
log_lines() { wc -l <"$BROKER_LOG"; }

# reload_broker: SIGHUP through run-broker.sh and wait until mosquitto has
# processed it (it logs "Reloading config." from its main loop).
reload_broker() {
    local from=$(($(log_lines) + 1))
    "$RUN_BROKER" reload --state "$STATE" >&2 || fail "run-broker.sh reload failed"
    wait_until 10 bash -c "tail -n +$from '$BROKER_LOG' | grep -q 'Reloading config'" ||
        fail "broker did not log a reload after SIGHUP: $(log_since "$from")"
}

log "(b) dev-a publishes"
# shellcheck disable=SC2046 # dev prints two paths on purpose
accepted $(dev dev-a) before-revoke || fail "dev-a could not publish before revocation: $(cat "$WORK/pub.err")"

log "(c) revoke dev-a, reload: refused at the handshake; dev-b unaffected"
OLD_A_SERIAL=$(openssl x509 -in "$PKI/devices/dev-a.crt" -noout -serial | cut -d= -f2)
pki revoke-device dev-a --dir "$PKI" --reason keyCompromise
openssl crl -in "$PKI/crl.pem" -noout -text | grep -q "$OLD_A_SERIAL" ||
    fail "crl.pem does not list dev-a's serial $OLD_A_SERIAL"
# mosquitto reads crlfile at start and on SIGHUP only: until the reload,
# dev-a still gets in (this is why revocation needs run-broker.sh reload).
# shellcheck disable=SC2046
accepted $(dev dev-a) revoked-not-reloaded ||
    fail "dev-a was refused before the broker reloaded crl.pem: $(cat "$WORK/pub.err")"
from=$(($(log_lines) + 1))
reload_broker
# shellcheck disable=SC2046
wait_until 5 refused $(dev dev-a) after-revoke ||
    fail "dev-a could still publish after revoke-device and a reload"
wait_until 5 bash -c "tail -n +$from '$BROKER_LOG' | grep -qi 'certificate revoked\|certificate verify failed'" ||
    fail "broker log shows no certificate failure for dev-a: $(log_since "$from")"
# shellcheck disable=SC2046
accepted $(dev dev-b) dev-b-still-ok || fail "dev-b was refused after dev-a's revocation: $(cat "$WORK/pub.err")"

log "(d) a second revocation is honoured after a second reload"
pki revoke-device dev-b --dir "$PKI"
reload_broker
# shellcheck disable=SC2046
wait_until 5 refused $(dev dev-b) after-revoke-b ||
    fail "dev-b could still publish after its revocation and a reload"
# shellcheck disable=SC2046
refused $(dev dev-a) still-revoked || fail "dev-a was accepted again after the second reload"

log "(e) renew dev-a: the new pair connects, the revoked old one does not"
pki renew-device dev-a --dir "$PKI"
OLD_A=$PKI/devices/dev-a.$OLD_A_SERIAL
[ -f "$OLD_A.crt" ] && [ -f "$OLD_A.key" ] || fail "renew-device did not keep the old pair as $OLD_A.crt/.key"
# shellcheck disable=SC2046
wait_until 5 accepted $(dev dev-a) renewed || fail "dev-a's renewed certificate was refused: $(cat "$WORK/pub.err")"
refused "$OLD_A.crt" "$OLD_A.key" old-pair || fail "dev-a's revoked old pair was accepted"
"$RUN_BROKER" stop --state "$STATE" >&2
start_broker "$PKI" "$STATE"
# shellcheck disable=SC2046
accepted $(dev dev-a) renewed-after-restart ||
    fail "dev-a's renewed certificate was refused after a restart: $(cat "$WORK/pub.err")"
refused "$OLD_A.crt" "$OLD_A.key" old-pair-after-restart || fail "dev-a's revoked old pair was accepted after a restart"
# shellcheck disable=SC2046
refused $(dev dev-b) dev-b-after-restart || fail "revoked dev-b was accepted after a restart"

log "(f) pki status lists the revocations"
rc=0
"$SMPCTL" pki status --dir "$PKI" >"$WORK/status.out" || rc=$?
[ "$rc" -eq 0 ] || fail "pki status exited $rc: $(cat "$WORK/status.out")"
grep -q "^revoked .*devices/dev-a.$OLD_A_SERIAL.crt" "$WORK/status.out" ||
    fail "status does not show dev-a's old pair as revoked: $(cat "$WORK/status.out")"
grep -q "^OK .*devices/dev-a.crt" "$WORK/status.out" ||
    fail "status does not show dev-a's new pair as OK: $(cat "$WORK/status.out")"
grep -q "crl.pem: 2 revoked" "$WORK/status.out" || fail "status does not count 2 revoked: $(cat "$WORK/status.out")"

log "PASS"
