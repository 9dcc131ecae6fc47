#!/usr/bin/python3
"""clinic_week.py: the scenario of test_clinic_week.sh, one local week in two
clinics, and the checks of what the collector and smpctl made of it.

  clinic_week.py feed   --now T --work DIR --db DB
      sends every record of the week to the agents' feed sockets
      (DIR/feed-<device>.sock) in the order of the scenario, waiting for the
      collector's ack (device_state.acked_seq) whenever the next record comes
      from another device, so that the collector sees the devices' records in
      exactly that order; checks that each answer is "ok <seq>" with the seq
      the scenario expects
  clinic_week.py alerts --in LIST --md FILE
      reduces `smpctl alerts list` to "rule severity device clinic cause
      state" lines (sorted; state open, cleared or withdrawn) on stdout and
      writes the table with messages as markdown to FILE
  clinic_week.py r7     --now T --db DB
      compares R7's recall (window, loads, sessions) with the scenario's
  clinic_week.py cycles --now T --db DB
      compares the fact of each cycle (rule_cycles: its first stored record)
      with the scenario's
  clinic_week.py report --now T --clinic north|south --json FILE
      compares the clinic's weekly report (JSON) with the scenario's numbers

T is the instant (UTC, ISO 8601) the scenario is computed from; every
subcommand of one run gets the same T. The week of each clinic is the seven
local days before T's local date, so nothing is ahead of the collector's
clock but the one R10 record. Every expectation below is written out from
docs/rules.md and docs/reports.md, never from what the collector answered.
A check prints a unified diff and exits 1 when the result differs."""
import argparse
import datetime as dt
import difflib
import json
import socket
import sqlite3
import sys
import time
from zoneinfo import ZoneInfo

ZONES = {"north": ZoneInfo("America/Los_Angeles"), "south": ZoneInfo("Australia/Sydney")}
SETTLE_WAIT_S = 20    # a barrier waits this long for the alert it needs
ACK_WAIT_S = 15       # and a device this long for its ack


