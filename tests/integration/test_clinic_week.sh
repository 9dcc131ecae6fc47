#!/usr/bin/env bash
# A clinic week, end to end: two clinics in two timezones, every compliance
# rule's violation exactly once and a control at every limit that must not
# alert, through the real agents (fed on their feed sockets), broker and
# collector (SQLite), then smpctl's alerts list and weekly reports.
#
#   north  America/Los_Angeles  ac-north (an autoclave with its own agent,
#                               smpctl sterilizer add --cert), n-m01, n-m02
#   south  Australia/Sydney     ac-south (no agent: logged through its
#                               machines), s-m01, s-m02
#
# The scenario, its arrival order and the recall and report expectations
# are in clinic_week.py; the alert table is written out below. Every
# expectation comes from docs/rules.md and docs/reports.md. All checks run
# and each prints its diff; the test fails at the end if any differed.
# Leaves out/clinic-week/alerts.md and pictures of the north report (the
# HTML on screen and the PDF page by page) for people to look at.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
SCENARIO=$HERE/clinic_week.py
PKI=$WORK/pki
DB=$WORK/fleet.db
OUT=$REPO_ROOT/out/clinic-week
MACHINES=(n-m01 n-m02 s-m01 s-m02)
AGENTS=(ac-north "${MACHINES[@]}")
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"
need_bin "$SMPCTL"

FAILED=()
# check WHAT CMD...: runs CMD; a failure is recorded and the test goes on.
check() {
    local what=$1
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        FAILED+=("$what")
    fi
}

# The week is the seven local days before today in each zone: a local
# midnight passing during the run would move it under the collector's feet.
/usr/bin/python3 - <<'PY'
import datetime as dt, time
from zoneinfo import ZoneInfo
now = dt.datetime.now(dt.timezone.utc)
wait = 0
for z in ("America/Los_Angeles", "Australia/Sydney"):
    local = now.astimezone(ZoneInfo(z))
    left = (local.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1) - local).total_seconds()
    if left < 150:
        wait = max(wait, left + 5)
time.sleep(wait)
PY
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
read -r N_FROM N_TO S_FROM S_TO <<<"$(/usr/bin/python3 - "$NOW" <<'PY'
import sys, datetime as dt
from zoneinfo import ZoneInfo
now = dt.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
out = []
for z in ("America/Los_Angeles", "Australia/Sydney"):
    today = now.astimezone(ZoneInfo(z)).date()
    out += [str(today - dt.timedelta(days=7)), str(today - dt.timedelta(days=1))]
print(*out)
PY
)"
log "now $NOW; north week $N_FROM..$N_TO, south week $S_FROM..$S_TO"

# ---- the fleet ------------------------------------------------------------
issue_pki "$PKI" "${AGENTS[@]}"
new_db "$DB"
"$SMPCTL" clinic add north --name "North Shore Tattoo" --timezone America/Los_Angeles \
    --address "12 Harbor Way, Seattle" --licence BA-N-0042 --db "$DB" >/dev/null
"$SMPCTL" clinic add south --name "Southside Ink" --timezone Australia/Sydney \
    --address "3 King St, Newtown NSW" --licence SKP-7731 --db "$DB" >/dev/null
check "smpctl sterilizer add ac-north (own agent)" \
    "$SMPCTL" sterilizer add ac-north --clinic north --model "Statim 5000" --serial SN-N-5001 \
    --cert "$PKI/devices/ac-north.crt" --db "$DB"
check "smpctl sterilizer add ac-south (no agent)" \
    "$SMPCTL" sterilizer add ac-south --clinic south --model "Lisa 517" --serial SN-S-0517 --db "$DB"
for d in "${MACHINES[@]}"; do
    clinic=north
    [ "${d:0:1}" = s ] && clinic=south
    "$SMPCTL" device add "$d" --clinic "$clinic" --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done
start_broker "$PKI" "$WORK/broker"

# The CDC defaults spelled out; the timer ticks every second and a grip
# waits 3 s (not 5 min) for its load's cycle from another device.
cat >"$WORK/policy.conf" <<'POLICY'
profile = cdc
cartridge_max_run_s = 3600
cartridge_max_strokes = 400000
gravity_121_min_temp_c = 121.0
gravity_121_min_exposure_s = 1800
gravity_132_min_temp_c = 132.0
gravity_132_min_exposure_s = 900
prevac_132_min_temp_c = 132.0
prevac_132_min_exposure_s = 240
prevac_134_min_temp_c = 134.0
prevac_134_min_exposure_s = 180
spore_interval_days = 0
spore_critical_days = 0
silent_after_s = 7200
session_gap_s = 300
settle_s = 3
gap_grace_s = 600
clock_skew_s = 300
motor_service_hours = 500
rules_timer_s = 1
renotify_s = 86400
POLICY
COLLECTOR_EXTRA_CONF="policy_file = $WORK/policy.conf"
start_collector "$PKI" "$DB"
for d in "${AGENTS[@]}"; do
    AGENT_EXTRA_CONF="feed_socket = $WORK/feed-$d.sock" start_agent "$PKI" "$d"
done
for d in "${AGENTS[@]}"; do
    wait_until 10 test -S "$WORK/feed-$d.sock" || fail "$d: no feed socket: $(tail -3 "$WORK/$d.log")"
done

