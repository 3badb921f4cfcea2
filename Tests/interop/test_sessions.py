"""Item 5: persistent sessions, redelivery with DUP, and durability across broker restarts."""

import time

import pytest

import mqttraw as m
from support import PROTOS, V5, V311, fleetgate_only, uid


def _persistent(raw, proto, cid, expiry=300, expect_present=None):
    c = raw(proto)
    kw = {"clean": False}
    if proto == V5:
        kw["props"] = [(m.SESSION_EXPIRY_INTERVAL, expiry)]
    ack = c.connect(cid, **kw)
    if expect_present is not None:
        assert ack.session_present is expect_present, ack
    return c


def _drain(c, n, timeout=5.0):
    """Receive n PUBLISHes, acknowledging each; returns them."""
    got = []
    for _ in range(n):
        p = c.expect(m.PUBLISH, timeout)
        c.ack(p)
        got.append(p)
    return got


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("qos", [1, 2])
def test_offline_messages_delivered_on_resume(raw, proto, qos):
    cid, topic = uid(), f"sess/{uid()}"
    s = _persistent(raw, proto, cid, expect_present=False)
    assert s.subscribe([(topic, 2)]).codes == [2]
    s.disconnect()
    pub = raw(proto)
    pub.connect(uid())
    for i in range(5):
        pub.publish(topic, f"m{i}".encode(), qos=qos, mid=i + 1)
    s2 = _persistent(raw, proto, cid, expect_present=True)
    got = _drain(s2, 5)
    assert [p.payload for p in got] == [f"m{i}".encode() for i in range(5)]
    assert all(p.qos == qos and p.topic == topic.encode() for p in got)
    s2.expect_none(0.3)


@pytest.mark.parametrize("proto", PROTOS)
def test_clean_session_discards_state(raw, proto):
    cid, topic = uid(), f"sess/{uid()}"
    s = _persistent(raw, proto, cid)
    s.subscribe([(topic, 1)])
    s.disconnect()
    c = raw(proto)
    assert c.connect(cid, clean=True).session_present is False
    c.disconnect()
    pub = raw(proto)
    pub.connect(uid())
    pub.publish(topic, b"x", qos=1)
    s2 = _persistent(raw, proto, cid, expect_present=False)
    s2.expect_none(0.5)


def test_v5_session_expiry_zero_ends_session_at_disconnect(raw):
    cid, topic = uid(), f"sess/{uid()}"
    s = _persistent(raw, V5, cid, expiry=0)
    s.subscribe([(topic, 1)])
    s.disconnect()
    _persistent(raw, V5, cid, expect_present=False)


def test_v5_session_expires_after_interval(raw):
    cid = uid()
    s = _persistent(raw, V5, cid, expiry=1)
    s.subscribe([(f"sess/{uid()}", 1)])
    s.disconnect()
    time.sleep(2.5)  # not synchronisation: the passage of time is what is under test
    _persistent(raw, V5, cid, expiry=0, expect_present=False)


@pytest.mark.parametrize("proto", PROTOS)
def test_unacked_qos1_redelivered_with_dup_on_resume(raw, proto):
    """MQTT-4.4.0-1: on resume the server re-sends unacknowledged PUBLISH with DUP=1."""
    cid, topic = uid(), f"dup/{uid()}"
    s = _persistent(raw, proto, cid)
    s.subscribe([(topic, 1)])
    pub = raw(proto)
    pub.connect(uid())
    pub.publish(topic, b"unacked", qos=1)
    first = s.expect(m.PUBLISH)
    assert first.dup is False
    s.abort()  # never PUBACK
    s2 = _persistent(raw, proto, cid, expect_present=True)
    again = s2.expect(m.PUBLISH)
    assert (again.payload, again.qos, again.dup, again.mid) == (b"unacked", 1, True, first.mid)
    s2.ack(again)
    s2.expect_none(0.3)


@pytest.mark.parametrize("proto", PROTOS)
def test_unreceived_qos2_redelivered_with_dup_on_resume(raw, proto):
    cid, topic = uid(), f"dup/{uid()}"
    s = _persistent(raw, proto, cid)
    s.subscribe([(topic, 2)])
    pub = raw(proto)
    pub.connect(uid())
    pub.publish(topic, b"q2", qos=2)
    first = s.expect(m.PUBLISH)
    s.abort()  # no PUBREC
    s2 = _persistent(raw, proto, cid, expect_present=True)
    again = s2.expect(m.PUBLISH)
    assert (again.payload, again.qos, again.dup, again.mid) == (b"q2", 2, True, first.mid)
    s2.ack(again)
    s2.expect_none(0.3)


