#!/usr/bin/env bash
# report_bench.sh: time smpctl report (every format), export and verify on
# a generated clinic-year: 20 machines x 300 simulated days (bench/gen_db,
# about 3M records, 2 GB). The database is made once and kept in
# out/report-bench/ (DEVICES and DAYS change its size; delete it to remake).
# Each command runs 3 times; the table shows the best and the worst
# wall-clock time. docs/reports.md holds the latest numbers.
#
#   bench/report_bench.sh            (after make)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUILD:-$ROOT/build}
DEVICES=${DEVICES:-20}
DAYS=${DAYS:-300}
OUT=$ROOT/out/report-bench
DB=$OUT/clinic-year-${DEVICES}x${DAYS}.db
CLINIC=clinic-year
FROM=2025-01-01
TO=2025-12-31
mkdir -p "$OUT"

if [ ! -f "$DB" ]; then
    echo "report_bench: generating $DB ($DEVICES machines x $DAYS days)"
    "$BIN/bench/gen_db" --db "$DB" --clinic "$CLINIC" --devices "$DEVICES" --days "$DAYS" \
        --start 2025-01-06 --fault-rate 5 | tail -1
fi
# smpctl opens the store once first, so an index it adds is built before timing.
"$BIN/bin/smpctl" report --db "$DB" --clinic "$CLINIC" --from "$FROM" --to "$FROM" --format csv >/dev/null
[ -f "$OUT/pki/export.key" ] || "$BIN/bin/smpctl" pki issue-export --dir "$OUT/pki" >/dev/null

records=$(sqlite3 "$DB" "SELECT count(*) FROM records")
printf 'clinic-year: %s machines, %s days, %s records, %s MB\n' "$DEVICES" "$DAYS" "$records" \
    "$(($(stat -c %s "$DB") / 1048576))"
printf '%-22s %8s %8s %10s\n' "command" "best s" "worst s" "output"

# time3 NAME OUTPUT CMD...: runs CMD 3 times, prints best and worst.
time3() {
    local name=$1 output=$2 best='' worst='' t
    shift 2
    for _ in 1 2 3; do
        rm -rf "$output"
        /usr/bin/time -f %e -o "$OUT/time.txt" "$@" >/dev/null 2>&1
        t=$(tail -1 "$OUT/time.txt")
        best=$(printf '%s\n%s\n' "${best:-$t}" "$t" | sort -n | head -1)
        worst=$(printf '%s\n%s\n' "${worst:-$t}" "$t" | sort -n | tail -1)
    done
    printf '%-22s %8s %8s %10s\n' "$name" "$best" "$worst" "$(du -sh "$output" | cut -f1)"
}

for fmt in html json csv pdf; do
    time3 "report --format $fmt" "$OUT/report.$fmt" "$BIN/bin/smpctl" report --db "$DB" \
        --clinic "$CLINIC" --from "$FROM" --to "$TO" --format "$fmt" --out "$OUT/report.$fmt"
done
time3 "export" "$OUT/bundle" "$BIN/bin/smpctl" export --db "$DB" --clinic "$CLINIC" \
    --from "$FROM" --to "$TO" --out "$OUT/bundle" --key "$OUT/pki/export.key"
/usr/bin/time -f %e -o "$OUT/time.txt" "$BIN/bin/smpctl" verify "$OUT/bundle" >/dev/null
t=$(tail -1 "$OUT/time.txt")
printf '%-22s %8s %8s %10s\n' "verify" "$t" "$t" "$(du -sh "$OUT/bundle" | cut -f1)"
