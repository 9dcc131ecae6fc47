#!/usr/bin/env bash
# The daemons and smpctl as Unix services: --version, --help, -c,
# --check-config (a good config, then each bad case with its exact message),
# one agent per data_dir and one collector per database (the refusal names
# the pid holding it), SIGHUP reloads (log_level, policy; a broken policy
# keeps the old one), --status exit codes, relative paths resolved against
# the config's directory, private database and report files, smpctl report
# refusing to write a PDF to a terminal, and every smpctl --help.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"
need_bin "$SMPCTL"

PKI=$WORK/pki
ETC=$WORK/etc
issue_pki "$PKI" chair-01 chair-02
mkdir -p "$ETC"

# expect_fail WANT_RC PATTERN CMD...: CMD exits WANT_RC and its stderr has
# PATTERN (a fixed string).
expect_fail() {
    local want=$1 pattern=$2 rc=0
    shift 2
    "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" = "$want" ] || fail "$* exited $rc, expected $want: $(cat "$WORK/err")"
    grep -qF -- "$pattern" "$WORK/err" || fail "$* did not say '$pattern': $(cat "$WORK/err")"
}

# ---- --version, --help, -c ---------------------------------------------------
version=$(sed -n 's/^#define SMP_VERSION "\(.*\)"$/\1/p' "$REPO_ROOT/common/version.h")
[ -n "$version" ] || fail "no SMP_VERSION in common/version.h"
for p in smp-agent smp-collector smpctl; do
    [ "$("$BIN/$p" --version)" = "$p $version" ] || fail "$p --version: $("$BIN/$p" --version)"
done
agent_help=$("$BIN/smp-agent" --help)
for opt in -c --config --check-config --status --simulate --seed --speed --sim-days --sim-start \
    --fault-rate --exit-when-done --version --help; do
    grep -qF -- "$opt" <<<"$agent_help" || fail "smp-agent --help does not list $opt"
done
collector_help=$("$BIN/smp-collector" -h)
for opt in -c --config --check-config --version --help; do
    grep -qF -- "$opt" <<<"$collector_help" || fail "smp-collector --help does not list $opt"
done
expect_fail 2 "unknown or incomplete option '--bogus'" "$BIN/smp-agent" --bogus
expect_fail 2 "unknown or incomplete option '--bogus'" "$BIN/smp-collector" -c x --bogus
echo "ok: --version ($version), --help, unknown options"

# ---- configs with paths relative to $ETC --------------------------------------
# The PKI is reached as ../pki from $ETC: every run below starts elsewhere.
write_agent_conf() { # FILE DEVICE CERT_NAME KEY_NAME [EXTRA...]
    local file=$1 dev=$2 crt=$3 key=$4
    shift 4
    {
        echo "broker_port = ${BROKER_PORT:-1}"
        echo "ca_file = ../pki/ca.crt"
        echo "cert_file = ../pki/devices/$crt.crt"
        echo "key_file = ../pki/devices/$key.key"
        echo "device_id = $dev"
        echo "data_dir = ../agents/$dev"
        echo "ack_timeout_s = 5"
        printf '%s\n' "$@"
    } >"$file"
}
write_collector_conf() { # FILE [EXTRA...]
    local file=$1
    shift
    {
        echo "broker_port = ${BROKER_PORT:-1}"
        echo "ca_file = ../pki/ca.crt"
        echo "cert_file = ../pki/collector.crt"
        echo "key_file = ../pki/collector.key"
        echo "db_path = ../db/fleet.db"
        echo "policy_file = policy.conf"
        printf '%s\n' "$@"
    } >"$file"
}
mkdir -p "$WORK/agents" "$WORK/db" "$WORK/elsewhere"
echo "profile = cdc" >"$ETC/policy.conf"
cd "$WORK/elsewhere"

# ---- --check-config: good, then each bad case ----------------------------------
write_agent_conf "$ETC/agent.conf" chair-01 chair-01 chair-01
out=$("$BIN/smp-agent" -c "$ETC/agent.conf" --check-config) || fail "good agent config refused: $out"
[ "$out" = "smp-agent: $ETC/agent.conf: ok (device chair-01, data_dir $ETC/../agents/chair-01)" ] ||
    fail "unexpected --check-config output: $out"
