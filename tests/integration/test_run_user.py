"""`rcleak run --user USER` (or SUDO_USER under sudo): the environment CMD
gets, checked with `env -0` as CMD against the passwd entry and what
`runuser -u`/`sudo -u` give a user. (Who CMD runs as, by name or uid, and
an unknown SUDO_USER are at the end.)

Run alone:  python3 tests/integration/runner.py -k run_user_env
"""
import json
import os
import pwd
import shutil
import signal
import subprocess

import harness
from harness import RCLEAK, Fail, Redis, Skip, check, mkdtemp, spawn, stop
from run_harness import Run, expect, need_c, parse_done, prow, redis_delta, run_to_end, total_connections

TESTS = ["test_run_user_env", "test_run_user_env_nopw", "test_run_user",
         "test_run_sudo_user_unknown", "test_run_user_uid", "test_run_sudo_uid_differs",
         "test_run_user_file_dir_symlink", "test_run_user_file_kept", "test_run_user_file_root_owned",
         "test_run_doas_pkexec"]

# root's session as sudo (and a CI job) leave it to rcleak, and one
# variable of the CI's own that must stay
ROOT_ENV = {"HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/rcl-root-shell",
            "MAIL": "/var/mail/root", "XDG_RUNTIME_DIR": "/run/user/0",
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/0/bus",
            "XAUTHORITY": "/root/.Xauthority", "SUDO_USER": "nobody", "SUDO_UID": "65534",
            "SUDO_GID": "65534", "SUDO_COMMAND": "/usr/sbin/rcleak run -- env -0",
            "SUDO_HOME": "/root", "RCL_CI_VAR": "kept"}


def _env_of(args, env):
    """CMD's environment under `rcleak run ARGS -- env -0`, as a dict."""
    run = Run(["-p", str(harness.free_port())] + args, ["env", "-0"], env=env, json_out=False)
    try:
        rc = run.wait()
        with open(run.out_path, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    finally:
        run.cleanup()
    check(rc == 0, "`rcleak run %s -- env -0`: exit status %r; %s" % (" ".join(args), rc, run.describe()))
    return dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)


def _runtime_dir(uid):
    """/run/user/UID when it is uid's directory (logind made it), else None."""
    d = "/run/user/%d" % uid
    try:
        st = os.stat(d)
    except OSError:
        return None
    return d if st.st_uid == uid and os.path.isdir(d) else None


def _expect_user_env(got, what, home, name, shell, runtime):
    want = {"HOME": home, "USER": name, "LOGNAME": name, "SHELL": shell,
            "MAIL": "/var/mail/%s" % name if not name.isdigit() else None,
            "RCL_CI_VAR": "kept", "PATH": os.environ.get("PATH")}
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    check(not bad, "%s: CMD's environment (got, expected): %r" % (what, bad))
    left = sorted(k for k in got if k.startswith("SUDO_"))
    check(not left, "%s: root's sudo session left to CMD: %r" % (what, {k: got[k] for k in left}))
    check("XAUTHORITY" not in got, "%s: root's XAUTHORITY left: %r" % (what, got.get("XAUTHORITY")))
    check(got.get("XDG_RUNTIME_DIR") == runtime, "%s: XDG_RUNTIME_DIR %r, expected %r (the user's own "
          "/run/user/UID when there, else unset)" % (what, got.get("XDG_RUNTIME_DIR"), runtime))
    bus = "unix:path=%s/bus" % runtime if runtime and os.path.exists(runtime + "/bus") else None
    check(got.get("DBUS_SESSION_BUS_ADDRESS") == bus, "%s: DBUS_SESSION_BUS_ADDRESS %r, expected %r"
          % (what, got.get("DBUS_SESSION_BUS_ADDRESS"), bus))


