"""Item 1: QoS 0/1/2 publish -> subscribe with real clients, both protocol versions, and the
command-line and asyncio clients devices actually ship with."""

import asyncio
import queue
import shutil
import subprocess
import threading
import time

import pytest

import mqttraw as m
from support import PROTOS, V5, V311, uid

QOS = [0, 1, 2]


@pytest.mark.parametrize("sub_proto", PROTOS)
@pytest.mark.parametrize("pub_proto", PROTOS)
@pytest.mark.parametrize("sub_qos", QOS)
@pytest.mark.parametrize("pub_qos", QOS)
def test_qos_matrix_delivers_at_min_qos(paho, pub_qos, sub_qos, pub_proto, sub_proto):
    """Every publish QoS x subscription QoS, across 3.1.1 and 5.0 clients in both directions:
    delivered once, at min(pub, sub) QoS (MQTT-3.8.4-6 / v5 §3.8.4), payload intact."""
    topic = f"qos/{pub_qos}{sub_qos}/{uid()}"
    sub = paho(proto=sub_proto)
    sub.connect()
    assert sub.subscribe(topic, qos=sub_qos) == [sub_qos]
    pub = paho(proto=pub_proto)
    pub.connect()
    payload = bytes(range(256)) * 3
    pub.publish(topic, payload, qos=pub_qos)
    msgs = sub.wait_messages(1)
    assert msgs[0].topic == topic
    assert msgs[0].payload == payload
    assert msgs[0].qos == min(pub_qos, sub_qos)
    assert not msgs[0].retain
    sub.expect_no_message(0.2, topic="never")  # let a duplicate show up if there is one
    assert len(sub.messages) == 1


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("qos", QOS)
def test_raw_subscriber_sees_exact_qos_flags_and_handshake(broker, raw, proto, qos):
    """The bytes on the wire: PUBLISH flags carry the granted QoS, a packet id is present exactly
    for QoS>0, and the QoS 2 handshake completes (PUBREC -> PUBREL -> PUBCOMP)."""
    sub = raw(proto)
    sub.connect(uid())
    assert sub.subscribe([("raw/t", 2)]).codes == [2]
    pub = raw(proto)
    pub.connect(uid())
    pub.publish("raw/t", b"x", qos=qos, mid=7)
    p = sub.expect(m.PUBLISH)
    assert (p.topic, p.payload, p.qos, p.dup, p.retain) == (b"raw/t", b"x", qos, False, False)
    assert (p.mid is not None) == (qos > 0)
    if qos:
        assert p.mid != 0
    sub.ack(p)
    sub.expect_none(0.3)


@pytest.mark.parametrize("proto", PROTOS)
def test_many_messages_keep_order_per_publisher(paho, proto):
    """Messages from one publisher to one topic arrive in order (MQTT-4.6.0-6). 100 of them: the
    per-session queue bound (max_queued_messages=100) also applies to online sessions, so a burst
    larger than in-flight window + queue may legitimately be dropped."""
    topic = f"order/{uid()}"
    sub = paho(proto=proto)
    sub.connect()
    sub.subscribe(topic, qos=1)
    pub = paho(proto=proto)
    pub.connect()
    for i in range(100):
        pub.c.publish(topic, str(i).encode(), qos=1)
    msgs = sub.wait_messages(100, timeout=10)
    assert [int(x.payload) for x in msgs] == list(range(100))


def _mosq_version_flag(proto):
    return ["-V", "mqttv5" if proto == V5 else "mqttv311"]


@pytest.mark.skipif(not shutil.which("mosquitto_sub"), reason="mosquitto-clients not installed")
@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("qos", QOS)
def test_mosquitto_pub_to_mosquitto_sub(broker, proto, qos):
    """The Debian command-line clients round trip through the broker."""
    topic = f"cli/{uid()}"
    base = ["-h", broker.host, "-p", str(broker.port), *_mosq_version_flag(proto)]
    sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", *base, "-t", topic, "-q", str(qos),
                            "-C", "1", "-d", "-F", "PAYLOAD:%p"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in sub.stdout], daemon=True)
    reader.start()
    seen = []

    def read_until(marker, timeout):
        deadline = time.monotonic() + timeout
        while not any(marker in x for x in seen):
            try:
                seen.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"mosquitto_sub never printed {marker!r}: {seen}") from None

    try:
        # -d prints the SUBACK, the only readiness signal mosquitto_sub gives.
        read_until("SUBACK", 5)
        subprocess.run(["mosquitto_pub", *base, "-t", topic, "-q", str(qos), "-m", "hello cli"],
                       check=True, timeout=5)
        read_until("PAYLOAD:hello cli", 5)
        assert sub.wait(5) == 0
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)


@pytest.mark.parametrize("proto", PROTOS)
def test_aiomqtt_round_trip(broker, proto):
    """aiomqtt (asyncio wrapper over paho) publishes and receives its own QoS 1 and 2 messages."""
    import aiomqtt

    async def run():
        topic = f"aio/{uid()}"
        version = aiomqtt.ProtocolVersion.V5 if proto == V5 else aiomqtt.ProtocolVersion.V311
        async with aiomqtt.Client(broker.host, broker.port, identifier=uid("aio"),
                                  protocol=version, timeout=5) as client:
            await client.subscribe(topic, qos=2)
            await client.publish(topic, b"one", qos=1)
            await client.publish(topic, b"two", qos=2)
            got = []
            async for msg in client.messages:
                got.append((msg.payload, msg.qos))
                if len(got) == 2:
                    break
            return got

    got = asyncio.run(asyncio.wait_for(run(), 10))
    assert got == [(b"one", 1), (b"two", 2)]


def test_unsubscribe_stops_delivery(paho):
    topic = f"unsub/{uid()}"
    sub = paho(proto=V311)
    sub.connect()
    sub.subscribe(topic, qos=1)
    sub.unsubscribe(topic)
    pub = paho(proto=V311)
    pub.connect()
    pub.publish(topic, b"x", qos=1)
    sub.expect_no_message(0.5)