write_collector_conf "$ETC/collector.conf"
"$BIN/smp-collector" --config "$ETC/collector.conf" --check-config >/dev/null ||
    fail "good collector config refused"
echo "ok: --check-config accepts good configs (relative paths resolved against $ETC)"

bad=$ETC/bad.conf
write_agent_conf "$bad" chair-01 chair-02 chair-02
expect_fail 1 "$bad: device_id 'chair-01' does not match the CN 'chair-02' of cert_file $ETC/../pki/devices/chair-02.crt; set device_id to the certificate's CN" \
    "$BIN/smp-agent" -c "$bad" --check-config
write_agent_conf "$bad" chair-01 chair-01 chair-02
expect_fail 1 "$bad: key_file $ETC/../pki/devices/chair-02.key is not the private key of cert_file $ETC/../pki/devices/chair-01.crt (CN 'chair-01')" \
    "$BIN/smp-agent" -c "$bad" --check-config
write_agent_conf "$bad" chair-01 missing chair-01
expect_fail 1 "$bad: cert_file $ETC/../pki/devices/missing.crt: cannot read: No such file or directory" \
    "$BIN/smp-agent" -c "$bad" --check-config
# An expired certificate of the same CA (openssl: smpctl pki never issues one).
openssl req -new -key "$PKI/devices/chair-01.key" -subj /CN=chair-01 -out "$WORK/old.csr" 2>/dev/null
openssl x509 -req -in "$WORK/old.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -CAserial "$WORK/ca.srl" -days -1 -out "$PKI/devices/old.crt" 2>/dev/null
not_after=$(date -u -d "$(openssl x509 -in "$PKI/devices/old.crt" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
write_agent_conf "$bad" chair-01 old chair-01
expect_fail 1 "$bad: cert_file $ETC/../pki/devices/old.crt expired on $not_after; the broker will refuse it" \
    "$BIN/smp-agent" -c "$bad" --check-config
touch "$WORK/a-file"
write_agent_conf "$bad" chair-01 chair-01 chair-01 "feed_socket = ../a-file/feed.sock"
sed -i "s|^data_dir = .*|data_dir = ../a-file/data|" "$bad"
expect_fail 1 "$bad:6: data_dir $ETC/../a-file/data: cannot use: Not a directory; create it for the agent's user or choose another" \
    "$BIN/smp-agent" -c "$bad" --check-config
grep -qF "$bad:8: feed_socket $ETC/../a-file/feed.sock: directory $ETC/../a-file: not a directory; the agent creates the socket there" "$WORK/err" ||
    fail "feed_socket problem not reported: $(cat "$WORK/err")"
grep -qF "smp-agent: $bad: 2 problems" "$WORK/err" || fail "problem count missing: $(cat "$WORK/err")"
write_agent_conf "$bad" chair-01 chair-01 chair-01 "log_level = loud"
expect_fail 1 "$bad:8: log_level: 'loud' is not a level; use error, warn, info or debug" \
    "$BIN/smp-agent" -c "$bad" --check-config

write_collector_conf "$bad"
sed -i "s|collector\.crt|devices/chair-01.crt|; s|collector\.key|devices/chair-01.key|" "$bad"
expect_fail 1 "$bad: cert_file $ETC/../pki/devices/chair-01.crt has the CN 'chair-01', not a collector's" \
    "$BIN/smp-collector" -c "$bad" --check-config
write_collector_conf "$bad" "log_level = debug"
sed -i "s|policy_file = policy.conf|policy_file = broken-policy.conf|; s|db_path = .*|db_path = ../no-such-dir/fleet.db|" "$bad"
echo "profile = weekly-ish" >"$ETC/broken-policy.conf"
expect_fail 1 "$bad:6: policy_file: $ETC/broken-policy.conf:1: profile: 'weekly-ish' is not a profile (use cdc or bodyart-monthly)" \
    "$BIN/smp-collector" -c "$bad" --check-config
grep -qF "$bad:5: db_path $ETC/../no-such-dir/fleet.db: directory $ETC/../no-such-dir: cannot use: No such file or directory" "$WORK/err" ||
    fail "db_path problem not reported: $(cat "$WORK/err")"
write_collector_conf "$bad" "commit_lanes = 2"
expect_fail 1 "$bad:7: commit_lanes: SQLite admits one writer at a time: set 1 (or 0, the default), or set db_path to a postgresql:// URI" \
    "$BIN/smp-collector" -c "$bad" --check-config
echo "ok: --check-config names the setting and what to do for each bad case"

# ---- start-up identity check --------------------------------------------------
write_agent_conf "$bad" chair-01 chair-02 chair-02
expect_fail 1 "device_id 'chair-01' does not match the CN 'chair-02' of cert_file" "$BIN/smp-agent" -c "$bad"
write_agent_conf "$bad" chair-01 chair-01 chair-02
expect_fail 1 "is not the private key of cert_file" "$BIN/smp-agent" -c "$bad"
[ ! -e "$WORK/agents/chair-01/journal" ] || fail "a refused agent created its journal"
echo "ok: the agent refuses a wrong certificate or key at start-up"

# ---- a running fleet, started from $WORK/elsewhere ------------------------------
start_broker "$PKI" "$WORK/broker"
write_agent_conf "$ETC/agent.conf" chair-01 chair-01 chair-01
write_collector_conf "$ETC/collector.conf"
# Nothing but smpctl db migrate creates a database or changes its schema.
CDB=$ETC/../db/fleet.db
expect_fail 1 "no database at $CDB: create it with smpctl db migrate --db $CDB" \
    "$BIN/smp-collector" -c "$ETC/collector.conf"
[ ! -e "$WORK/db/fleet.db" ] || fail "a refused collector created its database"
expect_fail 1 "no database at $WORK/db/fleet.db: create it with smpctl db migrate --db $WORK/db/fleet.db" \
    "$SMPCTL" device add chair-01 --clinic c1 --db "$WORK/db/fleet.db"
[ ! -e "$WORK/db/fleet.db" ] || fail "a refused device add created the database"
# A database of the first release (schema version 1): refused until migrated.
sqlite3 "$WORK/db/fleet.db" "PRAGMA journal_mode=WAL" >/dev/null
sqlite3 "$WORK/db/fleet.db" <"$REPO_ROOT/tests/fixtures/schema_v1.sql"
chmod 600 "$WORK/db/fleet.db"
expect_fail 1 "database $CDB has schema version 1, this smpfleet needs 6: run smpctl db migrate --db $CDB" \
    "$BIN/smp-collector" -c "$ETC/collector.conf"
out=$("$SMPCTL" db migrate --db "$WORK/db/fleet.db") || fail "db migrate of a version-1 database failed"
[ "$out" = "database $WORK/db/fleet.db: schema version 1 -> 6" ] || fail "db migrate said: $out"
out=$("$SMPCTL" db migrate --db "$WORK/db/fleet.db") || fail "second db migrate failed"
[ "$out" = "database $WORK/db/fleet.db: schema version 6, up to date" ] || fail "second db migrate said: $out"
echo "ok: the collector and smpctl refuse a missing or version-1 database, naming smpctl db migrate"

"$SMPCTL" device add chair-01 --clinic c1 --cert "$PKI/devices/chair-01.crt" --db "$WORK/db/fleet.db" >/dev/null
COLLECTOR_LOG=$WORK/collector.log
"$BIN/smp-collector" -c "$ETC/collector.conf" 2>>"$COLLECTOR_LOG" &
COLLECTOR_PID=$!
track_pid "$COLLECTOR_PID"
wait_until 15 grep -q 'subscribed topics=' "$COLLECTOR_LOG" ||
    fail "collector did not subscribe: $(tail -5 "$COLLECTOR_LOG")"

AGENT_LOG=$WORK/agent.log
"$BIN/smp-agent" -c "$ETC/agent.conf" --simulate --seed 3 --speed 0 --sim-start 2026-03-02 2>>"$AGENT_LOG" &
AGENT_PID=$!
track_pid "$AGENT_PID"
wait_until 30 bash -c "[ \"\$(sqlite3 '$WORK/db/fleet.db' \"SELECT acked_seq > 100 FROM device_state WHERE device_id='chair-01'\")\" = 1 ]" ||
    fail "records of an agent started elsewhere did not arrive: $(tail -5 "$AGENT_LOG")"
[ -d "$WORK/agents/chair-01/journal" ] || fail "agent did not resolve data_dir against $ETC"
[ ! -e "$WORK/elsewhere/agents" ] && [ ! -e "$WORK/elsewhere/db" ] || fail "a path was resolved against the cwd"
echo "ok: relative paths resolved against the config's directory (agent and collector run from elsewhere)"

for f in fleet.db fleet.db-wal fleet.db-shm; do
    mode=$(stat -c %a "$WORK/db/$f")
    [ "$mode" = 600 ] || fail "$f has mode $mode, expected 600"
done
rm -f "$WORK/reg.db"
"$SMPCTL" db migrate --db "$WORK/reg.db" >/dev/null
[ "$(stat -c %a "$WORK/reg.db")" = 600 ] || fail "smpctl db migrate created reg.db $(stat -c %a "$WORK/reg.db")"
"$SMPCTL" device add chair-02 --clinic c1 --db "$WORK/reg.db" >/dev/null
echo "ok: database files are created 0600"

# ---- one agent per data_dir, one collector per database ------------------------
expect_fail 1 "data_dir $ETC/../agents/chair-01 is in use by another smp-agent (pid $AGENT_PID, lock $ETC/../agents/chair-01/agent.lock)" \
    "$BIN/smp-agent" -c "$ETC/agent.conf"
# Another config, same database: refused (one collector per SQLite file).
write_collector_conf "$ETC/collector2.conf" ""
expect_fail 1 "db_path $ETC/../db/fleet.db is in use by another collector (pid $COLLECTOR_PID, smp-collector cn=smp-collector; lock $ETC/../db/fleet.db.lock)" \
    "$BIN/smp-collector" -c "$ETC/collector2.conf"
echo "ok: a second agent and a second collector are refused, naming the pid"

# ---- --status --------------------------------------------------------------------
wait_until 5 test -f "$WORK/agents/chair-01/status" || fail "no status file"
"$BIN/smp-agent" -c "$ETC/agent.conf" --status >"$WORK/status.json" || fail "--status of a running agent exited $?"
grep -q '"device":"chair-01"' "$WORK/status.json" || fail "status: $(cat "$WORK/status.json")"

# ---- SIGHUP --------------------------------------------------------------------
echo "log_level = debug" >>"$ETC/agent.conf"
sed -i 's/^ack_timeout_s = 5/ack_timeout_s = 6/' "$ETC/agent.conf"
kill -HUP "$AGENT_PID"
wait_until 5 grep -qF "reloaded config=$ETC/agent.conf log_level=debug (was info); restart needed for: ack_timeout_s" "$AGENT_LOG" ||
    fail "agent did not log the reload: $(tail -3 "$AGENT_LOG")"
kill -0 "$AGENT_PID" || fail "agent died on SIGHUP"

echo "log_level = debug" >>"$ETC/collector.conf"
echo "profile = bodyart-monthly" >"$ETC/policy.conf"
kill -HUP "$COLLECTOR_PID"
wait_until 5 grep -qF "reloaded config=$ETC/collector.conf log_level=debug (was info) policy=$ETC/policy.conf (profile=bodyart-monthly); restart needed for: nothing" "$COLLECTOR_LOG" ||
    fail "collector did not log the reload: $(tail -3 "$COLLECTOR_LOG")"
sed -i 's/^broker_port = .*/broker_port = 1/' "$ETC/collector.conf"
echo "spore_interval_days = many" >"$ETC/policy.conf"
kill -HUP "$COLLECTOR_PID"
wait_until 5 grep -qF "reload: policy_file: $ETC/policy.conf:1: spore_interval_days: must be an integer 0..3650" "$COLLECTOR_LOG" ||
    fail "collector did not log the broken policy: $(tail -3 "$COLLECTOR_LOG")"
grep -qF "keeping the running policy (profile=bodyart-monthly)" "$COLLECTOR_LOG" || fail "old policy not kept"
grep -qF "policy=unchanged (invalid file); restart needed for: broker_port" "$COLLECTOR_LOG" ||
    fail "reload line after a broken policy: $(tail -3 "$COLLECTOR_LOG")"
kill -0 "$COLLECTOR_PID" || fail "collector died on SIGHUP"
echo "ok: SIGHUP reloads log_level and policy, names what needs a restart, keeps a broken policy out"

# ---- --status when not running --------------------------------------------------
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exited $? on TERM"
rc=0
"$BIN/smp-agent" -c "$ETC/agent.conf" --status >"$WORK/status.json" 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] || fail "--status of a stopped agent exited $rc, expected 3"
grep -qE '^smp-agent: agent not running \(last status written at [0-9-]{10}T[0-9:]{8}Z\)$' "$WORK/err" ||
    fail "--status did not say the agent is not running: $(cat "$WORK/err")"
