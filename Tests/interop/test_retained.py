"""Item 2: retained messages (MQTT 3.1.1 §3.3.1.3, MQTT 5 §3.3.1.3)."""

import pytest

from support import PROTOS, V5, V311, uid

QOS = [0, 1, 2]


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("sub_qos", QOS)
@pytest.mark.parametrize("pub_qos", QOS)
def test_retained_delivered_on_subscribe_with_flag_at_min_qos(paho, proto, pub_qos, sub_qos):
    topic = f"ret/{uid()}"
    pub = paho(proto=proto)
    pub.connect()
    pub.publish(topic, b"stored", qos=pub_qos, retain=True)
    sub = paho(proto=proto)
    sub.connect()
    sub.subscribe(topic, qos=sub_qos)
    (msg,) = sub.wait_messages(1)
    assert (msg.payload, msg.retain, msg.qos) == (b"stored", True, min(pub_qos, sub_qos))


@pytest.mark.parametrize("proto", PROTOS)
def test_retained_replaced_by_newer(paho, proto):
    topic = f"ret/{uid()}"
    pub = paho(proto=proto)
    pub.connect()
    pub.publish(topic, b"old", qos=1, retain=True)
    pub.publish(topic, b"new", qos=1, retain=True)
    sub = paho(proto=proto)
    sub.connect()
    sub.subscribe(topic, qos=1)
    (msg,) = sub.wait_messages(1)
    assert msg.payload == b"new" and msg.retain
    sub.expect_no_message(0.3, topic="none")
    assert len(sub.messages) == 1


@pytest.mark.parametrize("proto", PROTOS)
def test_empty_retained_payload_deletes(paho, proto):
    """A retained PUBLISH with a zero-length payload removes the retained message
    (MQTT-3.3.1-10/11) and is itself delivered to current subscribers as a normal message."""
    topic = f"ret/{uid()}"
    live = paho(proto=proto)
    live.connect()
    live.subscribe(topic, qos=1)
    pub = paho(proto=proto)
    pub.connect()
    pub.publish(topic, b"doomed", qos=1, retain=True)
    pub.publish(topic, b"", qos=1, retain=True)
    got = live.wait_messages(2)
    assert [m.payload for m in got] == [b"doomed", b""]
    late = paho(proto=proto)
    late.connect()
    late.subscribe(topic, qos=1)
    late.expect_no_message(0.5)


@pytest.mark.parametrize("proto", PROTOS)
def test_live_delivery_of_retained_publish_not_flagged(paho, proto):
    """An existing subscriber gets a retained publish with RETAIN=0 (MQTT-3.3.1-9; in v5 when
    Retain As Published is 0, MQTT-3.3.1-12)."""
    topic = f"ret/{uid()}"
    sub = paho(proto=proto)
    sub.connect()
    sub.subscribe(topic, qos=1)
    pub = paho(proto=proto)
    pub.connect()
    pub.publish(topic, b"live", qos=1, retain=True)
    (msg,) = sub.wait_messages(1)
    assert msg.payload == b"live" and msg.retain is False


def test_retained_matched_by_wildcards(paho):
    base = f"ret/{uid()}"
    pub = paho(proto=V311)
    pub.connect()
    for leaf in ("a", "b", "c/d"):
        pub.publish(f"{base}/{leaf}", leaf.encode(), qos=1, retain=True)
    plus = paho(proto=V311)
    plus.connect()
    plus.subscribe(f"{base}/+", qos=1)
    got = plus.wait_messages(2)
    assert sorted(m.payload for m in got) == [b"a", b"b"]
    hash_ = paho(proto=V5)
    hash_.connect()
    hash_.subscribe(f"{base}/#", qos=1)
    got = hash_.wait_messages(3)
    assert sorted(m.payload for m in got) == [b"a", b"b", b"c/d"]
    assert all(m.retain for m in got)


def test_canonically_equivalent_topics_are_distinct_retained_messages_also_after_restart(broker, paho):
    """Topic names compare byte for byte (MQTT 4.7.3: no Unicode normalization): "café" with a
    precomposed é and with e + combining accent are two topics, each with its own retained
    message, before and after a restart (Swift's String == had merged them)."""
    base = f"ret/{uid()}"
    nfc, nfd = f"{base}/caf\u00e9", f"{base}/cafe\u0301"
    pub = paho(proto=V311)
    pub.connect()
    pub.publish(nfc, b"precomposed", qos=1, retain=True)
    pub.publish(nfd, b"combining", qos=1, retain=True)

    def retained_now():
        s = paho(proto=V5)
        s.connect()
        s.subscribe(f"{base}/+", qos=1)
        got = {m.topic: m.payload for m in s.wait_messages(2)}
        exact = paho(proto=V311)
        exact.connect()
        exact.subscribe(nfd, qos=1)
        return got, [m.payload for m in exact.wait_messages(1)]

    assert retained_now() == ({nfc: b"precomposed", nfd: b"combining"}, [b"combining"])
    pub.disconnect()
    broker.restart()
    assert retained_now() == ({nfc: b"precomposed", nfd: b"combining"}, [b"combining"])