def utc(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def ts_text(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (t.microsecond // 1000)


class Week:
    """Local days and instants of one clinic's week before now."""

    def __init__(self, clinic, now):
        self.zone = ZONES[clinic]
        self.today = now.astimezone(self.zone).date()

    def date(self, day):
        return self.today + dt.timedelta(days=day)

    def at(self, day, hms):
        """The UTC instant of local time hms on local day `day` (-7..-1)."""
        h, m, s = (int(x) for x in hms.split(":"))
        d = self.date(day)
        return dt.datetime(d.year, d.month, d.day, h, m, s, tzinfo=self.zone).astimezone(dt.timezone.utc)

    def midnight(self, day):
        return self.at(day, "00:00:00")


# ---------------------------------------------------------------- records


def cycle(sterilizer, no, load, program="prevac_134", setpoint=135.0, tmin=134.6, tmax=136.1,
          exposure=240, result="pass", ci="pass", dry=600, operator="op-1"):
    return {"type": "sterilization.cycle", "sterilizer_id": sterilizer, "cycle_no": no,
            "load_id": load, "program": program, "setpoint_c": setpoint, "temp_min_c": tmin,
            "temp_max_c": tmax, "exposure_s": exposure, "pressure_min_kpa": 304.0,
            "pressure_max_kpa": 312.5, "dry_s": dry, "operator_id": operator,
            "ci_result": ci, "result": result}


def test(sterilizer, kind, no, lot, result, read_ts):
    return {"type": "sterilization.test", "sterilizer_id": sterilizer, "kind": kind,
            "cycle_no": no, "bi_lot": lot, "result": result, "read_ts": ts_text(read_ts)}


def insert(uid, session, expiry="2031-06-30", lot="LOT-2611"):
    body = {"type": "cartridge.insert", "cartridge_uid": uid, "sku": "0603RL", "needles": 3,
            "config": "3RL", "expiry": expiry, "session_id": session}
    if lot:
        body["lot"] = lot
    return body


def remove(uid, session, run_s, strokes, reason):
    return {"type": "cartridge.remove", "cartridge_uid": uid, "session_id": session,
            "run_s": run_s, "strokes": strokes, "reason": reason}


def counters(motor, strokes_total, uid, run_s, strokes):
    return {"type": "usage.counters", "motor_s_total": motor, "strokes_total": strokes_total,
            "cartridge_uid": uid, "cartridge_run_s": run_s, "cartridge_strokes": strokes}


def start(session, operator="op-1"):
    return {"type": "session.start", "session_id": session, "operator_id": operator,
            "client_ref": "cr-" + session.lower(), "treatment_no": 1}


def end(session, run_s, strokes):
    return {"type": "session.end", "session_id": session, "run_s": run_s, "strokes": strokes}


def grip(gid, load, session):
    return {"type": "grip.assign", "grip_id": gid, "load_id": load, "session_id": session}


class Scenario:
    """Every record of the week, per device in the order the device logs
    them; `send` is when it goes out relative to the other devices (its
    device time unless the case needs another arrival order)."""

    def __init__(self, now):
        self.now = now
        self.n = Week("north", now)
        self.s = Week("south", now)
        self.events = []
        self.by_name = {}
        self.build()
        self.number()

    def add(self, dev, t, body, name=None, send=None, wait=None):
        ev = {"dev": dev, "ts": t, "body": body, "send": send or t, "wait": wait, "name": name}
        self.events.append(ev)
        if name:
            self.by_name[name] = ev
        return ev

    # A plain session: start, a cartridge a minute later, grips a minute
    # apart, counters every 300 s (session_gap_s: exactly the limit, never
    # a gap; counter_at moves one), the cartridge out a minute before the
    # end. 100 strokes per second of run time, counted from the insert.
    # Returns the motor seconds after it.
    def std_session(self, dev, sid, t0, uid, motor0, grips=(), minutes=20, insert_body=None,
                    counter_at=None):
        dur = minutes * 60
        self.add(dev, t0, start(sid))
        self.add(dev, t0 + dt.timedelta(seconds=60), insert_body or insert(uid, sid))
        for i, (gid, load, name) in enumerate(grips):
            self.add(dev, t0 + dt.timedelta(seconds=120 + 60 * i), grip(gid, load, sid), name=name)
        for k in range(1, dur // 300):
            off = (counter_at or {}).get(k, 300 * k)
            run = off - 60
            self.add(dev, t0 + dt.timedelta(seconds=off),
                     counters(motor0 + run, 100 * motor0 + 100 * run, uid, run, 100 * run))
        run = dur - 120
        self.add(dev, t0 + dt.timedelta(seconds=dur - 60), remove(uid, sid, run, 100 * run, "session_end"))
        self.add(dev, t0 + dt.timedelta(seconds=dur), end(sid, run, 100 * run))
        return motor0 + run

    def build(self):
        self.build_north()
        self.build_south()

    # ---- north: America/Los_Angeles, ac-north with its own agent ----------
    def build_north(self):
        at = self.n.at
        # ac-north's agent (the autoclave log importer) logs every cycle.
        self.add("ac-north", at(-7, "08:00:00"), cycle("ac-north", 301, "N-L301"), name="c301")
        self.add("ac-north", at(-7, "10:00:00"), cycle("ac-north", 302, "N-L302"), name="c302")
        # The BI of cycle 301 is read negative at 12:00 (a rapid-readout BI):
        # load 302 ran between its cycle and its reading. Logged on a machine.
        self.add("n-m01", at(-7, "12:00:00"),
                 test("ac-north", "spore", 301, "BI-N-0701", "negative", at(-7, "12:00:00")),
                 name="t-neg")
        # NS1: grip NG-12's load 303 was run at 09:00, but the importer sends
        # that cycle only after the grip arrived (inside settle_s): nothing.
        m01 = self.std_session("n-m01", "NS1", at(-6, "10:00:00"), "NC-11", 120000,
                               grips=[("NG-11", "N-L302", "g11"), ("NG-12", "N-L303", "g12")])
        self.add("ac-north", at(-6, "09:00:00"), cycle("ac-north", 303, "N-L303"), name="c303",
                 send=at(-6, "10:03:00") + dt.timedelta(milliseconds=1))
        # n-m02 is at 1,785,599 motor seconds; it ends the week one second
        # under the 500 h service mark (R11 control).
        motor = self.std_session("n-m02", "NS2", at(-5, "11:00:00"), "NC-21", 1785599,
                                 grips=[("NG-21", "N-L303", "g21")])
        # The daily Bowie-Dick test: an empty chamber, not a load.
        self.add("ac-north", at(-4, "07:30:00"),
                 cycle("ac-north", 310, "N-BD310", exposure=210), name="c310")
        self.add("n-m02", at(-4, "07:45:00"),
                 test("ac-north", "bowie_dick", 310, "BD-N-0704", "negative", at(-4, "07:45:00")),
                 name="t-bd")
        # R4 control: exactly prevac_134's minimum temperature and exposure.
        self.add("ac-north", at(-4, "09:00:00"),
                 cycle("ac-north", 311, "N-L311", setpoint=135.0, tmin=134.0, exposure=180),
                 name="c311")
        self.evening(motor)
        # The BI of cycle 320 will read positive.
        self.add("ac-north", at(-3, "08:00:00"), cycle("ac-north", 320, "N-L320"), name="c320")
        # Cycle 321 logged twice with the same content: by ac-north's agent
        # and, from the printout, by n-m01 (one cycle, counted once).
        self.add("ac-north", at(-3, "11:00:00"), cycle("ac-north", 321, "N-L321"), name="c321")
        self.add("n-m01", at(-3, "11:15:00"), cycle("ac-north", 321, "N-L321"), name="c321-dup")
        m01 = self.late_session(at(-3, "23:45:00"), m01)
        self.add("n-m02", at(-2, "08:00:00"),
                 test("ac-north", "spore", 320, "BI-N-0703", "positive", at(-2, "08:00:00")),
                 name="t-pos")
        # NS5: a grip from load 311 (in the recall window) used after the
        # positive result was read: R5 recalled; a pack without a lot: R2.
        m01 = self.std_session("n-m01", "NS5", at(-2, "14:00:00"), "NC-51", m01,
                               grips=[("NG-51", "N-L311", "g51")],
                               insert_body=insert("NC-51", "NS5", lot=None))
        # NS6: NC-11 of NS1 inserted again in another session: R1.
        m01 = self.std_session("n-m01", "NS6", at(-1, "10:00:00"), "NC-11", m01)
        # R10: n-m01's clock an hour ahead (no session open; last record).
        self.add("n-m01", self.now + dt.timedelta(hours=1),
                 {"type": "usage.counters", "motor_s_total": m01, "strokes_total": 100 * m01,
                  "cartridge_run_s": 0, "cartridge_strokes": 0}, name="r10")

    def evening(self, motor):
        """NS3 on n-m02, 18:00-22:00 local, which is all on the next UTC
        date (02:00-06:00 UTC in winter): one session of that local day. Every record 300 s after the one
        before (R8 control), four cartridges an hour each: NC-31's counters
        reach exactly 3600 s and 400,000 strokes (R3 control), the others run
        90 % of the time; the last counters say 1,799,999 motor seconds."""
        at, dev, sid = self.n.at, "n-m02", "NS3"
        t0 = at(-4, "18:00:00")
        self.add(dev, t0, start(sid))
        self.add(dev, t0, insert("NC-31", sid))
        self.add(dev, t0 + dt.timedelta(seconds=120), grip("NG-31", "N-L311", sid), name="g31")
        run_total = strokes_total = 0
        for hour, uid in enumerate(["NC-31", "NC-32", "NC-33", "NC-34"]):
            h0 = t0 + dt.timedelta(hours=hour)
            if hour:
                self.add(dev, h0, insert(uid, sid))
            for k in range(1, 13):
                e = 300 * k
                run, strokes = (e, e * 1000 // 9) if hour == 0 else (e * 9 // 10, e * 9 // 10 * 100)
                self.add(dev, h0 + dt.timedelta(seconds=e),
                         counters(motor + run_total + run, 100 * motor + strokes_total + strokes,
                                  uid, run, strokes))
            run_total += run
            strokes_total += strokes
            self.add(dev, h0 + dt.timedelta(hours=1),
                     remove(uid, sid, run, strokes, "swap" if hour < 3 else "session_end"))
        self.add(dev, t0 + dt.timedelta(hours=4), end(sid, run_total, strokes_total))
        assert motor + run_total == 1799999 and (run_total, strokes_total) == (13320, 1372000)

    def late_session(self, t0, motor):
        """NS4 on n-m01, ending at 23:59:59 local: NC-42 is inserted at
        23:59:59 of its expiry day (07:59:59 UTC the next day): in date."""
        dev, sid, day = "n-m01", "NS4", self.n.date(-3).isoformat()
        s = lambda x: t0 + dt.timedelta(seconds=x)
        last = self.n.at(-3, "23:59:59")
        self.add(dev, s(0), start(sid))
        self.add(dev, s(30), insert("NC-41", sid))
        self.add(dev, s(300), counters(motor + 270, 100 * motor + 27000, "NC-41", 270, 27000))
        self.add(dev, s(600), counters(motor + 570, 100 * motor + 57000, "NC-41", 570, 57000))
        self.add(dev, last, remove("NC-41", sid, 869, 86900, "swap"))
        self.add(dev, last, insert("NC-42", sid, expiry=day), name="nc42")
        self.add(dev, last, remove("NC-42", sid, 0, 0, "session_end"))
        self.add(dev, last, end(sid, 869, 86900))
        assert (last - s(600)).total_seconds() == 299
        return motor + 869

    # ---- south: Australia/Sydney, ac-south logged through its machines -----
    def build_south(self):
        at = self.s.at
        # ac-south's last negative spore test was ten days ago: R6 overdue.
        self.add("s-m01", at(-10, "08:00:00"), cycle("ac-south", 500, "S-L500"), name="c500")
        self.add("s-m01", at(-10, "12:00:00"),
                 test("ac-south", "spore", 500, "BI-S-1001", "negative", at(-10, "12:00:00")))
        self.cross_midnight()
        # Cycle 510 logged from the printout by both machines, same content.
        self.add("s-m01", at(-5, "08:00:00"), cycle("ac-south", 510, "S-L510"), name="c510")
        self.add("s-m02", at(-5, "08:10:00"), cycle("ac-south", 510, "S-L510"), name="c510-dup")
        self.std_session("s-m02", "SS2", at(-5, "14:00:00"), "SC-21", 250000,
                         grips=[("SG-21", "S-L510", "sg21")])
        # SS3: SC-31 expired yesterday by the clinic's calendar; 09:31
        # local is 22:31 or 23:31 UTC, still its expiry date in UTC: R2.
        self.std_session("s-m02", "SS3", at(-4, "09:30:00"), "SC-31", 251080,
                         insert_body=insert("SC-31", "SS3", expiry=self.s.date(-5).isoformat()))
        # Cycle 520 below gravity_121's minimum temperature (the sterilizer
        # said pass): R4. SS4 uses a grip from it (R5), and its counters
        # pause 301 s (R8 gap). The load is re-run at 12:00, after the R5
        # alert was raised: R4 cleared, R5 stays (the use came first).
        self.add("s-m01", at(-3, "08:00:00"),
                 cycle("ac-south", 520, "S-L520", program="gravity_121", setpoint=122.0,
                       tmin=120.5, tmax=123.0, exposure=1800), name="c520")
        self.std_session("s-m02", "SS4", at(-3, "10:00:00"), "SC-41", 252160,
                         grips=[("SG-41", "S-L520", "sg41")], counter_at={3: 901})
        self.add("s-m01", at(-3, "12:00:00"),
                 cycle("ac-south", 521, "S-L520", program="gravity_121", setpoint=122.0,
                       tmin=121.4, tmax=123.0, exposure=1800), name="c521",
                 wait=("R5", "failed-load:SS4:SG-41"))
        # Cycle 525: s-m02's copy says 250 s of exposure, s-m01's 240: R9.
        self.add("s-m01", at(-2, "08:00:00"), cycle("ac-south", 525, "S-L525"), name="c525")
        self.add("s-m02", at(-2, "08:20:00"), cycle("ac-south", 525, "S-L525", exposure=250),
                 name="c525-conflict")
        # SS5: s-m01's motor reaches exactly 500 h: R11.
        self.std_session("s-m01", "SS5", at(-2, "13:00:00"), "SC-51", 1799460)
        # SS6: load 530 ran at 09:00, but its cycle reaches the collector
        # after the grip's settle window: R5 no-cycle raised, then withdrawn.
        self.std_session("s-m02", "SS6", at(-1, "10:00:00"), "SC-61", 253240,
                         grips=[("SG-61", "S-L530", "sg61")])
        self.add("s-m01", at(-1, "09:00:00"), cycle("ac-south", 530, "S-L530"), name="c530",
                 send=at(-1, "10:30:00"), wait=("R5", "no-cycle:SS6:SG-61"))

    def cross_midnight(self):
        """SS1 on s-m01: an hour from 30 minutes before UTC midnight (10:30
        local in summer), one local day. SC-11 passes 400,000 strokes
        at 11:25 (R3 wear) and is taken out as worn (cleared)."""
        day = self.s.date(-6)
        midnight_utc = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        if midnight_utc.astimezone(self.s.zone).date() != day:
            midnight_utc += dt.timedelta(days=1)
        t0, dev, sid, motor = midnight_utc - dt.timedelta(minutes=30), "s-m01", "SS1", 1795980
        self.add(dev, t0, start(sid))
        self.add(dev, t0 + dt.timedelta(seconds=60), insert("SC-11", sid))
        for k in range(1, 12):
            run = 300 * k - 60
            self.add(dev, t0 + dt.timedelta(seconds=300 * k),
                     counters(motor + run, 100 * motor + 124 * run, "SC-11", run, 124 * run))
        self.add(dev, t0 + dt.timedelta(seconds=3540), remove("SC-11", sid, 3480, 431520, "worn"))
        self.add(dev, t0 + dt.timedelta(seconds=3600), end(sid, 3480, 431520))
        assert 124 * (3300 - 60) > 400000 >= 124 * (3000 - 60)

    def number(self):
        """Send order (stable: a device's records keep their order), and
        each record's seq: its place in its device's feed."""
        self.events.sort(key=lambda e: e["send"])
        seqs = {}
        last = {}
        for e in self.events:
            seqs[e["dev"]] = seqs.get(e["dev"], 0) + 1
            e["seq"] = seqs[e["dev"]]
            assert last.get(e["dev"], e["ts"]) <= e["ts"], "device time goes back on " + e["dev"]
            last[e["dev"]] = e["ts"]
        assert max(seqs.values()) < 100, "an agent signs a checkpoint (timed now) every 100 records"

    def ref(self, name):
        e = self.by_name[name]
        return e["dev"], e["seq"], ts_text(e["ts"])


# ---------------------------------------------------------------- feed


def acked(db, dev):
    try:
        row = db.execute("SELECT acked_seq FROM device_state WHERE device_id = ?", (dev,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    return row[0] if row else 0


def wait_for(what, cond, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    print("feed: gave up waiting %d s for %s" % (limit, what), file=sys.stderr)
    return False


def send_group(work, dev, group):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("%s/feed-%s.sock" % (work, dev))
    lines = []
    for e in group:
        body = dict(e["body"], ts=ts_text(e["ts"]))
        lines.append(json.dumps(body, separators=(",", ":")) + "\n")
    s.sendall("".join(lines).encode())
    s.shutdown(socket.SHUT_WR)
    buf = b""
    while buf.count(b"\n") < len(group):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    got = buf.decode().splitlines()
    want = ["ok %d" % e["seq"] for e in group]
    if got != want:
        raise SystemExit("feed %s: answers %s, expected %s" % (dev, got, want))


def feed(args):
    sc = Scenario(utc(args.now))
    db = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True, isolation_level=None)
    failures = []
    stuck = set()
    ev = sc.events
    i = 0
    started = time.monotonic()
    groups = 0
    while i < len(ev):
        dev = ev[i]["dev"]
        if ev[i]["wait"]:
            rule, cause = ev[i]["wait"]
            q = "SELECT count(*) FROM alerts WHERE rule = ? AND cause = ? AND state IS NULL"
            if not wait_for("%s %s" % (rule, cause),
                            lambda: db.execute(q, (rule, cause)).fetchone()[0] > 0, SETTLE_WAIT_S):
                failures.append("%s %s was never raised; %s sent anyway" % (rule, cause, ev[i]["name"]))
        j = i + 1
        while j < len(ev) and ev[j]["dev"] == dev and not ev[j]["wait"]:
            j += 1
        send_group(args.work, dev, ev[i:j])
        groups += 1
        want = ev[j - 1]["seq"]
        if dev not in stuck and not wait_for("%s ack of seq %d" % (dev, want),
                                             lambda: acked(db, dev) >= want, ACK_WAIT_S):
            failures.append("%s: the collector never acked seq %d" % (dev, want))
            stuck.add(dev)
        i = j
    print("fed %d records in %d groups in %.1f s" % (len(ev), groups, time.monotonic() - started))
    for f in failures:
        print("FEED: " + f)
    return 1 if failures else 0


# ---------------------------------------------------------------- checks


def diff(what, want, got):
    if want == got:
        print("ok: %s" % what)
        return 0
    print("FAIL: %s differs (--- expected, +++ got):" % what)
    sys.stdout.writelines(difflib.unified_diff([l + "\n" for l in want], [l + "\n" for l in got],
                                               "expected", "got"))
    return 1


def alerts(args):
    """Columns of `smpctl alerts list` by the header's offsets (every column
    is padded to its widest cell; the message comes last)."""
    with open(args.input) as f:
        lines = f.read().splitlines()
    head = lines[0]
    names = ["id", "clinic", "rule", "severity", "device", "cause", "raised", "acked by/at",
             "cleared", "message"]
    starts = [head.index(n if i == 0 else "  " + n) + (0 if i == 0 else 2) for i, n in enumerate(names)]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        c = dict(zip(names, cells))
        state = ("open" if c["cleared"] == "-" else
                 "withdrawn" if c["cleared"].startswith("withdrawn") else "cleared")
        rows.append((c["rule"], c["severity"], c["device"], c["clinic"], c["cause"], state,
                     c["message"]))
    rows.sort(key=lambda r: (int(r[0][1:]), r[1:]))
    for r in rows:
        print(" ".join(r[:6]))
    with open(args.md, "w") as f:
        f.write("| rule | severity | device | clinic | cause | state | message |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |\n")
    return 0


def r7(args):
    sc = Scenario(utc(args.now))
    db = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True)
    rows = db.execute("SELECT evidence FROM alerts WHERE rule = 'R7'").fetchall()
    if len(rows) != 1:
        print("FAIL: %d R7 alerts, expected 1" % len(rows))
        return 1
    ev = json.loads(rows[0][0])

    def load(cycle_name):
        dev, seq, _ = sc.ref(cycle_name)
        return {"load_id": sc.by_name[cycle_name]["body"]["load_id"], "device": dev, "seq": seq}

    def session(grip_name):
        dev, seq, _ = sc.ref(grip_name)
        b = sc.by_name[grip_name]["body"]
        return {"session_id": b["session_id"], "device": dev, "seq": seq, "load_id": b["load_id"]}

    # docs/rules.md R7: the window runs from the cycle that carried the last
    # negative test (301, 08:00; its reading at 12:00 does not matter) and
    # stays open (no re-test). In it: loads 302 (run between 301 and the
    # reading), 303, 311 and 321 (one cycle, filed as ac-north's: the
    # first stored); not 310 (Bowie-Dick) nor 320 (the BI's own cycle),
    # test-only cycles no grip came from. Sessions: the grips from those
    # loads stored before the positive test (NG-51 came after the alert).
    neg_dev, neg_seq, neg_ts = sc.ref("t-neg")
    pos_dev, pos_seq, pos_ts = sc.ref("t-pos")
    want = {
        "test": {"device": pos_dev, "seq": pos_seq, "ts": pos_ts, "cycle_ts": sc.ref("c320")[2],
                 "cycle_on_record": True},
        "last_negative": {"device": neg_dev, "seq": neg_seq, "ts": neg_ts,
                          "cycle_ts": sc.ref("c301")[2], "cycle_on_record": True},
        "window": {"after": sc.ref("c301")[2], "before": None},
        "loads": [load("c302"), load("c303"), load("c311"), load("c321")],
        "loads_listed": 4, "loads_total": 4,
        "sessions": [session("g11"), session("g12"), session("g21"), session("g31")],
        "sessions_listed": 4, "sessions_total": 4,
    }
    got = {k: ev.get(k) for k in want}
    for k in ("test", "last_negative"):
        if isinstance(got[k], dict):
            got[k] = {f: got[k].get(f) for f in want[k]}
    dump = lambda o: json.dumps(o, indent=1, sort_keys=True).splitlines()
    return diff("R7 recall (window, loads, sessions)", dump(want), dump(got))


def cycles(args):
    """docs/rules.md: a cycle (sterilizer, cycle_no) of a clinic is one
    fact, the first record of it stored (rule_cycles), whichever device
    logged it and however often."""
    sc = Scenario(utc(args.now))
    db = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True)
    want = []
    for clinic, names in (("north", ["c301", "c302", "c303", "c310", "c311", "c320", "c321"]),
                          ("south", ["c500", "c510", "c520", "c521", "c525", "c530"])):
        for name in names:
            b = sc.by_name[name]["body"]
            dev, seq, ts = sc.ref(name)
            want.append("%s %s %d %s %d %s" % (clinic, b["sterilizer_id"], b["cycle_no"], dev, seq, ts))
    try:
        got = ["%s %s %d %s %d %s" % r for r in db.execute(
            "SELECT clinic, sterilizer_id, cycle_no, device_id, seq, ts FROM rule_cycles "
            "ORDER BY clinic, sterilizer_id, cycle_no")]
    except sqlite3.OperationalError as e:
        got = ["rule_cycles: %s" % e]
    return diff("each cycle's fact (rule_cycles)", want, got)


def expected_report(sc, clinic):
    """docs/reports.md: days are the clinic's local days; a session counts
    on the day of its session.start, its strokes on the day of its
    session.end; a cycle once (the first of two identical or conflicting
    logs), failed when R4 failed it; violations are alerts raised in the
    period or citing a record of it, maintenance (R3, R8, R11) apart,
    withdrawn ones listed and not counted. R6 (raised today, citing no
    record) and R10 (its record is timed today) are not in the week."""
    if clinic == "north":
        days = {-7: (0, 0, 2, 0), -6: (1, 108000, 1, 0), -5: (1, 108000, 0, 0),
                -4: (1, 1372000, 2, 0), -3: (1, 86900, 2, 0), -2: (1, 108000, 0, 0),
                -1: (1, 108000, 0, 0)}
        summary = {"devices": 3, "sessions": 6, "cartridges": 9, "strokes": 1890900,
                   "cycles_passed": 7, "cycles_failed": 0, "spore_tests": 2, "spore_positive": 1,
                   "bowie_dick_tests": 1, "bowie_dick_failed": 0, "violations": 4,
                   "maintenance_notices": 0, "withdrawn": 0, "open_alerts": 4}
        by_rule = {"R1": (1, 1), "R2": (1, 1), "R5": (1, 1), "R7": (1, 1)}
        listed = [("R1", "critical", "n-m01", "reused:NC-11:NS6", "open"),
                  ("R2", "warning", "n-m01", "no-lot:NC-51:NS5", "open"),
                  ("R5", "critical", "n-m01", "recalled:NS5:NG-51", "open"),
                  ("R7", "critical", "ac-north", "positive:ac-north:n-m02#%d" % sc.ref("t-pos")[1],
                   "open")]
        week = sc.n
    else:
        days = {-7: (0, 0, 0, 0), -6: (1, 431520, 0, 0), -5: (1, 108000, 1, 0),
                -4: (1, 108000, 0, 0), -3: (1, 108000, 1, 1), -2: (1, 108000, 1, 0),
                -1: (1, 108000, 1, 0)}
        summary = {"devices": 2, "sessions": 6, "cartridges": 6, "strokes": 971520,
                   "cycles_passed": 4, "cycles_failed": 1, "spore_tests": 0, "spore_positive": 0,
                   "bowie_dick_tests": 0, "bowie_dick_failed": 0, "violations": 4,
                   "maintenance_notices": 3, "withdrawn": 1, "open_alerts": 3}
        by_rule = {"R2": (1, 1), "R4": (1, 0), "R5": (1, 1), "R9": (1, 1)}
        listed = [("R11", "maintenance", "s-m01", "service:500h", "open"),
                  ("R2", "critical", "s-m02", "expired:SC-31:SS3", "open"),
                  ("R3", "maintenance", "s-m01", "wear:SC-11", "cleared"),
                  ("R4", "cycle-failed", "ac-south", "load:S-L520", "cleared"),
                  ("R5", "critical", "s-m02", "failed-load:SS4:SG-41", "open"),
                  ("R5", "critical", "s-m02", "no-cycle:SS6:SG-61", "withdrawn"),
                  ("R8", "maintenance", "s-m02", "gap:SS4", "open"),
                  ("R9", "integrity", "ac-south", "cycle-conflict:ac-south:525", "open")]
        week = sc.s
    out = ["period %s %s %s %s %s" % (week.date(-7), week.date(-1), week.zone.key,
                                      ts_text(week.midnight(-7)), ts_text(week.midnight(0)))]
    out += ["summary %s %s" % (k, summary[k]) for k in sorted(summary)]
    out += ["by_rule %s count %d open %d" % (r, c, o) for r, (c, o) in sorted(by_rule.items())]
    for d in range(-7, 0):
        s, strokes, cp, cf = days[d]
        out.append("day %s starts %s sessions %d strokes %d cycles %d/%d" %
                   (week.date(d), ts_text(week.midnight(d)), s, strokes, cp, cf))
    out += ["listed %s" % " ".join(v) for v in sorted(listed)]
    return out


def got_report(rep):
    p, s = rep["period"], rep["summary"]
    out = ["period %s %s %s %s %s" % (p["from"], p["to"], p["timezone"], p["from_utc"], p["until_utc"])]
    keys = ["devices", "sessions", "cartridges", "strokes", "cycles_passed", "cycles_failed",
            "spore_tests", "spore_positive", "bowie_dick_tests", "bowie_dick_failed", "violations",
            "maintenance_notices", "withdrawn", "open_alerts"]
    out += ["summary %s %s" % (k, s.get(k)) for k in sorted(keys)]
    out += ["by_rule %s count %d open %d" % (r["rule"], r["count"], r["open"])
            for r in sorted(s["violations_by_rule"], key=lambda r: r["rule"])]
    for d in rep["days"]:
        out.append("day %s starts %s sessions %d strokes %d cycles %d/%d" %
                   (d["date"], d["starts_at"], d["sessions"], d["strokes"], d["cycles_passed"],
                    d["cycles_failed"]))
    out += ["listed %s" % " ".join(v) for v in
            sorted((v["rule"], v["severity"], v["device_id"], v["cause"], v["status"])
                   for v in rep["violations"])]
    return out


def report(args):
    sc = Scenario(utc(args.now))
    with open(args.json) as f:
        rep = json.load(f)
    return diff("%s report of the week" % args.clinic, expected_report(sc, args.clinic),
                got_report(rep))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("feed")
    p.add_argument("--now", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--db", required=True)
    p = sub.add_parser("alerts")
    p.add_argument("--in", dest="input", required=True)
    p.add_argument("--md", required=True)
    p = sub.add_parser("r7")
    p.add_argument("--now", required=True)
    p.add_argument("--db", required=True)
    p = sub.add_parser("cycles")
    p.add_argument("--now", required=True)
    p.add_argument("--db", required=True)
    p = sub.add_parser("report")
    p.add_argument("--now", required=True)
    p.add_argument("--clinic", required=True, choices=sorted(ZONES))
    p.add_argument("--json", required=True)
    args = ap.parse_args()
    return {"feed": feed, "alerts": alerts, "r7": r7, "cycles": cycles, "report": report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
