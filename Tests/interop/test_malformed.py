"""Item 10: malformed and illegal input over raw sockets. Each case gets the spec's answer
(3.1.1: close; 5.0: DISCONNECT with the listed reason code before close, or just close) and the
broker keeps serving: after every case a fresh client connects and pings."""

import threading

import pytest

import mqttraw as m
from support import PROTOS, V5, V311, uid

MAL, PROTO_ERR, TOPIC_INVALID, TOO_LARGE = (m.RC_MALFORMED, m.RC_PROTOCOL_ERROR,
                                            m.RC_TOPIC_NAME_INVALID, m.RC_PACKET_TOO_LARGE)


@pytest.fixture
def still_serving(broker):
    yield
    assert broker.alive(), f"broker died:\n{broker.log_tail()}"
    for proto in (V311, V5):
        c = m.RawClient(broker.port, proto=proto, host=broker.host)
        try:
            c.connect(uid())
            c.send(m.pingreq())
            c.expect(m.PINGRESP)
        finally:
            c.close()


def _answer(c, reasons, timeout=5.0):
    seen = c.wait_closed(timeout)
    if c.proto == V5 and seen:
        assert [p.type for p in seen] == [m.DISCONNECT], seen
        assert seen[0].reason in reasons, f"DISCONNECT {seen[0].reason:#x} not in {reasons}"
    else:
        assert seen == [], seen


def _connected(raw, proto, **kw):
    c = raw(proto)
    c.connect(uid(), **kw)
    return c


CASES = {
    # name: (bytes after CONNECT, acceptable v5 reason codes)
    "remaining_length_5_bytes": (b"\x30\xff\xff\xff\xff\x7f", (MAL,)),
    "subscribe_flags_0": (None, (MAL, PROTO_ERR)),
    "pubrel_flags_0": (bytes([0x60, 2, 0, 1]), (MAL, PROTO_ERR)),
    "invalid_utf8_topic": (None, (MAL, TOPIC_INVALID)),
    "nul_in_topic": (None, (MAL, TOPIC_INVALID)),
    "wildcard_in_publish_topic_plus": (None, (TOPIC_INVALID, PROTO_ERR)),
    "wildcard_in_publish_topic_hash": (None, (TOPIC_INVALID, PROTO_ERR)),
    "empty_topic_v311_or_no_alias": (None, (PROTO_ERR, TOPIC_INVALID, MAL)),
    "packet_id_0_qos1": (None, (PROTO_ERR, MAL)),
    "publish_qos3": (None, (MAL, PROTO_ERR)),
    "subscribe_no_filters": (None, (MAL, PROTO_ERR)),
    "subscribe_bad_qos_3": (None, (MAL, PROTO_ERR)),
    "reserved_type_0": (bytes([0x00, 0]), (MAL, PROTO_ERR)),
}


def _case_bytes(name, proto):
    fixed, _ = CASES[name]
    if fixed is not None:
        return fixed
    pub = lambda topic, **kw: m.publish(topic, b"x", proto=proto, **kw)  # noqa: E731
    return {
        "subscribe_flags_0": m.subscribe(1, [("a/b", 0)], proto=proto, flags=0),
        "invalid_utf8_topic": pub(b"bad/\xc3\x28/utf8"),
        "nul_in_topic": pub(b"nul/\x00/x"),
        "wildcard_in_publish_topic_plus": pub("a/+/b"),
        "wildcard_in_publish_topic_hash": pub("a/#"),
        "empty_topic_v311_or_no_alias": pub(""),
        "packet_id_0_qos1": pub("a/b", qos=1, mid=0),
        "publish_qos3": m.fixed(m.PUBLISH, 0x06, m.utf8("a/b") + m.u16(1)
                                + (m.properties([]) if proto == V5 else b"") + b"x"),
        "subscribe_no_filters": m.subscribe(1, [], proto=proto),
        "subscribe_bad_qos_3": m.subscribe(1, [("a/b", 3)], proto=proto),
    }[name]


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("case", list(CASES))
def test_malformed_after_connect(raw, proto, case):
    c = _connected(raw, proto)
    c.send(_case_bytes(case, proto))
    _answer(c, CASES[case][1])


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_bad_remaining_length_before_connect(raw, proto):
    c = raw(proto)
    c.send(b"\x10\xff\xff\xff\xff\x7f")
    seen = c.wait_closed(5)
    assert all(p.type in (m.CONNACK, m.DISCONNECT) for p in seen), seen


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_truncated_packet_then_close_publishes_will(raw, paho, proto):
    topic = f"trunc/{uid()}"
    obs = paho(proto=V5)
    obs.connect()
    obs.subscribe(topic, qos=1)
    c = _connected(raw, proto, will=m.Will(topic, b"truncated", qos=1))
    full = m.publish("t/x", b"y" * 100, qos=1, proto=proto)
    c.send(full[:20])
    c.close()
    (msg,) = obs.wait_messages(1)
    assert msg.payload == b"truncated"


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_truncated_connect_then_close(raw, proto):
    c = raw(proto)
    c.send(m.connect(uid(), proto=proto)[:9])
    c.close()


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_declared_length_over_limit_rejected_without_body(raw, broker, proto):
    """Only a fixed header announcing 200 MB: the broker must not wait for (or buffer) it."""
    c = _connected(raw, proto)
    c.send(b"\x30" + m.varint(200_000_000))
    _answer(c, (TOO_LARGE,))


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_oversize_publish_with_body(raw, broker, proto):
    c = _connected(raw, proto)
    pkt = m.publish("big/x", b"z" * (broker.config.max_packet_size + 1), proto=proto)
    t = threading.Thread(target=c.send_tolerant, args=(pkt,), daemon=True)
    t.start()
    _answer(c, (TOO_LARGE,), timeout=10)
    t.join(10)


@pytest.mark.usefixtures("still_serving")
@pytest.mark.parametrize("proto", PROTOS)
def test_will_qos_3_in_connect_closes(raw, proto):
    c = raw(proto)
    c.send(m.connect(uid(), proto=proto, will=m.Will("w/t", b"x", qos=3)))
    seen = c.wait_closed(5)
    assert all(p.type == m.CONNACK and p.reason >= 0x80 for p in seen), seen


@pytest.mark.usefixtures("still_serving")
def test_v5_duplicate_property_is_protocol_error(raw):
    c = _connected(raw, V5)
    c.send(m.publish("dup/prop", b"x", proto=V5, props=[(m.PAYLOAD_FORMAT_INDICATOR, 0),
                                                        (m.PAYLOAD_FORMAT_INDICATOR, 0)]))
    _answer(c, (PROTO_ERR, MAL))


@pytest.mark.usefixtures("still_serving")
def test_v311_auth_packet_is_invalid(raw):
    c = _connected(raw, V311)
    c.send(bytes([0xF0, 0]))
    _answer(c, ())


@pytest.mark.usefixtures("still_serving")
def test_garbage_instead_of_connect(raw):
    c = raw(V311)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    seen = c.wait_closed(5)
    assert all(p.type == m.CONNACK and p.reason != 0 for p in seen), seen
