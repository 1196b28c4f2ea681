"""Harness for the rcleak integration tests (Python 3 standard library only).

The tests import everything from here (`from harness import ...`); the
pieces, one responsibility each:

  core_harness.py    paths, constants, check/Fail/Skip/wait_until/@needs
  proc_harness.py    spawn() and the process registry, cleanup(), Lines
  redis_harness.py   free ports, redis-server (Redis), its INFO and CONFIG
  truth_harness.py   ground truth from ss and /proc
  bpf_harness.py     rcl_ programs, their holders, hookfloor's counter
  rcleak_harness.py  rcleak run to its end, or live (Rcleak), and its rows
  client_harness.py  test clients, load generators, network namespaces

Everything a test starts goes through spawn(), which puts it in a new process
group and records it, so cleanup() can kill the whole group (forked children
included) after every test, at exit, and on SIGTERM/SIGINT of the runner.
The pids are also appended to $RCLEAK_TEST_PIDFILE so tests/run.sh can kill
survivors if this interpreter itself dies.

Ground truth comes from the kernel's own view (ss -tanpH, /proc) and from Redis
(INFO clients), never from rcleak.
"""
from bpf_harness import (HOOKFLOOR, bpf_fd_ids, bpf_fdinfos, bpf_linked_progs, have_bpftool, hook_dropped,
                         leaked_progs, prog_holders, rcl_progs, start_counter, start_hookfloor,
                         stop_counter)
from client_harness import (BOUND_CLIENT, HOLD_THEN_MORE, Client, NetNS, connstorm, holdconns,
                            same_tuple_clients)
from core_harness import (CLIENT, CONNSTORM, CONVERGE_S, HERE, HOLDCONNS, INTERVAL, PIDFILE, RCLEAK, ROOT,
                          TESTS, TIERS, Fail, Skip, check, keep_evidence, needs,
                          wait_until)
from proc_harness import (Lines, _history, _record_pid, _sid, _starttime, children_of, cleanup, group_alive,
                          mkdtemp, spawn, stop, survivors)
from rcleak_harness import (Rcleak, expect_row, expect_server, fields, have_rcleak, proc_row, procs_of,
                            run_rcleak, server_row)
from redis_harness import Redis, free_port, resp_ping, total_connections
from truth_harness import proc_fds, proc_nofile, ss_accepted, ss_count, ss_sockets, ss_states, tcp_opens

SUITE_PROGS = None         # rcl_ programs loaded before the suite started (set by runner)

__all__ = [
    "BOUND_CLIENT", "CLIENT", "CONNSTORM", "CONVERGE_S", "HERE", "HOLDCONNS", "HOLD_THEN_MORE", "HOOKFLOOR",
    "INTERVAL", "PIDFILE", "RCLEAK", "ROOT", "SUITE_PROGS", "TESTS", "TIERS",
    "Client", "Fail", "Lines", "NetNS", "Rcleak", "Redis", "Skip",
    "_history", "_record_pid", "_sid", "_starttime",
    "bpf_fd_ids", "bpf_fdinfos", "bpf_linked_progs", "check", "children_of", "cleanup", "connstorm",
    "expect_row", "expect_server", "fields", "free_port", "group_alive", "have_bpftool", "have_rcleak",
    "holdconns", "hook_dropped", "keep_evidence", "leaked_progs", "mkdtemp", "needs", "proc_fds", "proc_nofile", "proc_row",
    "procs_of", "prog_holders", "rcl_progs", "resp_ping", "run_rcleak", "same_tuple_clients", "server_row",
    "spawn", "ss_accepted", "ss_count", "ss_sockets", "ss_states", "start_counter", "start_hookfloor", "stop",
    "stop_counter",
    "survivors", "tcp_opens", "total_connections", "wait_until",
]
