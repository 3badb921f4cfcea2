"""The closing-note figure of issue #10 §3.2: 20,000 idle admin HTTP connections attempted
against a coordinator with its default descriptor limit and default HTTP bounds, one real agent
joined (gateway timeout 3 s, so a stalled loop would show as a gateway going down).

    .venv/bin/python Tests/interop/dos_http_20k.py [--baseline] [--nofile N]

(--baseline only labels the output: point FLEETGATE_COORDINATOR at the build to measure;
--nofile sets the coordinator's descriptor limit, soft and hard; default: inherited, 20,000 here.)

Prints one line per second: coordinator descriptors, CPU (% of one core), gw-1's state as seen by
GET /v1/gateways (fetched on a fresh connection; "refused" when the cap closed it), and
gateway_timeouts_total. Mid-attack a new gateway tries HELLO. Everything on 127.0.0.1, bounded in
count (20,000) and time (~40 s); only processes started here are signalled, by PID. Two attacker
processes hold 10,000 connections each (one process may not hold 20,000 descriptors here).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from brokers import Broker, BrokerConfig  # noqa: E402
from fabric import FleetCoordinator  # noqa: E402
from test_dos_fds import cpu_seconds, cpu_share, link_hello, open_fds  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

TOTAL = 20_000
PER_PROCESS = 10_000
HOLD_S = 20.0


def attacker(port: int, n: int, hold: float, out):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks, failed = [], 0
    deadline = time.monotonic() + 20
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        if s.connect_ex(("127.0.0.1", port)) not in (0, 115):   # 115: EINPROGRESS
            failed += 1
            s.close()
            continue
        socks.append(s)
    out.put((len(socks), failed))
    time.sleep(hold)
    closed = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    out.put(closed)
    for s in socks:
        s.close()


def gw_state(coord) -> str:
    try:
        g = coord.gateways().get("gw-1")
        return f"{g['state']}/{'connected' if g['connected'] else 'disconnected'}" if g else "missing"
    except Exception as e:  # noqa: BLE001
        return "refused" if isinstance(e, (ConnectionError, OSError)) else type(e).__name__


def timeouts(coord):
    try:
        return int(coord.metrics().get("fleetgate_coordinator_gateway_timeouts_total", 0))
    except Exception:  # noqa: BLE001
        return "?"


def main():
    baseline = "--baseline" in sys.argv
    nofile = int(sys.argv[sys.argv.index("--nofile") + 1]) if "--nofile" in sys.argv else None
    tmp = Path(tempfile.mkdtemp(prefix="fg-dos20k-"))
    coord = FleetCoordinator(tmp / "coordinator", gateway_timeout=3.0, nofile=nofile).start()
    agent = Broker(tmp / "gw-1", BrokerConfig(extra_yaml=(
        "coordinator:\n"
        f"  address: \"127.0.0.1:{coord.link_port}\"\n  gateway_id: gw-1\n"
        f"  token_file: \"{coord.token_file}\"\n  reconnect_min_ms: 100\n  reconnect_max_ms: 1000\n"))).start()
    pid = coord.proc.pid
    procs = []
    try:
        deadline = time.monotonic() + 15
        while gw_state(coord) != "active/connected" and time.monotonic() < deadline:
            time.sleep(0.1)
        limit = open(f"/proc/{pid}/limits").read().split("Max open files")[1].split()[0]
        print(f"{'baseline ' if baseline else ''}coordinator pid {pid}, descriptor limit {limit}, "
              f"fds before {open_fds(pid)}, gw-1 {gw_state(coord)}")
        q = mp.Queue()
        procs = [mp.Process(target=attacker, args=(coord.http_port, PER_PROCESS, HOLD_S, q)) for _ in range(TOTAL // PER_PROCESS)]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        opened, closed = [], []
        new_gw = None
        peak_fds, peak_cpu, peak_rss = 0, 0.0, 0.0
        rss_before = rss_mb(pid)
        c0, w0 = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - t0 < 60 and len(closed) < len(procs):
            time.sleep(1)
            while not q.empty():
                item = q.get()
                (opened if isinstance(item, tuple) else closed).append(item)
                if isinstance(item, tuple) and len(opened) == len(procs):
                    print(f"  attempted {TOTAL}: connect() accepted locally {sum(o[0] for o in opened)}, "
                          f"failed {sum(o[1] for o in opened)}, in {time.monotonic() - t0:.1f} s")
            if coord.proc.poll() is not None:
                print(f"coordinator EXITED with {coord.proc.returncode}")
                break
            c1, w1 = cpu_seconds(pid), time.monotonic()
            cpu = (c1 - c0) / (w1 - w0)
            c0, w0 = c1, w1
            fds = open_fds(pid)
            rss = rss_mb(pid)
            peak_fds, peak_cpu, peak_rss = max(peak_fds, fds), max(peak_cpu, cpu), max(peak_rss, rss)
            if new_gw is None and time.monotonic() - t0 > 5:
                new_gw = link_hello(coord, "gw-new")
                print(f"  new gateway HELLO during the attack: {'ok' if new_gw else 'FAILED'}")
            print(f"  t={w1 - t0:5.1f}s fds {fds:6d} cpu {cpu:4.0%} rss {rss:5.1f} MB gw-1 {gw_state(coord):18s} gateway_timeouts {timeouts(coord)}")
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        print(f"connections the server had closed by the end of the hold: {sum(closed)}")
        time.sleep(2)
        alive = coord.proc.poll() is None
        if alive:
            # The attacker's close lets the kernel finish connections it had dropped from the full
            # accept queue; the coordinator accepts and closes them. Then it is quiet again.
            deadline = time.monotonic() + 20
            share = cpu_share(pid, 2.0)
            while share > 0.1 and time.monotonic() < deadline:
                share = cpu_share(pid, 2.0)
            print(f"cpu back to {share:.0%} {time.monotonic() - t0:.0f} s after the attack began")
        print(f"after: alive {alive}, fds {open_fds(pid) if alive else '-'}, gw-1 {gw_state(coord) if alive else '-'}, "
              f"gateway_timeouts {timeouts(coord) if alive else '-'}; peak fds {peak_fds}, peak cpu {peak_cpu:.0%}, "
              f"rss before {rss_before:.1f} MB, peak {peak_rss:.1f} MB, after {rss_mb(pid) if alive else 0:.1f} MB")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        agent.stop()
        if coord.proc.poll() is None:
            coord.stop()


if __name__ == "__main__":
    main()