def test_run_user_env():
    """CMD run as nobody (--user nobody, or SUDO_USER=nobody under sudo)
    kept root's session: XDG_RUNTIME_DIR=/run/user/0 (which it cannot
    use), SUDO_USER/SUDO_UID (a tool took itself for root under sudo),
    root's SHELL, MAIL, XAUTHORITY. Now it gets what `runuser -u`/`sudo -u`
    give nobody: HOME, USER, LOGNAME, SHELL from the passwd entry, MAIL its
    spool, no SUDO_* or XAUTHORITY, XDG_RUNTIME_DIR its own or none; the
    CI's own variables and PATH stay."""
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")
    env = dict(os.environ, **ROOT_ENV)
    runtime = _runtime_dir(pw.pw_uid)
    for args, what in ((["--user", "nobody"], "--user nobody"), ([], "SUDO_USER=nobody")):
        got = _env_of(args, env)
        _expect_user_env(got, what, pw.pw_dir, "nobody", pw.pw_shell or "/bin/sh", runtime)


def _free_uid():
    """A uid with no passwd entry."""
    for uid in range(54321, 54421):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise Fail("no uid without a passwd entry in 54321-54420")


def test_run_user_env_nopw():
    """--user UID with no passwd entry: HOME /, USER its number, SHELL
    /bin/sh (root's was left), no SUDO_*, no MAIL (root's was left: it has
    no spool); XDG_RUNTIME_DIR its own
    /run/user/UID when that is there and its (made here), else unset."""
    uid = _free_uid()
    env = dict(os.environ, **ROOT_ENV)
    got = _env_of(["--user", str(uid)], env)
    _expect_user_env(got, "--user %d" % uid, "/", str(uid), "/bin/sh", None)
    if not os.path.isdir("/run/user"):
        return
    d = "/run/user/%d" % uid
    os.mkdir(d, 0o700)
    try:
        os.chown(d, uid, 65534)
        got = _env_of(["--user", str(uid)], env)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    _expect_user_env(got, "--user %d, %s there" % (uid, d), "/", str(uid), "/bin/sh", d)


def test_run_user():
    """--user nobody: CMD runs as uid 65534 and is traced; without --user,
    SUDO_USER (rcleak run under sudo) is the default."""
    app = need_c()[0]
    r = Redis()
    before = total_connections(r)
    cmd = ["sh", "-c", 'id -u; exec "$0" leak "$1" 10 0', app, str(r.port)]
    run = Run(["-p", str(r.port), "--user", "nobody", "--max-leaked", "0"], cmd)
    try:
        rc = run.wait()
        out = run.out()
        check(rc == 5, "exit status %r, expected 5; stdout %r; %s" % (rc, out[-300:], run.describe()))
        check(out.splitlines()[:1] == ["65534"], "CMD's `id -u` printed %r, expected 65534"
              % out[:200])
        done = parse_done(out)
        js = run.load_json()
    finally:
        run.cleanup()
    check(redis_delta(r, before) == 10, "ground truth: Redis accepted != 10")
    expect(prow(js, done["pid"]), {"comm": done["comm"], "opened": 10, "leaked": 10,
                                   "verdict": "LEAK", "exited": True},
           "--json process of the program run as nobody (%s)" % done)
    expect(js["totals"], {"opened": 10, "leaked": 10, "open_at_end": 0, "closed": 0}, "--json totals")

    env = dict(os.environ, SUDO_USER="nobody", SUDO_UID="65534", SUDO_GID="65534")
    run = Run(["-p", str(r.port)], ["id", "-u"], env=env)
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0 and run.out().strip() == "65534",
          "with SUDO_USER=nobody and no --user: rc %r, `id -u` printed %r, expected 65534; %s"
          % (rc, run.out()[:200], run.describe()))


