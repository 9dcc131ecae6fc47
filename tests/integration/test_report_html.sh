#!/usr/bin/env bash
# Reports and the audit export of a real run: a clinic's autoclave with a
# logger agent of its own (smpctl sterilizer add --cert) and three simulated
# machines taking their grips from its loads send a clinic week (with
# injected faults) over mutual-TLS MQTT to the collector, for a registered
# clinic (Europe/London). Then:
#  - smpctl report --format json agrees with the store (each cycle once);
#  - smpctl export writes a bundle that smpctl verify, openssl and
#    sha256sum accept, whose manifest finds every record chain intact with
#    a valid device-signed checkpoint (chains built by the real agent and
#    stored by the real collector);
#  - the HTML report, opened in headless Chromium, renders its SVG charts,
#    evidence as readable fields, the appendix of raw records and the
#    signature block with no console error; screenshot and printed PDF go
#    to out/report-html/;
#  - pictures of both reports for people to look at go to
#    out/report-pictures/: the top of the HTML on screen, and page by page
#    the HTML as Chromium prints it and the export's report.pdf (pdftoppm,
#    from poppler-utils, when it is installed: the test needs nothing of it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM not found: run ./scripts/install-deps.sh (Debian package chromium)"

PKI=$WORK/pki
DB=$WORK/fleet.db
SHOTS=$REPO_ROOT/out/report-html
PICTURES=$REPO_ROOT/out/report-pictures
AUTOCLAVE=ac-hart
DEVICES=(chair-01 chair-02 chair-03)
CLINIC=clinic-report
FROM=2026-11-02
TO=2026-11-08
SIGNATORY="Dr. Amelia Hart, Clinic manager"

issue_pki "$PKI" "$AUTOCLAVE" "${DEVICES[@]}"
"$BIN/smpctl" pki issue-export --dir "$PKI" >/dev/null
new_db "$DB"
"$BIN/smpctl" clinic add "$CLINIC" --name "Hart & Vale Scalp Clinic" --timezone Europe/London \
    --address "14 Camden High St, London NW1 7JE" --licence "LBC-SP-2291" --db "$DB" >/dev/null
"$BIN/smpctl" sterilizer add "$AUTOCLAVE" --clinic "$CLINIC" --model "Tuttnauer 3870EA" \
    --serial "3870-0412" --cert "$PKI/devices/$AUTOCLAVE.crt" --db "$DB" >/dev/null
for d in "${DEVICES[@]}"; do
    "$BIN/smpctl" device add "$d" --clinic "$CLINIC" --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done
start_broker "$PKI" "$WORK/broker"
# R5 settles in seconds, not minutes, so that the grips from failed or
# recalled loads are judged before the report is made, once every machine's
# week has arrived (whatever order the records arrive in). R6 stays quiet:
# the timer runs on today's clock, weeks after the simulated one, and its
# alert would belong to no report of that week.
printf 'settle_s = 20\nrules_timer_s = 1\nspore_interval_days = 3650\n' >"$WORK/policy.conf"
COLLECTOR_EXTRA_CONF="policy_file = $WORK/policy.conf" start_collector "$PKI" "$DB"
pids=()
# The machines' seeds give a week with reused and expired cartridges,
# missing lots and a grip from a failed load (R5); the autoclave's cycles
# and tests (failed cycles, R4) follow from its id and the fault rate alone,
# so every agent of the clinic agrees on its loads.
seed=14
for d in "$AUTOCLAVE" "${DEVICES[@]}"; do
    role=(--sim-role machine --sim-sterilizer "$AUTOCLAVE")
    [ "$d" = "$AUTOCLAVE" ] && role=(--sim-role autoclave)
    start_agent "$PKI" "$d" --simulate "${role[@]}" --seed $seed --speed 0 --sim-days 7 \
        --sim-start "$FROM" --fault-rate 20 --exit-when-done
    pids+=("$AGENT_PID")
    seed=$((seed + 1))
done
for p in "${pids[@]}"; do wait_pid_exit "$p" 180; done
wait_until 60 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM alerts WHERE state = 'pending'\") = 0 ]" ||
    fail "R5 checks still pending after 60 s"
