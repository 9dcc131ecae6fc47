#!/usr/bin/env bash
# A fleet on PostgreSQL: one real PostgreSQL cluster, one real broker, THREE
# collectors in one share_group (each its own certificate identity, config,
# log and metrics port) and FIVE simulated machines running a paced day with
# a 30 % fault rate: three share a clinic (and its sterilizer, which all
# three log: the same cycles, one fact), the two whose sterilizers have a
# positive spore test that day have a clinic each. Mid-run one
# collector is killed with SIGKILL (the rules-timer leader when one is
# known) and started again, later another one (the leader again when it is
# not the one just restarted), and the broker is restarted once on its port.
#
# Afterwards: every device's records are stored exactly once, chains intact,
# the collectors' head equal to the agent's; no integrity alert, nothing
# quarantined; every collector stored records (the load was shared); at no
# moment did two collectors hold the rules-timer leadership, and it moved
# when its holder was killed; every injected violation was alerted. Then
# the same five simulations run again against ONE collector on SQLite (a
# second broker): every alert must be the same in both, (rule, device,
# cause, state, open or cleared) and the events it went through (raised,
# cleared, ...: each raised as often as by one collector).
#
# Why the clinics: what one device's records mean to another's (a spore
# test recalls the loads of every machine of the clinic, whatever order
# they arrive in) depends on the order the devices' records interleave,
# and that differs between any two runs, one collector or three. Within a
# device the order is the chain's, and that is what the fleet must keep.
# Each clinic's sterilizer is registered (smpctl sterilizer add), so its
# alerts (R4, R6, R7) are filed under the sterilizer, whichever device's
# copy of a cycle arrived first.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/faults.sh"
. "$(dirname "$0")/pg.sh"

PKI=$WORK/pki
DEVICES=(fl-a fl-b fl-c fl-d fl-e)
CLINICS=(clinic-north clinic-north clinic-north clinic-east clinic-south)
# Every machine logs its clinic's autoclave (role both). A sterilizer's
# cycles and tests are a function of its id and the day (agent/sim_autoclave.h):
# on SIM_START these inject every kind of violation together, and only
# ac-east-9 and ac-south-2 have a positive spore test.
STERILIZERS=(ac-north-1 ac-north-1 ac-north-1 ac-east-9 ac-south-2)
SEEDS=(10 15 7 18 6)
COLLECTORS=(c1 c2 c3)
SHARE_GROUP=fleet
# Simulated seconds per real second: a clinic day takes ~30 s at 2000.
SPEED=${FLEET_SPEED:-2000}
FAULT_RATE=30
# A Monday long past (a spore-test day): R6 (spore test overdue) is due at
# once, raised by the timer leader; nothing is ahead of the collectors' clock.
SIM_START=2026-08-10
EVENTS=$WORK/events.log
T0=$SECONDS
need_bin "$BIN/smp-agent"
need_bin "$BIN/smp-collector"
command -v curl >/dev/null || fail "curl missing; run scripts/install-deps.sh"

# now_ts: UTC now as the collectors' log prints it (ts=...).
now_ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
# event WHAT...: a line of the test's own timeline, next to the logs.
event() { echo "$(now_ts) $*" >>"$EVENTS"; log "$*"; }

start_pg
DB=$(pg_new_db fleet)
new_db "$DB"
issue_pki "$PKI" "${DEVICES[@]}"
for c in "${COLLECTORS[@]}"; do
    "$SMPCTL" pki issue-collector --dir "$PKI" --name "smp-collector-$c" >/dev/null ||
        fail "smpctl pki issue-collector --name smp-collector-$c"
