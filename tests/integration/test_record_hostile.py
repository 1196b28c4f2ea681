"""`rcleak record` when the world is hostile: the disk fills up, a file size
limit (ulimit -f) is reached, another recorder is writing the same file.

In each case record must say so in one line, exit with the code the man page
gives (1: a write error; 2: a path it refuses), and leave a file that
`report` reads whole, up to where the writing stopped.

Run alone:  python3 tests/integration/runner.py -k record_hostile
"""
import os
import re
import resource
import signal
import subprocess
import time

from harness import check, mkdtemp, stop
from harness import Redis
from record_harness import BgClient, Recorder, hold_many, jdiff, json_lines, report, report_json

TESTS = ["test_record_hostile_full_disk", "test_record_hostile_full_disk_big_refresh",
         "test_record_hostile_full_disk_lines",
         "test_record_hostile_unwritable_folder", "test_record_hostile_fsize", "test_record_hostile_force_busy",
         "test_record_hostile_trigger_full_disk", "test_record_hostile_file_deleted",
         "test_record_hostile_file_truncated", "test_record_hostile_file_cut_in_header",
         "test_record_hostile_ring_file_deleted"]


def _churn(r, name, secs=25):
    """Connect, PING, close for secs (it says READY when done)."""
    return BgClient("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", str(secs), "--rate", "3000"],
                    name)


def _stopped(rec, path, needle, what, timeout=60):
    """record stopped by what: exit 1, one line naming the file and saying
    needle."""
    rc = rec.wait(timeout)
    err = rec.err.text().strip()
    check(rc == 1, "record stopped by %s: %s, expected exit 1; stderr %r" % (
        what, "killed by signal %d" % -rc if rc is not None and rc < 0 else "exit %s" % rc, err[-400:]))
    lines = err.splitlines()
    check(len(lines) == 1 and path in lines[0] and needle in lines[0],
          "record stopped by %s: stderr %r, expected one line naming %s and saying %r"
          % (what, err[-400:], path, needle))


def _write_error(rec, path, needle, limit):
    """record stopped by a write error: exit 1, one line naming the file and
    the error; the file whole (report reads it without a warning), at most
    limit bytes."""
    _stopped(rec, path, needle, "a write error (%r)" % needle)
    size = os.path.getsize(path)
    check(size <= limit, "the capture is %d bytes, over the %d that fit" % (size, limit))
    js, rerr = report_json([path], "report of the capture cut back at the write error")
    f = js["files"][0]
    check(not rerr.strip() and f["ticks"] >= 1,
          "report of the capture cut back at the write error: ticks=%r stderr %r; expected a whole file"
          % (f["ticks"], rerr.strip()[:300]))
    return f


def test_record_hostile_full_disk():
    r = Redis()
    mnt = mkdtemp("rcleak-fulldisk-")
    size = 512 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", mnt], check=True)
    try:
        # the header does not fit: nothing is left behind
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            try:
                f.write(b"\0" * size)
            except OSError:
                pass
        path = os.path.join(mnt, "h.rcl")
        rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "2"], json_out=False)
        rc = rec.wait(30)
        err = rec.err.text().strip()
        check(rc == 1 and len(err.splitlines()) == 1 and "No space left" in err,
              "record onto a full disk: exit %s stderr %r; expected 1 and one line" % (rc, err[-300:]))
        check(not os.path.exists(path), "record onto a full disk left %s behind" % path)
        # room for a few chunks, then the disk fills while recording
        os.truncate(filler, size - 96 * 1024)
        _churn(r, "rclt-hfull")
        rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "-d", "40"], json_out=False)
        _write_error(rec, path, "No space left on device", 96 * 1024)
    finally:
        subprocess.run(["umount", mnt])


def test_record_hostile_full_disk_big_refresh():
    """A refresh bigger than a chunk (8,000 fds: a host in trouble) when the
    disk fills: the file is cut back to its last whole refresh, not to the
    last whole chunk, which ended inside a refresh. report then said "the
    recorder was killed while writing it", and with no whole refresh, a
    refresh at 1970-01-01."""
    r = Redis()
    hold = hold_many(r.port, 4, 1000)
    mnt = mkdtemp("rcleak-fullbig-")
    size = 512 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", mnt], check=True)
    try:
        path = os.path.join(mnt, "b.rcl")
        rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "-d", "60"], json_out=False)
        f = _write_error(rec, path, "No space left on device", size)
        check(not f["ends_inside_refresh"], "the capture cut back at the write error ends inside a "
              "refresh (%d whole ones before it): cut back to a chunk, not to a refresh" % f["ticks"])
        rc, out, _e = report([path])
        check(rc == 0 and "inside a refresh" not in out and "1970" not in out,
              "report of the capture cut back at the write error: exit %d, summary %r" % (rc, out[:600]))
    finally:
        stop(hold)
        subprocess.run(["umount", mnt])


