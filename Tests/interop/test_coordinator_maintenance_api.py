"""Issue #13, the API half: `POST /v1/maintenance` (admin token, 400 naming the field, 409 for a
gateway already in a run), `GET /v1/maintenance[/{id}]`, saved policies, and a run whose window
is closed now: nothing starts, and the schedule says when it will. The run and the saved policy
survive a coordinator restart. Fake gateways (fleetframes.py) only say HELLO: nothing here asks
them anything, which is the point of a closed window; the fleet tests run real agents."""
from __future__ import annotations

import datetime as dt
import re
import time

from coordinators import ADMIN_TOKEN, READ_TOKEN, Coordinator

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def post(co, body, token=ADMIN_TOKEN):
    return co.send_json("/v1/maintenance", body, token=token)


def closed_window_policy(now: dt.datetime) -> tuple[dict, int]:
    """A window 01:00-02:00 UTC on the day after tomorrow only: closed now, whatever the hour.
    Returns the policy and the window's opening in ms."""
    day = now + dt.timedelta(days=2)
    opens = dt.datetime(day.year, day.month, day.day, 1, 0, tzinfo=dt.timezone.utc)
    policy = {"max_concurrent": 1, "min_active": 0, "max_errors": 0,
              "windows": [{"days": [DAYS[day.weekday()]], "start": "01:00", "end": "02:00", "timezone": "UTC"}]}
    return policy, int(opens.timestamp() * 1000)


def test_runs_are_validated_scheduled_in_their_window_and_survive_a_restart(tmp_path):
    co = Coordinator(tmp_path / "co").start()
    gateways = [co.gateway(f"gw-{i}", region="eu") for i in (1, 2)]
    policy, opens = closed_window_policy(dt.datetime.now(dt.timezone.utc))
    try:
        body = {"operation": "os-patch", "gateways": ["gw-1", "gw-2"], "policy": policy}
        assert post(co, body, token=READ_TOKEN)[0] == 403
        for bad, field in [({**body, "operation": ""}, "operation"),
                           ({**body, "gateways": []}, "gateways"),
                           ({**body, "gateways": ["gw-1", "gw-9"]}, "gateways[1]"),
                           ({**body, "gateways": {"region": "mars"}}, "gateways"),
                           ({**body, "policy": {**policy, "max_concurrent": 0}}, "policy.max_concurrent"),
                           ({**body, "policy": {**policy, "windows": [{**policy["windows"][0], "timezone": "Mars/Olympus"}]}},
                            "policy.windows[0].timezone"),
                           ({**body, "policy": {**policy, "max_conccurent": 2}}, "max_conccurent"),
                           ({**body, "policy": "no-such-policy"}, "policy"),
                           ({**body, "extra": 1}, "extra")]:
            status, answer = post(co, bad)
            assert status == 400 and answer["code"] == "invalid_field" and field in answer["error"], (bad, answer)

        status, saved = co.send_json("/v1/maintenance/policies/weekend", policy, method="PUT")
        assert status == 200 and saved["max_concurrent"] == 1
        status, run = post(co, {"operation": "os-patch", "gateways": {"region": "eu"}, "policy": "weekend"})
        assert status == 201, run
        assert run["state"] == "scheduled" and [h["gateway"] for h in run["hosts"]] == ["gw-1", "gw-2"]
        assert post(co, body)[0] == 409  # its gateways are in a run that has not finished

        # Closed now: nothing starts or is asked; the first host is planned for the window's opening.
        time.sleep(2.5)
        view = co.get(f"/v1/maintenance/{run['id']}")
        assert [h["state"] for h in view["hosts"]] == ["pending", "pending"], view
        assert view["hosts"][0]["planned_start"] == opens, (view["hosts"][0], opens)
        assert "window" in view["hosts"][0]["waiting_for"]
        assert co.get("/v1/maintenance")["runs"][0]["id"] == run["id"]
        metrics = co.http("/metrics")[1]
        assert re.search(r'^fleetgate_coordinator_maintenance_hosts\{state="pending"\} 2(\.0)?$', metrics, re.M), metrics

        assert co.send_json(f"/v1/maintenance/{run['id']}/pause", {})[1]["state"] == "paused"
        assert co.send_json("/v1/maintenance/mnt-999/pause", {})[0] == 404
    finally:
        for g in gateways:
            g.close()
        assert co.stop() == 0

    again = Coordinator(tmp_path / "co").start()
    try:
        view = again.get(f"/v1/maintenance/{run['id']}")
        assert view["state"] == "paused" and view["policy"]["windows"] == policy["windows"]
        assert again.get("/v1/maintenance/policies/weekend")["max_concurrent"] == 1
        status, cancelled = again.send_json(f"/v1/maintenance/{run['id']}/cancel", {})
        assert status == 200 and cancelled["state"] == "cancelled"
        assert [h["state"] for h in cancelled["hosts"]] == ["skipped", "skipped"]
    finally:
        assert again.stop() == 0
