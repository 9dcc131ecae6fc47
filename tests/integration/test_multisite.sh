#!/usr/bin/env bash
# Several sites on one machine, over real (virtual) network links: network
# namespaces "hq" (broker and collector) and two clinics, each joined to hq
# by a veth pair of its own. The broker listens on hq's two link addresses,
# never on loopback, and everyone reaches it by the host name
# broker.smpfleet.test, resolved per site through /etc/netns/<ns>/hosts.
#
#   clinic 1  10.77.1.2 ──veth── 10.77.1.1 ┐
#                                          hq: mosquitto + smp-collector
#   clinic 2  10.77.2.2 ──veth── 10.77.2.1 ┘
#
# A clinic day from three machines must be stored exactly once. Then each
# way a connection can be wrong must be refused and the agent must say
# why: a host name the broker's certificate does not hold, a broker with a
# certificate for another host, a name that does not resolve, a closed
# port, a broker certificate from another CA, our certificate from another
# CA, and a device id that is not our certificate's CN.
#
# Needs root (namespaces). Every namespace, /etc/netns entry and process
# it made is removed at the end, pass or fail.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

[ "$(id -u)" -eq 0 ] || fail "needs root to create network namespaces"
command -v ip >/dev/null || fail "ip (iproute2) not installed; run scripts/install-deps.sh"

TAG=$(printf '%04x' $((RANDOM % 65536)))
NS_HQ=smp-hq-$TAG NS_C1=smp-c1-$TAG NS_C2=smp-c2-$TAG
BROKER_NAME=broker.smpfleet.test
PORT=8883

# ---- the network ---------------------------------------------------------

for ns in "$NS_HQ" "$NS_C1" "$NS_C2"; do
    at_cleanup "ip netns pids $ns | xargs -r kill -9; ip netns del $ns; rm -rf /etc/netns/$ns"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done

# link N: veth pair hq <-> clinic N, 10.77.N.1 on hq's side, .2 on the clinic's.
link_clinic() {
    local n=$1 ns=$2 hq_if=h$1-$TAG cl_if=c$1-$TAG
    ip link add "$hq_if" netns "$NS_HQ" type veth peer name "$cl_if" netns "$ns"
    ip -n "$NS_HQ" addr add "10.77.$n.1/24" dev "$hq_if"
    ip -n "$ns" addr add "10.77.$n.2/24" dev "$cl_if"
    ip -n "$NS_HQ" link set "$hq_if" up
    ip -n "$ns" link set "$cl_if" up
}
link_clinic 1 "$NS_C1"
link_clinic 2 "$NS_C2"

# hosts NS ADDR: the broker's names as that site resolves them. "alias" is
# a second name of the same server that its certificate does not hold.
hosts() {
    mkdir -p "/etc/netns/$1"
    printf '127.0.0.1 localhost\n%s %s\n%s alias.smpfleet.test\n' "$2" "$BROKER_NAME" "$2" \
        >"/etc/netns/$1/hosts"
}
hosts "$NS_HQ" 10.77.1.1
hosts "$NS_C1" 10.77.1.1
hosts "$NS_C2" 10.77.2.1

resolved=$(ip netns exec "$NS_C2" getent hosts "$BROKER_NAME" | awk '{ print $1 }')
[ "$resolved" = 10.77.2.1 ] || fail "clinic 2 resolves $BROKER_NAME to '$resolved', not its link's 10.77.2.1"
log "namespaces $NS_HQ $NS_C1 $NS_C2 linked"

# ---- PKI, broker, collector in hq ----------------------------------------

PKI=$WORK/pki
DB=$WORK/fleet.db
MACHINES=(c1-chair-01 c1-chair-02 c2-chair-01)
"$BIN/smpctl" pki init --dir "$PKI" >/dev/null
"$BIN/smpctl" pki issue-broker --dir "$PKI" --host "$BROKER_NAME" --ip 10.77.1.1 --ip 10.77.2.1 >/dev/null
"$BIN/smpctl" pki issue-collector --dir "$PKI" >/dev/null
new_db "$DB"
for d in "${MACHINES[@]}"; do
    "$BIN/smpctl" pki issue-device "$d" --dir "$PKI" >/dev/null
    "$BIN/smpctl" device add "$d" --clinic "clinic-${d%%-*}" --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done

