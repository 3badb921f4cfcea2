"""Shared helpers for the interop tests: peer markers, bounded waits and a paho-mqtt wrapper."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from brokers import PEER

V311, V5 = 4, 5
PROTOS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]


def fleetgate_only_marks(reason: str) -> list:
    """Marks for behaviour only Fleetgate promises (usable as a module's pytestmark)."""
    return [pytest.mark.fleetgate_only,
            pytest.mark.skipif(PEER == "mosquitto", reason=f"fleetgate-only: {reason}")]


def fleetgate_only(reason: str):
    """Decorator form of fleetgate_only_marks: skipped against mosquitto with the reason shown."""
    def deco(f):
        for mark in fleetgate_only_marks(reason):
            f = mark(f)
        return f
    return deco


def mosquitto_xfail(reason: str):
    """The test follows the spec; mosquitto 2.0 is known to deviate here (strict xfail, so a
    mosquitto that starts passing is noticed)."""
    def deco(f):
        f = pytest.mark.mosquitto_deviates(f)
        return pytest.mark.xfail(PEER == "mosquitto", reason=f"mosquitto deviates: {reason}",
                                 strict=True)(f)
    return deco


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01, what: str = "condition"):
    """Poll predicate until truthy or the deadline; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def uid(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def props(packet_type, **kw) -> Properties:
    """paho Properties from keyword args, e.g. props(PacketTypes.PUBLISH, MessageExpiryInterval=5)."""
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class Paho:
    """A paho-mqtt 2.x client on its own network thread, with synchronous, bounded helpers."""

    def __init__(self, broker, client_id: str | None = None, proto: int = V311,
                 clean: bool = True, keepalive: int = 30, will: dict | None = None,
                 connect_props: Properties | None = None):
        self.broker = broker
        self.proto = proto
        self.client_id = client_id if client_id is not None else uid()
        self.clean = clean
        self.keepalive = keepalive
        self.connect_props = connect_props
        kwargs = {"client_id": self.client_id,
                  "protocol": mqtt.MQTTv5 if proto == V5 else mqtt.MQTTv311}
        if proto == V311:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.c.enable_logger()
        if will:
            self.c.will_set(**will)
        self.cond = threading.Condition()
        self.messages: list[mqtt.MQTTMessage] = []
        self.connacks: list = []
        self.subacks: dict = {}
        self.disconnects: list = []
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect
        self.c.on_unsubscribe = self._on_unsubscribe

    # -- callbacks (network thread)
    def _on_connect(self, c, ud, flags, rc, properties):
        with self.cond:
            self.connacks.append((flags, rc, properties))
            self.cond.notify_all()

    def _on_message(self, c, ud, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_subscribe(self, c, ud, mid, rcs, properties):
        with self.cond:
            self.subacks[mid] = (rcs, properties)
            self.cond.notify_all()

    def _on_unsubscribe(self, c, ud, mid, rcs, properties):
        with self.cond:
            self.subacks[mid] = (rcs, properties)
            self.cond.notify_all()

    def _on_disconnect(self, c, ud, flags, rc, properties):
        with self.cond:
            self.disconnects.append((rc, properties))
            self.cond.notify_all()

    def _wait(self, pred, timeout, what):
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise AssertionError(f"{self.client_id}: timed out after {timeout}s waiting "
                                     f"for {what}")

    # -- operations
    def connect(self, timeout: float = 5.0, expect_success: bool = True):
        n = len(self.connacks)
        kw = {}
        if self.proto == V5:
            kw["clean_start"] = self.clean
            if self.connect_props is not None:
                kw["properties"] = self.connect_props
        self.c.connect(self.broker.host, self.broker.port, keepalive=self.keepalive, **kw)
        self.c.loop_start()
        self._wait(lambda: len(self.connacks) > n, timeout, "CONNACK")
        flags, rc, properties = self.connacks[-1]
        if expect_success:
            assert not rc.is_failure, f"CONNACK refused: {rc}"
        return flags, rc, properties

    def subscribe(self, topic, qos: int = 0, options: SubscribeOptions | None = None,
                  properties: Properties | None = None, timeout: float = 5.0):
        if self.proto == V5:
            arg = topic if isinstance(topic, list) else (topic, options or SubscribeOptions(qos))
            rc, mid = self.c.subscribe(arg, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        self._wait(lambda: mid in self.subacks, timeout, "SUBACK")
        rcs, _ = self.subacks[mid]
        return [r.value for r in rcs]

    def unsubscribe(self, topic, timeout: float = 5.0):
        rc, mid = self.c.unsubscribe(topic)
        self._wait(lambda: mid in self.subacks, timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos: int = 0, retain: bool = False,
                properties: Properties | None = None, timeout: float = 5.0):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"publish to {topic} not completed in {timeout}s"
        return info

    def wait_messages(self, n: int, timeout: float = 5.0, topic: str | None = None):
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        self._wait(lambda: len(matching()) >= n, timeout, f"{n} message(s) on {topic or '*'}")
        return matching()

    def expect_no_message(self, within: float = 0.5, topic: str | None = None):
        """Assert no (matching) message arrives within `within` seconds."""
        deadline = time.monotonic() + within
        with self.cond:
            while True:
                got = [m for m in self.messages if topic is None or m.topic == topic]
                assert not got, f"unexpected message(s): {[(m.topic, m.payload) for m in got]}"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.cond.wait(remaining)

    def wait_disconnected(self, timeout: float = 5.0):
        self._wait(lambda: self.disconnects, timeout, "disconnect")
        return self.disconnects[-1]

    def disconnect(self, **kw):
        self.c.disconnect(**kw)
        self.c.loop_stop()

    def stop(self):
        """Stop the network thread without sending DISCONNECT and close the socket."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()


__all__ = ["PEER", "PROTOS", "V311", "V5", "Paho", "PacketTypes", "Properties",
           "SubscribeOptions", "fleetgate_only", "fleetgate_only_marks", "mosquitto_xfail", "props", "uid", "wait_until"]
