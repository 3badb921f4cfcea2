"""The coordinator's link: handshake, authentication, malformed input, session replacement,
shutdown. Real binary, independent frame codec (fleetframes.py)."""

from __future__ import annotations

import signal
import struct
import time

from coordinators import TOKEN, coordinator, coordinator_factory  # noqa: F401 (fixtures)
from fleetframes import (ERROR, FORWARD, HEARTBEAT, HELLO, HELLO_ACK, INTEREST_SNAPSHOT, MALFORMED_FRAME,
                         NOT_AUTHORIZED, REMOTE_INTEREST, SESSION_REPLACED, SHUTTING_DOWN, UNEXPECTED_FRAME,
                         FRAME_TOO_LARGE, UNKNOWN_FRAME_KIND, UNSUPPORTED_VERSION, frame, heartbeat, hello,
                         interest_snapshot, u16, u32)


def test_hello_ok_registers_gateway(coordinator):
    gw = coordinator.gateway("gw-a", region="eu-1", labels=[("rack", "r7")], capacity=3, software="1.2.3",
                             mqtt_address="10.0.0.5:1883")
    assert gw.ack["version"] == 1
    assert gw.ack["session_epoch"] >= 1
    assert gw.ack["heartbeat_ms"] > 0
    assert gw.ack["coordinator_id"]
    assert gw.remote["epoch"] == 1 and gw.remote["seq"] == 0 and gw.remote["filters"] == []
    g = coordinator.get("/v1/gateways/gw-a")
    assert g["state"] == "active" and g["connected"] is True
    assert g["region"] == "eu-1" and g["labels"] == {"rack": "r7"} and g["capacity_weight"] == 3
    assert g["software_version"] == "1.2.3" and g["mqtt_address"] == "10.0.0.5:1883"
    graph = coordinator.get("/v1/graph")
    assert {"id": "gw-a", "kind": "gateway", "state": "active", "region": "eu-1"} in graph["nodes"]
    assert any(e["source"] == "gw-a" and e["state"] == "up" for e in graph["edges"])


def test_bad_token_gets_one_error_and_close_and_no_state(coordinator):
    before = coordinator.get("/v1/gateways")
    c = coordinator.connect()
    c.send(hello("intruder", b"wrong-token"))
    frames = c.expect_close()
    assert [f.kind for f in frames] == [ERROR], [f.name for f in frames]
    assert frames[0]["code"] == NOT_AUTHORIZED and frames[0]["related"] == HELLO
    assert coordinator.get("/v1/gateways") == before
    status, body, _ = coordinator.http("/v1/gateways/intruder")
    assert status == 404 and body["code"] == "not_found"


def test_repeated_bad_hellos_are_slowed_and_logged_at_a_bounded_rate(coordinator):
    """Issue #11: token guessing ran at ~5,000 HELLOs/s, each logged. Now a host's failures delay
    its next HELLO (two free, then 100 ms doubling to 5 s), only one line per 10 s is logged
    (with the count in between), and the right token still gets in after its wait."""
    waits = []
    for _ in range(6):
        c = coordinator.connect(timeout=10)
        t0 = time.monotonic()
        c.send(hello("guess", b"wrong-token"))
        frames = c.expect_close()
        waits.append(time.monotonic() - t0)
        assert [(f.kind, f["code"]) for f in frames] == [(ERROR, NOT_AUTHORIZED)]
    print("\nbad HELLO answered after (s):", ", ".join(f"{w:.2f}" for w in waits))
    assert max(waits[:2]) < 0.09, waits
    assert 0.09 <= waits[2] < 0.6 and 0.18 <= waits[3] and 0.35 <= waits[4] and 0.7 <= waits[5] < 3, waits
    t0 = time.monotonic()
    ok = coordinator.gateway("gw-after")
    assert ok.ack["session_epoch"] >= 1 and time.monotonic() - t0 >= 1.0  # the host still waits
    logged = [line for line in coordinator.log_path.read_text(errors="replace").splitlines() if "refused: bad token" in line]
    assert len(logged) == 1, logged
    metrics = coordinator.get("/metrics")
    assert "fleetgate_coordinator_auth_failures_total 6" in metrics
    assert "fleetgate_coordinator_hellos_delayed_total 5" in metrics, metrics


def test_empty_token_is_refused(coordinator):
    c = coordinator.connect()
    c.send(hello("gw-empty", b""))
    frames = c.expect_close()
    assert [(f.kind, f["code"]) for f in frames] == [(ERROR, NOT_AUTHORIZED)]


def test_frame_before_hello_is_unexpected(coordinator):
    c = coordinator.connect()
    c.send(heartbeat(1))
    frames = c.expect_close()
    assert [(f.kind, f["code"], f["related"]) for f in frames] == [(ERROR, UNEXPECTED_FRAME, HEARTBEAT)]


