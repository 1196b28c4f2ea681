"""ns_count.py - what the RPS storms of skips.sh and hookloss.sh count.

tcp_opens(path): (TcpActiveOpens, TcpPassiveOpens) from a copy of a
namespace's /proc/net/snmp. counted(path): what `build/hookfloor --count`
printed, as {"handshakes", "accepts", "skipped"}. undelivered(active,
passive, seen): the handshakes and accepts the hook delivered to no program
and counted as no skip (the counter's own counted skips aside).
"""


def tcp_opens(path):
    tcp = [line.split() for line in open(path) if line.startswith("Tcp:")]
    row = dict(zip(tcp[0][1:], tcp[1][1:]))
    return int(row["ActiveOpens"]), int(row["PassiveOpens"])


def counted(path):
    w = open(path).read().split()
    return dict(zip(w[0::2], map(int, w[1::2])))


def undelivered(active, passive, seen):
    return max(0, (active - seen["handshakes"]) + (passive - seen["accepts"]) - seen["skipped"])
