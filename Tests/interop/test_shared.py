"""Item 7: shared subscriptions $share/<group>/<filter> (MQTT 5 §4.8.2)."""

from collections import Counter

import pytest

from support import PROTOS, V5, V311, uid, wait_until

N = 60


def _members(paho, flt, k, proto=V5, qos=1):
    out = []
    for _ in range(k):
        c = paho(proto=proto)
        c.connect()
        c.subscribe(flt, qos=qos)
        out.append(c)
    return out


def _publish(paho, topic, n, qos=1):
    pub = paho(proto=V5)
    pub.connect()
    for i in range(n):
        pub.c.publish(topic, str(i).encode(), qos=qos)
    return pub


@pytest.mark.parametrize("proto", PROTOS)
def test_each_message_to_exactly_one_member_roughly_even(paho, proto):
    """3.1.1 clients can join shared groups too on brokers that support them (mosquitto does);
    each message goes to exactly one member, spread roughly evenly (round robin)."""
    topic = f"sh/{uid()}"
    group = _members(paho, f"$share/g/{topic}", 3, proto=proto)
    _publish(paho, topic, N)
    wait_until(lambda: sum(len(c.messages) for c in group) >= N, 10, what="all shared messages")
    group[0].expect_no_message(0.3, topic="never")
    payloads = [msg.payload for c in group for msg in c.messages]
    assert sorted(payloads, key=int) == [str(i).encode() for i in range(N)], "lost or duplicated"
    counts = [len(c.messages) for c in group]
    assert min(counts) >= N // 3 // 2, f"uneven distribution {counts}"


def test_two_groups_each_get_every_message_and_plain_subscriber_gets_all(paho):
    topic = f"sh/{uid()}"
    g1 = _members(paho, f"$share/g1/{topic}", 2)
    g2 = _members(paho, f"$share/g2/{topic}", 3)
    plain = _members(paho, topic, 1)[0]
    _publish(paho, topic, N)
    for grp in (g1, g2):
        wait_until(lambda: sum(len(c.messages) for c in grp) >= N, 10, what="group delivery")
    plain.wait_messages(N, timeout=10)
    plain.expect_no_message(0.3, topic="never")
    for grp in (g1, g2):
        c = Counter(msg.payload for cl in grp for msg in cl.messages)
        assert len(c) == N and set(c.values()) == {1}, c
    assert len(plain.messages) == N


def test_shared_wildcard_filter_and_qos_downgrade(paho):
    base = f"sh/{uid()}"
    group = _members(paho, f"$share/w/{base}/+", 2, qos=0)
    pub = paho(proto=V5)
    pub.connect()
    pub.publish(f"{base}/a", b"x", qos=2)
    wait_until(lambda: sum(len(c.messages) for c in group) == 1, 5, what="one delivery")
    msg = next(msg for c in group for msg in c.messages)
    assert msg.qos == 0 and msg.topic == f"{base}/a"


def test_member_leaving_group_gets_nothing_more(paho):
    topic = f"sh/{uid()}"
    a, b = _members(paho, f"$share/g/{topic}", 2)
    b.unsubscribe(f"$share/g/{topic}")
    _publish(paho, topic, 10)
    a.wait_messages(10)
    b.expect_no_message(0.3)