def test_malformed_hello_gets_codec_error_and_close_state_unchanged(coordinator):
    before = coordinator.get("/v1/gateways")
    c = coordinator.connect()
    # bad magic
    body = b"XXXX" + u16(1) + u16(1)
    c.send(frame(HELLO, body))
    frames = c.expect_close()
    assert [(f.kind, f["code"]) for f in frames] == [(ERROR, MALFORMED_FRAME)]
    # reserved flag bit
    c = coordinator.connect()
    c.send(frame(HELLO, b"", flags=0x80))
    assert [(f.kind, f["code"]) for f in c.expect_close()] == [(ERROR, MALFORMED_FRAME)]
    # unknown kind without IGNORABLE
    c = coordinator.connect()
    c.send(frame(0x0777, b""))
    assert [(f.kind, f["code"]) for f in c.expect_close()] == [(ERROR, UNKNOWN_FRAME_KIND)]
    # over 16 KiB before authentication, refused from the header alone
    c = coordinator.connect()
    c.send(u16(HELLO) + b"\x00" + u32(20_000))
    assert [(f.kind, f["code"]) for f in c.expect_close()] == [(ERROR, FRAME_TOO_LARGE)]
    assert coordinator.get("/v1/gateways") == before


def test_malformed_frame_from_gateway_changes_nothing(coordinator):
    gw = coordinator.gateway("gw-m")
    gw.send(interest_snapshot(1, 0, ["a/#"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-m")["interest_filters"] == 1, "interest of gw-m")
    other = coordinator.gateway("gw-o")
    assert other.remote["filters"] == ["a/#"]
    # an interest snapshot with an invalid filter ("a/#/b"): the whole frame is refused
    bad = struct.pack(">QQB", 2, 0, 1) + u16(1) + u16(5) + b"a/#/b"
    gw.send(frame(INTEREST_SNAPSHOT, bad))
    frames = gw.c.expect_close()
    assert frames and frames[-1].kind == ERROR and frames[-1]["code"] == MALFORMED_FRAME
    assert frames[-1]["related"] == INTEREST_SNAPSHOT
    # the gateway is gone (its connection closed); nothing of the bad frame was applied
    coordinator.wait_for(lambda: coordinator.gateways()["gw-m"]["state"] == "down", "gw-m down")
    delta = other.recv(REMOTE_INTEREST)
    assert delta["form"] == "delta" and delta["added"] == [] and delta["removed"] == ["a/#"]
    assert coordinator.get("/v1/interest?topic=a/b")["gateways"] == []


def test_unsupported_version(coordinator):
    c = coordinator.connect()
    c.send(hello("gw-v", TOKEN, min_version=2, max_version=3))
    frames = c.expect_close()
    assert [(f.kind, f["code"]) for f in frames] == [(ERROR, UNSUPPORTED_VERSION)]
    assert "1" in frames[0]["message"]


def test_second_hello_on_same_connection_is_unexpected(coordinator):
    gw = coordinator.gateway("gw-twice")
    gw.send(hello("gw-twice", TOKEN))
    frames = gw.c.expect_close()
    assert frames[-1].kind == ERROR and frames[-1]["code"] == UNEXPECTED_FRAME


def test_new_session_replaces_a_silent_old_one(coordinator_factory):
    """A session silent for two heartbeat intervals (its agent restarted, its path died) is
    replaced by a new HELLO; a live one is not (test_coordinator_identity.py)."""
    coordinator = coordinator_factory(gateway_timeout=3.0)  # heartbeat interval 1 s
    first = coordinator.gateway("gw-r")
    time.sleep(2.3)
    second = coordinator.gateway("gw-r")
    assert second.ack["session_epoch"] > first.ack["session_epoch"]
    frames = first.c.expect_close()
    assert frames[-1].kind == ERROR and frames[-1]["code"] == SESSION_REPLACED
    g = coordinator.get("/v1/gateways/gw-r")
    assert g["state"] == "active" and g["session_epoch"] == second.ack["session_epoch"]
    # the new session works
    second.send(heartbeat(1))
    second.send(interest_snapshot(1, 0, ["x"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-r")["interest_filters"] == 1, "interest")


def test_ignorable_unknown_frame_is_skipped(coordinator):
    gw = coordinator.gateway("gw-i")
    gw.send(frame(0xF00D, b"whatever", flags=0x01))
    gw.send(interest_snapshot(1, 0, ["t/1"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-i")["interest_filters"] == 1, "interest after skip")


def test_sigterm_sends_shutting_down_and_exits_0(coordinator_factory):
    coord = coordinator_factory()
    gw = coord.gateway("gw-s")
    waiting = coord.connect()  # not yet authenticated: gets the one ERROR too
    coord.proc.send_signal(signal.SIGTERM)
    frames = gw.c.expect_close(timeout=5)
    assert frames and frames[-1].kind == ERROR and frames[-1]["code"] == SHUTTING_DOWN
    frames = waiting.expect_close(timeout=5)
    assert [(f.kind, f["code"]) for f in frames] == [(ERROR, SHUTTING_DOWN)]
    assert coord.proc.wait(5) == 0


def test_forward_from_unauthenticated_peer_routes_nothing(coordinator):
    sub = coordinator.gateway("gw-sub")
    sub.send(interest_snapshot(1, 0, ["#"]))
    c = coordinator.connect()
    from fleetframes import forward
    c.send(forward("gw-x", 1, "t", b"p"))
    frames = c.expect_close()
    assert [(f.kind, f["code"], f["related"]) for f in frames] == [(ERROR, UNEXPECTED_FRAME, FORWARD)]
    sub.c.expect_silence(0.3)
