#!/bin/sh
# pgcluster: a throwaway PostgreSQL 15 cluster for the tests.
#
#   tests/pg/pgcluster.sh start DIR   prints the base URI, one line:
#                                     postgresql://smptest@/postgres?host=DIR&port=PORT
#   tests/pg/pgcluster.sh stop DIR    stops the cluster and removes DIR
#
# DIR must be absent or empty (mktemp -d is fine) and its parent must let an
# unprivileged user through (/tmp, /dev/shm; a tmpfs makes CREATE DATABASE
# ~15x faster). The server listens only on a unix socket in DIR; the random
# port only names that socket, so clusters in different DIRs never collide.
# Trust authentication and, by default, fsync off: for tests only.
# PGCLUSTER_FSYNC=on (make bench): commits are durable as on a server with
# the default settings (fsync, synchronous_commit, full_page_writes on), so
# that a commit waits for its WAL to reach the disk; give it a DIR on a
# real disk then, not a tmpfs (where fsync costs nothing).
# PostgreSQL refuses to run as root, so as root the cluster belongs to
# $PGCLUSTER_USER (nobody unless set).
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGCLUSTER_USER=${PGCLUSTER_USER:-nobody}
PGCLUSTER_FSYNC=${PGCLUSTER_FSYNC:-off}
case $PGCLUSTER_FSYNC in
on | off) ;;
*) echo "pgcluster: PGCLUSTER_FSYNC must be on or off, not '$PGCLUSTER_FSYNC'" >&2; exit 1 ;;
esac
# Written first by start: stop removes only a DIR that carries it.
MARK=.smp-pgcluster

die() {
    echo "pgcluster: $*" >&2
    exit 1
}

# Runs a command as the cluster's owner, from DIR (the owner may not be
# able to read the caller's working directory).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$dir" && runuser -u "$PGCLUSTER_USER" -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + n % 40000))
}

start() {
    [ -x "$PGBIN/initdb" ] || die "no $PGBIN/initdb; install postgresql (scripts/install-deps.sh)"
    # A unix socket path holds at most 107 bytes.
    [ ${#dir} -le 80 ] || die "$dir is too long for a socket path; use a DIR of at most 80 characters"
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
        die "$dir is not empty; give a new directory (mktemp -d /tmp/smp-pg-XXXXXX)"
    fi
    mkdir -p "$dir"
    : >"$dir/$MARK"
    if [ "$(id -u)" -eq 0 ]; then
        id "$PGCLUSTER_USER" >/dev/null 2>&1 || die "no user $PGCLUSTER_USER to run PostgreSQL as (set PGCLUSTER_USER)"
        chown "$PGCLUSTER_USER": "$dir"
    fi
    chmod 0700 "$dir"
    # --no-sync: nothing here has to survive a crash.
    if ! as_owner "$PGBIN/initdb" -D "$dir/data" --auth=trust -U smptest -E UTF8 --locale=C \
        --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed in $dir (log above); run: $0 stop $dir"
    fi
    port=$(random_port)
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 100
fsync = $PGCLUSTER_FSYNC
synchronous_commit = $PGCLUSTER_FSYNC
full_page_writes = $PGCLUSTER_FSYNC
shared_buffers = 16MB
wal_level = minimal
max_wal_senders = 0
EOF
    if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null 2>&1; then
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        die "the server did not start in $dir (log above); run: $0 stop $dir"
    fi
    echo "postgresql://smptest@/postgres?host=$dir&port=$port"
}

stop() {
    [ -e "$dir" ] || return 0
    if [ ! -e "$dir/$MARK" ]; then
        # start failed before its mark: only an empty DIR can be ours.
        rmdir "$dir" 2>/dev/null || die "$dir was not made by $0 start; not removing it"
        return 0
    fi
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || {
            # A server pg_ctl cannot stop must not outlive its files.
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            case $pid in '' | *[!0-9]*) ;; *) kill -9 "$pid" 2>/dev/null || true ;; esac
        }
    fi
    rm -rf "$dir"
}

[ $# -eq 2 ] || die "usage: $0 start|stop DIR (an absolute path)"
dir=$2
case $dir in
/*) ;;
*) die "DIR must be an absolute path, not $dir" ;;
esac
case $1 in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop DIR (an absolute path)" ;;
esac
