# fleet.sh: start smpfleet's own daemons for integration tests. Source after
# lib.sh (which provides BIN, WORK, track_pid, fail, wait_until).

# issue_pki DIR DEVICE...: CA, broker, collector, a second collector
# identity for test subscribers (collector-watch, CN smp-collector-watch,
# with the collector's rights) and one cert per device.
issue_pki() {
    local dir=$1; shift
    "$BIN/smpctl" pki init --dir "$dir" >/dev/null || fail "smpctl pki init"
    "$BIN/smpctl" pki issue-broker --dir "$dir" >/dev/null || fail "smpctl pki issue-broker"
    "$BIN/smpctl" pki issue-collector --dir "$dir" >/dev/null || fail "smpctl pki issue-collector"
    "$BIN/smpctl" pki issue-collector --dir "$dir" --name smp-collector-watch >/dev/null ||
        fail "smpctl pki issue-collector --name smp-collector-watch"
    local d
    for d in "$@"; do
        "$BIN/smpctl" pki issue-device "$d" --dir "$dir" >/dev/null || fail "smpctl pki issue-device $d"
    done
}

# new_db DB: creates the database as an operator does, before the first
# device add or collector start (nothing else creates one).
new_db() {
    "$BIN/smpctl" db migrate --db "$1" >/dev/null || fail "smpctl db migrate --db $1"
}

# start_collector PKI DB: starts smp-collector on $BROKER_PORT and waits for
# its subscription; COLLECTOR_EXTRA_CONF (lines) is appended to its config.
# Sets COLLECTOR_PID and COLLECTOR_LOG.
start_collector() {
    local pki=$1 db=$2
    COLLECTOR_LOG=$WORK/collector.log
    cat >"$WORK/collector.conf" <<CONF
broker_port = $BROKER_PORT
ca_file = $pki/ca.crt
cert_file = $pki/collector.crt
key_file = $pki/collector.key
db_path = $db
${COLLECTOR_EXTRA_CONF:-}
CONF
    local before=0
    [ -f "$COLLECTOR_LOG" ] && before=$(grep -c "subscribed topics=" "$COLLECTOR_LOG")
    "$BIN/smp-collector" --config "$WORK/collector.conf" 2>>"$COLLECTOR_LOG" &
    COLLECTOR_PID=$!
    track_pid "$COLLECTOR_PID"
    wait_until 15 bash -c "[ \$(grep -c 'subscribed topics=' '$COLLECTOR_LOG') -gt $before ]" ||
        fail "collector did not subscribe: $(tail -5 "$COLLECTOR_LOG")"
}

# start_agent PKI DEVICE ARGS...: starts smp-agent for DEVICE with its data
# dir under $WORK/agents; AGENT_EXTRA_CONF (lines) is appended to its
# config. Sets AGENT_PID.
start_agent() {
    local pki=$1 dev=$2; shift 2
    mkdir -p "$WORK/agents"
    cat >"$WORK/$dev.conf" <<CONF
broker_port = $BROKER_PORT
ca_file = $pki/ca.crt
cert_file = $pki/devices/$dev.crt
key_file = $pki/devices/$dev.key
device_id = $dev
data_dir = $WORK/agents/$dev
ack_timeout_s = 5
${AGENT_EXTRA_CONF:-}
CONF
    "$BIN/smp-agent" --config "$WORK/$dev.conf" "$@" 2>>"$WORK/$dev.log" &
    AGENT_PID=$!
    track_pid "$AGENT_PID"
}

# agent_status DEVICE FIELD: one field of the agent's status file.
agent_status() {
    /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$WORK/agents/$1/status" "$2"
}

# wait_pid_exit PID TIMEOUT_S: waits for a tracked process to exit 0.
wait_pid_exit() {
    local pid=$1 limit=$2
    wait_until "$limit" bash -c "! kill -0 $pid 2>/dev/null" || fail "pid $pid still running after ${limit}s"
    wait "$pid" || fail "pid $pid exited with status $?"
}