def test_run_sudo_user_unknown():
    """Under sudo with a SUDO_USER that has no passwd entry (a CI user
    removed, a container's uid), rcleak said "unknown user 'X' for --user"
    to someone who gave no --user. The line now names SUDO_USER and says
    to give --user (and the --user of SUDO_UID); exit 2, CMD not run, not
    run as SUDO_UID either: sudo makes no SUDO_USER without a passwd entry,
    so the name is stale or from another passwd, and CMD's user is not
    guessed. A --user of nobody's still says --user."""
    d = mkdtemp("rcleak-run-sudouser-")
    marker = os.path.join(d, "cmd-ran")
    cmd = ["sh", "-c", 'touch "$0"', marker]
    port = str(harness.free_port())
    env = dict(os.environ, SUDO_USER="rcl-no-such-user", SUDO_UID="64999", SUDO_GID="64999")
    rc, out, err, lines = run_to_end(["-p", port, "--"] + cmd, 30, env=env)
    check(rc == 2 and not os.path.exists(marker), "SUDO_USER unknown: exit status %r (expected 2), "
          "CMD ran: %s; stderr %r" % (rc, os.path.exists(marker), err[-400:]))
    check(len(lines) == 1 and "SUDO_USER" in lines[0] and "rcl-no-such-user" in lines[0]
          and "give --user" in lines[0] and "--user 64999" in lines[0],
          "SUDO_USER unknown: expected one line naming SUDO_USER and saying to give --user "
          "(--user 64999, SUDO_UID's), got %r" % err[-400:])
    rc, out, err, lines = run_to_end(["-p", port, "--user", "rcl-no-such-user", "--"] + cmd, 30)
    check(rc == 2 and len(lines) == 1 and "for --user" in lines[0] and not os.path.exists(marker),
          "--user unknown: exit status %r, stderr %r" % (rc, err[-400:]))


