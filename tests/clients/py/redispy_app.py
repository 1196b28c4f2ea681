#!/usr/bin/python3
"""A small redis-py application for the rcleak `run` tests.

Run it with Debian's /usr/bin/python3 (package python3-redis).

    redispy_app.py leak  PORT COUNT [RATE]        a new redis.Redis(port=PORT) per
                                                  request (PING), never closed; the
                                                  clients stay referenced, and the
                                                  process exits with os._exit() so no
                                                  finalizer closes them: the kernel does.
    redispy_app.py churn PORT COUNT [RATE]        a new client per request, PING,
                                                  client.close() + pool disconnect.
    redispy_app.py pool  PORT COUNT [RATE] [K]    one shared ConnectionPool(max_connections=K)
                                                  used by K threads; disconnected at the end.

RATE: requests per second in total (0 = as fast as possible).  At the end one line
on stdout:

    DONE lib=redis-py mode=M pid=P comm=C requests=R opened=N closed=M open=O

opened/closed count TCP connections as the library made/closed them (counted by
wrapping redis.connection.Connection._connect / disconnect), open = opened - closed
at exit.  Exit status 0 (1 on any Redis error).
"""
import os
import sys
import threading
import time

import redis
import redis.connection

_lock = threading.Lock()
counts = {"opened": 0, "closed": 0, "requests": 0}

_orig_connect = redis.connection.Connection._connect
_orig_disconnect = redis.connection.Connection.disconnect


def _counting_connect(self):
    sock = _orig_connect(self)
    with _lock:
        counts["opened"] += 1
    return sock


def _counting_disconnect(self, *args):
    had = self._sock is not None
    _orig_disconnect(self, *args)
    if had and self._sock is None:
        with _lock:
            counts["closed"] += 1


redis.connection.Connection._connect = _counting_connect
redis.connection.Connection.disconnect = _counting_disconnect


class Pacer:
    """Spread n requests at rate per second (0 = no pacing)."""

    def __init__(self, rate):
        self.period = 1.0 / rate if rate > 0 else 0.0
        self.t0 = time.monotonic()

    def wait(self, i):
        if self.period:
            delay = self.t0 + i * self.period - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def ping(client):
    if client.ping() is not True:
        raise redis.RedisError("PING did not answer PONG")
    with _lock:
        counts["requests"] += 1


def run_leak(port, count, rate):
    clients = []            # keep references: nothing is garbage-collected
    pacer = Pacer(rate)
    for i in range(count):
        pacer.wait(i)
        c = redis.Redis(host="127.0.0.1", port=port)
        ping(c)
        clients.append(c)
    return clients


def run_churn(port, count, rate):
    pacer = Pacer(rate)
    for i in range(count):
        pacer.wait(i)
        c = redis.Redis(host="127.0.0.1", port=port)
        ping(c)
        c.close()
        c.connection_pool.disconnect()


def run_pool(port, count, rate, k):
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, max_connections=k)
    per_thread = [count // k + (1 if t < count % k else 0) for t in range(k)]
    errors = []
    start = threading.Barrier(k)

    def worker(n):
        try:
            client = redis.Redis(connection_pool=pool)
            start.wait()
            pacer = Pacer(rate / k if rate > 0 else 0)
            for i in range(n):
                pacer.wait(i)
                ping(client)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.disconnect()
    if errors:
        raise errors[0]


def main(argv):
    if len(argv) < 3 or argv[0] not in ("leak", "leak-gc", "churn", "pool"):
        sys.stderr.write(__doc__)
        return 2
    mode, port, count = argv[0], int(argv[1]), int(argv[2])
    rate = float(argv[3]) if len(argv) > 3 else 0.0
    keep = None
    try:
        if mode in ("leak", "leak-gc"):
            keep = run_leak(port, count, rate)
        elif mode == "churn":
            run_churn(port, count, rate)
        else:
            run_pool(port, count, rate, int(argv[4]) if len(argv) > 4 else 4)
    except redis.RedisError as e:
        sys.stderr.write("redispy_app: %s\n" % e)
        sys.stdout.flush()
        os._exit(1)
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    print("DONE lib=redis-py mode=%s pid=%d comm=%s requests=%d opened=%d closed=%d open=%d"
          % (mode, os.getpid(), comm, counts["requests"], counts["opened"], counts["closed"],
             counts["opened"] - counts["closed"]), flush=True)
    if keep is not None and mode == "leak":
        # exit with the connections open, like a worker that os._exit()s or is killed
        os._exit(0)
    # leak-gc: return normally; CPython's shutdown finalizes the clients it
    # still references, closing their sockets before the process exits
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
