"""The drain row of the cross-gateway scenario (issue #12): a gateway holding many persistent
sessions is drained (`POST /v1/gateways/gw-1/drain`) while QoS 1 messages flow to them; reported:
sessions moved per second, the per-client handover stall (p50/p99, start to commit, from the
coordinator's records), and loss/duplicates counted by reading every session back at the gateway
it moved to. Raw MQTT 5 over sockets (no client library): thousands of sessions in seconds."""
from __future__ import annotations

import json
import socket
import statistics
import struct
import threading
import time
import urllib.request


def _vbi(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _vbi(len(body)) + body


def _connect(client_id: str) -> bytes:
    # MQTT 5, clean start 0, keepalive 60, Session Expiry Interval 3600.
    props = bytes([0x11]) + struct.pack(">I", 3600)
    return _packet(0x10, _string("MQTT") + bytes([5, 0x00]) + struct.pack(">H", 60) + _vbi(len(props)) + props + _string(client_id))


class RawClient:
    """One blocking MQTT 5 connection with just what the row needs; bounded by socket timeouts."""

    def __init__(self, endpoint: str, client_id: str, timeout: float = 10.0):
        host, port = endpoint.rsplit(":", 1)
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.buffer = b""
        self.sock.sendall(_connect(client_id))
        kind, body = self.read()
        if kind >> 4 != 2 or body[1] != 0:
            raise OSError(f"CONNACK refused for {client_id}: {body[:2].hex()}")
        self.session_present = bool(body[0] & 1)

    def read(self) -> tuple[int, bytes]:
        while True:
            if len(self.buffer) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buffer) and i <= 4:
                    n += (self.buffer[i] & 0x7F) * mult
                    if not self.buffer[i] & 0x80:
                        break
                    mult *= 128
                    i += 1
                if i < len(self.buffer) and len(self.buffer) >= i + 1 + n:
                    kind, body = self.buffer[0], self.buffer[i + 1:i + 1 + n]
                    self.buffer = self.buffer[i + 1 + n:]
                    return kind, body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buffer += chunk

    def subscribe(self, topic_filter: str):
        self.sock.sendall(_packet(0x82, struct.pack(">H", 1) + _vbi(0) + _string(topic_filter) + bytes([1])))
        while self.read()[0] >> 4 != 9:
            pass

    def publish(self, topic: str, payload: bytes, packet_id: int):
        self.sock.sendall(_packet(0x32, _string(topic) + struct.pack(">H", packet_id) + _vbi(0) + payload))

    def wait_acks(self, n: int):
        got = 0
        while got < n:
            if self.read()[0] >> 4 == 4:
                got += 1

    def take_publishes(self, want: int, seconds: float) -> list[bytes]:
        """QoS 1 PUBLISHes, each acknowledged, until `want` arrived or `seconds` passed."""
        payloads = []
        deadline = time.time() + seconds
        while len(payloads) < want and time.time() < deadline:
            self.sock.settimeout(max(0.001, min(0.5, deadline - time.time())))
            try:
                kind, body = self.read()
            except socket.timeout:
                continue
            if kind >> 4 != 3:
                continue
            tlen = struct.unpack(">H", body[:2])[0]
            pos = 2 + tlen
            packet_id = struct.unpack(">H", body[pos:pos + 2])[0]
            pos += 2
            plen, mult = 0, 1
            while True:
                b = body[pos]
                pos += 1
                plen += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            payloads.append(body[pos + plen:])
            self.sock.sendall(_packet(0x40, struct.pack(">H", packet_id)))
        return payloads

    def close(self, clean: bool = True):
        try:
            if clean:
                self.sock.sendall(_packet(0xE0, b"\x00\x00"))  # DISCONNECT 0x00, no properties
        finally:
            self.sock.close()


