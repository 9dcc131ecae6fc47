#!/usr/bin/env bash
# make demo-fleet, non-interactive: scripts/demo-fleet.sh --no-wait with its
# outputs under WORK. It must succeed, both collectors must have stored
# records, each clinic's report must be written from PostgreSQL, and
# nothing it started may outlive it: no process under its directories and
# no PostgreSQL cluster directory left behind. Each clinic's autoclave has
# its own agent: the only one that logged the clinic's cycles (each once),
# and the one whose loads the clinic's machines name.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"
need_bin "$SMPCTL"
OUT=$WORK/demo
# If the demo fails before it stops its cluster, this test still does.
at_cleanup "d=\$(sed -n 's/^demo-fleet: starting a PostgreSQL cluster in //p' '$WORK/demo.log'); [ -z \"\$d\" ] || sh '$REPO_ROOT/tests/pg/pgcluster.sh' stop \"\$d\""

log "running scripts/demo-fleet.sh --no-wait"
start=$SECONDS
BUILD=$BUILD DEMO_OUT=$OUT timeout -k 10 200 "$REPO_ROOT/scripts/demo-fleet.sh" --no-wait \
    </dev/null >"$WORK/demo.log" 2>&1 || {
    tail -n 30 "$WORK/demo.log" >&2
    fail "scripts/demo-fleet.sh --no-wait failed (log above)"
}
took=$((SECONDS - start))

pg_dir=$(sed -n 's/^demo-fleet: starting a PostgreSQL cluster in //p' "$WORK/demo.log")
[ -n "$pg_dir" ] || fail "the demo did not say where its PostgreSQL cluster was"
[ ! -e "$pg_dir" ] || fail "the demo left its PostgreSQL cluster directory $pg_dir behind"
grep -q "^demo-fleet: PostgreSQL cluster in $pg_dir stopped and removed" "$WORK/demo.log" ||
    fail "the demo did not say it stopped its cluster"
if pgrep -f -- "$OUT/" >/dev/null || pgrep -f -- "$pg_dir" >/dev/null; then
    pgrep -af -- "$OUT/|$pg_dir" >&2 || true
    fail "processes of the demo outlived it (above)"
fi

line=$(grep "^demo-fleet: records stored in PostgreSQL:" "$WORK/demo.log") || fail "no records line in the demo's output"
read -r records one two <<<"$(sed -E 's/.*PostgreSQL: ([0-9]+); stored by collector one: ([0-9]+) two: ([0-9]+).*/\1 \2 \3/' <<<"$line")"
[ "${records:-0}" -gt 1000 ] || fail "only ${records:-0} records stored: $line"
[ "${one:-0}" -gt 0 ] && [ "${two:-0}" -gt 0 ] || fail "the two collectors did not share the load: $line"

for clinic in clinic-north clinic-south; do
    csv=$OUT/report-$clinic.csv
    [ -s "$OUT/report-$clinic.html" ] || fail "no $OUT/report-$clinic.html"
    head -1 "$csv" | grep -q '^device_id,sessions,' || fail "$csv: no report header"
    total=$(grep -c "^${clinic#clinic-}-m" "$csv" || true)
    [ "$total" -ge 2 ] || fail "$csv lists $total devices of $clinic"
    grep -q "$OUT/audit-$clinic is intact" "$WORK/demo.log" || fail "audit bundle of $clinic not verified"
done
# Roles: each autoclave's agent logged its cycles and tests, the machines
# none, and the machines took their grips from their clinic's autoclave.
/usr/bin/python3 - "$OUT" <<'PY' || fail "autoclave and machine roles: see above"
import csv, json, sys
out = sys.argv[1]
clinics = {"clinic-north": ("north-ac1", ["north-m01", "north-m02", "north-m03"]),
           "clinic-south": ("south-ac1", ["south-m01", "south-m02"])}
for clinic, (ac, machines) in clinics.items():
    f = json.load(open(f"{out}/agents/{ac}/sim_faults.json"))
    assert f["complete"] and f["role"] == "autoclave" and f["sterilizer"] == ac, f
    for m in machines:
        f = json.load(open(f"{out}/agents/{m}/sim_faults.json"))
        assert f["complete"] and f["role"] == "machine" and f["sterilizer"] == ac, f
    rows = list(csv.DictReader(open(f"{out}/audit-{clinic}/sterilizer_log.csv")))
    assert len(rows) >= 13, f"{clinic}: {len(rows)} cycles in sterilizer_log.csv"
    loggers = {(r["device_id"], r["sterilizer_id"]) for r in rows}
    assert loggers == {(ac, ac)}, f"{clinic}: cycles logged by {loggers}, want only {ac}"
    cycles = [r["cycle_no"] for r in rows]
    assert len(cycles) == len(set(cycles)), f"{clinic}: a cycle listed twice"
print("ok: autoclaves north-ac1 and south-ac1 logged their clinics' cycles, each once; the machines none")
PY
echo "ok: demo-fleet --no-wait in ${took} s: $records records (collector one $one, two $two), reports and audit bundles of both clinics, cluster stopped"
