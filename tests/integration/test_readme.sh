#!/usr/bin/env bash
# The README's own commands, literally: the ```sh blocks of "Try it on one
# machine", "Compliance rules and alerts" and "Reports and inspector audit
# exports", run in order as one script from a directory that looks like the
# top of the repository (build/ and broker-config/ link to the real ones).
# Then checks what a reader would: the report is of the simulated day, an
# alert was acknowledged, the audit bundle verifies, and nothing is left
# running.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOP=$WORK/top
mkdir -p "$TOP"
ln -s "$(cd "$BIN/.." && pwd)" "$TOP/build"
ln -s "$REPO_ROOT/broker-config" "$TOP/broker-config"
# The README's broker uses port 8883 on loopback.
if ss -Hltn 'sport = :8883' | grep -q .; then fail "port 8883 is in use here; the README's commands need it"; fi

"$REPO_ROOT/tests/integration/readme_blocks.sh" "$REPO_ROOT/README.md" "Try it on one machine" \
    "Compliance rules and alerts" "Reports and inspector audit exports" >"$WORK/readme.sh"
[ "$(grep -c . "$WORK/readme.sh")" -gt 30 ] || fail "too few README commands extracted"
_LIB_BROKER_STATES+=("$TOP/try/broker-state")
at_cleanup "[ -f '$TOP/try/collector.pid' ] && kill \$(cat '$TOP/try/collector.pid')"

(cd "$TOP" && bash -euo pipefail -x "$WORK/readme.sh") >"$WORK/readme.out" 2>&1 ||
    fail "a README command failed: $(tail -15 "$WORK/readme.out")"

TRY=$TOP/try
grep -q '2026-11-23' "$TRY/report.html" || fail "report.html is not of 2026-11-23"
recs=$(sqlite3 "$TRY/fleet.db" "SELECT count(*) FROM records WHERE device_id='chair-01'")
[ "$recs" -gt 100 ] || fail "only $recs records stored from the simulated day"
acked=$(sqlite3 "$TRY/fleet.db" "SELECT acked_by FROM alerts WHERE id=1")
[ "$acked" = "J. Smith" ] || fail "alert 1 not acknowledged by J. Smith (got '$acked')"
[ -f "$TRY/audit-2026/manifest.sig" ] || fail "no signed audit bundle"
if kill -0 "$(cat "$TRY/collector.pid")" 2>/dev/null; then fail "the README left the collector running"; fi
"$RUN_BROKER" status --state "$TRY/broker-state" >/dev/null && fail "the README left the broker running"
echo "ok: README ran: $recs records, report of 2026-11-23, alert 1 acked, bundle verified, all stopped"
