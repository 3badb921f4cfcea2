"""Fixtures: the broker under test (per test, on its own temp dir) and client cleanup."""

from __future__ import annotations

import dataclasses

import pytest

from brokers import PEER, Broker, BrokerConfig
from mqttraw import RawClient


def pytest_report_header(config):
    return f"broker under test: FLEETGATE_PEER={PEER}"


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """The test CA and certificates (certs.py), generated once per session with the openssl CLI
    into a pytest temp directory (keys are never committed)."""
    from certs import Certs
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def broker_factory(tmp_path):
    """broker_factory(**BrokerConfig overrides) -> started Broker. Stopped at teardown; a broker
    that died during the test (without the test killing it) fails the test with its log."""
    started: list[Broker] = []

    def make(**overrides) -> Broker:
        cfg = dataclasses.replace(BrokerConfig(), **overrides)
        b = Broker(tmp_path / f"broker{len(started)}", cfg)
        started.append(b)
        return b.start()

    yield make
    crashed = []
    for b in started:
        if b.proc is not None and b.proc.poll() is not None and b.proc.returncode not in (0, -9, -15):
            crashed.append(f"{b.peer} exited with {b.proc.returncode}:\n{b.log_tail()}")
        b.stop() if b.proc is not None and b.proc.poll() is None else None
    assert not crashed, "\n".join(crashed)


@pytest.fixture
def broker(request, broker_factory) -> Broker:
    """The broker with the default config, or the overrides of @pytest.mark.broker_config(...)."""
    marker = request.node.get_closest_marker("broker_config")
    b = broker_factory(**(marker.kwargs if marker else {}))
    yield b
    assert b.alive() or b.proc.returncode in (-9, -15, 0), (
        f"broker under test died during the test:\n{b.log_tail()}")


@pytest.fixture
def raw(broker):
    """raw(proto=4) -> RawClient connected (TCP only) to the broker; all closed at teardown."""
    opened: list[RawClient] = []

    def make(proto: int = 4, timeout: float = 5.0) -> RawClient:
        c = RawClient(broker.port, proto=proto, host=broker.host, timeout=timeout)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def paho(broker):
    """paho(**Paho kwargs) -> Paho client (not yet connected); all stopped at teardown."""
    from support import Paho
    made: list[Paho] = []

    def make(b=None, **kw) -> Paho:
        c = Paho(b or broker, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.c.disconnect()
        except Exception:
            pass
        c.c.loop_stop()
