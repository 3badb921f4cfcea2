"""Issue #4 acceptance, cross-gateway publish (DESIGN.md §3): one coordinator and three agents,
real paho-mqtt clients. Exactly once per remote subscriber, wildcards, the QoS matrix, retained
across gateways, no frame to a gateway without interest, and publish order."""

from __future__ import annotations

import time

import pytest

from fabric import fleet, fleet_factory  # noqa: F401 (fixtures)
from support import uid, wait_until

pytestmark = pytest.mark.fleetgate_only


def test_fleet_comes_up(fleet):
    gws = fleet.coordinator.gateways()
    assert {g for g, v in gws.items() if v["connected"]} == {"gw-1", "gw-2", "gw-3"}
    for gid in fleet.gws:
        assert fleet.gws[gid].sys.wait_value("link/connected", lambda v: v == 1, what="== 1") == 1
    print(f"fleet mode: {fleet.mode} ({fleet.mode_reason})")


def test_wildcards_and_qos_matrix_exactly_once_on_every_remote_gateway(fleet):
    """Publisher on gw-1 (QoS 0/1/2) x subscribers on gw-2 and gw-3 (QoS 0/1/2, filters with + and
    #, two clients on gw-3 sharing one forwarded copy): each subscriber gets each message exactly
    once at min(pub, sub) QoS; nothing comes back to gw-1's own non-matching subscriber."""
    base = uid("mx")
    subs = []
    for sub_qos in (0, 1, 2):
        for gid, flt in (("gw-2", f"{base}/+/temp"), ("gw-3", f"{base}/#"), ("gw-3", f"{base}/+/+")):
            c = fleet.client(gid)
            c.connect()
            assert c.subscribe(flt, qos=sub_qos) == [sub_qos]
            subs.append((gid, flt, sub_qos, c))
    fleet.wait_interest(f"{base}/room1/temp", {"gw-2", "gw-3"}, origin="gw-1")
    pub = fleet.client("gw-1")
    pub.connect()
    sent = {}
    for pub_qos in (0, 1, 2):
        payload = f"{base}-q{pub_qos}".encode()
        pub.publish(f"{base}/room1/temp", payload, qos=pub_qos)
        sent[payload] = pub_qos
    for gid, flt, sub_qos, c in subs:
        msgs = c.wait_messages(3, timeout=10)
    time.sleep(0.5)  # let any duplicate arrive before counting (bounded; the waits above synchronise)
    problems = []
    for gid, flt, sub_qos, c in subs:
        got = [(m.payload, m.qos) for m in c.messages]
        want = sorted((p, min(q, sub_qos)) for p, q in sent.items())
        if sorted(got) != want:
            problems.append(f"{gid} {flt} subQoS{sub_qos}: got {got}, want {want}")
    assert not problems, "\n".join(problems)


def test_retained_published_on_gw1_reaches_later_subscriber_on_gw3(fleet):
    topic = f"{uid('ret')}/status"
    before = fleet.gws["gw-3"].sys.wait_fresh("forwards/received")
    pub = fleet.client("gw-1")
    pub.connect()
    pub.publish(topic, b"online", qos=1, retain=True)
    # a retained forward goes to every connected gateway (COORDINATOR.md, Routing)
    fleet.gws["gw-3"].sys.wait_value("forwards/received", lambda v: v > before, what=f"> {before}")
    late = fleet.client("gw-3")
    late.connect()
    late.subscribe(topic, qos=1)
    msgs = late.wait_messages(1, timeout=5)
    assert [(m.payload, m.retain, m.qos) for m in msgs] == [(b"online", True, 1)]
    # and via a wildcard subscription on gw-2
    late2 = fleet.client("gw-2")
    late2.connect()
    late2.subscribe(topic.split("/")[0] + "/#", qos=0)
    msgs = late2.wait_messages(1, timeout=5)
    assert [(m.topic, m.payload, m.retain) for m in msgs] == [(topic, b"online", True)]


