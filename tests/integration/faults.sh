# shellcheck shell=bash
# faults.sh: helpers for the fault-injection integration tests
# (test_fault_*.sh). Source after lib.sh and fleet.sh; uses their WORK, BIN,
# RUN_BROKER, track_pid, fail, log, wait_until, agent_status.

GENESIS_PREV=0000000000000000000000000000000000000000000000000000000000000000

# db_count DB DEVICE: records the collector holds for DEVICE (0 when the
# database or its tables are not there yet).
db_count() {
    sqlite3 "$1" "SELECT count(*) FROM records WHERE device_id='$2'" 2>/dev/null || echo 0
}

# status_field DEVICE FIELD: like agent_status, but prints nothing (and
# fails) while the status file does not exist yet or is being replaced.
status_field() {
    [ -f "$WORK/agents/$1/status" ] || return 1
    agent_status "$1" "$2" 2>/dev/null
}

# assert_prev_chain DB DEVICE: the stored records of DEVICE form one hash
# chain: seq 1 links to the genesis value, and every seq>1 has a stored
# predecessor whose hash is its prev (self-join on records). Fails naming
# the first broken link.
assert_prev_chain() {
    local db=$1 dev=$2 bad first
    bad=$(sqlite3 "$db" "
        SELECT count(*) FROM records r
        LEFT JOIN records p ON p.device_id = r.device_id AND p.seq = r.seq - 1
        WHERE r.device_id = '$dev' AND r.seq > 1 AND (p.hash IS NULL OR p.hash <> r.prev)") ||
        fail "$dev: chain query failed"
    if [ "$bad" != 0 ]; then
        first=$(sqlite3 "$db" "
            SELECT r.seq || ' prev=' || r.prev || ' hash(seq-1)=' || coalesce(p.hash, 'MISSING')
            FROM records r
            LEFT JOIN records p ON p.device_id = r.device_id AND p.seq = r.seq - 1
            WHERE r.device_id = '$dev' AND r.seq > 1 AND (p.hash IS NULL OR p.hash <> r.prev)
            ORDER BY r.seq LIMIT 1")
        fail "$dev: $bad broken prev links in the database; first: seq $first"
    fi
    [ "$(sqlite3 "$db" "SELECT prev FROM records WHERE device_id='$dev' AND seq=1")" = "$GENESIS_PREV" ] ||
        fail "$dev: seq 1 does not link to the genesis value"
}

# assert_exactly_once DB DEVICE: the database holds exactly the records the
# agent journaled (its final status head_seq/head_hash): seq 1..head once
# each, the collector's chain head equal to the agent's, and an unbroken
# prev chain.
assert_exactly_once() {
    local db=$1 dev=$2 head hash count distinct lo hi stored
    head=$(agent_status "$dev" head_seq) || fail "$dev: no status"
    hash=$(agent_status "$dev" head_hash) || fail "$dev: no status"
    [ "$head" -gt 0 ] || fail "$dev: agent journaled nothing"
    read -r count distinct lo hi <<<"$(sqlite3 -separator ' ' "$db" \
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM records WHERE device_id='$dev'")"
    [ "$count" = "$head" ] || fail "$dev: agent journaled $head records, database holds $count"
    [ "$distinct" = "$head" ] && [ "$lo" = 1 ] && [ "$hi" = "$head" ] ||
        fail "$dev: seq not 1..$head exactly once (distinct=$distinct min=$lo max=$hi)"
    stored=$(sqlite3 "$db" "SELECT acked_seq || ' ' || acked_hash FROM device_state WHERE device_id='$dev'")
    [ "$stored" = "$head $hash" ] || fail "$dev: collector chain head '$stored' != agent '$head $hash'"
    assert_prev_chain "$db" "$dev"
    echo "ok: $dev $head records stored once, chain unbroken, head $hash"
}

# assert_no_integrity_alerts DB: the collector logged no chain break or
# conflict and quarantined nothing.
assert_no_integrity_alerts() {
    local db=$1 q
    if grep -E "integrity|quarantined" "$COLLECTOR_LOG" >&2; then
        fail "collector logged integrity alerts or quarantined messages (above)"
    fi
    q=$(sqlite3 "$db" "SELECT count(*) FROM quarantine")
    [ "$q" = 0 ] || fail "quarantine holds $q messages"
}

# register_devices PKI DB DEVICE...: smpctl device add for each.
register_devices() {
    local pki=$1 db=$2 d
    shift 2
    for d in "$@"; do
        "$BIN/smpctl" device add "$d" --clinic clinic-faults --cert "$pki/devices/$d.crt" --db "$db" >/dev/null ||
            fail "smpctl device add $d"
    done
}

# stop_broker_state STATE: stop the broker started from STATE (SIGTERM, so it
# saves its persistence db).
stop_broker_state() {
    "$RUN_BROKER" stop --state "$1" >&2 || fail "could not stop broker in $1"
}

# start_broker_on_port PKI STATE PORT: start mosquitto on a given port (a
# restart on the same port, or a port agents were pointed at while nothing
# listened). Stopped on exit like start_broker's. Retries for a few seconds
# in case the port is still being released.
start_broker_on_port() {
    local pki=$1 state=$2 port=$3 attempt
    case " ${_LIB_BROKER_STATES[*]} " in
        *" $state "*) ;;
        *) _LIB_BROKER_STATES+=("$state") ;;
    esac
    for attempt in 1 2 3 4 5; do
        if "$RUN_BROKER" start --pki "$pki" --port "$port" --state "$state" >&2; then
            BROKER_PORT=$port
            BROKER_LOG=$state/mosquitto.log
            export BROKER_PORT BROKER_LOG
            return 0
        fi
        log "broker start on port $port failed (attempt $attempt)"
        sleep 1
    done
    fail "could not start mosquitto on port $port"
}

# kill9 PID: SIGKILL a process this test started and reap it.
kill9() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# vm_hwm PID: peak resident set (VmHWM) of PID in kB, empty when it is gone.
vm_hwm() {
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true
}

# wait_exit_hwm TIMEOUT_S PID...: wait (one shared deadline) until every
# PID exited 0, sampling VmHWM every 0.1 s; sets PEAK_RSS_KB[PID] to the
# last value read before that process exited.
declare -A PEAK_RSS_KB
wait_exit_hwm() {
    local tries=$(($1 * 10)) alive p h
    shift
    while [ "$tries" -gt 0 ]; do
        alive=0
        for p in "$@"; do
            h=$(vm_hwm "$p")
            if [ -n "$h" ]; then
                PEAK_RSS_KB[$p]=$h
                alive=1
            fi
        done
        if [ "$alive" = 0 ]; then break; fi
        sleep 0.1
        tries=$((tries - 1))
    done
    for p in "$@"; do
        kill -0 "$p" 2>/dev/null && fail "pid $p still running after the deadline"
        wait "$p" || fail "pid $p exited with status $?"
    done
}

# wait_agents_exit TIMEOUT_S PID...: every agent drains and exits 0 within
# one shared deadline; on timeout, show each one's status.
wait_agents_exit() {
    local limit=$1 p
    shift
    wait_until "$limit" bash -c "for p in $*; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" || {
        for p in "$WORK"/agents/*/status; do echo "status: $(cat "$p")" >&2; done
        fail "agents still running after ${limit}s"
    }
    for p in "$@"; do
        wait "$p" || fail "agent pid $p exited with status $?"
    done
}
