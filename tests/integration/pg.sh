# shellcheck shell=bash
# pg.sh: a throwaway PostgreSQL cluster for integration tests, and the
# database assertions of faults.sh in their PostgreSQL form. Source after
# lib.sh, fleet.sh and faults.sh; uses their WORK, REPO_ROOT, BIN, fail,
# log, at_cleanup, agent_status and GENESIS_PREV.
#
#   start_pg                     cluster in $WORK/pg (or /tmp), sets PG_BASE, PG_DIR
#   DB=$(pg_new_db fleet)        a new database, its URI
#   pgq "$DB" "SELECT ..."       one row per line, columns separated by '|'
#   pg_assert_exactly_once "$DB" DEVICE
#   pg_assert_no_integrity_alerts "$DB" LOG...

PGCLUSTER=$REPO_ROOT/tests/pg/pgcluster.sh

# _pg_owner_reaches DIR: the user the cluster runs as can traverse DIR
# (every component of its path). As root that is PGCLUSTER_USER (nobody
# unless set: PostgreSQL refuses to run as root); otherwise ourselves.
_pg_owner_reaches() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "${PGCLUSTER_USER:-nobody}" -- test -x "$1" 2>/dev/null
    else
        test -x "$1"
    fi
}

# start_pg: start a cluster of its own for this test; PG_BASE is its base
# URI (database postgres), PG_DIR its directory. The cluster is stopped and
# its directory removed when the test ends, whatever the outcome. It goes
# under $WORK when the cluster's user can reach that and the socket path
# stays short (a unix socket path holds at most 107 bytes), else under /tmp.
start_pg() {
    command -v psql >/dev/null || fail "psql missing; run scripts/install-deps.sh (postgresql-client)"
    [ -f "$PGCLUSTER" ] || fail "$PGCLUSTER missing"
    PG_DIR=$WORK/pg
    if ! _pg_owner_reaches "$WORK" || [ "${#PG_DIR}" -gt 80 ]; then
        PG_DIR=$(mktemp -d /tmp/smp-pg.XXXXXX)
    fi
    # Registered first: a start that fails half-way is still stopped.
    at_cleanup "sh '$PGCLUSTER' stop '$PG_DIR'"
    PG_BASE=$(sh "$PGCLUSTER" start "$PG_DIR") || fail "could not start a PostgreSQL cluster in $PG_DIR (messages above)"
    export PG_BASE PG_DIR
    log "postgresql cluster in $PG_DIR: $PG_BASE"
}

# pgq URI SQL: run SQL on URI; one row per line, columns separated by '|',
# no headers. Stops at the first error (non-zero exit).
pgq() {
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -F '|' -c "$2"
}

# pg_uri_for NAME: the URI of database NAME in the test's cluster.
pg_uri_for() {
    echo "${PG_BASE/\/postgres\?//$1?}"
}

# pg_new_db NAME: create database NAME in the test's cluster and print its
# URI. The schema is smpctl db migrate's job (new_db in fleet.sh).
pg_new_db() {
    [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]] || fail "pg_new_db: '$1' is not a plain lower-case name"
    pgq "$PG_BASE" "CREATE DATABASE $1" >&2 || fail "CREATE DATABASE $1 failed"
    pg_uri_for "$1"
}

# pg_db_count URI DEVICE: records the database holds for DEVICE (0 while
# the database or its tables are not there).
pg_db_count() {
    pgq "$1" "SELECT count(*) FROM records WHERE device_id = '$2'" 2>/dev/null || echo 0
}

# pg_total URI: records in the database (0 while it cannot answer).
pg_total() {
    pgq "$1" "SELECT count(*) FROM records" 2>/dev/null || echo 0
}

# pg_assert_prev_chain URI DEVICE: assert_prev_chain of faults.sh on
# PostgreSQL: seq 1 links to the genesis value and every seq>1 has a stored
# predecessor whose hash is its prev. Fails naming the first broken link.
pg_assert_prev_chain() {
    local db=$1 dev=$2 bad first broken
    broken="FROM records r
            LEFT JOIN records p ON p.device_id = r.device_id AND p.seq = r.seq - 1
            WHERE r.device_id = '$dev' AND r.seq > 1 AND (p.hash IS NULL OR p.hash <> r.prev)"
    bad=$(pgq "$db" "SELECT count(*) $broken") || fail "$dev: chain query failed"
    if [ "$bad" != 0 ]; then
        first=$(pgq "$db" "SELECT r.seq || ' prev=' || r.prev || ' hash(seq-1)=' || coalesce(p.hash, 'MISSING')
                           $broken ORDER BY r.seq LIMIT 1")
        fail "$dev: $bad broken prev links in the database; first: seq $first"
    fi
    [ "$(pgq "$db" "SELECT prev FROM records WHERE device_id = '$dev' AND seq = 1")" = "$GENESIS_PREV" ] ||
        fail "$dev: seq 1 does not link to the genesis value"
}

# pg_assert_exactly_once URI DEVICE: assert_exactly_once of faults.sh on
# PostgreSQL: the database holds seq 1..head of the agent's final status
# once each, the collectors' chain head (device_state) is the agent's, and
# the prev chain is unbroken.
pg_assert_exactly_once() {
    local db=$1 dev=$2 head hash count distinct lo hi stored
    head=$(agent_status "$dev" head_seq) || fail "$dev: no status"
    hash=$(agent_status "$dev" head_hash) || fail "$dev: no status"
    [ "$head" -gt 0 ] || fail "$dev: agent journaled nothing"
    IFS='|' read -r count distinct lo hi <<<"$(pgq "$db" \
        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM records WHERE device_id = '$dev'")"
    [ "$count" = "$head" ] || fail "$dev: agent journaled $head records, database holds $count"
    [ "$distinct" = "$head" ] && [ "$lo" = 1 ] && [ "$hi" = "$head" ] ||
        fail "$dev: seq not 1..$head exactly once (distinct=$distinct min=$lo max=$hi)"
    stored=$(pgq "$db" "SELECT acked_seq || ' ' || acked_hash FROM device_state WHERE device_id = '$dev'")
    [ "$stored" = "$head $hash" ] || fail "$dev: collectors' chain head '$stored' != agent '$head $hash'"
    pg_assert_prev_chain "$db" "$dev"
    echo "ok: $dev $head records stored once, chain unbroken, head $hash"
}

# pg_assert_no_integrity_alerts URI LOG...: no collector logged a chain
# break, conflict or quarantine, no integrity alert (R9, R10) is stored and
# nothing is quarantined, whole or per record.
pg_assert_no_integrity_alerts() {
    local db=$1 q r alerts
    shift
    if grep -E "integrity|quarantined" "$@" >&2; then
        fail "a collector logged integrity alerts or quarantined messages (above)"
    fi
    q=$(pgq "$db" "SELECT count(*) FROM quarantine")
    [ "$q" = 0 ] || fail "quarantine holds $q messages: $(pgq "$db" "SELECT device_id, topic, reason FROM quarantine LIMIT 5")"
    r=$(pgq "$db" "SELECT count(*) FROM quarantined_records")
    [ "$r" = 0 ] || fail "quarantined_records holds $r records"
    alerts=$(pgq "$db" "SELECT rule || ' ' || device_id || ' ' || cause FROM alerts WHERE rule IN ('R9', 'R10')")
    [ -z "$alerts" ] || fail "integrity alerts stored: $alerts"
}