done
# add_devices DB: register the five devices in their clinics.
add_devices() {
    local i d
    for i in "${!DEVICES[@]}"; do
        d=${DEVICES[$i]}
        "$SMPCTL" device add "$d" --clinic "${CLINICS[$i]}" --cert "$PKI/devices/$d.crt" --db "$1" >/dev/null ||
            fail "smpctl device add $d --db $1"
    done
    for i in 0 3 4; do
        "$SMPCTL" sterilizer add "${STERILIZERS[$i]}" --clinic "${CLINICS[$i]}" --db "$1" >/dev/null ||
            fail "smpctl sterilizer add ${STERILIZERS[$i]} --db $1"
    done
}
add_devices "$DB"
start_broker "$PKI" "$WORK/broker"
PORT=$BROKER_PORT

cat >"$WORK/policy.conf" <<'POLICY'
profile = cdc
# The timer ticks every second; grips wait 1 s for a cycle from another machine.
rules_timer_s = 1
settle_s = 1
POLICY

# A notify_command sink makes the collectors write every alert event
# (raised, cleared, escalated, ...) to the outbox, notify_events: the
# comparison with the reference run counts them. dd appends what it gets.
notify_conf() {
    echo "notify_command = /usr/bin/dd of=$1 oflag=append conv=notrunc status=none"
}

declare -A CPID CPORT STORED STORED_BEFORE CONFLICTS CONFLICTS_BEFORE
# start_fleet_collector C: collector C (identity smp-collector-C) in the
# share group, with its own config, log and metrics port; appends to its
# log across restarts and waits for a new subscription. Sets CPID[C].
start_fleet_collector() {
    local c=$1 conf=$WORK/collector-$1.conf clog=$WORK/collector-$1.log before=0
    [ -n "${CPORT[$c]:-}" ] || CPORT[$c]=$(free_port)
    cat >"$conf" <<CONF
broker_port = $PORT
ca_file = $PKI/ca.crt
cert_file = $PKI/collector-$c.crt
key_file = $PKI/collector-$c.key
db_path = $DB
share_group = $SHARE_GROUP
policy_file = $WORK/policy.conf
metrics_port = ${CPORT[$c]}
$(notify_conf "$WORK/notify-$c.jsonl")
CONF
    [ -f "$clog" ] && before=$(grep -c "subscribed topics=" "$clog")
    "$BIN/smp-collector" --config "$conf" 2>>"$clog" &
    CPID[$c]=$!
    track_pid "${CPID[$c]}"
    event "$c started pid ${CPID[$c]}"
    wait_until 20 bash -c "[ \$(grep -c 'subscribed topics=' '$clog') -gt $before ]" ||
        fail "collector $c did not subscribe: $(tail -5 "$clog")"
    grep -q "subscribed topics=\$share/$SHARE_GROUP/" "$clog" ||
        fail "collector $c did not subscribe through \$share/$SHARE_GROUP: $(grep 'subscribed topics=' "$clog" | tail -1)"
}

# metric_now C NAME: the value of counter NAME (its one series, labelled
# with the collector's identity) of collector C's running process.
metric_now() {
    curl -sf --max-time 2 "http://127.0.0.1:${CPORT[$1]}/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $NF }'
}

# kill_collector C: SIGKILL collector C, after reading what this process
# stored and how many groups it ran again after a conflict (its counters
# restart with the process).
kill_collector() {
    local c=$1 n k
    n=$(metric_now "$c" smp_records_stored_total || true)
    k=$(metric_now "$c" smp_commit_conflicts_total || true)
    STORED_BEFORE[$c]=$((${STORED_BEFORE[$c]:-0} + ${n:-0}))
    CONFLICTS_BEFORE[$c]=$((${CONFLICTS_BEFORE[$c]:-0} + ${k:-0}))
    event "$c kill -9 pid ${CPID[$c]} (stored ${n:-?} since its start)"
    kill9 "${CPID[$c]}"
}

# The timer logs each change of its leadership (collector/rules_timer.c):
# "rules timer leader=yes lock=..." when it took the lock, "leader=no" when
# another collector holds it.
LEADER_LINE='rules timer leader='
# leader_now: the running collector whose latest such line says leader=yes
# (empty when none is known).
leader_now() {
    local c last
    for c in "${COLLECTORS[@]}"; do
        last=$(grep -F "$LEADER_LINE" "$WORK/collector-$c.log" 2>/dev/null | tail -1 || true)
        case $last in
        *"leader=yes"*) kill -0 "${CPID[$c]}" 2>/dev/null && echo "$c" && return ;;
        esac
    done
    return 0
}