def test_record_hostile_full_disk_lines():
    """`record --json` printed each refresh's line before it wrote that
    refresh to the file: when the disk filled, the line of the refresh
    whose write failed was printed and is in no file, and `report --replay
    --json` gave back one line fewer than record printed, which README says
    it gives back exactly. Every line printed is now on the disk first."""
    r = Redis()
    hold = hold_many(r.port, 2, 300)
    mnt = mkdtemp("rcleak-fulllines-")
    size = 192 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", mnt], check=True)
    try:
        path = os.path.join(mnt, "l.rcl")
        rec = Recorder(path, ["-p", str(r.port), "-i", "0.05", "-d", "60"])
        _stopped(rec, path, "No space left on device", "a full disk")
        live = rec.live()
        rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
        check(rc == 0, "report --replay --json of the capture cut back at the full disk: exit %d, stderr %r"
              % (rc, err[-300:]))
        rep = json_lines(out, "report --replay --json")
        check(len(live) >= 2, "record printed %d lines before the disk filled; expected a few" % len(live))
        check(len(rep) == len(live), "record printed %d lines, and report --replay gives back %d: a line "
              "printed for a refresh the file does not hold" % (len(live), len(rep)))
        for i, (a, b) in enumerate(zip(live, rep)):
            diff = jdiff(a, b)
            check(not diff, "replay line %d differs from the live line: %s" % (
                i, "; ".join("%s replay %r live %r" % (p_, y, x) for p_, x, y in diff[:4])))
    finally:
        stop(hold)
        subprocess.run(["umount", mnt])


def test_record_hostile_unwritable_folder():
    """-w in a folder record cannot write (a read-only file system, a
    folder that does not exist, one of another user's): exit 1, one line
    naming the file, the error and what to do. It said only
    "ro/x.rcl: Read-only file system"."""
    r = Redis()
    base = mkdtemp("rcleak-unwritable-")
    ro = os.path.join(base, "ro")
    os.mkdir(ro)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro], check=True)
    try:
        for path, why, todo in ((os.path.join(ro, "x.rcl"), "Read-only file system", "-w"),
                                (os.path.join(base, "none", "x.rcl"), "No such file or directory", "mkdir")):
            rec = Recorder(path, ["-p", str(r.port), "-n", "1"], json_out=False)
            rc = rec.wait(30)
            err = rec.err.text().strip()
            check(rc == 1 and len(err.splitlines()) == 1 and path in err and why in err and todo in err,
                  "record -w %s: exit %s, stderr %r; expected exit 1 and one line naming the file, %r and "
                  "what to do (%r)" % (path, rc, err[-300:], why, todo))
            check(not os.path.exists(path), "record -w %s left a file" % path)
    finally:
        subprocess.run(["umount", ro])


def test_record_hostile_fsize():
    """A file size limit (ulimit -f, systemd's LimitFSIZE=): record gets EFBIG
    and cuts the file back, as on a full disk; SIGXFSZ used to kill it
    there without a word, the file ending inside a chunk."""
    r = Redis()
    d = mkdtemp("rcleak-fsize-")
    path = os.path.join(d, "f.rcl")
    limit = 64 * 1024
    _churn(r, "rclt-hfsize")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "-d", "40"], json_out=False,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    _write_error(rec, path, "File too large", limit)


