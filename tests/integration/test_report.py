"""`rcleak report`: how it reads files that are not whole captures, and what
its summary and --at say, against the ground truth of the scenario (the
clients' known behaviour, ss, Redis INFO clients) and the bytes of the file.

Run alone:  python3 tests/integration/runner.py -k report_
"""
import atexit
import json
import os
import shutil
import tempfile

from harness import Redis, check
from test_record import Recorder, expect_counts, parse_capture, report, write_bytes

TESTS = ["test_report_errors_name_file_once", "test_report_bad_header", "test_report_not_a_capture"]


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


# ---------------------------------------------------------------------------
# exit codes: a capture whose header is cut short or damaged (6), not a
# capture at all (1)
# ---------------------------------------------------------------------------
def test_report_bad_header():
    """The file starts with the magic (as far as it goes), so it is a
    capture, but its header is cut short (at every length from 1 byte to
    one short of whole) or has any one byte after the magic flipped: exit 6,
    as README's table says for a capture cut short or damaged, with one
    line on stderr and nothing on stdout. Given next to a whole capture,
    the whole one is still reported (as many ticks as its chunks hold) and
    the exit is still 6."""
    s = small()
    data, hend = s["data"], s["info"]["header_end"]
    d = tempfile.mkdtemp(prefix="rcleak-report-hdr-")
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "bad.rcl")
    cases = [("cut to %d bytes" % n, data[:n]) for n in range(1, hend)]
    cases += [("byte %d flipped" % i, data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
              for i in range(8, hend)]
    problems = []
    for what, blob in cases:
        write_bytes(path, blob)
        rc, out, err = report([path])
        if rc != 6 or out or not one_line_err(err) or path not in err:
            problems.append("%s: exit %s stdout %r stderr %r" % (what, rc, out[:80], err[:200]))
    check(not problems, "%d of %d damaged headers (file header %d bytes) not exit 6 with one line: %s"
          % (len(problems), len(cases), hend, " | ".join(problems[:5])))

    write_bytes(path, data[:hend - 1])
    ticks, _events = expect_counts(s["info"]["chunks"])
    for args in ([s["path"], path], [path, s["path"]]):
        rc, out, err = report(args + ["--json"])
        try:
            files = json.loads(out)["files"]
        except (ValueError, KeyError):
            files = None
        if rc != 6 or not one_line_err(err) or path not in err or not files or len(files) != 1 \
                or files[0].get("path") != s["path"] or files[0].get("ticks") != ticks:
            problems.append("report %s: exit %s, files %s, stderr %r; expected exit 6, one line about %s "
                            "and the whole capture's summary (%d ticks)" % (
                                " ".join(args), rc, [(f.get("path"), f.get("ticks")) for f in files or []],
                                err[:200], path, ticks))
    check(not problems, " | ".join(problems))


def test_report_not_a_capture():
    """Not a capture at all: a text file, an empty file, /dev/null, a
    directory, a missing file, a capture whose magic has one byte flipped:
    exit 1 (README: a file that cannot be opened or is not a capture), one
    line on stderr that names the file, nothing on stdout."""
    s = small()
    d = tempfile.mkdtemp(prefix="rcleak-report-notcap-")
    atexit.register(shutil.rmtree, d, True)
    files = [("/etc/passwd", "/etc/passwd", None), ("/dev/null", "/dev/null", None),
             ("a directory", d, None), ("a missing file", os.path.join(d, "missing.rcl"), None),
             ("an empty file", os.path.join(d, "empty.rcl"), b"")]
    for i in range(8):
        blob = s["data"][:i] + bytes([s["data"][i] ^ 0xFF]) + s["data"][i + 1:]
        files.append(("magic byte %d flipped" % i, os.path.join(d, "magic%d.rcl" % i), blob))
    problems = []
    for what, path, body in files:
        if body is not None:
            write_bytes(path, body)
        rc, out, err = report([path])
        if rc != 1 or out or not one_line_err(err) or path not in err:
            problems.append("%s: exit %s stdout %r stderr %r; expected exit 1 and one line naming it"
                            % (what, rc, out[:80], err[:200]))
    check(not problems, " | ".join(problems))