log "run done: $(sqlite3 "$DB" 'SELECT count(*) FROM records') records, $(sqlite3 "$DB" 'SELECT count(*) FROM alerts') alerts"

# JSON: the same numbers as the store.
"$BIN/smpctl" report --db "$DB" --clinic "$CLINIC" --from "$FROM" --to "$TO" --format json \
    --out "$WORK/report.json"
want_sessions=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE type='session.start'")
# A cycle is one fact however many devices logged it (docs/reports.md).
want_cycles=$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT DISTINCT json_extract(body, '\$.sterilizer_id'),
    json_extract(body, '\$.cycle_no') FROM records WHERE type='sterilization.cycle')")
# Violations: alerts that are neither maintenance notices (counted apart) nor
# withdrawn / pending (docs/reports.md).
want_alerts=$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE clinic='$CLINIC'
    AND severity <> 'maintenance' AND state IS NULL")
want_notices=$(sqlite3 "$DB" "SELECT count(*) FROM alerts WHERE clinic='$CLINIC'
    AND severity = 'maintenance' AND state IS NULL")
read -r sessions cycles violations notices <<<"$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
print(s["sessions"], len(r["sterilizer_log"]), s["violations"], s["maintenance_notices"])' "$WORK/report.json")"
[ "$sessions" = "$want_sessions" ] || fail "report says $sessions sessions, store has $want_sessions"
[ "$cycles" = "$want_cycles" ] || fail "sterilizer log has $cycles cycles, store has $want_cycles"
[ "$violations" = "$want_alerts" ] || fail "report has $violations violations, store has $want_alerts alerts"
[ "$notices" = "$want_notices" ] || fail "report has $notices maintenance notices, store has $want_notices"
[ "$sessions" -gt 0 ] && [ "$cycles" -gt 0 ] || fail "the run recorded no sessions or cycles"
/usr/bin/python3 - "$WORK/report.json" "$AUTOCLAVE" "$cycles" <<'PY' || fail "the report's sterilizers are not the registered autoclave"
import json, sys
r = json.load(open(sys.argv[1]))
(st,) = r["sterilizers"]
assert st["sterilizer_id"] == sys.argv[2] and st["logged_through"] == "own agent", st
assert st["cycles_passed"] + st["cycles_failed"] == int(sys.argv[3]), st
assert all(c["logged_by"] == [{"device_id": sys.argv[2], "seq": c["seq"]}] for c in r["sterilizer_log"])
PY
echo "ok: JSON report: $sessions sessions, $cycles cycles (autoclave $AUTOCLAVE), $violations violations, as stored"

# The audit bundle.
"$BIN/smpctl" export --db "$DB" --clinic "$CLINIC" --from "$FROM" --to "$TO" \
    --out "$WORK/bundle" --key "$PKI/export.key" --signatory "$SIGNATORY" >/dev/null
"$BIN/smpctl" verify "$WORK/bundle" >"$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
(cd "$WORK/bundle" && openssl dgst -sha256 -verify export-pub.pem -signature manifest.sig manifest.json) |
    grep -qx "Verified OK" || fail "openssl does not verify manifest.sig"
(cd "$WORK/bundle" && sha256sum --quiet -c SHA256SUMS) || fail "sha256sum -c SHA256SUMS failed"
/usr/bin/python3 - "$WORK/bundle/manifest.json" <<'PY' || fail "manifest chain status is not clean"
import json, sys
m = json.load(open(sys.argv[1]))
for d in m["devices"]:
    ck = d["last_checkpoint"]
    assert d["chain"] == "intact", d
    assert d["predecessor"] == "genesis" and d["first_seq"] == 1, d
    assert ck and ck["signature"] == "valid" and ck["head_matches_chain"], d
PY
echo "ok: export verified by smpctl verify, openssl and sha256sum; every chain intact, checkpoints signed"
echo "x" >>"$WORK/bundle/sterilizer_log.csv"
if "$BIN/smpctl" verify "$WORK/bundle" >"$WORK/verify.out"; then fail "verify accepted a changed file"; fi
grep -q "^sterilizer_log.csv: SHA-256 mismatch" "$WORK/verify.out" || fail "verify did not name the file: $(cat "$WORK/verify.out")"
echo "ok: a changed sterilizer_log.csv is named by verify"

# The HTML report in a real browser engine.
"$BIN/smpctl" report --db "$DB" --clinic "$CLINIC" --from "$FROM" --to "$TO" --format html \
    --out "$WORK/report.html" --signatory "$SIGNATORY"
mkdir -p "$SHOTS"
cp "$WORK/report.html" "$SHOTS/report.html"
chrome() {
    local profile
    profile=$(mktemp -d "$WORK/chrome.XXXXXX")
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --enable-logging=stderr --v=0 "$@"
}
chrome --screenshot="$SHOTS/report.png" --window-size=1280,2000 "file://$WORK/report.html" \
    >/dev/null 2>"$WORK/chrome-shot.err" || fail "chromium screenshot failed: $(tail -3 "$WORK/chrome-shot.err")"
chrome --dump-dom "file://$WORK/report.html" >"$WORK/dom.html" 2>"$WORK/chrome-dom.err" ||
    fail "chromium --dump-dom failed: $(tail -3 "$WORK/chrome-dom.err")"
chrome --print-to-pdf="$SHOTS/report-print.pdf" --no-pdf-header-footer "file://$WORK/report.html" \
    >/dev/null 2>"$WORK/chrome-pdf.err" || fail "chromium --print-to-pdf failed"
if grep -hE "CONSOLE|Uncaught" "$WORK"/chrome-*.err; then fail "the page logged console messages (above)"; fi
[ -s "$SHOTS/report.png" ] || fail "no screenshot written"
charts=$(grep -o '<svg class="chart"' "$WORK/dom.html" | wc -l)
[ "$charts" -eq 4 ] || fail "rendered DOM has $charts charts, expected 4"
for section in Summary Activity "Per-device usage" Sterilizers Violations "Sterilizer log" \
    "Spore and Bowie-Dick tests" "Appendix: the cited records as stored" Signature; do
    grep -q "<h2>$section</h2>" "$WORK/dom.html" || fail "rendered DOM has no section '$section'"
done
# Evidence as fields people read, never the JSON the collector stores.
grep -q '<div class="evl">Cartridge ' "$WORK/dom.html" || fail "no readable cartridge evidence"
if grep -q '<div class="evl">{' "$WORK/dom.html"; then fail "evidence shown as JSON"; fi
grep -q '<span class="sv">Dr. Amelia Hart</span>' "$WORK/dom.html" || fail "signatory not shown"
cp "$WORK/bundle/report.pdf" "$SHOTS/export-report.pdf"
echo "ok: HTML renders in Chromium with 4 charts, readable evidence, appendix and signature, no console errors"

# Pictures for people: the HTML as Chromium shows it on screen (the top:
# header, summary, charts) and as it prints, page by page, and the export's
# report.pdf page by page.
rm -rf "$PICTURES"
mkdir -p "$PICTURES"
chrome --screenshot="$PICTURES/report-html-screen.png" --window-size=1280,2400 --hide-scrollbars \
    "file://$WORK/report.html" >/dev/null 2>"$WORK/chrome-pic.err" ||
    fail "chromium screenshot failed: $(tail -3 "$WORK/chrome-pic.err")"
cp "$WORK/report.html" "$PICTURES/report.html"
cp "$SHOTS/report-print.pdf" "$PICTURES/report-html-print.pdf"
cp "$WORK/bundle/report.pdf" "$PICTURES/report.pdf"
if command -v pdftoppm >/dev/null; then
    pdftoppm -r 80 -png "$PICTURES/report-html-print.pdf" "$PICTURES/report-html-page"
    pdftoppm -r 80 -png "$PICTURES/report.pdf" "$PICTURES/report-pdf-page"
    echo "ok: pictures in $PICTURES ($(ls "$PICTURES" | grep -c 'report-html-page') HTML pages" \
        "printed, $(ls "$PICTURES" | grep -c 'report-pdf-page') PDF pages)"
else
    echo "ok: HTML screenshot in $PICTURES (pdftoppm not installed: no pictures of the pages)"
fi
