"""What every piece of the integration-test harness shares: where things are
(the tree, the rcleak binary, the helper programs, overridable from the
environment), the tests' constants, and how a test passes, fails or skips
(check(), Fail, Skip, wait_until(), @needs).
"""
import os
import time


HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
CLIENT = os.path.join(TESTS, "clients", "rclient.py")
CONNSTORM = os.environ.get("RCLEAK_TEST_CONNSTORM") or os.path.join(ROOT, "build", "connstorm")
HOLDCONNS = os.environ.get("RCLEAK_TEST_HOLDCONNS") or os.path.join(ROOT, "build", "holdconns")
RCLEAK = os.path.abspath(os.environ.get("RCLEAK") or os.path.join(ROOT, "rcleak"))
PIDFILE = os.environ.get("RCLEAK_TEST_PIDFILE")
EVIDENCE = os.environ.get("RCLEAK_TEST_EVIDENCE")  # where a failing test may leave its files

CONVERGE_S = 10.0          # how long rcleak's JSON may take to match ground truth
INTERVAL = "0.5"           # rcleak -i used by the tests

TIERS = ("tp_btf", "raw_tp", "tracepoint")


class Skip(Exception):
    pass


class Fail(AssertionError):
    pass


def needs(*what):
    """What a test needs, in place of the default ("root", "rcleak"), for the
    runner to check first: @needs("rcleak") runs without root."""
    def deco(fn):
        fn.needs = what
        return fn
    return deco


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def keep_evidence(test, files):
    """A failure that is rare (one run in several, in a TCG guest) is
    understood from its files, not from its one-line message: with
    $RCLEAK_TEST_EVIDENCE set, copy each {name: bytes or str} there under
    TEST/, and say where.  Without it, nothing is kept."""
    if not EVIDENCE:
        return None
    d = os.path.join(EVIDENCE, test)
    try:
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
    except OSError as e:
        return "evidence not kept in %s: %s" % (d, e)
    return "evidence in " + d


def wait_until(pred, timeout=CONVERGE_S, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out waiting for " + what)
        time.sleep(0.05)
