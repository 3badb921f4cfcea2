#!/usr/bin/env python3
"""Socket peering (issue #15), local to one gateway: peered throughput as a ratio of raw loopback
TCP between the same client processes, and the latency a 64-byte ping-pong gains through a link.
Plain Python 3 standard library; the devices are raw TCP sockets driven by two child processes
(so the two ends do not share a GIL), the function is an HTTP server in this process.

    python3 bench/peering.py [--agent .build/release/fleetgate-agent] [--mb 200] [--pings 5000]

Prints one JSON object and writes bench/results/peering.json. Across gateways:
Tests/interop/measure_peering_cross.py (network namespaces, the fabric harness)."""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = 256 * 1024


def endpoint():
    """Answers every open event with the rendezvous named by the client id's prefix."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            client = self.headers.get("X-Fleetgate-Client", "")
            self.send_response(200)
            if self.headers.get("X-Fleetgate-Event") == "open":
                self.send_header("X-Fleetgate-Peer", client.split(".")[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_agent(binary, url, tmp):
    cfg = os.path.join(tmp, "agent.yaml")
    mapping = {"endpoint": {"url": url}, "events": ["open", "close"], "reply": "discard"}
    with open(cfg, "w") as f:
        f.write(f"auth:\n  allow_anonymous: true\nmappings:\n  bridge: {json.dumps(mapping)}\n")
    os.makedirs(os.path.join(tmp, "data"), exist_ok=True)
    ready = os.path.join(tmp, "ready.json")
    proc = subprocess.Popen([binary, "--config", cfg, "--listen", "127.0.0.1:0", "--listen-sockets", "127.0.0.1:0",
                             "--data-dir", os.path.join(tmp, "data"), "--ready-file", ready], stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "agent.log"), "w"))
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            with open(ready) as f:
                info = json.load(f)
            return proc, int(info["sockets"][0].rpartition(":")[2])
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("agent not ready:\n" + open(os.path.join(tmp, "agent.log")).read()[-2000:])


def open_peered(port, client):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"OPEN bridge client={client}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        line += s.recv(1)
    assert line.startswith(b"OK "), line
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def raw_pair():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    a = socket.create_connection(server.getsockname())
    b, _ = server.accept()
    server.close()
    for s in (a, b):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return a, b


def sender(sock, total, q):
    block = b"\x5a" * BLOCK
    sent = 0
    while sent < total:
        sent += sock.send(block[: min(BLOCK, total - sent)])
    q.put(("sent", sent))


def receiver(sock, total, q):
    buf = bytearray(BLOCK)
    got = 0
    started = None
    while got < total:
        n = sock.recv_into(buf)
        if not n:
            break
        if started is None:
            started = time.perf_counter()
        got += n
    q.put(("got", got, time.perf_counter() - (started or time.perf_counter())))


def throughput(a, b, total):
    """Bytes/s one way, a -> b, each end in its own process."""
    q = mp.Queue()
    ps = [mp.Process(target=receiver, args=(b, total, q)), mp.Process(target=sender, args=(a, total, q))]
    started = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join(300)
    elapsed = time.perf_counter() - started
    results = [q.get(timeout=5) for _ in ps]
    got = next(r for r in results if r[0] == "got")[1]
    assert got == total, f"{got} of {total}"
    return total / elapsed


def echo(sock, n, size):
    buf = b""
    for _ in range(n):
        while len(buf) < size:
            buf += sock.recv(65536)
        sock.sendall(buf[:size])
        buf = buf[size:]


def pingpong(a, b, n, size=64):
    """Round-trip times (us) of `size`-byte messages a -> b -> a, b echoing in its own process."""
    p = mp.Process(target=echo, args=(b, n, size))
    p.start()
    msg = b"p" * size
    out = []
    for _ in range(n):
        t = time.perf_counter()
        a.sendall(msg)
        got = 0
        while got < size:
            got += len(a.recv(size - got))
        out.append((time.perf_counter() - t) * 1e6)
    p.join(30)
    out.sort()
    return {"p50": out[len(out) // 2], "p99": out[int(len(out) * 0.99)], "mean": statistics.fmean(out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default=os.path.join(ROOT, ".build/release/fleetgate-agent"))
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--pings", type=int, default=5000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/peering.json"))
    args = ap.parse_args()
    total = args.mb * 1024 * 1024
    server = endpoint()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_agent(args.agent, f"http://127.0.0.1:{server.server_address[1]}/fn", tmp)
        try:
            raw = raw_pair()
            raw_bps = throughput(raw[0], raw[1], total)
            raw_lat = pingpong(raw[0], raw[1], args.pings)
            a, b = open_peered(port, "t.a"), open_peered(port, "t.b")
            peered_bps = throughput(a, b, total)
            c, d = open_peered(port, "l.a"), open_peered(port, "l.b")
            peered_lat = pingpong(c, d, args.pings)
        finally:
            proc.terminate()
            proc.wait(10)
    result = {
        "local": {"raw_MBps": raw_bps / 1e6, "peered_MBps": peered_bps / 1e6, "ratio": peered_bps / raw_bps, "target": 0.70},
        "latency_us": {"raw": raw_lat, "peered": peered_lat,
                       "added_p50": peered_lat["p50"] - raw_lat["p50"], "added_p99": peered_lat["p99"] - raw_lat["p99"]},
        "cross": "Tests/interop/measure_peering_cross.py",
        "bytes": total, "pings": args.pings, "agent": args.agent,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg(),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
