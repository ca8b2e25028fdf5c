"""What a Python client makes of the proxy's plain `stats`: usage
`python3 py_stats.py pymemcache|memcache`. Prints one line, "STATS_JSON " and a
JSON object: "stats", the mapping the client returned for the proxy (null when
it returned nothing or raised), and "detail", what it said. The test
(StatsFormatTests.swift) compares the mapping with the servers' own."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import proxy  # noqa: E402


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


client = sys.argv[1] if len(sys.argv) > 1 else ""
host, port = proxy()
stats = None
detail = ""
if client == "pymemcache":
    try:
        import pymemcache
        from pymemcache.client.base import Client
    except ImportError as error:
        print("pymemcache is not importable by %s: %s (Debian package python3-pymemcache)" % (sys.executable, error))
        sys.exit(2)
    detail = "pymemcache %s" % pymemcache.__version__
    try:
        result = Client((host, port), connect_timeout=5, timeout=10).stats()
        stats = {text(name): text(value) for name, value in result.items()} or None
    except Exception as error:  # the client's own verdict on the reply, reported to the test
        detail += ": raised %r" % error
elif client == "memcache":
    try:
        import memcache
    except ImportError as error:
        print("memcache is not importable by %s: %s (Debian package python3-memcache)" % (sys.executable, error))
        sys.exit(2)
    detail = "python-memcached %s" % getattr(memcache, "__version__", "?")
    # One (server, mapping) pair per server that answered.
    servers = memcache.Client(["%s:%d" % (host, port)], socket_timeout=10).get_stats()
    if servers:
        stats = dict(servers[0][1]) or None
else:
    print("usage: py_stats.py pymemcache|memcache")
    sys.exit(2)
print("STATS_JSON " + json.dumps({"stats": stats, "detail": detail}), flush=True)
