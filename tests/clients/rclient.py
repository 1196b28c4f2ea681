#!/usr/bin/env python3
"""rclient: a scriptable Redis test client for the rcleak integration suite.

Python 3 standard library only.  Speaks just enough RESP (PING -> +PONG).

Usage:  rclient.py [--name COMM] MODE [options]

Modes
  hold     --target HOST:PORT[:COUNT] ... [--interval-ms MS]
           open COUNT connections to each target (one every MS ms), PING each,
           then hold them.                 -> "READY <pid> <count>"
           --src-port P binds local port P first (so use COUNT 1).
  churn    --target HOST:PORT --duration S --rate R
           connect / PING / close in a loop for S seconds at <= R per second,
           then hold nothing.              -> "READY <pid> <count>"
  fork     --target HOST:PORT:COUNT
           open COUNT, fork; both processes hold the same sockets.
                                           -> "READY <parent> <child> <count>"
           command "drop" makes the parent close its copies (child keeps them).
           --orphan-child: the child outlives the parent (killed by the test).
  threads  --target HOST:PORT --threads T --per-thread N --dups D
           T threads each open N connections (threads stay alive), then the
           main thread dup()s D of those fds (some twice).
                                           -> "READY <pid> <distinct sockets> <fds> <tids...>"
  pass     --target HOST:PORT:COUNT
           fork a receiver first (it never connects), open COUNT, send them
           over a unix socketpair (SCM_RIGHTS), then close the sender's copies.
                                           -> "READY <sender> <receiver> <count>"
  listen   --port P [--also-port Q ...] [--backlog B] [--accept]
           listen on 127.0.0.1:P (and Q...); never accept, or with --accept
           accept and hold (never answer).   -> "READY <pid> <ports...>"
  synsent  --target HOST:PORT:COUNT
           non-blocking connect COUNT times, never wait.  -> "READY <pid> <count>"
  (threads --exit-threads: the connecting threads exit; the sockets stay.)

After READY every mode reads commands from stdin, one per line:
  ports          print "PORTS <local port> ..." of the held connections
  close K        close K held connections    -> "CLOSED <k> <remaining>"
  drop           (fork mode) parent closes its copies -> "DROPPED <n>"
  fds            print "FDS <number of open fds>"
  dup2close K    dup2(/dev/null) over K held socket fds (implicit close)
                                           -> "DUP2CLOSED <k> <remaining>"
  movehigh K B   move K held sockets to fds B, B+1, ... -> "MOVED <k>"
  closerange     close all held socket fds with one close_range()
                                           -> "RANGECLOSED <n>"
  exec           make the held fds inheritable and exec a new python3 that
                 holds them until stdin EOF  -> "EXECED <pid>"; that one
                 takes "exec" too: it execs python3 again (the same comm),
                 its command line starting "rclt-gen<N>"  -> "EXECED <pid>"
  exit           exit now
and exits when stdin reaches EOF or on SIGTERM.  Every reply is one line,
flushed at once.  Errors print "ERROR <text>" and exit 1.
"""
import argparse
import ctypes
import os
import signal
import socket
import sys
import threading
import time


# What "exec" runs (as EXECED % EXECED: it carries its own text; one line, so
# that its command line shows as it is): holds the
# inherited fds until stdin EOF; on "exec", runs python3 again, the same
# name (comm), with the next generation in argv[0] ("rclt-gen<N>": first in
# the command line). argv[1] is python3's path, argv[2] the generation.
EXECED = ("import os,sys; S = %r; print('EXECED %%d' %% os.getpid(), flush=True); "
          "[os.execv(sys.argv[1], ['rclt-gen%%d' %% (int(sys.argv[2]) + 1), '-c', S %% S, sys.argv[1], "
          "str(int(sys.argv[2]) + 1)]) for line in sys.stdin if line.strip() == 'exec']")


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def die(msg):
    out("ERROR " + msg)
    sys.exit(1)


