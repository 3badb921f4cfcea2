"""Issue #11 acceptance, durable cross-gateway delivery.

* Durable interest: the filters of persistent sessions (clean session false / session expiry > 0)
  subscribed at QoS >= 1 are kept by the coordinator per gateway. While that gateway is down or cut
  off, matching QoS >= 1 messages are still routed to it and held in the ORIGIN's forward log until
  it comes back and confirms; it then gets what it missed, in publisher order, exactly once.
* No timer-based recovery at the coordinator: a kill -9 and a restart 90 s later loses and
  duplicates nothing acknowledged, even for a gateway that comes back long after the restart.
* Retention bound per destination (coordinator `retention:` config): past it the oldest held
  forwards are dropped and counted (GET /v1/gateways/{id} `retention`, /metrics); the origin's
  publishers are never held by a gateway that is away.
* Retained QoS 0 published on a gateway while its link is cut reaches the fleet when it returns.

Real coordinator and agents (fabric.py: one network namespace per gateway when root, else a TCP
link proxy for the gateways that get cut), real paho-mqtt clients. Every wait is bounded."""

from __future__ import annotations

import time

import pytest

from fabric import fleet, fleet_factory  # noqa: F401 (fixtures)
from support import uid, wait_until

pytestmark = pytest.mark.fleetgate_only

# The coordinator's recovery window after a restart today (CoordinatorLimits.recoveryWindowMs).
RECOVERY_WINDOW_S = 30


# ----------------------------------------------------------------------------------------- helpers

def _ranges(xs) -> str:
    """'3-7, 12, 40-41' for the sorted numbers xs (first 20 ranges)."""
    out, start, prev = [], None, None
    for x in sorted(xs):
        if start is None:
            start = prev = x
        elif x == prev + 1:
            prev = x
        else:
            out.append((start, prev))
            start = prev = x
    if start is not None:
        out.append((start, prev))
    more = f" (+{len(out) - 20} more ranges)" if len(out) > 20 else ""
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out[:20]) + more


def delivery_problems(msgs, want: list[int], dup_flag_ok: bool = False) -> list[str]:
    """What is wrong with `msgs` (paho messages whose payload is a sequence number, one
    publisher) against the sequence `want`: missing numbers (as ranges), unexpected ones,
    duplicates and order. With dup_flag_ok a repeat carrying the MQTT DUP flag is allowed (a QoS 1
    redelivery of a message whose PUBACK the agent had not recorded); any other repeat is a
    duplicate. First occurrences must come in publisher order."""
    seen, dupes, flagged, out_of_order, last = set(), [], 0, [], None
    for msg in msgs:
        i = int(msg.payload)
        if i in seen:
            if dup_flag_ok and msg.dup:
                flagged += 1
            else:
                dupes.append(i)
            continue
        seen.add(i)
        if last is not None and i < last:
            out_of_order.append((last, i))
        last = i if last is None else max(last, i)
    problems = []
    missing = sorted(set(want) - seen)
    if missing:
        problems.append(f"{len(missing)} of {len(want)} missing: {_ranges(missing)}")
    extra = sorted(seen - set(want))
    if extra:
        problems.append(f"{len(extra)} not expected: {_ranges(extra)}")
    if dupes:
        problems.append(f"{len(dupes)} duplicates{' without the DUP flag' if dup_flag_ok else ''}: "
                        f"{_ranges(set(dupes))}")
    if out_of_order:
        problems.append(f"{len(out_of_order)} out of order, first (after, got): {out_of_order[:5]}")
    if flagged and problems:
        problems.append(f"({flagged} DUP-flagged redeliveries, allowed)")
    return problems


def wait_settled(count, target: int, quiet: float = 10.0, cap: float = 90.0) -> int:
    """Waits until count() >= target, or it has not moved for `quiet` seconds, or `cap` seconds
    passed; then 1 s more so a late duplicate shows. Returns the last count."""
    deadline = time.monotonic() + cap
    last, moved = count(), time.monotonic()
    while last < target and time.monotonic() < deadline and time.monotonic() - moved < quiet:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, moved = now, time.monotonic()
    time.sleep(1.0)
    return count()


