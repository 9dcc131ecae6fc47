#!/usr/bin/env bash
# test_viewer: read-only viewer identities (smpctl pki issue-viewer) with the
# ACL generated from the registry (smpctl broker acl, via run-broker.sh
# --db), on a real broker:
#   (a) a viewer of clinic-a receives clinic-a's alerts and the status of
#       clinic-a's devices, nothing of clinic-b; an --all viewer both;
#   (b) it gets no events and no acks (even of its own clinic's device),
#       whatever it subscribes to ('#' included), and cannot publish
#       anything, not even on the topics the device patterns grant every
#       user by its own name;
#   (c) after `device add` to clinic-a and `run-broker.sh reload` (which
#       regenerates the ACL; mosquitto re-reads it on SIGHUP) it sees the
#       new device's status;
#   (d) `smpctl fleet status` shows the agents online, then one offline with
#       a since-time after it stopped.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

need_bin "$SMPCTL"
command -v mosquitto_sub >/dev/null || fail "mosquitto_sub not found; install mosquitto-clients"

PKI=$WORK/pki
DB=$WORK/fleet.db
STATE=$WORK/broker

issue_pki "$PKI" ca-01 cb-01 ca-02
new_db "$DB"
for d in ca-01:clinic-a cb-01:clinic-b; do
    "$SMPCTL" device add "${d%%:*}" --clinic "${d#*:}" --cert "$PKI/devices/${d%%:*}.crt" --db "$DB" \
        >/dev/null || fail "device add $d"
done
"$SMPCTL" pki issue-viewer va --dir "$PKI" --clinic clinic-a --db "$DB" >/dev/null ||
    fail "pki issue-viewer va"
"$SMPCTL" pki issue-viewer hq --dir "$PKI" --all --db "$DB" >/dev/null || fail "pki issue-viewer hq"
# Refused: a clinic that is not one topic level, a taken name, both scopes.
! "$SMPCTL" pki issue-viewer vx --dir "$PKI" --clinic 'a#b' --db "$DB" 2>/dev/null ||
    fail "issue-viewer accepted clinic 'a#b'"
! "$SMPCTL" pki issue-viewer va --dir "$PKI" --all --db "$DB" 2>/dev/null ||
    fail "issue-viewer accepted a name already issued"
[ ! -e "$PKI/viewer-vx.crt" ] || fail "a refused viewer left a certificate behind"
! "$SMPCTL" device add cz-01 --clinic $'clinic-a\ntopic readwrite #' --db "$DB" 2>/dev/null ||
    fail "device add accepted a clinic with a newline"

# The broker, with the ACL generated from the registry (run-broker.sh --db).
BROKER_PORT=$(free_port)
at_cleanup "'$RUN_BROKER' stop --state '$STATE'"
"$RUN_BROKER" start --pki "$PKI" --port "$BROKER_PORT" --state "$STATE" --db "$DB" >&2 ||
    fail "run-broker.sh start --db failed"
BROKER_LOG=$STATE/mosquitto.log
export BROKER_PORT BROKER_LOG
grep -qx 'user smp-viewer-va' "$STATE/acl" || fail "generated ACL has no block for viewer va: $(cat "$STATE/acl")"
grep -qx 'topic read smp/v1/dev/ca-01/status' "$STATE/acl" || fail "viewer va may not read ca-01's status"
start_collector "$PKI" "$DB"

# as WHO: the TLS options of WHO (a viewer name, or what mqtt_tls knows).
as() {
    case $1 in
        viewer-*) MQTT_TLS=(--cafile "$PKI/ca.crt" --cert "$PKI/$1.crt" --key "$PKI/$1.key") ;;
        *) mqtt_tls "$PKI" "$1" ;;
    esac
}
pub() {
    local who=$1
    shift
    as "$who"
    mosquitto_pub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 "$@"
}
sub_bg() {
    local out=$1 who=$2
    shift 2
    as "$who"
    mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 -v "$@" \
        >"$out" 2>"$out.err" &
    track_pid $!
}
# publish_until_seen OUT LINE WHO TOPIC MSG: until LINE reaches OUT.
publish_until_seen() {
    local out=$1 line=$2 who=$3 topic=$4 msg=$5 i
    for i in $(seq 1 30); do
        pub "$who" -t "$topic" -m "$msg" || fail "$who could not publish to $topic"
        wait_until 1 grep -qxF "$line" "$out" && return 0
    done
    fail "'$line' never reached $out ($(cat "$out" "$out.err"))"
}

# Client ids are certificate CNs: two connections of one identity take
# turns, so every identity below has one connection at a time. Tests publish
# alerts and acks as smp-collector-pub (the running collector is
# smp-collector, the watching subscriber smp-collector-watch).
"$SMPCTL" pki issue-collector --dir "$PKI" --name smp-collector-pub >/dev/null ||
    fail "pki issue-collector --name smp-collector-pub"
