#!/usr/bin/env bash
# run.sh: run every tests/integration/test_*.sh, each in its own bash process
# with a time limit (IT_TIMEOUT_S, default 300), print PASS/FAIL per test
# (with the tail of its log on failure) and end with "N passed, N failed".
# Exit 1 if any failed.
#
#   tests/integration/run.sh [NAME...]    only the named tests (e.g. test_acl)
#
# Logs go to IT_LOG_DIR (default: a fresh dir under ${TMPDIR:-/tmp}).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT_S=${IT_TIMEOUT_S:-300}
LOG_DIR=${IT_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/smp-it-logs.XXXXXX")}
mkdir -p "$LOG_DIR"

tests=()
if [ $# -gt 0 ]; then
    for name in "$@"; do
        name=${name%.sh}
        [ -f "$HERE/${name}.sh" ] || { echo "run.sh: no test $HERE/${name}.sh" >&2; exit 2; }
        tests+=("$HERE/${name}.sh")
    done
else
    for t in "$HERE"/test_*.sh; do
        [ -e "$t" ] && tests+=("$t")
    done
fi

passed=0
failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    log=$LOG_DIR/$name.log
    start=$SECONDS
    # timeout sends TERM first, so the test's trap still stops its broker;
    # KILL follows 15 s later if it does not.
    timeout -k 15 "$TIMEOUT_S" bash "$t" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name (${took}s)"
        passed=$((passed + 1))
    else
        reason="exit $rc"
        [ "$rc" -eq 124 ] && reason="timed out after ${TIMEOUT_S}s"
        echo "FAIL $name ($reason, ${took}s; log $log)"
        tail -n 30 "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
