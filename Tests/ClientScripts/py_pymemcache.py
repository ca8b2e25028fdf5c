"""pymemcache through the proxy: get_many/set_many, gets/cas, noreply followed
by a read on the same connection, large and binary-safe values, and a pooled
client shared by many threads."""
import hashlib
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import check, check_true, finish, proxy, run_prefix  # noqa: E402

try:
    import pymemcache
    from pymemcache.client.base import Client, PooledClient
except ImportError as error:
    print("pymemcache is not importable by %s: %s (Debian package python3-pymemcache)" % (sys.executable, error))
    sys.exit(2)
print("pymemcache %s, Python %s" % (pymemcache.__version__, sys.version.split()[0]))

server = proxy()
p = run_prefix("py")
client = Client(server, connect_timeout=5, timeout=10, default_noreply=False)

# Single operations.
check("set", True, client.set(p + "a", b"alpha"))
check("get", b"alpha", client.get(p + "a"))
check("get miss", None, client.get(p + "missing"))
check("add existing", False, client.add(p + "a", b"x"))
check("add new", True, client.add(p + "b", b"beta"))
check("replace missing", False, client.replace(p + "none", b"x"))
check("replace", True, client.replace(p + "b", b"beta2"))
check("append", True, client.append(p + "b", b">"))
check("prepend", True, client.prepend(p + "b", b"<"))
check("get after append/prepend", b"<beta2>", client.get(p + "b"))
check("incr", None, client.incr(p + "nocounter", 1))
check("set counter", True, client.set(p + "n", b"10"))
check("incr", 15, client.incr(p + "n", 5))
check("decr", 5, client.decr(p + "n", 10))
check("touch", True, client.touch(p + "n", 100))
check("touch missing", False, client.touch(p + "touch_missing", 100))
check("delete", True, client.delete(p + "n"))
check("delete missing", False, client.delete(p + "n"))


class FlagsSerde:
    """Stores bytes with the caller's flags and records the flags read back."""
    def __init__(self):
        self.flags = {}

    def serialize(self, key, value):
        return value[0], value[1]

    def deserialize(self, key, value, flags):
        self.flags[key] = flags
        return value


serde = FlagsSerde()
flagged = Client(server, connect_timeout=5, timeout=10, default_noreply=False, serde=serde)
check("set with flags", True, flagged.set(p + "flags", (b"v", 0xBEEF)))
check("get with flags", b"v", flagged.get(p + "flags"))
check("flags read back", 0xBEEF, serde.flags.get(p + "flags") or serde.flags.get((p + "flags").encode()))
flagged.close()
version = client.version()
check_true("version", isinstance(version, bytes) and len(version) > 0, repr(version))

# set_many / get_many across both primaries.
items = {"%smany%d" % (p, i): ("value %d" % i).encode() for i in range(80)}
check("set_many", [], client.set_many(items))
keys = list(items) + [p + "many_missing"]
check("get_many", items, client.get_many(keys))
check("get_many of misses", {}, client.get_many([p + "x1", p + "x2"]))
check("delete_many", True, client.delete_many(list(items)[:10]))
check("get_many after delete_many", dict(list(items.items())[10:]), client.get_many(keys))

# gets / cas.
check("set for cas", True, client.set(p + "c", b"v1"))
value, token = client.gets(p + "c")
check("gets value", b"v1", value)
check_true("gets token", isinstance(token, bytes) and token.isdigit(), repr(token))
check("cas current", True, client.cas(p + "c", b"v2", token))
check("cas stale", False, client.cas(p + "c", b"v3", token))
check("cas missing", None, client.cas(p + "cas_missing", b"v", token))
check("value after cas", b"v2", client.get(p + "c"))
many = client.gets_many([p + "c", p + "a", p + "gets_missing"])
check("gets_many keys", sorted([p + "c", p + "a"]), sorted(many))
check("gets_many value", b"v2", many.get(p + "c", (None,))[0])
check("cas with gets_many token", True, client.cas(p + "c", b"v4", many[p + "c"][1]))
check("value after second cas", b"v4", client.get(p + "c"))

