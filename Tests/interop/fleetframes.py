"""An independent codec for the agent<->coordinator protocol, written from Protocol/agent-coordinator.md
(not from the Swift codec), plus a blocking socket client for tests.

Frames are (kind, flags, body) with a 7-byte header: u16 kind, u8 flags, u32 body length
(big-endian). Bodies are built and parsed here field by field.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

MAGIC = b"FLGT"

# §4 kinds
HELLO = 0x0001
HELLO_ACK = 0x0002
ERROR = 0x0003
HEARTBEAT = 0x0004
LOAD_REPORT = 0x0005
INTEREST_SNAPSHOT = 0x0010
INTEREST_DELTA = 0x0011
REMOTE_INTEREST = 0x0012
DURABLE_INTEREST = 0x0013
FORWARD = 0x0020
DELIVERY_ACK = 0x0021
REPLAY = 0x0022

KIND_NAMES = {HELLO: "HELLO", HELLO_ACK: "HELLO_ACK", ERROR: "ERROR", HEARTBEAT: "HEARTBEAT",
              LOAD_REPORT: "LOAD_REPORT", INTEREST_SNAPSHOT: "INTEREST_SNAPSHOT",
              INTEREST_DELTA: "INTEREST_DELTA", REMOTE_INTEREST: "REMOTE_INTEREST",
              DURABLE_INTEREST: "DURABLE_INTEREST", FORWARD: "FORWARD", DELIVERY_ACK: "DELIVERY_ACK",
              REPLAY: "REPLAY"}

# §3.2 flags
IGNORABLE = 0x01
BULK = 0x02

# §5.11 error codes
MALFORMED_FRAME = 0x0001
FRAME_TOO_LARGE = 0x0002
UNKNOWN_FRAME_KIND = 0x0003
UNEXPECTED_FRAME = 0x0004
LIMIT_EXCEEDED = 0x0005
UNSUPPORTED_VERSION = 0x0101
NOT_AUTHORIZED = 0x0102
HANDSHAKE_TIMEOUT = 0x0103
SESSION_REPLACED = 0x0104
GATEWAY_ID_IN_USE = 0x0106
HEARTBEAT_TIMEOUT = 0x0105
INTEREST_OUT_OF_SYNC = 0x0201
FORWARD_REJECTED = 0x0202
OVERLOADED = 0x0301
SHUTTING_DOWN = 0x0302
INTERNAL_ERROR = 0x03FF


# ---- primitive writers (§2)

def u8(v: int) -> bytes: return struct.pack(">B", v)
def u16(v: int) -> bytes: return struct.pack(">H", v)
def u32(v: int) -> bytes: return struct.pack(">I", v)
def u64(v: int) -> bytes: return struct.pack(">Q", v)


def string(s: str) -> bytes:
    b = s.encode("utf-8")
    return u16(len(b)) + b


def binary(b: bytes) -> bytes:
    return u16(len(b)) + b


def frame(kind: int, body: bytes, flags: int | None = None) -> bytes:
    """Header + body; flags default to the v1 canonical ones (BULK on FORWARD only)."""
    if flags is None:
        flags = BULK if kind == FORWARD else 0
    return u16(kind) + u8(flags) + u32(len(body)) + body


# ---- frame builders (§5)

def hello(gateway_id: str, token: bytes, *, min_version=1, max_version=1, max_frame=1_114_112,
          mqtt_address="127.0.0.1:1883", region="", labels=(), capacity=1, software="test") -> bytes:
    body = (MAGIC + u16(min_version) + u16(max_version) + string(gateway_id) + binary(token)
            + u32(max_frame) + string(mqtt_address) + string(region) + u16(len(labels))
            + b"".join(string(k) + string(v) for k, v in labels) + u32(capacity) + string(software))
    return frame(HELLO, body)


def error(code: int, related: int = 0, message: str = "") -> bytes:
    return frame(ERROR, u16(code) + u16(related) + string(message))


def heartbeat(seq: int, ts_ms: int | None = None) -> bytes:
    return frame(HEARTBEAT, u64(seq) + u64(int(time.time() * 1000) if ts_ms is None else ts_ms))


def load_report(connections=0, msgs_in=0, msgs_out=0, bytes_in=0, bytes_out=0, top=()) -> bytes:
    body = (u64(int(time.time() * 1000)) + u32(connections) + u32(msgs_in) + u32(msgs_out)
            + u64(bytes_in) + u64(bytes_out) + u16(len(top))
            + b"".join(string(c) + u32(m) + u64(b) for c, m, b in top))
    return frame(LOAD_REPORT, body)


def _filters(fs) -> bytes:
    return u16(len(fs)) + b"".join(string(f) for f in fs)


def interest_snapshot(epoch: int, seq: int, filters, last=True) -> bytes:
    return frame(INTEREST_SNAPSHOT, u64(epoch) + u64(seq) + u8(1 if last else 0) + _filters(filters))


def interest_delta(epoch: int, seq: int, added=(), removed=()) -> bytes:
    return frame(INTEREST_DELTA, u64(epoch) + u64(seq) + _filters(added) + _filters(removed))


def durable_snapshot(epoch: int, seq: int, filters, last=True) -> bytes:
    """§5.13: the REMOTE_INTEREST body (form 0) under DURABLE_INTEREST."""
    return frame(DURABLE_INTEREST, u8(0) + u64(epoch) + u64(seq) + u8(1 if last else 0) + _filters(filters), flags=IGNORABLE)


def forward(origin: str, seq: int, topic: str, payload: bytes = b"", qos=1, retain=False,
            properties: bytes = b"\x00") -> bytes:
    flags = (qos & 3) | (0x04 if retain else 0)
    return frame(FORWARD, string(origin) + u64(seq) + u8(flags) + string(topic) + properties + payload)


def delivery_ack(origin: str, up_to: int, selective=()) -> bytes:
    return frame(DELIVERY_ACK, string(origin) + u64(up_to) + u16(len(selective))
                 + b"".join(u64(s) for s in selective))


# ---- parsing

class Truncated(Exception):
    pass


class Reader:
    def __init__(self, b: bytes):
        self.b, self.i = b, 0

    def take(self, n: int) -> bytes:
        if self.i + n > len(self.b):
            raise Truncated(f"need {n} bytes at {self.i}, have {len(self.b) - self.i}")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack(">H", self.take(2))[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def u64(self): return struct.unpack(">Q", self.take(8))[0]
    def string(self): return self.take(self.u16()).decode("utf-8")
    def binary(self): return self.take(self.u16())
    def filters(self): return [self.string() for _ in range(self.u16())]
    def rest(self): return self.take(len(self.b) - self.i)

    def end(self):
        if self.i != len(self.b):
            raise ValueError(f"{len(self.b) - self.i} trailing bytes")


@dataclass
class Frame:
    kind: int
    flags: int
    body: bytes
    fields: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return KIND_NAMES.get(self.kind, hex(self.kind))

    def __getitem__(self, k):
        return self.fields[k]


def parse_body(kind: int, body: bytes) -> dict:
    r = Reader(body)
    f: dict = {}
    if kind == HELLO_ACK:
        assert r.take(4) == MAGIC, "bad magic"
        f.update(version=r.u16(), session_epoch=r.u64(), heartbeat_ms=r.u32(), max_frame=r.u32(),
                 coordinator_id=r.string())
    elif kind == ERROR:
        f.update(code=r.u16(), related=r.u16(), message=r.string())
    elif kind == HEARTBEAT:
        f.update(seq=r.u64(), ts=r.u64())
    elif kind == REMOTE_INTEREST:
        form = r.u8()
        f["form"] = {0: "snapshot", 1: "delta"}[form]
        f.update(epoch=r.u64(), seq=r.u64())
        if form == 0:
            flags = r.u8()
            f.update(last=bool(flags & 1), filters=r.filters())
        else:
            f.update(added=r.filters(), removed=r.filters())
    elif kind == FORWARD:
        f.update(origin=r.string(), seq=r.u64())
        flags = r.u8()
        f.update(qos=flags & 3, retain=bool(flags & 4), topic=r.string())
        # MQTT 5 property block: variable byte integer length, then the properties (kept raw)
        mult, length = 1, 0
        while True:
            byte = r.u8()
            length += (byte & 0x7F) * mult
            mult *= 128
            if not byte & 0x80:
                break
        f["properties"] = r.take(length)
        f["payload"] = r.rest()
    elif kind == DELIVERY_ACK:
        f.update(origin=r.string(), up_to=r.u64())
        f["selective"] = [r.u64() for _ in range(r.u16())]
    elif kind == REPLAY:
        f.update(from_seq=r.u64())
    else:
        f["raw"] = r.rest()
    r.end()
    return f


def split_frame(buf: bytes):
    """(Frame, rest) if buf starts with a whole frame, else (None, buf)."""
    if len(buf) < 7:
        return None, buf
    kind, flags, length = struct.unpack(">HBI", buf[:7])
    if len(buf) < 7 + length:
        return None, buf
    body = buf[7:7 + length]
    return Frame(kind, flags, body, parse_body(kind, body)), buf[7 + length:]


# ---- a blocking client

class Closed(Exception):
    pass


class FleetClient:
    """One TCP connection speaking frames. recv() waits at most `timeout` seconds."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, ssl_context=None, server_hostname=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:  # the TLS handshake happens here (ssl.SSLError if refused)
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.closed = False

    def send(self, data: bytes):
        self.sock.sendall(data)

    def recv(self, timeout: float | None = None) -> Frame:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f, self.buf = split_frame(self.buf)
            if f is not None:
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no whole frame within the timeout")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no whole frame within the timeout") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed(f"connection closed ({len(self.buf)} bytes of a partial frame left)")
            self.buf += chunk

    def recv_kind(self, kind: int, timeout: float | None = None, skip=(HEARTBEAT,)) -> Frame:
        """The next frame, skipping kinds in `skip`; fails on any other kind."""
        while True:
            f = self.recv(timeout)
            if f.kind in skip and f.kind != kind:
                continue
            assert f.kind == kind, f"expected {KIND_NAMES.get(kind)}, got {f.name} {f.fields}"
            return f

    def expect_close(self, timeout: float | None = None) -> list[Frame]:
        """Reads until the peer closes; returns the frames seen before."""
        frames = []
        while True:
            try:
                frames.append(self.recv(timeout))
            except Closed:
                return frames

    def expect_silence(self, seconds: float, skip=(HEARTBEAT,)):
        """Nothing but `skip` kinds arrives for `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                f = self.recv(left)
            except TimeoutError:
                return
            assert f.kind in skip, f"unexpected {f.name} {f.fields}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
