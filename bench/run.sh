#!/usr/bin/env bash
# bench/run.sh: `make bench` -- ingest, agent footprint, journal and reports,
# measured in one run and printed as a table (also out/bench/results.md).
#
#   BENCH_SCALE=1      full size (200,000 records ...); 0.1 for a quick try
#   BENCH_B1_RECORDS   records of the batch-size-1 ingest round
#                      (default 50,000 x scale: one fsync per message makes
#                      200,000 too slow for the 15-minute budget)
#   BENCH_KEEP=1       keep the work dir out/bench/work (databases, logs)
#   BENCH_PROFILE=1    perf record the timed SQLite collector runs too:
#                      out/bench/profile-b*.txt (slows them; the fsync count
#                      via perf stat is always on when perf works,
#                      BENCH_PERF=0 turns it off)
#   BENCH_PROFILE_S    the always-on profiles (out/bench/profile-summary.txt,
#                      profile-summary-pg.txt): seconds the collector runs
#                      under the profiler on the batch-64 queue, once per
#                      store (default 60; perf record when perf has hardware
#                      counters here, else valgrind callgrind;
#                      BENCH_PROFILER=perf|callgrind|none chooses)
#   BENCH_CHECKPOINTS=0  ingest load without signed checkpoints (experiment:
#                      the cost of verifying them; real agents send them)
#   BENCH_EXPORT_ARGS  extra options for `smpctl export`
#   BENCH_SECTIONS     the parts to run (default "ingest agent journal reports")
#   BENCH_PG=0         leave out the PostgreSQL rows (default 1: ingest with
#                      one and with two collectors, and the clinic-year report
#                      and export, on a PostgreSQL 15 cluster this run starts
#                      with tests/pg/pgcluster.sh, PGCLUSTER_FSYNC=on, and
#                      stops at the end, also on failure)
#   BENCH_PG_DIR       parent directory of that cluster (default: the work
#                      dir, on the disk of the SQLite databases, else /tmp)
#   BENCH_PG_STATEMENTS_S  seconds of the collector whose every statement the
#                      server logs, per batch size (default 20; the summary
#                      goes to out/bench/profile-summary-pg.txt)
#
# Everything runs on 127.0.0.1 with kernel-chosen free ports. Every process
# started here is stopped on exit (also on failure or Ctrl-C), and every
# wait is bounded. The machine's other load makes the numbers noisy: see
# docs/performance.md for how to read them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
TOOLS=$BUILD/bench
RUN_BROKER=$ROOT/broker-config/run-broker.sh
PEER=${BENCH_PEER:-/work/shared/peers/naive_collector.py}
# The second reference: the same peer, one transaction per 64 messages.
BATCHED_PEER=$ROOT/bench/batched_peer.py
PY=/usr/bin/python3
SCALE=${BENCH_SCALE:-1}
OUT=$ROOT/out/bench
WORK=$OUT/work
RESULTS=$OUT/results.md

# ---- process bookkeeping: everything started here is stopped on exit --------

