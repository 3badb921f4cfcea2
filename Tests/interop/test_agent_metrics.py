"""The agent's Prometheus endpoint (`--metrics HOST:PORT`, issue #16), `--version` of every
executable, and `--log-format json` of the agent and the coordinator, against the built binaries.

The exposition is parsed with prometheus_client's own text parser (PyPI, in requirements.txt):
what Prometheus would read, not a regex of ours."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from brokers import FLEETGATE_AGENT
from coordinators import BINARY as COORDINATOR, TOKEN, Coordinator
from support import V5, fleetgate_only_marks, uid, wait_until

pytestmark = fleetgate_only_marks("the agent's own /metrics endpoint and flags")

BIN = FLEETGATE_AGENT.parent


def metrics_address(broker) -> tuple[str, int]:
    info = json.loads((broker.tmp / "ready.json").read_text())
    host, _, port = info["metrics"].rpartition(":")
    return host, int(port)


def scrape(address) -> dict[str, dict]:
    """{family name: {tuple(sorted labels): value}} through prometheus_client's parser, after
    checking the status and content type a scraper checks."""
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = r.read().decode()
    families = {}
    for f in text_string_to_metric_families(text):
        assert f.documentation, f"{f.name} has no HELP"
        assert f.type in ("counter", "gauge"), f"{f.name}: {f.type}"
        families[f.name] = {tuple(sorted(s.labels.items())): s.value for s in f.samples
                            if not s.name.endswith("_created")}
    # The raw text too: every counter is exposed with its _total name (the parser strips it).
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
    return families


def value(families, name, **labels) -> float:
    return families[name][tuple(sorted(labels.items()))]


def raw_request(address, data: bytes, timeout=5.0) -> bytes:
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.mark.broker_config(extra_args=["--metrics", "127.0.0.1:0"])
def test_counters_move_with_mqtt_traffic(broker, paho):
    address = metrics_address(broker)
    before = scrape(address)
    for name in ["fleetgate_agent_clients_connected", "fleetgate_agent_sessions", "fleetgate_agent_subscriptions",
                 "fleetgate_agent_retained_messages", "fleetgate_agent_inflight_messages", "fleetgate_agent_messages_received",
                 "fleetgate_agent_messages_sent", "fleetgate_agent_bytes_received", "fleetgate_agent_messages_dropped",
                 "fleetgate_agent_migrations", "fleetgate_agent_relayed_bytes", "fleetgate_agent_connections_accepted"]:
        assert name in before, f"{name} missing from the exposition"
    assert "fleetgate_agent_coordinator_link_up" not in before, "stand-alone: no link metrics"

    sub = paho(proto=V5)
    sub.connect()
    sub.subscribe("m/#", qos=1)
    pub = paho()
    pub.connect()
    for i in range(20):
        pub.publish("m/t", f"hello {i}".encode(), qos=1)
    pub.publish("m/retained", b"kept", qos=0, retain=True)
    sub.wait_messages(21, timeout=5)

    after = scrape(address)
    assert value(after, "fleetgate_agent_clients_connected") == 2
    assert value(after, "fleetgate_agent_sessions") >= 2
    assert value(after, "fleetgate_agent_subscriptions") >= value(before, "fleetgate_agent_subscriptions") + 1
    assert value(after, "fleetgate_agent_retained_messages") >= 1
    assert value(after, "fleetgate_agent_messages_received") - value(before, "fleetgate_agent_messages_received") == 21
    assert value(after, "fleetgate_agent_messages_sent") - value(before, "fleetgate_agent_messages_sent") >= 21
    assert value(after, "fleetgate_agent_bytes_received") - value(before, "fleetgate_agent_bytes_received") == sum(len(f"hello {i}") for i in range(20)) + 4
    assert value(after, "fleetgate_agent_connections_accepted") - value(before, "fleetgate_agent_connections_accepted") == 2
    assert value(after, "fleetgate_agent_loop_bytes_written") > value(before, "fleetgate_agent_loop_bytes_written")
    assert value(after, "fleetgate_agent_messages_dropped", reason="queue_full") == 0
    assert value(after, "fleetgate_agent_build_info", version=subprocess.run(
        [str(FLEETGATE_AGENT), "--version"], capture_output=True, text=True).stdout.split()[1]) == 1


@pytest.mark.broker_config(extra_args=["--metrics", "127.0.0.1:0"])
def test_other_paths_methods_and_bad_heads(broker):
    address = metrics_address(broker)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{address[0]}:{address[1]}/", timeout=5)
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(f"http://{address[0]}:{address[1]}/metrics", data=b"x", method="POST"), timeout=5)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
    assert raw_request(address, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw_request(address, b"GET /metrics HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert raw_request(address, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    head = raw_request(address, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), "HEAD: headers only"
    # Still serving after all that.
    assert value(scrape(address), "fleetgate_agent_metrics_requests", code="404") >= 1


@pytest.mark.broker_config(extra_args=["--metrics", "127.0.0.1:0"])
def test_slowloris_is_cut_off_and_the_cap_holds(broker):
    """A client that trickles its head is answered 408 and closed within the 5 s request timeout
    (plus a sweep); clients past the 16-connection cap hear 503 at once; scrapes go on."""
    address = metrics_address(broker)
    slow = socket.create_connection(address, timeout=10)
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    started = time.monotonic()
    got = b""
    try:
        while time.monotonic() - started < 9:
            try:
                slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            slow.settimeout(0.5)
            try:
                chunk = slow.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
    finally:
        slow.close()
    elapsed = time.monotonic() - started
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
    assert 4.5 <= elapsed < 7.5, f"cut off after {elapsed:.1f}s"

    idle = [socket.create_connection(address, timeout=5) for _ in range(16)]
    try:
        # Once the loop has accepted all 16 (a loaded machine may take a moment), the next is refused.
        over = wait_until(lambda: (r := raw_request(address, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 503 ") and r,
                          timeout=5, interval=0.2, what="a 503 past the connection cap")
        assert b"too many" in over
    finally:
        for s in idle:
            s.close()
    def scrape_when_closed():
        try:
            f = scrape(address)
        except urllib.error.HTTPError as e:
            assert e.code == 503, e  # the agent has not seen all 16 closes yet
            return None
        return f if value(f, "fleetgate_agent_metrics_connections_open") <= 1 else None

    families = wait_until(scrape_when_closed, timeout=5, interval=0.1, what="the idle connections to close")
    assert value(families, "fleetgate_agent_metrics_requests", code="408") == 1
    assert value(families, "fleetgate_agent_metrics_requests", code="503") >= 1


def test_metrics_address_is_a_config_key(broker_factory):
    b = broker_factory(extra_yaml="metrics: 127.0.0.1:0\n")
    assert "fleetgate_agent_sessions" in scrape(metrics_address(b))


@pytest.mark.parametrize("name", ["fleetgate-agent", "fleetgate-coordinator", "fleetgate-bench", "fleetgate-fuzz-mqtt"])
def test_version(name):
    exe = BIN / name
    if not exe.exists():
        pytest.skip(f"{exe} not built (swift build --product {name})")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    words = r.stdout.strip().split()
    assert words[0] == name and len(words) == 2 and words[1][0].isdigit(), r.stdout


def parse_json_lines(text: str, what: str) -> list[dict]:
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines, f"{what} wrote nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"{what}: not a JSON line: {line!r}")
    for r in records:
        assert {"ts", "level", "logger", "message"} <= r.keys(), r
        assert r["ts"].endswith("Z")
    return records


def test_log_format_json_for_agent_and_coordinator(tmp_path, broker_factory):
    """Both processes with --log-format json, the agent joined to the coordinator: every line
    either writes is one JSON object; the agent's link state shows in its metrics."""
    if not COORDINATOR.exists():
        pytest.skip(f"{COORDINATOR} not built")
    coordinator = Coordinator(tmp_path / "coordinator", extra_args=["--log-format", "json"]).start()
    try:
        gid = uid("gw")
        agent = broker_factory(extra_args=["--log-format", "json", "--metrics", "127.0.0.1:0", "--gateway-id", gid,
                                           "--coordinator", f"{coordinator.link_host}:{coordinator.link_port}",
                                           "--token-file", str(coordinator.token_file)])
        address = metrics_address(agent)
        wait_until(lambda: value(scrape(address), "fleetgate_agent_coordinator_link_up") == 1, timeout=10, what="link up")
        families = scrape(address)
        assert value(families, "fleetgate_agent_coordinator_link_sessions") >= 1
        agent.stop()
    finally:
        assert coordinator.stop() == 0
    agent_records = parse_json_lines("".join(p.read_text() for p in sorted(agent.tmp.glob("stderr.*.log"))), "agent")
    assert any("listening" in r["message"] for r in agent_records)
    assert any(r["message"] == "stopped" for r in agent_records)
    coordinator_records = parse_json_lines(coordinator.log_path.read_text(), "coordinator")
    assert any(gid in json.dumps(r) for r in coordinator_records), "the coordinator logged the gateway's HELLO"


@pytest.mark.parametrize("exe", [FLEETGATE_AGENT, COORDINATOR], ids=["agent", "coordinator"])
def test_bad_log_format_names_the_flag(exe, tmp_path):
    if not exe.exists():
        pytest.skip(f"{exe} not built")
    r = subprocess.run([str(exe), "--log-format", "xml", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 78
    assert "--log-format" in r.stderr and "text or json" in r.stderr, r.stderr


def test_config_error_is_json_too(tmp_path):
    r = subprocess.run([str(FLEETGATE_AGENT), "--log-format", "json", "--data-dir", str(tmp_path), "--max-sessions", "0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78
    [record] = parse_json_lines(r.stderr, "agent")
    assert record["level"] == "critical" and record["key"] == "--max-sessions"