"$RUN_BROKER" reload --state "$STATE" >&2 || fail "run-broker.sh reload failed"

# Viewer va subscribes to what it may read and to what it may not: only the
# first may ever arrive.
SEEN=$WORK/va.out
WATCH=$WORK/watch.out
ALLOWED='^smp/v1/(alerts/clinic-a|dev/ca-01/status|dev/ca-02/status) '
sub_bg "$SEEN" viewer-va -t 'smp/v1/alerts/#' -t 'smp/v1/dev/+/status' -t 'smp/v1/dev/+/events' \
    -t 'smp/v1/dev/+/ack' -t smp/v1/dev/cb-01/status -t smp/v1/alerts/clinic-b \
    -t smp/v1/dev/smp-viewer-va/events -t '#'
sub_bg "$WATCH" collector-watch -t 'smp/v1/dev/+/events' -t 'smp/v1/dev/+/ack'
only_allowed() {
    if grep -qvE "$ALLOWED" "$SEEN"; then
        fail "viewer va received what it may not read: $(grep -vE "$ALLOWED" "$SEEN")"
    fi
}

log "(b) no events or acks, even of its own clinic's device"
publish_until_seen "$SEEN" "smp/v1/alerts/clinic-a alert-a-1" collector-pub smp/v1/alerts/clinic-a alert-a-1
publish_until_seen "$WATCH" "smp/v1/dev/ca-01/events ev-a" ca-01 smp/v1/dev/ca-01/events ev-a
publish_until_seen "$WATCH" "smp/v1/dev/ca-01/ack ack-a" collector-pub smp/v1/dev/ca-01/ack ack-a
pub collector-pub -t smp/v1/alerts/clinic-b -m alert-b-1 || fail "collector-pub cannot publish alerts"
publish_until_seen "$SEEN" "smp/v1/alerts/clinic-a alert-a-2" collector-pub smp/v1/alerts/clinic-a alert-a-2
only_allowed

log "(a) clinic-a's device status, nothing of clinic-b"
start_agent "$PKI" ca-01
AGENT_A=$AGENT_PID
start_agent "$PKI" cb-01
AGENT_B=$AGENT_PID
wait_until 15 grep -q '^smp/v1/dev/ca-01/status ' "$SEEN" ||
    fail "viewer va never got ca-01's status: $(cat "$SEEN" "$SEEN.err")"
# Barrier: cb-01's status is in the database, and a later alert of
# clinic-a arrived, so cb-01's status would have reached the viewer too.
cb_online() { [ "$(sqlite3 "$DB" "SELECT state FROM device_presence WHERE device_id='cb-01'")" = online ]; }
wait_until 15 cb_online ||
    fail "the collector never stored cb-01 online: $(sqlite3 "$DB" 'SELECT * FROM device_presence'); $(tail -5 "$COLLECTOR_LOG")"
publish_until_seen "$SEEN" "smp/v1/alerts/clinic-a alert-a-3" collector-pub smp/v1/alerts/clinic-a alert-a-3
only_allowed

log "(b) the viewer publishes nothing; its subscriptions outside its rights get nothing"
for topic in smp/v1/alerts/clinic-a smp/v1/dev/ca-01/status smp/v1/dev/ca-01/events \
             smp/v1/dev/smp-viewer-va/events smp/v1/dev/smp-viewer-va/status smp/v1/dev/ca-01/ack; do
    pub viewer-va -t "$topic" -m forged-by-viewer 2>"$WORK/forged.err" ||
        fail "mosquitto_pub as viewer va to $topic failed outright: $(cat "$WORK/forged.err")"
    # mosquitto 2.0 answers a denied v5 QoS 1 publish with PUBACK 0x87.
    grep -q "Not authorized" "$WORK/forged.err" ||
        fail "publish by viewer va to $topic was not refused (stderr: $(cat "$WORK/forged.err"))"
done
# What the SUBACK says for a subscription the viewer may not read (MQTT v5):
# mosquitto 2.0's acl_file grants it and filters every message on delivery,
# so it is logged here, and what counts is that nothing arrives.
as viewer-va
rc=0
mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "$BROKER_PORT" "${MQTT_TLS[@]}" -q 1 -v \
    -t smp/v1/dev/cb-01/status -t smp/v1/dev/ca-01/ack -C 1 -W 3 >"$WORK/probe.out" 2>"$WORK/probe.err" || rc=$?