# broker_in_hq STATE ARGS...: run-broker.sh start inside hq (the pid file
# holds mosquitto's pid, so stopping works from outside).
broker_in_hq() {
    local state=$1; shift
    _LIB_BROKER_STATES+=("$state")
    ip netns exec "$NS_HQ" "$RUN_BROKER" start --state "$state" "$@" >&2 ||
        fail "broker did not start in $NS_HQ"
}
broker_in_hq "$WORK/broker" --pki "$PKI" --listen 10.77.1.1:$PORT --listen 10.77.2.1:$PORT
grep -q '^listener 8883 127' "$WORK/broker/mosquitto.conf" && fail "broker listens on loopback"

cat >"$WORK/collector.conf" <<CONF
broker_host = $BROKER_NAME
broker_port = $PORT
ca_file = $PKI/ca.crt
cert_file = $PKI/collector.crt
key_file = $PKI/collector.key
db_path = $DB
CONF
ip netns exec "$NS_HQ" "$BIN/smp-collector" --config "$WORK/collector.conf" 2>>"$WORK/collector.log" &
COLLECTOR_PID=$!
track_pid $COLLECTOR_PID
wait_until 15 grep -q 'subscribed topics=' "$WORK/collector.log" ||
    fail "collector did not subscribe: $(tail -5 "$WORK/collector.log")"

# ---- a clinic day from both clinics --------------------------------------

# agent_conf NAME DEVICE [KEY=VALUE...]: an agent config in WORK/NAME.conf,
# each KEY=VALUE replacing that setting.
agent_conf() {
    local name=$1 dev=$2 kv
    shift 2
    cat >"$WORK/$name.conf" <<CONF
broker_host = $BROKER_NAME
broker_port = $PORT
ca_file = $PKI/ca.crt
cert_file = $PKI/devices/$dev.crt
key_file = $PKI/devices/$dev.key
device_id = $dev
data_dir = $WORK/agents/$name
ack_timeout_s = 5
CONF
    for kv in "$@"; do
        sed -i "s|^${kv%%=*} = .*|${kv%%=*} = ${kv#*=}|" "$WORK/$name.conf"
    done
}

mkdir -p "$WORK/agents"
pids=()
seed=21
for d in "${MACHINES[@]}"; do
    ns=$NS_C1
    [ "${d%%-*}" = c2 ] && ns=$NS_C2
    agent_conf "$d" "$d"
    ip netns exec "$ns" "$BIN/smp-agent" --config "$WORK/$d.conf" --simulate --seed $seed --speed 0 \
        --sim-start 2026-03-02 --fault-rate 10 --exit-when-done 2>>"$WORK/$d.log" &
    pids+=($!)
    track_pid $!
    seed=$((seed + 1))
done
for p in "${pids[@]}"; do wait_pid_exit "$p" 120; done

for d in "${MACHINES[@]}"; do
    head=$(agent_status "$d" head_seq)
    [ "$head" -gt 200 ] || fail "$d journaled only $head records for a clinic day"
    read -r count distinct lo hi <<<"$(sqlite3 -separator ' ' "$DB" \
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM records WHERE device_id='$d'")"
    [ "$count" = "$head" ] && [ "$distinct" = "$head" ] && [ "$lo" = 1 ] && [ "$hi" = "$head" ] ||
        fail "$d: agent journaled 1..$head, database holds count=$count distinct=$distinct min=$lo max=$hi"
    clinic=$(sqlite3 "$DB" "SELECT clinic FROM devices WHERE device_id='$d'")
    echo "ok: $d ($clinic) $head records stored once over its clinic's link"
done
alerts=$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE rule IN ('R9','R10')")
[ "$alerts" = 0 ] || fail "clean multi-site run raised integrity alerts"

# ---- every wrong connection is refused with its cause --------------------