def set_comm(name):
    """prctl(PR_SET_NAME): the comm of the calling thread (and of threads it creates)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except OSError:
        pass


def parse_target(spec, default_count=1):
    """HOST:PORT[:COUNT]; HOST may be [::1] or ::1 (IPv6)."""
    count = default_count
    if spec.startswith("["):
        host, rest = spec[1:].split("]", 1)
        parts = rest.lstrip(":").split(":") if rest else []
        port = int(parts[0])
        if len(parts) > 1:
            count = int(parts[1])
    else:
        parts = spec.split(":")
        if len(parts) > 3:  # bare IPv6 like ::1:6379:5 is ambiguous; require []
            die("use [v6addr]:port[:count] for IPv6 targets")
        host = parts[0]
        port = int(parts[1])
        if len(parts) > 2:
            count = int(parts[2])
    return host, port, count


SRC_PORT = 0


def connect_ping(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    if SRC_PORT:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", SRC_PORT))
    s.connect((host, port))
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = s.recv(64)
        if not chunk:
            raise OSError("server closed the connection before +PONG")
        buf += chunk
    if buf != b"+PONG\r\n":
        raise OSError("unexpected reply %r" % buf)
    s.settimeout(None)
    return s


class State:
    def __init__(self):
        self.socks = []          # sockets this process holds (closable via 'close K')
        self.extra_fds = []      # dup()ed fds
        self.lock = threading.Lock()
        self.child = None        # fork mode: child pid
        self.fork_parent = False


STATE = State()


def count_fds():
    return len(os.listdir("/proc/self/fd"))


def command_loop():
    for raw in sys.stdin:
        cmd = raw.split()
        if not cmd:
            continue
        if cmd[0] == "exit":
            break
        elif cmd[0] == "ports":
            with STATE.lock:
                ports = [str(s.getsockname()[1]) for s in STATE.socks]
            out("PORTS " + " ".join(ports))
        elif cmd[0] == "close":
            k = int(cmd[1])
            with STATE.lock:
                victims = STATE.socks[:k]
                STATE.socks = STATE.socks[k:]
            for s in victims:
                s.close()
            out("CLOSED %d %d" % (len(victims), len(STATE.socks)))
        elif cmd[0] == "drop":
            with STATE.lock:
                victims = STATE.socks
                STATE.socks = []
            for s in victims:
                s.close()
            out("DROPPED %d" % len(victims))
        elif cmd[0] == "fds":
            out("FDS %d" % count_fds())
        elif cmd[0] == "dup2close":
            k = int(cmd[1])
            with STATE.lock:
                victims = STATE.socks[:k]
                STATE.socks = STATE.socks[k:]
            null = os.open("/dev/null", os.O_RDONLY)
            for s in victims:
                fd = s.detach()
                os.dup2(null, fd)          # the socket's last fd goes away here
                STATE.extra_fds.append(fd)
            os.close(null)
            out("DUP2CLOSED %d %d" % (len(victims), len(STATE.socks)))
        elif cmd[0] == "movehigh":
            # move K held sockets to fd numbers BASE, BASE+1, ... (old fds closed)
            k, base = int(cmd[1]), int(cmd[2])
            with STATE.lock:
                moved = []
                for i, s in enumerate(STATE.socks[:k]):
                    old = s.detach()
                    os.dup2(old, base + i, inheritable=False)
                    os.close(old)
                    moved.append(socket.socket(fileno=base + i))
                STATE.socks = moved + STATE.socks[k:]
            out("MOVED %d" % len(moved))
        elif cmd[0] == "closerange":
            with STATE.lock:
                fds = sorted(s.fileno() for s in STATE.socks)
                mine = set(fds)
                others = [int(f) for f in os.listdir("/proc/self/fd")
                          if fds and fds[0] <= int(f) <= fds[-1] and int(f) not in mine]
                if not fds or others:
                    out("ERROR closerange: fds not contiguous (%s)" % others[:5])
                    continue
                for s in STATE.socks:
                    s.detach()
                STATE.socks = []
            os.closerange(fds[0], fds[-1] + 1)   # close_range(2) on Linux
            out("RANGECLOSED %d" % len(fds))
        elif cmd[0] == "exec":
            with STATE.lock:
                for s in STATE.socks:
                    os.set_inheritable(s.fileno(), True)
            sys.stdout.flush()
            os.execv(sys.executable, ["rclt-gen1", "-c", EXECED % EXECED, sys.executable, "1"])
        else:
            out("ERROR unknown command %r" % cmd[0])
    # EOF or exit: leave; the kernel closes the fds.
    os._exit(0)


def mode_hold(a):
    n = 0
    for spec in a.target:
        host, port, count = parse_target(spec)
        for _ in range(count):
            STATE.socks.append(connect_ping(host, port))
            n += 1
            if a.interval_ms:
                time.sleep(a.interval_ms / 1000.0)
    out("READY %d %d" % (os.getpid(), n))


def mode_churn(a):
    host, port, _ = parse_target(a.target[0])
    n = 0
    period = 1.0 / a.rate
    start = time.monotonic()
    nxt = start
    lives = []
    while time.monotonic() - start < a.duration:
        t0 = time.monotonic()
        s = connect_ping(host, port)
        if a.hold_ms:
            time.sleep(a.hold_ms / 1000.0)
        s.close()
        lives.append((time.monotonic() - t0) * 1000.0)
        n += 1
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    lives.sort()
    # READY pid count, then the connections' lives in ms (min median max)
    # from connect() to close() as this process saw them: a little longer
    # than the sockets' (SYN_SENT to the close's state change)
    if lives:
        out("READY %d %d %.3f %.3f %.3f" % (os.getpid(), n, lives[0], lives[len(lives) // 2],
                                            lives[-1]))
    else:
        out("READY %d %d" % (os.getpid(), n))


def mode_fork(a):
    host, port, count = parse_target(a.target[0], 10)
    for _ in range(count):
        STATE.socks.append(connect_ping(host, port))
    sync_r, sync_w = os.pipe()      # child -> parent: "I am running"
    life_r, life_w = os.pipe()      # parent holds life_w; child exits on EOF
    pid = os.fork()
    if pid == 0:
        os.close(sync_r)
        os.close(life_w)
        os.write(sync_w, b"k")
        os.close(sync_w)
        # Never read stdin here: commands are for the parent.
        if a.orphan_child:
            os.close(life_r)
            while True:              # outlive the parent; killed by the test
                signal.pause()
        while os.read(life_r, 1):
            pass
        os._exit(0)
    os.close(sync_w)
    os.close(life_r)
    if os.read(sync_r, 1) != b"k":
        die("child did not start")
    os.close(sync_r)
    STATE.child = pid
    STATE.fork_parent = True
    out("READY %d %d %d" % (os.getpid(), pid, count))


def mode_pass(a):
    host, port, count = parse_target(a.target[0], 10)
    a_end, b_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        a_end.close()
        got = []
        while len(got) < count:
            _msg, fds, _flags, _addr = socket.recv_fds(b_end, 16, count - len(got))
            if not fds:
                os._exit(1)
            got.extend(socket.socket(fileno=fd) for fd in fds)
        b_end.sendall(b"k")
        while b_end.recv(1):        # until the sender exits
            pass
        os._exit(0)
    b_end.close()
    for _ in range(count):
        STATE.socks.append(connect_ping(host, port))
    fds = [s.fileno() for s in STATE.socks]
    for i in range(0, len(fds), 100):
        socket.send_fds(a_end, [b"x"], fds[i:i + 100])
    if a_end.recv(1) != b"k":
        die("receiver did not take the fds")
    for s in STATE.socks:
        s.close()
    STATE.socks = []
    STATE.extra_fds.append(a_end)       # keep the pair open: receiver lives
    out("READY %d %d %d" % (os.getpid(), pid, count))


def mode_listen(a):
    ports = [a.port] + a.also_port
    listeners = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(a.backlog)
        listeners.append(s)
    STATE.extra_fds.extend(listeners)
    if a.accept:
        import selectors
        sel = selectors.DefaultSelector()
        for s in listeners:
            sel.register(s, selectors.EVENT_READ)

        def acceptor():
            while True:
                for key, _ in sel.select():
                    conn, _addr = key.fileobj.accept()
                    with STATE.lock:
                        STATE.socks.append(conn)     # held, never answered
        threading.Thread(target=acceptor, daemon=True).start()
    out("READY %d %s" % (os.getpid(), " ".join(str(p) for p in ports)))


def mode_synsent(a):
    n = 0
    for spec in a.target:
        host, port, count = parse_target(spec, 1)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(count):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            STATE.socks.append(s)
            n += 1
    out("READY %d %d" % (os.getpid(), n))


def mode_threads(a):
    host, port, _ = parse_target(a.target[0])
    started = threading.Barrier(a.threads + 1)
    hold = threading.Event()
    tids = []
    errors = []

    def worker():
        if a.thread_name:   # a named thread (a JVM's pool-1-thread-1): its own comm
            set_comm(a.thread_name)
        try:
            mine = [connect_ping(host, port) for _ in range(a.per_thread)]
            with STATE.lock:
                STATE.socks.extend(mine)
                tids.append(threading.get_native_id())
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        started.wait()
        if not a.exit_threads:
            hold.wait()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.threads)]
    for t in threads:
        t.start()
    started.wait()
    if a.exit_threads:
        for t in threads:
            t.join()
    if errors:
        die("thread connect failed: " + errors[0])
    # dup D fds: the first half of them twice.
    for i, s in enumerate(STATE.socks[: a.dups]):
        STATE.extra_fds.append(os.dup(s.fileno()))
        if i < a.dups // 2:
            STATE.extra_fds.append(os.dup(s.fileno()))
    out("READY %d %d %d %s" % (os.getpid(), len(STATE.socks),
                               len(STATE.socks) + len(STATE.extra_fds),
                               " ".join(str(t) for t in tids)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", default=None, help="comm to set (<= 15 chars)")
    p.add_argument("--tag", default=None, help="ignored; shows up in the cmdline")
    p.add_argument("mode", choices=["hold", "churn", "fork", "threads", "pass", "listen",
                                    "synsent"])
    p.add_argument("--target", action="append", default=[])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backlog", type=int, default=0)
    p.add_argument("--exit-threads", action="store_true")
    p.add_argument("--orphan-child", action="store_true",
                   help="fork: the child outlives the parent (until killed)")
    p.add_argument("--also-port", type=int, action="append", default=[],
                   help="listen: more ports")
    p.add_argument("--accept", action="store_true",
                   help="listen: accept and hold connections (never answer)")
    p.add_argument("--src-port", type=int, default=0,
                   help="hold: bind this local port before connecting (one connection)")
    p.add_argument("--interval-ms", type=float, default=0)
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--rate", type=float, default=250)
    p.add_argument("--hold-ms", type=float, default=0,
                   help="churn: hold each connection this long before closing it")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--per-thread", type=int, default=10)
    p.add_argument("--thread-name", help="threads: each worker names itself this (<= 15 chars)")
    p.add_argument("--dups", type=int, default=0)
    p.add_argument("--refused", type=int, default=0,
                   help="first connect once to 127.0.0.1:PORT, which must refuse it")
    p.add_argument("--after-refused-ms", type=float, default=0,
                   help="--refused: then wait this long before the mode's work")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if a.name:
        set_comm(a.name)
    del a.tag
    global SRC_PORT
    SRC_PORT = a.src_port
    if a.refused:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", a.refused))
            die("--refused: 127.0.0.1:%d accepted the connection" % a.refused)
        except ConnectionRefusedError:
            pass
        s.close()
        time.sleep(a.after_refused_ms / 1000.0)
    try:
        {"hold": mode_hold, "churn": mode_churn, "fork": mode_fork,
         "threads": mode_threads, "pass": mode_pass, "listen": mode_listen,
         "synsent": mode_synsent}[a.mode](a)
    except OSError as e:
        die("%s: %s" % (a.mode, e))
    command_loop()


if __name__ == "__main__":
    main()
