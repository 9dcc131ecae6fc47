#!/usr/bin/env bash
# tests/pg/pgcluster.sh's durability switch: by default a test cluster runs
# with fsync, synchronous_commit and full_page_writes off (fast, nothing
# to survive a crash); PGCLUSTER_FSYNC=on (make bench's PostgreSQL rows)
# turns all three on, so that a commit waits for its WAL on disk as on a
# server with the default settings; any other value is refused before
# anything is made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PGCLUSTER=$REPO_ROOT/tests/pg/pgcluster.sh
command -v psql >/dev/null || fail "psql missing; run scripts/install-deps.sh (postgresql-client)"

# settings URI: "fsync synchronous_commit full_page_writes" of the server.
settings() {
    psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "SELECT current_setting('fsync') || ' ' ||
        current_setting('synchronous_commit') || ' ' || current_setting('full_page_writes')"
}

# A cluster's directory must be reachable by the user it runs as (nobody
# when we are root) and short enough for its socket: under /tmp.
DIR_OFF=$(mktemp -d /tmp/smp-pgc-off.XXXXXX)
at_cleanup "sh '$PGCLUSTER' stop '$DIR_OFF'"
DIR_ON=$(mktemp -d /tmp/smp-pgc-on.XXXXXX)
at_cleanup "sh '$PGCLUSTER' stop '$DIR_ON'"
DIR_BAD=$(mktemp -d /tmp/smp-pgc-bad.XXXXXX)
at_cleanup "rm -rf '$DIR_BAD'"

# Unset in the environment: the tests' default.
URI=$(env -u PGCLUSTER_FSYNC sh "$PGCLUSTER" start "$DIR_OFF") || fail "pgcluster start (default) failed"
got=$(settings "$URI")
[ "$got" = "off off off" ] || fail "default cluster: fsync synchronous_commit full_page_writes = '$got', expected 'off off off'"
log "default: $got"

URI=$(PGCLUSTER_FSYNC=on sh "$PGCLUSTER" start "$DIR_ON") || fail "pgcluster start with PGCLUSTER_FSYNC=on failed"
got=$(settings "$URI")
[ "$got" = "on on on" ] || fail "PGCLUSTER_FSYNC=on: fsync synchronous_commit full_page_writes = '$got', expected 'on on on'"
log "PGCLUSTER_FSYNC=on: $got"
# And a commit does reach the disk: the server syncs its WAL for it.
before=$(psql "$URI" -XAtqc "SELECT wal_sync FROM pg_stat_wal")
psql "$URI" -XAtq -v ON_ERROR_STOP=1 -c "CREATE TABLE t(x int)" -c "INSERT INTO t VALUES (1)" >/dev/null
after=$(psql "$URI" -XAtqc "SELECT wal_sync FROM pg_stat_wal")
[ "$after" -gt "$before" ] || fail "PGCLUSTER_FSYNC=on: no WAL sync for two commits (pg_stat_wal.wal_sync $before -> $after)"

# A value that is neither on nor off: refused, naming the variable, and
# the directory left as it was (empty).
rc=0
err=$(PGCLUSTER_FSYNC=yes sh "$PGCLUSTER" start "$DIR_BAD" 2>&1 >/dev/null) || rc=$?
[ "$rc" != 0 ] || fail "PGCLUSTER_FSYNC=yes was accepted"
[ "$err" = "pgcluster: PGCLUSTER_FSYNC must be on or off, not 'yes'" ] || fail "PGCLUSTER_FSYNC=yes: unexpected message '$err'"
[ -z "$(ls -A "$DIR_BAD")" ] || fail "PGCLUSTER_FSYNC=yes left files in $DIR_BAD: $(ls -A "$DIR_BAD")"

echo "ok: pgcluster durability off by default, on with PGCLUSTER_FSYNC=on, other values refused"
