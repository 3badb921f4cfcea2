"""The writer rule (Protocol/agent-coordinator.md §8) seen from outside: a gateway that stops reading gets its
bounded bulk queue filled (QoS 0 overflow dropped and counted), and a control frame queued behind
megabytes of FORWARDs still overtakes them."""

from __future__ import annotations

import re

from coordinators import coordinator, coordinator_factory  # noqa: F401 (fixtures)
from fleetframes import FORWARD, HEARTBEAT, REMOTE_INTEREST, forward, interest_snapshot

PAYLOAD = 256 * 1024
COUNT = 200  # 50 MiB: more than the 32 MiB bulk queue plus the kernel's socket buffers


def dropped(coord) -> float:
    m = re.search(r'^fleetgate_coordinator_forwards_dropped_total\{reason="queue_full"\} (\S+)$',
                  coord.get("/metrics"), re.M)
    return float(m.group(1))


def test_control_overtakes_queued_bulk_and_overflow_is_counted(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    b.send(interest_snapshot(1, 0, ["bulk/#"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-b")["interest_filters"] == 1, "interest")
    a.c.expect_silence(0.1, skip=(REMOTE_INTEREST,))
    body = bytes(PAYLOAD)
    for seq in range(1, COUNT + 1):
        a.send(forward("gw-a", seq, "bulk/x", body, qos=0))
    # b reads nothing meanwhile: its queue fills and the rest is dropped (bounded wait)
    coordinator.wait_for(lambda: dropped(coordinator) > 0, "queue_full drops", timeout=20)
    # a control frame for b: a third gateway's interest enters b's remote union
    c = coordinator.gateway("gw-c")
    c.send(interest_snapshot(1, 0, ["from/c"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-c")["interest_filters"] == 1, "c interest")
    # now b reads: the REMOTE_INTEREST arrives while FORWARDs are still queued behind it
    before, after, control = [], [], None
    while True:
        try:
            f = b.c.recv(timeout=2.0)
        except TimeoutError:
            break
        if f.kind == HEARTBEAT:
            continue
        if f.kind == REMOTE_INTEREST:
            control = f
            continue
        assert f.kind == FORWARD
        (after if control else before).append(f["seq"])
    print(f"forwards before control: {len(before)}, after: {len(after)}, dropped: {dropped(coordinator)}")
    assert control is not None and control["added"] == ["from/c"]
    assert after, f"control came after all {len(before)} forwards: it waited behind bulk"
    seqs = before + after
    assert seqs == sorted(seqs), "forwards of one origin stay in order"
    assert len(seqs) + dropped(coordinator) == COUNT
    assert b.c.closed is False  # QoS 0 overflow does not cost the connection
