"""Interest, REMOTE_INTEREST, FORWARD routing and delivery confirmation between fake gateways
speaking the protocol through the real coordinator."""

from __future__ import annotations

from coordinators import coordinator, coordinator_factory  # noqa: F401 (fixtures)
from fleetframes import (DELIVERY_ACK, ERROR, FORWARD, HEARTBEAT, INTEREST_OUT_OF_SYNC, REMOTE_INTEREST, delivery_ack,
                         forward, interest_delta, interest_snapshot)


def settle(*gateways):
    """Drains the REMOTE_INTEREST deltas the interest set-up caused (bounded: 0.1 s of silence)."""
    for g in gateways:
        g.c.expect_silence(0.1, skip=(REMOTE_INTEREST,))


def wait_interest(coord, gid, n):
    coord.wait_for(lambda: coord.get(f"/v1/gateways/{gid}")["interest_filters"] == n, f"{gid} has {n} filters")


def test_snapshot_and_delta_reach_the_others_as_remote_interest(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    # a's snapshot in two parts: b sees one delta when the LAST part arrives
    a.send(interest_snapshot(1, 0, ["sensors/+/temp"], last=False))
    a.send(interest_snapshot(1, 1, ["alerts/#"], last=True))
    d = b.recv(REMOTE_INTEREST)
    assert d["form"] == "delta" and d["epoch"] == 1 and d["seq"] == 1
    assert sorted(d["added"]) == ["alerts/#", "sensors/+/temp"] and d["removed"] == []
    # a's own union does not contain its filters: a gets nothing
    a.c.expect_silence(0.2)
    # delta: add one, remove one
    a.send(interest_delta(1, 2, added=["cmd/a"], removed=["alerts/#"]))
    d = b.recv(REMOTE_INTEREST)
    assert d["seq"] == 2 and d["added"] == ["cmd/a"] and d["removed"] == ["alerts/#"]
    # b subscribes to something a already has: nothing changes for b; a learns it
    b.send(interest_snapshot(1, 0, ["cmd/a", "b/only"]))
    d = a.recv(REMOTE_INTEREST)
    assert d["form"] == "delta" and sorted(d["added"]) == ["b/only", "cmd/a"]
    b.c.expect_silence(0.2)
    # a third gateway gets the union of both in its snapshot
    c = coordinator.gateway("gw-c")
    assert c.remote["filters"] == sorted(["sensors/+/temp", "cmd/a", "b/only"])
    # interest API
    body = coordinator.get("/v1/interest?topic=sensors/k1/temp")
    assert body == {"topic": "sensors/k1/temp", "gateways": [{"gateway": "gw-a", "filters": ["sensors/+/temp"]}]}
    body = coordinator.get("/v1/interest?topic=cmd/a")
    assert [g["gateway"] for g in body["gateways"]] == ["gw-a", "gw-b"]


def test_resnapshot_replaces_wholesale_and_union_leaves_when_last_holder_goes(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    a.send(interest_snapshot(1, 0, ["x", "y"]))
    assert sorted(b.recv(REMOTE_INTEREST)["added"]) == ["x", "y"]
    a.send(interest_snapshot(2, 0, ["y", "z"]))
    d = b.recv(REMOTE_INTEREST)
    assert d["added"] == ["z"] and d["removed"] == ["x"]
    a.close()
    d = b.recv(REMOTE_INTEREST)
    assert d["added"] == [] and sorted(d["removed"]) == ["y", "z"]


def test_delta_out_of_sequence_is_out_of_sync_then_resnapshot_recovers(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    a.send(interest_snapshot(1, 0, ["x"]))
    b.recv(REMOTE_INTEREST)
    a.send(interest_delta(1, 5, added=["lost"]))
    e = a.recv(ERROR)
    assert e["code"] == INTEREST_OUT_OF_SYNC
    # not fatal: the connection stays; the delta was not applied
    a.send(interest_delta(1, 6, added=["also-dropped"]))  # same epoch after the break: dropped
    a.send(interest_snapshot(2, 0, ["x", "new"]))
    d = b.recv(REMOTE_INTEREST)
    assert d["added"] == ["new"] and d["removed"] == []
    wait_interest(coordinator, "gw-a", 2)


def test_delta_before_snapshot_is_out_of_sync(coordinator):
    a = coordinator.gateway("gw-a")
    a.send(interest_delta(1, 0, added=["x"]))
    assert a.recv(ERROR)["code"] == INTEREST_OUT_OF_SYNC


def test_forward_goes_only_to_matching_gateways_never_back(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    c = coordinator.gateway("gw-c")
    a.send(interest_snapshot(1, 0, ["t/#"]))  # the origin's own interest must not bring it back
    b.send(interest_snapshot(1, 0, ["t/+", "t/#"]))  # two matching filters: still one copy
    c.send(interest_snapshot(1, 0, ["other/#"]))
    for g, n in (("gw-a", 1), ("gw-b", 2), ("gw-c", 1)):
        wait_interest(coordinator, g, n)
    settle(a, b, c)
    a.send(forward("gw-a", 1, "t/x", b"hello", qos=0))
    f = b.recv(FORWARD)
    assert (f["origin"], f["seq"], f["topic"], f["payload"], f["qos"], f["retain"]) == ("gw-a", 1, "t/x", b"hello", 0, False)
    b.c.expect_silence(0.3)
    a.c.expect_silence(0.3)
    c.c.expect_silence(0.3)


def test_retained_forward_goes_to_every_other_gateway(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    c = coordinator.gateway("gw-c")
    b.send(interest_snapshot(1, 0, ["nothing/matches"]))
    wait_interest(coordinator, "gw-b", 1)
    settle(a, b, c)
    a.send(forward("gw-a", 7, "state/door", b"open", qos=1, retain=True))
    for g in (b, c):
        f = g.recv(FORWARD)
        assert (f["origin"], f["seq"], f["retain"], f["payload"]) == ("gw-a", 7, True, b"open")
    a.c.expect_silence(0.2, skip=(REMOTE_INTEREST,))  # no ack until both destinations confirmed
    b.send(delivery_ack("gw-a", 7))
    a.c.expect_silence(0.2, skip=(REMOTE_INTEREST,))
    c.send(delivery_ack("gw-a", 7))
    ack = a.recv(DELIVERY_ACK)
    assert (ack["origin"], ack["up_to"], ack["selective"]) == ("gw-a", 7, [])


def test_delivery_ack_relayed_to_origin_after_every_destination(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    c = coordinator.gateway("gw-c")
    b.send(interest_snapshot(1, 0, ["m/#"]))
    c.send(interest_snapshot(1, 0, ["m/c"]))
    wait_interest(coordinator, "gw-b", 1)
    wait_interest(coordinator, "gw-c", 1)
    settle(a, b, c)
    a.send(forward("gw-a", 1, "m/c", b"1", qos=1))   # to b and c
    a.send(forward("gw-a", 2, "m/b", b"2", qos=1))   # to b only
    a.send(forward("gw-a", 3, "zzz", b"3", qos=1))   # to nobody: confirmed at once (after 1, 2)
    assert [b.recv(FORWARD)["seq"] for _ in range(2)] == [1, 2]
    assert c.recv(FORWARD)["seq"] == 1
    ack = a.recv(DELIVERY_ACK)  # 3 had no destination: confirmed at once, above unconfirmed 1 and 2
    assert (ack["up_to"], ack["selective"]) == (0, [3])
    b.send(delivery_ack("gw-a", 2))
    # 1 still waits for c; 2 is newly confirmed (3 was told already: each once, Protocol/agent-coordinator.md §5.10)
    ack = a.recv(DELIVERY_ACK)
    assert (ack["up_to"], ack["selective"]) == (0, [2])
    c.send(delivery_ack("gw-a", 1))
    ack = a.recv(DELIVERY_ACK)
    assert (ack["up_to"], ack["selective"]) == (3, [])


def test_qos1_forward_without_destination_is_confirmed_at_once(coordinator):
    a = coordinator.gateway("gw-a")
    a.send(forward("gw-a", 41, "nobody/wants/this", b"x", qos=1))
    ack = a.recv(DELIVERY_ACK)
    assert (ack["origin"], ack["up_to"]) == ("gw-a", 41)
    metrics = coordinator.get("/metrics")
    assert "fleetgate_coordinator_forwards_unrouted_total 1" in metrics


def test_destination_going_down_releases_pending_confirmation(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    b.send(interest_snapshot(1, 0, ["k"]))
    wait_interest(coordinator, "gw-b", 1)
    settle(a, b)
    a.send(forward("gw-a", 9, "k", b"v", qos=2))
    assert b.recv(FORWARD)["seq"] == 9
    a.c.expect_silence(0.2, skip=(REMOTE_INTEREST,))
    b.close()  # never acknowledged
    ack = a.c.recv_kind(DELIVERY_ACK, skip=(HEARTBEAT, REMOTE_INTEREST))
    assert ack["up_to"] == 9


def test_forward_with_foreign_origin_is_rejected(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    b.send(interest_snapshot(1, 0, ["#"]))
    wait_interest(coordinator, "gw-b", 1)
    settle(a, b)
    a.send(forward("gw-b", 1, "t", b"spoofed", qos=0))
    e = a.recv(ERROR)
    assert e["code"] == 0x0202 and e["related"] == FORWARD
    b.c.expect_silence(0.3)
