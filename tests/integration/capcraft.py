"""Crafted capture files, written byte by byte from docs/capture-format.md.

For report's tests that need what no recording makes on demand: hostile
values with valid CRCs, a server near its fd limit at a chosen moment,
events without a 4-tuple.  No root, no BPF.  Cap writes the header, then
records (rec, meta, tick, event, trigger) into chunks (flush); save() writes
the file.  Record layouts follow the format's record types 1-7 and 9.

    c = Cap(); c.meta(); c.tick(0.0, 0.0, fds=[fd(...)], ...); c.save(path)
"""
import struct
import zlib


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def f64(v):
    return struct.pack("<d", v)


def fixed(v, n):
    b = v.encode() if isinstance(v, str) else v
    return b[:n].ljust(n, b"\0")


def ip(a):
    """16 bytes: an IPv4 dotted quad in the first 4."""
    return bytes(int(x) for x in a.split(".")).ljust(16, b"\0")


class Cap:
    def __init__(self, host="hostA", ports=(6379,), wall0=1700000000.0, mono0=10**12, minor=3,
                 version="0.1.0", boot="boot"):
        self.wall0, self.mono0 = wall0, mono0

        def field(tag, v):
            return u16(tag) + u16(len(v)) + v
        body = (field(1, version.encode()) + field(2, host.encode()) + field(3, b"6.1.0") + field(4, boot.encode())
                + field(5, b"".join(u16(p) for p in ports)) + field(6, f64(wall0)) + field(7, u64(mono0)))
        hdr = b"RCLEAKCF" + u16(1) + u16(minor) + u32(len(body)) + body
        self.out = hdr + u32(zlib.crc32(hdr))
        self.recs = []
        self.seq = 0

    def rec(self, typ, ts, data):
        self.recs.append(u16(typ) + u64(ts) + u32(len(data)) + data)

    def flush(self):
        """Closes the chunk being filled."""
        if not self.recs:
            return
        u = b"".join(self.recs)
        c = zlib.compress(u)
        h = (b"RCHK" + u32(self.seq) + u32(len(self.recs)) + u32(len(c)) + u32(len(u)) + u32(zlib.crc32(c))
             + u32(0))
        self.out += h + u32(zlib.crc32(h)) + c
        self.seq += 1
        self.recs = []

    def meta(self, interval=1.0, window=60.0, th=(5, 0.2, 5, 1000, 60, 3600, 10, 300), tier="tp_btf",
             walk="iter"):
        self.rec(7, 0, fixed(tier, 16) + fixed(walk, 8) + f64(interval) + f64(window)
                 + b"".join(f64(x) for x in th))

    def ts(self, now):
        return self.mono0 + int(now * 1e9)

    def tick(self, now, dt, fds=(), counters=(), procs=(), events=0, lost=0, hz=250, eps=0.0, wall=None):
        """A keyframe at `now` s from the start: fds, counters and procs are
        dicts of fd(), counters() and proc()'s arguments."""
        t = self.ts(now)
        wall = self.wall0 + now if wall is None else wall
        self.rec(2, t, f64(now) + f64(dt) + f64(wall) + u64(t) + u64(events) + u64(lost) + u64(0) + u64(0)
                 + f64(eps) + u64(hz))
        for x in fds:
            self.rec(3, t, fd(**x))
        for x in counters:
            self.rec(4, t, ctr(**x))
        for x in procs:
            self.rec(5, t, proc(**x))
        self.rec(6, t, b"")

    def event(self, now, **kw):
        self.rec(1, self.ts(now), event(**kw))

    def trigger(self, now, wall, tgid=0, start=0, verdict="", rule="", why=""):
        self.rec(9, self.ts(now), f64(wall) + u32(tgid) + u64(start) + fixed(verdict, 16) + fixed(rule, 112)
                 + fixed(why, 200))

    def data(self):
        self.flush()
        return self.out

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.data())


