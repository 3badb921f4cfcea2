"""Issue #16: the C example client of Protocol/examples/c, built here with gcc under the flags
the Makefile uses, run against a real agent (--listen-sockets) whose mapping calls a real local
HTTP endpoint (test_sockets.Endpoint, which answers each record with "<record>!"). What a
firmware author copies must work: the echo comes back, and a refusal is reported as ERR."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from certs import passwd
from support import wait_until
from test_sockets import Endpoint, agent_with, mapping  # noqa: F401 (Endpoint: the fixture's type)
from test_sockets import endpoint  # noqa: F401 (fixture)

pytestmark = pytest.mark.fleetgate_only

SOURCE = Path(__file__).resolve().parents[2] / "Protocol" / "examples" / "c" / "socket-client.c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]  # the Makefile's EXAMPLE_CFLAGS


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the example client (Debian: apt-get install gcc)"
    out = tmp_path_factory.mktemp("c-client") / "socket-client"
    r = subprocess.run([gcc, *CFLAGS, "-o", str(out), str(SOURCE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"the example does not build warning-free:\n{r.stderr}"
    return out


def run(client: Path, agent, mapping_name: str, records: bytes, *options: str) -> subprocess.CompletedProcess:
    # -w: after its records the client waits until the gateway has been quiet this long; generous,
    # so a loaded machine's slow echo is still printed (it ends sooner if the gateway closes).
    return subprocess.run([str(client), "-w", "8000", *options, "127.0.0.1", str(agent.sockets_port), mapping_name],
                          input=records, capture_output=True, timeout=30)


def test_the_c_client_opens_sends_records_and_prints_the_echo(broker_factory, endpoint, client):
    agent = agent_with(broker_factory, {"meters": mapping(endpoint.url, {"delimiter": "\n"})})
    r = run(client, agent, "meters", b"21.5\n21.7\n", "-c", "meter-7")
    assert r.returncode == 0, r.stderr
    # The OK line's socket id, then the replies in order, unchanged, and nothing else.
    assert r.stderr.startswith(b"open "), r.stderr
    socket_id = r.stderr.split(b"\n")[0][5:].decode()
    assert r.stdout == b"21.5!21.7!"
    opened = endpoint.of(socket_id, "open")
    assert len(opened) == 1 and opened[0]["client"] == "meter-7" and opened[0]["mapping"] == "meters"
    assert [c["body"] for c in endpoint.of(socket_id, "data")] == [b"21.5", b"21.7"]
    # The client closed once the gateway was quiet; the function hears the close event.
    wait_until(lambda: endpoint.of(socket_id, "close"), timeout=10, what="the close event")


def test_the_c_client_reports_err_for_an_unknown_mapping(broker_factory, endpoint, client):
    agent = agent_with(broker_factory, {"meters": mapping(endpoint.url, {"delimiter": "\n"})})
    r = run(client, agent, "nowhere", b"1\n", "-c", "meter-1")
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith(b"refused unknown-mapping "), r.stderr
    assert r.stdout == b"" and endpoint.calls == []


def test_the_c_client_sends_its_password_and_reports_a_wrong_one(broker_factory, endpoint, client, tmp_path):
    passwords = tmp_path / "passwd"
    passwd(passwords, "add", "meter-1", "right")
    agent = agent_with(broker_factory, {"meters": mapping(endpoint.url, {"delimiter": "\n"})},
                       auth={"allow_anonymous": False, "password_file": str(passwords)})
    wrong = run(client, agent, "meters", b"1\n", "-c", "meter-1", "-p", "wrong")
    assert wrong.returncode == 3 and wrong.stderr.startswith(b"refused not-authorized "), wrong.stderr
    right = run(client, agent, "meters", b"7\n", "-c", "meter-1", "-p", "right")
    assert right.returncode == 0 and right.stdout == b"7!", right.stderr
    wait_until(lambda: len(endpoint.calls) == 3, timeout=10, what="the close event")
    assert [(c["event"], c["client"]) for c in endpoint.calls] == [("open", "meter-1"), ("data", "meter-1"), ("close", "meter-1")]


def test_the_c_client_refuses_a_bad_mapping_name_before_connecting(client):
    # Nothing listens on port 9 here (or if it does, we never get that far): the name is checked first.
    r = subprocess.run([str(client), "127.0.0.1", "9", "bad/name"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"mapping" in r.stderr
