#!/usr/bin/env bash
# Notification sinks with real parts (docs/collector.md, "Notifications"):
# a webhook receiver (Python http.server, checks the HMAC), an SMTP server
# (aiosmtpd) and a command hook, while two simulated machines run a clinic
# day with injected faults. Mid-run the webhook and the SMTP server are taken
# down and brought back, and the collector is restarted while the webhook
# is still down. Afterwards: every alert event each sink's filter selects
# reached it, none twice (by event id), every outbox row is marked
# delivered, the webhook's outage did not delay e-mail, and the restarted
# collector resent what the first had not delivered. Then notify-test for
# each sink. Prints the latency from alert raised to webhook received.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PY=/usr/bin/python3
PKI=$WORK/pki
DB=$WORK/fleet.db
CLINIC=clinic-notify
DEVICES=(nt-a nt-b)
SEEDS=(33 29)
START=$(date -u -d "-2 days" +%F)

$PY -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed (scripts/install-deps.sh)"

issue_pki "$PKI" "${DEVICES[@]}"
new_db "$DB"
for d in "${DEVICES[@]}"; do
    "$SMPCTL" device add "$d" --clinic "$CLINIC" --cert "$PKI/devices/$d.crt" --db "$DB" >/dev/null
done
start_broker "$PKI" "$WORK/broker"

# ---- the receivers ------------------------------------------------------------------------
printf 'it-secret-%s\n' "$RANDOM$RANDOM" >"$WORK/webhook.secret"
chmod 600 "$WORK/webhook.secret"
cat >"$WORK/webhook.py" <<'PY'
# Records each POST as one JSON line: event id, receive time, signature ok.
import hashlib, hmac, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, secret_file, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secret = open(secret_file, 'rb').readline().rstrip()
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        want = 'sha256=' + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get('X-Smpfleet-Signature', ''))
        ev = json.loads(body)
        with open(out, 'a') as f:
            f.write(json.dumps({'received_ms': int(time.time() * 1000), 'sig_ok': ok,
                                'header_id': self.headers.get('X-Smpfleet-Event-Id'), 'event': ev}) + '\n')
        self.send_response(204 if ok else 401)
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
PY
cat >"$WORK/smtpd.py" <<'PY'
# An SMTP server on loopback recording each mail as one JSON line.
import asyncio, email, email.header, json, signal, sys, time
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
class H:
    async def handle_DATA(self, server, session, envelope):
        m = email.message_from_bytes(envelope.content)
        with open(out, 'a') as f:
            f.write(json.dumps({'received_ms': int(time.time() * 1000),
                                'event_id': m['X-Smpfleet-Event-Id'],
                                # a subject with '°C' comes RFC 2047-encoded
                                'subject': str(email.header.make_header(email.header.decode_header(m['Subject']))),
                                'from': envelope.mail_from, 'to': envelope.rcpt_tos,
                                'body': m.get_payload(decode=True).decode()}) + '\n')
        return '250 OK queued'
c = Controller(H(), hostname='127.0.0.1', port=port)
c.start()
signal.sigwait({signal.SIGTERM, signal.SIGINT}) if hasattr(signal, 'sigwait') else None
c.stop()
PY
cat >"$WORK/hook.py" <<'PY'
import json, os, sys, time
ev = json.load(sys.stdin)
with open(sys.argv[1], 'a') as f:
    f.write(json.dumps({'received_ms': int(time.time() * 1000), 'env_id': os.environ.get('SMP_NOTIFY_EVENT_ID'), 'event': ev}) + '\n')