# expect_refusal NAME NS CAUSE TEXT: the agent of WORK/NAME.conf, started in
# NS, logs "cause=CAUSE" with TEXT in its detail; it is then stopped.
expect_refusal() {
    local name=$1 ns=$2 cause=$3 text=$4 pid
    ip netns exec "$ns" "$BIN/smp-agent" --config "$WORK/$name.conf" 2>>"$WORK/$name.log" &
    pid=$!
    track_pid "$pid"
    wait_until 20 grep -q "cause=$cause " "$WORK/$name.log" ||
        fail "$name: no 'cause=$cause' logged: $(tail -3 "$WORK/$name.log")"
    grep "cause=$cause " "$WORK/$name.log" | grep -qF -- "$text" ||
        fail "$name: cause=$cause logged without '$text': $(grep "cause=" "$WORK/$name.log" | tail -1)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "ok: $name refused: $(grep -o "cause=$cause .*" "$WORK/$name.log" | head -1)"
}

"$BIN/smpctl" pki issue-device c1-chair-09 --dir "$PKI" >/dev/null

# A name of the right server that its certificate does not hold.
agent_conf wrong-name c1-chair-09 broker_host=alias.smpfleet.test
expect_refusal wrong-name "$NS_C1" hostname-mismatch \
    "does not name host 'alias.smpfleet.test' (it names: DNS:$BROKER_NAME, IP:10.77.1.1, IP:10.77.2.1)"

# A broker (same CA) whose certificate was issued for another host.
PKI2=$WORK/pki-other-host
mkdir -p "$PKI2"
cp "$PKI/ca.crt" "$PKI/ca.key" "$PKI2/"
"$BIN/smpctl" pki issue-broker --dir "$PKI2" --host other.smpfleet.test >/dev/null
broker_in_hq "$WORK/broker-other" --pki "$PKI2" --listen 10.77.1.1:8884
agent_conf other-host c1-chair-09 broker_port=8884
expect_refusal other-host "$NS_C1" hostname-mismatch "(it names: DNS:other.smpfleet.test)"

agent_conf no-such-name c1-chair-09 broker_host=nosuch.smpfleet.test
expect_refusal no-such-name "$NS_C1" name-not-resolved "'nosuch.smpfleet.test' cannot be resolved"

agent_conf closed-port c1-chair-09 broker_port=8885
expect_refusal closed-port "$NS_C1" refused "connection to $BROKER_NAME:8885 refused"

# Another fleet's CA: the broker is not trusted, or our certificate is not.
FOREIGN=$WORK/pki-foreign
"$BIN/smpctl" pki init --dir "$FOREIGN" >/dev/null
"$BIN/smpctl" pki issue-device c1-chair-09 --dir "$FOREIGN" >/dev/null
agent_conf untrusted-broker c1-chair-09 "ca_file=$FOREIGN/ca.crt"
expect_refusal untrusted-broker "$NS_C2" broker-cert-untrusted "is not trusted with ca_file $FOREIGN/ca.crt"

agent_conf foreign-cert c1-chair-09 "cert_file=$FOREIGN/devices/c1-chair-09.crt" \
    "key_file=$FOREIGN/devices/c1-chair-09.key"
expect_refusal foreign-cert "$NS_C2" our-cert-refused \
    "refused our certificate cert_file $FOREIGN/devices/c1-chair-09.crt"

# A device id that is not the CN of the certificate: refused at start-up,
# before any connection, naming both.
agent_conf id-mismatch c1-chair-01 device_id=c1-chair-02
set +e
out=$(ip netns exec "$NS_C1" timeout 10 "$BIN/smp-agent" --config "$WORK/id-mismatch.conf" 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "agent with a mismatched device_id did not refuse to start (rc=$rc)"
grep -q "c1-chair-02" <<<"$out" && grep -q "c1-chair-01" <<<"$out" ||
    fail "start-up refusal does not name device_id and CN: $out"
echo "ok: id-mismatch refused at start: $out"

# The collector names its cause the same way (the first one is stopped:
# one collector per database).
kill "$COLLECTOR_PID"
wait "$COLLECTOR_PID" 2>/dev/null || true
sed -i 's/^broker_host = .*/broker_host = alias.smpfleet.test/' "$WORK/collector.conf"
ip netns exec "$NS_HQ" "$BIN/smp-collector" --config "$WORK/collector.conf" 2>>"$WORK/collector-alias.log" &
pid=$!
track_pid $pid
wait_until 20 grep -q "cause=hostname-mismatch .*alias.smpfleet.test" "$WORK/collector-alias.log" ||
    fail "collector did not name the hostname mismatch: $(tail -3 "$WORK/collector-alias.log")"
echo "ok: collector refused alias.smpfleet.test with cause=hostname-mismatch"
