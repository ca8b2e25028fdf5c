"""python-memcached (import memcache) through the proxy: the calls a Python
application on the original magent makes, with pickled objects, counters,
gets/cas, multi operations and large binary values."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import check, check_true, finish, proxy, run_prefix  # noqa: E402

try:
    import memcache
except ImportError as error:
    print("python-memcached is not importable by %s: %s (Debian package python3-memcache)" % (sys.executable, error))
    sys.exit(2)
print("python-memcached %s, Python %s" % (memcache.__version__, sys.version.split()[0]))

host, port = proxy()
p = run_prefix("pm")
# debug=1: the client prints any server error it swallows.
mc = memcache.Client(["%s:%d" % (host, port)], debug=1, cache_cas=True, socket_timeout=10)

check("set", True, mc.set(p + "a", "alpha"))
check("get", "alpha", mc.get(p + "a"))
check("get miss", None, mc.get(p + "missing"))
check("add existing", False, mc.add(p + "a", "x"))
check("add new", True, mc.add(p + "b", "beta"))
check("replace missing", False, mc.replace(p + "none", "x"))
check("replace", True, mc.replace(p + "b", "beta2"))
check("append", True, mc.append(p + "b", ">"))
check("prepend", True, mc.prepend(p + "b", "<"))
check("get after append/prepend", "<beta2>", mc.get(p + "b"))
check("delete", 1, mc.delete(p + "b"))
check("get deleted", None, mc.get(p + "b"))

# Counters.
check("set int", True, mc.set(p + "n", 10))
check("get int", 10, mc.get(p + "n"))
check("incr", 11, mc.incr(p + "n"))
check("incr 9", 20, mc.incr(p + "n", 9))
check("decr 5", 15, mc.decr(p + "n", 5))
check("incr missing", None, mc.incr(p + "nocounter"))
check("touch", 1, mc.touch(p + "n", 100))
check("touch missing", 0, mc.touch(p + "touch_missing", 100))

# Typed and pickled values (the type rides in the flags).
values = {"str": "text", "int": 7, "bigint": 2 ** 70, "float": 2.5, "bool": True,
          "list": [1, "two", 3.0], "dict": {"a": [1, 2], "b": {"c": None}}, "tuple": (1, 2), "bytes": b"\x00\xff"}
for name, value in values.items():
    check("set %s" % name, True, mc.set(p + "t_" + name, value))
for name, value in values.items():
    check("get %s" % name, value, mc.get(p + "t_" + name))

# set_multi / get_multi with a key prefix, across both primaries.
items = {"k%d" % i: "value %d" % i for i in range(60)}
check("set_multi", [], mc.set_multi(items, key_prefix=p))
check("get_multi", items, mc.get_multi(list(items) + ["missing"], key_prefix=p))
check("delete_multi", 1, mc.delete_multi(["k1", "k2"], key_prefix=p))
check("get_multi after delete", {"k3": "value 3"}, mc.get_multi(["k1", "k2", "k3"], key_prefix=p))

# gets / cas.
check("set for cas", True, mc.set(p + "c", "v1"))
check("gets", "v1", mc.gets(p + "c"))
check("cas", True, mc.cas(p + "c", "v2"))
other = memcache.Client(["%s:%d" % (host, port)], debug=1, cache_cas=True, socket_timeout=10)
check("gets on a second client", "v2", other.gets(p + "c"))
check("cas by the second client", True, other.cas(p + "c", "v3"))
check("cas with a stale token", False, mc.cas(p + "c", "v4"))
check("value after cas", "v3", mc.get(p + "c"))
other.disconnect_all()

# Values containing the protocol's terminators, and large binary values.
tricky = b"\r\nEND\r\nVALUE x 0 1\r\nz\r\nEND\r\n"
check("set \\r\\nEND\\r\\n value", True, mc.set(p + "tricky", tricky))
check("get \\r\\nEND\\r\\n value", tricky, mc.get(p + "tricky"))
for size in (200_000, 1_000_000):
    large = os.urandom(size)
    # min_compress_len=0: stored as is (random bytes do not compress anyway).
    check("set %d random bytes" % size, True, mc.set(p + "large%d" % size, large))
    got = mc.get(p + "large%d" % size)
    check("get %d random bytes" % size, hashlib.md5(large).hexdigest(), hashlib.md5(got or b"").hexdigest())
text = "compressible " * 50_000
check("set compressed", True, mc.set(p + "z", text, min_compress_len=1000))
check("get compressed", text, mc.get(p + "z"))

mc.disconnect_all()
finish("python-memcached")