grep -q '"device":"chair-01"' "$WORK/status.json" || fail "last status not printed"
echo "ok: --status exits 0 while running, 3 (not running) after, with the last status"

# ---- smpctl ------------------------------------------------------------------------
DAY=2026-03-02
rc=0
script -qec "'$SMPCTL' report --db '$WORK/db/fleet.db' --clinic c1 --from $DAY --to $DAY --format pdf" /dev/null \
    >"$WORK/tty.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "report --format pdf on a terminal exited $rc: $(cat "$WORK/tty.out")"
grep -qF "smpctl report: --format pdf is binary and stdout is a terminal; give --out FILE or redirect stdout to a file" "$WORK/tty.out" ||
    fail "no tty refusal: $(head -c 300 "$WORK/tty.out")"
"$SMPCTL" report --db "$WORK/db/fleet.db" --clinic c1 --from $DAY --to $DAY --format pdf >"$WORK/r.pdf" ||
    fail "report --format pdf to a file failed"
[ "$(head -c 4 "$WORK/r.pdf")" = "%PDF" ] || fail "redirected PDF is not a PDF"
"$SMPCTL" report --db "$WORK/db/fleet.db" --clinic c1 --from $DAY --to $DAY --format csv --out "$WORK/r.csv"
[ "$(stat -c %a "$WORK/r.csv")" = 600 ] || fail "report --out created $(stat -c %a "$WORK/r.csv")"
# Reading a version-1 database is refused and leaves it byte for byte as it was.
sqlite3 "$WORK/v1.db" "PRAGMA journal_mode=WAL" >/dev/null
sqlite3 "$WORK/v1.db" <"$REPO_ROOT/tests/fixtures/schema_v1.sql"
sqlite3 "$WORK/v1.db" "INSERT INTO devices VALUES ('chair-01', 'c1', NULL, NULL, NULL, '2026-03-01T00:00:00Z', NULL)"
cp "$WORK/v1.db" "$WORK/v1.copy"
expect_fail 1 "smpctl report: database $WORK/v1.db has schema version 1, this smpfleet needs 6: run smpctl db migrate --db $WORK/v1.db" \
    "$SMPCTL" report --db "$WORK/v1.db" --clinic c1 --from $DAY --to $DAY --format csv
