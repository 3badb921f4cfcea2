"""Issue #12, the policy half: `migration:` / `PUT /v1/migration/policy` (admin token, 400 naming
the field, persisted across a restart) and decisions from the agents' load reports recorded at
`GET /v1/migrations`. A decision starts a handover (`started`); the fake gateways here do not
answer its MIGRATE, which is the handover tests' business (test_fabric_migration.py). Fake
gateways speak the protocol through fleetframes.py."""
from __future__ import annotations

import time

from coordinators import ADMIN_TOKEN, READ_TOKEN, TOKEN, Coordinator, coordinator_factory  # noqa: F401
from fleetframes import heartbeat, load_report

POLICY = {"enabled": True, "threshold_msgs_per_s": 500, "sustain_s": 2, "release_ratio": 0.8,
          "cooldown_s": 60, "max_concurrent": 4, "mode": "auto"}


def put(coordinator, body, token=ADMIN_TOKEN):
    return coordinator.send_json("/v1/migration/policy", body, method="PUT", token=token)


def test_policy_is_validated_needs_the_admin_token_and_survives_a_restart(tmp_path):
    co = Coordinator(tmp_path / "co").start()
    try:
        assert put(co, POLICY, token=READ_TOKEN)[0] == 403
        status, body = put(co, {**POLICY, "release_ratio": 1.5})
        assert (status, body["code"]) == (400, "invalid_field") and "release_ratio" in body["error"]
        status, body = put(co, {**POLICY, "sustain_s": "soon"})
        assert (status, body["code"]) == (400, "invalid_field") and "sustain_s" in body["error"]
        status, body = put(co, {**POLICY, "mode": "teleport"})
        assert status == 400 and "mode" in body["error"]
        assert put(co, b"not json")[0] == 400
        status, body = put(co, {**POLICY, "sustain_secs": 5})  # a typo is refused, not defaulted
        assert (status, body["code"]) == (400, "invalid_field") and "sustain_secs" in body["error"]
        status, body = put(co, POLICY)
        assert status == 200 and body["threshold_msgs_per_s"] == 500
        status, got, _ = co.http("/v1/migration/policy", token=READ_TOKEN)
        assert status == 200 and got["enabled"] and got["sustain_s"] == 2
    finally:
        assert co.stop() == 0
    again = Coordinator(tmp_path / "co").start()
    try:
        assert again.get("/v1/migration/policy")["threshold_msgs_per_s"] == 500
    finally:
        assert again.stop() == 0


def test_a_client_sustained_above_the_threshold_is_planned_to_the_least_loaded_gateway(coordinator_factory):
    co = coordinator_factory()
    assert put(co, POLICY)[0] == 200
    a = co.gateway("gw-a")
    b = co.gateway("gw-b")
    c = co.gateway("gw-c")
    b.send(load_report(msgs_in=900))
    c.send(load_report(msgs_in=100))
    for i in range(4):  # four reports over ~3 s above 500 msg/s
        a.send(load_report(msgs_in=2100, top=[("hot-device", 2000, 64_000), ("calm-device", 100, 1_000)]))
        a.send(heartbeat(i + 1))
        time.sleep(0.8)
    moves = co.wait_for(lambda: co.get("/v1/migrations")["migrations"], "a migration decision", timeout=5)
    assert [(m["client_id"], m["from"], m["to"], m["reason"], m["state"]) for m in moves] == [
        ("hot-device", "gw-a", "gw-c", "message_rate", "started")]
    assert moves[0]["messages_per_second"] == 2000
    handovers = co.get("/v1/migrations")["handovers"]
    assert [(h["client_id"], h["from"], h["to"], h["reason"], h["state"]) for h in handovers] == [
        ("hot-device", "gw-a", "gw-c", "message_rate", "exporting")]
    assert 'fleetgate_coordinator_migration_decisions_total{reason="message_rate"} 1' in co.get("/metrics")


def test_a_gateway_advertising_a_wildcard_address_takes_no_migrated_clients(coordinator_factory):
    """Devices redirected to 0.0.0.0 could not follow: such a gateway is no target, for an operator's
    move (409 naming --advertise) and for the policy."""
    co = coordinator_factory()
    a = co.gateway("gw-a")
    wild = co.gateway("gw-wild", mqtt_address="0.0.0.0:1883")
    assert a and wild  # kept open for the test
    status, body = co.send_json("/v1/migrations", {"client_id": "dev", "from": "gw-a", "to": "gw-wild"})
    assert status == 409 and body["code"] == "target_not_eligible" and "--advertise" in body["error"], body
    # Without "to", the only other gateway is the wildcard one: no eligible target either.
    assert co.send_json("/v1/migrations", {"client_id": "dev", "from": "gw-a"})[0] == 409


def test_a_drain_outlives_a_coordinator_restart(tmp_path):
    """A drain is stored: after a restart the gateway comes back draining (not active) and the
    drain goes on; resume ends it for good, also across the next restart."""
    co = Coordinator(tmp_path / "co").start()
    gw = co.gateway("gw-d")
    try:
        status, drain = co.send_json("/v1/gateways/gw-d/drain", {"rate": 250})
        assert status == 202 and drain["rate"] == 250
    finally:
        gw.close()
        assert co.stop() == 0
    co = Coordinator(tmp_path / "co").start()
    gw = co.gateway("gw-d")
    try:
        view = co.wait_for(lambda: (v := co.get("/v1/gateways/gw-d"))["state"] == "draining" and v, "gw-d draining again")
        assert view["drain"]["rate"] == 250, view
        status, resumed = co.send_json("/v1/gateways/gw-d/resume", None)
        assert status == 200 and resumed["state"] == "active"
    finally:
        gw.close()
        assert co.stop() == 0
    co = Coordinator(tmp_path / "co").start()
    gw = co.gateway("gw-d")
    try:
        co.wait_for(lambda: co.get("/v1/gateways/gw-d")["state"] == "active", "gw-d active after the resumed drain")
        assert co.get("/v1/gateways/gw-d").get("drain") is None
    finally:
        gw.close()
        assert co.stop() == 0