PY
WEB_PORT=$(free_port)
SMTP_PORT=$(free_port)
WEB_PID='' SMTP_PID=''
web_up() {
    $PY "$WORK/webhook.py" "$WEB_PORT" "$WORK/webhook.secret" "$WORK/webhook.jsonl" 2>>"$WORK/webhook.log" &
    WEB_PID=$!; track_pid "$WEB_PID"
    wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$WEB_PORT" 2>/dev/null || fail "webhook receiver did not start"
}
smtp_up() {
    # sigwait needs the signals blocked: run it through a tiny wrapper.
    $PY -c 'import signal,runpy,sys; signal.pthread_sigmask(signal.SIG_BLOCK,{signal.SIGTERM,signal.SIGINT}); sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")' \
        "$WORK/smtpd.py" "$SMTP_PORT" "$WORK/smtp.jsonl" 2>>"$WORK/smtpd.log" &
    SMTP_PID=$!; track_pid "$SMTP_PID"
    wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT" 2>/dev/null || fail "SMTP server did not start"
}
down() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }
now_ms() { date +%s%3N; }
touch "$WORK/webhook.jsonl" "$WORK/smtp.jsonl" "$WORK/hook.jsonl"
web_up
smtp_up

# ---- the collector -----------------------------------------------------------------------
cat >"$WORK/policy.conf" <<'POLICY'
rules_timer_s = 1
settle_s = 1
POLICY
WEB_FILTER="min_severity=warning"
SMTP_FILTER="rule=R1,R2,R4,R5,R7 event=raised,escalated"
HOOK_FILTER="rule=R1,R2"
COLLECTOR_EXTRA_CONF="policy_file = $WORK/policy.conf
webhook_url = http://127.0.0.1:$WEB_PORT/hook/secret-token
webhook_secret_file = $WORK/webhook.secret
webhook_filter = $WEB_FILTER
webhook_timeout_s = 5
smtp_url = smtp://127.0.0.1:$SMTP_PORT
smtp_from = smpfleet@clinic.test
smtp_to = manager@clinic.test, lead@clinic.test
smtp_filter = $SMTP_FILTER
notify_command = $PY $WORK/hook.py $WORK/hook.jsonl
notify_command_filter = $HOOK_FILTER"
start_collector "$PKI" "$DB"
grep -q "notification sink=webhook target=\"\?http://127.0.0.1:$WEB_PORT/…" "$COLLECTOR_LOG" ||
    fail "collector did not name the webhook sink (or logged its path): $(grep 'sink=webhook' "$COLLECTOR_LOG" | head -2)"
! grep -q "secret-token" "$COLLECTOR_LOG" || fail "the webhook URL's path (a token) reached the log"

# ---- a clinic day with faults, outages in the middle -------------------------------------------
pids=()
for i in "${!DEVICES[@]}"; do
    start_agent "$PKI" "${DEVICES[$i]}" --simulate --seed "${SEEDS[$i]}" --speed 3000 \
        --sim-start "$START" --fault-rate 50 --exit-when-done
    pids+=("$AGENT_PID")
done
sleep 4
WEB_DOWN_MS=$(now_ms); down "$WEB_PID"; log "webhook receiver down"
sleep 3
SMTP_DOWN_MS=$(now_ms); down "$SMTP_PID"; log "SMTP server down"
sleep 3
smtp_up; SMTP_UP_MS=$(now_ms); log "SMTP server back"
sleep 3
# Restart the collector while the webhook is still down: what it queued
# and did not deliver must go out from the next run.
RESTART_MS=$(now_ms)
kill -TERM "$COLLECTOR_PID"; wait "$COLLECTOR_PID" 2>/dev/null || true
pending_at_restart=$(sqlite3 "$DB" "SELECT count(*) FROM notify_outbox WHERE sink = 'webhook' AND delivered_at IS NULL")
log "collector stopped with $pending_at_restart webhook events pending"
start_collector "$PKI" "$DB"
sleep 4
web_up; WEB_UP_MS=$(now_ms); log "webhook receiver back"
for p in "${pids[@]}"; do wait_pid_exit "$p" 240; done
wait_until 20 bash -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM alerts WHERE state = 'pending'\") = 0 ]" ||
    fail "pending R5 checks never settled"
# The webhook's backoff reached at most 16 s during its outage.
wait_until 60 bash -c "[ \$(sqlite3 '$DB' 'SELECT count(*) FROM notify_outbox WHERE delivered_at IS NULL') = 0 ]" ||
    fail "outbox not drained: $(sqlite3 "$DB" 'SELECT sink, count(*), max(last_error) FROM notify_outbox WHERE delivered_at IS NULL GROUP BY sink')"
