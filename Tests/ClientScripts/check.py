"""Shared by the Python client checks: where the proxy is, and checks that
count failures and make the script exit non-zero on any mismatch."""
import os
import sys

failures = 0
checks = 0


def proxy():
    """(host, port) of the proxy under test, from MAGENT_HOST / MAGENT_PORT."""
    port = os.environ.get("MAGENT_PORT")
    if not port:
        print("MAGENT_PORT is not set")
        sys.exit(2)
    return os.environ.get("MAGENT_HOST", "127.0.0.1"), int(port)


def show(value):
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "... (%d chars)" % len(text)


def check(what, expected, actual):
    """Records one check; prints both sides on a mismatch."""
    global failures, checks
    checks += 1
    if type(expected) is type(actual) and expected == actual:
        return True
    failures += 1
    print("FAIL %s\n  expected: %s\n  actual:   %s" % (what, show(expected), show(actual)), flush=True)
    return False


def check_true(what, condition, detail=""):
    return check(what + (" (%s)" % detail if detail else ""), True, bool(condition))


def run_prefix(name):
    """A unique key prefix per run, so a rerun cannot pass on old data."""
    return "%s_%d_%s_" % (name, os.getpid(), os.urandom(3).hex())


def finish(name):
    print("%s: %d checks, %d failed" % (name, checks, failures), flush=True)
    sys.exit(0 if failures == 0 else 1)
