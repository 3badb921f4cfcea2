"""Descriptor exhaustion without credentials (issue #10 §3.2), against the built binaries.

An attacker opens more idle TCP connections to a listener than the process has descriptors. The
process gets a small RLIMIT_NOFILE (soft and hard, so the binaries cannot raise it) so the attack
stays quick. Checked: the process stays alive and does not spin, gateways and connected clients
keep being served, and the server closes idle connections itself.

Before the fix (commit f7f6607, run with FLEETGATE_DOS_WITHOUT_FLAGS=1 since that build does not
know the flags):
- test_idle_and_slow_http_connections_are_closed_by_the_coordinator: 14 of 14 idle/slow
  connections still open after 9 s (nothing ever closed them).
- test_idle_http_connections_do_not_starve_the_coordinator: the coordinator's descriptors reached
  1024/1024 and a new gateway got no HELLO_ACK; left under attack a few seconds longer the
  coordinator's CPU climbed (15 % -> 43 % -> 92 % of a core) and it died with SIGILL.
- test_agent_survives_descriptor_exhaustion_on_its_mqtt_port passed before the fix as well: in the
  single-threaded agent libuv's own reserve-descriptor trick holds. It guards the new accept path
  (TCPServer polls its listener itself); the multi-threaded case that did spin is
  Tests/FleetRuntimeTests/DescriptorExhaustionTests.swift.

Only 127.0.0.1; every loop is bounded in count and time; only processes started here are
signalled, by PID.

FLEETGATE_DOS_WITHOUT_FLAGS=1 starts the coordinator without the HTTP-bounds flags (their
defaults then apply). FLEETGATE_DOS_CONNECTIONS overrides the attack size.
"""

from __future__ import annotations

import errno
import os
import resource
import socket
import time

import pytest

from brokers import PEER, Broker, BrokerConfig
from coordinators import TOKEN
from fabric import FleetCoordinator
from fleetframes import HELLO_ACK, hello
from support import Paho, uid, wait_until

pytestmark = pytest.mark.skipif(PEER != "fleetgate", reason="fleetgate binaries only")

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 1024
ATTACK = int(os.environ.get("FLEETGATE_DOS_CONNECTIONS", "3000"))
IDLE_S = 2.0
HTTP_FLAGS = ["--http-idle-timeout", str(IDLE_S), "--http-request-timeout", str(IDLE_S),
              "--http-max-connections", "200"]


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime


def cpu_share(pid: int, seconds: float = 3.0) -> float:
    """Fraction of one core the process used over `seconds` of wall time."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Attacker:
    """Many idle TCP connections to one port: connect and never send a byte."""

    def __init__(self, port: int):
        self.port = port
        self.socks: list[socket.socket] = []
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.budget = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256   # keep some for the test

    def open(self, n: int, within: float = 30.0) -> int:
        deadline = time.monotonic() + within
        for _ in range(min(n, self.budget)):
            if time.monotonic() > deadline:
                break
            s = socket.socket()
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", self.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                continue
            self.socks.append(s)
        return len(self.socks)

    def closed_by_server(self) -> int:
        """Connections that ended from the server's side (EOF or reset)."""
        closed = 0
        for s in self.socks:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    closed += 1                   # EOF: the server closed it
            except BlockingIOError:
                pass                              # open (or never accepted), nothing to read
            except OSError:
                closed += 1                       # reset
        return closed

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


def link_hello(coordinator, gid: str, timeout: float = 5.0) -> bool:
    """Whether a new gateway gets HELLO_ACK on the link (it is closed afterwards)."""
    try:
        c = coordinator.connect(timeout=timeout)
    except OSError:
        return False
    try:
        c.send(hello(gid, TOKEN))
        c.recv_kind(HELLO_ACK, timeout)
        return True
    except Exception:  # noqa: BLE001 - closed, reset or timed out: not connected
        return False
    finally:
        c.close()


@pytest.fixture
def started(tmp_path):
    procs = []

    def track(p):
        procs.append(p)
        return p
    yield track
    for p in reversed(procs):
        if isinstance(p, Broker):
            p.stop()
        elif p.proc is not None and p.proc.poll() is None:
            p.stop()


def test_idle_and_slow_http_connections_are_closed_by_the_coordinator(tmp_path, started):
    flags = [] if os.environ.get("FLEETGATE_DOS_WITHOUT_FLAGS") else HTTP_FLAGS
    coord = started(FleetCoordinator(tmp_path / "coordinator", extra_args=flags).start())
    host, port = "127.0.0.1", coord.http_port
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(10)]
    # Slowloris: a header that never ends, one byte at a time (each within the idle timeout).
    slow = [socket.create_connection((host, port), timeout=5) for _ in range(3)]
    for s in slow:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    # A keep-alive client that made one request and then went quiet.
    kept = socket.create_connection((host, port), timeout=5)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b" 200 " in kept.recv(4096)
    t0 = time.monotonic()
    deadline = t0 + IDLE_S * 3 + 3
    open_socks = set(idle + slow + [kept])
    closed_after: list[float] = []
    for s in open_socks:
        s.setblocking(False)
    while open_socks and time.monotonic() < deadline:
        for s in slow:
            if s in open_socks:
                try:
                    s.send(b"X")              # more header, never the blank line
                except OSError:
                    pass
        time.sleep(0.25)
        for s in list(open_socks):
            try:
                data = s.recv(4096)
                if data == b"":
                    open_socks.discard(s)
                    closed_after.append(time.monotonic() - t0)
            except BlockingIOError:
                pass
            except OSError:
                open_socks.discard(s)
                closed_after.append(time.monotonic() - t0)
    for s in idle + slow + [kept]:
        s.close()
    assert not open_socks, f"{len(open_socks)} of 14 idle or slow connections still open after {deadline - t0:.0f} s"
    print(f"[dos] idle/slow HTTP connections closed after {min(closed_after):.1f}-{max(closed_after):.1f} s")
    status, body, _ = coord.http("/healthz")
    assert status == 200


