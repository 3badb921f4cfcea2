"""Forwarded messages and a congested local subscriber: the receiving agent stops reading its
coordinator link (as it stops reading a device publisher), so the backlog waits upstream (the
coordinator holds the origin, the origin's durable log keeps it) instead of overflowing the
subscriber's queue and being dropped."""

from __future__ import annotations

import threading
import time

import pytest

import mqttraw as m
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import uid, wait_until

pytestmark = pytest.mark.fleetgate_only

N = 600


def test_forwards_to_a_briefly_stalled_subscriber_wait_upstream_instead_of_dropping(fleet_factory):
    """gw-2's sessions queue at most 50 messages. A raw QoS 1 subscriber there reads nothing for
    1 s (well under slow_consumer_ms, 2 s) while gw-1 publishes 600 QoS 1 messages: 100 in flight
    plus 50 queued would hold, the rest was dropped before links paused; now all 600 arrive."""
    fleet = fleet_factory(2, agent_cfg={"max_queued_messages": 50})
    gw2 = fleet.gws["gw-2"]
    topic = f"{uid('bp')}/x"
    sub = m.RawClient(gw2.agent.port, host=gw2.agent.host, timeout=10)
    try:
        sub.connect(uid("stalled"))
        sub.subscribe([(topic, 1)])
        fleet.wait_interest(topic, {"gw-2"}, origin="gw-1")
        # The broker's drop counter (the fleet's SysReader sees only $SYS/broker/fabric/#).
        mon = fleet.client("gw-2")
        mon.connect()
        mon.subscribe("$SYS/broker/publish/messages/dropped")
        mon.wait_messages(1)

        def fresh_dropped() -> int:
            n = len(mon.messages)
            wait_until(lambda: len(mon.messages) >= n + 2, 5, what="two fresh samples of messages/dropped")
            return int(mon.messages[-1].payload)

        dropped_before = fresh_dropped()
        pub = fleet.client("gw-1")
        pub.connect()
        publisher = threading.Thread(target=lambda: [pub.publish(topic, str(i).encode(), qos=1) for i in range(N)])
        publisher.start()
        time.sleep(1.0)  # the stall: nothing read, nothing acknowledged
        got: set[int] = set()
        deadline = time.monotonic() + 30
        while len(got) < N and time.monotonic() < deadline:
            try:
                p = sub.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if p.type == m.PUBLISH:
                got.add(int(p.payload))
                if p.qos == 1:
                    sub.send(m.puback(p.mid))
        publisher.join(timeout=30)
        missing = sorted(set(range(N)) - got)
        assert not missing, f"{len(missing)} of {N} never arrived (first: {missing[:10]})"
        dropped = fresh_dropped()
        assert dropped == dropped_before, f"gw-2 dropped {dropped - dropped_before} message(s)"
        assert gw2.sys.wait_fresh("link/paused_for_subscribers") > 0
    finally:
        sub.close()
