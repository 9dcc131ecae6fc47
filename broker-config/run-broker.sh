#!/bin/sh
# run-broker.sh: start, stop and query the smpfleet mosquitto broker.
#
#   run-broker.sh start --pki DIR --port N --state DIR [--acl FILE]
#   run-broker.sh stop --state DIR
#   run-broker.sh status --state DIR      exit 0 running, 3 not running
#
# start renders mosquitto.conf.in into STATE/mosquitto.conf, runs
# `mosquitto -c STATE/mosquitto.conf -d` and waits (RUN_BROKER_WAIT_S, default
# 10 s) until 127.0.0.1:PORT accepts connections; if it does not, it prints
# the broker's own words (stderr and log tail) and exits 1.
#
# As root: mosquitto 2.0 switches to user mosquitto before it opens its log,
# pid file and persistence db and before it loads broker.key, so STATE is
# handed to that user and access is checked up front (a failure after the
# switch would otherwise end the daemon without a word).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
WAIT_S=${RUN_BROKER_WAIT_S:-10}

die() { echo "run-broker.sh: $*" >&2; exit 1; }
usage() {
    sed -n '4,6s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

# Absolute path of an existing directory (mosquitto -d runs from /).
abs_dir() { (cd "$1" 2>/dev/null && pwd) || die "$2 $1 is not a directory"; }

pid_of() {
    [ -f "$1/mosquitto.pid" ] || return 1
    pid=$(cat "$1/mosquitto.pid" 2>/dev/null) || return 1
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    # A stale pid file may name a recycled pid: only trust a live mosquitto.
    kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ] || return 1
    comm=$(ps -p "$pid" -o comm= 2>/dev/null) || return 1
    [ "$comm" = mosquitto ] || return 1
    echo "$pid"
}

port_of() { sed -n 's/^listener \([0-9]*\) .*/\1/p' "$1/mosquitto.conf" 2>/dev/null | head -n 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$1" 2>/dev/null | grep -qF "127.0.0.1:$1"
    else
        bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    fi
}

# Escapes a string for the replacement side of sed s|..|..|.
sed_escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

no_space() {
    case $2 in *[[:space:]]*) die "$1 '$2' contains whitespace, which mosquitto.conf cannot express; use another path" ;; esac
}

render_config() {
    tmp="$STATE/mosquitto.conf.tmp"
    sed -e "s|@PORT@|$PORT|g" \
        -e "s|@PKI_DIR@|$(sed_escape "$PKI")|g" \
        -e "s|@STATE_DIR@|$(sed_escape "$STATE")|g" \
        -e "s|@ACL_FILE@|$(sed_escape "$ACL")|g" \
        -e "s|@BROKER_USER@|$(sed_escape "$BROKER_USER")|g" \
        "$HERE/mosquitto.conf.in" >"$tmp" || die "cannot write $tmp"
    if grep -n '@[A-Z_]*@' "$tmp" >&2; then
        die "unreplaced placeholder in $HERE/mosquitto.conf.in (lines above)"
    fi
    mv "$tmp" "$STATE/mosquitto.conf"
}

# Runs "$@" as the broker user (root only).
as_broker_user() {
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$BROKER_USER" -- "$@"
    else
        # shellcheck disable=SC2016 # expanded by the inner shell, on purpose
        su -s /bin/sh "$BROKER_USER" -c '"$0" "$@"' "$@"
    fi
}

# As root: give STATE to the broker user, then check it can reach everything
# it opens after dropping privileges.
prepare_for_root() {
    chown -R "$BROKER_USER" "$STATE" || die "cannot chown $STATE to $BROKER_USER"
    as_broker_user test -w "$STATE" ||
        die "user $BROKER_USER cannot write $STATE; make every parent directory searchable (chmod o+x) or use another --state"
    for f in "$PKI/ca.crt" "$PKI/broker.crt" "$ACL"; do
        as_broker_user test -r "$f" ||
            die "user $BROKER_USER cannot read $f; make it and its parent directories readable (chmod o+rx dirs, o+r file)"
    done
    as_broker_user test -r "$PKI/broker.key" ||
        die "user $BROKER_USER cannot read $PKI/broker.key (mosquitto loads it after switching to that user): chgrp $BROKER_USER $PKI/broker.key && chmod 0640 $PKI/broker.key, and make its parent directories searchable; smpctl pki issue-broker run as root does the chgrp/chmod itself"
}

show_failure() {
    echo "run-broker.sh: mosquitto is not serving 127.0.0.1:$PORT (waited at most ${WAIT_S} s)" >&2
    if [ -s "$STATE/mosquitto.stderr" ]; then
        echo "--- mosquitto stderr ($STATE/mosquitto.stderr):" >&2
        tail -n 20 "$STATE/mosquitto.stderr" >&2
    fi
    if [ -f "$STATE/mosquitto.log" ]; then
        echo "--- tail of $STATE/mosquitto.log:" >&2
        tail -n +"$LOG_FROM" "$STATE/mosquitto.log" | tail -n 20 >&2
    else
        echo "--- no log at $STATE/mosquitto.log: mosquitto exited before opening it (as root: can user $BROKER_USER write $STATE?)" >&2
    fi
}

