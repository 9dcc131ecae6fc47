#!/bin/sh
# run-broker.sh: start, stop and query the smpfleet mosquitto broker.
#
#   run-broker.sh start --pki DIR --state DIR [--listen ADDR[:PORT]]... [--port N] [--acl FILE] [--db PATH]
#   run-broker.sh stop --state DIR
#   run-broker.sh reload --state DIR      regenerate the ACL, re-read it and the CRL (SIGHUP)
#   run-broker.sh status --state DIR      exit 0 running, 3 not running
#   run-broker.sh render-dropin --pki DIR --acl FILE --out FILE [--listen ADDR[:PORT]]... [--acl-out FILE] [--db PATH]
#
# --listen is repeatable: ADDR is an IPv4 address, [IPv6] or * (every
# interface); PORT defaults to 8883. Without --listen the broker listens on
# every interface on 8883; --port N is short for --listen 127.0.0.1:N (what
# tests and the demo use). When DIR/crl.pem exists (smpctl pki init writes
# it) every listener refuses the certificates it revokes. The ACL used is
# written by `smpctl broker acl` (the one implementation of it): FILE
# (default broker-config/acl) plus, for every further collector identity in
# DIR (collector-<S>.crt, CN smp-collector-<S>), a copy of the rights of user
# smp-collector, and with --db PATH (the registry) one read-only block per
# viewer (smpctl pki issue-viewer). smpctl is $SMPCTL, else
# ../$BUILD/bin/smpctl (BUILD default build), else the one on PATH. start
# remembers FILE, DIR and PATH in STATE/acl.inputs; reload regenerates
# STATE/acl from them before the SIGHUP, so a new viewer, device or
# collector identity takes effect with a reload.
#
# start renders standalone.conf.in + smpfleet.conf.in into STATE/mosquitto.conf,
# runs `mosquitto -c STATE/mosquitto.conf -d` and waits (RUN_BROKER_WAIT_S,
# default 10 s) until every listener accepts connections; if one does not,
# it prints the broker's own words (stderr and log tail) and exits 1.
# render-dropin writes only the smpfleet part, for Debian's mosquitto
# service (/etc/mosquitto/conf.d/smpfleet.conf); it always names DIR/crl.pem.
# With --acl-out it also writes the ACL (collectors found in DIR, viewers
# with --db) there, and the drop-in names that file (after issuing an
# identity or adding a device, run `smpctl broker acl --pki DIR --db PATH
# --out FILE` again, then reload the broker).
#
# As root: mosquitto 2.0 switches to user mosquitto before it opens its log,
# pid file and persistence db and before it loads broker.key, so STATE is
# handed to that user and access is checked up front (a failure after the
# switch would otherwise end the daemon without a word).
# -f: no globbing, so a --listen of "*:8883" is never matched against files.
set -euf

HERE=$(cd "$(dirname "$0")" && pwd)
WAIT_S=${RUN_BROKER_WAIT_S:-10}
DEFAULT_PORT=8883

die() { echo "run-broker.sh: $*" >&2; exit 1; }
usage() {
    sed -n '4,9s/^# \{0,1\}//p' "$0" >&2
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

# "PORT ADDR" of every listener in a rendered config, one per line (ADDR
# empty: every interface).
listeners_of() { sed -n 's/^listener \([0-9]*\) *\(.*\)$/\1 \2/p' "$1/mosquitto.conf" 2>/dev/null; }

# listen_parse SPEC: sets L_ADDR (empty: every interface) and L_PORT from
# ADDR[:PORT], [IPv6][:PORT] or *[:PORT].
listen_parse() {
    spec=$1
    case $spec in
        \[*\]:*) L_ADDR=${spec%%]:*}; L_ADDR=${L_ADDR#\[}; L_PORT=${spec##*]:} ;;
        \[*\]) L_ADDR=${spec#\[}; L_ADDR=${L_ADDR%]}; L_PORT=$DEFAULT_PORT ;;
        *:*:*) die "--listen $spec: write an IPv6 address in brackets, e.g. [::1]:8883" ;;
        *:*) L_ADDR=${spec%:*}; L_PORT=${spec##*:} ;;
        *) L_ADDR=$spec; L_PORT=$DEFAULT_PORT ;;
    esac
    [ "$L_ADDR" = '*' ] && L_ADDR=''
    case $L_PORT in ''|*[!0-9]*) die "--listen $spec: port must be a number 1..65535" ;; esac
    if [ "$L_PORT" -lt 1 ] || [ "$L_PORT" -gt 65535 ]; then die "--listen $spec: port must be 1..65535"; fi
    case $L_ADDR in
        *[!0-9a-fA-F.:]*) die "--listen $spec: ADDR must be an IP address of this host or * (mosquitto binds addresses, not names)" ;;
    esac
    return 0
}