def test_run_user_uid():
    """--user takes a uid too, as `pgrep -u` and `ps -u` do: a name first,
    else a number is a uid. It took names only ("unknown user '54321'"). A
    uid with no passwd entry (a container's, a CI runner's) runs CMD with
    gid 65534 (nogroup), no supplementary groups, USER its number and HOME
    /; its leak is traced as any CMD's. A uid of a user is that user, with
    its groups; a name all digits that exists is the name (a passwd, bound
    over /etc/passwd in a mount namespace of the test's own, names user
    '4242' uid U). A number past uid_t is a usage error."""
    app = need_c()[0]
    r = Redis()
    uid = _free_uid()
    before = total_connections(r)
    show = 'echo "$(id -u) $(id -g) $(id -G) $USER $HOME"; '
    cmd = ["sh", "-c", show + 'exec "$0" leak "$1" 4 0', app, str(r.port)]
    run = Run(["-p", str(r.port), "--user", str(uid), "--max-leaked", "0"], cmd)
    try:
        rc = run.wait()
        out = run.out()
        check(rc == 5, "--user %d: exit status %r, expected 5; stdout %r; %s"
              % (uid, rc, out[-300:], run.describe()))
        want = "%d 65534 65534 %d /" % (uid, uid)
        check(out.splitlines()[:1] == [want], "--user %d: CMD said %r (uid gid groups USER HOME), "
              "expected %r" % (uid, out[:200], want))
        done = parse_done(out)
        js = run.load_json()
    finally:
        run.cleanup()
    check(redis_delta(r, before) == 4, "ground truth: Redis accepted != 4")
    expect(prow(js, done["pid"]), {"opened": 4, "leaked": 4, "exited": True},
           "--json row of the program run as uid %d (%s)" % (uid, done))

    run = Run(["-p", str(r.port), "--user", "65534"], ["sh", "-c", 'echo "$(id -un) $(id -G) $HOME"'])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0 and run.out().strip() == "nobody 65534 /nonexistent",
          "--user 65534: rc %r, CMD said %r, expected nobody's name, groups and HOME; %s"
          % (rc, run.out()[:200], run.describe()))

    d = mkdtemp("rcleak-run-uidname-")
    os.chmod(d, 0o755)
    passwd = os.path.join(d, "passwd")
    with open("/etc/passwd") as f:
        text = f.read()
    with open(passwd, "w") as f:
        f.write(text + "4242:x:%d:65534::/nonexistent:/bin/sh\n" % uid)
    os.chmod(passwd, 0o644)
    args = [RCLEAK, "run", "-p", str(r.port), "--user", "4242", "--", "id", "-u"]
    p = spawn(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/passwd && exec "$@"', passwd] + args,
              "rcleak run --user 4242", stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("rcleak run --user 4242 did not exit")
    check(p.returncode == 0 and out.decode().strip() == str(uid),
          "--user 4242, a user of that name with uid %d: rc %r, `id -u` said %r; stderr %r"
          % (uid, p.returncode, out[:100], err[-300:]))

    marker = os.path.join(d, "cmd-ran")
    for bad in ("4294967295", "99999999999999999999", "+12"):
        rc, out, err, lines = run_to_end(["-p", str(r.port), "--user", bad, "--",
                                           "touch", marker], 30)
        check(rc == 2 and len(lines) == 1 and "--user" in lines[0] and not os.path.exists(marker),
              "--user %s: exit status %r (expected 2, one line, CMD not run); stderr %r"
              % (bad, rc, err[-400:]))


def _free_uids(n):
    """n uids with no passwd entry."""
    out = []
    for uid in range(54321, 54521):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            out.append(uid)
            if len(out) == n:
                return out
    raise Fail("not %d uids without a passwd entry in 54321-54520" % n)


def _run_with_passwd(extra, args, env, what):
    """`rcleak run ARGS` with extra lines appended to /etc/passwd (bound
    over it in a mount namespace of its own), env its environment: (exit
    status, stdout, stderr)."""
    d = mkdtemp("rcleak-run-passwd-")
    os.chmod(d, 0o755)
    passwd = os.path.join(d, "passwd")
    with open("/etc/passwd") as f:
        text = f.read()
    with open(passwd, "w") as f:
        f.write(text + extra)
    os.chmod(passwd, 0o644)
    p = spawn(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/passwd && exec "$@"', passwd,
               RCLEAK, "run"] + args, what, stdin=subprocess.DEVNULL, env=env)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("%s did not exit" % what)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def test_run_sudo_uid_differs():
    """Under sudo, CMD runs as whoever ran sudo: SUDO_UID, the uid sudo
    took from the kernel; SUDO_USER is only the name sudo looked that uid
    up as. rcleak looked the name up again, and where two passwd entries
    share a name (a user re-added with a new uid, an LDAP entry next to a
    local one), the first entry's uid is another user's: CMD ran as uid U1
    for the user U2 who ran sudo, whose entry has that very name. Now it
    runs as SUDO_UID (`id -u` says U2), without a word: the two agree. Two
    that do not (SUDO_UID with no passwd entry, or another user's: a
    leftover, or another passwd's) are refused as an unknown SUDO_USER is
    (exit 2, CMD not run, one line naming SUDO_UID and giving --user), not
    run as SUDO_USER's uid."""
    u1, u2 = _free_uids(2)
    port = str(harness.free_port())
    extra = ("rclsudo:x:%d:65534::/nonexistent:/bin/sh\nrclsudo:x:%d:65534::/nonexistent:/bin/sh\n"
             % (u1, u2))
    env = dict(os.environ, SUDO_USER="rclsudo", SUDO_UID=str(u2), SUDO_GID="65534")
    rc, out, err = _run_with_passwd(extra, ["-p", port, "--", "id", "-u"], env,
                                    "rcleak run (SUDO_USER rclsudo, SUDO_UID %d)" % u2)
    lines = [l for l in err.splitlines() if l.startswith("rcleak: ")]
    check(rc == 0 and out.strip() == str(u2),
          "SUDO_USER=rclsudo (uid %d first in passwd), SUDO_UID=%d: rc %r, `id -u` said %r, expected "
          "%d (the uid that ran sudo); stderr %r" % (u1, u2, rc, out[:100], u2, err[-400:]))
    check(not lines, "SUDO_USER rclsudo, SUDO_UID %d, its entry: lines said %r" % (u2, lines))

    # SUDO_UID with no entry, or another user's, next to SUDO_USER a user:
    # refused, not run as SUDO_USER's uid
    u3 = _free_uids(3)[2]
    for sudo_uid, passwd in ((u3, ""), (u2, extra)):
        env = dict(os.environ, SUDO_USER="nobody", SUDO_UID=str(sudo_uid), SUDO_GID="65534")
        what = "SUDO_USER=nobody, SUDO_UID=%d (%s)" % (sudo_uid, "rclsudo" if passwd else "no passwd entry")
        rc, out, err = _run_with_passwd(passwd, ["-p", port, "--", "sh", "-c", "echo ran"], env, what)
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 2 and "ran" not in out and len(lines) == 1 and "SUDO_UID" in lines[0]
              and "--user %d" % sudo_uid in lines[0], "%s: exit status %r (expected 2), stdout %r (CMD "
              "not run), stderr %r (expected one line naming SUDO_UID, giving --user %d)"
              % (what, rc, out[:100], err[-400:], sudo_uid))


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")