@pytest.mark.parametrize("proto", PROTOS)
def test_qos2_pubrel_resent_after_pubrec_on_resume(raw, proto):
    """After PUBREC the server owns the PUBREL: on resume it re-sends PUBREL, not the PUBLISH."""
    cid, topic = uid(), f"dup/{uid()}"
    s = _persistent(raw, proto, cid)
    s.subscribe([(topic, 2)])
    pub = raw(proto)
    pub.connect(uid())
    pub.publish(topic, b"q2", qos=2)
    first = s.expect(m.PUBLISH)
    s.send(m.pubrec(first.mid, proto=proto))
    rel = s.expect(m.PUBREL)
    assert rel.mid == first.mid
    s.abort()  # no PUBCOMP
    s2 = _persistent(raw, proto, cid, expect_present=True)
    rel2 = s2.expect(m.PUBREL)
    assert rel2.mid == first.mid
    s2.send(m.pubcomp(rel2.mid, proto=proto))
    s2.expect_none(0.3)


def _publish_durable_workload(broker, raw, proto, topic, n):
    pub = raw(proto)
    pub.connect(uid())
    for i in range(n):
        pub.publish(topic, f"q1-{i}".encode(), qos=1, mid=(i % 60000) + 1)
        pub.publish(topic, f"q2-{i}".encode(), qos=2, mid=(i % 60000) + 1)
    pub.publish(f"{topic}/retained", b"kept", qos=1, retain=True)
    pub.close()
    return {f"q1-{i}".encode() for i in range(n)} | {f"q2-{i}".encode() for i in range(n)}


def _check_after_restart(broker, raw, proto, cid, topic, expected):
    s = _persistent(raw, proto, cid, expect_present=True)
    got = set()
    while not expected <= got:
        p = s.expect(m.PUBLISH, timeout=5)
        s.ack(p)
        got.add(p.payload)
    r = raw(proto)
    r.connect(uid())
    r.subscribe([(f"{topic}/retained", 1)])
    p = r.expect(m.PUBLISH)
    assert (p.payload, p.retain) == (b"kept", True)


@pytest.mark.parametrize("proto", PROTOS)
def test_acknowledged_messages_and_retained_survive_graceful_restart(broker, raw, proto):
    cid, topic = uid(), f"dur/{uid()}"
    s = _persistent(raw, proto, cid, expiry=3600)
    s.subscribe([(topic, 2)])
    s.disconnect()
    expected = _publish_durable_workload(broker, raw, proto, topic, 20)
    broker.restart()
    _check_after_restart(broker, raw, proto, cid, topic, expected)


@fleetgate_only("mosquitto saves its database only on exit/autosave, so kill -9 loses data by "
                "design; Fleetgate promises no acknowledged QoS>=1 loss (DESIGN.md §6)")
@pytest.mark.parametrize("proto", PROTOS)
def test_acknowledged_messages_and_retained_survive_kill_9(broker, raw, proto):
    cid, topic = uid(), f"dur/{uid()}"
    s = _persistent(raw, proto, cid, expiry=3600)
    s.subscribe([(topic, 2)])
    s.disconnect()
    expected = _publish_durable_workload(broker, raw, proto, topic, 50)
    broker.restart(crash=True)
    _check_after_restart(broker, raw, proto, cid, topic, expected)


@fleetgate_only("kill -9 durability of in-flight (sent, unacknowledged) messages")
def test_inflight_message_redelivered_after_kill_9(broker, raw):
    cid, topic = uid(), f"dur/{uid()}"
    s = _persistent(raw, V5, cid, expiry=3600)
    s.subscribe([(topic, 1)])
    pub = raw(V5)
    pub.connect(uid())
    pub.publish(topic, b"in flight", qos=1)
    first = s.expect(m.PUBLISH)
    broker.restart(crash=True)
    s2 = _persistent(raw, V5, cid, expiry=3600, expect_present=True)
    again = s2.expect(m.PUBLISH)
    assert again.payload == b"in flight" and again.qos == 1
    assert again.dup or again.mid != first.mid