# wait_more_records N TIMEOUT_S: the database gains N records from now.
wait_more_records() {
    local want=$(($(pg_total "$DB") + $1))
    wait_until "$2" bash -c "[ \$(psql '$DB' -XAtq -c 'SELECT count(*) FROM records' 2>/dev/null || echo 0) -ge $want ]" ||
        fail "fewer than $1 new records within $2 s (have $(pg_total "$DB"))"
}

agents_running() {
    local p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
    return 1
}

for c in "${COLLECTORS[@]}"; do start_fleet_collector "$c"; done
log "setup took $((SECONDS - T0)) s"

T_RUN=$SECONDS
pids=()
for i in "${!DEVICES[@]}"; do
    start_agent "$PKI" "${DEVICES[$i]}" --simulate --seed "${SEEDS[$i]}" --speed "$SPEED" \
        --sim-days 1 --sim-start "$SIM_START" --fault-rate "$FAULT_RATE" --exit-when-done \
        --sim-sterilizer "${STERILIZERS[$i]}"
    pids+=("$AGENT_PID")
done
event "5 agents started at speed $SPEED"

# Mid-run: every device has records in the database, no agent is done.
for d in "${DEVICES[@]}"; do
    wait_until 30 bash -c "[ \$(psql '$DB' -XAtq -c \"SELECT count(*) FROM records WHERE device_id = '$d'\" 2>/dev/null || echo 0) -ge 30 ]" ||
        fail "$d: not 30 records in the database after 30 s (have $(pg_db_count "$DB" "$d"))"
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent finished before the first kill; lower FLEET_SPEED"; done

# First kill: the rules-timer leader, so that leadership has to move.
wait_until 10 bash -c "grep -qF 'leader=yes' '$WORK'/collector-c*.log" || true
LEADER1=$(leader_now)
VICTIM1=${LEADER1:-c1}
log "rules-timer leader before the first kill: ${LEADER1:-unknown}"
kill_collector "$VICTIM1"
sleep 3
start_fleet_collector "$VICTIM1"

# Second kill: another collector, the leader if it is not the one just
# restarted.
wait_more_records 150 30
LEADER2=$(leader_now)
VICTIM2=c2
if [ -n "$LEADER2" ] && [ "$LEADER2" != "$VICTIM1" ]; then VICTIM2=$LEADER2
elif [ "$VICTIM1" = c2 ]; then VICTIM2=c3
fi
agents_running || fail "the agents finished before the second kill; lower FLEET_SPEED"
kill_collector "$VICTIM2"
sleep 3
start_fleet_collector "$VICTIM2"

# The broker goes away for 3 s and comes back on its port, same state.
wait_more_records 150 30
agents_running || fail "the agents finished before the broker restart; lower FLEET_SPEED"
event "broker stop"
stop_broker_state "$WORK/broker"
sleep 3
start_broker_on_port "$PKI" "$WORK/broker" "$PORT"
event "broker started again on port $PORT"

wait_agents_exit 120 "${pids[@]}"
event "agents done"
RUN_S=$((SECONDS - T_RUN))