log "viewer va subscribing to cb-01's status and ca-01's ack: exit $rc, got '$(cat "$WORK/probe.out")', stderr '$(tr '\n' ' ' <"$WORK/probe.err")'"
[ ! -s "$WORK/probe.out" ] || fail "viewer va read cb-01's retained status or an ack: $(cat "$WORK/probe.out")"
publish_until_seen "$SEEN" "smp/v1/alerts/clinic-a alert-a-4" collector-pub smp/v1/alerts/clinic-a alert-a-4
only_allowed
if grep -q forged "$SEEN" "$WATCH"; then fail "a viewer's publish got through"; fi
if sqlite3 "$DB" "SELECT topic FROM quarantine" | grep -q viewer; then
    fail "the collector received a viewer's publish: $(sqlite3 "$DB" 'SELECT topic FROM quarantine')"
fi
# The --all viewer reads both clinics' alerts and status.
HQ=$WORK/hq.out
sub_bg "$HQ" viewer-hq -t 'smp/v1/alerts/+' -t 'smp/v1/dev/+/status'
publish_until_seen "$HQ" "smp/v1/alerts/clinic-b alert-b-2" collector-pub smp/v1/alerts/clinic-b alert-b-2
wait_until 10 grep -q '^smp/v1/dev/cb-01/status ' "$HQ" || fail "viewer hq never got cb-01's retained status"
wait_until 10 grep -q '^smp/v1/dev/ca-01/status ' "$HQ" || fail "viewer hq never got ca-01's retained status"

log "(c) a device added to clinic-a: visible after regenerate + reload"
"$SMPCTL" device add ca-02 --clinic clinic-a --cert "$PKI/devices/ca-02.crt" --db "$DB" >/dev/null ||
    fail "device add ca-02"
pub ca-02 -r -t smp/v1/dev/ca-02/status -m online || fail "ca-02 cannot publish its status"
publish_until_seen "$SEEN" "smp/v1/alerts/clinic-a alert-a-5" collector-pub smp/v1/alerts/clinic-a alert-a-5
if grep -q ca-02 "$SEEN"; then fail "viewer va saw ca-02 before the ACL was regenerated"; fi
from=$(($(wc -l <"$BROKER_LOG") + 1))
"$RUN_BROKER" reload --state "$STATE" >&2 || fail "run-broker.sh reload failed"
grep -qx 'topic read smp/v1/dev/ca-02/status' "$STATE/acl" || fail "reload did not regenerate the ACL with ca-02"
wait_until 10 bash -c "tail -n +$from '$BROKER_LOG' | grep -q 'Reloading config'" ||
    fail "mosquitto did not log a reload: $(tail -n +"$from" "$BROKER_LOG")"
for i in $(seq 1 30); do
    pub ca-02 -r -t smp/v1/dev/ca-02/status -m "online-$i" || fail "ca-02 cannot publish its status"
    wait_until 1 grep -q '^smp/v1/dev/ca-02/status online-' "$SEEN" && break
done
grep -q '^smp/v1/dev/ca-02/status online-' "$SEEN" || fail "viewer va never saw ca-02 after the reload: $(cat "$SEEN")"
only_allowed

log "(d) smpctl fleet status: online, then offline since the agent stopped"
"$SMPCTL" fleet status --db "$DB" >"$WORK/fleet1.txt" || fail "smpctl fleet status failed"
cat "$WORK/fleet1.txt" >&2
state_of() { awk -v d="$1" '$1 == d { print $3 " " $4 }' "$2"; }
[[ $(state_of ca-01 "$WORK/fleet1.txt") == "online "* ]] || fail "ca-01 not online: $(cat "$WORK/fleet1.txt")"
[[ $(state_of cb-01 "$WORK/fleet1.txt") == "online "* ]] || fail "cb-01 not online: $(cat "$WORK/fleet1.txt")"
stopped_at=$(date -u +%Y-%m-%dT%H:%M:%S)
kill -TERM "$AGENT_A"
wait_pid_exit "$AGENT_A" 15
fleet_offline() {
    "$SMPCTL" fleet status --db "$DB" --clinic clinic-a >"$WORK/fleet2.txt" &&
        [[ $(state_of ca-01 "$WORK/fleet2.txt") == "offline "* ]]
}
wait_until 15 fleet_offline || fail "ca-01 never shown offline: $(cat "$WORK/fleet2.txt")"
cat "$WORK/fleet2.txt" >&2
since=$(state_of ca-01 "$WORK/fleet2.txt" | cut -d' ' -f2)
[[ ! $since < $stopped_at ]] || fail "ca-01 offline since $since, before it stopped at $stopped_at"
! grep -q '^cb-01 ' "$WORK/fleet2.txt" || fail "fleet status --clinic clinic-a listed cb-01"
grep -q 'device status device=ca-01 state=offline' "$COLLECTOR_LOG" || fail "collector logged no offline for ca-01"
kill -TERM "$AGENT_B" 2>/dev/null || true
log "PASS"
