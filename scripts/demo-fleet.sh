#!/usr/bin/env bash
# make demo-fleet: a fleet on PostgreSQL, end to end, over real mutual-TLS MQTT.
#
#   scripts/demo-fleet.sh [--no-wait]
#
# Starts a throwaway PostgreSQL 15 cluster (tests/pg/pgcluster.sh) in a new
# directory under /tmp, creates and migrates the database "fleet", issues a
# PKI into out/demo-fleet/pki (DEMO_OUT overrides out/demo-fleet), starts
# mosquitto on a free loopback port and TWO collectors that share the
# devices' events (share_group; each its own certificate identity, log and
# metrics port), then two clinics for one day: in each the autoclave with a
# logger agent of its own (registered with smpctl sterilizer add --cert) and
# simulated machines (five in all) that take their grips from its loads.
# When every record is acked it stops the daemons, prints how the records
# were shared, writes each clinic's report (CSV and HTML) and a signed
# audit bundle (checked with smpctl verify), all read from PostgreSQL.
#
# The cluster is left running, so the database can be queried, until Enter
# is pressed; with --no-wait (or without a terminal on stdin) it is stopped
# at the end. Every process it started is stopped on exit, also when a step
# fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) BIN=$BUILD/bin ;;
*) BIN=$ROOT/$BUILD/bin ;;
esac
OUT=${DEMO_OUT:-$ROOT/out/demo-fleet}
PGCLUSTER=$ROOT/tests/pg/pgcluster.sh
SPEED=${DEMO_SPEED:-3000}          # simulated seconds per real second
# Yesterday: a day simulated ahead of the clock would raise R10 clock-ahead.
DAY=$(date -u -d yesterday +%Y-%m-%d)
# device:clinic:seed
MACHINES=(north-m01:clinic-north:1 north-m02:clinic-north:2 north-m03:clinic-north:3
    south-m01:clinic-south:4 south-m02:clinic-south:5)
# sterilizer (and its agent's device id):clinic
AUTOCLAVES=(north-ac1:clinic-north south-ac1:clinic-south)
CLINICS=(clinic-north clinic-south)
FAULT_RATE=5                       # the same for every agent of a clinic
COLLECTORS=(one two)
WAIT=1
PIDS=()
PG_DIR=''
BROKER_STARTED=0

usage() {
    echo "usage: $0 [--no-wait]" >&2
    exit 2
}
for a in "$@"; do
    case $a in
    --no-wait) WAIT=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
    esac