# ---- the week -------------------------------------------------------------
check "every record fed, in order, and acked" \
    /usr/bin/python3 "$SCENARIO" feed --now "$NOW" --work "$WORK" --db "$DB"
# Grips waiting for settle_s are judged by the timer; then nothing is pending.
check "pending R5 checks settled" wait_until 15 bash -c \
    "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM alerts WHERE state = 'pending'\") = 0 ]"
check "R6 raised by the timer" wait_until 10 bash -c \
    "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM alerts WHERE rule = 'R6'\") -gt 0 ]"
sleep 1.5   # one more tick: nothing may change after it

# ---- the alert table --------------------------------------------------------
# Every alert of both clinics, withdrawn ones included: rule, severity,
# device (a sterilizer's alerts under the sterilizer's id), clinic, cause,
# state. Exactly one row per violation of the scenario; every control
# (R2 at 23:59:59 on the expiry day, R3 at exactly the limits, R4 at
# exactly the minimums, R6 at exactly 7 days, R8 at exactly 300 s, R11 one
# second under 500 h, cycles logged twice alike, a grip whose cycle came
# within settle_s, the evening session) adds none.
cat >"$WORK/alerts.want" <<'TABLE'
R1 critical n-m01 north reused:NC-11:NS6 open
R2 critical s-m02 south expired:SC-31:SS3 open
R2 warning n-m01 north no-lot:NC-51:NS5 open
R3 maintenance s-m01 south wear:SC-11 cleared
R4 cycle-failed ac-south south load:S-L520 cleared
R5 critical n-m01 north recalled:NS5:NG-51 open
R5 critical s-m02 south failed-load:SS4:SG-41 open
R5 critical s-m02 south no-cycle:SS6:SG-61 withdrawn
R6 warning ac-south south spore-overdue:ac-south open
R7 critical ac-north north positive:ac-north:n-m02#69 open
R8 maintenance s-m02 south gap:SS4 open
R9 integrity ac-south south cycle-conflict:ac-south:525 open
R10 warning n-m01 north clock-ahead open
R11 maintenance s-m01 south service:500h open
TABLE
mkdir -p "$OUT"
"$SMPCTL" alerts list --db "$DB" >"$WORK/alerts.txt"
/usr/bin/python3 "$SCENARIO" alerts --in "$WORK/alerts.txt" --md "$OUT/alerts.md" >"$WORK/alerts.got"
check "alert table" diff -u "$WORK/alerts.want" "$WORK/alerts.got"
check "R7 recall list" /usr/bin/python3 "$SCENARIO" r7 --now "$NOW" --db "$DB"
check "one fact per cycle" /usr/bin/python3 "$SCENARIO" cycles --now "$NOW" --db "$DB"

# The registry: ac-north is a device of kind sterilizer with its own agent,
# ac-south an autoclave without one; the machines are machines.
cat >"$WORK/registry.want" <<'TABLE'
sterilizer ac-north north Statim 5000 SN-N-5001 ac-north
sterilizer ac-south south Lisa 517 SN-S-0517 -
device ac-north north sterilizer
device n-m01 north machine
device n-m02 north machine
device s-m01 south machine
device s-m02 south machine
TABLE
{
    sqlite3 -separator ' ' "$DB" "SELECT 'sterilizer', sterilizer_id, clinic, model, serial,
        COALESCE(device_id, '-') FROM sterilizers ORDER BY sterilizer_id" 2>&1
    sqlite3 -separator ' ' "$DB" "SELECT 'device', device_id, clinic, kind FROM devices ORDER BY device_id" 2>&1
} >"$WORK/registry.got" || true
check "sterilizer and device registry" diff -u "$WORK/registry.want" "$WORK/registry.got"

# ---- the weekly reports -----------------------------------------------------
report() {
    "$SMPCTL" report --db "$DB" --clinic "$1" --from "$2" --to "$3" --format "$4" --out "$5" \
        --signatory "Dr. Ada Roe, Clinic director"
}
report north "$N_FROM" "$N_TO" json "$WORK/north.json"
report south "$S_FROM" "$S_TO" json "$WORK/south.json"
check "north report" /usr/bin/python3 "$SCENARIO" report --now "$NOW" --clinic north --json "$WORK/north.json"
check "south report" /usr/bin/python3 "$SCENARIO" report --now "$NOW" --clinic south --json "$WORK/south.json"

# ---- pictures for people (not checked) ----------------------------------------
report north "$N_FROM" "$N_TO" html "$OUT/north-report.html"
report north "$N_FROM" "$N_TO" pdf "$OUT/north-report.pdf"
rm -f "$OUT"/north-*.png
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$(mktemp -d "$WORK/chrome.XXXXXX")" --window-size=1280,2400 \
        --screenshot="$OUT/north-html-screen.png" "file://$OUT/north-report.html" \
        >/dev/null 2>"$WORK/chrome.err" || log "chromium screenshot failed: $(tail -3 "$WORK/chrome.err")"
fi
command -v pdftoppm >/dev/null && pdftoppm -r 80 -png "$OUT/north-report.pdf" "$OUT/north-pdf-page"
log "alert table in $OUT/alerts.md; north report and its pictures in $OUT"

if [ ${#FAILED[@]} -gt 0 ]; then
    fail "${#FAILED[@]} check(s) failed: $(printf '%s; ' "${FAILED[@]}")"
fi
echo "ok: the clinic week: 14 alerts as expected, R7's recall, both weekly reports"
