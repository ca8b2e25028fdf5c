#!/usr/bin/python3
"""Traffic for scripts/leak-check.sh: connects and disconnects (clean, reset,
mid-value, mid-reply, never reading), pipelined and multi-key requests, and
backend failures (the script kills and restarts a memcached in the middle).
Usage: leak_scenario.py PROXY_PORT PHASE   (PHASE: before, during, after)."""
import socket
import struct
import sys
import time

port = int(sys.argv[1])
phase = sys.argv[2]


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until(s, marker, limit=1 << 24):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


deadline = time.time() + 60
for round in range(300):
    if time.time() > deadline:
        break
    key = f"{phase}-{round}"
    s = connect()
    value = (key * 50)[:1000].encode()
    s.sendall(b"set %s 0 0 %d\r\n%s\r\nget %s %s-x other\r\n" % (key.encode(), len(value), value, key.encode(), key.encode()))
    read_until(s, b"END\r\n")
    kind = round % 6
    if kind == 0:
        s.close()
    elif kind == 1:
        reset(s)
    elif kind == 2:  # leaves in the middle of a value
        s.sendall(b"set half 0 0 100000\r\n" + b"h" * 5000)
        time.sleep(0.01)
        reset(s)
    elif kind == 3:  # leaves in the middle of a reply
        s.sendall(b"get %s\r\n" % key.encode() * 200)
        s.recv(100)
        s.close()
    elif kind == 4:  # pipelined writes with noreply, incr, delete, then quit
        s.sendall(b"set n 0 0 1 noreply\r\n1\r\nincr n 5\r\ndelete n noreply\r\nadd a%s 0 0 1\r\nx\r\n"
                  b"append a%s 0 0 1\r\ny\r\nflush_all 0 noreply\r\nquit\r\n" % (key.encode(), key.encode()))
        read_until(s, b"STORED\r\nSTORED\r\n")
        s.close()
    else:  # an unfinished line, a bad command, then close
        s.sendall(b"bogus\r\nget " + b"k" * 300 + b"\r\nget unfinished")
        read_until(s, b"CLIENT_ERROR")
        s.close()

# A client that never reads a large reply (disconnected past the output limit).
s = connect()
big = b"b" * 900000
s.sendall(b"set big 0 0 %d\r\n%s\r\n" % (len(big), big))
read_until(s, b"STORED\r\n")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.sendall(b"get big\r\n" * 60)
time.sleep(1)
s.close()
print(f"leak scenario {phase}: done")
