"""Issue #11, gateway identity: per-gateway HELLO tokens (`--gateway-tokens`), a live session is
not displaced by a second HELLO, and closed registration (`--allow-new-gateways` opens it). Fake
gateways speak the protocol through fleetframes.py (written from Protocol/agent-coordinator.md)."""
from __future__ import annotations

import time

from coordinators import TOKEN, Coordinator, coordinator_factory  # noqa: F401 (fixture)
from fleetframes import (DELIVERY_ACK, ERROR, FORWARD, GATEWAY_ID_IN_USE, HEARTBEAT, NOT_AUTHORIZED,
                         REMOTE_INTEREST, delivery_ack, forward, heartbeat, hello, interest_snapshot)

GW1_TOKEN = b"gw-1-own-token-7c2f9e4d1a"


def tokens_file(tmp_path, lines: str):
    p = tmp_path / "gateway-tokens"
    p.write_text(lines)
    return p


def refused(coordinator, gateway_id: str, token: bytes) -> list:
    c = coordinator.connect()
    c.send(hello(gateway_id, token))
    return [(f.kind, f["code"]) for f in c.expect_close()]


def test_a_listed_gateway_is_admitted_only_with_its_own_token(coordinator_factory, tmp_path):
    """An impostor holding the shared token cannot say HELLO as gw-1 once gw-1 has its own token;
    gw-1 with its token gets in; an unlisted gateway still uses the shared token."""
    path = tokens_file(tmp_path, f"# id token\ngw-1 {GW1_TOKEN.decode()}\n")
    coordinator = coordinator_factory(extra_args=["--gateway-tokens", str(path)])
    assert refused(coordinator, "gw-1", TOKEN) == [(ERROR, NOT_AUTHORIZED)]
    gw1 = coordinator.gateway("gw-1", token=GW1_TOKEN)
    assert gw1.ack["session_epoch"] >= 1
    other = coordinator.gateway("gw-2")  # shared token, not listed
    assert coordinator.gateways()["gw-2"]["connected"]
    assert refused(coordinator, "gw-2", GW1_TOKEN) == [(ERROR, NOT_AUTHORIZED)]
    other.close()
    gw1.close()


def test_a_live_gateway_is_not_displaced_and_keeps_its_traffic(coordinator_factory, tmp_path):
    """With the right credential, a second HELLO for a live gw-1 is refused (gatewayIdInUse) and
    gw-1 keeps receiving what is routed to it."""
    path = tokens_file(tmp_path, f"gw-1 {GW1_TOKEN.decode()}\n")
    coordinator = coordinator_factory(gateway_timeout=3.0, extra_args=["--gateway-tokens", str(path)])
    gw1 = coordinator.gateway("gw-1", token=GW1_TOKEN)
    gw1.send(interest_snapshot(1, 0, ["to/gw1"]))
    origin = coordinator.gateway("gw-o")
    coordinator.wait_for(lambda: coordinator.gateways()["gw-1"]["interest_filters"] == 1, "gw-1 interest")
    for attempt in range(3):
        gw1.send(heartbeat(attempt + 1))  # alive
        assert refused(coordinator, "gw-1", GW1_TOKEN) == [(ERROR, GATEWAY_ID_IN_USE)]
        time.sleep(0.3)
    gw1.send(heartbeat(9))
    origin.send(forward("gw-o", 1, "to/gw1", b"still mine", qos=1))
    f = gw1.c.recv_kind(FORWARD, skip=(HEARTBEAT, REMOTE_INTEREST))
    assert (f["seq"], f["payload"]) == (1, b"still mine")
    gw1.send(delivery_ack("gw-o", 1))
    assert origin.c.recv_kind(DELIVERY_ACK, skip=(HEARTBEAT, REMOTE_INTEREST))["up_to"] == 1
    m = coordinator.get("/metrics")
    assert "fleetgate_coordinator_hellos_refused_in_use_total 3" in m


def test_registration_is_closed_unless_allowed(coordinator_factory, tmp_path):
    """Without --allow-new-gateways an unknown id is refused (and not registered); one listed in
    gateway_tokens is admitted."""
    path = tokens_file(tmp_path, f"gw-listed {GW1_TOKEN.decode()}\n")
    closed = coordinator_factory(allow_new_gateways=False, extra_args=["--gateway-tokens", str(path)])
    assert refused(closed, "gw-stranger", TOKEN) == [(ERROR, NOT_AUTHORIZED)]
    assert "gw-stranger" not in closed.gateways()
    closed.gateway("gw-listed", token=GW1_TOKEN).close()
    assert "gw-listed" in closed.gateways()


def test_a_gateway_registered_earlier_comes_back_with_registration_closed(tmp_path):
    """The registry survives a restart: with registration closed afterwards its gateways are
    still admitted, strangers are not."""
    first = Coordinator(tmp_path / "co").start()
    try:
        first.gateway("gw-a").close()
    finally:
        assert first.stop() == 0
    again = Coordinator(tmp_path / "co", allow_new_gateways=False).start()
    try:
        gw = again.gateway("gw-a")
        assert again.gateways()["gw-a"]["connected"]
        gw.close()
        assert refused(again, "gw-b", TOKEN) == [(ERROR, NOT_AUTHORIZED)]
    finally:
        assert again.stop() == 0


def test_a_bad_gateway_tokens_file_stops_the_coordinator_naming_file_and_line(tmp_path):
    """A malformed --gateway-tokens file is a config error at start (exit 78) that names the file
    and line; the coordinator's stored graph is not touched."""
    import subprocess
    from coordinators import BINARY
    token = tmp_path / "token"
    token.write_bytes(TOKEN)
    path = tokens_file(tmp_path, f"gw-1 {GW1_TOKEN.decode()}\ngw-2 short\n")
    r = subprocess.run([str(BINARY), "--token-file", str(token), "--gateway-tokens", str(path),
                        "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78, r
    assert str(path) in r.stderr and ":2" in r.stderr and "shorter than 16 bytes" in r.stderr, r.stderr