done
[ -t 0 ] || WAIT=0

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ "$BROKER_STARTED" = 0 ] || "$ROOT/broker-config/run-broker.sh" stop --state "$OUT/broker" >/dev/null 2>&1 || true
    if [ -n "$PG_DIR" ]; then
        sh "$PGCLUSTER" stop "$PG_DIR" >/dev/null 2>&1 || true
        echo "demo-fleet: PostgreSQL cluster in $PG_DIR stopped and removed"
    fi
    [ $status -eq 0 ] || echo "demo-fleet: FAILED (logs in $OUT)" >&2
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "demo-fleet: $*"; }
die() { echo "demo-fleet: $*" >&2; exit 1; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# stored C: smp_records_stored_total of collector C (its only series).
stored() {
    curl -sf --max-time 2 "http://127.0.0.1:${METRICS_PORT[$1]}/metrics" |
        awk '$1 == "smp_records_stored_total" || index($1, "smp_records_stored_total{") == 1 { print $NF }'
}

for b in smp-agent smp-collector smpctl; do
    [ -x "$BIN/$b" ] || die "$BIN/$b not built; run make (or make BUILD=... demo-fleet)"
done
command -v psql >/dev/null || die "psql missing; run scripts/install-deps.sh"

rm -rf "$OUT"
mkdir -p "$OUT"
# As root the broker runs as user mosquitto and must reach its state and PKI.
chmod 0755 "$OUT"

# The cluster's directory must be reachable by the user it runs as (nobody
# when we are root): a new one under /tmp.
PG_DIR=$(mktemp -d /tmp/smp-demo-fleet-pg.XXXXXX)
say "starting a PostgreSQL cluster in $PG_DIR"
PG_BASE=$(sh "$PGCLUSTER" start "$PG_DIR") || die "could not start PostgreSQL (messages above)"
psql "$PG_BASE" -XAtq -v ON_ERROR_STOP=1 -c 'CREATE DATABASE fleet' >/dev/null
DB=${PG_BASE/\/postgres\?//fleet?}
"$BIN/smpctl" db migrate --db "$DB"
say "database $DB created and migrated"

say "issuing a PKI into $OUT/pki"
"$BIN/smpctl" pki init --dir "$OUT/pki" >/dev/null
"$BIN/smpctl" pki issue-broker --dir "$OUT/pki" >/dev/null
for c in "${COLLECTORS[@]}"; do
    "$BIN/smpctl" pki issue-collector --dir "$OUT/pki" --name "smp-collector-$c" >/dev/null
done
for a in "${AUTOCLAVES[@]}"; do
    IFS=: read -r d clinic <<<"$a"
    "$BIN/smpctl" pki issue-device "$d" --dir "$OUT/pki" >/dev/null
    "$BIN/smpctl" sterilizer add "$d" --clinic "$clinic" --model "autoclave-b" --serial "SN-$d" \
        --cert "$OUT/pki/devices/$d.crt" --db "$DB" >/dev/null
done
for m in "${MACHINES[@]}"; do
    IFS=: read -r d clinic _ <<<"$m"
    "$BIN/smpctl" pki issue-device "$d" --dir "$OUT/pki" >/dev/null
    "$BIN/smpctl" device add "$d" --clinic "$clinic" --model "rotary-smp" --serial "SN-$d" \
        --cert "$OUT/pki/devices/$d.crt" --db "$DB" >/dev/null
done

PORT=$(free_port)
BROKER_STARTED=1
"$ROOT/broker-config/run-broker.sh" start --pki "$OUT/pki" --port "$PORT" --state "$OUT/broker"

declare -A METRICS_PORT CPID
for c in "${COLLECTORS[@]}"; do
    METRICS_PORT[$c]=$(free_port)
    cat >"$OUT/collector-$c.conf" <<CONF
broker_port = $PORT
ca_file = $OUT/pki/ca.crt
cert_file = $OUT/pki/collector-$c.crt
key_file = $OUT/pki/collector-$c.key
db_path = $DB
share_group = demo
metrics_port = ${METRICS_PORT[$c]}
CONF
    "$BIN/smp-collector" --config "$OUT/collector-$c.conf" 2>"$OUT/collector-$c.log" &
    CPID[$c]=$!
    PIDS+=($!)
done
# Until both sessions subscribe, the broker has nowhere to queue events
# (agents would only resend after their ack timeout).
for c in "${COLLECTORS[@]}"; do
    for _ in $(seq 150); do
        grep -q "subscribed topics=" "$OUT/collector-$c.log" && break
        kill -0 "${CPID[$c]}" 2>/dev/null || { cat "$OUT/collector-$c.log" >&2; die "collector $c exited"; }
        sleep 0.1
    done
    grep -q "subscribed topics=\$share/demo/" "$OUT/collector-$c.log" ||
        die "collector $c did not subscribe to \$share/demo/... (see $OUT/collector-$c.log)"
done
say "collectors ${COLLECTORS[*]} share the events (share_group demo) on broker 127.0.0.1:$PORT"

AGENT_PIDS=()
AGENTS=()
mkdir -p "$OUT/agents"
# start_agent DEVICE SIM_ARGS...: one simulated agent in the background.
start_agent() {
    local d=$1
    shift
    cat >"$OUT/$d.conf" <<CONF
broker_port = $PORT
ca_file = $OUT/pki/ca.crt
cert_file = $OUT/pki/devices/$d.crt
key_file = $OUT/pki/devices/$d.key
device_id = $d
data_dir = $OUT/agents/$d
CONF
    "$BIN/smp-agent" --config "$OUT/$d.conf" --simulate "$@" --speed "$SPEED" --sim-start "$DAY" \
        --fault-rate "$FAULT_RATE" --exit-when-done 2>"$OUT/$d.log" &
    AGENT_PIDS+=($!)
    PIDS+=($!)
    AGENTS+=("$d")
}
declare -A CLINIC_AUTOCLAVE
for a in "${AUTOCLAVES[@]}"; do
    IFS=: read -r d clinic <<<"$a"
    CLINIC_AUTOCLAVE[$clinic]=$d
    start_agent "$d" --sim-role autoclave
done
for m in "${MACHINES[@]}"; do
    IFS=: read -r d clinic seed <<<"$m"
    start_agent "$d" --sim-role machine --sim-sterilizer "${CLINIC_AUTOCLAVE[$clinic]}" --seed "$seed"
done

say "${#AUTOCLAVES[@]} autoclaves and ${#MACHINES[@]} machines in ${#CLINICS[@]} clinics simulating $DAY at ${SPEED}x; waiting until every record is acked"
deadline=$((SECONDS + 300))
for pid in "${AGENT_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "agents did not finish in 300 s"
        sleep 0.5
    done
    wait "$pid" || die "an agent failed (logs in $OUT)"
done

# The agents have exited: --status prints their last status and exits 3 (not running).
for d in "${AGENTS[@]}"; do
    "$BIN/smp-agent" --config "$OUT/$d.conf" --status || [ $? -eq 3 ]
done
share=''
for c in "${COLLECTORS[@]}"; do share+=" $c: $(stored "$c" || echo '?')"; done
for c in "${COLLECTORS[@]}"; do kill "${CPID[$c]}" 2>/dev/null || true; wait "${CPID[$c]}" 2>/dev/null || true; done
"$ROOT/broker-config/run-broker.sh" stop --state "$OUT/broker" >/dev/null
BROKER_STARTED=0
records=$(psql "$DB" -XAtq -c 'SELECT count(*) FROM records')
say "records stored in PostgreSQL: $records; stored by collector$share"
"$BIN/smpctl" alerts list --db "$DB" --open >"$OUT/alerts-open.txt"
say "open alerts: $(($(wc -l <"$OUT/alerts-open.txt") - 1)) (smpctl alerts list --open, in $OUT/alerts-open.txt)"

"$BIN/smpctl" pki issue-export --dir "$OUT/pki" >/dev/null
for clinic in "${CLINICS[@]}"; do
    "$BIN/smpctl" report --db "$DB" --clinic "$clinic" --from "$DAY" --to "$DAY" \
        --format csv --out "$OUT/report-$clinic.csv"
    "$BIN/smpctl" report --db "$DB" --clinic "$clinic" --from "$DAY" --to "$DAY" \
        --format html --out "$OUT/report-$clinic.html"
    "$BIN/smpctl" export --db "$DB" --clinic "$clinic" --from "$DAY" --to "$DAY" \
        --out "$OUT/audit-$clinic" --key "$OUT/pki/export.key" >/dev/null
    "$BIN/smpctl" verify "$OUT/audit-$clinic"
    echo "--- $OUT/report-$clinic.csv"
    cat "$OUT/report-$clinic.csv"
done

say "done. Outputs in $OUT:"
for clinic in "${CLINICS[@]}"; do
    echo "    report-$clinic.csv, report-$clinic.html   the clinic's day, read from PostgreSQL"
    echo "    audit-$clinic/                           its signed audit bundle (smpctl verify passed)"
done
echo "    alerts-open.txt                              the alerts still open"

echo "    collector-{$(IFS=,; echo "${COLLECTORS[*]}")}.log, <device>.log, agents/   the daemons' logs and the agents' data"
echo "    pki/, broker/                                the certificates and the broker's state"
if [ "$WAIT" = 1 ]; then
    say "PostgreSQL is still running in $PG_DIR; the database is"
    echo "    $DB"
    echo "  try: psql '$DB' -c 'SELECT device_id, count(*) FROM records GROUP BY 1'"
    echo "       $BIN/smpctl alerts list --db '$DB'"
    read -r -p "demo-fleet: press Enter to stop PostgreSQL and remove $PG_DIR " _ || true
fi
