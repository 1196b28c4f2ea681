"""`rcleak report` of several files, some of which it cannot use: one it may
not read, one that is no capture, one with a damaged header or no refresh
is skipped with one line, the rest reported; `--json` names each skipped
file (the summary's "skipped" list, and a line in its place with `--at` and
`--replay`).

Run alone:  python3 tests/integration/runner.py -k report_files_
"""
import json
import os

import capcraft
from harness import check, mkdtemp, needs
from record_harness import nobody_exe, report, report_piped, write_bytes

TESTS = ["test_report_files_unreadable_skipped", "test_report_files_json_skipped",
         "test_report_files_json_lines_skipped", "test_report_files_json_lines_no_refresh"]


def _skip_fixtures(d):
    """In d: a good capture, one whose header is damaged, a text file and a
    name that does not exist. (good, bad_hdr, text, missing)."""
    good = os.path.join(d, "good.rcl")
    capcraft.tiny("host-a").save(good)
    data = capcraft.tiny("host-b").data()
    bad_hdr = os.path.join(d, "badhdr.rcl")
    write_bytes(bad_hdr, data[:20] + bytes([data[20] ^ 0xFF]) + data[21:])
    text = os.path.join(d, "text.rcl")
    write_bytes(text, b"not a capture\n")
    return good, bad_hdr, text, os.path.join(d, "missing.rcl")


