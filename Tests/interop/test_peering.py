"""Issue #15: socket peering on one gateway, against the real agent. Devices are raw TCP sockets
(Protocol/managed-sockets.md); the function is a real HTTP server whose open-event answer names
each socket's peer (a JSON body `{"peer": ...}` or an `X-Fleetgate-Peer` header)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support import wait_until

pytestmark = pytest.mark.fleetgate_only


class PairingEndpoint:
    """Answers a socket's open event with the peer its client id is given in `peers`
    (client -> (peer, "json" | "header")); other events get an empty 200."""

    def __init__(self, host: str = "127.0.0.1"):
        self.peers: dict[str, tuple[str, str]] = {}
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event, client = self.headers.get("X-Fleetgate-Event"), self.headers.get("X-Fleetgate-Client")
                with endpoint.lock:
                    endpoint.calls.append({"event": event, "client": client, "socket": self.headers.get("X-Fleetgate-Socket"),
                                           "body": body})
                peer, how = endpoint.peers.get(client, (None, None)) if event == "open" else (None, None)
                answer = json.dumps({"peer": peer}).encode() if how == "json" else b""
                self.send_response(200)
                if how == "header":
                    self.send_header("X-Fleetgate-Peer", peer)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024

        self.server = Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/fn"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, client: str) -> list[str]:
        with self.lock:
            return [c["event"] for c in self.calls if c["client"] == client]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pairing():
    e = PairingEndpoint()
    yield e
    e.stop()


def peer_mapping(url: str, **extra) -> dict:
    return {"endpoint": {"url": url, "timeout_ms": 5000}, "events": ["open", "data", "close"],
            "receive": {"delimiter": "\n"}, "reply": "write", "on_error": "close", "max_concurrency": 256, **extra}


def agent_with(broker_factory, mappings: dict, **kw):
    yaml = "mappings:\n" + "".join(f"  {name}: {json.dumps(m)}\n" for name, m in mappings.items())
    return broker_factory(extra_args=["--listen-sockets", "127.0.0.1:0"], extra_yaml=yaml, **kw)


def open_device(port: int, line: str, timeout: float = 20) -> tuple[socket.socket, str, bytes]:
    """Connects, sends the OPEN line, returns the socket, the answer line and any bytes after it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(line.encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        data = s.recv(4096)
        if not data:
            break
        buf += data
    answer, _, rest = buf.partition(b"\n")
    return s, answer.decode(), rest


def open_many(port: int, lines: list[str], timeout: float = 60) -> list[tuple[socket.socket, str, bytes]]:
    """All OPEN lines sent first, then the answers read: the opens run concurrently."""
    socks = []
    for line in lines:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(line.encode() + b"\n")
        socks.append(s)
    out = []
    for s in socks:
        buf = b""
        while b"\n" not in buf:
            data = s.recv(4096)
            if not data:
                break
            buf += data
        answer, _, rest = buf.partition(b"\n")
        out.append((s, answer.decode(), rest))
    return out


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pump(s: socket.socket, total: int, seed: int, digest: dict, key: str):
    """Sends `total` pseudo-random bytes (seeded), recording their SHA-256."""
    h = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    sent = 0
    while sent < total:
        chunk = block[: min(len(block), total - sent)]
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
    digest[key] = h.hexdigest()


def drain(s: socket.socket, total: int, first: bytes, digest: dict, key: str):
    h = hashlib.sha256(first)
    got = len(first)
    while got < total:
        data = s.recv(1 << 20)
        assert data, f"{key}: EOF after {got} of {total} bytes"
        h.update(data)
        got += len(data)
    digest[key] = h.hexdigest()


def exchange(a, b, total: int, timeout: float = 90):
    """`total` bytes each way at once; returns (sent a, received at b, sent b, received at a)."""
    (sa, _, ra), (sb, _, rb) = a, b
    d: dict = {}
    threads = [threading.Thread(target=pump, args=(sa, total, 1, d, "a-sent")),
               threading.Thread(target=pump, args=(sb, total, 2, d, "b-sent")),
               threading.Thread(target=drain, args=(sb, total, rb, d, "b-got")),
               threading.Thread(target=drain, args=(sa, total, ra, d, "a-got"))]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "the exchange did not finish in time"
    return d


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how, megabytes", [("json", 100), ("header", 8)])  # the suite's time goes to one 100 MB run
def test_a_rendezvous_links_two_devices_100_mb_each_way(broker_factory, pairing, how, megabytes):
    agent = agent_with(broker_factory, {"bridge": peer_mapping(pairing.url)})
    pairing.peers = {"left": ("room-1", how), "right": ("room-1", how)}
    a = open_device(agent.sockets_port, "OPEN bridge client=left")
    b = open_device(agent.sockets_port, "OPEN bridge client=right")
    assert a[1].startswith("OK ") and b[1].startswith("OK "), (a[1], b[1])
    for s in (a[0], b[0]):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    d = exchange(a, b, megabytes * 1024 * 1024)
    assert d["a-sent"] == d["b-got"] and d["b-sent"] == d["a-got"]
    # Linked: no data events, only open and close.
    assert "data" not in pairing.events("left") + pairing.events("right")
    a[0].close()
    b[0].settimeout(10)
    assert b[0].recv(10) == b"", "the peer's close became this side's EOF"
    wait_until(lambda: "close" in pairing.events("right"), timeout=10, what="the close event of the peer")
    b[0].close()


def test_the_second_device_opens_3_s_later_and_they_link(broker_factory, pairing):
    agent = agent_with(broker_factory, {"bridge": peer_mapping(pairing.url, peer_wait_ms=10_000)})
    # The first names the second by the id it will ask for; the second's answer names no one.
    pairing.peers = {"first": ("meter-bridge", "header")}
    a = open_device(agent.sockets_port, "OPEN bridge client=first")
    assert a[1].startswith("OK "), a[1]
    a[0].sendall(b"sent while waiting\n")  # held for the peer
    time.sleep(3)
    b = open_device(agent.sockets_port, "OPEN bridge client=second id=meter-bridge")
    assert b[1] == "OK meter-bridge", b[1]
    got = b[2]
    b[0].settimeout(10)
    while len(got) < len(b"sent while waiting\n"):
        got += b[0].recv(100)
    assert got == b"sent while waiting\n"
    b[0].sendall(b"back")
    a[0].settimeout(10)
    assert a[2] + a[0].recv(100) == b"back"
    # The id is taken while its socket is open.
    c = open_device(agent.sockets_port, "OPEN bridge client=third id=meter-bridge")
    assert c[1].startswith("ERR id-taken"), c[1]
    for s in (a[0], b[0], c[0]):
        s.close()


def test_a_peer_that_never_opens_ends_in_peer_timeout(broker_factory, pairing):
    agent = agent_with(broker_factory, {"bridge": peer_mapping(pairing.url, peer_wait_ms=1_500)})
    pairing.peers = {"lonely": ("nobody", "json")}
    started = time.monotonic()
    s, answer, rest = open_device(agent.sockets_port, "OPEN bridge client=lonely")
    assert answer.startswith("OK "), answer
    assert rest == b"", "the JSON that named the peer is not written to the device"
    buf = rest
    while True:
        data = s.recv(4096)
        if not data:
            break
        buf += data
    waited = time.monotonic() - started
    assert buf.startswith(b"ERR peer-timeout"), buf
    assert 1.3 <= waited <= 5, waited
    s.close()


def test_a_device_that_stops_reading_stalls_only_its_peer(broker_factory, pairing):
    """One side never reads: the other's writes stall with the agent's memory bounded (RSS growth
    under 20 MB while up to 1 GB is offered), and another linked pair keeps its throughput."""
    agent = agent_with(broker_factory, {"bridge": peer_mapping(pairing.url)})
    pairing.peers = {"writer": ("stall", "json"), "sleeper": ("stall", "json"),
                     "x": ("busy", "json"), "y": ("busy", "json")}
    w = open_device(agent.sockets_port, "OPEN bridge client=writer")
    z = open_device(agent.sockets_port, "OPEN bridge client=sleeper")
    x = open_device(agent.sockets_port, "OPEN bridge client=x")
    y = open_device(agent.sockets_port, "OPEN bridge client=y")
    assert all(d[1].startswith("OK ") for d in (w, z, x, y))
    before = rss_kb(agent.proc.pid)
    w[0].setblocking(False)
    block = b"\xa5" * (1 << 20)
    offered = 0
    stalled_for = 0.0
    deadline = time.monotonic() + 30
    while offered < 1 << 30 and time.monotonic() < deadline and stalled_for < 2.0:
        try:
            offered += w[0].send(block)
            stalled_for = 0.0
        except BlockingIOError:
            time.sleep(0.05)
            stalled_for += 0.05
    assert stalled_for >= 2.0, f"the writer never stalled ({offered} bytes offered)"
    assert offered < 64 << 20, f"{offered} bytes went in although nobody reads"
    grown = (rss_kb(agent.proc.pid) - before) / 1024
    assert grown < 20, f"agent RSS grew {grown:.1f} MB"
    # The other pair, meanwhile: 20 MB each way at full speed.
    started = time.monotonic()
    d = exchange(x, y, 20 * 1024 * 1024, timeout=30)
    assert d["a-sent"] == d["b-got"] and d["b-sent"] == d["a-got"]
    assert time.monotonic() - started < 15
    assert (rss_kb(agent.proc.pid) - before) / 1024 < 20
    for s in (w[0], z[0], x[0], y[0]):
        s.close()


def test_peer_and_data_keeps_the_data_events_of_a_linked_socket(broker_factory, pairing):
    agent = agent_with(broker_factory, {"both": peer_mapping(pairing.url, peer_and_data=True), "bridge": peer_mapping(pairing.url)})
    pairing.peers = {"a": ("r1", "json"), "b": ("r1", "json"), "c": ("r2", "json"), "d": ("r2", "json")}
    a = open_device(agent.sockets_port, "OPEN both client=a")
    b = open_device(agent.sockets_port, "OPEN both client=b")
    c = open_device(agent.sockets_port, "OPEN bridge client=c")
    d = open_device(agent.sockets_port, "OPEN bridge client=d")
    for (x, y) in ((a, b), (c, d)):
        x[0].sendall(b"one\ntwo\n")
        got = y[2]
        y[0].settimeout(10)
        while len(got) < 8:
            got += y[0].recv(100)
        assert got == b"one\ntwo\n", "the peer gets the bytes unchanged either way"

    def bodies(client):
        with pairing.lock:
            return [c["body"] for c in pairing.calls if c["client"] == client and c["event"] == "data"]
    wait_until(lambda: bodies("a") == [b"one", b"two"], timeout=10, what="a's data events (peer_and_data)")
    time.sleep(0.5)
    assert bodies("c") == [], "without peer_and_data a linked socket has no data events"
    for s in (a[0], b[0], c[0], d[0]):
        s.close()


def test_eof_reaches_the_peer_after_the_bytes_in_flight(broker_factory, pairing):
    agent = agent_with(broker_factory, {"bridge": peer_mapping(pairing.url)})
    pairing.peers = {"a": ("pair", "json"), "b": ("pair", "json")}
    a = open_device(agent.sockets_port, "OPEN bridge client=a")
    b = open_device(agent.sockets_port, "OPEN bridge client=b")
    payload = os.urandom(3 * 1024 * 1024)
    a[0].sendall(payload)
    a[0].shutdown(socket.SHUT_WR)
    got = b[2]
    b[0].settimeout(10)
    while True:
        data = b[0].recv(1 << 20)
        if not data:
            break
        got += data
    assert got == payload, f"{len(got)} of {len(payload)} bytes before EOF"
    a[0].close()
    b[0].close()


@pytest.mark.timeout(240)
def test_many_linked_pairs_each_echo_a_thousand_messages(broker_factory, pairing):
    """200 pairs on one gateway (500 across two is the cross-gateway case): each of 1,000 messages
    from one side comes back from the other, intact and in order."""
    pairs = 200
    m = peer_mapping(pairing.url, max_concurrency=16)
    m["endpoint"]["timeout_ms"] = 30_000  # Python's HTTP server on a busy test host
    agent = agent_with(broker_factory, {"bridge": m})
    pairing.peers = {f"p{i}-{side}": (f"room-{i}", "json") for i in range(pairs) for side in "ab"}
    # In batches: the handshake timeout (10 s) also covers the open event, and the Python endpoint
    # answers a few hundred calls a second at best.
    lines = [f"OPEN bridge client=p{i}-{side}" for i in range(pairs) for side in "ab"]
    opened = [d for k in range(0, len(lines), 50) for d in open_many(agent.sockets_port, lines[k:k + 50])]
    devices = [(opened[2 * i], opened[2 * i + 1]) for i in range(pairs)]
    refused = [d[1] for d in opened if not d[1].startswith("OK ")]
    assert not refused, refused[:5]
    echo_through_pairs(devices)


def echo_through_pairs(devices, size: int = 32, count: int = 1000):
    """Each pair's a side sends `count` messages of `size` bytes, pipelined; the b side echoes;
    every a side must read back exactly what it sent, in order. One thread per side, bounded."""
    pairs = len(devices)
    errors: list[str] = []
    done: list[int] = []

    def echo(side):  # the b side: sends back what it reads
        s, _, buf = side
        n = len(buf)
        if buf:
            s.sendall(buf)
        while n < size * count:
            data = s.recv(65536)
            if not data:
                return
            s.sendall(data)
            n += len(data)

    def talk(i, side):
        # Pipelined: all 1,000 messages go out (32 KB: within the socket buffers), then all must
        # come back, byte for byte and in order.
        s, _, buf = side
        sent = b"".join(f"pair {i:05d} message {m:06d}".encode().ljust(size - 1, b".") + b"\n" for m in range(count))
        s.sendall(sent)
        while len(buf) < len(sent):
            data = s.recv(65536)
            if not data:
                errors.append(f"pair {i}: EOF after {len(buf)} bytes")
                return
            buf += data
        if buf != sent:
            at = next(k for k in range(len(sent)) if buf[k] != sent[k])
            errors.append(f"pair {i}: differs at byte {at} (message {at // size})")
            return
        done.append(i)

    def guarded(f, *args):
        try:
            f(*args)
        except Exception as e:  # noqa: BLE001 - a thread's failure is the test's
            errors.append(f"{f.__name__}{args[:1]}: {e!r}")

    threads = []
    for i, (a, b) in enumerate(devices):
        threads.append(threading.Thread(target=guarded, args=(echo, b), daemon=True))
        threads.append(threading.Thread(target=guarded, args=(talk, i, a), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert sorted(done) == list(range(pairs)), f"{len(done)} of {pairs} pairs finished"
    for a, b in devices:
        a[0].close()
        b[0].close()
