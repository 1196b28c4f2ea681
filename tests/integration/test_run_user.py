"""`rcleak run --user USER` (or SUDO_USER under sudo): the environment CMD
gets, checked with `env -0` as CMD against the passwd entry and what
`runuser -u`/`sudo -u` give a user. (Who CMD runs as, by name or uid, and
an unknown SUDO_USER are in test_run.py.)

Run alone:  python3 tests/integration/runner.py -k run_user_env
"""
import os
import pwd
import shutil

import harness
from harness import Fail, Skip, check
from run_harness import Run

TESTS = ["test_run_user_env", "test_run_user_env_nopw"]

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


if __name__ == "__main__":
    import sys
    import runner
    runner.MODULES = ["test_run_user"]
    sys.exit(runner.main(sys.argv[1:]))
