#!/usr/bin/python3
"""forkdaemon: a command that starts a daemon holding Redis connections and exits.

    forkdaemon.py PORT COUNT LIFE [shared]

Forks twice (the classic daemon dance: fork, setsid, fork; the middle process
exits at once, so the daemon is an orphan).  The daemon renames itself
"rcl-daemon", points stdin/stdout/stderr at /dev/null, opens COUNT connections to
127.0.0.1:PORT (PING on each), reports to the parent through a pipe, sleeps LIFE
seconds and exits with os._exit() while still holding them (the kernel closes them).
The parent waits for that report, prints

    DONE parent=P daemon=D comm=rcl-daemon opened=COUNT life=LIFE

and exits 0 (1 if the daemon failed).

With "shared", the parent first opens a connection of its own (PING), which the
daemon inherits at the fork and keeps (a daemon keeps the fds it does not know
about); the parent then ends that connection as redis-py's
Connection.disconnect() does (shutdown(SHUT_RDWR), then close), and only then
lets the daemon open its COUNT: the connection is over (Redis closes its end)
while the daemon still holds an fd of its socket, in state CLOSE, and the daemon
never holds more than COUNT connections at once.  The DONE line then ends with
" shared=1".

Python standard library only.
"""
import ctypes
import os
import socket
import sys
import time


def ping_conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    if s.recv(64) != b"+PONG\r\n":
        raise RuntimeError("no PONG")
    return s


def daemon(port, count, life, w, go):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, b"rcl-daemon", 0, 0, 0)        # PR_SET_NAME
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        if go is not None:
            os.read(go, 1)       # the parent's connection is shut down
        held = [ping_conn(port) for _ in range(count)]
        os.write(w, ("OK %d %d\n" % (os.getpid(), len(held))).encode())
        os.close(w)
        time.sleep(life)
    except Exception as e:  # noqa: BLE001
        try:
            os.write(w, ("ERR %s\n" % e).encode())
        except OSError:
            pass
        os._exit(1)
    os._exit(0)          # with the connections open


def main(argv):
    if len(argv) not in (3, 4) or argv[3:] not in ([], ["shared"]):
        sys.stderr.write(__doc__)
        return 2
    port, count, life = int(argv[0]), int(argv[1]), float(argv[2])
    shared = ping_conn(port) if argv[3:] else None
    go_r, go_w = os.pipe() if shared else (None, None)
    r, w = os.pipe()
    sys.stdout.flush()
    if os.fork() == 0:
        os.close(r)
        os.setsid()
        if os.fork() == 0:
            daemon(port, count, life, w, go_r)
        os._exit(0)
    os.close(w)
    if shared:
        shared.shutdown(socket.SHUT_RDWR)
        shared.close()
        os.write(go_w, b"g")
    msg = b""
    while not msg.endswith(b"\n"):
        chunk = os.read(r, 256)
        if not chunk:
            break
        msg += chunk
    os.wait()            # the middle process
    parts = msg.decode().split()
    if len(parts) != 3 or parts[0] != "OK":
        sys.stderr.write("forkdaemon: daemon failed: %r\n" % msg)
        return 1
    print("DONE parent=%d daemon=%s comm=rcl-daemon opened=%s life=%g%s"
          % (os.getpid(), parts[1], parts[2], life, " shared=1" if shared else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
