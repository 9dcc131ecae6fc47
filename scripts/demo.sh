#!/usr/bin/env bash
# make demo: one simulated clinic day, end to end, over real mutual-TLS MQTT.
#
# Issues a PKI into out/demo/pki, starts mosquitto on a free loopback port,
# the collector on SQLite, and four simulated agents for one clinic day: the
# clinic's autoclave with a logger agent of its own (registered with smpctl
# sterilizer add --cert) and three machines that take their grips from its
# loads; waits until every record is acked, stops everything and writes
# out/demo/report.csv, out/demo/report.html and a signed audit bundle
# out/demo/audit (checked with smpctl verify). Every process it starts is
# stopped on exit, also when a step fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUILD:-$ROOT/build}/bin
OUT=$ROOT/out/demo
CLINIC=clinic-north
AUTOCLAVE=north-ac1                # the autoclave: its sterilizer id and its agent's device id
DEVICES=(north-m01 north-m02 north-m03)
FAULT_RATE=5                       # the same for every agent of the clinic
SPEED=${DEMO_SPEED:-3000}          # simulated seconds per real second
DAY=$(date -u +%Y-%m-%d)
PIDS=()

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$ROOT/broker-config/run-broker.sh" stop --state "$OUT/broker" >/dev/null 2>&1 || true
    [ $status -eq 0 ] || echo "demo: FAILED (logs in $OUT)" >&2
    exit $status
}
trap cleanup EXIT INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

rm -rf "$OUT"
mkdir -p "$OUT"
echo "demo: issuing PKI into $OUT/pki"
"$BIN/smpctl" pki init --dir "$OUT/pki"
"$BIN/smpctl" pki issue-broker --dir "$OUT/pki"
"$BIN/smpctl" pki issue-collector --dir "$OUT/pki"
"$BIN/smpctl" db migrate --db "$OUT/fleet.db"
"$BIN/smpctl" pki issue-device "$AUTOCLAVE" --dir "$OUT/pki"
"$BIN/smpctl" sterilizer add "$AUTOCLAVE" --clinic "$CLINIC" --model "autoclave-b" \
    --serial "SN-$AUTOCLAVE" --cert "$OUT/pki/devices/$AUTOCLAVE.crt" --db "$OUT/fleet.db"
for d in "${DEVICES[@]}"; do
    "$BIN/smpctl" pki issue-device "$d" --dir "$OUT/pki"
    "$BIN/smpctl" device add "$d" --clinic "$CLINIC" --model "rotary-smp" --serial "SN-$d" \
        --cert "$OUT/pki/devices/$d.crt" --db "$OUT/fleet.db"
done
AGENTS=("$AUTOCLAVE" "${DEVICES[@]}")

PORT=$(free_port)
"$ROOT/broker-config/run-broker.sh" start --pki "$OUT/pki" --port "$PORT" --state "$OUT/broker"

cat >"$OUT/collector.conf" <<CONF
broker_port = $PORT
ca_file = $OUT/pki/ca.crt
cert_file = $OUT/pki/collector.crt
key_file = $OUT/pki/collector.key
db_path = $OUT/fleet.db
CONF
"$BIN/smp-collector" --config "$OUT/collector.conf" 2>"$OUT/collector.log" &
PIDS+=($!)
# Until the collector's session subscribes, the broker has nowhere to queue
# events (agents would only resend after their ack timeout).
for _ in $(seq 100); do
    grep -q "subscribed topics=" "$OUT/collector.log" && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$OUT/collector.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "subscribed topics=" "$OUT/collector.log" || { echo "demo: collector did not subscribe" >&2; exit 1; }

AGENT_PIDS=()
seed=1
for d in "${AGENTS[@]}"; do
    role=(--sim-role machine --sim-sterilizer "$AUTOCLAVE")
    [ "$d" = "$AUTOCLAVE" ] && role=(--sim-role autoclave)
    cat >"$OUT/$d.conf" <<CONF
broker_port = $PORT
ca_file = $OUT/pki/ca.crt
cert_file = $OUT/pki/devices/$d.crt
key_file = $OUT/pki/devices/$d.key
device_id = $d
data_dir = $OUT/agents/$d
CONF
    mkdir -p "$OUT/agents"
    "$BIN/smp-agent" --config "$OUT/$d.conf" --simulate "${role[@]}" --seed $seed \
        --speed "$SPEED" --sim-start "$DAY" --fault-rate "$FAULT_RATE" --exit-when-done \
        2>"$OUT/$d.log" &
    AGENT_PIDS+=($!)
    PIDS+=($!)
    seed=$((seed + 1))
done

echo "demo: autoclave $AUTOCLAVE and ${#DEVICES[@]} machines simulating $DAY at ${SPEED}x; waiting until every record is acked"
deadline=$((SECONDS + 300))
for pid in "${AGENT_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { echo "demo: agents did not finish in 300 s" >&2; exit 1; }
        sleep 0.5
    done
    wait "$pid" || { echo "demo: an agent failed" >&2; exit 1; }
done

# The agents have exited: --status prints their last status and exits 3 (not running).
for d in "${AGENTS[@]}"; do "$BIN/smp-agent" --config "$OUT/$d.conf" --status || [ $? -eq 3 ]; done
"$BIN/smpctl" report --db "$OUT/fleet.db" --clinic "$CLINIC" --from "$DAY" --to "$DAY" \
    --format csv --out "$OUT/report.csv"
"$BIN/smpctl" report --db "$OUT/fleet.db" --clinic "$CLINIC" --from "$DAY" --to "$DAY" \
    --format html --out "$OUT/report.html"
"$BIN/smpctl" pki issue-export --dir "$OUT/pki"
"$BIN/smpctl" export --db "$OUT/fleet.db" --clinic "$CLINIC" --from "$DAY" --to "$DAY" \
    --out "$OUT/audit" --key "$OUT/pki/export.key"
"$BIN/smpctl" verify "$OUT/audit"
echo "demo: records stored: $(sqlite3 "$OUT/fleet.db" 'SELECT count(*) FROM records')"
cat "$OUT/report.csv"
echo "demo: wrote $OUT/report.csv, $OUT/report.html and the audit bundle $OUT/audit"
