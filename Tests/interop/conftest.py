"""Fixtures: the broker under test (per test, on its own temp dir) and client cleanup."""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest

from brokers import PEER, Broker, BrokerConfig
from mqttraw import RawClient


def pytest_report_header(config):
    return [f"broker under test: FLEETGATE_PEER={PEER}",
            f"fabric e2e backend requested: FLEETGATE_E2E={os.environ.get('FLEETGATE_E2E', 'auto')} "
            "(the one that ran is in the summary)"]


def pytest_terminal_summary(terminalreporter):
    """Which fabric backend ran (containers, netns or loopback) and, for a fallback, why; printed
    even with -q, so `make test` shows it."""
    fabric = sys.modules.get("fabric")
    line = fabric.SESSION.summary() if fabric is not None else None
    if line:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def e2e_backend(tmp_path_factory):
    """The fabric tests' backend for this session (fabric.E2ESession, decided at the first fleet);
    the container site it made (network, root filesystem) is removed when the session ends."""
    from fabric import SESSION
    SESSION.workdir = tmp_path_factory.mktemp("e2e")
    yield SESSION
    SESSION.close()


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