def test_gateway_without_interest_receives_no_frame(fleet):
    """Only gw-2 subscribes: gw-2's forwards/received grows by the messages, gw-3's does not."""
    topic = f"{uid('only2')}/x"
    sub = fleet.client("gw-2")
    sub.connect()
    sub.subscribe(topic, qos=1)
    fleet.wait_interest(topic, {"gw-2"}, origin="gw-1")
    r2 = fleet.gws["gw-2"].sys.wait_fresh("forwards/received")
    r3 = fleet.gws["gw-3"].sys.wait_fresh("forwards/received")
    pub = fleet.client("gw-1")
    pub.connect()
    for i in range(20):
        pub.publish(topic, str(i).encode(), qos=i % 3)
    sub.wait_messages(20, timeout=10)
    fleet.gws["gw-2"].sys.wait_value("forwards/received", lambda v: v >= r2 + 20, what=f">= {r2 + 20}")
    # two fresh samples on gw-3 after gw-2 has counted all 20
    after3 = fleet.gws["gw-3"].sys.wait_fresh("forwards/received")
    assert after3 == r3, f"gw-3 (no interest) received {after3 - r3} forward(s)"
    assert fleet.gws["gw-2"].sys.value("forwards/received") == r2 + 20


@pytest.mark.parametrize("sub_qos", [1, 2])
def test_qos1_publish_order_is_kept_at_remote_subscribers(fleet, sub_qos):
    """500 QoS 1 messages from one publisher on gw-1 (paho in-flight window 20) arrive in publish
    order at subscribers on gw-2 and gw-3."""
    topic = f"{uid('order')}/seq"
    subs = []
    for gid in ("gw-2", "gw-3"):
        c = fleet.client(gid)
        c.connect()
        c.subscribe(topic, qos=sub_qos)
        subs.append(c)
    fleet.wait_interest(topic, {"gw-2", "gw-3"}, origin="gw-1")
    pub = fleet.client("gw-1")
    pub.c.max_inflight_messages_set(20)
    pub.connect()
    n = 500
    infos = [pub.c.publish(topic, str(i).encode(), qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(20)
        assert info.is_published()
    for c in subs:
        msgs = c.wait_messages(n, timeout=30)
        seqs = [int(m.payload) for m in msgs]
        assert seqs == list(range(n)), (
            f"{c.client_id}: out of order/missing/duplicated: first deviation at "
            f"{next((i for i, (a, b) in enumerate(zip(seqs, range(n))) if a != b), len(seqs))}, "
            f"len {len(seqs)}")


def test_load_report_shows_connections_rates_and_top_talkers(fleet):
    """Agents send LOAD_REPORT with every heartbeat (1 s in this fleet): GET /v1/gateways shows
    gw-3's device connections, non-zero rates while a client publishes there, and that client
    (not the silent one) among the top talkers, with its payload bytes."""
    talker = fleet.client("gw-3", client_id=uid("talker"))
    talker.connect()
    quiet = fleet.client("gw-3", client_id=uid("quiet"))
    quiet.connect()
    topic = f"{uid('load')}/x"
    seen = None
    deadline = time.monotonic() + 15
    while seen is None and time.monotonic() < deadline:
        for _ in range(50):
            talker.publish(topic, b"x" * 100)
        load = fleet.coordinator.gateways()["gw-3"].get("load")  # absent until the first report
        if load and any(t["client_id"] == talker.client_id for t in load["top_talkers"]):
            seen = load
        else:
            time.sleep(0.2)
    assert seen is not None, f"no LOAD_REPORT naming {talker.client_id} within 15 s: {load}"
    assert seen["connections"] >= 2, seen
    assert seen["messages_in_per_second"] > 0 and seen["bytes_in_per_second"] > 0, seen
    assert seen["timestamp_ms"] > 1_600_000_000_000, seen
    ids = [t["client_id"] for t in seen["top_talkers"]]
    assert quiet.client_id not in ids, ids
    mine = next(t for t in seen["top_talkers"] if t["client_id"] == talker.client_id)
    assert mine["messages_per_second"] > 0, mine
    assert mine["bytes_per_second"] >= 100 * mine["messages_per_second"], mine
    rates = [t["messages_per_second"] for t in seen["top_talkers"]]
    assert rates == sorted(rates, reverse=True), rates
