#!/usr/bin/python3
"""feed_client.py SOCKET [COMMAND ...]: talks to an agent's feed socket.

  feed_client.py SOCKET                 sends the test lines below and prints
                                        one answer per line it expects an
                                        answer for, in order
  feed_client.py SOCKET send LINE...    sends each LINE on its own connection,
                                        prints each answer (or "no answer")
  feed_client.py SOCKET fill TAG MAX    sends large grip.assign events one at a
                                        time on one connection until one is
                                        refused or MAX were accepted; prints
                                        "accepted N" then "refused: ANSWER"
                                        (or "refused: none")
  feed_client.py SOCKET big TAG N       sends N such events one at a time, one
                                        answer line each

Each default case is sent on its own connection unless noted, so a producer
that misbehaves (a half line, then hang-up) is seen from a fresh one
afterwards."""
import json
import socket
import sys

path = sys.argv[1]


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def exchange(payload, answers, out=True):
    s = connect()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)       # half-close: we still read answers
    buf = b""
    while buf.count(b"\n") < answers:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    lines = buf.decode().splitlines()
    if out:
        for line in lines:
            print(line)
    return lines


def send(lines):
    for line in lines:
        got = exchange(line.encode() + b"\n", 1, out=False)
        print(got[0] if got else "no answer")


def big_event(tag, n):
    pad = "x" * 100
    return json.dumps({"type": "grip.assign", "grip_id": "%s-g-%06d-%s" % (tag, n, pad),
                       "load_id": "L-" + pad, "session_id": "S-" + pad}).encode() + b"\n"


def big(tag, count):
    s = connect()
    f = s.makefile("rb")
    for n in range(count):
        s.sendall(big_event(tag, n))
        print(f.readline().decode().strip() or "no answer")
    s.close()


def fill(tag, limit):
    """One event at a time: each answer is read before the next line goes."""
    s = connect()
    f = s.makefile("rb")
    accepted = 0
    refused = "none"
    while accepted < limit:
        s.sendall(big_event(tag, accepted))
        answer = f.readline().decode().strip()
        if not answer.startswith("ok "):
            refused = answer or "no answer (connection closed)"
            break
        accepted += 1
    s.close()
    print("accepted %d" % accepted)
    print("refused: %s" % refused)


if len(sys.argv) > 2 and sys.argv[2] == "send":
    send(sys.argv[3:])
    sys.exit(0)
if len(sys.argv) > 2 and sys.argv[2] == "big":
    big(sys.argv[3], int(sys.argv[4]))
    sys.exit(0)
if len(sys.argv) > 2 and sys.argv[2] == "fill":
    fill(sys.argv[3], int(sys.argv[4]))
    sys.exit(0)

good = b'{"type":"grip.assign","grip_id":"g-1","load_id":"L-1","session_id":"S-1"}\n'
exchange(good, 1)
exchange(b"this is not json\n", 1)
exchange(b'{"type":"session.end","session_id":"S-1","run_s":10,"strokes":-5}\n', 1)
exchange(b'{"type":"grip.assign","seq":7,"grip_id":"g","load_id":"L","session_id":"S"}\n', 1)
exchange(b'{"type":"grip.assign","grip_id":"g\x00","load_id":"L","session_id":"S"}\n', 1)
exchange(b'{"type":"grip.assign","grip_id":"g\\u0000x","load_id":"L","session_id":"S"}\n', 1)
exchange(b'{"type":"warp.drive"}\n', 1)
# A half line and a hang-up: no answer, nothing journaled.
exchange(b'{"type":"grip.assign","grip_id":"g-2"', 0)
# An oversized line, then a good one on the same connection.
exchange(b"x" * 20000 + b"\n" + good, 2)
# Several good lines in one write: answered in order after one fsync.
exchange(good * 3, 3)
