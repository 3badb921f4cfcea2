"""Issue #16: the built `fleetgate` CLI against a real coordinator with a real agent joined.

Each command runs as the operator would run it (a child process, its stdout, stderr and exit
status), and what it changed is checked through the admin API itself, not through the CLI. One
fleet (coordinator + gw-1) serves the whole module. The binary is found next to FLEETGATE_AGENT
(the same .build/debug folder); `swift build` builds it.

Exit statuses (README, `fleetgate --help`): 0 ok, 1 usage, 2 unreachable, 3 auth, 4 not found,
5 refused, 6 server, 7 no such endpoint.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from brokers import FLEETGATE_AGENT, PEER
from fabric import Fleet, netns_wanted
from support import uid

pytestmark = pytest.mark.fleetgate_only

CLI = FLEETGATE_AGENT.parent / "fleetgate"
RUN_TIMEOUT = 20  # seconds for any one CLI run: a hung CLI fails the test instead of the suite


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """One coordinator and one agent (gw-1) for the module: the commands only read or undo what
    they change, so they can share it (and the file stays well under 30 s)."""
    if PEER != "fleetgate":
        pytest.skip("the CLI needs a fleetgate coordinator")
    assert CLI.exists(), f"fleetgate not found at {CLI}; build it (swift build) next to FLEETGATE_AGENT"
    want, reason = netns_wanted()
    f = Fleet(tmp_path_factory.mktemp("cli"), want, reason)
    try:
        f.start(1)
        yield f
    finally:
        crashed = f.close()
        assert not crashed, "\n".join(crashed)


def cli_env(extra: dict | None = None) -> dict:
    """The test process's environment without the CLI's own variables (the suite itself uses
    FLEETGATE_COORDINATOR for the coordinator binary's path), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLEETGATE_COORDINATOR", "FLEETGATE_TOKEN_FILE")}
    env.update(extra or {})
    return env


def run(fleet, *args, token: str | None = "admin", base: str | None = None, env: dict | None = None,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    """`fleetgate --coordinator BASE --token-file FILE ARGS...` (token: "admin", "read", a path,
    or None for no --token-file); bounded by RUN_TIMEOUT."""
    co = fleet.coordinator
    files = {"admin": co.admin_token_file, "read": co.read_token_file}
    argv = [str(CLI), "--coordinator", base or co.http_base]
    if token is not None:
        argv += ["--token-file", str(files.get(token, token))]
    p = subprocess.run(argv + list(args), capture_output=True, timeout=RUN_TIMEOUT, env=cli_env(env), input=input)
    p.out, p.err = p.stdout.decode(), p.stderr.decode()
    return p


def table_rows(text: str) -> list[list[str]]:
    """The rows of a table as lists of cells (columns are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_gateways_list_as_table_and_json(fleet):
    p = run(fleet, "gateways", "list")
    assert p.returncode == 0, p.err
    rows = table_rows(p.out)
    assert rows[0][:3] == ["GATEWAY", "STATE", "LINK"], p.out
    gw = [r for r in rows if r[0] == "gw-1"]
    assert len(gw) == 1 and gw[0][1] == "active" and gw[0][2] == "up", p.out

    # --json before or after the noun: the API's own answer, for scripts.
    for args in (["--json", "gateways", "list"], ["gateways", "list", "--json"]):
        p = run(fleet, *args)
        assert p.returncode == 0, p.err
        printed = json.loads(p.out)
        api = fleet.coordinator.get("/v1/gateways")
        assert [(g["id"], g["state"], g["connected"], g["mqtt_address"]) for g in printed["gateways"]] == \
               [(g["id"], g["state"], g["connected"], g["mqtt_address"]) for g in api["gateways"]]


def test_gateways_show_and_an_unknown_gateway(fleet):
    p = run(fleet, "gateways", "show", "gw-1")
    assert p.returncode == 0, p.err
    fields = dict(line.split(":", 1) for line in p.out.splitlines() if ":" in line and not line.startswith(" "))
    assert fields["gateway"].strip() == "gw-1" and fields["state"].strip() == "active"
    assert fields["software"].strip().startswith("fleetgate-agent")
    assert fields["mqtt address"].strip() == fleet.coordinator.gateway_info("gw-1")["mqtt_address"]
    p = run(fleet, "--json", "gateways", "show", "gw-1")
    assert p.returncode == 0 and json.loads(p.out)["id"] == "gw-1"

    p = run(fleet, "gateways", "show", "no-such-gateway")
    assert p.returncode == 4 and p.out == "", (p.returncode, p.out, p.err)
    assert "not_found" in p.err and "no-such-gateway" in p.err


def test_drain_then_resume_are_visible_in_the_api(fleet):
    co = fleet.coordinator
    # The read token cannot drain: auth status, and nothing changed.
    p = run(fleet, "gateways", "drain", "gw-1", token="read")
    assert p.returncode == 3 and "403" in p.err, (p.returncode, p.err)
    assert co.gateway_info("gw-1")["state"] == "active"

    p = run(fleet, "gateways", "drain", "gw-1", "--rate", "50")
    try:
        assert p.returncode == 0 and "draining" in p.out, (p.returncode, p.out, p.err)
        info = co.gateway_info("gw-1")
        assert info["state"] == "draining" and info["drain"]["rate"] == 50, info
        # The drain shows in the CLI's own view of the gateway too.
        assert "draining" in run(fleet, "gateways", "show", "gw-1").out
    finally:
        p = run(fleet, "gateways", "resume", "gw-1")
    assert p.returncode == 0 and p.out.strip() == "gw-1: active", (p.returncode, p.out, p.err)
    info = co.gateway_info("gw-1")
    assert info["state"] == "active" and info.get("drain") is None, info

    # A connected gateway is not removed: conflict, refused status.
    p = run(fleet, "gateways", "remove", "gw-1")
    assert p.returncode == 5 and "gateway_connected" in p.err, (p.returncode, p.err)
    assert "gw-1" in co.gateways()


def test_graph(fleet):
    p = run(fleet, "graph")
    assert p.returncode == 0, p.err
    node_table, edge_table = p.out.split("\n\n")
    nodes = {r[0]: r for r in table_rows(node_table)}
    assert nodes["gw-1"][1:3] == ["gateway", "active"] and nodes["coordinator"][1] == "coordinator", p.out
    edges = table_rows(edge_table)
    assert edges[0][:2] == ["SOURCE", "TARGET"] and any(r[:4] == ["gw-1", "coordinator", "coordinator", "up"] for r in edges), p.out
    printed = json.loads(run(fleet, "--json", "graph").out)
    assert {n["id"] for n in printed["nodes"]} == {n["id"] for n in fleet.coordinator.get("/v1/graph")["nodes"]}


def test_interest(fleet):
    base = uid("cli")
    sub = fleet.client("gw-1")
    sub.connect()
    assert sub.subscribe(f"{base}/+/temp", qos=1) == [1]
    fleet.wait_interest(f"{base}/room1/temp", {"gw-1"})

    p = run(fleet, "interest", f"{base}/room1/temp")
    assert p.returncode == 0, p.err
    assert ["gw-1", f"{base}/+/temp"] in table_rows(p.out), p.out
    # Characters that mean something in a URL query reach the coordinator as written.
    odd = f"{base}/a&b=c d%20?x"
    p = run(fleet, "--json", "interest", odd)
    assert p.returncode == 0 and json.loads(p.out) == {"topic": odd, "gateways": []}, (p.out, p.err)
    p = run(fleet, "interest", f"{base}/other")
    assert p.returncode == 0 and "no gateway has interest" in p.out
    # A wildcard is not a topic name: the coordinator refuses it.
    p = run(fleet, "interest", f"{base}/+/temp")
    assert p.returncode == 5 and "invalid_topic" in p.err, (p.returncode, p.err)


def test_mappings_put_list_delete(fleet, tmp_path):
    co = fleet.coordinator
    name = uid("m").replace("-", "_")
    doc = {"endpoint": {"url": "http://127.0.0.1:9/fn", "headers": {}, "timeout_ms": 5000},
           "events": ["open", "data", "close"], "receive": {"delimiter": "\n"}, "reply": "write",
           "on_error": "close", "max_concurrency": 8}
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(doc))

    p = run(fleet, "mappings", "put", name, "--file", str(path))
    assert p.returncode == 0, p.err
    stored = co.get("/v1/mappings")["mappings"][name]
    assert stored["endpoint"]["url"] == doc["endpoint"]["url"] and stored["receive"]["delimiter"] == "\n"

    rows = table_rows(run(fleet, "mappings", "list").out)
    assert [r for r in rows if r[0] == name] == [[name, "http://127.0.0.1:9/fn", "open,data,close",
                                                  'delimiter "\\n", max 64 KiB', "write"]], rows
    assert json.loads(run(fleet, "--json", "mappings").out)["mappings"][name] == stored

    # From stdin; invalid: the coordinator's 400 names the field, refused status.
    p = run(fleet, "mappings", "put", name + "x", "--file", "-", input=json.dumps({**doc, "reply": "shout"}).encode())
    assert p.returncode == 5 and "reply" in p.err, (p.returncode, p.err)
    assert name + "x" not in co.get("/v1/mappings")["mappings"]

    p = run(fleet, "mappings", "delete", name)
    assert p.returncode == 0, p.err
    assert name not in co.get("/v1/mappings")["mappings"]
    p = run(fleet, "mappings", "delete", name)
    assert p.returncode == 4, (p.returncode, p.err)


def test_auth_failures_have_the_auth_status(fleet, tmp_path):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    p = run(fleet, "gateways", "list", token=str(wrong))
    assert p.returncode == 3 and "401" in p.err and p.out == "", (p.returncode, p.out, p.err)
    p = run(fleet, "gateways", "list", token=None)
    assert p.returncode == 3 and "FLEETGATE_TOKEN_FILE" in p.err, (p.returncode, p.err)
    # The read token reads.
    assert run(fleet, "gateways", "list", token="read").returncode == 0


def test_an_unreachable_coordinator_has_the_connection_status(fleet):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    started = time.monotonic()
    p = run(fleet, "gateways", "list", base=f"http://127.0.0.1:{port}")
    assert p.returncode == 2 and "cannot reach" in p.err, (p.returncode, p.err)
    assert time.monotonic() - started < 10


def test_environment_defaults_and_usage_errors(fleet):
    co = fleet.coordinator
    env = {"FLEETGATE_COORDINATOR": co.http_base, "FLEETGATE_TOKEN_FILE": str(co.read_token_file)}
    p = subprocess.run([str(CLI), "gateways"], capture_output=True, timeout=RUN_TIMEOUT, env=cli_env(env))
    assert p.returncode == 0 and b"gw-1" in p.stdout, p.stderr
    # A flag wins over the environment.
    p = subprocess.run([str(CLI), "--coordinator", "http://127.0.0.1:1", "gateways"], capture_output=True,
                       timeout=RUN_TIMEOUT, env=cli_env(env))
    assert p.returncode == 2, p.stderr
    assert run(fleet, "gateways", "drain", "gw-1", "--rate", "0").returncode == 1
    assert run(fleet, "no-such-noun").returncode == 1
    v = run(fleet, "--version")
    assert v.returncode == 0 and v.out.startswith("fleetgate "), v.out
    c = subprocess.run([str(CLI), "--generate-completion-script", "bash"], capture_output=True, timeout=RUN_TIMEOUT)
    assert c.returncode == 0 and b"complete " in c.stdout and b"_fleetgate" in c.stdout, c.stdout[-300:]


def test_top_prints_each_frame(fleet):
    started = time.monotonic()
    p = run(fleet, "top", "--iterations", "2")
    assert p.returncode == 0, p.err
    rows = [line for line in p.out.splitlines() if line.split(" ", 1)[0] == "gw-1"]
    assert len(rows) == 2 and all("active" in r for r in rows), p.out
    assert p.out.count("fleetgate top") == 2
    assert 0.9 < time.monotonic() - started < 10  # one second between the frames
    p = run(fleet, "--json", "top", "--iterations", "3", "--interval", "0.2")
    frames = [json.loads(line) for line in p.out.splitlines()]
    assert p.returncode == 0 and len(frames) == 3 and all(f["gateways"][0]["id"] == "gw-1" for f in frames)


def test_top_stops_cleanly_on_ctrl_c(fleet):
    co = fleet.coordinator
    proc = subprocess.Popen([str(CLI), "--coordinator", co.http_base, "--token-file", str(co.read_token_file), "top"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        seen = b""
        deadline = time.monotonic() + 10
        while b"gw-1" not in seen:  # the first frame is on screen
            assert time.monotonic() < deadline, f"no frame from top: {seen!r}"
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_maintenance_migrations_and_sockets(fleet):
    co = fleet.coordinator
    op = uid("op")
    p = run(fleet, "--json", "maintenance", "create", "--operation", op, "--gateway", "gw-1")
    assert p.returncode == 0, p.err
    run_id = json.loads(p.out)["id"]
    assert any(r["id"] == run_id and r["operation"] == op for r in co.get("/v1/maintenance")["runs"])
    p = run(fleet, "maintenance", "show", run_id)
    assert p.returncode == 0 and op in p.out and any(r[0] == "gw-1" for r in table_rows(p.out)), p.out
    assert any(r[0] == run_id for r in table_rows(run(fleet, "maintenance", "list").out))
    p = run(fleet, "maintenance", "cancel", run_id)
    assert p.returncode == 0 and p.out.startswith(f"run {run_id}: "), (p.out, p.err)
    assert run(fleet, "maintenance", "pause", "no-such-run").returncode == 4
    # Neither --gateway nor a selector: a usage error, nothing sent.
    assert run(fleet, "maintenance", "create", "--operation", op).returncode == 1

    p = run(fleet, "migrations", "list")
    assert p.returncode == 0, p.err
    p = run(fleet, "migrations", "move", uid("nobody"))
    assert p.returncode == 4 and "unknown_client" in p.err, (p.returncode, p.err)

    p = run(fleet, "sockets", "list")
    assert p.returncode == 0 and p.out.strip() == "no open sockets", (p.out, p.err)
    p = run(fleet, "sockets", "close", "no-such-socket")
    assert p.returncode == 4, (p.returncode, p.err)