def _user_tree(nobody, prefix):
    """A root folder of root's things (safe, holding 'precious'), and a work
    tree of nobody's (ws, 0755) whose 'out' is nobody's symlink to safe."""
    safe = mkdtemp(prefix + "safe-")
    os.chmod(safe, 0o755)
    with open(os.path.join(safe, "precious"), "w") as f:
        f.write("root's own\n")
    ws = mkdtemp(prefix + "ws-")
    os.chown(ws, nobody.pw_uid, nobody.pw_gid)
    os.chmod(ws, 0o755)
    out = os.path.join(ws, "out")
    os.symlink(safe, out)
    os.lchown(out, nobody.pw_uid, nobody.pw_gid)
    return safe, ws, out


def test_run_user_file_dir_symlink():
    """CMD runs as nobody (--user, or SUDO_USER under sudo); its work tree
    holds `out -> SAFE`, a symlink to a folder of root's that nobody may not
    write (planted by CMD of an earlier run, or by nobody). `--json
    out/shadow` made SAFE/shadow, root's, with the summary in it, and
    `--json out/precious` emptied root's file: rcleak, as root, wrote
    where nobody could not (2d526ae looked at FILE's last name only). Now
    FILE is opened as nobody, so the kernel refuses: one line, exit 1, CMD
    not run, SAFE as it was. A symlink planted by CMD itself while it runs
    (out, a folder, replaced by `out -> SAFE`) made SAFE/result.json at the
    end, when rcleak made anew the FILE CMD had removed: now not made, one
    line, exit 1."""
    nobody = _nobody()
    port = str(harness.free_port())
    safe, ws, out = _user_tree(nobody, "rcleak-run-dirlink-")
    marker = os.path.join(ws, "cmd-ran")
    cmd = ["sh", "-c", 'touch "$0"', marker]
    sudo = dict(os.environ, SUDO_USER="nobody", SUDO_UID=str(nobody.pw_uid), SUDO_GID=str(nobody.pw_gid))
    for who, env in ((["--user", "nobody"], None), ([], sudo)):
        for opt in ("--json", "--junit"):
            for name in ("shadow", "precious"):
                path = os.path.join(out, name)
                args = ["-p", port] + who + [opt, path, "--"] + cmd
                rc, _o, err, lines = run_to_end(args, 30, env=env)
                what = "`rcleak run %s`%s (out: nobody's symlink to a folder of root's)" % (
                    " ".join(args), " under sudo as nobody" if env else "")
                check(sorted(os.listdir(safe)) == ["precious"], "%s: made %s in root's folder"
                      % (what, sorted(os.listdir(safe))))
                with open(os.path.join(safe, "precious")) as f:
                    left = f.read()
                check(left == "root's own\n", "%s: root's file was written: %r" % (what, left[:120]))
                check(rc == 1 and not os.path.exists(marker), "%s: exit status %r (expected 1), CMD ran: "
                      "%s; stderr %r" % (what, rc, os.path.exists(marker), err[-400:]))
                check(len(lines) == 1 and lines[0].startswith("rcleak: cannot write %s: " % path)
                      and "nobody" in lines[0] and "not run" in lines[0],
                      "%s: expected one line naming FILE and the user it is written as, got %r"
                      % (what, err[-400:]))

    # planted by CMD while it runs: out a folder of nobody's at the check
    os.unlink(out)
    os.mkdir(out)
    os.chown(out, nobody.pw_uid, nobody.pw_gid)
    path = os.path.join(out, "result.json")
    plant = ["sh", "-c", 'rm -rf "$0" && ln -s "$1" "$0"', out, safe]
    args = ["-p", port, "--user", "nobody", "--json", path, "--"] + plant
    rc, _o, err, lines = run_to_end(args, 30)
    what = "`rcleak run %s` (CMD replaces out by a symlink to a folder of root's)" % " ".join(args)
    check(os.path.islink(out), "%s: CMD's symlink is not there: %r" % (what, err[-400:]))
    check(sorted(os.listdir(safe)) == ["precious"], "%s: made %s in root's folder"
          % (what, sorted(os.listdir(safe))))
    check(rc == 1 and any(l.startswith("rcleak: cannot write %s: " % path) and "nobody" in l for l in lines),
          "%s: exit status %r (expected 1), expected a line naming FILE and nobody; stderr %r"
          % (what, rc, err[-400:]))