def _file_taken(name, act, needle):
    """A capture that another program deletes, or cuts short, while record
    writes it: record stops at its next chunk, exit 1, one line naming the
    file and what happened. It used to record on unseen: into a file with
    no name (its disk space held until it stopped), or at its old end,
    leaving a hole of zeros where the header was (logrotate's copytruncate),
    and exit 0."""
    r = Redis()
    d = mkdtemp("rcleak-%s-" % name)
    path = os.path.join(d, "f.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "-d", "60"])
    rec.first()
    rec.wait_lines(3, 20)
    act(path)
    _stopped(rec, path, needle, "its capture %s" % name, timeout=20)
    return path


def test_record_hostile_file_deleted():
    _file_taken("deleted", os.unlink, "was deleted")


def test_record_hostile_file_truncated():
    path = _file_taken("truncated", lambda p: os.truncate(p, 0), "cut short")
    # nothing was written after the cut: no hole of zeros where the header was
    check(os.path.getsize(path) == 0, "the truncated capture grew to %d bytes after the cut"
          % os.path.getsize(path))


def test_record_hostile_file_cut_in_header():
    """Cut to 100 bytes: the magic stays, the header is cut in two. Record
    went on at its old end, exit 0, into a file none of which could be
    read; it stops as for a cut to 0."""
    path = _file_taken("cut-in-header", lambda p: os.truncate(p, 100), "cut short")
    check(os.path.getsize(path) == 100, "the cut capture grew to %d bytes after the cut"
          % os.path.getsize(path))


def test_record_hostile_ring_file_deleted():
    """A flight recorder writes nothing to its file until the trigger,
    maybe days away. Deleted meanwhile (a /tmp cleaner), the file is said
    lost at the next refresh, exit 1, not only when the ring, the
    incident's evidence, has nowhere to go: that recorder waited on for
    nothing, its -d 60 here."""
    import time
    r = Redis()
    d = mkdtemp("rcleak-ring-deleted-")
    path = os.path.join(d, "f.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "--ring", "5", "-d", "60"])
    rec.first()
    rec.wait_lines(3, 20)
    os.unlink(path)
    t0 = time.monotonic()
    rc = rec.wait(60)
    took = time.monotonic() - t0
    err = rec.err.text().strip()
    check(rc == 1 and took < 10, "flight recorder whose file was deleted: exit %s %.1f s later, expected "
          "exit 1 at its next refresh; stderr %r" % (rc, took, err[-400:]))
    last = err.splitlines()[-1] if err else ""
    check(path in last and "was deleted" in last,
          "flight recorder whose file was deleted: last stderr line %r, expected one naming %s "
          "and saying 'was deleted'" % (last, path))


def test_record_hostile_force_busy():
    """A second `record --force` onto a capture another record is still
    writing: refused (exit 2, one line), before it loads anything; the first
    recording goes on and its file stays whole. It used to truncate the file
    under the first recorder, both exited 0, and report found a damaged mix
    of the two recordings."""
    r = Redis()
    d = mkdtemp("rcleak-busy-")
    path = os.path.join(d, "busy.rcl")
    first = Recorder(path, ["-p", str(r.port), "-i", "0.3", "-d", "30"])
    first.first()
    first.wait_lines(3, 20)
    second = Recorder(path, ["-p", str(r.port), "-i", "0.3", "-d", "1", "--force"], json_out=False)
    rc = second.wait(30)
    err = second.err.text().strip()
    check(rc == 2 and len(err.splitlines()) == 1 and path in err,
          "record --force onto a capture being written: exit %s stderr %r; expected 2 and one line" % (
              rc, err[-300:]))
    check(first.proc.poll() is None, "the first recorder is gone: %s" % first.describe())
    first.wait_lines(len(first.out.lines) + 2, 20)
    first.proc.send_signal(signal.SIGINT)
    check(first.wait(30) == 0, "first recorder: %s" % first.describe())
    rc, out, rerr = report([path, "--json"])
    check(rc == 0 and not rerr.strip(), "the first recorder's file after a refused --force: report exit %d "
          "stderr %r; expected a whole file" % (rc, rerr.strip()[:300]))
    js, _e = report_json([path], "report of the first recording")
    check(js["files"][0]["ticks"] == len(first.live()),
          "the first recorder's file holds %r ticks, it printed %d live lines" % (
              js["files"][0]["ticks"], len(first.live())))
    # once the first recorder is done, --force replaces the file
    third = Recorder(path, ["-p", str(r.port), "-i", "0.3", "-d", "0.5", "--force"], json_out=False)
    check(third.wait(30) == 0, "record --force once the writer is gone: %s" % third.describe())


def _fill(mnt, size):
    """Fill the file system at mnt (a file "filler"); its path."""
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            f.write(b"\0" * size)
        except OSError:
            pass
    return filler


def _held_trigger(r, mnt, size, path, after, name):
    """A flight recorder that has recorded 2 s when the disk fills and
    SIGUSR1 comes: (recorder, its churn client, time recording began, time
    of SIGUSR1, the filler's path), once it said it keeps the ring."""
    churn = _churn(r, name, secs=8)
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.2", "--ring", "30", "--after", str(after)], json_out=False)
    rec.wait_err("flight recorder", 20)
    t_start = time.time()
    time.sleep(2)          # more in the ring than the page the file's header began
    filler = _fill(mnt, size)
    os.kill(rec.pid, signal.SIGUSR1)
    t_trig = time.time()
    line, _ = rec.wait_err("is full (or over quota): keeping", 20)
    check("trying again" in line and "free some space" in line,
          "trigger onto a full disk: %r; expected a line that says it keeps the ring and tries again" % line)
    return rec, churn, t_start, t_trig, filler


def _held_capture(path, t_start, t_trig, end_lo, end_hi, what):
    """The capture written once the disk had room: the trigger, the ring
    from before it, refreshes up to [end_lo, end_hi] after it."""
    js, rerr = report_json([path], "report of the capture written once the disk had room")
    f = js["files"][0]
    trig = f.get("trigger") or {}
    problems = []
    if not isinstance(trig.get("at"), float) or abs(trig["at"] - t_trig) > 1.5:
        problems.append("trigger at %r; SIGUSR1 was sent at %.3f" % (trig.get("at"), t_trig))
    if f["start"] > t_start + 0.5 or f["start"] > t_trig - 1.5:
        problems.append("the capture starts at %.3f: the ring from before the trigger (recording since %.3f, "
                        "trigger at %.3f) is missing" % (f["start"], t_start, t_trig))
    if not end_lo <= f["end"] - t_trig <= end_hi:
        problems.append("the capture ends %.1fs after the trigger, expected %.1f to %.1f"
                        % (f["end"] - t_trig, end_lo, end_hi))
    if not f["finished"] or rerr.strip():
        problems.append("finished %r, report stderr %r" % (f["finished"], rerr.strip()[:300]))
    check(not problems, "%s: %s" % (what, " | ".join(problems)))


def test_record_hostile_trigger_full_disk():
    """A flight recorder (--ring) whose trigger (SIGUSR1) finds the disk
    full. It exited 1 at once with the write error, and the ring, the
    incident's evidence, was gone, though a cleanup freed the disk a minute
    later. It now keeps the ring and what follows in memory, says so in one
    line, and writes it all when there is room again: the file holds the
    refreshes from before the trigger, the trigger, and --after's. Held
    through --after, it records no more and waits for room. Stopped while
    the disk is still full, it writes what fits and exits 1 with the write
    error, its trigger lines promising no "recording Ns more"."""
    r = Redis()
    mnt = mkdtemp("rcleak-trigfull-")
    size = 512 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", mnt], check=True)
    rec = None
    try:
        # room again within --after: written, recording goes on
        path = os.path.join(mnt, "a.rcl")
        rec, churn, t_start, t_trig, filler = _held_trigger(r, mnt, size, path, 30, "rclt-htriga")
        time.sleep(1.5)                    # several refreshes find the disk still full
        check(rec.proc.poll() is None, "the recorder holding the ring exited: %s" % rec.describe())
        os.unlink(filler)
        line, _ = rec.wait_err("wrote the last", 20)
        t_written = time.time()
        check(re.search(r"recording [\d.]+s more", line), "the held ring written: %r" % line)
        rec.proc.send_signal(signal.SIGINT)
        rc = rec.wait(30)
        check(rc == 0 and "No space left" not in rec.err.text(), "record after the held ring was written: "
              "exit %s, stderr %r" % (rc, rec.err.text()[-400:]))
        _held_capture(path, t_start, t_trig, 1.5, t_written - t_trig + 1.5, "written within --after")
        churn.wait_ready(30)
        os.unlink(path)

        # held through --after (1 s): no more refreshes, written once there is room
        path = os.path.join(mnt, "b.rcl")
        rec, churn, t_start, t_trig, filler = _held_trigger(r, mnt, size, path, 1, "rclt-htrigb")
        rec.wait_err("recording no more", 20)
        time.sleep(1)
        check(rec.proc.poll() is None, "the recorder waiting for room exited: %s" % rec.describe())
        os.unlink(filler)
        line, _ = rec.wait_err("wrote the last", 20)
        check("the recording ends" in line, "the held ring and --after written: %r" % line)
        rc = rec.wait(30)
        check(rc == 0, "record after the held ring and --after were written: exit %s, stderr %r"
              % (rc, rec.err.text()[-400:]))
        _held_capture(path, t_start, t_trig, 0.7, 1.8, "held through --after")
        churn.wait_ready(30)
        os.unlink(path)

        # stopped while the disk is still full: what fits, then exit 1
        path = os.path.join(mnt, "c.rcl")
        rec, churn, _s, _t, filler = _held_trigger(r, mnt, size, path, 5, "rclt-htrigc")
        rec.proc.send_signal(signal.SIGTERM)
        rc = rec.wait(30)
        err = rec.err.text().strip()
        check(rc == 1 and "No space left" in err and "a last try" in err,
              "stopped with the ring held on a full disk: exit %s, stderr %r; expected 1, a last try and the "
              "write error" % (rc, err[-400:]))
        trig = [l for l in err.splitlines() if "trigger:" in l]
        check(trig and not any(re.search(r"recording [\d.]+s more", l) for l in trig),
              "trigger onto a full disk: the trigger lines %r promise more recording" % trig)
        churn.wait_ready(30)
    finally:
        if rec is not None and rec.proc.poll() is None:
            stop(rec.proc, signal.SIGKILL)
        subprocess.run(["umount", mnt])