def _post(http: str, path: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(f"http://{http}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def _get(http: str, path: str, token: str, timeout: float = 10) -> dict:
    request = urllib.request.Request(f"http://{http}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_drain(agents: dict[str, str], http: str, token: str, run_id: str, sessions: int, rate: int,
              before: int = 5, during: int = 5, seconds: float = 120) -> dict:
    """`agents`: gateway id -> MQTT endpoint (gw-1 is drained; the others take its sessions)."""
    topic = f"bench/xgw/{run_id}/drain/data"
    ids = [f"drain-{run_id}-{i}" for i in range(sessions)]
    result: dict = {"sessions": sessions, "rate_asked": rate, "errors": []}
    t = time.time()
    for client_id in ids:  # persistent sessions, subscribed, then offline
        c = RawClient(agents["gw-1"], client_id)
        c.subscribe(f"bench/xgw/{run_id}/drain/#")
        c.close()
    result["setup_s"] = round(time.time() - t, 3)
    publisher_gw = sorted(g for g in agents if g != "gw-1")[-1]
    pub = RawClient(agents[publisher_gw], f"drain-{run_id}-pub")
    for n in range(before):  # queued in every session before the drain: they move with it
        pub.publish(topic, str(n).encode(), n + 1)
    pub.wait_acks(before)

    def publish_during():
        for n in range(before, before + during):  # while sessions move
            pub.publish(topic, str(n).encode(), n + 1)
            time.sleep(0.05)
        pub.wait_acks(during)

    traffic = threading.Thread(target=publish_during, daemon=True)
    started = time.time()
    _post(http, "/v1/gateways/gw-1/drain", {"rate": rate}, token)
    traffic.start()
    deadline = started + seconds
    wanted = set(ids)
    while time.time() < deadline:
        # The gateway's drain view is small; the records are read once at the end.
        if ((_get(http, "/v1/gateways/gw-1", token).get("drain") or {}).get("moved") or 0) >= sessions:
            break
        time.sleep(0.05)
    took = time.time() - started
    records = _get(http, "/v1/migrations", token, timeout=30)["handovers"]
    done = [h for h in records if h["client_id"] in wanted and h["state"] == "done"]
    traffic.join(30)
    pub.close()
    result["moved"] = len(done)
    result["drain_s"] = round(took, 3)
    result["sessions_per_s"] = len(done) / took if took > 0 else None
    stalls = [h["stall_ms"] for h in done if h.get("stall_ms") is not None]
    result["stall_ms_p50"] = percentile(stalls, 0.5)
    result["stall_ms_p99"] = percentile(stalls, 0.99)
    if len(done) < sessions:
        result["errors"].append(f"drain: {len(done)} of {sessions} sessions moved within {seconds:.0f} s")
    # Every session read back where it went: each message once (16 readers at a time).
    where = {h["client_id"]: h["to"] for h in done}
    want = before + during
    counts = {"lost": 0, "dups": 0, "missing": 0}
    lock = threading.Lock()
    queue = [client_id for client_id in ids]

    def reader():
        while True:
            with lock:
                if not queue:
                    return
                client_id = queue.pop()
            if client_id not in where:
                with lock:
                    counts["missing"] += 1
                continue
            try:
                c = RawClient(agents[where[client_id]], client_id)
                got = [int(p) for p in c.take_publishes(want, 5.0)]
                # A moment more: a duplicate would come right behind the queued ones.
                got += [int(p) for p in c.take_publishes(1, 0.1)]
                present = c.session_present
                c.close()
            except OSError as e:
                with lock:
                    result["errors"].append(f"{client_id}: {e}")
                    counts["missing"] += 1
                continue
            with lock:
                counts["missing"] += 0 if present else 1
                counts["lost"] += want - len(set(got))
                counts["dups"] += len(got) - len(set(got))

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(16)]
    for t in readers:
        t.start()
    for t in readers:
        t.join(120)
    result["loss"], result["dups"], result["sessions_missing"] = counts["lost"], counts["dups"], counts["missing"]
    _post(http, "/v1/gateways/gw-1/resume", {}, token)
    return result


__all__ = ["run_drain", "percentile"]