def test_run_user_file_kept():
    """What FILE may be under --user/SUDO_USER, now that it is written as
    that user: a folder of the user's own (the FILE made is the user's,
    not root's: under sudo, a root-owned result.json in a work tree the
    user cannot rewrite), rcleak's stdout on a file of root's
    (/dev/stdout: written on rcleak's own fd), and a pipe of root's given
    as /dev/fd/N (`--json >(jq .)`, opened through rcleak's own fd). A
    folder of root's that the user may not write is refused before CMD
    runs, saying whom FILE is written as. As root, with no other user,
    FILE goes anywhere, as before."""
    nobody = _nobody()
    port = str(harness.free_port())
    ws = mkdtemp("rcleak-run-kept-")
    os.chown(ws, nobody.pw_uid, nobody.pw_gid)
    os.chmod(ws, 0o755)
    sudo = dict(os.environ, SUDO_USER="nobody", SUDO_UID=str(nobody.pw_uid), SUDO_GID=str(nobody.pw_gid))
    for who, env in ((["--user", "nobody"], None), ([], sudo)):
        path = os.path.join(ws, "r-%d.json" % len(who))
        args = ["-p", port] + who + ["--json", path, "--", "true"]
        rc, _o, err, lines = run_to_end(args, 30, env=env)
        what = "`rcleak run %s`%s (FILE in nobody's folder)" % (" ".join(args), " under sudo" if env else "")
        check(rc == 0, "%s: exit status %r; stderr %r" % (what, rc, err[-400:]))
        with open(path) as f:
            js = json.load(f)
        check(js.get("exit_code") == 0, "%s: JSON %r" % (what, js))
        st = os.stat(path)
        check(st.st_uid == nobody.pw_uid, "%s: FILE made owned by uid %d, expected nobody's %d"
              % (what, st.st_uid, nobody.pw_uid))

    # rcleak's stdout on a file of root's, in a folder nobody may not enter
    root_dir = mkdtemp("rcleak-run-kept-root-")
    os.chmod(root_dir, 0o700)
    log = os.path.join(root_dir, "ci.log")
    with open(log, "w") as fo:
        p = spawn([RCLEAK, "run", "-p", port, "--user", "nobody", "--json", "/dev/stdout", "--", "true"],
                  "rcleak run --user nobody --json /dev/stdout", stdin=subprocess.DEVNULL, stdout=fo)
        _o, err = p.communicate(timeout=30)
    with open(log) as f:
        text = f.read()
    check(p.returncode == 0 and text.lstrip().startswith("{"),
          "--user nobody --json /dev/stdout >%s (root's): exit %r, the file holds %r; stderr %r"
          % (log, p.returncode, text[:80], err[-400:]))

    # a pipe of root's (mode 0600) given as /dev/fd/N
    r, w = os.pipe()
    try:
        p = spawn([RCLEAK, "run", "-p", port, "--user", "nobody", "--json", "/dev/fd/%d" % w, "--", "true"],
                  "rcleak run --user nobody --json /dev/fd/N", stdin=subprocess.DEVNULL, pass_fds=(w,))
    finally:
        os.close(w)
    got = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        got += chunk
    os.close(r)
    _o, err = p.communicate(timeout=30)
    check(p.returncode == 0 and got.lstrip().startswith(b"{"),
          "--user nobody --json /dev/fd/N (a pipe of root's): exit %r, the pipe got %r; stderr %r"
          % (p.returncode, got[:80], err[-400:]))

    # a folder of root's: nobody may not write there, said before CMD runs
    marker = os.path.join(ws, "cmd-ran")
    path = os.path.join(root_dir, "r.json")
    args = ["-p", port, "--user", "nobody", "--json", path, "--", "touch", marker]
    rc, _o, err, lines = run_to_end(args, 30)
    what = "`rcleak run %s` (FILE in a folder of root's)" % " ".join(args)
    check(rc == 1 and not os.path.exists(marker) and not os.path.exists(path),
          "%s: exit status %r (expected 1), CMD ran: %s, FILE made: %s; stderr %r"
          % (what, rc, os.path.exists(marker), os.path.exists(path), err[-400:]))
    check(len(lines) == 1 and "cannot write %s" % path in lines[0] and "nobody" in lines[0],
          "%s: expected one line naming FILE and nobody, got %r" % (what, err[-400:]))
    # root, no other user: root's folder is written
    rc, _o, err, lines = run_to_end(["-p", port, "--json", path, "--", "true"], 30)
    check(rc == 0 and os.path.getsize(path) > 0 and os.stat(path).st_uid == 0,
          "`rcleak run --json %s` as root: exit %r; stderr %r" % (path, rc, err[-400:]))


