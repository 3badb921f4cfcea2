"""Issue #15 through the coordinator, gateways in their own network namespaces: a peering mapping
put at the coordinator links two devices on one gateway; `GET /v1/sockets` shows each socket's
link (peer, gateway, state, bytes each way) and each link once; `DELETE /v1/sockets/{id}` (admin
token) closes a socket and its peer. Across two gateways: a peer 3 s late, 100 MB each way with
SHA-256 at both ends, the link through a coordinator restart, a dead gateway closing the other
side, 500 pairs echoing 1,000 messages."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from coordinators import READ_TOKEN
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import wait_until
from test_fabric_sockets import open_socket
from test_peering import PairingEndpoint, echo_through_pairs, exchange, peer_mapping, rss_kb

pytestmark = pytest.mark.fleetgate_only


def test_links_are_listed_and_a_delete_closes_both_ends(fleet_factory):
    fleet = fleet_factory(1, agent_cfg={"extra_args": ["--listen-sockets", "0.0.0.0:0"]})
    gw = fleet.gws["gw-1"]
    pairing = PairingEndpoint(host="0.0.0.0")
    try:
        host = gw.ns.dev_root_addr if gw.ns is not None else "127.0.0.1"
        device_host = gw.ns.dev_ns_addr if gw.ns is not None else "127.0.0.1"
        co = fleet.coordinator
        body = peer_mapping(f"http://{host}:{pairing.port}/fn", peer_wait_ms=60_000)
        status, answer = co.send_json("/v1/mappings/bridge", {**body, "peer_wait_ms": 0}, method="PUT")
        assert status == 400 and "peer_wait_ms" in answer["error"], answer
        status, answer = co.send_json("/v1/mappings/bridge", {**body, "peer_and_data": "yes"}, method="PUT")
        assert status == 400 and "peer_and_data" in answer["error"], answer
        status, stored = co.send_json("/v1/mappings/bridge", body, method="PUT")
        assert status == 200 and stored["peer_wait_ms"] == 60_000, stored
        pairing.peers = {"a": ("room", "json"), "b": ("room", "header"), "c": ("nobody", "json")}

        def opened(client):
            s, answer = open_socket(device_host, gw.agent.sockets_port, f"OPEN bridge client={client}\n".encode())
            if answer.startswith(b"OK "):
                return s, answer[3:].decode()
            s.close()
            return None
        a, a_id = wait_until(lambda: opened("a"), timeout=10, interval=0.2, what="the pushed mapping on gw-1")
        b, b_id = opened("b")
        c, c_id = opened("c")
        a.sendall(b"x" * 1000)
        got = b""
        while len(got) < 1000:
            got += b.recv(4096)
        b.sendall(b"y" * 10)
        got = b""
        while len(got) < 10:
            got += a.recv(4096)

        def listed():
            view = co.get("/v1/sockets")
            by_id = {x["socket_id"]: x for x in view["sockets"]}
            if {a_id, b_id, c_id} <= by_id.keys() and by_id[a_id].get("peer", {}).get("bytes_to_peer") == 1000 \
                    and by_id[b_id].get("peer", {}).get("bytes_to_peer") == 10:
                return view, by_id
            return None
        view, by_id = wait_until(listed, timeout=15, what="the links in GET /v1/sockets")
        assert by_id[a_id]["peer"] == {"state": "linked", "socket_id": b_id, "gateway": "gw-1", "bytes_to_peer": 1000, "bytes_from_peer": 10}
        assert by_id[b_id]["peer"]["socket_id"] == a_id and by_id[b_id]["peer"]["bytes_from_peer"] == 1000
        assert by_id[c_id]["peer"] == {"state": "waiting", "waiting_for": "nobody", "bytes_to_peer": 0, "bytes_from_peer": 0}
        links = view["links"]
        assert len(links) == 1, links
        ends = {links[0]["a"]["socket_id"], links[0]["b"]["socket_id"]}
        assert ends == {a_id, b_id} and links[0]["state"] == "linked"
        assert sorted([links[0]["bytes_a_to_b"], links[0]["bytes_b_to_a"]]) == [10, 1000]

        assert co.send_json(f"/v1/sockets/{a_id}", None, method="DELETE", token=READ_TOKEN)[0] == 403
        assert co.send_json("/v1/sockets/no-such-socket", None, method="DELETE")[0] == 404
        assert co.send_json(f"/v1/sockets/{a_id}", None, method="DELETE")[0] == 200
        for s in (a, b):
            s.settimeout(10)
            assert s.recv(100) == b"", "closed, and so its peer"
        wait_until(lambda: {x["socket_id"] for x in co.get("/v1/sockets")["sockets"]} == {c_id}, timeout=15,
                   what="only the waiting socket left")
        for s in (a, b, c):
            s.close()
    finally:
        pairing.stop()


def two_gateways(fleet_factory, **mapping_extra):
    """Two gateways in their own namespaces, a pairing function both reach, the mapping pushed."""
    fleet = fleet_factory(2, agent_cfg={"extra_args": ["--listen-sockets", "0.0.0.0:0"]})
    pairing = PairingEndpoint(host="0.0.0.0")
    gw1 = fleet.gws["gw-1"]
    host = gw1.ns.dev_root_addr if gw1.ns is not None else "127.0.0.1"
    body = peer_mapping(f"http://{host}:{pairing.port}/fn", **mapping_extra)
    body["endpoint"]["timeout_ms"] = 30_000
    assert fleet.coordinator.send_json("/v1/mappings/bridge", body, method="PUT")[0] == 200

    def device_host(gid):
        gw = fleet.gws[gid]
        return gw.ns.dev_ns_addr if gw.ns is not None else "127.0.0.1"

    def opener(gid):
        def open_one(client):
            s = socket.create_connection((device_host(gid), fleet.gws[gid].agent.sockets_port), timeout=30)
            s.sendall(f"OPEN bridge client={client}\n".encode())
            buf = b""
            while b"\n" not in buf:
                data = s.recv(4096)
                if not data:
                    break
                buf += data
            answer, _, rest = buf.partition(b"\n")
            return s, answer.decode(), rest
        return open_one

    for gid in ("gw-1", "gw-2"):  # the pushed mapping on both
        wait_until(lambda: opener(gid)(f"probe-{gid}")[1].startswith("OK "), timeout=15, interval=0.2, what=f"the mapping on {gid}")
    return fleet, pairing, opener("gw-1"), opener("gw-2")


@pytest.mark.timeout(240)
def test_across_two_gateways_a_late_peer_links_and_100_mb_go_each_way(fleet_factory):
    fleet, pairing, on1, on2 = two_gateways(fleet_factory, peer_wait_ms=20_000)
    try:
        pairing.peers = {"left": ("far-room", "json"), "right": ("far-room", "header")}
        a = on1("left")
        assert a[1].startswith("OK "), a[1]
        time.sleep(3)  # the second device opens 3 s later, on the other gateway
        b = on2("right")
        assert b[1].startswith("OK "), b[1]
        d = exchange(a, b, 100 * 1024 * 1024, timeout=180)
        assert d["a-sent"] == d["b-got"] and d["b-sent"] == d["a-got"]
        view = wait_until(lambda: [x for x in fleet.coordinator.get("/v1/sockets")["links"] if {x["a"]["gateway"], x["b"]["gateway"]} == {"gw-1", "gw-2"}],
                          timeout=15, what="the cross-gateway link listed")
        assert view[0]["state"] == "linked"
        a[0].close()
        b[0].settimeout(10)
        assert b[0].recv(10) == b"", "a close on gw-1 is an EOF on gw-2"
        b[0].close()
    finally:
        pairing.stop()


@pytest.mark.timeout(120)
def test_a_link_survives_the_coordinator_and_a_dead_gateway_closes_the_other_side(fleet_factory):
    fleet, pairing, on1, on2 = two_gateways(fleet_factory)
    try:
        pairing.peers = {"x": ("r", "json"), "y": ("r", "json")}
        a, b = on1("x"), on2("y")
        assert a[1].startswith("OK ") and b[1].startswith("OK ")
        wait_until(lambda: [x for x in fleet.coordinator.get("/v1/sockets")["links"] if x["state"] == "linked"], timeout=15,
                   what="the link made")
        fleet.coordinator.kill9()  # the bytes never went through it
        a[0].sendall(b"still here")
        got = b[2]
        b[0].settimeout(10)
        while len(got) < 10:
            got += b[0].recv(100)
        assert got == b"still here"
        fleet.coordinator.start()
        fleet.stop_agent("gw-2", kill9=True)  # kill -9 of the agent holding one side
        a[0].settimeout(10)
        started = time.monotonic()
        try:
            end = a[0].recv(100)
        except ConnectionResetError:
            end = b""
        assert end == b"", "the other side is closed, not left hanging"
        assert time.monotonic() - started < 10
        a[0].close()
        b[0].close()
    finally:
        pairing.stop()


@pytest.mark.timeout(240)
def test_500_pairs_across_two_gateways_each_echo_a_thousand_messages(fleet_factory):
    fleet, pairing, on1, on2 = two_gateways(fleet_factory)
    try:
        pairs, size, count = 500, 32, 1000
        pairing.peers = {f"p{i}-{side}": (f"room-{i}", "json") for i in range(pairs) for side in "ab"}
        devices = []
        for k in range(0, pairs, 50):  # in batches: the handshake timeout also covers the open event
            batch = list(range(k, min(pairs, k + 50)))
            with ThreadPoolExecutor(16) as pool:
                left = list(pool.map(lambda i: on1(f"p{i}-a"), batch))
                right = list(pool.map(lambda i: on2(f"p{i}-b"), batch))
            devices += list(zip(left, right))
        refused = [d[1] for pair in devices for d in pair if not d[1].startswith("OK ")]
        assert not refused, refused[:5]
        echo_through_pairs(devices, size, count)
    finally:
        pairing.stop()


@pytest.mark.timeout(120)
def test_across_gateways_a_reader_that_stops_stalls_only_its_peer(fleet_factory):
    """One device stops reading: its peer's writes stall with both agents' and the coordinator's
    RSS growth under 20 MB while up to 1 GB is offered; another pair on the same two gateways
    keeps moving 20 MB each way."""
    fleet, pairing, on1, on2 = two_gateways(fleet_factory)
    try:
        pairing.peers = {"w": ("stall", "json"), "z": ("stall", "json"), "x": ("busy", "json"), "y": ("busy", "json")}
        w, z = on1("w"), on2("z")
        x, y = on1("x"), on2("y")
        assert all(d[1].startswith("OK ") for d in (w, z, x, y))
        pids = {"gw-1": fleet.gws["gw-1"].agent.proc.pid, "gw-2": fleet.gws["gw-2"].agent.proc.pid,
                "coordinator": fleet.coordinator.proc.pid}
        before = {k: rss_kb(p) for k, p in pids.items()}
        w[0].setblocking(False)
        block = b"\xa5" * (1 << 20)
        offered, stalled_for, deadline = 0, 0.0, time.monotonic() + 30
        while offered < 1 << 30 and time.monotonic() < deadline and stalled_for < 2.0:
            try:
                offered += w[0].send(block)
                stalled_for = 0.0
            except BlockingIOError:
                time.sleep(0.05)
                stalled_for += 0.05
        assert stalled_for >= 2.0, f"the writer never stalled ({offered} bytes offered)"
        assert offered < 64 << 20, f"{offered} bytes went in although nobody reads"
        started = time.monotonic()
        d = exchange(x, y, 20 * 1024 * 1024, timeout=30)
        assert d["a-sent"] == d["b-got"] and d["b-sent"] == d["a-got"]
        assert time.monotonic() - started < 15
        grown = {k: (rss_kb(p) - before[k]) / 1024 for k, p in pids.items()}
        assert all(g < 20 for g in grown.values()), grown
        for s in (w[0], z[0], x[0], y[0]):
            s.close()
    finally:
        pairing.stop()


@pytest.mark.timeout(120)
def test_sockets_that_wait_while_the_coordinator_is_down_link_when_it_is_back(fleet_factory):
    fleet, pairing, on1, on2 = two_gateways(fleet_factory, peer_wait_ms=60_000)
    try:
        pairing.peers = {"m": ("later", "json"), "n": ("later", "json")}
        fleet.coordinator.kill9()
        a, b = on1("m"), on2("n")  # the agents keep the pushed mapping; matching waits for the coordinator
        assert a[1].startswith("OK ") and b[1].startswith("OK ")
        a[0].sendall(b"held until linked")
        fleet.coordinator.start()
        got = b[2]
        b[0].settimeout(30)
        while len(got) < len(b"held until linked"):
            data = b[0].recv(100)
            assert data, "closed instead of linked:\n" + fleet.gws["gw-1"].agent.log_tail() + "\n----\n" + fleet.gws["gw-2"].agent.log_tail()
            got += data
        assert got == b"held until linked"
        a[0].close()
        b[0].close()
    finally:
        pairing.stop()
