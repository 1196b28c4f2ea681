#!/usr/bin/env python3
"""Run the rcleak integration tests.

Prints one line per test:  PASS name | FAIL name: reason | SKIP name: reason
(tests/run.sh counts those lines and prints the closing summary.)

    python3 tests/integration/runner.py [-k SUBSTRING ...] [--list]

Environment: RCLEAK=/path/to/rcleak (default ../../rcleak from here).
"""
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

MODULES = ["test_cli", "test_cli_privileges", "test_cli_views", "test_counts", "test_server", "test_server_zombies", "test_server_ask", "test_server_ask_shapes", "test_server_limits", "test_edge", "test_namespaces", "test_run", "test_run_out", "test_run_user", "test_run_clients", "test_run_servers", "test_run_tree", "test_run_summary", "test_verdicts", "test_tui", "test_tui_status", "test_tui_conn", "test_tui_edges", "test_record", "test_record_ticks", "test_record_files", "test_record_hostile", "test_report", "test_report_at", "test_report_hostile", "test_report_crafted", "test_report_files", "test_report_skipped", "test_ring", "test_ring_flight", "test_skips", "test_withheld", "test_lifecycle", "test_lifetimes", "test_man"]
PER_TEST_TIMEOUT = 90


class TestTimeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise TestTimeout("test exceeded %ds" % PER_TEST_TIMEOUT)


def collect():
    tests = []
    for m in MODULES:
        mod = importlib.import_module(m)
        for name in getattr(mod, "TESTS", []):
            fn = getattr(mod, name)
            tests.append((name[len("test_"):] if name.startswith("test_") else name, fn,
                          getattr(fn, "needs", ("root", "rcleak"))))
        # parametrised tests: list of (name, fn, needs)
        tests.extend(getattr(mod, "PARAM_TESTS", lambda: [])())
    return tests


def one_line(s):
    s = " ".join(str(s).split())
    return s[:600] + ("..." if len(s) > 600 else "")


def main(argv):
    only = []
    list_only = False
    i = 0
    while i < len(argv):
        if argv[i] == "-k" and i + 1 < len(argv):
            only.append(argv[i + 1])
            i += 2
        elif argv[i] == "--list":
            list_only = True
            i += 1
        else:
            print("usage: runner.py [-k SUBSTRING]... [--list]", file=sys.stderr)
            return 2
    tests = collect()
    if only:
        tests = [t for t in tests if any(k in t[0] for k in only)]
    if list_only:
        for t in tests:
            print(t[0])
        return 0

    is_root = os.geteuid() == 0
    rcleak_ok = harness.have_rcleak()
    signal.signal(signal.SIGALRM, _alarm)
    if is_root and harness.have_bpftool():
        try:
            harness.SUITE_PROGS = harness.rcl_progs()
        except Exception as e:  # noqa: BLE001
            print("# bpftool prog list failed: %s" % e, file=sys.stderr)
    failed = 0
    for name, fn, needs in tests:
        t0 = time.monotonic()
        if "root" in needs and not is_root:
            print("SKIP %s: integration tests need root (run as root or with sudo)" % name,
                  flush=True)
            continue
        if "rcleak" in needs and not rcleak_ok:
            print("FAIL %s: rcleak binary not found or not executable at %s (run make first)"
                  % (name, harness.RCLEAK), flush=True)
            failed += 1
            continue
        result = None
        signal.alarm(PER_TEST_TIMEOUT)
        try:
            fn()
            result = "PASS %s" % name
        except harness.Skip as e:
            result = "SKIP %s: %s" % (name, one_line(e))
        except harness.Fail as e:
            result = "FAIL %s: %s" % (name, one_line(e))
        except TestTimeout as e:
            result = "FAIL %s: %s" % (name, one_line(e))
        except Exception as e:  # harness or environment error
            tb = traceback.extract_tb(e.__traceback__)
            where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
            result = "FAIL %s: error %s: %s (%s)" % (name, type(e).__name__, one_line(e), where)
        finally:
            signal.alarm(0)
            try:
                harness.cleanup()
            except Exception as e:  # noqa: BLE001
                print("# cleanup after %s: %r" % (name, e), file=sys.stderr)
        if os.environ.get("RCLEAK_TEST_VERBOSE"):
            print("# %s took %.1fs" % (name, time.monotonic() - t0), file=sys.stderr)
        if result.startswith("FAIL"):
            failed += 1
        print(result, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        harness.cleanup()
        print("# interrupted", file=sys.stderr)
        sys.exit(130)
