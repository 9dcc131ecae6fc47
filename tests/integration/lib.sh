# shellcheck shell=bash
# lib.sh: helpers every integration test sources (bash).
#
#   source "$(dirname "$0")/lib.sh"
#
# Gives the test: strict mode, REPO_ROOT, BIN (binaries), SMPCTL, WORK (a
# fresh work dir), free_port, start_broker, track_pid, fail, wait_until,
# mqtt_tls, at_cleanup. On exit -- pass, fail, error or signal -- every
# tracked process is killed, every broker started here is stopped, then
# every at_cleanup command runs (last registered first). WORK is removed when
# the test passed and kept (path printed) when it failed, for post-mortems;
# KEEP_WORK=1 keeps it always.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
    /*) BIN=$BUILD/bin ;;
    *) BIN=$REPO_ROOT/$BUILD/bin ;;
esac
SMPCTL=${SMPCTL:-$BIN/smpctl}
RUN_BROKER=$REPO_ROOT/broker-config/run-broker.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smp-it.XXXXXX")
# mktemp makes it 0700; when the test runs as root the broker runs as user
# mosquitto and must reach its state and PKI below WORK. Keys keep their
# own 0600/0640 modes.
chmod 0755 "$WORK"

# The test's own stdout/stderr, kept on fds 8/9: a signal can run the
# cleanup while a command's output is redirected to a file.
exec 8>&1 9>&2

_LIB_PIDS=()
_LIB_BROKER_STATES=()
_LIB_CLEANUPS=()
_LIB_CLEANED=0
_LIB_FAIL_MSG=''

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

fail() {
    _LIB_FAIL_MSG="FAIL: $*"
    echo "$_LIB_FAIL_MSG" >&2
    exit 1
}

# track_pid PID: kill PID (TERM, then KILL) when the test ends.
track_pid() { _LIB_PIDS+=("$1"); }

# at_cleanup CMD: eval CMD when the test ends, after its processes and
# brokers are stopped (namespaces, mounts, files outside WORK).
at_cleanup() { _LIB_CLEANUPS+=("$1"); }

_lib_kill() {
    local pid=$1 _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

_lib_cleanup() {
    local rc=$? pid state
    [ "$_LIB_CLEANED" -eq 1 ] && return
    _LIB_CLEANED=1
    set +e
    exec 1>&8 2>&9
    for pid in "${_LIB_PIDS[@]}"; do _lib_kill "$pid"; done
    for state in "${_LIB_BROKER_STATES[@]}"; do
        "$RUN_BROKER" stop --state "$state" >/dev/null 2>&1
    done
    local i
    for ((i = ${#_LIB_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${_LIB_CLEANUPS[$i]}" >/dev/null 2>&1
    done
    if [ "$rc" -ne 0 ]; then
        for state in "${_LIB_BROKER_STATES[@]}"; do
            if [ -f "$state/mosquitto.log" ]; then
                echo "--- tail of $state/mosquitto.log" >&2
                tail -n 10 "$state/mosquitto.log" >&2
            fi
        done
    fi
    # Repeat the reason last, where run.sh's log tail will show it.
    [ -n "$_LIB_FAIL_MSG" ] && echo "$_LIB_FAIL_MSG" >&2
    if [ "$rc" -ne 0 ] || [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap _lib_cleanup EXIT
# Signals become a normal exit so the EXIT trap runs exactly once.
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s; 0 once it succeeds,
# 1 if it never did within TIMEOUT_S seconds.
wait_until() {
    local tries=$(($1 * 10))
    shift
    while [ "$tries" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# free_port: print a TCP port free on 127.0.0.1 right now (the kernel picks).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
    done
}

# start_broker PKI STATE: start mosquitto on a free port, set BROKER_PORT and
# BROKER_LOG. The broker is stopped on exit. Retries with another port if the
# chosen one was taken in between.
start_broker() {
    local pki=$1 state=$2 attempt
    _LIB_BROKER_STATES+=("$state")
    for attempt in 1 2 3; do
        BROKER_PORT=$(free_port)
        if "$RUN_BROKER" start --pki "$pki" --port "$BROKER_PORT" --state "$state" >&2; then
            BROKER_LOG=$state/mosquitto.log
            export BROKER_PORT BROKER_LOG
            return 0
        fi
        log "broker start on port $BROKER_PORT failed (attempt $attempt)"
    done
    fail "could not start mosquitto (see messages above)"
}

# mqtt_tls PKI NAME: set the array MQTT_TLS to the mosquitto_pub/sub TLS
# options of identity NAME: "collector", "collector-<S>" (a further
# collector identity, e.g. collector-watch), "broker" or a device id. The
# broker makes the client id the certificate's CN, so a test subscriber
# with the running collector's own certificate would take over its session:
# subscribers use collector-watch.
mqtt_tls() {
    local pki=$1 name=$2 base
    case $name in
        collector | collector-* | broker) base=$pki/$name ;;
        *) base=$pki/devices/$name ;;
    esac
    # shellcheck disable=SC2034 # used by the sourcing test
    MQTT_TLS=(--cafile "$pki/ca.crt" --cert "$base.crt" --key "$base.key")
}

# need_bin PATH: fail with a hint when a binary under test is missing.
need_bin() {
    [ -x "$1" ] || fail "$1 not built; run make (or set BUILD=...)"
}
