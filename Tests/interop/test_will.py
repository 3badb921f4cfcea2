"""Item 3: Will messages (MQTT 3.1.1 §3.1.2.5, MQTT 5 §3.1.2.5 and §3.1.3.2)."""

import time

import pytest

import mqttraw as m
from support import PROTOS, V5, V311, uid


def _observer(paho, topic, proto=V5, qos=1):
    obs = paho(proto=proto)
    obs.connect()
    obs.subscribe(topic, qos=qos)
    return obs


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("how", ["close", "reset"])
def test_will_published_on_abnormal_disconnect(paho, raw, proto, how):
    topic = f"will/{uid()}"
    obs = _observer(paho, topic, proto)
    c = raw(proto)
    c.connect(uid(), will=m.Will(topic, b"gone", qos=1))
    c.close() if how == "close" else c.abort()
    (msg,) = obs.wait_messages(1)
    assert (msg.payload, msg.qos, msg.retain) == (b"gone", 1, False)


@pytest.mark.parametrize("proto", PROTOS)
def test_will_not_published_on_clean_disconnect(paho, raw, proto):
    topic = f"will/{uid()}"
    obs = _observer(paho, topic, proto)
    c = raw(proto)
    c.connect(uid(), will=m.Will(topic, b"gone", qos=1))
    c.send(m.disconnect(proto))
    assert c.is_closed(2.0), "broker must close the connection after DISCONNECT"
    obs.expect_no_message(1.0)


def test_v5_disconnect_with_will_message_reason_publishes_will(paho, raw):
    """DISCONNECT reason 0x04 'Disconnect with Will Message' (MQTT 5 §3.14.2.1)."""
    topic = f"will/{uid()}"
    obs = _observer(paho, topic)
    c = raw(V5)
    c.connect(uid(), will=m.Will(topic, b"asked", qos=1))
    c.send(m.disconnect(V5, m.RC_DISCONNECT_WITH_WILL))
    (msg,) = obs.wait_messages(1)
    assert msg.payload == b"asked"


def test_v5_will_delay_interval_delays_will(paho, raw):
    topic = f"will/{uid()}"
    obs = _observer(paho, topic)
    c = raw(V5)
    c.connect(uid(), clean=True, props=[(m.SESSION_EXPIRY_INTERVAL, 30)],
              will=m.Will(topic, b"late", qos=1, props=[(m.WILL_DELAY_INTERVAL, 2)]))
    t0 = time.monotonic()
    c.abort()
    obs.expect_no_message(1.2)
    (msg,) = obs.wait_messages(1, timeout=4)
    elapsed = time.monotonic() - t0
    assert msg.payload == b"late"
    assert 1.5 <= elapsed <= 4.5, elapsed


def test_v5_will_delay_cancelled_by_reconnect(paho, raw):
    """Reconnecting to the session (Clean Start 0) before the delay expires cancels the will
    (MQTT-3.1.3-9)."""
    topic = f"will/{uid()}"
    cid = uid()
    obs = _observer(paho, topic)
    c = raw(V5)
    c.connect(cid, props=[(m.SESSION_EXPIRY_INTERVAL, 60)],
              will=m.Will(topic, b"cancel me", qos=1, props=[(m.WILL_DELAY_INTERVAL, 2)]))
    c.abort()
    c2 = raw(V5)
    ack = c2.connect(cid, clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 60)])
    assert ack.session_present
    obs.expect_no_message(3.0)
    c2.disconnect()


@pytest.mark.parametrize("proto", PROTOS)
def test_will_retain(paho, raw, proto):
    topic = f"will/{uid()}"
    c = raw(proto)
    c.connect(uid(), will=m.Will(topic, b"retained will", qos=1, retain=True))
    live = _observer(paho, topic, proto)
    c.abort()
    live.wait_messages(1)
    late = paho(proto=proto)
    late.connect()
    late.subscribe(topic, qos=1)
    (msg,) = late.wait_messages(1)
    assert msg.payload == b"retained will" and msg.retain


def test_v5_will_properties_passed_through(paho, raw):
    topic = f"will/{uid()}"
    obs = _observer(paho, topic)
    will_props = [
        (m.PAYLOAD_FORMAT_INDICATOR, 1),
        (m.MESSAGE_EXPIRY_INTERVAL, 3600),
        (m.CONTENT_TYPE, "application/json"),
        (m.RESPONSE_TOPIC, "reply/here"),
        (m.CORRELATION_DATA, b"\x00\x01corr"),
        (m.USER_PROPERTY, ("k1", "v1")),
        (m.USER_PROPERTY, ("k1", "v2")),
        (m.USER_PROPERTY, ("device", "\u00fcnic\u00f8de")),
    ]
    c = raw(V5)
    c.connect(uid(), will=m.Will(topic, b'{"state":"offline"}', qos=1, props=will_props))
    c.abort()
    (msg,) = obs.wait_messages(1)
    p = msg.properties
    assert p.PayloadFormatIndicator == 1
    assert 3590 <= p.MessageExpiryInterval <= 3600
    assert p.ContentType == "application/json"
    assert p.ResponseTopic == "reply/here"
    assert p.CorrelationData == b"\x00\x01corr"
    assert p.UserProperty == [("k1", "v1"), ("k1", "v2"), ("device", "\u00fcnic\u00f8de")]


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "killed"])
def test_will_of_a_session_that_expired_while_the_broker_was_down_is_published(broker, paho, raw, crash):
    """Issue #10 §4.3: the session ends (expiry 2 s) while the broker is down; its will (delay
    60 s, so due at the session's end) must be published when the broker comes back, as the
    sweep would have published it at run time. It used to be deleted with the session."""
    topic = f"will/{uid()}"
    c = raw(V5)
    c.connect(uid(), clean=False, props=[(m.SESSION_EXPIRY_INTERVAL, 2)],
              will=m.Will(topic, b"expired while down", qos=1, retain=True, props=[(m.WILL_DELAY_INTERVAL, 60)]))
    if crash:
        broker.kill()   # the session was connected when the process died
    else:
        c.abort()       # abnormal end: the will waits for the delay or the session's end
        time.sleep(0.3)
        broker.stop()
    c.abort()
    time.sleep(3)       # the 2 s session expiry passes while nothing runs
    broker.start()
    late = paho(proto=V5)
    late.connect()
    late.subscribe(topic, qos=1)
    (msg,) = late.wait_messages(1, timeout=5)
    assert msg.payload == b"expired while down"  # retained or live: published either way