# True when something accepts TCP connections on ADDR:PORT (ADDR empty:
# on any address). ss prints IPv6 addresses in brackets.
port_open() {
    addr=$1 port=$2
    command -v ss >/dev/null 2>&1 || die "ss not found; install iproute2"
    out=$(ss -Hltn "sport = :$port" 2>/dev/null) || return 1
    [ -n "$out" ] || return 1
    [ -z "$addr" ] && return 0
    case $addr in *:*) addr="[$addr]" ;; esac
    printf '%s\n' "$out" | grep -qF " $addr:$port " ||
        printf '%s\n' "$out" | grep -qE " (0\.0\.0\.0|\*|\[::\]):$port "
}

# Escapes a string for the replacement side of sed s|..|..|.
sed_escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

no_space() {
    case $2 in *[[:space:]]*) die "$1 '$2' contains whitespace, which mosquitto.conf cannot express; use another path" ;; esac
}

# Fails naming the template when a @PLACEHOLDER@ was left in $1.
check_rendered() {
    if grep -n '^[^#]*@[A-Z_]*@' "$1" >&2; then
        die "unreplaced placeholder in $2 (lines above)"
    fi
}

# render_smpfleet OUT CRL: the listeners, TLS, ACL and limits part. CRL is
# "yes" (always name PKI/crl.pem) or "auto" (only when it exists).
render_smpfleet() {
    out=$1 crl_line='# no crlfile: smpctl pki init writes crl.pem'
    if [ "$2" = yes ] || [ -f "$PKI/crl.pem" ]; then
        crl_line="crlfile $PKI/crl.pem"
    fi
    blocks="$out.listeners"
    : >"$blocks" || die "cannot write $blocks"
    for spec in $LISTEN; do
        listen_parse "$spec"
        sed -e "s|@LISTEN_PORT@|$L_PORT|g" \
            -e "s|@LISTEN_ADDR@|$(sed_escape "$L_ADDR")|g" \
            -e "s|@PKI_DIR@|$(sed_escape "$PKI")|g" \
            -e "s|@CRL_LINE@|$(sed_escape "$crl_line")|g" \
            -e 's/ *$//' \
            "$HERE/listener.conf.in" >>"$blocks" || die "cannot write $blocks"
    done
    # The listener blocks replace the @LISTENERS@ line (sed's r reads them).
    sed -e "s|@ACL_FILE@|$(sed_escape "$ACL")|g" \
        -e "/^@LISTENERS@\$/{r $blocks" -e 'd;}' \
        "$HERE/smpfleet.conf.in" >"$out" || die "cannot write $out"
    rm -f "$blocks"
    check_rendered "$out" "$HERE/smpfleet.conf.in or listener.conf.in"
}