def test_run_user_file_root_owned():
    """Under sudo (and --user), FILE is written as CMD's user: a
    `result.json` that an older rcleak made as root in the user's work
    tree (0644) cannot be emptied now. The line said only "Permission
    denied for user 'nobody'... give a path that user may write", and the
    user, who may write the folder, could not tell why. Now one line names
    the file's owner and what to do (remove it, or give another path);
    exit 1, CMD not run, the file as it was. A file of the user's own in
    the same folder is written."""
    nobody = _nobody()
    port = str(harness.free_port())
    ws = mkdtemp("rcleak-run-rootfile-")
    os.chown(ws, nobody.pw_uid, nobody.pw_gid)
    os.chmod(ws, 0o755)
    marker = os.path.join(ws, "cmd-ran")
    path = os.path.join(ws, "result.json")
    sudo = dict(os.environ, SUDO_USER="nobody", SUDO_UID=str(nobody.pw_uid), SUDO_GID=str(nobody.pw_gid))
    for who, env in (([], sudo), (["--user", "nobody"], None)):
        for opt in ("--json", "--junit"):
            with open(path, "w") as f:
                f.write("an older run's, as root\n")
            os.chmod(path, 0o644)
            args = ["-p", port] + who + [opt, path, "--", "touch", marker]
            rc, _o, err, lines = run_to_end(args, 30, env=env)
            what = "`rcleak run %s`%s (FILE root's, 0644, in nobody's folder)" % (
                " ".join(args), " under sudo as nobody" if env else "")
            with open(path) as f:
                left = f.read()
            check(rc == 1 and not os.path.exists(marker) and left == "an older run's, as root\n",
                  "%s: exit status %r (expected 1), CMD ran: %s, the file now %r; stderr %r"
                  % (what, rc, os.path.exists(marker), left[:80], err[-400:]))
            check(len(lines) == 1 and lines[0].startswith("rcleak: cannot write %s: " % path)
                  and "root's" in lines[0] and "'nobody'" in lines[0] and "remove it" in lines[0]
                  and "another path" in lines[0] and lines[0].endswith("the command was not run"),
                  "%s: expected one line naming the owner (root), the user, and what to do (remove it, "
                  "or give another path), got %r" % (what, err[-400:]))
            os.unlink(path)
    # the user's own file there is written
    with open(path, "w") as f:
        f.write("nobody's\n")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    rc, _o, err, _l = run_to_end(["-p", port, "--json", path, "--", "true"], 30, env=sudo)
    with open(path) as f:
        js = json.load(f)
    check(rc == 0 and js.get("exit_code") == 0, "--json on nobody's own file under sudo: exit %r, JSON %r; "
          "stderr %r" % (rc, js, err[-400:]))


