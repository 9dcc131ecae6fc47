#!/usr/bin/env bash
# report_bench.sh: time smpctl report (every format), export and verify on
# a generated clinic-year: 20 machines x 300 simulated days (bench/gen_db,
# about 3M records, 2 GB). The database is made once and kept in
# out/report-bench/ (DEVICES and DAYS change its size; delete it to remake).
# Each command runs 3 times; the table shows the best and the worst
# wall-clock time. docs/reports.md holds the latest numbers.
#
# With DB_URI set to a postgresql:// URI of an existing database, the
# clinic-year is generated there instead (once: a database that holds
# records already is reused as it is) and every command reads PostgreSQL.
#
#   bench/report_bench.sh                                   (after make)
#   DB_URI=postgresql://user@host/smpbench bench/report_bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUILD:-$ROOT/build}
DEVICES=${DEVICES:-20}
DAYS=${DAYS:-300}
OUT=$ROOT/out/report-bench
DB=${DB_URI:-$OUT/clinic-year-${DEVICES}x${DAYS}.db}
CLINIC=clinic-year
FROM=2025-01-01
TO=2025-12-31
mkdir -p "$OUT"

# The target as it may be shown: a URI's password masked.
shown=$(printf '%s' "$DB" | sed -E 's#^(postgres(ql)?://[^:/@]*):[^@/]*@#\1:***@#; s#([?&]password=)[^&]*#\1***#')

# records_in: the number of records in $DB ("" when it has no schema yet).
records_in() {
    case $DB in
    postgres://* | postgresql://*) psql "$DB" -Atqc "SELECT count(*) FROM records" 2>/dev/null || true ;;
    *) if [ -f "$DB" ]; then sqlite3 "$DB" "SELECT count(*) FROM records"; fi ;;
    esac
}

records=$(records_in)
if [ -z "$records" ] || [ "$records" = 0 ]; then
    echo "report_bench: generating $shown ($DEVICES machines x $DAYS days)"
    # An empty schema (a run that stopped) is filled, not refused.
    "$BIN/bench/gen_db" --db "$DB" --clinic "$CLINIC" --devices "$DEVICES" --days "$DAYS" \
        --start 2025-01-06 --fault-rate 5 ${records:+--append} | tail -1
    records=$(records_in)
fi
# One report first, so the timed runs find the store in the page cache.
"$BIN/bin/smpctl" report --db "$DB" --clinic "$CLINIC" --from "$FROM" --to "$FROM" --format csv >/dev/null
[ -f "$OUT/pki/export.key" ] || "$BIN/bin/smpctl" pki issue-export --dir "$OUT/pki" >/dev/null

case $DB in
postgres://* | postgresql://*) bytes=$(psql "$DB" -Atqc "SELECT pg_database_size(current_database())") ;;
*) bytes=$(stat -c %s "$DB") ;;
esac
printf 'clinic-year: %s machines, %s days, %s records, %s MB (%s)\n' "$DEVICES" "$DAYS" "$records" \
    "$((bytes / 1048576))" "$shown"
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