@pytest.mark.parametrize("proto", PROTOS)
def test_canonically_equivalent_client_ids_are_different_clients_also_after_restart(broker, raw, proto):
    """Client ids compare byte for byte: "café" precomposed and with a combining accent are two
    clients. Both stay connected side by side (no takeover), and each persistent session keeps
    its own subscription and queued message across a restart."""
    base = uid()
    ids = (f"{base}-caf\u00e9", f"{base}-cafe\u0301")
    topics = (f"ids/{base}/precomposed", f"ids/{base}/combining")
    first, second = (_persistent(raw, proto, cid, expiry=3600) for cid in ids)
    first.subscribe([(topics[0], 1)])
    second.subscribe([(topics[1], 1)])
    for c in (first, second):          # both still connected: the second did not take over the first
        c.send(m.pingreq())
        c.expect(m.PINGRESP)
    first.disconnect()
    second.disconnect()
    pub = raw(proto)
    pub.connect(uid())
    for t in topics:
        pub.publish(t, t.encode(), qos=1)
    broker.restart()
    for cid, topic in zip(ids, topics):
        c = _persistent(raw, proto, cid, expect_present=True)
        p = c.expect(m.PUBLISH, timeout=5)
        c.ack(p)
        assert p.payload == topic.encode(), f"{cid!r} got {p.payload!r}"
        c.expect_none(0.3)


@pytest.mark.parametrize("qos", [1, 2])
def test_resume_resends_in_flight_only_as_the_new_receive_maximum_allows(raw, qos):
    """Issue #10 §4.4, MQTT 5 §4.9: a client that had 6 messages in flight reconnects announcing
    Receive Maximum 2. The server re-sends (DUP, same ids) no more than 2 unacknowledged PUBLISHes
    at a time, and every message still arrives, in order."""
    cid, topic = uid(), f"rm/{uid()}"
    s = _persistent(raw, V5, cid)
    s.subscribe([(topic, qos)])
    pub = raw(V5)
    pub.connect(uid())
    for i in range(6):
        pub.publish(topic, f"m{i}".encode(), qos=qos, mid=i + 1)
    first = [s.expect(m.PUBLISH) for _ in range(6)]  # never acknowledged
    s.abort()
    s2 = raw(V5)
    s2.connect(cid, clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 300), (m.RECEIVE_MAXIMUM, 2)])
    window = [s2.expect(m.PUBLISH) for _ in range(2)]
    assert [(p.payload, p.dup, p.mid) for p in window] == [(f.payload, True, f.mid) for f in first[:2]]
    s2.expect_none(0.5)  # a third would exceed the client's Receive Maximum
    got = list(window)
    pending = list(window)
    while len(got) < 6:
        s2.ack(pending.pop(0))
        p = s2.expect(m.PUBLISH)
        got.append(p)
        pending.append(p)
    for p in pending:
        s2.ack(p)
    assert [p.payload for p in got] == [f"m{i}".encode() for i in range(6)]
    assert [p.mid for p in got] == [f.mid for f in first]
    s2.expect_none(0.3)


def test_in_flight_message_too_large_for_the_resumed_client_is_dropped_not_stuck(raw):
    """Issue #10 §4.4: a message in flight that exceeds the Maximum Packet Size the client
    announces when it comes back is dropped for it (MQTT 5 §3.1.2.11.4), not kept in flight for
    ever blocking its window: with Receive Maximum 1 the next message must still arrive."""
    cid, topic = uid(), f"mps/{uid()}"
    s = _persistent(raw, V5, cid)
    s.subscribe([(topic, 1)])
    pub = raw(V5)
    pub.connect(uid())
    pub.publish(topic, b"B" * 500, qos=1, mid=1)
    big = s.expect(m.PUBLISH)
    assert len(big.payload) == 500
    s.abort()
    s2 = raw(V5)
    s2.connect(cid, clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 300), (m.RECEIVE_MAXIMUM, 1),
                                        (m.MAXIMUM_PACKET_SIZE, 200)])
    pub.publish(topic, b"small", qos=1, mid=2)
    p = s2.expect(m.PUBLISH)
    assert p.payload == b"small", p
    s2.ack(p)
    s2.expect_none(0.3)