def fd(tgid, fd, sk, lport, rport, state=1, start=1000, nofile=1024, nofile_max=4096, comm="app",
       laddr="127.0.0.1", raddr="127.0.0.1", jiffies=100000, last_rcv=100000, last_snd=100000, open_ns=0,
       flags=0, family=2):
    return (u32(tgid) + u32(fd) + u64(start) + u64(sk) + u64(nofile) + u64(nofile_max) + u64(open_ns)
            + u64(jiffies) + u32(last_rcv) + u32(last_snd) + u16(lport) + u16(rport) + u8(state) + u8(family)
            + ip(laddr) + ip(raddr) + fixed(comm, 16) + u8(flags))


def ctr(tgid, start=1000, opened=0, closed=0, exit_closed=0, released=0, peak=0, flags=0, comm="app",
        life=None):
    life = life or [0] * 32
    return (u32(tgid) + u64(start) + u64(opened) + u64(closed) + u64(exit_closed) + u64(released) + u64(0)
            + u64(peak) + u32(flags) + fixed(comm, 16) + b"".join(u32(x) for x in life))


def proc(tgid, start=1000, fds=10, nofile_soft=1024, nofile_hard=4096, maxclients=0, exited=0, exited_at=0.0,
         missed_closed=0, src="default", comm="app", cmdline="app", unix_clients=0):
    return (u32(tgid) + u64(start) + u64(fds) + u64(nofile_soft) + u64(nofile_hard) + u64(maxclients)
            + u8(exited) + f64(exited_at) + u64(missed_closed) + fixed(src, 16) + fixed(comm, 16)
            + fixed(cmdline, 128) + u64(unix_clients))


def event(sk, tgid, cur_tgid, start, lport, rport, old, new, kind, family=2, laddr="127.0.0.1",
          raddr="127.0.0.1", comm=""):
    a = (u64(sk) + u32(tgid) + u32(cur_tgid) + u64(start) + u16(lport) + u16(rport) + u8(old) + u8(new)
         + u8(family) + u8(kind))
    if family == 2:
        a += ip(laddr)[:4] + ip(raddr)[:4]
    elif family:
        a += ip(laddr) + ip(raddr)
    return a + fixed(comm, 16)


def tiny(host):
    """One refresh of pid 200 holding a connection, after its connect event."""
    c = Cap(host=host)
    c.meta()
    c.event(0.0, sk=0x3000, tgid=200, cur_tgid=200, start=1000, lport=40000, rport=6379, old=2, new=1, kind=1,
            comm="app")
    c.tick(0.0, 0.0, [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379)], [dict(tgid=200, opened=1)],
           [dict(tgid=200)])
    return c


def chunked_holder(n=1500, ticks=4, step=5.0):
    """Client pid 200 ('app') holding n connections at `ticks` refreshes
    `step` s apart, each refresh written in 3 chunks, as a recorder writes
    one of many connections. The Cap, flushed."""
    c = Cap()
    c.meta(interval=step)
    for i in range(ticks):
        fds = [dict(tgid=200, fd=3 + k, sk=0x3000 + k, lport=40000 + k, rport=6379, start=600, comm="app")
               for k in range(n)]
        c.tick(step * i, step if i else 0.0, fds, [dict(tgid=200, start=600, opened=n, comm="app")],
               [dict(tgid=200, start=600, comm="app")])
        recs, c.recs = c.recs, []
        third = len(recs) // 3
        for part in (recs[:third], recs[third:2 * third], recs[2 * third:]):
            c.recs = part
            c.flush()
    return c


def chunks(data):
    """(start, compressed length) of each chunk of a whole capture."""
    off = 16 + struct.unpack_from("<I", data, 12)[0] + 4
    out = []
    while off < len(data):
        clen = struct.unpack_from("<I", data, off + 12)[0]
        out.append((off, clen))
        off += 32 + clen
    return out


