"""`rcleak report`: how it reads files that are not whole captures, and what
its summary and --at say, against the ground truth of the scenario (the
clients' known behaviour, ss, Redis INFO clients) and the bytes of the file.

Run alone:  python3 tests/integration/runner.py -k report_
"""
import os
import shutil
import tempfile
import atexit

from harness import Fail, Redis, check
from test_record import Recorder, parse_capture, report, write_bytes

TESTS = ["test_report_errors_name_file_once"]


# ---------------------------------------------------------------------------
# a small capture, made once and shared
# ---------------------------------------------------------------------------
_SMALL = {}


def small():
    """A capture of a redis-server alone, `record -d 1 -i 0.5`: its path,
    bytes, container layout (parse_capture) and the live lines."""
    if _SMALL:
        return _SMALL
    r = Redis()
    d = tempfile.mkdtemp(prefix="rcleak-report-small-")   # outlives harness.cleanup()
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "small.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "1"])
    check(rec.wait() == 0, "record: %s" % rec.describe())
    with open(path, "rb") as f:
        data = f.read()
    _SMALL.update(dir=d, path=path, data=data, info=parse_capture(data, "small capture"),
                  live=rec.live())
    return _SMALL


def one_line_err(err):
    """stderr is exactly one line (with its newline)."""
    return err.endswith("\n") and err.count("\n") == 1


# ---------------------------------------------------------------------------
# every refusal names its file once, in one line
# ---------------------------------------------------------------------------
def test_report_errors_name_file_once():
    """The reason a file cannot be read names it once: the reader's message
    already carries the path, and the caller used to add it again
    (`rcleak: /tmp: /tmp: not a regular file`)."""
    s = small()
    d = tempfile.mkdtemp(prefix="rcleak-report-names-")
    atexit.register(shutil.rmtree, d, True)
    hend = s["info"]["header_end"]
    cases = [("a directory", d, None), ("a missing file", os.path.join(d, "missing.rcl"), None),
             ("/dev/null", "/dev/null", None),
             ("a text file", os.path.join(d, "text.rcl"), b"hello, this is not a capture\n"),
             ("a header cut short", os.path.join(d, "cut.rcl"), s["data"][:hend - 25]),
             ("a damaged header", os.path.join(d, "flip.rcl"),
              s["data"][:20] + bytes([s["data"][20] ^ 0xFF]) + s["data"][21:])]
    problems = []
    for what, path, body in cases:
        if body is not None:
            write_bytes(path, body)
        rc, out, err = report([path])
        if rc in (0, None) or rc < 0 or rc >= 128 or out:
            problems.append("%s: exit %s, stdout %r; expected a refusal" % (what, rc, out[:100]))
        if not one_line_err(err) or err.count(path) != 1:
            problems.append("%s: stderr %r; expected one line naming %s once" % (what, err, path))
    check(not problems, " | ".join(problems))
