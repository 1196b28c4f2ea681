"""`rcleak record` / `rcleak report`: the capture file itself.

A small capture cut short at many offsets and damaged in many ways: report
must find exactly the ticks and events of the chunks still whole (the
container walked independently of rcleak, record_harness.parse_capture).
And the paths record refuses to write to: existing files, symlinks, hard
links, directories, FIFOs, and what --force replaces.

Run alone:  python3 tests/integration/runner.py -k record
"""
import json
import os
import random
import shutil
import stat
import struct
import subprocess
import zlib

from harness import RCLEAK, Client, Redis, check, mkdtemp
from record_harness import (BgClient, Recorder, expect_counts, parse_capture, report, report_json,
                            write_bytes)

TESTS = ["test_record_truncated", "test_record_corrupted", "test_record_refusals"]


# ---------------------------------------------------------------------------
# cut short at many offsets
# ---------------------------------------------------------------------------
def small_capture():
    """A small capture of a few chunks: 4 held, churn for 1.5 s, -d 3 -i 0.5."""
    r = Redis()
    d = mkdtemp("rcleak-small-")
    path = os.path.join(d, "small.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "3"])
    rec.first()
    Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-rsmall")
    churn = BgClient("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "1.5", "--rate", "20"],
                     "rclt-rsmallc")
    churn.wait_ready(20)
    check(rec.wait() == 0, "record: %s" % rec.describe())
    with open(path, "rb") as f:
        data = f.read()
    info = parse_capture(data, "small capture")
    check(len(info["chunks"]) >= 5, "small capture has %d chunks, expected one per tick (>= 5): "
          "does record flush each refresh?" % len(info["chunks"]))
    return d, data, info, rec.live()


def test_record_truncated():
    d, data, info, live = small_capture()
    chunks = info["chunks"]
    full_ticks, full_events = expect_counts(chunks)
    check(full_ticks == len(live), "small capture: %d whole ticks, record printed %d lines"
          % (full_ticks, len(live)))
    full = os.path.join(d, "full.rcap")
    write_bytes(full, data)
    rc, rep_out, err = report([full, "--replay", "--json", "--speed", "10000"])
    check(rc == 0 and not err.strip(), "whole file: replay exit %d stderr %r" % (rc, err[:300]))
    full_replay = rep_out.splitlines()
    js, err = report_json([full], "whole file")
    f0 = js["files"][0]
    check((f0["ticks"], f0["events"]) == (full_ticks, full_events) and not err.strip(),
          "whole file: ticks=%r events=%r stderr %r; the file holds %d ticks, %d events"
          % (f0["ticks"], f0["events"], err[:200], full_ticks, full_events))

    size = len(data)
    offsets = sorted(set(range(0, size, 97)) | set(range(max(0, size - 300), size)))
    ends = [info["header_end"]] + [c["end"] for c in chunks]
    cut = os.path.join(d, "cut.rcap")
    failures = []
    for x in offsets:
        write_bytes(cut, data[:x])
        rc, out, err = report([cut, "--json"])
        if rc is None or rc < 0 or rc >= 128:
            failures.append("cut at %d: crashed (rc %s); stderr %r" % (x, rc, err[-200:]))
            continue
        if x < info["header_end"]:
            # empty: not a capture (1); the magic, then cut short: damaged (6)
            want_rc = 1 if x == 0 else 6
            if rc != want_rc or err.count("\n") != 1:
                failures.append("cut at %d (inside the %d-byte file header): exit %d stderr %r; expected %d "
                                "with a one-line message" % (x, info["header_end"], rc, err.strip()[:150],
                                                             want_rc))
            continue
        whole = [c for c in chunks if c["end"] <= x]
        ticks, events = expect_counts(whole)
        last_end = max(e for e in ends if e <= x)
        try:
            f = json.loads(out)["files"][0]
        except (ValueError, KeyError, IndexError):
            failures.append("cut at %d: exit %d, stdout not a summary: %r stderr %r" % (x, rc, out[:150], err[:150]))
            continue
        if (f.get("ticks"), f.get("events")) != (ticks, events):
            failures.append("cut at %d: ticks=%r events=%r, expected %d, %d (the %d whole chunks)" % (
                x, f.get("ticks"), f.get("events"), ticks, events, len(whole)))
        if x in ends:   # at a chunk boundary the file is whole
            if rc != 0 or err.strip():
                failures.append("cut at %d (a chunk boundary: a whole file): exit %d stderr %r, expected 0, "
                                "no warning" % (x, rc, err.strip()[:150]))
            continue
        want = "read up to byte %d (%d whole chunks)" % (last_end, len(whole))
        if rc != 6 or want not in err:
            failures.append("cut at %d: exit %d stderr %r; expected exit 6 and a warning with %r" % (
                x, rc, err.strip()[:200], want))
            continue
        # the replay of what is left: exactly the first live lines; none,
        # and the file's no-refresh line (096acef), before the first tick
        rc, out, err = report([cut, "--replay", "--json", "--speed", "10000"])
        shown, skips = _replay_split(out)
        if rc != 6 or shown != full_replay[:ticks] or skips != ([] if ticks else ["no-refresh"]):
            failures.append("cut at %d: replay exit %d, %d lines, skip lines %r; expected exit 6 and the first "
                            "%d lines of the whole file's replay" % (x, rc, len(shown), skips, ticks))
    check(not failures, "%d of %d cut offsets (file %d bytes, header %d, chunk ends %s) failed: %s" % (
        len(failures), len(offsets), size, info["header_end"], ends[1:], " | ".join(failures[:6])))


def _replay_split(out):
    """--replay --json's lines: (the refreshes' lines, the reasons of its
    skip lines: a file with no refresh has one, 096acef)."""
    shown, skips = [], []
    for line in out.splitlines():
        try:
            js = json.loads(line)
        except ValueError:
            js = {}
        if isinstance(js, dict) and isinstance(js.get("skipped"), dict) and "ts" not in js:
            skips.append(js["skipped"].get("reason"))
        else:
            shown.append(line)
    return shown, skips


# ---------------------------------------------------------------------------
# 5b. damaged chunks, damaged headers, not a capture
# ---------------------------------------------------------------------------
def _flip(data, start, n):
    b = bytearray(data)
    for i in range(start, start + n):
        b[i] ^= 0xFF
    return bytes(b)


def _forge_clen(data, c, clen):
    """Chunk c's header with another compressed length and a header CRC that checks out."""
    b = bytearray(data)
    s = c["start"]
    struct.pack_into("<I", b, s + 12, clen)
    struct.pack_into("<I", b, s + 28, zlib.crc32(bytes(b[s:s + 28])))
    return bytes(b)


def test_record_corrupted():
    d, data, info, _live = small_capture()
    ch = info["chunks"]
    n = len(ch)
    i = n // 2
    mid = lambda c: c["data_start"] + c["clen"] // 2  # noqa: E731
    cases = [
        ("8 bytes flipped in the middle of chunk %d's data" % i, _flip(data, mid(ch[i]) - 4, 8), {i}, 1),
        ("one bit flipped in chunk %d's data" % i,
         data[:mid(ch[i])] + bytes([data[mid(ch[i])] ^ 0x10]) + data[mid(ch[i]) + 1:], {i}, 1),
        ("chunk %d's header: a byte of its length flipped" % i, _flip(data, ch[i]["start"] + 13, 1), {i}, 1),
        ("chunk %d's sync word overwritten" % i,
         data[:ch[i]["start"]] + b"XXXX" + data[ch[i]["start"] + 4:], {i}, 1),
        ("chunk %d's header claims the rest of the file (CRC recomputed)" % i,
         _forge_clen(data, ch[i], len(data) - ch[i]["data_start"]), {i}, 1),
        ("chunk %d's header claims 10 bytes less (CRC recomputed)" % i,
         _forge_clen(data, ch[i], ch[i]["clen"] - 10), {i}, 1),
        ("one damaged stretch from chunk %d's data into chunk %d's header" % (i - 1, i),
         _flip(data, mid(ch[i - 1]), ch[i]["start"] + 8 - mid(ch[i - 1])), {i - 1, i}, 1),
        ("chunks 1 and %d damaged" % (n - 2), _flip(_flip(data, mid(ch[1]), 4), mid(ch[n - 2]), 4),
         {1, n - 2}, 2),
        ("the last chunk's data damaged", _flip(data, mid(ch[-1]), 4), {n - 1}, 1),
        ("5000 random bytes after the file header",
         data[:info["header_end"]] + bytes(random.Random(7).getrandbits(8) for _ in range(5000)),
         set(range(n)), 1),
    ]
    path = os.path.join(d, "bad.rcap")
    problems = []
    for what, blob, lost, nbad in cases:
        write_bytes(path, blob)
        ticks, events = expect_counts([c for k, c in enumerate(ch) if k not in lost])
        for mode in (["--json"], ["--replay", "--json", "--speed", "10000"], ["--csv"], []):
            rc, out, err = report([path] + mode)
            label = "%s (report %s)" % (what, " ".join(mode) or "text")
            if rc is None or rc < 0 or rc >= 128:
                problems.append("%s: crashed (rc %s)" % (label, rc))
                continue
            want = "%d damaged chunk%s skipped" % (nbad, "" if nbad == 1 else "s")
            if rc != 6 or want not in err:
                problems.append("%s: exit %d stderr %r; expected exit 6 and %r" % (label, rc, err.strip()[:200], want))
            if mode == ["--json"]:
                try:
                    f = json.loads(out)["files"][0]
                    if (f.get("ticks"), f.get("events")) != (ticks, events):
                        problems.append("%s: ticks=%r events=%r, expected %d, %d (every chunk but %s)" % (
                            label, f.get("ticks"), f.get("events"), ticks, events, sorted(lost)))
                except (ValueError, KeyError, IndexError):
                    problems.append("%s: stdout not a summary: %r" % (label, out[:200]))
            elif mode[:1] == ["--replay"] and (len(_replay_split(out)[0]) != ticks or
                                               _replay_split(out)[1] != ([] if ticks else ["no-refresh"])):
                problems.append("%s: %d lines, skip lines %r, expected %d" % (label, len(_replay_split(out)[0]),
                                                                           _replay_split(out)[1], ticks))
            elif mode == ["--csv"] and len(out.splitlines()) != events + 1:
                problems.append("%s: %d rows, expected %d events" % (label, len(out.splitlines()) - 1, events))

    # not readable at all: not a capture, or a newer format (exit 1); a
    # capture whose header is damaged or cut short (exit 6); a message either way
    hdr = info["header_end"]
    newer = bytearray(data[:8] + struct.pack("<H", 2) + data[10:])
    struct.pack_into("<I", newer, hdr - 4, zlib.crc32(bytes(newer[:hdr - 4])))
    unreadable = [
        ("wrong magic", b"RCLEAKXX" + data[8:], 1, "not an rcleak capture"),
        ("a text file", b"hello, this is not a capture\n" * 40, 1, "not an rcleak capture"),
        ("an empty file", b"", 1, None),
        ("format major 2 (its header checks out)", bytes(newer), 1, "newer"),
        ("format major 2, the header's CRC not redone", data[:8] + struct.pack("<H", 2) + data[10:], 6,
         "damaged"),
        ("a flipped byte in the file header's body", _flip(data, hdr - 10, 1), 6, "damaged"),
        ("the file header cut short", data[:hdr - 1], 6, "cut short"),
    ]
    for what, blob, want_rc, needle in unreadable:
        write_bytes(path, blob)
        rc, out, err = report([path, "--json"])
        if rc is None or rc < 0 or rc >= 128:
            problems.append("%s: crashed (rc %s)" % (what, rc))
        elif rc != want_rc or not err.strip() or (needle and needle not in err):
            problems.append("%s: exit %d stderr %r; expected exit %d and a message%s" % (
                what, rc, err.strip()[:200], want_rc, " with %r" % needle if needle else ""))
    for what, p in (("a directory", d), ("a missing file", os.path.join(d, "nope.rcap"))):
        rc, out, err = report([p])
        if rc != 1 or not err.strip():
            problems.append("%s: exit %d stderr %r; expected exit 1 and a message" % (what, rc, err.strip()[:200]))
    # a good file next to a bad one: the good one is still reported
    good = os.path.join(d, "good.rcap")
    write_bytes(good, data)
    write_bytes(path, b"garbage" * 10)
    rc, out, err = report([good, path, "--json"])
    if rc != 1 or path not in err:
        problems.append("good + not-a-capture: exit %d stderr %r; expected exit 1 naming %s" % (
            rc, err.strip()[:200], path))
    check(not problems, "%d problems: %s" % (len(problems), " | ".join(problems[:8])))


# ---------------------------------------------------------------------------
# refusals: existing files, symlinks, --force
# ---------------------------------------------------------------------------
def test_record_refusals():
    r = Redis()
    d = mkdtemp("rcleak-refuse-")
    problems = []
    args = ["-p", str(r.port), "-i", "0.5", "-d", "1"]

    def snapshot(p):
        st = os.lstat(p)
        body = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else None
        return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino, st.st_nlink, body,
                os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)

    def run(path, extra, what, want_rc, untouched=()):
        before = {p: snapshot(p) for p in untouched}
        rec = Recorder(path, args + list(extra), json_out=False)
        rc = rec.wait(20)
        err = rec.err.text().strip()
        ok_rc = rc == want_rc if want_rc is not None else rc not in (0, None) and 0 < rc < 128
        if not ok_rc or (rc != 0 and not err):
            problems.append("%s: exit %s stderr %r; expected %s with a message" % (
                what, rc, err[:200], "exit %d" % want_rc if want_rc is not None else "a refusal"))
        for p, s0 in before.items():
            if not os.path.lexists(p):
                problems.append("%s: %s is gone" % (what, p))
            elif snapshot(p) != s0:
                problems.append("%s: %s changed: %s -> %s" % (what, p, s0[:4] + s0[5:], snapshot(p)[:4] + snapshot(p)[5:]))
        return rc

    def regular(name, body=b"precious evidence\n", mode=0o644):
        p = os.path.join(d, name)
        write_bytes(p, body)
        os.chmod(p, mode)
        return p

    # an existing regular file, no --force: exit 2, file untouched
    p = regular("exists.rcap")
    run(p, [], "record -w onto an existing file", 2, untouched=[p])
    # refused before it loads anything into the kernel (and walks the host)
    if not shutil.which("strace"):
        problems.append("strace is missing: tools/install-deps.sh --test installs it")
    else:
        trace = os.path.join(d, "strace.txt")
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=bpf", "-o", trace, RCLEAK, "record", "-w", p]
                       + args, capture_output=True, timeout=30)
        loads = [ln for ln in open(trace) if "BPF_PROG_LOAD" in ln]
        if loads:
            problems.append("record -w onto an existing file loaded %d BPF programs before refusing"
                            % len(loads))
    # a symlink to a regular file: refused with and without --force, target untouched
    tgt = regular("target.txt")
    ln = os.path.join(d, "link.rcap")
    os.symlink(tgt, ln)
    run(ln, [], "record -w onto a symlink", 2, untouched=[tgt, ln])
    run(ln, ["--force"], "record -w --force onto a symlink", None, untouched=[tgt, ln])
    # a dangling symlink: nothing is created through it
    missing = os.path.join(d, "created-through-link")
    dl = os.path.join(d, "dangling.rcap")
    os.symlink(missing, dl)
    for extra in ([], ["--force"]):
        run(dl, extra, "record -w %s onto a dangling symlink" % " ".join(extra), None, untouched=[dl])
        if os.path.lexists(missing):
            problems.append("record -w %s onto a dangling symlink created its target %s" % (" ".join(extra), missing))
            os.unlink(missing)
    # a file with another hard link, --force: refused, both names untouched
    hl = regular("linked.rcap")
    hl2 = os.path.join(d, "other-name")
    os.link(hl, hl2)
    run(hl, ["--force"], "record -w --force onto a file with another hard link", None, untouched=[hl, hl2])
    # a directory, --force: refused
    sub = os.path.join(d, "adir")
    os.mkdir(sub)
    run(sub, ["--force"], "record -w --force onto a directory", None, untouched=[sub])
    # without --force, what --force would refuse too is refused for its own
    # reason: "adir already exists: give --force to replace it" sent the
    # user to a --force that is then refused
    hl3 = regular("linked-too.rcap")
    os.link(hl3, os.path.join(d, "other-name-too"))
    for path, what in ((sub, "a directory"), (hl3, "a file with another hard link")):
        rec = Recorder(path, args, json_out=False)
        rc = rec.wait(20)
        err = rec.err.text().strip()
        if rc != 2 or "--force" in err:
            problems.append("record -w onto %s without --force: exit %s, stderr %r; expected 2 "
                            "with its reason, not a suggestion of --force" % (what, rc, err[:200]))
    # a FIFO, --force: refused at once (no hang on open)
    fifo = os.path.join(d, "fifo.rcap")
    os.mkfifo(fifo, 0o644)
    run(fifo, ["--force"], "record -w --force onto a FIFO", None, untouched=[fifo])
    # --force onto a regular 0644 file: replaced, 0600, a readable capture
    p = regular("replace.rcap")
    rc = run(p, ["--force"], "record -w --force onto a regular file", 0)
    if rc == 0:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if mode != 0o600:
            problems.append("--force replaced file has mode %o, expected 600" % mode)
        rc, out, err = report([p, "--json"])
        if rc != 0 or b"precious" in open(p, "rb").read():
            problems.append("--force replaced file: report exit %d stderr %r (old bytes left: %s)" % (
                rc, err.strip()[:200], b"precious" in open(p, "rb").read()))
    # a new file under umask 0 is still 0600
    newp = os.path.join(d, "new.rcap")
    rec = Recorder(newp, args, json_out=False, preexec_fn=lambda: os.umask(0))
    rc = rec.wait(20)
    if rc != 0:
        problems.append("record -w a new file: exit %s: %s" % (rc, rec.describe()))
    elif stat.S_IMODE(os.stat(newp).st_mode) != 0o600:
        problems.append("new capture under umask 0 has mode %o, expected 600" % stat.S_IMODE(os.stat(newp).st_mode))
    check(not problems, " | ".join(problems))