def leak_scenario(ticks=12, step=5.0, th=None, wall0=1700000000.0, **tick_kw):
    """redis-server pid 100 on 6379 with 1000 of its 1024 fds used
    (FD-LIMIT), client 200 ('leaky') growing by 2 connections a tick (LEAK),
    client 300 ('good') with one; a connect event of 200 before each tick.
    th: the recorded thresholds (Cap.meta's); tick_kw goes to every tick
    (wall=..., say); wall0: the wall time of the start (Cap's)."""
    c = Cap(wall0=wall0)
    c.meta(**({"th": th} if th else {}))
    for i in range(ticks):
        now = step * i
        n = 2 + i * 2
        fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                    laddr="0.0.0.0", raddr="0.0.0.0")]
        for k in range(n):
            fds.append(dict(tgid=100, fd=7 + k, sk=0x2000 + k, lport=6379, rport=40000 + k, start=500,
                            comm="redis-server"))
            fds.append(dict(tgid=200, fd=3 + k, sk=0x3000 + k, lport=40000 + k, rport=6379, start=600,
                            comm="leaky"))
        fds.append(dict(tgid=300, fd=3, sk=0x4000, lport=50000, rport=6379, start=700, comm="good"))
        fds.append(dict(tgid=100, fd=99, sk=0x4001, lport=6379, rport=50000, start=500, comm="redis-server"))
        counters = [dict(tgid=100, start=500, opened=n + 1, flags=1, comm="redis-server"),
                    dict(tgid=200, start=600, opened=n, comm="leaky"),
                    dict(tgid=300, start=700, opened=1, comm="good")]
        procs = [dict(tgid=100, start=500, fds=1000, nofile_soft=1024, comm="redis-server",
                      cmdline="redis-server *:6379"),
                 dict(tgid=200, start=600, fds=n + 3, comm="leaky", cmdline="leaky"),
                 dict(tgid=300, start=700, fds=5, comm="good", cmdline="good")]
        if i:
            c.event(now - 1, sk=0x3000 + n - 1, tgid=200, cur_tgid=200, start=600, lport=0, rport=6379, old=7,
                    new=2, kind=1, comm="leaky")
        c.tick(now, step if i else 0.0, fds, counters, procs, events=i, **tick_kw)
        c.flush()
    return c


def seeds(d):
    """Semantic seeds for fuzz_report (the container seeds of gen_corpus hold
    no ticks): a leak with a server at its limit, ticks with hostile times,
    state events without a 4-tuple, IPv6, a trigger."""
    import os
    os.makedirs(d, exist_ok=True)
    leak_scenario().save(os.path.join(d, "leak.rcl"))
    c = leak_scenario(ticks=4)
    c.tick(30.0, 5.0, wall=1e17)
    c.tick(35.0, float("nan"))
    c.save(os.path.join(d, "hostile-times.rcl"))
    c = Cap(ports=(6379, 6380))
    c.meta(interval=0.5)
    c.tick(0.0, 0.0, fds=[dict(tgid=300, fd=4, sk=0x50, lport=41000, rport=6380, family=10, laddr="0.0.0.0",
                               raddr="0.0.0.0", comm="v6app")],
           counters=[dict(tgid=300, opened=1, comm="v6app")], procs=[dict(tgid=300, comm="v6app")])
    c.event(0.2, sk=0x50, tgid=300, cur_tgid=0, start=1000, lport=0, rport=0, old=1, new=8, kind=2, family=0)
    c.event(0.3, sk=0x51, tgid=300, cur_tgid=300, start=1000, lport=41001, rport=6380, old=7, new=2, kind=1,
            family=10, comm="v6app")
    c.tick(0.5, 0.5, counters=[dict(tgid=300, opened=2, closed=1, comm="v6app")],
           procs=[dict(tgid=300, comm="v6app", exited=1, exited_at=0.4)])
    c.trigger(0.5, 1700000000.5, tgid=300, start=1000, verdict="LEAK", rule="crafted", why="crafted")
    c.save(os.path.join(d, "v6-notuple.rcl"))


if __name__ == "__main__":
    import sys
    seeds(sys.argv[1])
