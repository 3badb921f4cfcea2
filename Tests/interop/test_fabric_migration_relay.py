"""Issue #12, relay mode (Protocol/agent-coordinator.md §8): a migrated client that cannot follow a redirect
(MQTT 3.1.1, or MQTT 5 in `mode: relay`) keeps its TCP connection to the source gateway, which
relays its MQTT stream to the target; the target serves its session. Real agents, a real
coordinator, paho-mqtt clients; the connection is checked to be the same socket throughout."""
from __future__ import annotations

import os
import time

import pytest

from fabric import fleet_factory  # noqa: F401 (fixture)
from support import V5, V311, Paho, PacketTypes, props, uid, wait_until
from test_fabric_migration import SteadyPublisher, handover, numbers, persistent_v5, post_migration, put_policy

pytestmark = pytest.mark.fleetgate_only

MIGRATION_SYS = "$SYS/broker/migration/"


def migration_sys(fleet, gid: str, name: str, at_least: int = 0, timeout: float = 10) -> int:
    """The agent's $SYS counter `migration/<name>` once it is at least `at_least` (sys_interval 1 s)."""
    reader = fleet.client(gid, client_id=uid("sysread"))
    reader.connect()
    reader.subscribe(MIGRATION_SYS + name, qos=0)
    latest = lambda: next((int(m.payload) for m in reversed(reader.messages) if m.topic == MIGRATION_SYS + name), None)
    wait_until(lambda: (latest() or 0) >= at_least, timeout=timeout, what=f"{gid} $SYS migration/{name} >= {at_least} (last {latest()})")
    reader.stop()
    return latest()


def local_address(client: Paho):
    return client.c.socket().getsockname()


def wait_done(coordinator, client_id: str, timeout: float = 15) -> dict:
    def done():
        items = [h for h in coordinator.get("/v1/migrations")["handovers"] if h["client_id"] == client_id]
        return items and items[-1]["state"] == "done"
    wait_until(done, timeout=timeout, what=f"handover of {client_id} done")
    return [h for h in coordinator.get("/v1/migrations")["handovers"] if h["client_id"] == client_id][-1]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_v311_client_above_the_threshold_is_relayed_and_its_connection_stays_open(fleet_factory):
    """Issue #12's second acceptance line: the policy's move of a paho-mqtt 3.1.1 client publishing
    ~2,000 QoS 1 msg/s (threshold 500 msg/s for 3 s, `mode: auto`, which relays 3.1.1): its TCP
    connection stays open across the migration, gw-2 serves its session through gw-1's relay,
    every QoS 1 message published to it arrives once, and none of its own publishes is lost."""
    fleet = fleet_factory(2)
    put_policy(fleet.coordinator, {"enabled": True, "threshold_msgs_per_s": 500, "sustain_s": 3, "release_ratio": 0.8,
                                   "cooldown_s": 300, "max_concurrent": 4, "mode": "auto"})
    base = uid("relay")
    mover = Paho(fleet.gws["gw-1"].agent, client_id=uid("hot311"), proto=V311, clean=False)
    fleet.clients.append(mover)
    mover.c.max_inflight_messages_set(200)
    mover.connect()
    socket_before = local_address(mover)
    assert mover.subscribe(f"{base}/to-mover", qos=1) == [1]
    watcher = fleet.client("gw-2")  # counts the mover's own publishes, wherever it is served
    watcher.connect()
    assert watcher.subscribe(f"{base}/from-mover", qos=1) == [1]
    fleet.wait_interest(f"{base}/from-mover", {"gw-2"}, origin="gw-1")
    feeder = fleet.client("gw-2", proto=V5)
    feeder.connect()
    fleet.wait_interest(f"{base}/to-mover", {"gw-1"}, origin="gw-2")
    to_mover = SteadyPublisher(feeder, f"{base}/to-mover", 1_500, pause=0.008)   # ~12 s

    # ~2,000 msg/s until the coordinator reports the move done (bounded: 20 s).
    def moved() -> bool:
        return any(h["client_id"] == mover.client_id and h["state"] == "done"
                   for h in fleet.coordinator.get("/v1/migrations")["handovers"])
    sent = 0
    started = time.monotonic()
    next_check = started + 0.25
    while time.monotonic() - started < 20:
        tick = time.monotonic()
        for _ in range(20):
            mover.c.publish(f"{base}/from-mover", str(sent).encode(), qos=1)
            sent += 1
        if tick >= next_check:
            next_check = tick + 0.25
            if moved():
                break
        time.sleep(max(0.0, 0.01 - (time.monotonic() - tick)))
    moved_after = time.monotonic() - started
    migration = [h for h in fleet.coordinator.get("/v1/migrations")["handovers"] if h["client_id"] == mover.client_id]
    assert migration and migration[-1]["state"] == "done", f"not moved within 20 s ({sent} published): {migration}"
    assert migration[-1]["reason"] == "message_rate" and migration[-1]["to"] == "gw-2" and migration[-1]["mode"] == "auto"
    assert moved_after <= 3 + 5 + 1, f"moved after {moved_after:.1f} s"

    # The same connection goes on, now served by gw-2 through gw-1.
    for n in range(sent, sent + 200):
        mover.c.publish(f"{base}/from-mover", str(n).encode(), qos=1)
    sent += 200
    assert to_mover.done.wait(60), "feeder did not finish"
    wait_until(lambda: len(set(numbers(mover.messages))) == 1_500, timeout=30, what="all 1,500 messages to the mover")
    got = numbers(mover.messages)
    assert sorted(got) == list(range(1_500)), f"{len(got) - len(set(got))} twice, {1_500 - len(set(got))} missing"
    wait_until(lambda: len(set(numbers(watcher.messages))) == sent, timeout=30, what=f"all {sent} of the mover's own")
    assert not mover.disconnects, f"the client was disconnected: {mover.disconnects}"
    assert local_address(mover) == socket_before and len(mover.connacks) == 1
    assert migration_sys(fleet, "gw-2", "relays/accepted", at_least=1) >= 1
    assert migration_sys(fleet, "gw-1", "relays/active", at_least=1) == 1
    relayed = migration_sys(fleet, "gw-1", "relays/bytes/to-target", at_least=1)
    # The coordinator counts what its agents relayed, from their load reports.
    wait_until(lambda: fleet.coordinator.metrics().get("fleetgate_coordinator_migration_relayed_bytes_total", 0) >= relayed,
               timeout=10, what="relayed bytes in the coordinator's metrics")
    print(f"relayed after {moved_after:.1f} s at ~{sent / max(moved_after, 0.1):.0f} msg/s; stall {migration[-1].get('stall_ms')} ms")