def test_idle_http_connections_do_not_starve_the_coordinator(tmp_path, started):
    flags = [] if os.environ.get("FLEETGATE_DOS_WITHOUT_FLAGS") else HTTP_FLAGS
    coord = started(FleetCoordinator(tmp_path / "coordinator", gateway_timeout=3.0, extra_args=flags,
                                     nofile=NOFILE).start())
    agent = started(Broker(tmp_path / "gw-1", BrokerConfig(extra_yaml=(
        "coordinator:\n"
        f"  address: \"127.0.0.1:{coord.link_port}\"\n"
        "  gateway_id: gw-1\n"
        f"  token_file: \"{coord.token_file}\"\n"
        "  reconnect_min_ms: 100\n  reconnect_max_ms: 1000\n"))).start())
    wait_until(lambda: coord.gateways().get("gw-1", {}).get("connected"), 15, 0.05, "gw-1 connected")
    pid = coord.proc.pid
    fds_before = open_fds(pid)
    attacker = Attacker(coord.http_port)
    try:
        opened = attacker.open(ATTACK)
        print(f"[dos] {opened} idle connections to the admin port; coordinator fds {open_fds(pid)}/{NOFILE}")
        assert opened > NOFILE, "the attack must outnumber the coordinator's descriptors"
        share = cpu_share(pid)
        fds_under_attack = open_fds(pid)
        print(f"[dos] coordinator CPU under attack {share:.0%} of a core; fds {fds_under_attack}")
        assert coord.proc.poll() is None, coord.log_tail()
        assert share < 0.5, f"coordinator spins under the attack: {share:.0%} of a core"
        # A gateway that was not connected before the attack can still join.
        assert link_hello(coord, "gw-new"), "a new gateway cannot connect during the attack:\n" + coord.log_tail()
        assert fds_under_attack < NOFILE - 100, f"descriptors nearly exhausted: {fds_under_attack}/{NOFILE}"
        # The server closes what it accepted (cap: at once; the rest after the idle/request
        # timeout) and gets its descriptors back. Connections the kernel never queued for accept
        # (backlog overflow) hold no descriptor of the coordinator.
        wait_until(lambda: open_fds(pid) < fds_before + 20, IDLE_S * 4 + 5, 0.25,
                   "the coordinator to close the idle HTTP connections")
        print(f"[dos] coordinator fds back to {open_fds(pid)} (before the attack {fds_before}); "
              f"the attacker saw {attacker.closed_by_server()} connections closed by the server")
        # Past the gateway timeout (3 s) the joined gateway is still up and was never timed out.
        gws = coord.gateways()
        assert gws["gw-1"]["connected"] and gws["gw-1"]["state"] == "active", gws
        metrics = coord.metrics()
        assert metrics.get("fleetgate_coordinator_gateway_timeouts_total", 0) == 0, metrics
        assert metrics.get("fleetgate_coordinator_http_connections_refused_total", 0) > 0, \
            "connections past the cap are counted"
    finally:
        attacker.close()
    assert coord.proc.poll() is None
    assert agent.alive()


def test_agent_survives_descriptor_exhaustion_on_its_mqtt_port(tmp_path, started):
    agent = started(Broker(tmp_path / "agent", BrokerConfig(nofile=512)).start())
    pid = agent.proc.pid
    client = Paho(agent)
    client.connect()
    client.subscribe("dos/echo", qos=1)
    attacker = Attacker(agent.port)
    try:
        opened = attacker.open(1500)
        print(f"[dos] {opened} idle connections to the MQTT port; agent fds {open_fds(pid)}/512")
        assert opened > 512
        share = cpu_share(pid)
        print(f"[dos] agent CPU under attack {share:.0%} of a core")
        assert agent.alive(), agent.log_tail()
        assert share < 0.5, f"agent spins under the attack: {share:.0%} of a core"
        # The connected client is still served.
        client.publish("dos/echo", b"still here", qos=1)
        client.wait_messages(1, timeout=5)
        # And the operator can see the refusals ($SYS, published every second here).
        client.subscribe("$SYS/broker/connections/accept_refused", qos=0)
        wait_until(lambda: any(m.topic.endswith("accept_refused") and int(m.payload) > 0 for m in client.messages),
                   10, 0.2, "$SYS/broker/connections/accept_refused > 0")
    finally:
        attacker.close()
    # Once the attacker is gone, new clients are accepted again.
    wait_until(lambda: _connects(agent), 15, 0.5, "a new client to connect after the attack")
    client.stop()
    assert agent.alive()


def _connects(agent: Broker) -> bool:
    fresh = Paho(agent, client_id=uid("fresh"))
    try:
        fresh.connect(timeout=2)
        return True
    except (AssertionError, OSError):
        return False
    finally:
        fresh.stop()