def test_run_doas_pkexec():
    """Under doas (DOAS_USER: the name of the user who ran it) or pkexec
    (PKEXEC_UID: the uid of the process that ran it), CMD ran as root,
    where under sudo it runs as the user who ran sudo: a test suite's
    files left root's in the user's tree. Now as that user, as under
    sudo, and CMD does not see the variable (it is not root under doas);
    SUDO_USER first when both are there; root's name or uid 0 keeps CMD
    root. A DOAS_USER of nobody's, or a PKEXEC_UID that is no uid, is a
    usage error (exit 2, one line naming it, CMD not run)."""
    nobody = _nobody()
    port = str(harness.free_port())
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("SUDO_") and k not in ("DOAS_USER", "PKEXEC_UID")}
    uid = _free_uid()
    show = ["sh", "-c", 'echo "$(id -u) ${DOAS_USER-none} ${PKEXEC_UID-none}"']
    n = nobody.pw_uid
    # root under doas or pkexec keeps CMD root, in root's session as it is
    for extra, want in (({"DOAS_USER": "nobody"}, "%d none none" % n),
                        ({"PKEXEC_UID": str(n)}, "%d none none" % n),
                        ({"PKEXEC_UID": str(uid)}, "%d none none" % uid),
                        ({"DOAS_USER": "root"}, "0 root none"), ({"PKEXEC_UID": "0"}, "0 none 0"),
                        ({"DOAS_USER": "root", "SUDO_USER": "nobody", "SUDO_UID": str(n)},
                         "%d none none" % n)):
        env = dict(base, **extra)
        rc, out, err, lines = run_to_end(["-p", port, "--"] + show, 30, env=env)
        what = "rcleak run with %r" % extra
        check(rc == 0 and out.decode().strip() == want,
              "%s: exit %r, CMD said %r (uid DOAS_USER PKEXEC_UID), expected %r; stderr %r"
              % (what, rc, out[:100], want, err[-300:]))
    d = mkdtemp("rcleak-run-doas-")
    marker = os.path.join(d, "cmd-ran")
    for var, val in (("DOAS_USER", "rcl-no-such-user"), ("PKEXEC_UID", "12x")):
        env = dict(base, **{var: val})
        rc, out, err, lines = run_to_end(["-p", port, "--", "touch", marker], 30, env=env)
        check(rc == 2 and not os.path.exists(marker) and len(lines) == 1 and var in lines[0]
              and val in lines[0] and "--user" in lines[0],
              "%s=%s: exit %r (expected 2), CMD ran: %s; stderr %r (expected one line naming %s, "
              "giving --user)" % (var, val, rc, os.path.exists(marker), err[-300:], var))


if __name__ == "__main__":
    import sys
    import runner
    runner.MODULES = ["test_run_user"]
    sys.exit(runner.main(sys.argv[1:]))