class DurableSubscriber:
    """A persistent (clean session false) QoS 1 subscriber on one gateway. reconnect() comes back
    with the same client id (the session must be present) and keeps what earlier connections got."""

    def __init__(self, fleet, gid: str, topic: str, clean: bool = False):
        self.fleet, self.gid, self.topic, self.clean = fleet, gid, topic, clean
        self.client_id = uid(f"durable-{gid}")
        self.past: list = []
        self.c = None
        self._connect(first=True)

    def _connect(self, first: bool):
        self.c = self.fleet.client(self.gid, client_id=self.client_id, clean=self.clean)
        flags, _, _ = self.c.connect(timeout=10)
        if first:
            assert self.c.subscribe(self.topic, qos=1) == [1]
        else:
            assert flags.session_present, f"{self.client_id}: session not present on {self.gid} after reconnect"

    def drop(self):
        """Closes this connection (DISCONNECT if still up) and stops its network thread."""
        if self.c is not None:
            self.c.disconnect()
            with self.c.cond:
                self.past += self.c.messages
            self.c = None

    def reconnect(self):
        self.drop()
        self._connect(first=False)

    def messages(self) -> list:
        if self.c is None:
            return list(self.past)
        with self.c.cond:
            return self.past + list(self.c.messages)

    def distinct(self) -> int:
        return len({m.payload for m in self.messages()})


class Publisher:
    """A paho QoS 1 publisher on one gateway with a large in-flight window (as fast as it can);
    counts PUBACKs."""

    def __init__(self, fleet, gid: str, inflight: int = 1000):
        self.p = fleet.client(gid, client_id=uid(f"pub-{gid}"))
        self.p.c.max_inflight_messages_set(inflight)
        self.p.c.max_queued_messages_set(0)
        self.p.c.on_publish = self._on_publish
        self.acked = self.sent = 0
        self.p.connect()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.acked += 1  # network thread only

    def publish(self, topic: str, payload: bytes):
        self.p.c.publish(topic, payload, qos=1)
        self.sent += 1

    def wait_acked(self, timeout: float, what: str = ""):
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise AssertionError(f"publisher held: {self.acked} of {self.sent} PUBACKs after "
                                     f"{timeout}s {what}")
            time.sleep(0.01)


class Stream:
    """Sequence numbers 0, 1, ... on one topic; to(end) publishes up to `end` and waits (bounded)
    for every PUBACK, so a disruption happens at a known count on the publisher side."""

    def __init__(self, pub: Publisher, topic: str):
        self.pub, self.topic, self.next = pub, topic, 0

    def to(self, end: int, timeout: float = 60.0):
        while self.next < end:
            self.pub.publish(self.topic, str(self.next).encode())
            self.next += 1
        self.pub.wait_acked(timeout, f"(stream at {end})")


def coordinator_metric(fleet, name: str, gid: str) -> float | None:
    for k, v in fleet.coordinator.metrics().items():
        if k.split("{", 1)[0] == name and f'gateway="{gid}"' in k:
            return v
    return None


def retention(fleet, gid: str) -> dict:
    body = fleet.coordinator.gateway_info(gid)
    assert isinstance(body.get("retention"), dict), f"GET /v1/gateways/{gid} has no retention object: {body}"
    return body["retention"]


def diagnostics(fleet, gids=("gw-1", "gw-3")) -> str:
    """Agent forward counters ($SYS) and the coordinator's forward/retention metrics, for failure
    messages."""
    agents = {g: {k: fleet.metric(g, k) for k in ("forwards/sent", "forwards/resent", "forwards/unconfirmed",
                                                   "forwards/received", "forwards/duplicates")}
              for g in gids}
    try:
        co = {k: v for k, v in fleet.coordinator.metrics().items()
              if any(w in k for w in ("forwards_", "retention", "pending"))}
    except (OSError, AssertionError) as e:
        co = f"unavailable ({e})"
    return f"agents: {agents}\ncoordinator: {co}"


# ----------------------------------------------------------------------------------------- tests

