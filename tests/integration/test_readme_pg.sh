#!/usr/bin/env bash
# The README's "Fleet scale" commands, run as written against a throwaway
# PostgreSQL cluster: the database set-up (createuser, createdb as the
# cluster's superuser), smpctl db migrate and smpctl db copy of a SQLite
# fleet that holds records, alerts and the registry. Two substitutions only:
# the README's host db.example.com becomes the cluster's socket, and
# /var/lib/smpfleet/fleet.db the test's SQLite fleet. Then: every table has
# the same rows, and smpctl reads the copy (fleet status, alerts list).
# (The substituted URI is quoted: its query string holds an &.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

need_bin "$SMPCTL"
PGDIR=$(mktemp -d /tmp/smp-pg-readme.XXXXXX)
at_cleanup "$REPO_ROOT/tests/pg/pgcluster.sh stop $PGDIR"
BASE=$("$REPO_ROOT/tests/pg/pgcluster.sh" start "$PGDIR") || fail "no PostgreSQL cluster"
PORT=${BASE##*port=}
URI="postgresql://smpfleet@/smpfleet?host=$PGDIR\&port=$PORT"

# A SQLite fleet with a registered device, its records and an alert.
SQLITE_DB=$WORK/fleet.db
new_db "$SQLITE_DB"
"$SMPCTL" pki init --dir "$WORK/pki" >/dev/null
"$SMPCTL" pki issue-device chair-01 --dir "$WORK/pki" >/dev/null
"$SMPCTL" device add chair-01 --clinic main-street --cert "$WORK/pki/devices/chair-01.crt" \
    --db "$SQLITE_DB" >/dev/null
sqlite3 "$SQLITE_DB" "
    INSERT INTO records VALUES ('chair-01', 1, '2026-03-02T08:00:00.000Z',
        '2026-03-02T08:00:01.000Z', 'session.start', 'p', 'h', '{}');
    INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence, raised_at)
        VALUES ('R2', 'warning', 'chair-01', 'main-street', 'no-lot', 'Cartridge with no lot',
        '[]', '2026-03-02T09:00:00.000Z');"

"$REPO_ROOT/tests/integration/readme_blocks.sh" "$REPO_ROOT/README.md" \
    "Fleet scale: PostgreSQL and several collectors" |
    sed -e "s#postgresql://smpfleet@db.example.com/smpfleet#'$URI'#g" \
        -e "s#/var/lib/smpfleet/fleet.db#$SQLITE_DB#g" >"$WORK/readme.sh"
grep -q "smpctl db copy" "$WORK/readme.sh" || fail "README section lost its db copy command"
log "running the README's Fleet scale commands:"
cat "$WORK/readme.sh" >&2
# createuser/createdb run as the cluster's superuser, as the README's
# "postgres user" would.
PATH=$BIN:$PATH PGHOST=$PGDIR PGPORT=$PORT PGUSER=smptest bash -euo pipefail "$WORK/readme.sh" \
    >"$WORK/readme.out" 2>&1 || fail "README commands failed: $(cat "$WORK/readme.out")"
cat "$WORK/readme.out" >&2

grep -q "schema version 0 -> 6" "$WORK/readme.out" || fail "db migrate did not create the schema"
grep -q "records              1 rows" "$WORK/readme.out" || fail "db copy did not copy the record"
grep -q "1 records re-verified" "$WORK/readme.out" || fail "db copy did not re-verify the chain"
REAL_URI="postgresql://smpfleet@/smpfleet?host=$PGDIR&port=$PORT"
"$SMPCTL" alerts list --db "$REAL_URI" >"$WORK/alerts.out" || fail "alerts list on PostgreSQL"
grep -q "Cartridge with no lot" "$WORK/alerts.out" || fail "the copied alert is not listed: $(cat "$WORK/alerts.out")"
"$SMPCTL" fleet status --db "$REAL_URI" >"$WORK/fleet.out" || fail "fleet status on PostgreSQL"
grep -q "chair-01" "$WORK/fleet.out" || fail "the copied device is not in fleet status"
# A password in db_path (libpq takes it; this cluster trusts the socket) is
# shown only as ***: the collector's config check connects and says ok.
"$SMPCTL" pki issue-collector --dir "$WORK/pki" >/dev/null
cat >"$WORK/collector.conf" <<CONF
ca_file = $WORK/pki/ca.crt
cert_file = $WORK/pki/collector.crt
key_file = $WORK/pki/collector.key
db_path = postgresql://smpfleet:s3cret-pw@/smpfleet?host=$PGDIR&port=$PORT
share_group = fleet
CONF
"$BIN/smp-collector" --check-config -c "$WORK/collector.conf" >"$WORK/check.out" 2>&1 ||
    fail "collector --check-config on PostgreSQL: $(cat "$WORK/check.out")"
! grep -q "s3cret-pw" "$WORK/check.out" || fail "the password reached the output: $(cat "$WORK/check.out")"
grep -q "ok (db_path postgresql://smpfleet:\*\*\*@/smpfleet" "$WORK/check.out" ||
    fail "--check-config did not show the masked target: $(cat "$WORK/check.out")"
echo "ok: README Fleet scale commands: PostgreSQL database made, schema migrated, SQLite fleet copied and read back"
