"""Issue #10 §3.1 and §3.6: input a device controls must never reach a trap, and every packet to an
MQTT 5 client honours its Maximum Packet Size. Each test attacks the built agent the way the
probe of the release binaries did."""

from __future__ import annotations

import time

import pytest

from fabric import fleet_factory  # noqa: F401 (fixture)
from mqttraw import (CONNACK, DISCONNECT, MAXIMUM_PACKET_SIZE, PUBACK, REASON_STRING, SUBACK,
                     USER_PROPERTY, V5, RawClient, Will, connect, publish, subscribe, varint)
from support import uid

# The one bound on user properties per packet, on both sides of the MQTT-to-frame boundary
# (ProtocolLimits.maxUserProperties).
MAX_USER_PROPERTIES = 128
RC_IMPLEMENTATION_SPECIFIC = 0x83


def _user_props(n: int) -> list:
    return [(USER_PROPERTY, (f"k{i}", "v")) for i in range(n)]


def _raw(agent, proto=V5) -> RawClient:
    return RawClient(agent.port, proto=proto, host=agent.host)


@pytest.mark.fleetgate_only
def test_publish_with_too_many_user_properties_is_refused_and_the_fleet_agent_lives(fleet_factory):
    """A retained QoS 1 PUBLISH with 129 user properties used to pass the MQTT side and trap in the
    FORWARD encoder, killing the agent (and again after a restart, when the client re-sent it).
    Now the MQTT decoder refuses it with DISCONNECT 0x83, the agent stays up, nothing of it is
    stored or forwarded, and 128 user properties still cross the fabric intact."""
    fleet = fleet_factory(2)
    gw1, gw2 = fleet.gws["gw-1"].agent, fleet.gws["gw-2"].agent
    base = uid("up")
    sub = fleet.client("gw-2", proto=V5)
    sub.connect()
    sub.subscribe(f"{base}/#", qos=1)
    fleet.wait_interest(f"{base}/ok", {"gw-2"}, origin="gw-1")

    attacker = _raw(gw1)
    attacker.connect(uid("attacker"))
    attacker.send(publish(f"{base}/bad", b"x", qos=1, retain=True, mid=7, proto=V5,
                          props=_user_props(MAX_USER_PROPERTIES + 1)))
    got = attacker.wait_closed(5)
    disconnects = [p for p in got if p.type == DISCONNECT]
    assert [p.reason for p in disconnects] == [RC_IMPLEMENTATION_SPECIFIC], got
    assert not [p for p in got if p.type == PUBACK], "a refused publish must not be acknowledged"
    time.sleep(0.5)
    assert gw1.alive(), f"gw-1 died:\n{gw1.log_tail()}"

    # The boundary: exactly the limit is accepted and arrives with every property, in order.
    ok = _raw(gw1)
    ok.connect(uid("ok"))
    ok.publish(f"{base}/ok", b"fine", qos=1, retain=True, mid=1, props=_user_props(MAX_USER_PROPERTIES))
    msgs = sub.wait_messages(1, timeout=10)
    assert [m.topic for m in msgs] == [f"{base}/ok"], "the refused message must not be delivered"
    assert msgs[0].properties.UserProperty == [(f"k{i}", "v") for i in range(MAX_USER_PROPERTIES)]

    # Restart: nothing the refused publish left behind may kill the agent again.
    gw1.restart(crash=True)
    fleet.wait_connected(["gw-1"])
    late = _raw(gw1)
    late.connect(uid("late"))
    ack = late.subscribe([(f"{base}/#", 1)])
    assert ack.codes == [1]
    retained = late.recv(5)
    assert retained.topic == f"{base}/ok".encode(), retained
    late.expect_none(0.5)
    assert gw1.alive() and gw2.alive()


def test_will_with_too_many_user_properties_is_refused_at_connect(broker):
    """The will's properties cross the same boundary when it is published; CONNECT carries them."""
    c = RawClient(broker.port, proto=V5, host=broker.host)
    will = Will(topic="w/t", payload=b"gone", props=_user_props(MAX_USER_PROPERTIES + 1))
    c.send(connect(uid("will"), proto=V5, will=will))
    got = c.wait_closed(5)
    connacks = [p for p in got if p.type == CONNACK]
    assert [p.reason for p in connacks] == [RC_IMPLEMENTATION_SPECIFIC], got
    assert broker.alive()