@needs("rcleak")
def test_report_files_unreadable_skipped():
    """Several files, one of them unreadable (missing, a directory, not a
    capture, another user's 0600 capture): it aborted the whole report
    (exit 1, nothing on stdout), where a file with a damaged header was
    skipped with one line and the rest reported (exit 6). Both are now
    skipped with one line each naming them, every other file is reported
    in every mode, and the exit code says the worst: 1 when a file could
    not be read, else 6 for damage (man page, EXIT STATUS)."""
    d = mkdtemp("rcleak-files-skip-")
    os.chmod(d, 0o755)
    good = os.path.join(d, "good.rcl")
    capcraft.tiny("host-a").save(good)
    os.chmod(good, 0o644)
    data = capcraft.tiny("host-b").data()
    bad_hdr = os.path.join(d, "badhdr.rcl")
    write_bytes(bad_hdr, data[:20] + bytes([data[20] ^ 0xFF]) + data[21:])
    os.chmod(bad_hdr, 0o644)
    text = os.path.join(d, "text.rcl")
    write_bytes(text, b"not a capture\n")
    missing = os.path.join(d, "missing.rcl")
    sub = os.path.join(d, "adir")
    os.mkdir(sub)
    problems = []

    def run(files, mode, want_rc, skipped, argv_prefix=(), exe=None):
        rc, out, err = report(files + mode, argv_prefix=argv_prefix, exe=exe)
        lines = err.splitlines()
        said = [f for f in skipped if sum(ln.startswith("rcleak: %s: " % f) for ln in lines) == 1]
        if mode == ["--json"]:
            try:
                got = [f["path"] for f in json.loads(out)["files"]]
            except (ValueError, KeyError):
                got = None
        else:   # --csv's host column, --at's "== FILE (HOST)", the summary's "FILE: host HOST"
            got = [good] if "host-a" in out else []
        if rc != want_rc or got != [good] or said != skipped or len(lines) != len(skipped):
            problems.append("report %s %s: exit %d, reported %r, stderr %r; expected exit %d, %s reported and "
                            "one line for each of %r" % (" ".join(os.path.basename(f) for f in files),
                                                         " ".join(mode), rc, got, err, want_rc, good, skipped))

    for mode in (["--json"], ["--csv"], ["--at", "+0s", "--plain"], []):
        run([missing, good, text, sub], mode, 1, [missing, text, sub])
        run([good, bad_hdr], mode, 6, [bad_hdr])
        run([bad_hdr, good, missing], mode, 1, [bad_hdr, missing])
    # another user's 0600 capture: the case the chown hint is for
    prefix, exe = nobody_exe()
    secret = os.path.join(d, "secret.rcl")
    capcraft.tiny("host-c").save(secret)
    os.chmod(secret, 0o600)
    run([secret, good], ["--json"], 1, [secret], argv_prefix=prefix, exe=exe)
    # not a capture on standard input, next to a file
    rc, out, err = report_piped(["-", good, "--json"], b"garbage\n" * 10)
    try:
        got = [f["path"] for f in json.loads(out)["files"]]
    except (ValueError, KeyError):
        got = None
    if rc != 1 or got != [good] or err.count("\n") != 1 or not err.startswith("rcleak: -: "):
        problems.append("garbage piped in next to %s: exit %d, reported %r, stderr %r; expected exit 1, the file "
                        "reported, one line for '-'" % (good, rc, got, err))
    # alone: nothing to report, the file's own exit code
    for f, want_rc in ((missing, 1), (bad_hdr, 6)):
        rc, out, err = report([f])
        if rc != want_rc or out or err.count("\n") != 1:
            problems.append("report %s alone: exit %d, stdout %r, stderr %r; expected exit %d, one line"
                            % (f, rc, out[:100], err, want_rc))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_files_json_skipped():
    """`report --json` of several files, some of them skipped (missing, not
    a capture: exit 1; a damaged header: exit 6): the JSON listed only the
    files it read, and a script reading it could not tell the others from
    files never given (stderr alone named them). Now `skipped` lists each,
    in the order given, with its path, its reason (`unreadable` or
    `damaged`, as the exit codes tell them apart) and the line stderr says
    (without "rcleak: "); [] when none was skipped. With no file readable
    the object is still printed, its `files` empty."""
    d = mkdtemp("rcleak-files-jskip-")
    good, bad_hdr, text, missing = _skip_fixtures(d)
    problems = []
    for files, want_rc, want in (([missing, good, bad_hdr, text], 1,
                                  [(missing, "unreadable"), (bad_hdr, "damaged"), (text, "unreadable")]),
                                 ([good, bad_hdr], 6, [(bad_hdr, "damaged")]),
                                 ([good], 0, []),
                                 ([bad_hdr, missing], 1, [(bad_hdr, "damaged"), (missing, "unreadable")])):
        what = "report %s --json" % " ".join(os.path.basename(f) for f in files)
        rc, out, err = report(files + ["--json"])
        try:
            js = json.loads(out)
        except ValueError:
            problems.append("%s: exit %d, stdout is not one JSON object: %r" % (what, rc, out[:200]))
            continue
        paths = [f.get("path") for f in js.get("files", [])]
        skipped = js.get("skipped")
        got = [(x.get("path"), x.get("reason")) for x in skipped] if isinstance(skipped, list) else skipped
        said = [ln[len("rcleak: "):] for ln in err.splitlines()]
        errors = [x.get("error") for x in skipped] if isinstance(skipped, list) else None
        if rc != want_rc or paths != [f for f in files if f == good] or got != want or errors != said:
            problems.append("%s: exit %d, files %r, skipped %r, errors %r, stderr %r; expected exit %d, files "
                            "%r, skipped %r with the lines stderr says" % (what, rc, paths, got, errors, said,
                                                                          want_rc, [good] if good in files else [],
                                                                          want))
        if good in files:   # the file's entry as before: nothing added to it
            keys = list(js["files"][0])
            if "skipped" in keys or "reason" in keys:
                problems.append("%s: the file's entry changed: %r" % (what, keys))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_files_json_lines_skipped():
    """`report --at T --json` and `--replay --json` of several files, some
    skipped (missing, not a capture: exit 1; a damaged header: exit 6):
    the lines named only the files read, and a consumer could not tell a
    skipped file from one never given (stderr alone named it). Now each
    skipped file has one line, in the order given among the others' lines:
    {"file": PATH, "skipped": E}, E the entry the summary's `skipped` list
    gives (path, reason, and the line stderr says, without "rcleak: "). A
    single file skipped gets its line too."""
    d = mkdtemp("rcleak-files-lskip-")
    good, bad_hdr, text, missing = _skip_fixtures(d)
    reasons = {missing: "unreadable", bad_hdr: "damaged", text: "unreadable"}
    problems = []
    for files, want_rc in (([missing, good, bad_hdr, text], 1), ([good, bad_hdr], 6), ([bad_hdr], 6),
                           ([missing], 1), ([good], 0)):
        for mode in (["--at", "+0s"], ["--replay", "--speed", "1000"]):
            what = "report %s %s --json" % (" ".join(os.path.basename(f) for f in files), " ".join(mode))
            rc, out, err = report(files + mode + ["--json"])
            said = {ln[len("rcleak: "):].split(": ")[0]: ln[len("rcleak: "):] for ln in err.splitlines()}
            try:
                lines = [json.loads(ln) for ln in out.splitlines()]
            except ValueError:
                problems.append("%s: exit %d, a line of stdout is not JSON: %r" % (what, rc, out[:300]))
                continue
            # each file given, in order: its refresh (one, the crafted file's), or its skip line
            got, want = [], []
            for f in files:
                if f == good:
                    want.append(("refresh", f if len(files) > 1 else None))
                else:
                    want.append(("skipped", f, {"path": f, "reason": reasons[f], "error": said.get(f)}))
            for js in lines:
                if "ts" in js:
                    got.append(("refresh", js.get("file")))
                else:
                    got.append(("skipped", js.get("file"), js.get("skipped")))
            if rc != want_rc or got != want or any(w[-1].get("error") is None for w in want if w[0] == "skipped"):
                problems.append("%s: exit %d, lines %r, stderr %r; expected exit %d, lines %r"
                                % (what, rc, got, err, want_rc, want))
            # the summary's list, entry for entry
            _, sout, _ = report(files + ["--json"])
            try:
                listed = json.loads(sout).get("skipped")
            except ValueError:
                listed = None
            if listed != [g[2] for g in got if g[0] == "skipped"]:
                problems.append("%s: skipped lines %r, the summary's list %r" % (what, got, listed))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_files_json_lines_no_refresh():
    """`report --at T --json` / `--replay --json` of a capture that holds no
    complete refresh (its recorder stopped before the first one ended),
    next to a good one: it printed no line, only stderr named it and the
    exit status was 1, and a consumer of the lines could not tell it was
    given. It now has a skip line in its place, as a file that could not
    be read has, with the host it is of: {"file", "host", "skipped":
    {"path", "reason": "no-refresh", "error"}}, the error the line stderr
    says."""
    d = mkdtemp("rcleak-files-norefresh-")
    good = os.path.join(d, "good.rcl")
    capcraft.tiny("host-a").save(good)
    empty = os.path.join(d, "empty.rcl")
    c = capcraft.Cap(host="host-e", minor=8)
    c.meta()
    c.save(empty)
    problems = []
    for files in ([good, empty], [empty, good], [empty]):
        for mode in (["--at", "+0s"], ["--replay", "--speed", "1000"]):
            what = "report %s %s --json" % (" ".join(os.path.basename(f) for f in files), " ".join(mode))
            rc, out, err = report(files + mode + ["--json"])
            said = [ln[len("rcleak: "):] for ln in err.splitlines()]
            try:
                lines = [json.loads(ln) for ln in out.splitlines()]
            except ValueError:
                problems.append("%s: a line is not JSON: %r" % (what, out[:300]))
                continue
            got = [("refresh", js.get("host")) if "ts" in js else
                   ("skipped", js.get("file"), js.get("host"), js.get("skipped")) for js in lines]
            want = [("refresh", "host-a" if len(files) > 1 else None) if f == good else
                    ("skipped", f, "host-e", {"path": f, "reason": "no-refresh",
                                              "error": "%s: no complete refresh recorded" % f})
                    for f in files]
            if rc != 1 or got != want or said != ["%s: no complete refresh recorded" % empty]:
                problems.append("%s: exit %d, lines %r, stderr %r; expected exit 1, lines %r"
                                % (what, rc, got, err, want))
    check(not problems, " | ".join(problems))
