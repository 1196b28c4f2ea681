#!/usr/bin/env python3
"""Run exactly the named integration tests (used by tools/vmtest's guests).

    python3 tests/vm/pick.py NAME_OR_GLOB...

Unlike `tests/run.sh -k SUBSTRING`, a NAME selects the test of that name only
(`leak` is not also leak_reconcile0 or run_py_leak), and a glob (`run_*`,
`hooks_*`) selects the names it matches.  Each argument must select at least
one test, or nothing runs and the exit status is 2: a renamed test cannot drop
out of the guest runs unnoticed.  Runs them with tests/integration/runner.py
(same per-test timeout and cleanup), prints its PASS/FAIL/SKIP lines and closes
with "N passed, N failed, N skipped".  Exit status 1 if any test failed.
"""
import fnmatch
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import runner  # noqa: E402


def main(argv):
    if not argv:
        print("usage: pick.py NAME_OR_GLOB...", file=sys.stderr)
        return 2
    tests = runner.collect()
    chosen, unmatched = [], []
    for pat in argv:
        hits = [t for t in tests if t[0] == pat]
        if not hits and any(c in pat for c in "*?["):
            hits = [t for t in tests if fnmatch.fnmatchcase(t[0], pat)]
        if not hits:
            unmatched.append(pat)
        for t in hits:
            if t not in chosen:
                chosen.append(t)
    if unmatched:
        print("pick.py: no integration test named %s (see runner.py --list)"
              % ", ".join(unmatched), file=sys.stderr)
        return 2
    runner.collect = lambda: list(chosen)

    # count the runner's result lines while passing them through
    class Tally(io.TextIOBase):
        def __init__(self, out):
            self.out, self.buf, self.n = out, "", {"PASS": 0, "FAIL": 0, "SKIP": 0}

        def write(self, s):
            self.out.write(s)
            self.buf += s
            while "\n" in self.buf:
                line, self.buf = self.buf.split("\n", 1)
                k = line.split(" ", 1)[0]
                if k in self.n:
                    self.n[k] += 1
            return len(s)

        def flush(self):
            self.out.flush()

    tally = Tally(sys.stdout)
    sys.stdout = tally
    try:
        rc = runner.main([])
    finally:
        sys.stdout = tally.out
    n = tally.n
    print("%d passed, %d failed, %d skipped" % (n["PASS"], n["FAIL"], n["SKIP"]), flush=True)
    return 1 if rc or n["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
