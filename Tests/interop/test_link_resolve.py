"""The agent resolves the coordinator's host name off its loop (issue #10 §4.8): a name, not an
address literal, in `coordinator.address` still joins the fleet, and an unresolvable name leaves
the agent serving its devices while it retries."""

from __future__ import annotations

import pytest

from brokers import PEER, Broker, BrokerConfig
from coordinators import Coordinator, coordinator, coordinator_factory  # noqa: F401 (fixtures)
from support import Paho, wait_until

pytestmark = pytest.mark.skipif(PEER != "fleetgate", reason="fleetgate agents only")


def agent_for(tmp_path, coord: Coordinator, host: str) -> Broker:
    return Broker(tmp_path / "agent", BrokerConfig(extra_yaml=(
        "coordinator:\n"
        f"  address: \"{host}:{coord.link_port}\"\n"
        "  gateway_id: gw-named\n"
        f"  token_file: \"{coord.token_file}\"\n"
        "  reconnect_min_ms: 100\n  reconnect_max_ms: 500\n"))).start()


def test_agent_joins_a_coordinator_named_localhost(tmp_path, coordinator):
    agent = agent_for(tmp_path, coordinator, "localhost")
    try:
        wait_until(lambda: coordinator.gateways().get("gw-named", {}).get("connected"), 15, 0.05,
                   "gw-named to join through the name localhost")
    finally:
        agent.stop()


def test_unresolvable_coordinator_name_keeps_the_agent_serving(tmp_path, coordinator):
    agent = agent_for(tmp_path, coordinator, "nonexistent.invalid")
    try:
        c = Paho(agent)
        c.connect()
        c.subscribe("t/x", qos=1)
        c.publish("t/x", b"local", qos=1)
        c.wait_messages(1)
        c.stop()
        assert agent.alive()
        assert "gw-named" not in coordinator.gateways()
        assert "nonexistent.invalid" in agent.log_tail(), "the failed lookup is logged"
    finally:
        agent.stop()