def test_a_v5_client_in_relay_mode_keeps_its_connection_aliases_and_session(fleet_factory):
    """`mode: relay` relays MQTT 5 too (for libraries that ignore a Server Reference): an operator
    move keeps the connection, a topic alias set before the move still works after it; the client
    reconnecting to the source (also after the source restarts) is relayed again and finds its
    session with what queued meanwhile. A forged relay credential is refused."""
    fleet = fleet_factory(2)
    put_policy(fleet.coordinator, {"enabled": False, "mode": "relay"})
    base = uid("relay5")
    mover_id = uid("mover5")
    mover = persistent_v5(fleet.gws["gw-1"].agent, mover_id)
    fleet.clients.append(mover)
    mover.connect()
    socket_before = local_address(mover)
    assert mover.subscribe(f"{base}/in/#", qos=1) == [1]
    watcher = fleet.client("gw-2")
    watcher.connect()
    assert watcher.subscribe(f"{base}/out", qos=1) == [1]
    fleet.wait_interest(f"{base}/out", {"gw-2"}, origin="gw-1")
    mover.publish(f"{base}/out", b"before", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    feeder = fleet.client("gw-2")
    feeder.connect()
    fleet.wait_interest(f"{base}/in/x", {"gw-1"}, origin="gw-2")

    status, started = post_migration(fleet.coordinator, {"client_id": mover_id, "from": "gw-1", "to": "gw-2"})
    assert status == 202, started
    h = wait_done(fleet.coordinator, mover_id)
    assert h["mode"] == "relay"
    # Served by gw-2 now, on the same socket: its alias and its subscription still work.
    mover.publish("", b"after", qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    wait_until(lambda: [m.payload for m in watcher.messages] == [b"before", b"after"], timeout=10,
               what=f"both publishes at the watcher (got {[m.payload for m in watcher.messages]})")
    fleet.wait_interest(f"{base}/in/x", {"gw-2"}, origin="gw-2")
    feeder.publish(f"{base}/in/x", b"0", qos=1)
    mover.wait_messages(1, timeout=10)
    assert not mover.disconnects and local_address(mover) == socket_before

    # Offline, a message queues at gw-2; back at gw-1 the client is relayed to its session there.
    mover.disconnect()
    feeder.publish(f"{base}/in/x", b"1", qos=1)
    again = persistent_v5(fleet.gws["gw-1"].agent, mover_id)
    fleet.clients.append(again)
    flags, _, _ = again.connect()
    assert flags.session_present, "a relayed reconnect did not find the session"
    again.wait_messages(1, timeout=10)
    assert numbers(again.messages) == [1]
    again.disconnect()

    # The relay is stored with the session's departure: a restarted source relays too.
    fleet.stop_agent("gw-1")
    fleet.start_agent("gw-1")
    feeder.publish(f"{base}/in/x", b"2", qos=1)
    after = persistent_v5(fleet.gws["gw-1"].agent, mover_id)
    fleet.clients.append(after)
    flags, _, _ = after.connect()
    assert flags.session_present
    after.wait_messages(1, timeout=10)
    assert numbers(after.messages) == [2]
    after.stop()

    # Only the gateway that handed the session over can relay for it.
    forged = Paho(fleet.gws["gw-2"].agent, client_id=mover_id, proto=V311, clean=False)
    forged.c.username_pw_set("$fleetgate-relay", bytes([1, 2]) + os.urandom(16) + bytes([0, 0, 0]))
    _, rc, _ = forged.connect(expect_success=False)
    assert str(rc) == "Not authorized", rc  # 3.1.1 return code 5
    forged.stop()