# The smpctl that writes the ACL (see the header).
find_smpctl() {
    if [ -n "${SMPCTL:-}" ]; then
        SMPCTL_BIN=$SMPCTL
    else
        case ${BUILD:-build} in
            /*) SMPCTL_BIN=${BUILD}/bin/smpctl ;;
            *) SMPCTL_BIN=$HERE/../${BUILD:-build}/bin/smpctl ;;
        esac
        if [ ! -x "$SMPCTL_BIN" ]; then
            SMPCTL_BIN=$(command -v smpctl 2>/dev/null) ||
                die "smpctl not found (it writes the broker ACL): build it (make), put it on PATH or set SMPCTL"
        fi
    fi
    [ -x "$SMPCTL_BIN" ] || die "SMPCTL=$SMPCTL_BIN is not an executable smpctl"
}

# render_acl OUT: the complete ACL from ACL (the base rules), PKI and, when
# given, DB (smpctl broker acl: collectors' and viewers' blocks).
render_acl() {
    find_smpctl
    if [ -n "$DB" ]; then
        "$SMPCTL_BIN" broker acl --base "$ACL" --pki "$PKI" --db "$DB" --out "$1" >/dev/null
    else
        "$SMPCTL_BIN" broker acl --base "$ACL" --pki "$PKI" --out "$1" >/dev/null
    fi || die "could not write the ACL $1 (smpctl broker acl's words above)"
}

render_config() {
    tmp="$STATE/mosquitto.conf.tmp"
    render_acl "$STATE/acl"
    # What reload regenerates the ACL from (one path a line; none holds a
    # newline or blank: no_space).
    printf '%s\n%s\n%s\n' "$ACL" "$PKI" "$DB" >"$STATE/acl.inputs" || die "cannot write $STATE/acl.inputs"
    ACL=$STATE/acl
    sed -e "s|@STATE_DIR@|$(sed_escape "$STATE")|g" \
        -e "s|@BROKER_USER@|$(sed_escape "$BROKER_USER")|g" \
        "$HERE/standalone.conf.in" >"$tmp" || die "cannot write $tmp"
    check_rendered "$tmp" "$HERE/standalone.conf.in"
    render_smpfleet "$tmp.part" auto
    cat "$tmp.part" >>"$tmp" && rm -f "$tmp.part" || die "cannot write $tmp"
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
    if [ -f "$PKI/crl.pem" ] && ! as_broker_user test -r "$PKI/crl.pem"; then
        die "user $BROKER_USER cannot read $PKI/crl.pem; chmod o+r it (a CRL is public)"
    fi
    as_broker_user test -r "$PKI/broker.key" ||
        die "user $BROKER_USER cannot read $PKI/broker.key (mosquitto loads it after switching to that user): chgrp $BROKER_USER $PKI/broker.key && chmod 0640 $PKI/broker.key, and make its parent directories searchable; smpctl pki issue-broker run as root does the chgrp/chmod itself"
}

# "127.0.0.1:8883, [::1]:8884, *:8885" for messages.
describe_listeners() {
    listeners_of "$STATE" | while read -r p a; do
        case $a in '') a='*' ;; *:*) a="[$a]" ;; esac
        printf '%s:%s\n' "$a" "$p"
    done |
        paste -sd, - | sed 's/,/, /g'
}

all_listening() {
    listeners_of "$STATE" | {
        ok=0
        while read -r p a; do port_open "$a" "$p" || ok=1; done
        return $ok
    }
}

show_failure() {
    echo "run-broker.sh: mosquitto is not serving $(describe_listeners) (waited at most ${WAIT_S} s)" >&2
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
        if pid=$(pid_of "$STATE") && all_listening; then
            echo "run-broker.sh: mosquitto running, pid $pid, $(describe_listeners), state $STATE"
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

# Checks --pki and --acl and makes them absolute; sets the default listener.
resolve_common() {
    [ -n "$PKI" ] || usage
    PKI=$(abs_dir "$PKI" "--pki")
    ACL=${ACL:-$HERE/acl}
    ACL=$(abs_dir "$(dirname "$ACL")" "--acl dir")/$(basename "$ACL")
    if [ -n "$DB" ]; then
        [ -f "$DB" ] || die "--db $DB: no such database; give the registry (smpctl device add --db)"
        DB=$(abs_dir "$(dirname "$DB")" "--db dir")/$(basename "$DB")
    fi
    [ -n "$LISTEN" ] || LISTEN="*:$DEFAULT_PORT"
    for spec in $LISTEN; do listen_parse "$spec"; done
    for v in "$PKI" "$ACL" "$DB"; do no_space path "$v"; done
}

cmd_start() {
    [ -n "$STATE" ] || usage
    command -v mosquitto >/dev/null 2>&1 || die "mosquitto not found; install the mosquitto package (make deps)"
    resolve_common
    for f in ca.crt broker.crt broker.key; do
        [ -r "$PKI/$f" ] || die "$PKI/$f missing; run smpctl pki init / issue-broker --dir $PKI"
    done
    [ -r "$ACL" ] || die "ACL file $ACL not readable"
    mkdir -p "$STATE" || die "cannot create --state $STATE"
    STATE=$(abs_dir "$STATE" "--state")
    no_space path "$STATE"
    if pid=$(pid_of "$STATE"); then
        die "a broker is already running from $STATE (pid $pid); run-broker.sh stop --state $STATE first"
    fi
    for spec in $LISTEN; do
        listen_parse "$spec"
        if port_open "$L_ADDR" "$L_PORT"; then die "--listen $spec: port $L_PORT is already in use; pick another port"; fi
    done

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

cmd_render_dropin() {
    [ -n "$OUT" ] && [ -n "$ACL" ] || usage
    # The drop-in names the paths of the server it is installed on: they
    # need not exist here (packages render it at build time).
    case $PKI in /*) ;; *) die "--pki must be an absolute path for a drop-in, got '$PKI'" ;; esac
    case $ACL in /*) ;; *) die "--acl must be an absolute path for a drop-in, got '$ACL'" ;; esac
    [ -n "$LISTEN" ] || LISTEN="*:$DEFAULT_PORT"
    for v in "$PKI" "$ACL"; do no_space path "$v"; done
    if [ -n "$ACL_OUT" ]; then
        [ -d "$PKI" ] || die "--acl-out needs the PKI directory $PKI on this host"
        render_acl "$ACL_OUT"
        case $ACL_OUT in /*) ACL=$ACL_OUT ;; *) ACL=$(pwd)/$ACL_OUT ;; esac
        echo "run-broker.sh: wrote $ACL_OUT"
    fi
    render_smpfleet "$OUT" yes
    echo "run-broker.sh: wrote $OUT (listeners: $LISTEN)"
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

cmd_reload() {
    [ -n "${STATE:-}" ] || usage
    pid=$(pid_of "$STATE") || die "no broker running from $STATE"
    # Regenerate STATE/acl from what start was given: new viewers, devices
    # and collector identities take effect with this reload.
    if [ -f "$STATE/acl.inputs" ]; then
        { read -r ACL && read -r PKI && read -r DB; } <"$STATE/acl.inputs" ||
            die "$STATE/acl.inputs is damaged; restart the broker (stop, start)"
        render_acl "$STATE/acl"
    fi
    kill -HUP "$pid" 2>/dev/null || die "cannot signal pid $pid (are you its owner or root?)"
    echo "run-broker.sh: asked pid $pid to reload (SIGHUP)"
}

cmd_status() {
    [ -n "${STATE:-}" ] || usage
    if pid=$(pid_of "$STATE"); then
        echo "running pid $pid listeners $(describe_listeners) state $STATE"
        return 0
    fi
    echo "not running (state $STATE)"
    return 3
}

[ $# -ge 1 ] || usage
CMD=$1
shift
case $CMD in -h|--help) usage ;; esac
PKI='' STATE='' ACL='' LISTEN='' OUT='' ACL_OUT='' DB=''
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
        --pki) PKI=$2 ;;
        --listen)
            case $2 in *[[:space:]]*|'') die "--listen needs ADDR[:PORT], got '$2'" ;; esac
            LISTEN="$LISTEN $2" ;;
        --port)
            case $2 in ''|*[!0-9]*) die "--port must be a number 1..65535, got '$2'" ;; esac
            LISTEN="$LISTEN 127.0.0.1:$2" ;;
        --state) STATE=$2 ;;
        --acl) ACL=$2 ;;
        --out) OUT=$2 ;;
        --acl-out) ACL_OUT=$2 ;;
        --db) DB=$2 ;;
        *) echo "run-broker.sh: unknown option $1" >&2; usage ;;
    esac
    shift 2
done

case $CMD in
    start) cmd_start ;;
    stop) cmd_stop ;;
    reload) cmd_reload ;;
    status) cmd_status ;;
    render-dropin) cmd_render_dropin ;;
    *) echo "run-broker.sh: unknown command $CMD" >&2; usage ;;
esac
