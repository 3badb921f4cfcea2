"""Cross-gateway peering measured (issue #15; run by `make bench` or by hand, not part of
`make test`: the file name is not test_*): two gateways in network namespaces, devices in the root
namespace. Peered throughput one way and a 64-byte ping-pong, against raw TCP from the root
namespace to a server in one gateway's namespace. Prints one JSON line and writes
bench/results/peering-cross.json.

    FLEETGATE_AGENT=.build/release/fleetgate-agent .venv/bin/pytest -q -s Tests/interop/measure_peering_cross.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from fabric import fleet_factory  # noqa: F401 (fixture)
from test_fabric_peering import two_gateways

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("peering_bench", ROOT / "bench/peering.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0)); s.listen(4); print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if sys.argv[2] == "sink":
    while c.recv(1 << 20): pass
else:
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
c.close()
"""


def server_in_namespace(prefix, host, mode):
    p = subprocess.Popen([*prefix, sys.executable, "-c", SERVER, host, mode], stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def test_measure_cross_gateway_peering(fleet_factory):
    total = int(os.environ.get("PEERING_MB", "200")) * 1024 * 1024
    pings = int(os.environ.get("PEERING_PINGS", "3000"))
    fleet, pairing, on1, on2 = two_gateways(fleet_factory)
    try:
        gw2 = fleet.gws["gw-2"]
        prefix = gw2.ns.prefix() if gw2.ns is not None else []
        host = gw2.ns.dev_ns_addr if gw2.ns is not None else "127.0.0.1"
        # Raw: root namespace -> a sink in gw-2's namespace, timed until the sink has read it all.
        sink, port = server_in_namespace(prefix, host, "sink")
        s = socket.create_connection((host, port))
        block = b"\x5a" * bench.BLOCK
        started = time.perf_counter()
        sent = 0
        while sent < total:
            sent += s.send(block)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        raw_bps = sent / (time.perf_counter() - started)
        s.close()
        sink.wait(10)
        echo, port = server_in_namespace(prefix, host, "echo")
        c = socket.create_connection((host, port))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        msg = b"p" * 64
        rtts = []
        for _ in range(pings):
            t = time.perf_counter()
            c.sendall(msg)
            got = 0
            while got < 64:
                got += len(c.recv(64 - got))
            rtts.append((time.perf_counter() - t) * 1e6)
        c.close()
        echo.wait(10)
        rtts.sort()
        raw_lat = {"p50": rtts[len(rtts) // 2], "p99": rtts[int(len(rtts) * 0.99)]}
        # Peered: a device on gw-1 linked with one on gw-2.
        pairing.peers = {"t.a": ("t", "json"), "t.b": ("t", "json"), "l.a": ("l", "json"), "l.b": ("l", "json")}
        a, b = on1("t.a"), on2("t.b")
        peered_bps = bench.throughput(a[0], b[0], total)
        x, y = on1("l.a"), on2("l.b")
        peered_lat = bench.pingpong(x[0], y[0], pings)
        result = {"cross": {"raw_MBps": raw_bps / 1e6, "peered_MBps": peered_bps / 1e6, "ratio": peered_bps / raw_bps, "target": 0.40},
                  "latency_us": {"raw": raw_lat, "peered": peered_lat, "added_p50": peered_lat["p50"] - raw_lat["p50"],
                                 "added_p99": peered_lat["p99"] - raw_lat["p99"]},
                  "bytes": total, "pings": pings, "agent": os.environ.get("FLEETGATE_AGENT"), "loadavg": os.getloadavg(),
                  "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        out = ROOT / "bench/results/peering-cross.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(json.dumps(result))
        assert peered_bps > 0
    finally:
        pairing.stop()