@pytest.mark.parametrize("maximum", [64, 200])
def test_suback_honours_the_clients_maximum_packet_size(broker, maximum):
    """A refused long filter used to be echoed in the SUBACK's reason string: a client that set
    Maximum Packet Size 200 got a 2,032-byte SUBACK. MQTT 5 §3.1.2.11.4: the server drops the
    reason string and user properties rather than exceed it."""
    c = RawClient(broker.port, proto=V5, host=broker.host)
    c.connect(uid("mps"), props=[(MAXIMUM_PACKET_SIZE, maximum)])
    filters = [("forbidden/" + "x" * 2000, 1), (uid("fine") + "/t", 1)]
    c.send(subscribe(5, filters, proto=V5))
    ack = c.expect(SUBACK, 5)
    wire = 1 + len(varint(len(ack.body))) + len(ack.body)
    assert wire <= maximum, f"SUBACK of {wire} bytes to a client that accepts {maximum}"
    assert ack.codes == [0x87, 1], ack
    assert ack.prop(REASON_STRING) is None
    # With room, the reason string is still there for the client's developer.
    d = RawClient(broker.port, proto=V5, host=broker.host)
    d.connect(uid("roomy"))
    d.send(subscribe(6, filters, proto=V5))
    roomy = d.expect(SUBACK, 5)
    assert roomy.prop(REASON_STRING), roomy


def test_reason_string_built_from_a_long_topic_does_not_kill_the_agent(broker_factory, tmp_path):
    """A refusal names the topic it refused; with a 65,500-byte topic the reason string used to
    exceed the 65,535 bytes an MQTT string can carry and trap in the encoder."""
    b = broker_factory(deny_subscribe=["forbidden/#"])
    c = RawClient(b.port, proto=V5, host=b.host)
    c.connect(uid("long"))
    long_filter = "forbidden/" + "y" * 65_500
    c.send(subscribe(9, [(long_filter, 1), ("forbidden/" + "z" * 65_500, 1)], proto=V5))
    ack = c.expect(SUBACK, 10)
    assert ack.codes == [0x87, 0x87]
    reason = ack.prop(REASON_STRING)
    assert reason is None or len(reason.encode() if isinstance(reason, str) else reason) <= 65_535
    time.sleep(0.2)
    assert b.alive(), b.log_tail()


def test_client_still_writing_when_dropped_reads_the_reason_then_a_clean_end(broker):
    """Issue #10 §4.7: a v5 client that exceeds the Receive Maximum with QoS 2 publishes is sent
    DISCONNECT 0x93 while it is still writing. The agent used to close with unread input, so the
    kernel answered with RST and the client saw "connection reset" instead of the reason. Now it
    half-closes and discards input for a bounded time: the client reads the DISCONNECT and then
    an orderly end of stream."""
    import socket
    from mqttraw import decode, decode_varint
    c = RawClient(broker.port, proto=V5, host=broker.host)
    c.connect(uid("flood"))
    limit = 20  # the suite's receive_maximum
    # One burst far larger than a read: when the agent decides after packet 21, the rest is still
    # unread in its socket, as with a device that streams without waiting for acknowledgements.
    burst = b"".join(publish("flood/t", b"p" * 1000, qos=2, mid=i % 60000 + 1, proto=V5) for i in range(2000))
    c.send_tolerant(burst)
    try:
        c.sock.shutdown(socket.SHUT_WR)  # done writing, as a client that read the DISCONNECT would be
    except OSError:
        pass
    sock = c.sock
    sock.settimeout(5)
    data = bytes(c.buf)
    reset = False
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            reset = True
            break
        except socket.timeout:
            raise AssertionError("the agent neither ended nor reset the connection within 5 s")
        if not chunk:
            break
        data += chunk
    packets = []
    pos = 0
    while pos < len(data):
        length, body_at = decode_varint(data, pos + 1)
        packets.append(decode(data[pos], data[body_at:body_at + length], V5))
        pos = body_at + length
    disconnects = [p.reason for p in packets if p.type == DISCONNECT]
    assert disconnects == [0x93], [p.name for p in packets]
    assert not reset, "the connection ended with RST: the client may lose the DISCONNECT"