wait_up() {
    i=0
    while [ "$i" -lt $((WAIT_S * 10)) ]; do
        if pid=$(pid_of "$STATE") && port_open "$PORT"; then
            echo "run-broker.sh: mosquitto running, pid $pid, 127.0.0.1:$PORT, state $STATE"
            return 0
        fi
        # mosquitto logged an error and no broker is alive: it has given up,
        # so report now instead of at the end of the wait.
        if [ -f "$STATE/mosquitto.log" ] &&
            tail -n +"$LOG_FROM" "$STATE/mosquitto.log" | grep -q 'Error'; then
            sleep 0.2
            pid_of "$STATE" >/dev/null || break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    show_failure
    if pid=$(pid_of "$STATE"); then kill -9 "$pid" 2>/dev/null || true; fi
    return 1
}

cmd_start() {
    if [ -z "$PKI" ] || [ -z "$PORT" ] || [ -z "$STATE" ]; then usage; fi
    case $PORT in ''|*[!0-9]*) die "--port must be a number 1..65535, got '$PORT'" ;; esac
    if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "--port must be 1..65535, got $PORT"; fi
    command -v mosquitto >/dev/null 2>&1 || die "mosquitto not found; install the mosquitto package (make deps)"
    PKI=$(abs_dir "$PKI" "--pki")
    for f in ca.crt broker.crt broker.key; do
        [ -r "$PKI/$f" ] || die "$PKI/$f missing; run smpctl pki init / issue-broker --dir $PKI"
    done
    ACL=${ACL:-$HERE/acl}
    [ -r "$ACL" ] || die "ACL file $ACL not readable"
    ACL=$(abs_dir "$(dirname "$ACL")" "--acl dir")/$(basename "$ACL")
    mkdir -p "$STATE" || die "cannot create --state $STATE"
    STATE=$(abs_dir "$STATE" "--state")
    for v in "$PKI" "$STATE" "$ACL"; do no_space path "$v"; done
    if pid=$(pid_of "$STATE"); then
        die "a broker is already running from $STATE (pid $pid); run-broker.sh stop --state $STATE first"
    fi
    if port_open "$PORT"; then die "port $PORT on 127.0.0.1 is already in use; pick another --port"; fi

    BROKER_USER=mosquitto
    id mosquitto >/dev/null 2>&1 || BROKER_USER=nobody   # mosquitto's own fallback
    rm -f "$STATE/mosquitto.pid"
    render_config
    [ "$(id -u)" -eq 0 ] && prepare_for_root
    LOG_FROM=1
    [ -f "$STATE/mosquitto.log" ] && LOG_FROM=$(($(wc -l <"$STATE/mosquitto.log") + 1))
    if ! mosquitto -c "$STATE/mosquitto.conf" -d 2>"$STATE/mosquitto.stderr"; then
        show_failure
        exit 1
    fi
    wait_up || exit 1
}

cmd_stop() {
    [ -n "${STATE:-}" ] || usage
    if ! pid=$(pid_of "$STATE"); then
        echo "run-broker.sh: no broker running from $STATE"
        rm -f "$STATE/mosquitto.pid" 2>/dev/null || true
        return 0
    fi
    # SIGTERM lets mosquitto save its persistence db before it exits.
    kill -TERM "$pid" 2>/dev/null || die "cannot signal pid $pid (are you its owner or root?)"
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $((WAIT_S * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "run-broker.sh: pid $pid ignored SIGTERM for ${WAIT_S} s; sending SIGKILL (unsaved queue since the last autosave is lost)" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/mosquitto.pid" 2>/dev/null || true
    echo "run-broker.sh: stopped pid $pid"
}

cmd_status() {
    [ -n "${STATE:-}" ] || usage
    if pid=$(pid_of "$STATE"); then
        echo "running pid $pid port $(port_of "$STATE") state $STATE"
        return 0
    fi
    echo "not running (state $STATE)"
    return 3
}

[ $# -ge 1 ] || usage
CMD=$1
shift
PKI='' PORT='' STATE='' ACL=''
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
        --pki) PKI=$2 ;;
        --port) PORT=$2 ;;
        --state) STATE=$2 ;;
        --acl) ACL=$2 ;;
        *) echo "run-broker.sh: unknown option $1" >&2; usage ;;
    esac
    shift 2
done

case $CMD in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h|--help) usage ;;
    *) echo "run-broker.sh: unknown command $CMD" >&2; usage ;;
esac