# noreply writes, then reads on the same connection: every write applied, in order.
for i in range(200):
    client.set("%snr%d" % (p, i), b"first", noreply=True)
    client.set("%snr%d" % (p, i), ("second %d" % i).encode(), noreply=True)
check("set noreply returns True", True, client.set(p + "nr_last", b"last", noreply=True))
client.delete("%snr0" % p, noreply=True)
client.set(p + "nrc", b"1", noreply=True)
client.incr(p + "nrc", 41, noreply=True)
client.append(p + "nr_last", b"+", noreply=True)
expected = {"%snr%d" % (p, i): ("second %d" % i).encode() for i in range(1, 200)}
expected[p + "nr_last"] = b"last+"
expected[p + "nrc"] = b"42"
check("reads after 400+ noreply writes", expected, client.get_many(list(expected) + ["%snr0" % p]))
check("get after noreply", b"last+", client.get(p + "nr_last"))

# Large and binary-safe values.
every_byte = bytes(range(256)) * 4
check("set all 256 byte values", True, client.set(p + "bin", every_byte))
check("get all 256 byte values", every_byte, client.get(p + "bin"))
tricky = b"\r\nEND\r\nVALUE x 0 1\r\nz\r\nEND\r\n\x00"
check("set \\r\\nEND\\r\\n value", True, client.set(p + "tricky", tricky))
check("get_many with \\r\\nEND\\r\\n value", {p + "tricky": tricky, p + "bin": every_byte},
      client.get_many([p + "tricky", p + "bin"]))
for size in (100_000, 1_000_000, 1024 * 1024 - 1024):
    large = os.urandom(size)
    check("set %d random bytes" % size, True, client.set("%slarge%d" % (p, size), large))
    got = client.get("%slarge%d" % (p, size))
    check("get %d random bytes" % size, hashlib.md5(large).hexdigest(), hashlib.md5(got or b"").hexdigest())
big = {"%sbig%d" % (p, i): os.urandom(300_000) for i in range(6)}
check("set_many of large values", [], client.set_many(big))
got = client.get_many(list(big))
check("get_many of large values", {k: hashlib.md5(v).hexdigest() for k, v in big.items()},
      {k: hashlib.md5(v).hexdigest() for k, v in got.items()})
client.close()

# A pooled client shared by many threads.
THREADS, ROUNDS = 16, 60
# pymemcache 3.5 raises rather than waits when the pool is exhausted: one slot per thread.
pool = PooledClient(server, max_pool_size=THREADS, connect_timeout=5, timeout=10, default_noreply=False)
check("pool counter", True, pool.set(p + "shared", b"0"))
errors = []


def worker(number):
    try:
        for i in range(ROUNDS):
            key = "%spool%d_%d" % (p, number, i)
            value = ("%d:%d" % (number, i)).encode() * (1 + i % 5)
            if not pool.set(key, value):
                errors.append("set %s failed" % key)
            got = pool.get(key)
            if got != value:
                errors.append("get %s: %r != %r" % (key, got, value))
            if pool.incr(p + "shared", 1) is None:
                errors.append("incr failed")
        keys = ["%spool%d_%d" % (p, number, i) for i in range(ROUNDS)]
        many = pool.get_many(keys)
        if len(many) != ROUNDS:
            errors.append("thread %d get_many: %d of %d" % (number, len(many), ROUNDS))
    except Exception as error:  # noqa: BLE001 - any failure is reported
        errors.append("thread %d: %r" % (number, error))


threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(60)
check("threads finished", 0, sum(t.is_alive() for t in threads))
check("errors in threads", [], errors[:10])
check("shared counter", str(THREADS * ROUNDS).encode(), pool.get(p + "shared"))
pool.close()
finish("pymemcache")