# settle_alerts QUERY_FN: no grip check is pending and the alerts did
# not change over the last 2 s (the timer has raised what time raises).
settle_alerts() {
    local q=$1 prev='' cur stable=0 tries=200
    while [ "$tries" -gt 0 ]; do
        cur=$($q "SELECT count(*), coalesce(sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0),
                         coalesce(max(id), 0) FROM alerts" 2>/dev/null || echo err)
        if [ "$cur" = "$prev" ] && [[ $cur == *'|0|'* ]]; then
            stable=$((stable + 1))
            [ "$stable" -ge 20 ] && return 0
        else
            stable=0
        fi
        prev=$cur
        sleep 0.1
        tries=$((tries - 1))
    done
    fail "alerts did not settle within 20 s (count|pending|max id: $cur)"
}
fleetq() { pgq "$DB" "$1"; }
settle_alerts fleetq

# What each collector stored: what its killed runs counted, plus the
# running one's counter.
total_stored=0
for c in "${COLLECTORS[@]}"; do
    n=$(metric_now "$c" smp_records_stored_total)
    [ -n "$n" ] || fail "collector $c: no smp_records_stored_total on port ${CPORT[$c]}"
    k=$(metric_now "$c" smp_commit_conflicts_total)
    STORED[$c]=$((${STORED_BEFORE[$c]:-0} + n))
    CONFLICTS[$c]=$((${CONFLICTS_BEFORE[$c]:-0} + ${k:-0}))
    total_stored=$((total_stored + STORED[$c]))
done
# Stopped now: the reference run below gets the CPU to itself.
for c in "${COLLECTORS[@]}"; do
    event "$c stopped"
    kill -TERM "${CPID[$c]}" 2>/dev/null || true
done
for c in "${COLLECTORS[@]}"; do
    wait_until 10 bash -c "! kill -0 ${CPID[$c]} 2>/dev/null" || {
        log "collector $c did not stop within 10 s of SIGTERM; killing it"
        kill9 "${CPID[$c]}"
    }
    wait "${CPID[$c]}" 2>/dev/null || true
done

# --- every record once, chains intact, nothing flagged
for d in "${DEVICES[@]}"; do
    pg_assert_exactly_once "$DB" "$d"
done
pg_assert_no_integrity_alerts "$DB" "$WORK"/collector-c*.log
echo "ok: no integrity alert, nothing quarantined"
for d in "${DEVICES[@]}"; do
    grep -q "connected broker=.* generation=2" "$WORK/$d.log" || fail "$d: never reconnected after the broker restart"
done
for c in "${COLLECTORS[@]}"; do
    [ "$(grep -c "subscribed topics=" "$WORK/collector-$c.log")" -ge 2 ] ||
        fail "collector $c did not subscribe again after the broker restart"
done
echo "ok: agents and collectors reconnected after the broker restart"

# --- the load was shared
records=$(pg_total "$DB")
share='' conflicts=''
for c in "${COLLECTORS[@]}"; do
    share+=" $c=${STORED[$c]}"
    conflicts+=" $c=${CONFLICTS[$c]}"
    [ "${STORED[$c]}" -gt 0 ] || fail "collector $c stored nothing (stored:$share); the share group did not share"
done
[ "$total_stored" -le "$records" ] || fail "collectors count $total_stored stored records, the database holds $records"
echo "ok: the load was shared: $records records, stored by$share (the counts of killed runs end at their last scrape); groups run again after a conflict:$conflicts"

per_dev=''
for d in "${DEVICES[@]}"; do
    per_dev+=" $d=$(pg_db_count "$DB" "$d")"
done
log "fleet run ${RUN_S} s; records per device:$per_dev"

# --- one rules-timer leader at a time, and it moved when killed
/usr/bin/python3 - "$EVENTS" "$LEADER_LINE" "$VICTIM1" "${LEADER1:-}" "${COLLECTORS[@]}" \
    >"$WORK/leadership.txt" 2>&1 <<'PY' || { cat "$WORK/leadership.txt" >&2; fail "rules-timer leadership check failed (above)"; }
import re, sys
from datetime import datetime, timezone

events, leader_line, victim1, leader1 = sys.argv[1:5]
names = sys.argv[5:]
work = events.rsplit("/", 1)[0]
TS = re.compile(r" ts=(\S+Z) ")
LOST = re.compile(r"leader=no\b")
STARTED = re.compile(r" started (collector=\S+ )?db=")

def t(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()

# Ends of a collector's runs that it did not log: kills and the final stop.
ends = {c: [] for c in names}
kill_at = {}
for line in open(events):
    ts, who, what = line.split(" ", 2)
    if who in ends and (what.startswith("kill") or what.startswith("stopped")):
        ends[who].append(t(ts))
        if what.startswith("kill"):
            kill_at.setdefault(who, t(ts))

intervals, gains = [], []
for c in names:
    held_since = None
    run_ends = sorted(ends[c])
    for line in open(f"{work}/collector-{c}.log"):
        m = TS.search(line)
        if not m:
            continue
        now = t(m.group(1))
        # A run ended (kill) before this line: what it held ended then.
        while run_ends and run_ends[0] <= now:
            if held_since is not None:
                intervals.append((held_since, run_ends[0], c))
                held_since = None
            run_ends.pop(0)
        if STARTED.search(line) and held_since is not None:
            intervals.append((held_since, now, c))
            held_since = None
        if leader_line not in line:
            continue
        if LOST.search(line):
            if held_since is not None:
                intervals.append((held_since, now, c))
                held_since = None
        elif held_since is None:
            held_since = now
            gains.append((now, c))
    if held_since is not None:
        intervals.append((held_since, run_ends[0] if run_ends else float("inf"), c))

def hms(x):
    return "end" if x == float("inf") else datetime.fromtimestamp(x, timezone.utc).strftime("%H:%M:%S.%f")[:-3]

gains.sort()
print("leadership gains:", ", ".join(f"{c}@{hms(g)}" for g, c in gains))
if not gains:
    sys.exit("no collector logged taking the rules-timer leadership (%r)" % leader_line)
# Log lines are written after the lock changed hands: allow 0.2 s.
SLACK = 0.2
intervals.sort()
for i, (a0, a1, ac) in enumerate(intervals):
    for b0, b1, bc in intervals[i + 1:]:
        if bc != ac and b0 < a1 - SLACK:
            sys.exit(f"{ac} and {bc} both held the rules-timer leadership: "
                     f"{ac} {hms(a0)}..{hms(a1)}, {bc} {hms(b0)}..{hms(b1)} (UTC)")
print(f"{len(gains)} gains, never two leaders at once")
if leader1:
    k = kill_at.get(victim1)
    after = [(g, c) for g, c in gains if k is not None and g > k]
    if not after:
        sys.exit(f"leader {victim1} was killed and no collector took the leadership afterwards")
    print(f"leader {victim1} killed; {after[0][1]} took over {after[0][0] - k:.1f} s later")
PY
sed 's/^/    /' "$WORK/leadership.txt"
[ -n "$LEADER1" ] || fail "no rules-timer leader was known before the first kill (no '$LEADER_LINE' line in the collectors' logs)"
echo "ok: one rules-timer leader at a time; it moved when $VICTIM1 was killed"

# --- every injected violation alerted
# injected KIND: what the simulators injected. A sterilizer's faults
# (failed_cycle, positive_spore) are counted by each device that logs it:
# once per clinic, from its first device.
injected() {
    local total=0 d n devices=("${DEVICES[@]}")
    case $1 in failed_cycle | positive_spore) devices=(fl-a fl-d fl-e) ;; esac
    for d in "${devices[@]}"; do
        n=$(/usr/bin/python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); assert f["complete"]; print(f[sys.argv[2]])' \
            "$WORK/agents/$d/sim_faults.json" "$1") || fail "$d: sim_faults.json missing or incomplete"
        total=$((total + n))
    done
    echo "$total"
}
checks=(
    "R1 reused: reused_cartridge"
    "R2 expired: expired_cartridge"
    "R2 no-lot: missing_lot"
    "R4 load: failed_cycle"
    "R5 failed-load: grip_from_failed_load"
    "R7 positive: positive_spore"
)
kinds=0
for ck in "${checks[@]}"; do
    read -r rule prefix kind <<<"$ck"
    want=$(injected "$kind")
    got=$(fleetq "SELECT count(*) FROM alerts WHERE rule = '$rule' AND cause LIKE '$prefix%'")
    [ "$got" = "$want" ] || fail "$rule $prefix: the simulators injected $want $kind, the collectors raised $got"
    [ "$want" = 0 ] || kinds=$((kinds + 1))
    echo "ok: $rule $prefix $got = injected $kind"
done
[ "$kinds" = "${#checks[@]}" ] || fail "seeds ${SEEDS[*]} inject only $kinds of ${#checks[@]} kinds of violation; pick others"
# --- the same simulations against one collector on SQLite
T_REF=$SECONDS
REF=$WORK/ref
mkdir -p "$REF"
REF_DB=$REF/fleet.db
new_db "$REF_DB"
add_devices "$REF_DB"
start_broker "$PKI" "$REF/broker"
# fleet.sh's starters keep their files under WORK: give them REF.
ref_conf="policy_file = $WORK/policy.conf
$(notify_conf "$REF/notify.jsonl")"
WORK=$REF COLLECTOR_EXTRA_CONF=$ref_conf start_collector "$PKI" "$REF_DB"
ref_pids=()
for i in "${!DEVICES[@]}"; do
    WORK=$REF start_agent "$PKI" "${DEVICES[$i]}" --simulate --seed "${SEEDS[$i]}" --speed 0 \
        --sim-days 1 --sim-start "$SIM_START" --fault-rate "$FAULT_RATE" --exit-when-done \
        --sim-sterilizer "${STERILIZERS[$i]}"
    ref_pids+=("$AGENT_PID")
done
wait_agents_exit 60 "${ref_pids[@]}"
refq() { sqlite3 "$REF_DB" "$1"; }
settle_alerts refq
log "reference run took $((SECONDS - T_REF)) s"

# alert_history QUERY_FN: one line per alert, "rule|device|cause|state|
# open or cleared|its events in order" (raised, cleared, escalated, ... as
# the notification outbox holds them), sorted.
alert_history() {
    $1 "SELECT a.rule, a.device_id, a.cause,
               coalesce(a.state, 'alert'), CASE WHEN a.cleared_at IS NULL THEN 'open' ELSE 'cleared' END,
               coalesce(e.id, 0), coalesce(e.event, '-')
        FROM alerts a LEFT JOIN notify_events e ON e.alert_id = a.id
        WHERE coalesce(a.state, '') <> 'pending'" |
        LC_ALL=C sort -t'|' -k1,5 -k6,6n |
        awk -F'|' '{ k = $1 "|" $2 "|" $3 "|" $4 "|" $5
                     if (k != p) { if (p != "") print p "|" ev; p = k; ev = $7 } else ev = ev "," $7 }
                   END { if (p != "") print p "|" ev }'
}
alert_history fleetq >"$WORK/alerts-fleet.txt"
alert_history refq >"$WORK/alerts-ref.txt"
[ -s "$WORK/alerts-ref.txt" ] || fail "the reference run raised no alert"
dups=$(cut -d'|' -f1-3 "$WORK/alerts-fleet.txt" | uniq -d)
[ -z "$dups" ] || fail "alerts stored more than once across collectors: $dups"
if ! diff -u "$WORK/alerts-ref.txt" "$WORK/alerts-fleet.txt" >"$WORK/alerts.diff"; then
    cat "$WORK/alerts.diff" >&2
    fail "the fleet's alerts differ from one collector's on SQLite (- reference, + fleet; rule|device|cause|state|open|events)"
fi
echo "ok: $(wc -l <"$WORK/alerts-fleet.txt") alerts, each with the same (rule, device, cause, state) and the same events as one collector on SQLite"
echo "    by rule: $(cut -d'|' -f1 "$WORK/alerts-fleet.txt" | uniq -c | awk '{printf "%s=%s ", $2, $1}')"

echo "ok: whole test $((SECONDS - T0)) s"
