"""Item 6: CONNECT handling: takeover, duplicate CONNECT, protocol name/level, client ids."""

import pytest

import mqttraw as m
from brokers import PEER
from support import PROTOS, V5, V311, mosquitto_xfail, uid


def _assert_closed_maybe_after(c, allowed_reasons=(), timeout=3.0):
    """The broker closes; in v5 it may first send DISCONNECT with one of allowed_reasons."""
    seen = c.wait_closed(timeout)
    if c.proto == V5 and seen:
        assert [p.type for p in seen] == [m.DISCONNECT], seen
        assert seen[0].reason in allowed_reasons, seen
    else:
        assert not seen, seen


def _takeover(raw, proto):
    cid = uid()
    old = raw(proto)
    old.connect(cid)
    new = raw(proto)
    new.connect(cid)
    seen = old.wait_closed(3.0)
    new.send(m.pingreq())
    new.expect(m.PINGRESP)
    return seen


def test_v311_session_takeover_closes_old_connection(raw):
    """MQTT-3.1.4-2: same client id -> the existing connection is closed."""
    assert _takeover(raw, V311) == []


TAKEOVER_XFAIL = ("2.0.11 closes the old connection without sending DISCONNECT 0x8E "
                  "Session taken over")


@mosquitto_xfail(TAKEOVER_XFAIL)
def test_v5_session_takeover_sends_disconnect_0x8e(raw):
    """MQTT 5 §3.1.4 step 2: the server sends DISCONNECT 0x8E to the existing client, then closes."""
    seen = _takeover(raw, V5)
    assert [(p.type, p.reason) for p in seen] == [(m.DISCONNECT, m.RC_SESSION_TAKEN_OVER)]


@mosquitto_xfail(TAKEOVER_XFAIL)
def test_takeover_seen_by_paho_v5(paho):
    cid = uid()
    a = paho(client_id=cid, proto=V5)
    a.connect()
    b = paho(client_id=cid, proto=V5)
    b.connect()
    rc, _ = a.wait_disconnected()
    a.c.loop_stop()  # don't let paho reconnect and steal it back
    assert rc.value == m.RC_SESSION_TAKEN_OVER


@pytest.mark.parametrize("proto", PROTOS)
def test_second_connect_on_same_socket_closes(raw, proto):
    """MQTT-3.1.0-2: a second CONNECT is a protocol violation -> close (v5: maybe 0x82 first)."""
    c = raw(proto)
    c.connect(uid())
    c.send(m.connect(uid(), proto=proto))
    _assert_closed_maybe_after(c, (m.RC_PROTOCOL_ERROR,))


@pytest.mark.parametrize("proto", PROTOS)
def test_first_packet_not_connect_closes(raw, proto):
    c = raw(proto)
    c.send(m.publish("a/b", b"x", proto=proto))
    seen = c.wait_closed(3.0)
    assert all(p.type != m.CONNACK or p.reason != 0 for p in seen), seen


@pytest.mark.parametrize("name", [b"MQTX", b"mqtt", b""])
def test_bad_protocol_name_closes(raw, name):
    """MQTT-3.1.2-1: no successful CONNACK; the connection is closed (a refusing CONNACK first is
    allowed in v5 as 0x84)."""
    c = raw(V311)
    c.send(m.connect(uid(), proto=4, proto_name=name))
    seen = c.wait_closed(3.0)
    assert all(p.type == m.CONNACK and p.reason != 0 for p in seen), seen


@pytest.mark.parametrize("level", [0, 2, 6, 7, 255])
def test_unsupported_protocol_level_refused(raw, level):
    """MQTT-3.1.2-2: CONNACK 0x01 (unacceptable protocol level) then close; a 5.0 server may
    answer in v5 form with 0x84 Unsupported Protocol Version (MQTT 5 §3.1.2.2)."""
    c = raw(V311)
    c.send(m.connect(uid(), proto=level))
    seen = c.wait_closed(3.0)
    assert len(seen) == 1 and seen[0].type == m.CONNACK, seen
    assert (seen[0].body == b"\x00\x01"
            or (seen[0].body[1] == m.RC_UNSUPPORTED_PROTOCOL_VERSION)), seen[0].body


def test_mqisdp_v31_refused_by_311_only_server(raw):
    """MQTT 3.1 ('MQIsdp', level 3). Fleetgate speaks 3.1.1/5.0 only, so it must answer CONNACK
    0x01 and close. mosquitto implements 3.1 and accepts, which proves the CONNECT is well formed."""
    c = raw(V311)
    c.send(m.connect("v31client", proto=3, proto_name=b"MQIsdp"))
    if PEER == "mosquitto":
        assert c.expect(m.CONNACK).reason == 0
        return
    seen = c.wait_closed(3.0)
    assert len(seen) == 1 and seen[0].type == m.CONNACK and seen[0].reason == 0x01, seen


def test_v5_empty_client_id_gets_assigned_identifier(raw):
    c = raw(V5)
    ack = c.connect("")
    assigned = ack.prop(m.ASSIGNED_CLIENT_IDENTIFIER)
    assert assigned, ack
    # The assigned id is a real session id: a second client taking it over kicks the first.
    c2 = raw(V5)
    c2.connect(assigned)
    assert c.is_closed(3.0)


def test_v5_paho_empty_client_id(paho):
    c = paho(client_id="", proto=V5)
    _, rc, props = c.connect()
    assert props.AssignedClientIdentifier


def test_v311_empty_client_id_with_persistent_session_rejected(raw):
    """MQTT-3.1.3-8: zero-byte client id with CleanSession=0 -> CONNACK 0x02, then close."""
    c = raw(V311)
    c.send(m.connect("", proto=V311, clean=False))
    seen = c.wait_closed(3.0)
    assert [(p.type, p.reason, p.session_present) for p in seen] == [(m.CONNACK, 0x02, False)]


def test_v311_empty_client_id_with_clean_session_accepted(raw):
    c = raw(V311)
    ack = c.connect("", clean=True)
    assert ack.session_present is False
    c.send(m.pingreq())
    c.expect(m.PINGRESP)


@pytest.mark.parametrize("proto", PROTOS)
def test_connect_reserved_flag_set_closes(raw, proto):
    """MQTT-3.1.2-3: the reserved CONNECT flag must be 0, else disconnect."""
    c = raw(proto)
    c.send(m.connect(uid(), proto=proto, reserved_flag=True))
    seen = c.wait_closed(3.0)
    assert all(p.type == m.CONNACK and p.reason >= 0x80 for p in seen), seen


@pytest.mark.parametrize("proto", PROTOS)
def test_unsubscribe_and_ping(raw, proto):
    c = raw(proto)
    c.connect(uid())
    c.subscribe([("x/y", 1)])
    c.send(m.unsubscribe(9, ["x/y", "never/subscribed"], proto=proto))
    ack = c.expect(m.UNSUBACK)
    assert ack.mid == 9
    if proto == V5:
        assert ack.codes[0] == 0x00 and ack.codes[1] in (0x00, 0x11)
    c.send(m.pingreq())
    c.expect(m.PINGRESP)