cmp -s "$WORK/v1.db" "$WORK/v1.copy" || fail "smpctl report changed a version-1 database"
[ ! -e "$WORK/v1.db-wal" ] || [ ! -s "$WORK/v1.db-wal" ] || fail "smpctl report wrote to a version-1 database's WAL"
echo "ok: smpctl report refuses a version-1 database and leaves it unchanged"
"$SMPCTL" pki issue-export --dir "$PKI" >/dev/null
"$SMPCTL" export --db "$WORK/db/fleet.db" --clinic c1 --from $DAY --to $DAY --out "$WORK/audit" \
    --key "$PKI/export.key" >/dev/null || fail "smpctl export failed"
[ "$(stat -c %a "$WORK/audit")" = 700 ] || fail "export bundle has mode $(stat -c %a "$WORK/audit")"
echo "ok: smpctl report refuses a PDF on a terminal; --out files are 0600, export bundles 0700"

helps=("pki" "pki init" "pki issue-broker" "pki issue-collector" "pki issue-device" "pki issue-export"
    "pki renew-device" "pki revoke-device" "pki revoke" "pki crl" "pki status"
    "device" "device add" "device list" "device retire" "device replace" "device set-cert"
    "alerts" "alerts list" "alerts ack" "quarantine" "quarantine list" "quarantine show"
    "report" "export" "verify")
for h in "${helps[@]}"; do
    for flag in --help -h; do
        # shellcheck disable=SC2086 # split the subcommand words
        "$SMPCTL" $h $flag >"$WORK/out" 2>"$WORK/err" || fail "smpctl $h $flag exited $?: $(cat "$WORK/err")"
        grep -qi usage "$WORK/out" || fail "smpctl $h $flag printed no usage on stdout"
    done
done
echo "ok: every smpctl subcommand answers --help and -h on stdout with exit 0"