[ "$pending_at_restart" -gt 0 ] || fail "test setup: no webhook event was pending when the collector restarted"

# ---- checks --------------------------------------------------------------------------------
$PY - "$DB" "$WORK" "$WEB_FILTER" "$SMTP_FILTER" "$HOOK_FILTER" "$WEB_DOWN_MS" "$WEB_UP_MS" \
    "$SMTP_DOWN_MS" "$SMTP_UP_MS" "$RESTART_MS" <<'PY'
import datetime, json, sqlite3, statistics, sys
db, work = sys.argv[1], sys.argv[2]
filters = dict(zip(('webhook', 'smtp', 'command'), sys.argv[3:6]))
web_down, web_up, smtp_down, smtp_up, restart = map(int, sys.argv[6:11])
RANK = {'maintenance': 1, 'warning': 2, 'cycle-failed': 3, 'critical': 4, 'integrity': 4}

def selects(flt, ev):
    for term in flt.split():
        k, v = term.split('=', 1)
        vals = v.split(',')
        if k == 'rule' and ev['rule'] not in vals: return False
        if k == 'clinic' and ev['clinic'] not in vals: return False
        if k == 'event' and ev['event'] not in vals: return False
        if k == 'min_severity' and RANK.get(ev['severity'], 4) < RANK[v]: return False
    return True

def ms(ts):
    return int(datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)

def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr); sys.exit(1)

con = sqlite3.connect(db)
events = {r[0]: json.loads(r[1]) for r in con.execute('SELECT id, payload FROM notify_events')}
if not events: fail('no alert event was queued')
# Every alert (not a pending check) has its raised event queued for each sink that selects it.
for aid, rule, sev, clinic in con.execute("SELECT id, rule, severity, clinic FROM alerts WHERE state IS NULL OR state = 'withdrawn'"):
    ev = {'rule': rule, 'severity': sev, 'clinic': clinic, 'event': 'raised'}
    if any(selects(f, ev) for f in filters.values()):
        ids = [i for i, e in events.items() if e['id'] == aid and e['event'] in ('raised', 'escalated')]
        if not ids: fail(f'alert {aid} {rule} {sev}: no raised event queued')

got = {'webhook': [json.loads(l) for l in open(f'{work}/webhook.jsonl')],
       'smtp': [json.loads(l) for l in open(f'{work}/smtp.jsonl')],
       'command': [json.loads(l) for l in open(f'{work}/hook.jsonl')]}
ids = {'webhook': [g['event']['event_id'] for g in got['webhook']],
       'smtp': [int(g['event_id']) for g in got['smtp']],
       'command': [g['event']['event_id'] for g in got['command']]}
for g in got['webhook']:
    if not g['sig_ok']: fail(f"webhook: bad signature on event {g['event']['event_id']}")
    if g['header_id'] != str(g['event']['event_id']): fail('webhook: X-Smpfleet-Event-Id differs from the body')
for g in got['command']:
    if g['env_id'] != str(g['event']['event_id']): fail('command: SMP_NOTIFY_EVENT_ID differs from the body')
for sink, flt in filters.items():
    want = {i for i, e in events.items() if selects(flt, e)}
    queued = {r[0] for r in con.execute('SELECT event_id FROM notify_outbox WHERE sink = ?', (sink,))}
    if want != queued: fail(f'{sink}: queued {len(queued)} events, its filter selects {len(want)}')
    have = ids[sink]
    if len(have) != len(set(have)):
        dup = sorted({i for i in have if have.count(i) > 1})
        fail(f'{sink}: events delivered twice: {dup[:10]}')
    if set(have) != want:
        fail(f'{sink}: missing {sorted(want - set(have))[:10]}, unexpected {sorted(set(have) - want)[:10]}')
    if not want: fail(f'{sink}: its filter selected no event; pick seeds that exercise it')
    print(f'ok: {sink}: {len(want)} events ({flt}), each delivered once')
for r in con.execute('SELECT sink, count(*) FROM notify_outbox WHERE delivered_at IS NULL GROUP BY sink'):
    fail(f'{r[0]}: {r[1]} rows not marked delivered')

