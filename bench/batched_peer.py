#!/usr/bin/python3
"""The second reference for `make bench`: /work/shared/peers/naive_collector.py as a
careful engineer would improve it in an afternoon -- one SQLite transaction per 64
messages instead of one per message.

Same job as the naive peer: subscribe to the fleet's events over mutual TLS with
Debian's python3-paho-mqtt (1.6), json-parse each batch message, insert its records into
SQLite (same table, WAL). No validation, no chain checks, no rules, no acks to devices.
The only change: the commit comes after 64 messages, or as soon as nothing has arrived
for --idle seconds (so the tail of a burst is not left waiting), and before exit.

Durability is weaker than the naive peer's and the collector's: Paho 1.6 PUBACKs a QoS 1
message when on_message returns, before the commit, so a crash can lose up to 63
acknowledged messages. That only makes this reference faster, i.e. harder to beat.

Usage (the naive peer's options, plus --batch and --idle):
  batched_peer.py --host 127.0.0.1 --port 8883 --cafile ca.crt --cert c.crt --key c.key \
      --db peer.db --expect 100000 [--client-id ID] [--timeout 300] [--batch 64] [--idle 0.1]

It exits when --expect records are committed, printing one line:
  batched-peer: stored N records in S s (R records/s)
timed from its first message. Exit status: 0 when all were stored, 1 on timeout.
"""
import argparse
import json
import sqlite3
import ssl
import sys
import time

import paho.mqtt.client as mqtt

SCHEMA = ("CREATE TABLE IF NOT EXISTS records (device TEXT, seq INTEGER, ts TEXT,"
          " type TEXT, body TEXT, PRIMARY KEY (device, seq))")


class Store:
    """Records inserted into the open transaction; commit() makes them count."""

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.commit()
        self.committed = 0      # records on disk
        self.pending = 0        # records inserted since the last commit
        self.messages = 0       # messages since the last commit

    def add(self, payload):
        try:
            batch = json.loads(payload)
            dev = batch["device"]
            rows = [(dev, r["seq"], r.get("ts"), r.get("type"), json.dumps(r))
                    for r in batch["records"]]
        except (ValueError, KeyError, TypeError):
            return              # like the naive peer: skip what does not parse
        cur = self.db.executemany("INSERT OR IGNORE INTO records VALUES (?,?,?,?,?)", rows)
        self.pending += cur.rowcount
        self.messages += 1

    def commit(self):
        if self.messages == 0:
            return
        self.db.commit()
        self.committed += self.pending
        self.pending = 0
        self.messages = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8883)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--topic", default="smp/v1/dev/+/events")
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--client-id", default="batched-peer")
    ap.add_argument("--batch", type=int, default=64, help="messages per transaction")
    ap.add_argument("--idle", type=float, default=0.1,
                    help="commit a partial batch after this many seconds without a message")
    a = ap.parse_args()
    if a.batch < 1 or a.idle <= 0:
        ap.error("--batch must be >= 1 and --idle > 0")

    store = Store(a.db)
    clock = {"first": None, "last": 0.0}

    def on_connect(client, userdata, flags, rc):
        client.subscribe(a.topic, qos=1)

    def on_message(client, userdata, msg):
        now = time.monotonic()
        if clock["first"] is None:
            clock["first"] = now
        clock["last"] = now
        store.add(msg.payload)
        if store.messages >= a.batch:
            store.commit()

    c = mqtt.Client(client_id=a.client_id, clean_session=False)
    c.tls_set(ca_certs=a.cafile, certfile=a.cert, keyfile=a.key, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.on_connect = on_connect
    c.on_message = on_message
    c.connect(a.host, a.port, keepalive=60)

    deadline = time.monotonic() + a.timeout
    while store.committed < a.expect and time.monotonic() < deadline:
        c.loop(timeout=a.idle / 2)
        if store.messages and time.monotonic() - clock["last"] >= a.idle:
            store.commit()
    store.commit()
    c.disconnect()

    first = clock["first"] or time.monotonic()
    elapsed = max(time.monotonic() - first, 1e-9)
    n = store.committed
    print("batched-peer: stored %d records in %.3f s (%.0f records/s)" % (n, elapsed, n / elapsed))
    return 0 if n >= a.expect else 1


if __name__ == "__main__":
    sys.exit(main())
