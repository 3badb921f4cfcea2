"""Issue #14 through the coordinator: a mapping set with `PUT /v1/mappings/{name}` (admin token,
400 naming the field) is pushed to a real agent in its own network namespace, which serves a raw
TCP device with it; `GET /v1/sockets` shows the socket and `/metrics` the mapping's calls. The
mapping survives an agent restart without the coordinator (the agent stores what was pushed)."""
from __future__ import annotations

import json
import socket
import types

import pytest

from coordinators import READ_TOKEN
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import wait_until
from test_sockets import Endpoint, mapping

pytestmark = pytest.mark.fleetgate_only


def open_socket(host: str, port: int, line: bytes) -> tuple[socket.socket, bytes]:
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(line)
    answer = b""
    while not answer.endswith(b"\n"):
        data = s.recv(1)
        assert data, f"closed after {answer!r}"
        answer += data
    return s, answer.strip()


def test_a_mapping_put_at_the_coordinator_serves_a_device_on_a_gateway(fleet_factory):
    fleet = fleet_factory(1, agent_cfg={"extra_args": ["--listen-sockets", "0.0.0.0:0"]})
    gw = fleet.gws["gw-1"]
    endpoint = Endpoint(host="0.0.0.0")
    try:
        host = gw.ns.dev_root_addr if gw.ns is not None else "127.0.0.1"   # the endpoint as the gateway reaches it
        device_host = gw.ns.dev_ns_addr if gw.ns is not None else "127.0.0.1"
        body = mapping(f"http://{host}:{endpoint.port}/fn", {"delimiter": "\n"})
        co = fleet.coordinator
        assert co.send_json("/v1/mappings/meters", body, method="PUT", token=READ_TOKEN)[0] == 403
        status, answer = co.send_json("/v1/mappings/meters", {**body, "reply": "shout"}, method="PUT")
        assert status == 400 and "reply" in answer["error"], answer
        status, stored = co.send_json("/v1/mappings/meters", body, method="PUT")
        assert status == 200 and stored["receive"]["delimiter"] == "\n", stored
        assert co.get("/v1/mappings")["mappings"]["meters"] == stored

        def opened():
            s, answer = open_socket(device_host, gw.agent.sockets_port, b"OPEN meters client=m-1\n")
            if answer.startswith(b"OK "):
                return s, answer[3:].decode()
            s.close()  # pushed not yet: unknown-mapping
            return None
        s, socket_id = wait_until(opened, timeout=10, interval=0.2, what="the pushed mapping on gw-1")
        s.sendall(b"21.5\n")
        got = b""
        while len(got) < 5:
            got += s.recv(16)
        assert got == b"21.5!"
        view = wait_until(lambda: [x for x in co.get("/v1/sockets")["sockets"] if x["socket_id"] == socket_id], timeout=10,
                          what="the socket in GET /v1/sockets")[0]
        assert view["gateway"] == "gw-1" and view["mapping"] == "meters" and view["client_id"] == "m-1" and view["state"] == "open"
        wait_until(lambda: co.metrics().get('fleetgate_coordinator_socket_calls_total{mapping="meters"}', 0) >= 2, timeout=10,
                   what="the mapping's calls in the metrics")
        s.close()
        wait_until(lambda: not co.get("/v1/sockets")["sockets"], timeout=10, what="the closed socket gone from the list")

        # Without the coordinator, a restarted agent still has what was pushed.
        fleet.stop_agent("gw-1")
        co.kill9()
        gw.agent.start()
        s, answer = open_socket(device_host, gw.agent.sockets_port, b"OPEN meters client=m-1\n")
        assert answer.startswith(b"OK "), answer
        s.close()
        co.start()
        assert co.send_json("/v1/mappings/meters", None, method="DELETE")[0] == 200
        assert co.send_json("/v1/mappings/meters", None, method="DELETE")[0] == 404
    finally:
        endpoint.stop()


def test_an_mqtt_endpoint_with_a_paho_function_on_another_gateway(fleet_factory):
    """Issue #14: the function is a paho-mqtt client on gw-2; the device's socket is on gw-1. Its
    chunks arrive on `<prefix>/<id>/rx` with the socket's identity as user properties, open and close
    on `.../events`, and what the function publishes to `.../tx` is written to the device, in order;
    a `close` user property closes the socket."""
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    from support import V5

    fleet = fleet_factory(2, agent_cfg={"extra_args": ["--listen-sockets", "0.0.0.0:0"]})
    fleet.wait_connected()
    gw = fleet.gws["gw-1"]
    device_host = gw.ns.dev_ns_addr if gw.ns is not None else "127.0.0.1"
    co = fleet.coordinator
    body = {"endpoint": {"mqtt": {"prefix": "fn/meters"}}, "events": ["open", "data", "close"],
            "receive": {"delimiter": "\n"}, "reply": "write", "on_error": "close"}
    status, stored = co.send_json("/v1/mappings/mq", body, method="PUT")
    assert status == 200 and stored["endpoint"] == {"mqtt": {"prefix": "fn/meters"}}, stored

    function = fleet.client("gw-2", proto=V5)
    function.connect()
    assert function.subscribe("fn/meters/+/rx", qos=1) == [1]
    assert function.subscribe("fn/meters/+/events", qos=1) == [1]

    def opened():
        s, answer = open_socket(device_host, gw.agent.sockets_port, b"OPEN mq client=m-7\n")
        if answer.startswith(b"OK "):
            return s, answer[3:].decode()
        s.close()  # the mapping is not pushed yet
        return None
    s, socket_id = wait_until(opened, timeout=10, interval=0.2, what="the pushed MQTT mapping on gw-1")
    events = f"fn/meters/{socket_id}/events"
    opened_event = function.wait_messages(1, timeout=10, topic=events)[0]
    assert json.loads(opened_event.payload) == {"event": "open", "socket": socket_id, "mapping": "mq", "client": "m-7",
                                                "identity": "", "gateway": "gw-1"}

    lines = [f"reading {i}\n".encode() for i in range(50)]
    s.sendall(b"".join(lines))
    rx = function.wait_messages(50, timeout=10, topic=f"fn/meters/{socket_id}/rx")
    assert [m.payload for m in rx] == [line[:-1] for line in lines]   # the delimiter cuts, it is not sent
    props = dict(rx[0].properties.UserProperty)
    assert props["socket"] == socket_id and props["client"] == "m-7" and props["gateway"] == "gw-1", props

    # The function answers from gw-2; the device reads the answers in order.
    for m in rx:
        function.publish(f"fn/meters/{socket_id}/tx", m.payload.upper() + b";", qos=1)
    expected = b"".join(line[:-1].upper() + b";" for line in lines)
    got = b""
    s.settimeout(10)
    while len(got) < len(expected):
        data = s.recv(65536)
        assert data, f"closed after {got!r}"
        got += data
    assert got == expected

    # A `close` user property closes the socket after its payload; the close event follows.
    close = Properties(PacketTypes.PUBLISH)
    close.UserProperty = ("close", "1")
    function.publish(f"fn/meters/{socket_id}/tx", b"bye\n", qos=1, properties=close)
    tail = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        tail += data
    assert tail == b"bye\n"
    closed_event = function.wait_messages(2, timeout=10, topic=events)[1]
    assert json.loads(closed_event.payload)["event"] == "close"
    s.close()
    wait_until(lambda: not co.get("/v1/sockets")["sockets"], timeout=10, what="the closed socket gone from the list")