# The webhook's outage did not hold e-mail back: mails of events raised
# while the webhook was down (and the SMTP server up) arrived at once.
mails = {int(g['event_id']): g['received_ms'] for g in got['smtp']}
# E-mail's own outage (from a second before it, until its backlog went out)
# and the collector restart are not the webhook's doing: left out.
smtp_back = min([r for r in mails.values() if r > smtp_up] or [smtp_up])
def quiet(t):
    return not (smtp_down - 1000 <= t <= smtp_back) and not (restart - 1000 <= t <= restart + 6000)
during = [(i, mails[i] - ms(events[i]['at'])) for i in mails
          if web_down < ms(events[i]['at']) < web_up and quiet(ms(events[i]['at']))]
if not during: fail('test setup: no mail for an event raised during the webhook outage')
slow = [d for d in during if d[1] > 3000]
if slow: fail(f'e-mail delayed during the webhook outage: {slow[:5]}')
print(f'ok: {len(during)} e-mails of events raised during the webhook outage arrived within {max(d for _, d in during)} ms')

# The restart resent: webhook events queued before the restart arrived after it.
hook = {g['event']['event_id']: g['received_ms'] for g in got['webhook']}
resent = [i for i in hook if ms(events[i]['at']) < restart and hook[i] > web_up - 100]
if not resent: fail('no event queued before the restart reached the webhook after it')
print(f'ok: {len(resent)} webhook events queued before the collector restart were delivered by the next run')

# Latency raised -> webhook received, for events raised while it was up.
lat = sorted(hook[i] - ms(events[i]['at']) for i in hook if ms(events[i]['at']) < web_down - 1000 or ms(events[i]['at']) > web_up + 1000)
if not lat: fail('no webhook event raised outside the outage')
p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
print(f'latency alert raised -> webhook received: n={len(lat)} median={statistics.median(lat):.0f} ms p95={p95} ms max={lat[-1]} ms')
body = got['smtp'][0]['body']
if 'event id:' not in body or 'clinic:' not in body: fail('e-mail body lacks its fields: ' + body[:200])
if not got['smtp'][0]['subject'].startswith('[smpfleet] '): fail('subject: ' + got['smtp'][0]['subject'])
if sorted(got['smtp'][0]['to']) != ['lead@clinic.test', 'manager@clinic.test']: fail(f"recipients: {got['smtp'][0]['to']}")
PY
grep -q "notification failed sink=webhook" "$COLLECTOR_LOG" || fail "the webhook outage was not logged"
! grep -q "it-secret" "$COLLECTOR_LOG" || fail "the webhook secret reached the log"

# ---- notify-test --------------------------------------------------------------------------------
for sink in webhook smtp command; do
    "$SMPCTL" alerts notify-test --sink "$sink" -c "$WORK/collector.conf" >"$WORK/nt-$sink.out" 2>&1 ||
        fail "notify-test --sink $sink: $(cat "$WORK/nt-$sink.out")"
    grep -q "^notify-test: $sink .* accepted the test event" "$WORK/nt-$sink.out" || fail "notify-test output: $(cat "$WORK/nt-$sink.out")"
done
grep -q '"event": "test"' "$WORK/webhook.jsonl" || fail "webhook did not receive the test event"
grep -q 'notify-test' "$WORK/smtp.jsonl" || fail "SMTP server did not receive the test mail"
grep -q '"event": "test"' "$WORK/hook.jsonl" || fail "command did not receive the test event"
down "$WEB_PID"
if "$SMPCTL" alerts notify-test --sink webhook -c "$WORK/collector.conf" >"$WORK/nt-down.out" 2>&1; then
    fail "notify-test succeeded with the webhook down"
fi
grep -q "not accepted" "$WORK/nt-down.out" || fail "notify-test with the webhook down: $(cat "$WORK/nt-down.out")"
! grep -q "secret-token" "$WORK/nt-down.out" || fail "notify-test printed the URL's path"
echo "ok: notify-test for webhook, smtp and command; a down webhook is reported"
