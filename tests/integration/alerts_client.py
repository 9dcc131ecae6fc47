#!/usr/bin/python3
"""alerts_client.py: helpers for test_chair_alerts.sh.

  alerts_client.py listen SOCKET OUT    connects to an agent's alerts_socket and
                                        appends "<epoch seconds> <line>" to OUT
                                        for every line, until the agent closes
  alerts_client.py send SOCKET LINE     sends LINE to a feed socket and prints
                                        "<answer> <epoch seconds>" (the time the
                                        answer arrived)
  alerts_client.py wait OUT SECONDS KEY=VALUE...
                                        waits until OUT holds a line whose JSON
                                        has every KEY=VALUE; prints "<epoch> <line>"
                                        of the first, exit 1 on timeout"""
import json
import socket
import sys
import time


def listen(path, out):
    # A just-restarted agent may not have made its socket yet (its old
    # status file can already say connected): retry for up to 10 s.
    deadline = time.time() + 10
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    f = s.makefile("rb")
    with open(out, "a") as o:
        for raw in f:
            o.write("%.6f %s\n" % (time.time(), raw.decode().rstrip("\n")))
            o.flush()


def send(path, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(line.encode() + b"\n")
    f = s.makefile("rb")
    answer = f.readline().decode().strip()
    print("%s %.6f" % (answer or "no-answer", time.time()))


def matches(line, want):
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return all(str(obj.get(k)) == v for k, v in want.items())


def wait(out, seconds, pairs):
    want = dict(p.split("=", 1) for p in pairs)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            with open(out) as f:
                for row in f:
                    stamp, _, line = row.rstrip("\n").partition(" ")
                    if matches(line, want):
                        print(stamp, line)
                        return 0
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return 1


if sys.argv[1] == "listen":
    listen(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "send":
    send(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "wait":
    sys.exit(wait(sys.argv[2], sys.argv[3], sys.argv[4:]))
