"""Issue #12, the handover: a client's session moves between real agents through the coordinator
(docs/PROTOCOL.md §5.14-§5.18), started by an operator (`POST /v1/migrations`). A paho-mqtt v5
client is told DISCONNECT 0x9C with the Server Reference of the target, reconnects there with
clean start false and finds its session (subscriptions, queued QoS 1 messages); a later CONNECT
to the source gets CONNACK 0x9C with the same reference. Aborts leave the session at the source."""
from __future__ import annotations

import json
import threading
import time
import types
import urllib.request

import pytest

from coordinators import ADMIN_TOKEN, READ_TOKEN
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import V5, Paho, PacketTypes, props, uid, wait_until

pytestmark = pytest.mark.fleetgate_only

USE_ANOTHER_SERVER = 0x9C


def post_migration(coordinator, body: dict, token: str = ADMIN_TOKEN) -> tuple[int, dict]:
    request = urllib.request.Request(coordinator.http_base + "/v1/migrations", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def handover(coordinator, migration_id: int) -> dict:
    items = [h for h in coordinator.get("/v1/migrations")["handovers"] if h["id"] == migration_id]
    return items[0] if items else {}


def persistent_v5(broker, client_id: str) -> Paho:
    return Paho(broker, client_id=client_id, proto=V5, clean=False,
                connect_props=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))


def address(reference: str):
    host, port = reference.rsplit(":", 1)
    return types.SimpleNamespace(host=host.strip("[]"), port=int(port))


def numbers(messages) -> list[int]:
    return [int(m.payload) for m in messages]


@pytest.mark.parametrize("publisher_on", ["gw-1", "gw-3"], ids=["publisher-on-source", "publisher-on-third-gateway"])
def test_operator_moves_a_v5_client_by_redirect_and_its_session_follows(fleet_factory, publisher_on):
    fleet = fleet_factory(3)
    base = uid("mig")
    mover_id = uid("mover")
    mover = persistent_v5(fleet.gws["gw-1"].agent, mover_id)
    mover.connect()
    assert mover.subscribe(f"{base}/#", qos=1) == [1]
    # The target already takes these messages for a client of its own: during the handover they
    # reach both gateways, and the moved session must still get each once.
    bystander = fleet.client("gw-2")
    bystander.connect()
    assert bystander.subscribe(f"{base}/#", qos=1) == [1]
    fleet.wait_interest(f"{base}/data", {"gw-1", "gw-2"}, origin=publisher_on)

    # A publisher keeps sending QoS 1 while the client moves; bounded in count and time.
    total = 600
    pub = fleet.client(publisher_on, proto=V5)
    pub.connect()
    done = threading.Event()

    def publish():
        try:
            for n in range(total):
                pub.publish(f"{base}/data", str(n).encode(), qos=1, timeout=10)
                time.sleep(0.004)
        finally:
            done.set()

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    mover.wait_messages(50, timeout=10)

    assert post_migration(fleet.coordinator, {"client_id": mover_id, "from": "gw-1", "to": "gw-2"}, token=READ_TOKEN)[0] == 403
    status, started = post_migration(fleet.coordinator, {"client_id": mover_id, "from": "gw-1", "to": "gw-2"})
    assert status == 202, started
    assert started["state"] == "exporting" and started["to"] == "gw-2"

    rc, properties = mover.wait_disconnected(timeout=10)
    mover.stop()
    assert rc.value == USE_ANOTHER_SERVER, rc
    reference = properties.ServerReference
    target = fleet.gws["gw-2"].agent
    assert address(reference).port == target.port, (reference, target.port)
    wait_until(lambda: handover(fleet.coordinator, started["id"]).get("state") == "done", timeout=10, what="handover done")

    # At the target with clean start false: the session is there, subscriptions included.
    moved = persistent_v5(address(reference), mover_id)
    fleet.clients.append(moved)
    flags, rc, _ = moved.connect()
    assert flags.session_present, "the session did not follow the client"
    assert done.wait(30), "publisher did not finish"
    wait_until(lambda: len(set(numbers(mover.messages)) | set(numbers(moved.messages))) == total, timeout=20,
               what=f"all {total} messages")
    got = numbers(mover.messages) + numbers(moved.messages)
    missing = sorted(set(range(total)) - set(got))
    assert not missing, f"lost {len(missing)}: {missing[:20]}"
    duplicates = sorted(n for n in set(got) if got.count(n) > 1)
    print(f"moved with {len(duplicates)} duplicates of {total}; stall {handover(fleet.coordinator, started['id'])['stall_ms']} ms")
    assert not duplicates, f"{len(duplicates)} delivered twice: {duplicates[:20]}"

    # The source now redirects the client for its session's lifetime.
    again = persistent_v5(fleet.gws["gw-1"].agent, mover_id)
    fleet.clients.append(again)
    _, rc, properties = again.connect(expect_success=False)
    assert rc.value == USE_ANOTHER_SERVER and properties.ServerReference == reference
    again.stop()

    metrics = fleet.coordinator.metrics()
    moved_total = [v for k, v in metrics.items() if k.startswith("fleetgate_coordinator_migrations_total{")
                   and 'outcome="moved"' in k and 'reason="operator"' in k]
    assert moved_total == [1], sorted(k for k in metrics if "migration" in k)
    assert metrics.get('fleetgate_coordinator_migration_stall_seconds_count') == 1


def test_a_migration_the_target_cannot_take_is_aborted_and_the_client_stays(fleet_factory):
    """The target refuses (the client is connected there too, under the same id): the coordinator
    aborts, the source serves the client again, nothing it queued meanwhile is lost."""
    fleet = fleet_factory(2)
    base = uid("abort")
    client_id = uid("stay")
    stay = persistent_v5(fleet.gws["gw-1"].agent, client_id)
    stay.connect()
    assert stay.subscribe(f"{base}/#", qos=1) == [1]
    twin = persistent_v5(fleet.gws["gw-2"].agent, client_id)  # same id on the target: it must refuse
    twin.connect()
    status, started = post_migration(fleet.coordinator, {"client_id": client_id, "from": "gw-1", "to": "gw-2"})
    assert status == 202, started
    wait_until(lambda: handover(fleet.coordinator, started["id"]).get("state") == "aborted", timeout=10, what="aborted")
    assert "connected" in handover(fleet.coordinator, started["id"])["outcome"]
    pub = fleet.client("gw-1")
    pub.connect()
    for n in range(20):
        pub.publish(f"{base}/x", str(n).encode(), qos=1)
    stay.wait_messages(20, timeout=10)
    assert numbers(stay.messages) == list(range(20))
    assert not stay.disconnects, "the source dropped the client although the migration was aborted"


def test_bad_requests_are_refused_with_a_json_error(fleet_factory):
    fleet = fleet_factory(2)
    co = fleet.coordinator
    assert post_migration(co, {"to": "gw-2"})[0] == 400
    status, body = post_migration(co, {"client_id": "x", "destination": "gw-2"})
    assert status == 400 and "destination" in body["error"]
    status, body = post_migration(co, {"client_id": "nobody-reported-me"})
    assert (status, body["code"]) == (404, "unknown_client")
    status, body = post_migration(co, {"client_id": "x", "from": "gw-1", "to": "gw-9"})
    assert status == 404
    status, body = post_migration(co, {"client_id": "x", "from": "gw-1", "to": "gw-1"})
    assert status == 409
