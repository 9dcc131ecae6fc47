#!/usr/bin/python3
"""feed_client.py SOCKET: sends test lines to an agent's feed socket and
prints one answer per line it expects an answer for, in order.

Each case is sent on its own connection unless noted, so a producer that
misbehaves (a half line, then hang-up) is seen from a fresh one afterwards."""
import socket
import sys

path = sys.argv[1]

def exchange(payload, answers):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)       # half-close: we still read answers
    buf = b""
    while buf.count(b"\n") < answers:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    for line in buf.decode().splitlines():
        print(line)

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
