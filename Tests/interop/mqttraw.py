"""Raw MQTT 3.1.1 / 5.0 packet builders, a decoder and a blocking socket client.

Written from the OASIS specifications (MQTT 3.1.1 §2-3, MQTT 5.0 §2-3), independently of any
broker, in the spirit of mosquitto's test/mosq_test.py: the tests need to send exactly the bytes
they mean (including wrong ones) and see exactly the bytes the broker answers.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# Control packet types (§2.1.2)
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)
TYPE_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
              7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
              12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

V311, V5 = 4, 5

# MQTT 5 property identifiers (§2.2.2.2) and their wire types.
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
PROP_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STR, 0x08: _STR, 0x09: _BIN, 0x0B: _VARINT, 0x11: _U32,
    0x12: _STR, 0x13: _U16, 0x15: _STR, 0x16: _BIN, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE,
    0x1A: _STR, 0x1C: _STR, 0x1F: _STR, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _U32, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}

# Reason codes used by the tests (§2.4)
RC_SUCCESS = 0x00
RC_DISCONNECT_WITH_WILL = 0x04
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_NOT_AUTHORIZED = 0x87
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95
RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84


# ---------------------------------------------------------------------------------------------
# Primitive encoders (§1.5)

def varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def u32(n: int) -> bytes:
    return struct.pack("!I", n)


def binary(b: bytes) -> bytes:
    return u16(len(b)) + b


def utf8(s: str | bytes) -> bytes:
    """Length-prefixed string; bytes are sent verbatim (for deliberately invalid UTF-8)."""
    return binary(s.encode("utf-8") if isinstance(s, str) else s)


def properties(props: list[tuple[int, object]] | None) -> bytes:
    body = bytearray()
    for pid, value in props or []:
        kind = PROP_TYPES[pid]
        body += varint(pid)
        if kind == _BYTE:
            body.append(value)
        elif kind == _U16:
            body += u16(value)
        elif kind == _U32:
            body += u32(value)
        elif kind == _VARINT:
            body += varint(value)
        elif kind == _STR:
            body += utf8(value)
        elif kind == _BIN:
            body += binary(value)
        else:
            k, v = value
            body += utf8(k) + utf8(v)
    return varint(len(body)) + bytes(body)


def fixed(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


# ---------------------------------------------------------------------------------------------
# Packet builders

@dataclass
class Will:
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    props: list = field(default_factory=list)


def connect(client_id: str | bytes = "", proto: int = V311, clean: bool = True,
            keepalive: int = 60, will: Will | None = None, username: str | None = None,
            password: bytes | None = None, props: list | None = None,
            proto_name: bytes = b"MQTT", reserved_flag: bool = False) -> bytes:
    flags = 0
    if reserved_flag:
        flags |= 0x01
    if clean:
        flags |= 0x02
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    body = binary(proto_name) + bytes([proto, flags]) + u16(keepalive)
    if proto == V5:
        body += properties(props)
    body += utf8(client_id)
    if will is not None:
        if proto == V5:
            body += properties(will.props)
        body += utf8(will.topic) + binary(will.payload)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return fixed(CONNECT, 0, body)


def publish(topic: str | bytes, payload: bytes = b"", qos: int = 0, retain: bool = False,
            dup: bool = False, mid: int | None = None, proto: int = V311,
            props: list | None = None) -> bytes:
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos > 0:
        body += u16(mid if mid is not None else 1)
    if proto == V5:
        body += properties(props)
    return fixed(PUBLISH, flags, body + payload)


def _ack(ptype: int, flags: int, mid: int, proto: int, reason: int | None, props) -> bytes:
    body = u16(mid)
    if proto == V5 and (reason not in (None, 0) or props):
        body += bytes([reason or 0])
        if props:
            body += properties(props)
    return fixed(ptype, flags, body)


def puback(mid, proto=V311, reason=None, props=None):
    return _ack(PUBACK, 0, mid, proto, reason, props)


def pubrec(mid, proto=V311, reason=None, props=None):
    return _ack(PUBREC, 0, mid, proto, reason, props)


def pubrel(mid, proto=V311, reason=None, props=None):
    return _ack(PUBREL, 0x02, mid, proto, reason, props)


def pubcomp(mid, proto=V311, reason=None, props=None):
    return _ack(PUBCOMP, 0, mid, proto, reason, props)


def subscribe(mid: int, filters: list[tuple[str | bytes, int]], proto: int = V311,
              props: list | None = None, flags: int = 0x02) -> bytes:
    """filters: (topic filter, options byte). In 3.1.1 the options byte is the requested QoS;
    in 5.0 it is QoS | NL<<2 | RAP<<3 | RH<<4 (§3.8.3.1)."""
    body = u16(mid)
    if proto == V5:
        body += properties(props)
    for flt, opts in filters:
        body += utf8(flt) + bytes([opts])
    return fixed(SUBSCRIBE, flags, body)


def sub_opts(qos: int = 0, no_local: bool = False, rap: bool = False, rh: int = 0) -> int:
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def unsubscribe(mid: int, filters: list[str], proto: int = V311, props=None) -> bytes:
    body = u16(mid)
    if proto == V5:
        body += properties(props)
    for flt in filters:
        body += utf8(flt)
    return fixed(UNSUBSCRIBE, 0x02, body)


def pingreq() -> bytes:
    return fixed(PINGREQ, 0, b"")


def disconnect(proto: int = V311, reason: int = 0, props: list | None = None) -> bytes:
    if proto == V5 and (reason or props):
        return fixed(DISCONNECT, 0, bytes([reason]) + properties(props))
    return fixed(DISCONNECT, 0, b"")


# ---------------------------------------------------------------------------------------------
# Decoder

class MalformedFromBroker(AssertionError):
    pass


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes
    proto: int
    # Decoded fields (meaning depends on type)
    mid: int | None = None
    reason: int | None = None          # CONNACK rc / ack reason / DISCONNECT reason
    session_present: bool | None = None
    props: list = field(default_factory=list)
    topic: bytes | None = None
    payload: bytes | None = None
    codes: list = field(default_factory=list)  # SUBACK / UNSUBACK

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, str(self.type))

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def dup(self) -> bool:
        return bool(self.flags & 0x08)

    @property
    def retain(self) -> bool:
        return bool(self.flags & 0x01)

    def prop(self, pid: int, default=None):
        for k, v in self.props:
            if k == pid:
                return v
        return default

    def prop_all(self, pid: int) -> list:
        return [v for k, v in self.props if k == pid]

    def __repr__(self) -> str:
        parts = [self.name]
        for key in ("mid", "reason", "session_present", "topic", "codes"):
            val = getattr(self, key)
            if val not in (None, []):
                parts.append(f"{key}={val!r}")
        if self.type == PUBLISH:
            parts.append(f"qos={self.qos} dup={self.dup} retain={self.retain}")
            parts.append(f"payload={self.payload[:40]!r}")
        if self.props:
            parts.append(f"props={self.props!r}")
        return "<" + " ".join(parts) + ">"


def decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(buf):
            raise IndexError("short varint")
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128
    raise MalformedFromBroker("varint longer than 4 bytes")


def decode_properties(buf: bytes, pos: int) -> tuple[list, int]:
    length, pos = decode_varint(buf, pos)
    end = pos + length
    props = []
    while pos < end:
        pid, pos = decode_varint(buf, pos)
        kind = PROP_TYPES.get(pid)
        if kind is None:
            raise MalformedFromBroker(f"unknown property 0x{pid:02x}")
        if kind == _BYTE:
            val, pos = buf[pos], pos + 1
        elif kind == _U16:
            val, pos = struct.unpack_from("!H", buf, pos)[0], pos + 2
        elif kind == _U32:
            val, pos = struct.unpack_from("!I", buf, pos)[0], pos + 4
        elif kind == _VARINT:
            val, pos = decode_varint(buf, pos)
        elif kind in (_STR, _BIN):
            n = struct.unpack_from("!H", buf, pos)[0]
            val = buf[pos + 2:pos + 2 + n]
            pos += 2 + n
            if kind == _STR:
                val = val.decode("utf-8")
        else:
            n = struct.unpack_from("!H", buf, pos)[0]
            k = buf[pos + 2:pos + 2 + n].decode("utf-8")
            pos += 2 + n
            n = struct.unpack_from("!H", buf, pos)[0]
            v = buf[pos + 2:pos + 2 + n].decode("utf-8")
            pos += 2 + n
            val = (k, v)
        props.append((pid, val))
    if pos != end:
        raise MalformedFromBroker("property length mismatch")
    return props, pos


def decode(first: int, body: bytes, proto: int) -> Packet:
    p = Packet(type=first >> 4, flags=first & 0x0F, body=body, proto=proto)
    t = p.type
    if t == CONNACK:
        p.session_present = bool(body[0] & 1)
        p.reason = body[1]
        if proto == V5 and len(body) > 2:
            p.props, _ = decode_properties(body, 2)
    elif t == PUBLISH:
        n = struct.unpack_from("!H", body, 0)[0]
        p.topic = body[2:2 + n]
        pos = 2 + n
        if p.qos > 0:
            p.mid = struct.unpack_from("!H", body, pos)[0]
            pos += 2
        if proto == V5:
            p.props, pos = decode_properties(body, pos)
        p.payload = body[pos:]
    elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.mid = struct.unpack_from("!H", body, 0)[0]
        p.reason = body[2] if len(body) > 2 else 0
        if proto == V5 and len(body) > 3:
            p.props, _ = decode_properties(body, 3)
    elif t in (SUBACK, UNSUBACK):
        p.mid = struct.unpack_from("!H", body, 0)[0]
        pos = 2
        if proto == V5:
            p.props, pos = decode_properties(body, pos)
        p.codes = list(body[pos:])
    elif t == DISCONNECT:
        p.reason = body[0] if body else 0
        if len(body) > 1:
            p.props, _ = decode_properties(body, 1)
    return p


# ---------------------------------------------------------------------------------------------
# Blocking client

class Closed(Exception):
    """The broker closed the connection (EOF or reset)."""


class RawClient:
    """One TCP connection that speaks bytes. recv() returns decoded packets with a deadline."""

    def __init__(self, port: int, proto: int = V311, host: str = "127.0.0.1",
                 timeout: float = 5.0, source: str | None = None):
        """`source`: the local address to connect from (e.g. 127.0.0.2, another loopback
        address: a second "host" for per-address limits)."""
        self.proto = proto
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.stash: list[Packet] = []  # PUBLISHes that arrived while waiting for an ack

    # -- sending
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_tolerant(self, data: bytes) -> bool:
        """Send, treating a connection the broker already closed as fine. Returns False then."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    # -- receiving
    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete packet from broker before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete packet from broker before the deadline") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed()
        self.buf += chunk

    def _try_parse(self) -> Packet | None:
        if len(self.buf) < 2:
            return None
        try:
            length, pos = decode_varint(self.buf, 1)
        except IndexError:
            return None
        if len(self.buf) < pos + length:
            return None
        first = self.buf[0]
        body = bytes(self.buf[pos:pos + length])
        del self.buf[:pos + length]
        return decode(first, body, self.proto)

    def recv(self, timeout: float = 5.0) -> Packet:
        """Next packet. Raises Closed on EOF, TimeoutError if none in time."""
        if self.stash:
            return self.stash.pop(0)
        return self._recv_wire(timeout)

    def _recv_wire(self, timeout: float) -> Packet:
        deadline = time.monotonic() + timeout
        while True:
            pkt = self._try_parse()
            if pkt is not None:
                return pkt
            if self.eof:
                raise Closed()
            self._fill(deadline)

    def expect(self, ptype: int, timeout: float = 5.0, skip: tuple = ()) -> Packet:
        """Next packet must be of ptype (packets whose type is in skip are discarded). While
        waiting for anything but a PUBLISH, PUBLISHes are stashed for a later recv()."""
        deadline = time.monotonic() + timeout
        stashed = []
        try:
            while True:
                left = max(0.0, deadline - time.monotonic())
                pkt = self.recv(left) if ptype == PUBLISH else self._recv_wire(left)
                if pkt.type in skip:
                    continue
                if pkt.type == PUBLISH and ptype != PUBLISH:
                    stashed.append(pkt)
                    continue
                break
        finally:
            self.stash.extend(stashed)
        assert pkt.type == ptype, f"expected {TYPE_NAMES[ptype]}, got {pkt!r}"
        return pkt

    def expect_none(self, within: float) -> None:
        """Assert that nothing arrives (and the connection stays open) for `within` seconds."""
        try:
            pkt = self.recv(within)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {pkt!r}")

    def wait_closed(self, timeout: float = 5.0) -> list[Packet]:
        """Read until the broker closes; return the packets seen before the close.
        Fails if the connection is still open at the deadline."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.recv(max(0.0, deadline - time.monotonic())))
            except Closed:
                return seen
            except TimeoutError:
                raise AssertionError(
                    f"broker did not close the connection within {timeout}s; saw {seen!r}")

    def is_closed(self, timeout: float = 0.5) -> bool:
        try:
            self.wait_closed(timeout)
            return True
        except AssertionError:
            return False

    # -- conveniences
    def connect(self, client_id: str = "", expect_rc: int = 0, timeout: float = 5.0,
                **kw) -> Packet:
        self.send(connect(client_id, proto=self.proto, **kw))
        ack = self.expect(CONNACK, timeout)
        assert ack.reason == expect_rc, f"CONNACK {ack!r}, expected rc {expect_rc:#x}"
        return ack

    def subscribe(self, filters, mid: int = 1, props=None, timeout: float = 5.0) -> Packet:
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe(mid, filters, proto=self.proto, props=props))
        ack = self.expect(SUBACK, timeout)
        assert ack.mid == mid
        return ack

    def publish(self, topic, payload=b"", qos=0, retain=False, mid=1, props=None,
                timeout: float = 5.0) -> None:
        """Publish and complete the QoS handshake from the sender's side."""
        self.send(publish(topic, payload, qos=qos, retain=retain, mid=mid, proto=self.proto,
                          props=props))
        if qos == 1:
            ack = self.expect(PUBACK, timeout)
            assert ack.mid == mid and ack.reason < 0x80, ack
        elif qos == 2:
            rec = self.expect(PUBREC, timeout)
            assert rec.mid == mid and rec.reason < 0x80, rec
            self.send(pubrel(mid, proto=self.proto))
            comp = self.expect(PUBCOMP, timeout)
            assert comp.mid == mid, comp

    def ack(self, pkt: Packet) -> None:
        """Acknowledge an inbound PUBLISH per its QoS (QoS 2: PUBREC, wait PUBREL, PUBCOMP)."""
        if pkt.qos == 1:
            self.send(puback(pkt.mid, proto=self.proto))
        elif pkt.qos == 2:
            self.send(pubrec(pkt.mid, proto=self.proto))
            rel = self.expect(PUBREL)
            assert rel.mid == pkt.mid
            self.send(pubcomp(pkt.mid, proto=self.proto))

    def disconnect(self, reason: int = 0, props=None) -> None:
        try:
            self.send(disconnect(self.proto, reason, props))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self) -> None:
        """Close abruptly with an RST (no DISCONNECT, no FIN handshake)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()
