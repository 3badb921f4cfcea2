"""Issue #15 through the coordinator: a peering mapping put at the coordinator links two devices
on a gateway in its own network namespace; `GET /v1/sockets` shows each socket's link (peer,
gateway, state, bytes each way) and each link once; `DELETE /v1/sockets/{id}` (admin token) closes
a socket and its peer."""
from __future__ import annotations

import pytest

from coordinators import READ_TOKEN
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import wait_until
from test_fabric_sockets import open_socket
from test_peering import PairingEndpoint, peer_mapping

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