PIDS=()
BROKERS=()
PG_DIR=''
PGCLUSTER=$ROOT/tests/pg/pgcluster.sh
CLEANED=0
cleanup() {
    local rc=$? pid state
    [ "$CLEANED" = 1 ] && return
    CLEANED=1
    set +e
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for state in "${BROKERS[@]}"; do "$RUN_BROKER" stop --state "$state" >/dev/null 2>&1; done
    if [ -n "$PG_DIR" ]; then
        # The server's log outlives its cluster when the run failed.
        [ "$rc" -ne 0 ] && cp "$PG_DIR/server.log" "$WORK/pg-server.log" 2>/dev/null
        sh "$PGCLUSTER" stop "$PG_DIR" >/dev/null 2>&1 || echo "bench: could not stop the PostgreSQL cluster in $PG_DIR: sh $PGCLUSTER stop $PG_DIR" >&2
    fi
    if [ "$rc" -ne 0 ]; then
        echo "bench: FAILED (rc $rc); work dir kept: $WORK" >&2
    elif [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

track() { PIDS+=("$1"); }
# stop PID: TERM, wait up to 5 s, then KILL; returns the exit status.
stop() {
    local pid=$1 rc=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic (awk), printed with up to 6 digits.
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
# fmt N DIGITS: N rounded to DIGITS decimals.
fmt() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.*f", d, n }'; }
# sc N [MIN]: N scaled by BENCH_SCALE, rounded, at least MIN (default 1).
sc() { awk -v n="$1" -v s="$SCALE" -v m="${2:-1}" 'BEGIN { v = int(n * s + 0.5); if (v < m) v = m; print v }'; }
# kv FILE KEY: value of KEY=value in a rusage_run / pub_load line.
kv() { tr ' ' '\n' <"$1" | awk -v k="$2=" 'index($0, k) == 1 && !done { print substr($0, length(k) + 1); done = 1 }'; }

# wait_until TIMEOUT_S CMD...: poll every 0.1 s; 0 once CMD succeeds.
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

free_port() {
    $PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_broker STATE: fresh mosquitto (the project's config) on a free port;
# sets PORT.
start_broker() {
    local state=$1 attempt
    rm -rf "$state"
    BROKERS+=("$state")
    for attempt in 1 2 3; do
        PORT=$(free_port)
        if "$RUN_BROKER" start --pki "$PKI" --port "$PORT" --state "$state" >/dev/null 2>"$WORK/broker-start.err"; then
            return 0
        fi
        log "broker start on port $PORT failed (attempt $attempt): $(tail -n 3 "$WORK/broker-start.err")"
    done
    die "could not start mosquitto"
}
stop_broker() { "$RUN_BROKER" stop --state "$1" >/dev/null 2>&1 || true; }

# agent_status DATA_DIR FIELD
agent_status() {
    $PY -c 'import json,sys
try:
    print(json.load(open(sys.argv[1] + "/status"))[sys.argv[2]])
except Exception:
    print(0)' "$1" "$2"
}

# ---- results ---------------------------------------------------------------

ROWS=()
NOTES=()
TARGETS=()
# target WHAT MEASURED MET(1/0/-): one line of the targets table.
target() {
    local verdict=missed
    [ "$3" = 1 ] && verdict=met
    [ "$3" = - ] && verdict="not measured"
    TARGETS+=("| $1 | $2 | $verdict |")
}
# yes_if A OP B: prints 1 when the comparison holds (floating point), else 0.
yes_if() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN { r = op == "<=" ? a <= b : op == ">=" ? a >= b : a < b; print r ? 1 : 0 }'; }
# row SECTION MEASURE VALUE [NOTE]
row() { ROWS+=("| $1 | $2 | $3 | ${4:-} |"); }
note() { NOTES+=("- $*"); }

write_results() {
    local date_utc cpu disk
    date_utc=$(date -u +%Y-%m-%dT%H:%MZ)
    cpu=$(awk -F': ' '/^model name/ && !done { print $2; done = 1 }' /proc/cpuinfo)
    disk=$(df -h --output=source,fstype,size "$ROOT" | tail -n 1 | awk '{print $1" ("$2", "$3")"}')
    {
        echo "# make bench results"
        echo
        echo "Run $date_utc, BENCH_SCALE=$SCALE, $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM,"
        echo "disk $disk; load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)."
        echo "Source: $SOURCE_REV."
        echo "Tools: $(mosquitto -h 2>/dev/null | awk 'NR == 1 { sub(/ is an MQTT.*/, ""); print }'), SQLite $(sqlite3 --version | cut -d' ' -f1), ${PG_VERSION:+PostgreSQL $PG_VERSION, }Python paho $($PY -c 'import paho.mqtt; print(paho.mqtt.__version__)' 2>/dev/null)."
        echo
        echo "| section | measure | value | note |"
        echo "|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
        echo
        echo "Targets:"
        echo
        echo "| target | measured | |"
        echo "|---|---|---|"
        printf '%s\n' "${TARGETS[@]}"
        echo
        echo "Notes:"
        echo
        printf '%s\n' "${NOTES[@]}"
    } >"$RESULTS"
}

# BENCH_SECTIONS: which parts run (default all), e.g. BENCH_SECTIONS="ingest".
want() {
    case " ${BENCH_SECTIONS:-ingest agent journal reports} " in *" $1 "*) return 0 ;; esac
    return 1
}

# ---- PostgreSQL ------------------------------------------------------------

PG=${BENCH_PG:-1}
PG_BASE=''
PG_FS=''
PG_VERSION=''

# pg_owner_reaches DIR: the user PostgreSQL runs as can traverse DIR (as
# root that is PGCLUSTER_USER, nobody unless set: it refuses to run as root).
pg_owner_reaches() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "${PGCLUSTER_USER:-nobody}" -- test -x "$1" 2>/dev/null
    else
        test -x "$1"
    fi
}

# pg_start: a PostgreSQL 15 cluster for this run, durable commits
# (PGCLUSTER_FSYNC=on): a commit waits for its WAL on disk, as a
# collector's SQLite commit waits for its fdatasync. It goes beside the
# SQLite databases (same disk) unless BENCH_PG_DIR says otherwise, the
# server's user cannot reach the work dir, or the socket path would be too
# long. Sets PG_DIR, PG_BASE (the URI of database postgres) and PG_FS.
pg_start() {
    local parent=${BENCH_PG_DIR:-}
    command -v psql >/dev/null || die "psql not found: install PostgreSQL 15 (scripts/install-deps.sh), or BENCH_PG=0 to leave out the PostgreSQL rows"
    if [ -z "$parent" ]; then
        if pg_owner_reaches "$WORK" && [ ${#WORK} -le 76 ]; then PG_DIR=$WORK/pg; else parent=/tmp; fi
    fi
    if [ -z "$PG_DIR" ]; then
        [ -d "$parent" ] || die "BENCH_PG_DIR=$parent is not a directory"
        PG_DIR=$(mktemp -d "$parent/smp-bench-pg.XXXXXX")
        [ ${#PG_DIR} -le 80 ] || die "$PG_DIR is too long for PostgreSQL's socket path; set BENCH_PG_DIR to a shorter directory"
        pg_owner_reaches "$(dirname "$PG_DIR")" || die "PostgreSQL's user (${PGCLUSTER_USER:-nobody}) cannot reach $parent; set BENCH_PG_DIR"
    fi
    PG_BASE=$(PGCLUSTER_FSYNC=on sh "$PGCLUSTER" start "$PG_DIR" 2>"$WORK/pgcluster.err") ||
        die "could not start PostgreSQL in $PG_DIR: $(tail -n 5 "$WORK/pgcluster.err")"
    PG_FS=$(df --output=fstype "$PG_DIR" | tail -n 1 | tr -d ' ')
    log "PostgreSQL $(pgq "$PG_BASE" 'SHOW server_version') in $PG_DIR ($PG_FS), fsync $(pgq "$PG_BASE" 'SHOW fsync'), synchronous_commit $(pgq "$PG_BASE" 'SHOW synchronous_commit')"
    [ "$PG_FS" = tmpfs ] && log "warning: $PG_DIR is on a tmpfs, where fsync costs nothing: the PostgreSQL ingest figures are not comparable (set BENCH_PG_DIR)"
    PG_VERSION=$(pgq "$PG_BASE" 'SHOW server_version' | cut -d' ' -f1)
    note "PostgreSQL $PG_VERSION: a cluster this run started (tests/pg/pgcluster.sh, PGCLUSTER_FSYNC=on) on $(df --output=source "$PG_DIR" | tail -n 1) ($PG_FS$([ "$PG_FS" = tmpfs ] && echo ': fsync costs nothing there, the ingest figures are not comparable')), reached over its unix socket: fsync $(pgq "$PG_BASE" 'SHOW fsync'), synchronous_commit $(pgq "$PG_BASE" 'SHOW synchronous_commit'), full_page_writes $(pgq "$PG_BASE" 'SHOW full_page_writes') (a commit waits for its WAL on disk, as the SQLite collector's waits for its fdatasync), wal_sync_method $(pgq "$PG_BASE" 'SHOW wal_sync_method'), shared_buffers $(pgq "$PG_BASE" 'SHOW shared_buffers'), wal_level $(pgq "$PG_BASE" 'SHOW wal_level'); otherwise PostgreSQL's defaults. Each collector run stores into a fresh copy of the same registry (CREATE DATABASE ... TEMPLATE). Server CPU = the postmaster and all its processes; WAL fsyncs = pg_stat_wal.wal_sync, the whole cluster."
    return 0
}

# pgq URI SQL: rows one a line, columns separated by a space; stops at the
# first error.
pgq() { psql "$1" -XAtq -v ON_ERROR_STOP=1 -F ' ' -c "$2"; }
# pg_uri NAME: the URI of database NAME in this run's cluster.
pg_uri() { echo "${PG_BASE/\/postgres\?//$1?}"; }
# pg_new_db NAME [TEMPLATE]: a new database (a copy of TEMPLATE); its URI.
pg_new_db() {
    pgq "$PG_BASE" "CREATE DATABASE $1${2:+ TEMPLATE $2}" >/dev/null || die "CREATE DATABASE $1 failed"
    pg_uri "$1"
}
is_pg() { case $1 in postgresql://* | postgres://*) return 0 ;; esac; return 1; }
# dbq DB SQL: one query on a SQLite file or a PostgreSQL URI, answered as
# pgq does.
dbq() { if is_pg "$1"; then pgq "$1" "$2"; else sqlite3 -separator ' ' "$1" "$2"; fi; }
# db_mib DB: its size in MiB.
db_mib() {
    if is_pg "$1"; then
        pgq "$1" "SELECT pg_database_size(current_database()) / 1048576"
    else
        du -m "$1" | cut -f1
    fi
}

# pg_watch_open URI / pg_watch SQL / pg_watch_close: one psql session kept
# open for the polls of a run (a psql per poll would cost the machine a
# process and a server backend ten times a second, ~25 % of a core). Its
# own statements are never logged (the profile counts the collector's).
pg_watch_open() {
    coproc PGW { exec psql "$1" -XAtq 2>>"$WORK/pg-watch.err"; }
    # shellcheck disable=SC2153 # set by coproc PGW
    PGW_PID_=$PGW_PID
    track "$PGW_PID_"
    printf '%s\n' "SET log_min_duration_statement = -1;" >&"${PGW[1]}"
}
# pg_watch SQL: the one-line answer of SQL, or 0 when none comes in 10 s.
pg_watch() {
    local line=''
    printf '%s\n' "$1" >&"${PGW[1]}" && IFS= read -r -t 10 line <&"${PGW[0]}" || true
    [[ $line =~ ^[0-9]+$ ]] && echo "$line" || echo 0
}
pg_watch_close() {
    # (bash unsets PGW when psql has ended: never "exec >&-" on stdout)
    [ -n "${PGW[1]:-}" ] && { eval "exec ${PGW[1]}>&-" 2>/dev/null || true; }
    stop "$PGW_PID_" || true
}
# db_count DB SQL: the one number SQL answers (0 while the database cannot
# answer); on PostgreSQL through pg_watch.
db_count() {
    if is_pg "$1"; then
        pg_watch "$2;"
    else
        sqlite3 "$1" "$2" 2>/dev/null || echo 0
    fi
}
# heads_sum DB: the sum of every device's contiguous chain head (0 while
# the database cannot answer).
HEADS_SQL='SELECT coalesce(sum(acked_seq), 0) FROM device_state'
heads_sum() {
    if is_pg "$1"; then
        pg_watch "$HEADS_SQL;"
    else
        sqlite3 "$1" "$HEADS_SQL" 2>/dev/null || echo 0
    fi
}

# pg_server_ticks: CPU clock ticks used by the PostgreSQL server so far:
# the postmaster, its children that ended (cutime, cstime: a collector's
# backend ends with its connection) and those still running.
pg_server_ticks() {
    local pm
    pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    {
        sed 's/.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
        for c in $(pgrep -P "$pm"); do sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{ print $12 + $13 }'; done
    } | awk '{ s += $1 } END { print s + 0 }'
}
# machine_ticks: "busy iowait total" clock ticks of all CPUs (/proc/stat).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# pg_wal_syncs: WAL writes synced to disk so far, by the whole cluster.
pg_wal_syncs() { pgq "$PG_BASE" 'SELECT wal_sync FROM pg_stat_wal' 2>/dev/null || echo 0; }
# pg_wait_idle NAME: until no session but ours is on database NAME (a
# collector's backend ends a moment after the collector; at most 10 s).
pg_wait_idle() {
    wait_until 10 bash -c "[ \"\$(psql '$PG_BASE' -XAtqc \"SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND pid <> pg_backend_pid()\")\" = 0 ]" || true
}

# ---- setup -----------------------------------------------------------------

for b in smp-agent smp-collector smpctl; do [ -x "$BIN/$b" ] || die "$BIN/$b not built (make)"; done
for t in gen_load pub_load rusage_run bench_journal feed_load gen_fleetdb bench_verify bench_drain bench_ingest wait_heads; do
    [ -x "$TOOLS/$t" ] || die "$TOOLS/$t not built (make bench builds it)"
done
for c in mosquitto mosquitto_sub mosquitto_pub sqlite3; do
    command -v "$c" >/dev/null || die "$c not found (make deps)"
done
[ -r "$PEER" ] || die "reference peer $PEER not found (set BENCH_PEER)"
[ -r "$BATCHED_PEER" ] || die "$BATCHED_PEER not found"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# What was measured: the commit, and the parts with uncommitted changes.
SOURCE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(cd "$ROOT" && git status --porcelain -- agent collector common admin dashboard-export smpctl 2>/dev/null |
    awk '{ split($2, p, "/"); print p[1] }' | sort -u | tr '\n' ' ' | sed 's/ $//')
[ -n "$dirty" ] && SOURCE_REV="git $SOURCE_REV with uncommitted changes in $dirty" || SOURCE_REV="git $SOURCE_REV"
T_START=$(now)
# A cluster left by a run that was killed outright goes first.
[ -e "$WORK/pg/.smp-pgcluster" ] && sh "$PGCLUSTER" stop "$WORK/pg" >/dev/null 2>&1
rm -rf "$WORK" "$OUT"/profile-b*.txt "$OUT"/profile-summary*.txt
mkdir -p "$WORK/bin"
# Run a snapshot of the binaries: a rebuild during the run must not change
# (or, mid-link, break) what is measured.
cp "$BIN"/smp-agent "$BIN"/smp-collector "$BIN"/smpctl "$WORK/bin/"
cp "$TOOLS"/gen_load "$TOOLS"/pub_load "$TOOLS"/rusage_run "$TOOLS"/bench_journal "$TOOLS"/feed_load "$TOOLS"/gen_fleetdb \
    "$TOOLS"/bench_verify "$TOOLS"/bench_drain "$TOOLS"/bench_ingest "$TOOLS"/wait_heads "$WORK/bin/"
BIN=$WORK/bin
TOOLS=$WORK/bin
# As root the broker runs as user mosquitto and must reach its state dir.
chmod 0755 "$OUT" "$WORK"
PKI=$WORK/pki
# The broker makes each client's id its certificate's CN, so every consumer
# that needs a session of its own (the limit, the peer, the collector of
# each round, the batched peer, the profiled collector) gets a collector
# identity of its own: smp-collector-<ID>.
CONSUMERS="limit-b1 peer-b1 batched-b1 coll-b1 limit-b64 peer-b64 batched-b64 coll-b64 prof-b64 pubref"
# On PostgreSQL: one collector (pg1), two in one share group (pg2a, pg2b),
# the profiled one and the one whose statements are logged.
[ "$PG" = 1 ] && CONSUMERS="$CONSUMERS pg1-b1 pg2a-b1 pg2b-b1 pgstmt-b1 pg1-b64 pg2a-b64 pg2b-b64 pgprof-b64 pgstmt-b64"
# tls_of ID: mosquitto_sub-style TLS options of consumer ID.
tls_of() { echo "--cafile $PKI/ca.crt --cert $PKI/collector-$1.crt --key $PKI/collector-$1.key"; }
EVENTS='smp/v1/dev/+/events'

DEVICES=100
PER_DEV=$(( $(sc 200000 100) / DEVICES ))           # records per device
R64=$((PER_DEV * DEVICES))
B1_TOTAL=${BENCH_B1_RECORDS:-$(sc 50000 100)}
B1_PER_DEV=$(( B1_TOTAL / DEVICES ))
[ "$B1_PER_DEV" -ge 1 ] && [ "$B1_PER_DEV" -le "$PER_DEV" ] || die "BENCH_B1_RECORDS must be 100..$R64"
R1=$((B1_PER_DEV * DEVICES))

log "scale $SCALE: ingest $R64 records (batch 64) and $R1 (batch 1) from $DEVICES devices; work dir $WORK"
log "issuing PKI"
"$BIN/smpctl" pki init --dir "$PKI" >/dev/null
"$BIN/smpctl" pki issue-broker --dir "$PKI" >/dev/null
"$BIN/smpctl" pki issue-collector --dir "$PKI" >/dev/null
for id in $CONSUMERS; do "$BIN/smpctl" pki issue-collector --dir "$PKI" --name "smp-collector-$id" >/dev/null; done
for i in $(seq 0 $((DEVICES - 1))); do
    "$BIN/smpctl" pki issue-device "$(printf 'bench-%03d' "$i")" --dir "$PKI" >/dev/null
done
"$BIN/smpctl" pki issue-device bench-agent --dir "$PKI" >/dev/null
"$BIN/smpctl" pki issue-device bench-feed --dir "$PKI" >/dev/null

log "generating the load: $PER_DEV chained records per device"
LOAD=$WORK/load
t0=$(now)
NO_CKPT=()
[ "${BENCH_CHECKPOINTS:-1}" = 0 ] && NO_CKPT=(--no-checkpoints)
"$TOOLS/gen_load" --out "$LOAD" --devices "$DEVICES" --records "$PER_DEV" --pki "$PKI" \
    --start-days-ago $((PER_DEV / 300 + 10)) --batch 1 --batch 64 "${NO_CKPT[@]}"
CKPTS=$(cat "$LOAD"/b1/*.txt | grep -c '"type":"checkpoint"' || true)
log "load ready in $(fmt "$(calc "$(now) - $t0")" 1) s ($CKPTS checkpoints among $R64 records)"

# clinic_add DB ID: registers clinic ID in DB, on UTC's calendar, when this
# smpctl registers clinics (smpctl clinic add); else devices name it alone.
HAVE_CLINICS=0
grep -q '^ *clinic add ' <<<"$("$BIN/smpctl" 2>&1 || true)" && HAVE_CLINICS=1
clinic_add() {
    [ "$HAVE_CLINICS" = 1 ] || return 0
    "$BIN/smpctl" clinic add "$2" --name "$2" --timezone UTC --db "$1" >/dev/null
}

# A registry with the 100 devices and their certificates, copied per round.
REGISTRY=$WORK/registry.db
"$BIN/smpctl" db migrate --db "$REGISTRY" >/dev/null
clinic_add "$REGISTRY" bench-clinic
while read -r d; do
    "$BIN/smpctl" device add "$d" --clinic bench-clinic --cert "$PKI/devices/$d.crt" --db "$REGISTRY" >/dev/null
done <"$LOAD/devices.txt"

# PostgreSQL: the cluster, and the same registry as a template database
# (CREATE DATABASE ... TEMPLATE bench_registry per round).
if [ "$PG" = 1 ] && { want ingest || want reports; }; then
    pg_start
    PG_REGISTRY=$(pg_new_db bench_registry)
    "$BIN/smpctl" db migrate --db "$PG_REGISTRY" >/dev/null
    "$BIN/smpctl" db copy --from "$REGISTRY" --to "$PG_REGISTRY" >"$WORK/pg-registry.out" 2>&1 ||
        die "smpctl db copy of the registry to PostgreSQL failed: $(tail -n 3 "$WORK/pg-registry.out")"
fi

# ---- 1. ingest ---------------------------------------------------------------

# start_collector CONF PREFIX [plain]: smp-collector with CONF, its log
# PREFIX.log. Under `perf stat` counting fsync/fdatasync into PREFIX.fsync
# when perf works (BENCH_PERF=0: never), and under `perf record` into
# PREFIX.perf when BENCH_PROFILE=1; "plain": under neither (a collector on
# PostgreSQL, whose fsyncs are the server's). Sets COLL_PID (the collector
# itself: signal it to stop) and COLL_WRAP (the process started here).
HAVE_PERF=0
if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null 2>&1 &&
    perf stat -e syscalls:sys_enter_fdatasync -o /dev/null -- true >/dev/null 2>&1; then
    HAVE_PERF=1
fi
start_collector() {
    local conf=$1 prefix=$2 cmd c
    cmd=("$BIN/smp-collector" --config "$conf")
    if [ "$HAVE_PERF" = 1 ] && [ "${BENCH_PROFILE:-0}" = 1 ] && [ "${3:-}" != plain ]; then
        cmd=(perf record -q -F 997 -g -o "$prefix.perf" -- "${cmd[@]}")
    fi
    if [ "$HAVE_PERF" = 1 ] && [ "${3:-}" != plain ]; then
        cmd=(perf stat -x ',' -e 'syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync' -o "$prefix.fsync" -- "${cmd[@]}")
    fi
    "${cmd[@]}" 2>"$prefix.log" &
    COLL_WRAP=$!
    COLL_PID=$COLL_WRAP
    track "$COLL_WRAP"
    # Find the collector below the perf wrappers (bounded: 10 s).
    for _ in $(seq 1 100); do
        [ "$(ps -o comm= -p "$COLL_PID" 2>/dev/null)" = smp-collector ] && break
        c=$(pgrep -P "$COLL_PID" | awk 'NR == 1' || true)
        if [ -n "$c" ]; then COLL_PID=$c; else sleep 0.1; fi
    done
    [ "$(ps -o comm= -p "$COLL_PID" 2>/dev/null)" = smp-collector ] || die "smp-collector did not start: $(tail -n 3 "$prefix.log")"
    [ "$COLL_PID" != "$COLL_WRAP" ] && track "$COLL_PID"
    return 0
}
# stop_collector [PID WRAP]: SIGTERM to the collector (default COLL_PID);
# the perf wrappers then write their files and exit.
stop_collector() {
    local pid=${1:-$COLL_PID} wrap=${2:-$COLL_WRAP}
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $wrap 2>/dev/null" || true
    stop "$wrap" || true
}

# metric_of PORT NAME: the value of counter NAME (its one series) at a
# collector's /metrics on PORT; empty when it cannot be read.
metric_of() {
    curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $NF; exit }' || true
}

# run_collectors NAME DB RECS CONF...: one smp-collector per CONF (log
# $WORK/NAME.log, or NAME-1.log, NAME-2.log ... when several), until the
# chain heads in DB sum to RECS (at most 600 s; no progress for 60 s is a
# stall, the threads' stacks go to NAME.stacks), then stopped. On SQLite
# they run under start_collector's perf wrappers, on PostgreSQL under none.
# Sets RUN_S (wall seconds from the first start to the last record),
# RUN_VS (seconds from the first start until every checkpoint queued for
# the verifier thread was verified; empty when none was queued), RUN_CKPTS,
# RUN_CPU (the collectors' CPU seconds, summed, to that moment),
# RUN_BUSY (the machine's busy CPU share in percent of all its cores) and
# RUN_IOWAIT; with metrics_port in the CONFs, RUN_SHARE ("a/b": records
# each stored), RUN_CONFLICTS (groups run again, summed) and RUN_GROUPS
# (group transactions committed, summed); on
# PostgreSQL RUN_PGCPU (the server's CPU seconds), RUN_WALSYNC (WAL
# fsyncs) and RUN_LOCKWAIT (sessions waiting for a lock, on average over
# the polls).
run_collectors() {
    local name=$1 db=$2 recs=$3 dbname='' plain='' i prefix t0 t1 m0 m1 k0=0 w0=0 c
    shift 3
    local confs=("$@") pids=() wraps=() prefixes=() ports=() last_n=-1 still=0 done_n=0
    if is_pg "$db"; then
        plain=plain
        dbname=$(sed -E 's#^postgres(ql)?://[^/]*/([^?]*).*#\2#' <<<"$db")
        pg_watch_open "$db"
        k0=$(pg_server_ticks) w0=$(pg_wal_syncs)
    fi
    m0=$(machine_ticks)
    t0=$(now)
    for i in "${!confs[@]}"; do
        prefix=$WORK/$name
        [ "${#confs[@]}" -gt 1 ] && prefix=$WORK/$name-$((i + 1))
        start_collector "${confs[$i]}" "$prefix" $plain
        pids+=("$COLL_PID") wraps+=("$COLL_WRAP") prefixes+=("$prefix")
        ports+=("$(awk -F' *= *' '$1 == "metrics_port" { print $2 }' "${confs[$i]}")")
    done
    # The last ack: bench/wait_heads polls the acked heads every 10 ms over
    # one connection, and gives up when a collector is gone, after 60 s
    # without progress (a stall: a deadlock, say) or after 600 s.
    local polls=0 waits=0 w wh heads alive
    "$TOOLS/wait_heads" "$db" "$recs" "${pids[@]}" >"$WORK/$name.heads" 2>&1 &
    wh=$!
    while [ -n "$dbname" ] && kill -0 "$wh" 2>/dev/null; do
        # Sessions of the collectors waiting for a lock (a device's, held
        # by the other collector's group until its COMMIT).
        w=$(pg_watch "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock';") || w=0
        polls=$((polls + 1)) waits=$((waits + w))
        sleep 0.1
    done
    wait "$wh" || true
    heads=$(cat "$WORK/$name.heads")
    done_n=$(sed -n 's/^done=\([0-9]*\) .*/\1/p' <<<"$heads")
    t1=$(sed -n 's/.* at=\([0-9.]*\)$/\1/p' <<<"$heads")
    [ -n "$done_n" ] && [ -n "$t1" ] || die "$name: bench/wait_heads said: $heads"
    if [ "$done_n" -lt "$recs" ]; then
        alive=1
        for c in "${pids[@]}"; do kill -0 "$c" 2>/dev/null || alive=0; done
        if [ "$alive" = 1 ]; then
            log "$name: no progress for 60 s at $done_n of $recs records; the collectors' threads: $WORK/$name.stacks"
            for c in "${pids[@]}"; do
                command -v gdb >/dev/null && timeout 30 gdb -p "$c" -batch -ex 'thread apply all bt 8' 2>/dev/null |
                    grep -E '^(Thread|#)' >>"$WORK/$name.stacks" || true
            done
        fi
    fi
    # Checkpoints queued for the verifier thread (collector/verifier.h): the
    # ack does not wait for their signatures, but the machine still has to
    # check every one. Until none is pending (at most 600 s; 60 s without
    # progress is a stall). A collector that verifies at commit queues none.
    RUN_CKPTS=0 RUN_PENDING=0 RUN_VS=''
    if [ "$done_n" -ge "$recs" ]; then
        RUN_CKPTS=$(db_count "$db" "SELECT count(*) FROM checkpoints")
        if [ "$RUN_CKPTS" -gt 0 ]; then
            last_n=-1 still=0
            for _ in $(seq 1 6000); do
                RUN_PENDING=$(db_count "$db" "SELECT count(*) FROM checkpoints WHERE state = 'pending'")
                [ "$RUN_PENDING" = 0 ] && break
                for c in "${pids[@]}"; do kill -0 "$c" 2>/dev/null || break 2; done
                if [ "$RUN_PENDING" = "$last_n" ]; then still=$((still + 1)); else still=0 last_n=$RUN_PENDING; fi
                [ "$still" -ge 600 ] && break
                sleep 0.1
            done
            RUN_VS=$(calc "$(now) - $t0")
        fi
    fi
    m1=$(machine_ticks)
    RUN_CPU=0 RUN_SHARE='' RUN_CONFLICTS='' RUN_GROUPS=''
    for i in "${!pids[@]}"; do
        c=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/${pids[$i]}/stat" 2>/dev/null || echo 0)
        RUN_CPU=$(calc "$RUN_CPU + $c")
        if [ -n "${ports[$i]}" ]; then
            RUN_SHARE="$RUN_SHARE${RUN_SHARE:+/}$(metric_of "${ports[$i]}" smp_records_stored_total)"
            c=$(metric_of "${ports[$i]}" smp_commit_conflicts_total)
            RUN_CONFLICTS=$(( ${RUN_CONFLICTS:-0} + ${c:-0} ))
            c=$(metric_of "${ports[$i]}" smp_commit_groups_total)
            RUN_GROUPS=$(( ${RUN_GROUPS:-0} + ${c:-0} ))
        fi
    done
    for i in "${!pids[@]}"; do stop_collector "${pids[$i]}" "${wraps[$i]}"; done
    RUN_S=$(calc "$t1 - $t0")
    read -r RUN_BUSY RUN_IOWAIT <<<"$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[3] - x[3]; if (t <= 0) t = 1; printf "%.0f %.0f", 100 * (y[1] - x[1]) / t, 100 * (y[2] - x[2]) / t }')"
    if [ -n "$dbname" ]; then
        pg_watch_close
        pg_wait_idle "$dbname"
        RUN_PGCPU=$(calc "($(pg_server_ticks) - $k0) / $(getconf CLK_TCK)")
        RUN_WALSYNC=$(( $(pg_wal_syncs) - w0 ))
        RUN_LOCKWAIT=$(awk -v w="$waits" -v p="$polls" 'BEGIN { printf "%.2f", (p > 0 ? w / p : 0) }')
    fi
    [ "$done_n" -ge "$recs" ] || die "$name: collectors acked $done_n of $recs records (logs: ${prefixes[*]/%/.log}$([ -s "$WORK/$name.stacks" ] && echo ", stacks: $WORK/$name.stacks"))"
    [ "$RUN_PENDING" = 0 ] || die "$name: $RUN_PENDING of $RUN_CKPTS checkpoints still unverified 60 s after the last verified one (logs: ${prefixes[*]/%/.log})"
    # The load must have been valid: all stored, nothing quarantined, no R9,
    # no checkpoint failed.
    local stored quar r9 failed
    read -r stored quar r9 failed <<<"$(dbq "$db" "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM quarantine),
                (SELECT count(*) FROM alerts WHERE rule = 'R9'), (SELECT count(*) FROM checkpoints WHERE state = 'failed')")"
    [ "$stored" = "$recs" ] && [ "$quar" = 0 ] && [ "$r9" = 0 ] && [ "$failed" = 0 ] ||
        die "$name: collectors stored $stored of $recs, quarantined $quar, R9 alerts $r9, checkpoints failed $failed (logs: ${prefixes[*]/%/.log})"
    return 0
}

# verify_note RECORDS: when the last of the run's checkpoints was verified
# (run_collectors), and the rate counting that.
verify_note() {
    if [ -n "$RUN_VS" ]; then
        echo "all $RUN_CKPTS checkpoints verified $(fmt "$RUN_VS" 2) s after the start, $(fmt "$(calc "$1 / $RUN_VS")" 0) rec/s counting that"
    else
        echo "checkpoints verified before the ack (none queued)"
    fi
}

# The always-on profile of the collector (out/bench/profile-summary.txt):
# perf record when perf has hardware counters on this machine, else valgrind
# callgrind (in a VM without a PMU perf could only sample the timer). Either
# way the collector gets its own session of the batch-64 queue, runs at most
# BENCH_PROFILE_S seconds, and is not the one timed in the table.
PROFILER=${BENCH_PROFILER:-auto}
if [ "$PROFILER" != auto ]; then
    :
elif command -v perf >/dev/null 2>&1 &&
    perf stat -x , -e instructions -- true 2>&1 >/dev/null | grep -q '^[0-9]'; then
    PROFILER=perf
elif command -v valgrind >/dev/null 2>&1 && command -v callgrind_annotate >/dev/null 2>&1; then
    PROFILER=callgrind
else
    PROFILER=none
fi
PROFILE_S=${BENCH_PROFILE_S:-60}
PROFILE=$OUT/profile-summary.txt

# profile_summary_perf DATA / profile_summary_callgrind DATA: the top 15
# functions by self cost, then the shares by library.
profile_summary_perf() {
    echo "Top 15 functions by self time (perf report --no-children --sort dso,symbol):"
    echo
    perf report -i "$1" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/( +-)+ *$//' | sed -n '1,15p' || true
    echo
    echo "By library:"
    echo
    perf report -i "$1" --no-children -g none --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/( +-)+ *$//; s/ +$//' | sed -n '1,8p' || true
}
profile_summary_callgrind() {
    local fns=$WORK/prof.functions
    # callgrind_annotate prints "Ir (pct)  file:function [object]" per function
    # (a function inlined from several files comes once per file): summed per
    # function and object here, with Ir = instructions executed.
    callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null | awk '
        /PROGRAM TOTALS/ { tot = $1; gsub(",", "", tot); next }
        /^ *[0-9,]+ \( *[0-9.]+%\) / {
            ir = $1; gsub(",", "", ir)
            line = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", line)
            obj = "?"
            if (match(line, / \[[^]]*\]$/)) {
                obj = substr(line, RSTART + 2, RLENGTH - 3); sub(/.*\//, "", obj)
                line = substr(line, 1, RSTART - 1)
            }
            fn = line; sub(/^.*:/, "", fn)
            self[fn] += ir; lib[obj] += ir
            if (obj != "?") where[fn] = obj
        }
        END {
            for (k in self) printf "F %.0f %6.2f%%  %s [%s]\n", self[k], 100 * self[k] / tot, k, (k in where) ? where[k] : "?"
            for (k in lib) printf "L %.0f %6.2f%%  %s\n", lib[k], 100 * lib[k] / tot, k
        }' | sort -k2,2nr >"$fns" || true
    echo "Top 15 functions by self cost (callgrind, Ir = instructions executed: a proxy for CPU"
    echo "time that ignores cache misses and waits; percent of the whole run):"
    echo
    awk '$1 == "F" { $1 = ""; $2 = ""; sub(/^ +/, ""); print "  " $0; if (++n == 15) exit }' "$fns"
    echo
    echo "By library (sum of self cost):"
    echo
    awk '$1 == "L" { $1 = ""; $2 = ""; sub(/^ +/, ""); print "  " $0; if (++n == 8) exit }' "$fns"
    echo
    echo "Inclusive cost, top 25 (callgrind_annotate --inclusive=yes; callees included):"
    echo
    callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1" 2>/dev/null |
        awk '/PROGRAM TOTALS/ { next } /^ *[0-9,]+ \( *[0-9.]+%\) / {
            sub(/ \[[^]]*\/[^]\/]*\]$/, ""); sub(/  [^ ]*:/, "  ")
            if ($0 == prev) next      # the same function, inlined from another file
            prev = $0; print; if (++n == 25) exit }' || true
}

# pg_statement_summary LOG RECORDS RECS_PER_MSG KV: what the server's log
# (log_min_duration_statement = 0, cut after its last COMMIT) says of the
# statements that stored RECORDS: the statements per record and message
# on the committing connections (those that insert records, one per lane:
# the commit path) and on the collector's others (verifier, rules timer, ...), the
# time the server logged for them, and the 15 statements that took the
# most of it. A statement is a round trip unless it was sent ahead
# (sqldb_run_deferred: the commit path's writes and device locks ride with
# the next statement); the commit path's round trips are bench_ingest's
# row. A statement's logged time includes its waits for locks. KV gets the commit path's figures as
# key=value (per_record, per_message, rpm, other, ms, us_per_record).
pg_statement_summary() {
    local rows=$WORK/statements.tsv
    awk -v recs="$2" -v rpm="$3" -v rows="$rows" -v kv="$4" '
        {
            i = index($0, "duration: "); if (!i) next
            pid = ""; if (match($0, /\[[0-9]+\]/)) pid = substr($0, RSTART + 1, RLENGTH - 2)
            rest = substr($0, i + 10); split(rest, a, " "); ms = a[1] + 0
            rest = substr(rest, index(rest, " ms  ") + 5)
            kind = rest; sub(/[ :].*/, "", kind)
            sql = rest; sub(/^[a-z]+( [^:]*)?: /, "", sql)
            gsub(/[ \t]+/, " ", sql); if (length(sql) > 110) sql = substr(sql, 1, 107) "..."
            t[sql] += ms; total += ms; pms[pid] += ms
            if (kind == "execute" || kind == "statement") { n[sql]++; ptrips[pid]++; trips++ }
            if (kind == "execute" && index(sql, "INSERT INTO records(") == 1) ins[pid]++
        }
        END {
            if (recs < 1) recs = 1
            for (p in ins) { ct += ptrips[p]; cms += pms[p]; lanes++ }
            printf "On the committing connections (the %d inserting records, one per lane): %d statements executed for %d records: %.1f per record, %.0f per message of %.1f records;\n", lanes, ct, recs, ct / recs, ct / recs * rpm, rpm
            printf "on the collector'"'"'s other connections (verifier, rules timer, ...): %d statements.\n", trips - ct
            printf "Server time logged (parse, bind, execute; a statement'"'"'s time includes its waits for locks):\n"
            printf "%.0f ms on the committing connections (%.0f us per record), %.0f ms on the others.\n\n", cms, 1000 * cms / recs, total - cms
            printf "per_record=%.1f per_message=%.0f rpm=%.1f other=%d ms=%.0f us_per_record=%.0f\n", ct / recs, ct / recs * rpm, rpm, trips - ct, cms, 1000 * cms / recs >kv
            print "Top 15 statements by server time, all connections (share, total ms, executions, mean us, SQL):"
            print ""
            for (k in t)
                printf "%.3f\t  %5.1f%%  %8.1f ms  %6d  %7.1f us  %s\n", t[k], (total > 0 ? 100 * t[k] / total : 0), t[k], n[k], (n[k] > 0 ? 1000 * t[k] / n[k] : 0), k >rows
            close(rows)
        }' "$1"
    [ -f "$rows" ] && sort -t "$(printf '\t')" -k1,1nr "$rows" | awk 'NR <= 15' | cut -f 2-
    rm -f "$rows"
}

# pg_statements BATCH RECORDS MESSAGES: one more collector on PostgreSQL
# (identity pgstmt-b<BATCH>, its own session of the queue), at full speed,
# every statement of its database logged by the server
# (log_min_duration_statement = 0), for at most BENCH_PG_STATEMENTS_S
# seconds (default 20). It is then held still (SIGSTOP) while the records
# stored are counted, so they are exactly those of the COMMITs logged, and
# the log, cut after its last COMMIT, is summed up into
# $WORK/pg-statements-b<BATCH>.txt (pg_statement_summary). Not timed: logging
# slows the server.
pg_statements() {
    local b=$1 recs=$2 msgs=$3 id=pgstmt-b$1 db log0 log1 done_n=0 t0 secs stored
    db=$(pg_new_db "stmt_pg_b$b" bench_registry)
    pgq "$PG_BASE" "ALTER DATABASE stmt_pg_b$b SET log_min_duration_statement = 0" >/dev/null
    coll_conf "$WORK/$id.conf" "$id" "$db"
    log "batch $b: the collector's statements on PostgreSQL (at most $PG_STMT_S s, every statement logged)"
    pg_watch_open "$db"
    log0=$(stat -c %s "$PG_DIR/server.log")
    t0=$(now)
    start_collector "$WORK/$id.conf" "$WORK/$id" plain
    for _ in $(seq 1 $((PG_STMT_S * 10))); do
        done_n=$(heads_sum "$db") || done_n=0
        [ "$done_n" -ge "$recs" ] && break
        kill -0 "$COLL_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -STOP "$COLL_PID" 2>/dev/null || true
    secs=$(calc "$(now) - $t0")
    sleep 0.2
    stored=$(pg_watch "SELECT count(*) FROM records;") || stored=0
    log1=$(stat -c %s "$PG_DIR/server.log")
    kill -CONT "$COLL_PID" 2>/dev/null || true
    stop_collector
    pg_watch_close
    head -c "$log1" "$PG_DIR/server.log" | tail -c "+$((log0 + 1))" |
        awk '{ line[NR] = $0 } / statement: COMMIT$/ { last = NR } END { for (i = 1; i <= last; i++) print line[i] }' \
            >"$WORK/$id.statements.log"
    {
        echo "A collector at full speed (not under the profiler) with every statement logged by the"
        echo "server (log_min_duration_statement = 0; the log slows the server, so this run is not"
        echo "timed): $(fmt "$secs" 0) s, $stored records committed."
        echo
        pg_statement_summary "$WORK/$id.statements.log" "$stored" "$(calc "$recs / $msgs")" "$WORK/$id.kv"
    } >"$WORK/pg-statements-b$b.txt"
    local k=$WORK/$id.kv
    row "ingest b$b" "collector on PostgreSQL: statements per message, commit path" "$(kv "$k" per_message)" \
        "$(kv "$k" per_record) per record, messages of $(kv "$k" rpm) records, on the committing connections; server time logged there $(kv "$k" us_per_record) us per record (lock waits included); $(kv "$k" other) statements on the collector's other connections; $stored records in $(fmt "$secs" 0) s with every statement logged; top 15: out/bench/profile-summary-pg.txt"
}
PG_STMT_S=${BENCH_PG_STATEMENTS_S:-20}

# profile_collector BATCH RECORDS STORE: the collector on STORE (sqlite or
# pg) under the profiler on its own session of this round's queue, until
# it has acked RECORDS or BENCH_PROFILE_S seconds have passed. The summary
# goes to out/bench/profile-summary.txt (SQLite) or profile-summary-pg.txt
# (PostgreSQL: with the breakdown of the timed run and pg_statements').
profile_collector() {
    local b=$1 recs=$2 store=$3 db id data wrap pid c out label
    local done_n=0 t0 secs cmd stored
    if [ "$store" = pg ]; then
        id=pgprof-b$b out=$OUT/profile-summary-pg.txt label="collector profile on PostgreSQL"
    else
        id=prof-b$b out=$PROFILE label="collector profile"
    fi
    if [ "$PROFILER" = none ]; then
        echo "No profile: neither perf with hardware counters nor valgrind/callgrind_annotate on this machine." >"$out"
        return 0
    fi
    if [ "$store" = pg ]; then
        db=$(pg_new_db "prof_pg_b$b" bench_registry)
        pg_watch_open "$db"
    else
        db=$WORK/$id.db
        cp "$REGISTRY" "$db"
    fi
    coll_conf "$WORK/$id.conf" "$id" "$db"
    if [ "$PROFILER" = perf ]; then
        data=$WORK/$id.perf
        cmd=(perf record -q -F 997 -g -o "$data" -- "$BIN/smp-collector" --config "$WORK/$id.conf")
    else
        data=$WORK/$id.callgrind
        cmd=(valgrind --tool=callgrind --callgrind-out-file="$data" "$BIN/smp-collector" --config "$WORK/$id.conf")
    fi
    log "batch $b: profiling the collector on $store ($PROFILER, at most $PROFILE_S s)"
    t0=$(now)
    "${cmd[@]}" 2>"$WORK/$id.log" &
    wrap=$!
    track "$wrap"
    pid=$wrap     # valgrind runs the collector in its own process; perf forks it
    if [ "$PROFILER" = perf ]; then
        for _ in $(seq 1 100); do
            c=$(pgrep -P "$wrap" | awk 'NR == 1' || true)
            [ -n "$c" ] && { pid=$c; track "$pid"; break; }
            sleep 0.1
        done
    fi
    for _ in $(seq 1 $((PROFILE_S * 10))); do
        done_n=$(heads_sum "$db") || done_n=0
        [ "$done_n" -ge "$recs" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    secs=$(calc "$(now) - $t0")
    # callgrind: dump the profile of the ingest so far ($data.1) before the
    # stop, since a stopping collector first stores what its inbox holds,
    # which at callgrind's speed can outlast any sensible wait.
    if [ "$PROFILER" = callgrind ] && kill -0 "$pid" 2>/dev/null; then
        timeout 60 callgrind_control -d "$pid" >/dev/null 2>&1 || log "batch $b: callgrind_control -d failed"
        [ -s "$data.1" ] && data=$data.1
    fi
    if [ "$store" = pg ]; then
        stored=$(pg_watch "SELECT count(*) FROM records;") || stored=0
    else
        stored=$(dbq "$db" 'SELECT count(*) FROM records' 2>/dev/null || echo 0)
    fi
    # SIGTERM: the collector stops cleanly and perf writes its data (bounded).
    kill -TERM "$pid" 2>/dev/null || true
    # (callgrind has dumped already: no need to wait for it to store its inbox)
    wait_until "$([ "$PROFILER" = callgrind ] && echo 5 || echo 30)" bash -c "! kill -0 $wrap 2>/dev/null" || true
    stop "$wrap" || true
    [ "$store" = pg ] && pg_watch_close
    {
        echo "# smp-collector profile: batch $b, $([ "$store" = pg ] && echo PostgreSQL || echo SQLite), $SOURCE_REV, $(date -u +%Y-%m-%dT%H:%MZ)"
        echo
        if [ "$store" = pg ]; then
            echo "Where the time goes on PostgreSQL, from three runs on the same queue:"
            echo
            echo "1. The timed run (d), one collector, batch $b: ${PG1_NOTE:-not measured}."
            echo
            echo "2. The statements the collector sends, and what each costs the server:"
            echo
            sed 's/^/   /; s/^   $//' "$WORK/pg-statements-b$b.txt" 2>/dev/null || echo "   not measured"
            echo
            echo "3. The collector's own process under the profiler (the server's work, and the"
            echo "   collector's waits for it, are not in this part):"
            echo
        fi
        echo "Profiler: $PROFILER$([ "$PROFILER" = callgrind ] && echo " ($(valgrind --version)$([ -z "${BENCH_PROFILER:-}" ] && echo "; perf stat -e instructions: not supported on this machine"))")."
        echo "Load: the batch-$b queue ($recs records, $CKPTS checkpoints among the $R64 records of the load);"
        echo "the collector ran $(fmt "$secs" 1) s under the profiler (limit BENCH_PROFILE_S=$PROFILE_S) and had stored $stored of $recs records"
        echo "when the profile was taken (start-up included, shutdown not)."
        echo
        if [ -s "$data" ]; then
            "profile_summary_$PROFILER" "$data"
        else
            echo "The profiler wrote no data (log: $(tail -n 3 "$WORK/$id.log" | tr '\n' ' '))."
        fi
    } >"$out"
    PROFILE_TOP=$(awk '/^Top 15 functions/ { on = 1; next }
        on && $1 ~ /%$/ { print $1 " " ($NF ~ /^\[/ ? $(NF - 1) : $NF); if (++n == 3) exit }' "$out" | paste -sd ';' | sed 's/;/; /g')
    row "ingest b$b" "$label ($PROFILER), top 3 by self cost" "${PROFILE_TOP:-?}" \
        "$stored records stored in $(fmt "$secs" 0) s under the profiler; top 15: out/bench/$(basename "$out")"
    return 0
}

# make_session ID VERSION [TOPIC]: a persistent session of consumer ID
# subscribed to every device's events (or TOPIC), so the broker queues the
# load for it while nobody is connected.
SHARE_GROUP=bench
make_session() {
    local id=$1 ver=$2 topic=${3:-$EVENTS} expiry=()
    [ "$ver" = mqttv5 ] && expiry=(-x 86400)
    # shellcheck disable=SC2046 # tls_of prints options
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -V "$ver" -c -i "smp-collector-$id" "${expiry[@]}" -q 1 -t "$topic" -E \
        $(tls_of "$id") || die "could not create the session of $id"
}

# ingest_round BATCH LINES_PER_DEVICE RECORDS
ingest_round() {
    local b=$1 lines=$2 recs=$3 msgs state t0 t1 got rc
    state=$WORK/broker-b$b
    start_broker "$state"
    msgs=$(for f in "$LOAD"/b"$b"/*.txt; do head -n "$lines" "$f"; done | wc -l)
    log "batch $b: $recs records in $msgs messages; broker on port $PORT"
    make_session "limit-b$b" mqttv5
    make_session "peer-b$b" mqttv311
    make_session "batched-b$b" mqttv311
    make_session "coll-b$b" mqttv5
    [ "$b" = 64 ] && make_session "prof-b$b" mqttv5
    if [ "$PG" = 1 ]; then
        make_session "pg1-b$b" mqttv5
        # The two of one share group: the broker hands each message to one
        # of them, alternately, and queues it in that one's session.
        make_session "pg2a-b$b" mqttv5 "\$share/$SHARE_GROUP/$EVENTS"
        make_session "pg2b-b$b" mqttv5 "\$share/$SHARE_GROUP/$EVENTS"
        make_session "pgstmt-b$b" mqttv5
        [ "$b" = 64 ] && make_session "pgprof-b$b" mqttv5
    fi

    "$TOOLS/pub_load" --port "$PORT" --pki "$PKI" --dir "$LOAD/b$b" --devices "$LOAD/devices.txt" \
        --lines "$lines" --parallel 10 --window 100 --timeout 120 >"$WORK/pub-b$b.out" ||
        die "publishing failed: $(cat "$WORK/pub-b$b.out")"
    [ "$(kv "$WORK/pub-b$b.out" acked)" = "$msgs" ] || die "published $(cat "$WORK/pub-b$b.out"), expected $msgs"
    row "ingest b$b" "publish into the broker (10 connections at a time, 100 in flight)" \
        "$(kv "$WORK/pub-b$b.out" rate | tr -d '/s') msg/s" "$msgs messages PUBACKed in $(fmt "$(kv "$WORK/pub-b$b.out" seconds)" 1) s"

    # (a) the limit: mosquitto_sub draining its queue to (almost) nowhere.
    t0=$(now)
    rc=0
    # shellcheck disable=SC2046 # tls_of prints options
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -V mqttv5 -c -i "smp-collector-limit-b$b" -x 86400 -q 1 -t "$EVENTS" \
        -C "$msgs" -W 300 -F . $(tls_of "limit-b$b") >"$WORK/limit-b$b.out" || rc=$?
    t1=$(now)
    got=$(wc -l <"$WORK/limit-b$b.out")
    [ "$got" = "$msgs" ] || die "batch $b: mosquitto_sub got $got of $msgs messages (rc $rc)"
    LIMIT_S=$(calc "$t1 - $t0")
    LIMIT_RATE=$(calc "$recs / $LIMIT_S")

    # (b) the reference peer.
    t0=$(now)
    # shellcheck disable=SC2046 # tls_of prints options
    $PY "$PEER" --host 127.0.0.1 --port "$PORT" $(tls_of "peer-b$b") --db "$WORK/peer-b$b.db" \
        --expect "$recs" --client-id "smp-collector-peer-b$b" --timeout 300 >"$WORK/peer-b$b.out" 2>&1 ||
        die "batch $b: peer did not store $recs records: $(tail -n 3 "$WORK/peer-b$b.out")"
    t1=$(now)
    PEER_S=$(calc "$t1 - $t0")
    PEER_RATE=$(calc "$recs / $PEER_S")

    # (b2) the second reference: the same peer, one transaction per 64 messages.
    t0=$(now)
    # shellcheck disable=SC2046 # tls_of prints options
    $PY "$BATCHED_PEER" --host 127.0.0.1 --port "$PORT" $(tls_of "batched-b$b") --db "$WORK/batched-b$b.db" \
        --expect "$recs" --client-id "smp-collector-batched-b$b" --timeout 300 --batch 64 >"$WORK/batched-b$b.out" 2>&1 ||
        die "batch $b: batched peer did not store $recs records: $(tail -n 3 "$WORK/batched-b$b.out")"
    t1=$(now)
    BPEER_S=$(calc "$t1 - $t0")
    BPEER_RATE=$(calc "$recs / $BPEER_S")

    # (c) smp-collector, on a copy of the registry, until every device's
    # contiguous chain head (device_state.acked_seq) sums to the load.
    local db=$WORK/coll-b$b.db conf=$WORK/coll-b$b.conf
    cp "$REGISTRY" "$db"
    cat >"$conf" <<CONF
broker_port = $PORT
ca_file = $PKI/ca.crt
cert_file = $PKI/collector-coll-b$b.crt
key_file = $PKI/collector-coll-b$b.key
db_path = $db
metrics_port = $(free_port)
CONF
    run_collectors "coll-b$b" "$db" "$recs" "$conf"
    COLL_S=$RUN_S
    COLL_RATE=$(calc "$recs / $COLL_S")
    local ackfail fsyncs='' cpu=$RUN_CPU busy=$RUN_BUSY
    ackfail=$(grep -c 'ack publish failed' "$WORK/coll-b$b.log" || true)
    if [ -s "$WORK/coll-b$b.fsync" ]; then
        fsyncs=$(awk -F, '$3 ~ /sys_enter_f(data)?sync/ { n += $1 } END { print n + 0 }' "$WORK/coll-b$b.fsync")
    fi

    row "ingest b$b" "(a) limit: mosquitto_sub drains the queue" "$(fmt "$LIMIT_RATE" 0) rec/s" \
        "$recs records, $msgs messages in $(fmt "$LIMIT_S" 2) s"
    row "ingest b$b" "(b) peer: naive_collector.py" "$(fmt "$PEER_RATE" 0) rec/s" \
        "$(fmt "$PEER_S" 2) s wall ($(sed -n 's/.*(\(.*\)).*/\1/p' "$WORK/peer-b$b.out") after its first message)"
    row "ingest b$b" "(b2) batched peer: bench/batched_peer.py, one commit per 64 messages" "$(fmt "$BPEER_RATE" 0) rec/s" \
        "$(fmt "$BPEER_S" 2) s wall ($(sed -n 's/.*(\(.*\)).*/\1/p' "$WORK/batched-b$b.out") after its first message)"
    row "ingest b$b" "(c) smp-collector, SQLite" "$(fmt "$COLL_RATE" 0) rec/s" \
        "$(fmt "$COLL_S" 2) s wall to the last ack; $(verify_note "$recs"); $cpu s CPU${fsyncs:+, $fsyncs fsync/fdatasync ($(fmt "$(calc "$fsyncs / $msgs")" 2)/message)}, machine $busy % busy, ${RUN_GROUPS:-?} groups committed, $ackfail ack publishes refused by Paho"
    row "ingest b$b" "collector / limit" "$(fmt "$(calc "$COLL_RATE / $LIMIT_RATE")" 3)" \
        "$([ "$b" = 64 ] && echo "target >= 0.8")"
    row "ingest b$b" "collector / naive peer" "$(fmt "$(calc "$COLL_RATE / $PEER_RATE")" 2)" \
        "target >= $([ "$b" = 64 ] && echo 2 || echo 3)"
    row "ingest b$b" "collector / batched peer" "$(fmt "$(calc "$COLL_RATE / $BPEER_RATE")" 2)" ""
    local r
    if [ "$b" = 64 ]; then
        r=$(calc "$COLL_RATE / $LIMIT_RATE")
        target "collector >= 0.8 x limit (batch 64)" "$(fmt "$r" 3) x" "$(yes_if "$r" ">=" 0.8)"
    fi
    r=$(calc "$COLL_RATE / $PEER_RATE")
    if [ "$b" = 64 ]; then
        target "collector on SQLite >= 2 x naive peer (batch 64)" "$(fmt "$r" 2) x" "$(yes_if "$r" ">=" 2)"
    else
        target "collector on SQLite >= 3 x naive peer (batch 1)" "$(fmt "$r" 2) x" "$(yes_if "$r" ">=" 3)"
    fi
    if [ -s "$WORK/coll-b$b.perf" ]; then
        {
            echo "# smp-collector, batch $b: perf record, share of samples by library, then by symbol"
            perf report -i "$WORK/coll-b$b.perf" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -n '1,10p' || true
            echo
            perf report -i "$WORK/coll-b$b.perf" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -n '1,25p' || true
        } >"$OUT/profile-b$b.txt"
        note "Batch $b collector profile (BENCH_PROFILE=1, perf record, so its rate above is slowed by profiling): out/bench/profile-b$b.txt"
    fi
    if [ "$b" = 64 ]; then profile_collector "$b" "$recs" sqlite; fi
    log "batch $b: limit $(fmt "$LIMIT_RATE" 0), peer $(fmt "$PEER_RATE" 0), batched peer $(fmt "$BPEER_RATE" 0), collector $(fmt "$COLL_RATE" 0) records/s"
    if [ "$PG" = 1 ]; then
        ingest_round_pg "$b" "$msgs" "$recs"
        pg_statements "$b" "$recs" "$msgs"
        if [ "$b" = 64 ]; then
            profile_collector "$b" "$recs" pg
        elif [ -f "$OUT/profile-summary-pg.txt" ]; then
            {
                echo
                echo "----"
                echo
                echo "At batch $b (one record a message), for comparison:"
                echo
                echo "The timed run (d), one collector: $PG1_NOTE."
                echo
                cat "$WORK/pg-statements-b$b.txt"
            } >>"$OUT/profile-summary-pg.txt"
        fi
    fi
    stop_broker "$state"
}

# coll_conf FILE ID DB [EXTRA...]: a collector config with identity
# smp-collector-ID on DB, the broker of this round, and EXTRA lines.
coll_conf() {
    local file=$1 id=$2 db=$3
    shift 3
    printf '%s\n' "broker_port = $PORT" "ca_file = $PKI/ca.crt" "cert_file = $PKI/collector-$id.crt" \
        "key_file = $PKI/collector-$id.key" "db_path = $db" "$@" >"$file"
}

# pg_note COLLECTORS MESSAGES RECORDS: what run_collectors measured on
# PostgreSQL besides the rate.
pg_note() {
    echo "$(fmt "$RUN_S" 2) s wall to the last ack; $(verify_note "$3"); CPU: collector$([ "$1" -gt 1 ] && echo s) $(fmt "$RUN_CPU" 2) s, PostgreSQL server $(fmt "$RUN_PGCPU" 2) s; $RUN_WALSYNC WAL fsyncs ($(fmt "$(calc "$RUN_WALSYNC / $2")" 3)/message); machine $RUN_BUSY % busy, $RUN_IOWAIT % iowait; sessions waiting for a lock: $RUN_LOCKWAIT on average"
}

# ingest_round_pg BATCH MESSAGES RECORDS: the round's queue drained on
# PostgreSQL by one collector (pg1), then by two in one share group (pg2a,
# pg2b), each time into a fresh copy of the registry.
ingest_round_pg() {
    local b=$1 msgs=$2 recs=$3 db rate1 rate2 r
    log "batch $b: one collector on PostgreSQL"
    db=$(pg_new_db "coll_pg1_b$b" bench_registry)
    coll_conf "$WORK/pg1-b$b.conf" "pg1-b$b" "$db"
    run_collectors "pg1-b$b" "$db" "$recs" "$WORK/pg1-b$b.conf"
    rate1=$(calc "$recs / $RUN_S")
    row "ingest b$b" "(d) smp-collector, PostgreSQL" "$(fmt "$rate1" 0) rec/s" "$(pg_note 1 "$msgs" "$recs")"
    PG1_NOTE="$(fmt "$rate1" 0) records/s, $(pg_note 1 "$msgs" "$recs")"

    log "batch $b: two collectors on PostgreSQL, share group $SHARE_GROUP"
    db=$(pg_new_db "coll_pg2_b$b" bench_registry)
    coll_conf "$WORK/pg2a-b$b.conf" "pg2a-b$b" "$db" "share_group = $SHARE_GROUP" "metrics_port = $(free_port)"
    coll_conf "$WORK/pg2b-b$b.conf" "pg2b-b$b" "$db" "share_group = $SHARE_GROUP" "metrics_port = $(free_port)"
    run_collectors "pg2-b$b" "$db" "$recs" "$WORK/pg2a-b$b.conf" "$WORK/pg2b-b$b.conf"
    rate2=$(calc "$recs / $RUN_S")
    row "ingest b$b" "(e) two smp-collectors, PostgreSQL, one share_group" "$(fmt "$rate2" 0) rec/s" \
        "$(pg_note 2 "$msgs" "$recs"); records stored by each: ${RUN_SHARE:-?}; groups run again after a conflict: ${RUN_CONFLICTS:-?}"

    r=$(calc "$rate1 / $COLL_RATE")
    row "ingest b$b" "PostgreSQL collector / SQLite collector" "$(fmt "$r" 2)" "target >= 0.5"
    target "one collector on PostgreSQL >= 0.5 x its SQLite rate (batch $b)" "$(fmt "$r" 2) x" "$(yes_if "$r" ">=" 0.5)"
    r=$(calc "$rate1 / $PEER_RATE")
    row "ingest b$b" "PostgreSQL collector / naive peer" "$(fmt "$r" 2)" "$([ "$b" = 64 ] && echo "target >= 1")"
    [ "$b" = 64 ] && target "collector on PostgreSQL >= 1 x naive peer (batch 64)" "$(fmt "$r" 2) x" "$(yes_if "$r" ">=" 1)"
    row "ingest b$b" "PostgreSQL: two collectors / one" "$(fmt "$(calc "$rate2 / $rate1")" 2)" ""
    log "batch $b: PostgreSQL: one collector $(fmt "$rate1" 0), two $(fmt "$rate2" 0) records/s"
}

# verifier_rows: the checkpoint verifier alone (collector/verifier.c) on a
# copy of the batch-64 SQLite database with every checkpoint put back to
# pending (bench/bench_drain), and what one signature check costs, by
# library (bench/bench_verify, one device's certificate and key).
verifier_rows() {
    local n wall cpu rate us
    if [ "$CKPTS" -gt 0 ]; then
        cp "$WORK/coll-b64.db" "$WORK/drain.db"
        log "the verifier alone: draining the batch-64 queue again ($CKPTS checkpoints)"
        "$TOOLS/bench_drain" "$WORK/drain.db" --reset >"$WORK/drain.out" 2>&1 ||
            die "bench_drain failed: $(tail -n 3 "$WORK/drain.out")"
        read -r n wall cpu rate us <<<"$(sed -E 's/.*: ([0-9]+) checkpoints .* in ([0-9.]+) s wall, ([0-9.]+) s CPU: ([0-9]+) checkpoints\/s, ([0-9]+) us.*/\1 \2 \3 \4 \5/' "$WORK/drain.out")"
        row "ingest b64" "the verifier alone drains the queue (bench_drain, SQLite)" "$rate checkpoints/s" \
            "$n checkpoints in $wall s wall, $cpu s CPU ($us us each: batch queries, device lookups, signature checks, marks)"
        rm -f "$WORK/drain.db" "$WORK/drain.db-wal" "$WORK/drain.db-shm"
    fi
    log "one checkpoint signature check, by library"
    "$TOOLS/bench_verify" "$PKI/devices/bench-000.crt" "$PKI/devices/bench-000.key" 1 >"$WORK/verify.out" 2>&1 ||
        die "bench_verify failed: $(tail -n 3 "$WORK/verify.out")"
    # us_of WAY: the CPU microseconds per check of WAY.
    us_of() { awk -v w="$1" '$2 == w { for (i = 3; i <= NF; i++) if ($(i + 1) == "us" && $(i + 2) == "cpu") print $i }' "$WORK/verify.out"; }
    row "ingest" "one checkpoint signature check (sign_verify_cert: libcrypto, key kept per certificate)" "$(us_of sign_verify_cert) us CPU" \
        "mbedTLS 2.28: $(us_of mbedtls-parse-each) us parsing the certificate each time (the verifier before), $(us_of mbedtls-ecdsa-ctx) us with its curve kept; libcrypto parsing each time: $(us_of openssl-parse-each) us (bench_verify, 1 s each)"
}

# commit_path_row [pg]: the collector's commit path alone (bench/bench_ingest:
# the preparing and committing threads of collector/committer.c fed
# straight from the batch-64 load, no broker, no TLS, no verifier) on a
# copy of the registry, SQLite or (pg) PostgreSQL: what the store and the
# checks cost without the rest of the machine's work. In the collector's
# default lanes (1 on SQLite, 2 on PostgreSQL). On PostgreSQL its round
# trips per message are the committing connections' waits for the server
# (statements sent ahead wait for none of their own).
commit_path_row() {
    local n wall cpu rate us groups stmts trips target label=SQLite
    if [ "${1:-}" = pg ]; then
        label=PostgreSQL
        target=$(pg_new_db bench_commit_path bench_registry)
    else
        target=$WORK/commit-path.db
        cp "$REGISTRY" "$target"
    fi
    log "the commit path alone (bench_ingest, $label)"
    "$TOOLS/bench_ingest" "$target" "$LOAD"/b64/*.txt >"$WORK/commit-path.out" 2>&1 ||
        die "bench_ingest failed: $(tail -n 3 "$WORK/commit-path.out")"
    read -r n wall cpu rate us groups stmts trips lanes <<<"$(sed -E 's/.*: ([0-9]+) records in .* messages, ([0-9.]+) s wall, ([0-9.]+) s CPU: ([0-9]+) records\/s, ([0-9.]+) us CPU per record, [0-9]+ acks, ([0-9]+) groups, ([0-9.]+) statements and ([0-9.]+) round trips per message, ([0-9]+) lanes.*/\1 \2 \3 \4 \5 \6 \7 \8 \9/' "$WORK/commit-path.out")"
    row "ingest b64" "the commit path alone (bench_ingest, $label: preparing + committing threads, no broker)" "$rate rec/s" \
        "$n records in $wall s wall, $cpu s CPU ($us us per record), $groups groups committed in $lanes lane$([ "$lanes" = 1 ] || echo s)$([ "$label" = PostgreSQL ] && echo "; $stmts statements and $trips round trips per message")"
    if [ "$label" = PostgreSQL ]; then
        pgq "$PG_BASE" "DROP DATABASE bench_commit_path" >/dev/null
    else
        rm -f "$target" "$target-wal" "$target-shm"
    fi
}

section_ingest() {
    note "The ingest load: $R64 records from the agent's simulator, $CKPTS of them signed checkpoints (the agent signs one after 100 records or 10 minutes of device time; usage counters come every minute, so about one record in ten is a checkpoint)$([ "${BENCH_CHECKPOINTS:-1}" = 0 ] && echo '; BENCH_CHECKPOINTS=0: this run left them out')."
    note "(b2) bench/batched_peer.py is the naive peer with one SQLite commit per 64 messages (and after 0.1 s without a message, and at exit): the afternoon's improvement. Paho 1.6 PUBACKs each message when its callback returns, so up to 63 acknowledged messages are not yet on disk: it promises less than the naive peer and the collector, which only makes it harder to beat."
    ingest_round 64 "$(( (PER_DEV + 63) / 64 ))" "$R64"
    commit_path_row
    if [ "$PG" = 1 ]; then commit_path_row pg; fi
    verifier_rows
    ingest_round 1 "$B1_PER_DEV" "$R1"
    if [ "$R1" -lt 200000 ]; then
        note "Batch size 1 ran $R1 records ($B1_PER_DEV per device), not 200,000: at one fsync'd transaction per message the collector and the peer would take minutes more (BENCH_B1_RECORDS=200000 runs it in full)."
    fi
}

# ---- 2. agent footprint ----------------------------------------------------------

# agent_conf NAME PORT [EXTRA]: a config for device bench-agent (or bench-feed).
agent_conf() {
    local name=$1 port=$2 dev=${4:-bench-agent}
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name.conf" <<CONF
device_id = $dev
broker_port = $port
ca_file = $PKI/ca.crt
cert_file = $PKI/devices/$dev.crt
key_file = $PKI/devices/$dev.key
data_dir = $WORK/$name
ack_timeout_s = 5
${3:-}
CONF
}
# sim_start DAYS: a date DAYS days ago (simulated records lie in the past).
sim_start() { date -u -d "@$(( $(date +%s) - $1 * 86400 ))" +%Y-%m-%d; }
# per10k CPU_S RECORDS
per10k() { fmt "$(calc "$1 * 10000 / $2")" 3; }

section_agent() {
    local state pid b h apid
    state=$WORK/broker-agent
    start_broker "$state"
    AGENT_DB=$WORK/agent-coll.db
    "$BIN/smpctl" db migrate --db "$AGENT_DB" >/dev/null
    clinic_add "$AGENT_DB" bench-clinic
    "$BIN/smpctl" device add bench-agent --clinic bench-clinic --cert "$PKI/devices/bench-agent.crt" --db "$AGENT_DB" >/dev/null
    printf '%s\n' "broker_port = $PORT" "ca_file = $PKI/ca.crt" "cert_file = $PKI/collector.crt" \
        "key_file = $PKI/collector.key" "db_path = $AGENT_DB" >"$WORK/agent-coll.conf"
    "$BIN/smp-collector" --config "$WORK/agent-coll.conf" 2>"$WORK/agent-coll.log" &
    COLL_PID=$!
    track "$COLL_PID"
    wait_until 15 grep -q 'subscribed topics=' "$WORK/agent-coll.log" 2>/dev/null || die "collector did not subscribe"

    # (a) empty backlog: the simulator flat out, the collector acking.
    CONN_DAYS=$(sc 30 2)
    agent_conf agent-conn "$PORT"
    log "agent: $CONN_DAYS simulated days flat out, collector acking"
    "$TOOLS/rusage_run" "$WORK/agent-conn.rusage" "$BIN/smp-agent" --config "$WORK/agent-conn.conf" \
        --simulate --seed 5 --speed 0 --sim-start "$(sim_start $((CONN_DAYS + 2)))" --sim-days "$CONN_DAYS" \
        --exit-when-done 2>"$WORK/agent-conn.log" &
    pid=$!
    track "$pid"
    max_backlog=0
    for _ in $(seq 1 1200); do      # at most 300 s
        kill -0 "$pid" 2>/dev/null || break
        b=$(agent_status "$WORK/agent-conn" backlog)
        [ "$b" -gt "$max_backlog" ] && max_backlog=$b
        sleep 0.25
    done
    stop "$pid" || true
    [ -s "$WORK/agent-conn.rusage" ] && [ "$(kv "$WORK/agent-conn.rusage" exit)" = 0 ] ||
        die "agent (connected) did not finish: $(tail -n 3 "$WORK/agent-conn.log")"
    CONN_RECS=$(agent_status "$WORK/agent-conn" head_seq)
    [ "$(agent_status "$WORK/agent-conn" acked_seq)" = "$CONN_RECS" ] || die "agent (connected) exited with records unacked"
    CONN_RSS=$(kv "$WORK/agent-conn.rusage" maxrss_kb)
    row "agent" "peak RSS, empty backlog (collector acking)" "$((CONN_RSS / 1024)) MiB ($CONN_RSS kB)" \
        "$CONN_RECS records journaled, published and acked; backlog peaked at $max_backlog"
    row "agent" "CPU per 10,000 records, empty backlog" "$(per10k "$(kv "$WORK/agent-conn.rusage" cpu_s)" "$CONN_RECS") s" \
        "$(kv "$WORK/agent-conn.rusage" cpu_s) s for $CONN_RECS records in $(fmt "$(kv "$WORK/agent-conn.rusage" wall_s)" 1) s"
    stop "$COLL_PID" || true

    # (b) 100k records unacked: nothing listens on the broker port.
    BACKLOG=$(sc 100000 1000)
    DEAD_PORT=$(free_port)
    agent_conf agent-backlog "$DEAD_PORT"
    BL_DAYS=$((BACKLOG / 400 + 5))
    log "agent: until $BACKLOG records wait unacked (broker port $DEAD_PORT closed)"
    "$TOOLS/rusage_run" "$WORK/agent-backlog.rusage" "$BIN/smp-agent" --config "$WORK/agent-backlog.conf" \
        --simulate --seed 6 --speed 0 --sim-start "$(sim_start $((BL_DAYS + 2)))" --sim-days "$BL_DAYS" \
        2>"$WORK/agent-backlog.log" &
    pid=$!
    track "$pid"
    early_hwm='' early_at=0
    for _ in $(seq 1 1200); do      # at most 300 s
        kill -0 "$pid" 2>/dev/null || break
        h=$(agent_status "$WORK/agent-backlog" head_seq)
        [ "$h" -ge "$BACKLOG" ] && break
        # Peak RSS early on, to see whether it grows with the backlog.
        if [ -z "$early_hwm" ] && [ "$h" -ge $((BACKLOG / 10)) ]; then
            apid=$(pgrep -P "$pid" | awk 'NR == 1' || true)
            early_hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$apid/status" 2>/dev/null || true)
            early_at=$h
        fi
        sleep 0.25
    done
    stop "$pid" || true
    BL_RECS=$(agent_status "$WORK/agent-backlog" head_seq)
    [ "$BL_RECS" -ge "$BACKLOG" ] || die "agent (backlog) journaled only $BL_RECS records: $(tail -n 3 "$WORK/agent-backlog.log")"
    BL_RSS=$(kv "$WORK/agent-backlog.rusage" maxrss_kb)
    row "agent" "peak RSS, $BL_RECS records unacked" "$((BL_RSS / 1024)) MiB ($BL_RSS kB)" \
        "journal $(( $(agent_status "$WORK/agent-backlog" journal_bytes) / 1048576 )) MiB; ${early_hwm:+peak was $early_hwm kB at $early_at records; }target: flat"
    row "agent" "CPU per 10,000 records, backlog (journal only)" "$(per10k "$(kv "$WORK/agent-backlog.rusage" cpu_s)" "$BL_RECS") s" \
        "$(kv "$WORK/agent-backlog.rusage" cpu_s) s for $BL_RECS records in $(fmt "$(kv "$WORK/agent-backlog.rusage" wall_s)" 1) s"

    # (c) the reference: mosquitto_pub -l over TLS, QoS 1, one record a message.
    # It quits at EOF on stdin without waiting for PUBACKs, so stdin is a fifo
    # held open until a subscriber has seen every message.
    PUB_N=$(sc 10000 500)
    awk -v n="$PUB_N" '{ print } NR >= n { exit }' "$LOAD"/b1/*.txt >"$WORK/pubref.txt"
    PUB_N=$(wc -l <"$WORK/pubref.txt")
    make_session pubref mqttv5
    mkfifo "$WORK/pubref.fifo"
    "$TOOLS/rusage_run" "$WORK/pubref.rusage" mosquitto_pub -h 127.0.0.1 -p "$PORT" -V mqttv5 -q 1 \
        -i bench-pubref-pub --cafile "$PKI/ca.crt" --cert "$PKI/devices/bench-000.crt" --key "$PKI/devices/bench-000.key" \
        -t smp/v1/dev/bench-000/events -l <"$WORK/pubref.fifo" 2>"$WORK/pubref.log" &
    pid=$!
    track "$pid"
    exec 7>"$WORK/pubref.fifo"
    cat "$WORK/pubref.txt" >&7
    # shellcheck disable=SC2046 # tls_of prints options
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -V mqttv5 -c -i smp-collector-pubref -x 86400 -q 1 -t "$EVENTS" \
        -C "$PUB_N" -W 120 -F . $(tls_of pubref) >"$WORK/pubref-sub.out" || true
    sleep 0.5                       # the PUBACKs follow the broker's fan-out
    exec 7>&-
    wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || true
    stop "$pid" || true
    [ "$(wc -l <"$WORK/pubref-sub.out")" = "$PUB_N" ] || die "mosquitto_pub reference: $(wc -l <"$WORK/pubref-sub.out") of $PUB_N messages arrived"
    PUB_RSS=$(kv "$WORK/pubref.rusage" maxrss_kb)
    local r1 r2 r3
    r1=$(calc "$CONN_RSS / $PUB_RSS")
    r2=$(calc "$BL_RSS / $PUB_RSS")
    target "agent peak RSS <= 1.2 x mosquitto_pub's" "$(fmt "$r1" 2) x empty, $(fmt "$r2" 2) x with backlog" \
        "$(( $(yes_if "$r1" "<=" 1.2) * $(yes_if "$r2" "<=" 1.2) ))"
    if [ -n "$early_hwm" ]; then
        r3=$(calc "$BL_RSS / $early_hwm")
        target "agent RSS flat with backlog (<= 1.1 x from $early_at to $BL_RECS unacked)" "$(fmt "$r3" 2) x ($early_hwm -> $BL_RSS kB)" "$(yes_if "$r3" "<=" 1.1)"
    fi
    row "agent" "reference: mosquitto_pub peak RSS" "$((PUB_RSS / 1024)) MiB ($PUB_RSS kB)" \
        "agent/mosquitto_pub = $(fmt "$(calc "$CONN_RSS / $PUB_RSS")" 2) empty, $(fmt "$(calc "$BL_RSS / $PUB_RSS")" 2) backlog; target <= 1.2"
    row "agent" "reference: mosquitto_pub CPU per 10,000 records" "$(per10k "$(kv "$WORK/pubref.rusage" cpu_s)" "$PUB_N") s" \
        "$PUB_N messages of one record, TLS, QoS 1, in $(fmt "$(kv "$WORK/pubref.rusage" wall_s)" 1) s"
    stop_broker "$state"
}

# ---- 3. journal ------------------------------------------------------------------

section_journal() {
    DEAD_PORT=${DEAD_PORT:-$(free_port)}
    JN=$(sc 3000 200)
    log "journal: $JN fsync'd appends"
    "$TOOLS/bench_journal" "$WORK/journal" "$JN" 30 >"$WORK/journal.out"
    read -r each_n each_rate once_n once_rate <<<"$(sed -E 's/.*synced_each=([0-9]+) in [0-9.]+ s: ([0-9]+) appends.*synced_once=([0-9]+) in [0-9.]+ s: ([0-9]+) appends.*/\1 \2 \3 \4/' "$WORK/journal.out")"
    row "journal" "durable appends/s, fsync per record (bench_journal)" "$each_rate /s" "$each_n appends, journal_append + journal_sync each"
    row "journal" "appends/s, one fsync for all (CPU limit)" "$once_rate /s" "$once_n appends"

    FEED_S=$(sc 5 2)
    agent_conf agent-feed "$DEAD_PORT" "feed_socket = $WORK/agent-feed/feed.sock" bench-feed
    "$BIN/smp-agent" --config "$WORK/agent-feed.conf" 2>"$WORK/agent-feed.log" &
    FEED_PID=$!
    track "$FEED_PID"
    wait_until 10 test -S "$WORK/agent-feed/feed.sock" || die "agent feed socket did not appear: $(tail -n 3 "$WORK/agent-feed.log")"
    for k in 1 4 16; do
        log "feed: $k producers for $FEED_S s"
        "$TOOLS/feed_load" "$WORK/agent-feed/feed.sock" "$k" "$FEED_S" >"$WORK/feed-$k.out" ||
            die "feed_load $k: $(cat "$WORK/feed-$k.out")"
        row "journal" "feed socket, K=$k producers (each waits for its ok)" "$(kv "$WORK/feed-$k.out" rate | tr -d '/s') events/s" \
            "mean latency $(kv "$WORK/feed-$k.out" mean_latency_ms) ms"
    done
    stop "$FEED_PID" || true
}

# ---- 4. reports ------------------------------------------------------------------

section_reports() {
    CLINIC_DAYS=$(sc 300 3)
    FLEET_DAYS=$(sc 12 1)
    REP_FROM=2025-01-01
    REP_TO=2025-12-31
    RPKI=$WORK/rpki
    "$BIN/smpctl" pki init --dir "$RPKI" >/dev/null
    local usage t_fopen t_fhtml t_fexp fp_db fp_recs fx
    usage=$("$BIN/smpctl" 2>&1 || true)
    HAVE_EXPORT=0 HAVE_VERIFY=0
    grep -q '^ *export ' <<<"$usage" && HAVE_EXPORT=1
    grep -q '^ *verify ' <<<"$usage" && HAVE_VERIFY=1
    # The export signs its manifest: an export key when smpctl can issue one,
    # BENCH_EXPORT_ARGS replaces these options.
    EXPORT_ARGS=()
    if [ -n "${BENCH_EXPORT_ARGS:-}" ]; then
        read -r -a EXPORT_ARGS <<<"$BENCH_EXPORT_ARGS"
    elif grep -q 'issue-export' <<<"$usage"; then
        "$BIN/smpctl" pki issue-export --dir "$RPKI" >/dev/null
        EXPORT_ARGS=(--key "$RPKI/export.key")
    fi

    # fixture NAME CLINICS DAYS [pg]: a database of CLINICS x 20 machines,
    # every one registered with its certificate, a SQLite file or (pg) a
    # database of this run's PostgreSQL cluster; sets DB, FIX_RECS and
    # FIX_S (seconds gen_fleetdb took).
    fixture() {
        local name=$1 clinics=$2 days=$3 c m d t0
        if [ "${4:-}" = pg ]; then
            DB=$(pg_new_db "${name//-/_}")
        else
            DB=$WORK/$name.db
        fi
        : >"$WORK/$name.devices"
        "$BIN/smpctl" db migrate --db "$DB" >/dev/null
        for c in $(seq 0 $((clinics - 1))); do
            clinic_add "$DB" "$(printf 'clinic-%02d' "$c")"
            for m in $(seq 0 19); do
                d=$(printf 'c%02d-m%02d' "$c" "$m")
                [ -f "$RPKI/devices/$d.crt" ] || "$BIN/smpctl" pki issue-device "$d" --dir "$RPKI" >/dev/null
                "$BIN/smpctl" device add "$d" --clinic "$(printf 'clinic-%02d' "$c")" --cert "$RPKI/devices/$d.crt" --db "$DB" >/dev/null
                # The clinic's first machine also logs its autoclave.
                echo "$d $([ "$m" = 0 ] && echo both || echo machine)" >>"$WORK/$name.devices"
            done
        done
        t0=$(now)
        FIX_RECS=$("$TOOLS/gen_fleetdb" --db "$DB" --devices "$WORK/$name.devices" --days "$days" --start 2025-01-06 --pki "$RPKI")
        # A database filled over a year has been vacuumed and analyzed by
        # autovacuum many times; one written in a minute not yet.
        is_pg "$DB" && pgq "$DB" "VACUUM ANALYZE" >/dev/null
        FIX_S=$(calc "$(now) - $t0")
        log "$name: $FIX_RECS records for $((clinics * 20)) machines x $days days in $(fmt "$FIX_S" 1) s, $(db_mib "$DB") MiB"
    }

    # ru CMD...: CMD under rusage_run, its peak RSS into $WORK/timed.rusage.
    ru() { "$TOOLS/rusage_run" "$WORK/timed.rusage" "$@"; }
    # timed OUTVAR RUNS CMD...: runs CMD RUNS times; OUTVAR = the best wall
    # time in seconds, or "failed"; OUTVAR_rss = the highest peak RSS of
    # the runs in MiB, when CMD runs its program with ru (the program's own,
    # not the PostgreSQL server's it talks to), else "?".
    timed() {
        local var=$1 runs=$2 t0 t best='' rc=0 i rss=0 r
        shift 2
        for i in $(seq 1 "$runs"); do
            rm -f "$WORK/timed.rusage"
            t0=$(now)
            "$@" >"$WORK/timed.out" 2>&1 || rc=$?
            if [ "$rc" != 0 ]; then
                printf -v "$var" 'failed'
                printf -v "${var}_rss" '?'
                log "failed ($rc): $* -- $(tail -n 2 "$WORK/timed.out")"
                return 0
            fi
            t=$(calc "$(now) - $t0")
            if [ -z "$best" ] || [ "$(yes_if "$t" "<" "$best")" = 1 ]; then best=$t; fi
            r=$([ -s "$WORK/timed.rusage" ] && kv "$WORK/timed.rusage" maxrss_kb || echo 0)
            [ "${r:-0}" -gt "$rss" ] && rss=$r
        done
        printf -v "$var" '%s' "$(fmt "$best" 2)"
        if [ "$rss" -gt 0 ]; then printf -v "${var}_rss" '%s' "$((rss / 1024))"; else printf -v "${var}_rss" '?'; fi
    }
    report() { ru "$BIN/smpctl" report --db "$1" --clinic clinic-00 --from "$2" --to "$3" --format "$4" --out "$5"; }
    export_to() {
        rm -rf "$2"
        ru "$BIN/smpctl" export --db "$1" --clinic clinic-00 --from "$REP_FROM" --to "$REP_TO" --out "$2" "${EXPORT_ARGS[@]}"
    }
    # x FX SECONDS: SECONDS scaled to a year, or "?".
    peryear() { if [ "$1" = failed ]; then echo '?'; else fmt "$(calc "$1 * $fx")" 1; fi; }

    # clinic_year sqlite|pg: the clinic-year fixture on that store, then its
    # report (html, csv) and export timed, with smpctl's peak RSS (on SQLite
    # also smpctl verify of the bundle).
    clinic_year() {
        local store=$1 sec=reports on='' db recs gen t_open t_html t_csv t_exp t_ver
        local t_html_rss t_csv_rss t_exp_rss t_ver_rss     # set by timed
        [ "$store" = pg ] && sec="reports, PostgreSQL" on=" on PostgreSQL"
        log "reports: clinic-year fixture$on (20 machines x $CLINIC_DAYS days)"
        fixture clinic-year 1 "$CLINIC_DAYS" "$store"
        db=$DB recs=$FIX_RECS gen=$FIX_S
        # The first open may build an index a newer smpctl adds: timed apart.
        timed t_open 1 report "$db" "$REP_FROM" "$REP_FROM" csv "$WORK/open.csv"
        timed t_html 2 report "$db" "$REP_FROM" "$REP_TO" html "$WORK/cy.html"
        timed t_csv 2 report "$db" "$REP_FROM" "$REP_TO" csv "$WORK/cy.csv"
        row "$sec" "clinic-year fixture" "$recs records" \
            "20 machines x $CLINIC_DAYS days, $(db_mib "$db") MiB, written in $(fmt "$gen" 0) s$([ "$store" = pg ] && echo " (then VACUUM ANALYZE, as autovacuum would have done)"); first smpctl open (one-day report): $t_open s"
        row "$sec" "clinic-year: smpctl report --format html" "$t_html s" "best of 2; smpctl peak RSS $t_html_rss MiB; target < 1 s"
        row "$sec" "clinic-year: smpctl report --format csv" "$t_csv s" "best of 2; smpctl peak RSS $t_csv_rss MiB"
        if [ "$t_html" = failed ]; then
            target "clinic-year report < 1 s ($([ "$store" = pg ] && echo PostgreSQL || echo SQLite))" "failed" 0
        else
            target "clinic-year report < 1 s ($([ "$store" = pg ] && echo PostgreSQL || echo SQLite))" \
                "$t_html s (html)$([ "$CLINIC_DAYS" -lt 300 ] && echo ", only $CLINIC_DAYS days at this scale")" "$(yes_if "$t_html" "<" 1)"
        fi
        if [ "$HAVE_EXPORT" = 1 ]; then
            timed t_exp 1 export_to "$db" "$WORK/cy-export"
            row "$sec" "clinic-year: smpctl export" "$t_exp s" \
                "$([ "$t_exp" != failed ] && du -sh "$WORK/cy-export" | cut -f1) bundle; smpctl peak RSS $t_exp_rss MiB"
            if [ "$store" = sqlite ] && [ "$HAVE_VERIFY" = 1 ] && [ "$t_exp" != failed ]; then
                timed t_ver 1 ru "$BIN/smpctl" verify "$WORK/cy-export"
                row "$sec" "clinic-year: smpctl verify (the bundle)" "$t_ver s" "smpctl peak RSS $t_ver_rss MiB"
            fi
        else
            row "$sec" "clinic-year: smpctl export" "skipped" "smpctl has no export command yet"
        fi
        return 0
    }
    clinic_year sqlite
    if [ "$PG" = 1 ]; then clinic_year pg; fi

    log "reports: fleet fixture (25 clinics, 500 machines x $FLEET_DAYS days)"
    fixture fleet-part 25 "$FLEET_DAYS"
    fp_db=$DB fp_recs=$FIX_RECS
    fx=$(calc "$CLINIC_DAYS / $FLEET_DAYS")
    timed t_fopen 1 report "$fp_db" "$REP_FROM" "$REP_FROM" csv "$WORK/open.csv"
    timed t_fhtml 2 report "$fp_db" "$REP_FROM" "$REP_TO" html "$WORK/fp.html"
    row "reports" "fleet fixture: 25 clinics, 500 machines x $FLEET_DAYS days" "$fp_recs records" \
        "$(du -m "$fp_db" | cut -f1) MiB; first smpctl open: $t_fopen s"
    row "reports" "fleet: report html, one clinic" "$t_fhtml s" "best of 2; x$(fmt "$fx" 0) for a fleet-year: $(peryear "$t_fhtml") s (extrapolated)"
    if [ "$HAVE_EXPORT" = 1 ]; then
        timed t_fexp 1 export_to "$fp_db" "$WORK/fp-export"
        row "reports" "fleet: export, one clinic" "$t_fexp s" "x$(fmt "$fx" 0) for a fleet-year: $(peryear "$t_fexp") s (extrapolated); target < 60 s"
        if [ "$t_fexp" = failed ]; then
            target "fleet-year export < 60 s" "failed" 0
        else
            target "fleet-year export < 60 s (one clinic's year from a 500-machine database)" \
                "$(peryear "$t_fexp") s (extrapolated from $FLEET_DAYS day(s))" "$(yes_if "$(calc "$t_fexp * $fx")" "<" 60)"
        fi
    else
        row "reports" "fleet: export" "skipped" "smpctl has no export command yet"
        target "fleet-year export < 60 s" "smpctl export not available" -
    fi
    note "Report fixtures are written by bench/gen_fleetdb straight into records/device_state (the agent's simulator, chained, every checkpoint signed with the device key, devices registered with their certificates); the collector's rules did not run on them, so alert and rule tables are empty. A whole fleet-year (500 machines x 300 days, ~75M records, ~45 GB) is not generated: the fleet figures are measured on $FLEET_DAYS day(s) of all 500 machines and scaled linearly by $(fmt "$fx" 0) (the work of one clinic's report or export grows with the days it covers; a database 25x larger than the page cache would be slower still)."
}

# ---- run ------------------------------------------------------------------------

if want ingest; then section_ingest; fi
if want agent; then section_agent; fi
if want journal; then section_journal; fi
if want reports; then section_reports; fi

# ---- the table ---------------------------------------------------------------------

TOTAL_S=$(fmt "$(calc "$(now) - $T_START")" 0)
note "Whole run: $TOTAL_S s."
write_results
echo
cat "$RESULTS"