@pytest.mark.slow
@pytest.mark.timeout(360)
def test_persistent_subscriber_on_gw3_gets_20000_qos1_exactly_once_through_kill9_and_link_cuts(fleet_factory):
    """Durable interest end to end under faults: while gw-1 publishes 20,000 QoS 1 messages as fast
    as it can, gw-3's agent is killed with -9 at 25 % (restarted 10 s later on its data dir) and
    gw-3's link is cut and restored 5 times between 50 % and 75 % (part of each cut published before
    the coordinator notices, part after). The persistent subscriber on gw-3 reconnects after every
    disruption and in the end has every message once, in order (a DUP-flagged QoS 1 redelivery
    after its own connection broke is allowed; any other repeat is not)."""
    n = 20_000
    # the subscriber's session queue must hold every message (limits.max_queued_messages)
    fleet = fleet_factory(3, proxied=("gw-3",), agent_cfg={"max_queued_messages": 50_000})
    topic = f"{uid('durable20k')}/seq"
    sub = DurableSubscriber(fleet, "gw-3", topic)
    fleet.wait_interest(topic, {"gw-3"}, origin="gw-1")
    stream = Stream(Publisher(fleet, "gw-1"), topic)
    gw3 = fleet.gws["gw-3"]
    events = []

    def note(what: str):
        events.append(f"{what} at {stream.next} published, {sub.distinct()} received")

    stream.to(n // 4)
    fleet.stop_agent("gw-3", kill9=True)
    killed = time.monotonic()
    sub.drop()
    note("gw-3 kill -9")
    stream.to(3 * n // 8)                       # while gw-3 is dead
    time.sleep(max(0.0, killed + 10 - time.monotonic()))
    fleet.start_agent("gw-3")
    sub.reconnect()
    note("gw-3 restarted")
    stream.to(n // 2)
    for k in range(5):
        base = n // 2 + k * n // 20
        fleet.cut("gw-3")
        note(f"cut {k + 1}")
        stream.to(base + n // 80)               # into the cut link, before anyone notices
        fleet.wait_down("gw-3")
        gw3.sys.wait_value("link/connected", lambda v: v == 0, timeout=15, what="== 0")
        stream.to(base + n // 40)               # gw-3 known to be away
        fleet.restore("gw-3")
        fleet.wait_connected(["gw-3"], timeout=20)
        sub.reconnect()
        note(f"restore {k + 1}")
        stream.to(base + n // 20)
    stream.to(n)
    note("stream done")

    wait_settled(sub.distinct, n, quiet=15, cap=120)
    problems = delivery_problems(sub.messages(), list(range(n)), dup_flag_ok=True)
    assert not problems, ("gw-3's persistent subscriber: " + "; ".join(problems) +
                          "\nevents: " + "; ".join(events) + "\n" + diagnostics(fleet))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("gw3_late", [False, True], ids=["all-back-at-once", "gw3-back-40s-after-restart"])
def test_coordinator_kill9_restarted_after_90s_loses_and_duplicates_nothing(fleet_factory, gw3_late):
    """No timer-based recovery at the coordinator: gw-1 streams 3,000 QoS 1 messages to a
    persistent subscriber on gw-3; the coordinator is killed with -9 halfway and started again
    90 s later on the same ports and data dir. Every message gw-1 acknowledged reaches the
    subscriber exactly once, in order. In the gw3-back-40s-after-restart case gw-3's link is also
    cut for the coordinator's whole absence and for 40 s after it is back (longer than any recovery
    window), so gw-3 must be waited for because of its durable interest, not a timer."""
    n = 3_000
    fleet = fleet_factory(3, proxied=("gw-3",))
    co = fleet.coordinator
    topic = f"{uid('k9-90s')}/seq"
    sub = DurableSubscriber(fleet, "gw-3", topic)
    fleet.wait_interest(topic, {"gw-3"}, origin="gw-1")
    stream = Stream(Publisher(fleet, "gw-1"), topic)
    stream.to(n // 2)
    ports = (co.link_port, co.http_port)
    co.kill9()
    killed = time.monotonic()
    at_kill = sub.distinct()
    if gw3_late:
        fleet.cut("gw-3")
    stream.to(n)                                # acknowledged by gw-1 with the coordinator dead
    time.sleep(max(0.0, killed + 90 - time.monotonic()))
    co.start()
    assert (co.link_port, co.http_port) == ports, "coordinator came back on other ports"
    if gw3_late:
        fleet.wait_connected(["gw-1", "gw-2"], timeout=20)
        time.sleep(RECOVERY_WINDOW_S + 10)
        fleet.restore("gw-3")
    fleet.wait_connected(timeout=20)
    wait_settled(sub.distinct, n, quiet=15, cap=60)
    problems = delivery_problems(sub.messages(), list(range(n)))
    assert not problems, (f"gw-3's persistent subscriber (had {at_kill} at the kill): " + "; ".join(problems) +
                          "\n" + diagnostics(fleet))


@pytest.mark.timeout(180)
def test_destination_down_longer_than_retention_is_counted_and_does_not_hold_the_origin(fleet_factory):
    """Retention bound (coordinator `retention.max_messages: 500`): with gw-3 stopped, gw-1
    publishes 2,000 QoS 1 messages to gw-3's persistent subscriber, interleaved with 2,000 to a
    subscriber on gw-2. The oldest forwards for gw-3 are dropped and counted (API and /metrics,
    dropped >= 1,500, held <= 500), gw-1's publisher gets every PUBACK within a bounded time and
    gw-2 gets its stream whole. When gw-3 comes back its subscriber gets exactly the newest held
    messages, in order, once."""
    n, bound = 2_000, 500
    fleet = fleet_factory(3, coordinator_yaml=f"retention:\n  max_messages: {bound}\n")
    base = uid("retention")
    sub3 = DurableSubscriber(fleet, "gw-3", f"{base}/gw3")
    sub2 = DurableSubscriber(fleet, "gw-2", f"{base}/gw2")
    fleet.wait_interest(f"{base}/gw3", {"gw-3"}, origin="gw-1")
    fleet.wait_interest(f"{base}/gw2", {"gw-2"}, origin="gw-1")
    fleet.stop_agent("gw-3")
    sub3.drop()

    pub = Publisher(fleet, "gw-1", inflight=100)
    t0 = time.monotonic()
    for i in range(n):
        pub.publish(f"{base}/gw3", str(i).encode())
        pub.publish(f"{base}/gw2", str(i).encode())
    pub.wait_acked(30, "(gw-1's publisher held while gw-3 is away)")
    elapsed = time.monotonic() - t0
    sub2.c.wait_messages(n, timeout=30)
    time.sleep(0.5)
    problems = delivery_problems(sub2.messages(), list(range(n)))
    assert not problems, "gw-2's subscriber: " + "; ".join(problems) + "\n" + diagnostics(fleet, ("gw-1", "gw-2"))

    try:
        wait_until(lambda: retention(fleet, "gw-3")["dropped_messages"] >= n - bound, 20, interval=0.2,
                   what=f"gw-3 dropped_messages >= {n - bound}")
    finally:
        print(f"gw-1's {2 * n} PUBACKs took {elapsed:.1f}s; gw-3: {fleet.coordinator.gateway_info('gw-3')}")
    r = retention(fleet, "gw-3")
    assert r["held_messages"] <= bound and r["held_messages"] + r["dropped_messages"] == n, r
    assert r["held_bytes"] > 0 and r["dropped_bytes"] > 0, r
    dropped_metric = coordinator_metric(fleet, "fleetgate_coordinator_retention_dropped_messages_total", "gw-3")
    held_metric = coordinator_metric(fleet, "fleetgate_coordinator_retention_held_messages", "gw-3")
    assert dropped_metric is not None and dropped_metric >= n - bound, f"dropped metric {dropped_metric}, API {r}"
    assert held_metric == r["held_messages"], f"held metric {held_metric}, API {r}"
    gw2 = retention(fleet, "gw-2")
    assert gw2["dropped_messages"] == 0 and gw2["held_messages"] == 0, f"gw-2 (connected): {gw2}"

    held = r["held_messages"]
    fleet.start_agent("gw-3")
    sub3.reconnect()
    wait_settled(sub3.distinct, held, quiet=10, cap=30)
    newest = list(range(n - held, n))
    got = [int(m.payload) for m in sub3.messages()]
    assert got == newest, (f"gw-3's subscriber got {len(got)} (first {got[:5]}, last {got[-5:]}), want the "
                           f"newest {held} ({n - held}..{n - 1}): "
                           + "; ".join(delivery_problems(sub3.messages(), newest)))


@pytest.mark.timeout(90)
def test_durable_interest_survives_gateway_restart(fleet):
    """A persistent QoS 1 subscription on gw-3 is durable interest: with gw-3's agent stopped
    (SIGTERM) and known down at the coordinator, gw-1 still keeps the 200 QoS 1 messages published
    for it; gw-3 restarts, the subscriber reconnects and gets all 200, in order, once."""
    n = 200
    topic = f"{uid('restart')}/seq"
    sub = DurableSubscriber(fleet, "gw-3", topic)
    fleet.wait_interest(topic, {"gw-3"}, origin="gw-1")
    fleet.stop_agent("gw-3")
    sub.drop()
    interest_while_down = fleet.coordinator.interest(topic)
    stream = Stream(Publisher(fleet, "gw-1", inflight=100), topic)
    stream.to(n, timeout=20)
    fleet.start_agent("gw-3")
    sub.reconnect()
    wait_settled(sub.distinct, n, quiet=10, cap=30)
    got = [int(m.payload) for m in sub.messages()]
    assert got == list(range(n)), (
        f"gw-3's subscriber got {len(got)} of {n}: "
        + "; ".join(delivery_problems(sub.messages(), list(range(n))))
        + f"\ncoordinator interest in {topic} while gw-3 was down: {sorted(interest_while_down)}\n"
        + diagnostics(fleet))


def _retained_seen_on(fleet, gid: str, topic: str, wait: float = 0.5):
    """(payload, retain flag) of what a new subscriber on `gid` gets for `topic` within `wait`
    seconds, or None."""
    c = fleet.client(gid)
    c.connect()
    c.subscribe(topic, qos=1)
    try:
        msgs = c.wait_messages(1, timeout=wait)
        return msgs[-1].payload, msgs[-1].retain
    except AssertionError:
        return None
    finally:
        c.disconnect()


@pytest.mark.timeout(90)
def test_retained_qos0_published_during_link_cut_reaches_fleet(fleet_factory):
    """Retained QoS 0 while the link is down: gw-1 publishes retained v0 (reaches gw-2), its link is
    cut, v1..v5 are published retained at QoS 0 on gw-1, the link is restored; a new subscriber on
    gw-2 then gets v5 as a retained message (within 15 s)."""
    fleet = fleet_factory(2, proxied=("gw-1",), gateway_timeout=2.0)
    topic = f"{uid('ret0')}/state"
    pub = fleet.client("gw-1")
    pub.connect()
    pub.publish(topic, b"v0", qos=0, retain=True)
    wait_until(lambda: _retained_seen_on(fleet, "gw-2", topic) == (b"v0", True), 10, interval=0.1,
               what="v0 retained on gw-2 before the cut")
    fleet.cut("gw-1")
    fleet.wait_down("gw-1")
    fleet.gws["gw-1"].sys.wait_value("link/connected", lambda v: v == 0, timeout=15, what="== 0")
    for i in range(1, 6):
        pub.publish(topic, f"v{i}".encode(), qos=0, retain=True)
    assert _retained_seen_on(fleet, "gw-1", topic) == (b"v5", True), "gw-1 itself does not retain v5"
    fleet.restore("gw-1")
    fleet.wait_connected(["gw-1"], timeout=20)
    last = []

    def gw2_has_v5():
        last[:] = [_retained_seen_on(fleet, "gw-2", topic)]
        return last[0] == (b"v5", True)
    try:
        wait_until(gw2_has_v5, 15, interval=0.2, what="v5 retained on gw-2")
    except AssertionError as e:
        raise AssertionError(f"{e}: a new subscriber on gw-2 gets {last[0]} (payload, retain) 15 s after "
                             f"gw-1's link came back") from None


@pytest.mark.timeout(60)
def test_clean_session_subscriber_does_not_make_durable_interest(fleet):
    """Only persistent sessions make durable interest: with gw-2 (persistent QoS 1 subscriber) and
    gw-3 (clean-session QoS 1 subscriber) stopped, gw-1 publishes 100 to each filter; the coordinator
    holds 100 for gw-2 and none for gw-3."""
    n = 100
    base = uid("clean")
    durable = DurableSubscriber(fleet, "gw-2", f"{base}/durable")
    clean = DurableSubscriber(fleet, "gw-3", f"{base}/clean", clean=True)
    fleet.wait_interest(f"{base}/durable", {"gw-2"}, origin="gw-1")
    fleet.wait_interest(f"{base}/clean", {"gw-3"}, origin="gw-1")
    for gid, s in (("gw-2", durable), ("gw-3", clean)):
        fleet.stop_agent(gid)
        s.drop()
    pub = Publisher(fleet, "gw-1", inflight=100)
    for i in range(n):
        pub.publish(f"{base}/durable", str(i).encode())
        pub.publish(f"{base}/clean", str(i).encode())
    pub.wait_acked(20)
    try:
        wait_until(lambda: retention(fleet, "gw-2")["held_messages"] == n, 10, interval=0.2,
                   what=f"{n} held for gw-2")
    finally:
        print(f"gw-2: {fleet.coordinator.gateway_info('gw-2')}")
    assert retention(fleet, "gw-3")["held_messages"] == 0, retention(fleet, "gw-3")


@pytest.mark.timeout(90)
def test_deleting_a_gateway_releases_what_the_origin_held_for_it(fleet):
    """DELETE /v1/gateways/{id} (admin token) of a gateway that is away releases everything held
    for it: the coordinator holds nothing more for it and the origin's log of unconfirmed forwards
    empties, so nothing stays pinned for a gateway that will not come back."""
    n = 300
    topic = f"{uid('removed')}/t"
    sub = DurableSubscriber(fleet, "gw-3", topic)
    fleet.wait_interest(topic, {"gw-3"}, origin="gw-1")
    fleet.stop_agent("gw-3")
    sub.drop()
    pub = Publisher(fleet, "gw-1", inflight=100)
    for i in range(n):
        pub.publish(topic, str(i).encode())
    pub.wait_acked(30)
    wait_until(lambda: retention(fleet, "gw-3")["held_messages"] == n, 10, interval=0.1, what=f"{n} held for gw-3")
    assert coordinator_metric(fleet, "fleetgate_coordinator_retention_held_messages", "gw-3") == n
    fleet.gws["gw-1"].sys.wait_value("forwards/unconfirmed", lambda v: v >= n, 10, what="gw-1 holds them in its log")
    status, body, _ = fleet.coordinator.http("/v1/gateways/gw-3", method="DELETE")
    assert status == 200 and body == {"removed": "gw-3"}, (status, body)
    fleet.gws["gw-1"].sys.wait_value("forwards/unconfirmed", lambda v: v == 0, 10,
                                       what="gw-1's log released after the DELETE")
    status, _, _ = fleet.coordinator.http("/v1/gateways/gw-3")
    assert status == 404
    held = coordinator_metric(fleet, "fleetgate_coordinator_retention_held_messages", "gw-3")
    assert held == 0, f"the removed gateway's gauge still says {held}"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_origin_kill9_while_holding_for_an_away_gateway_loses_nothing(fleet):
    """The origin is the one process the other tests do not kill: gw-3 is away, gw-1 holds 1,000
    acknowledged QoS 1 messages for it and is killed with -9, restarted on its data dir, and a new
    publisher sends 1,000 more; when gw-3 returns its persistent subscriber gets all 2,000 that were
    acknowledged, in order, once (gw-1's log and the coordinator's state rebuilt from disk)."""
    n = 1_000
    topic = f"{uid('origin-kill')}/seq"
    sub = DurableSubscriber(fleet, "gw-3", topic)
    fleet.wait_interest(topic, {"gw-3"}, origin="gw-1")
    fleet.stop_agent("gw-3")
    sub.drop()
    first = Publisher(fleet, "gw-1", inflight=100)
    Stream(first, topic).to(n, timeout=30)
    first.p.c.loop_stop()
    fleet.stop_agent("gw-1", kill9=True)
    fleet.start_agent("gw-1")
    second = Stream(Publisher(fleet, "gw-1", inflight=100), topic)
    second.next = n
    second.to(2 * n, timeout=30)
    fleet.start_agent("gw-3")
    sub.reconnect()
    wait_settled(sub.distinct, 2 * n, quiet=10, cap=40)
    got = [int(m.payload) for m in sub.messages()]
    assert got == list(range(2 * n)), (
        f"gw-3's subscriber got {len(got)} of {2 * n}: "
        + "; ".join(delivery_problems(sub.messages(), list(range(2 * n)))) + "\n" + diagnostics(fleet))
