"""Start, stop and restart the coordinator under test as a real child process, read its ready
file, talk to its HTTP API (urllib) and open link connections (fleetframes). Only processes
started here are ever signalled, always by PID.

FLEETGATE_COORDINATOR overrides the binary (default <repo>/.build/debug/fleetgate-coordinator).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from brokers import nofile_limit
from fleetframes import HELLO_ACK, REMOTE_INTEREST, FleetClient, hello

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("FLEETGATE_COORDINATOR", REPO / ".build/debug/fleetgate-coordinator"))
TOKEN = b"s3cret-fleet-token"
# Admin API bearer tokens (--admin-token-file / --read-token-file); every call here sends the
# admin token unless told otherwise.
ADMIN_TOKEN = "admin-0f3c9a-token"
READ_TOKEN = "read-77b1e2-token"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class Coordinator:
    def __init__(self, tmp: Path, gateway_timeout: float | None = None, extra_args=(), nofile: int | None = None,
                 allow_new_gateways: bool = True):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp / "data"
        self.token_file = tmp / "token"
        self.token_file.write_bytes(TOKEN + b"\n")
        self.admin_token_file = tmp / "admin-token"
        self.admin_token_file.write_text(ADMIN_TOKEN + "\n")
        self.read_token_file = tmp / "read-token"
        self.read_token_file.write_text(READ_TOKEN + "\n")
        self.ready_file = tmp / "ready.json"
        self.log_path = tmp / "coordinator.log"
        self.gateway_timeout = gateway_timeout
        self.extra_args = list(extra_args) + (["--allow-new-gateways"] if allow_new_gateways else [])
        # RLIMIT_NOFILE (soft and hard) of the child, for the descriptor-exhaustion tests
        self.nofile = nofile
        self.proc: subprocess.Popen | None = None
        self.link_host = self.http_base = None
        self.link_port = 0

    def args(self) -> list[str]:
        a = [str(BINARY), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(self.data_dir),
             "--token-file", str(self.token_file), "--ready-file", str(self.ready_file), "--log-level", "debug",
             "--admin-token-file", str(self.admin_token_file), "--read-token-file", str(self.read_token_file)]
        if self.gateway_timeout is not None:
            a += ["--gateway-timeout", str(self.gateway_timeout)]
        return a + self.extra_args

    def start(self) -> "Coordinator":
        if self.ready_file.exists():
            self.ready_file.unlink()
        self.log = open(self.log_path, "ab")
        self.proc = self.spawn(self.args())
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"coordinator exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"coordinator not ready within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.02)
        ready = json.loads(self.ready_file.read_text())
        # the PID the coordinator sees for itself (1 in a container's PID namespace)
        assert ready["pid"] == getattr(self.proc, "ready_pid", self.proc.pid)
        host, port = ready["link"].rsplit(":", 1)
        self.link_host, self.link_port = host, int(port)
        self.http_base = "http://" + ready["http"]
        return self

    def spawn(self, args: list[str]):
        """Starts the coordinator's command (a Popen-like process); the fabric's container backend
        runs it as a container's main process instead (fabric.py)."""
        return subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=nofile_limit(self.nofile))

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"coordinator did not stop within {STOP_TIMEOUT}s:\n{self.log_tail()}")

    def restart(self) -> "Coordinator":
        assert self.stop() == 0
        return self.start()

    def log_tail(self, n=60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # ---- HTTP

    def http(self, path: str, method: str = "GET", token: str | None = ADMIN_TOKEN) -> tuple[int, dict | str, str]:
        """(status, parsed JSON or text, content type) for `method` on path, with `token` as the
        bearer token (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        request = urllib.request.Request(self.http_base + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        text = body.decode()
        return status, (json.loads(text) if ctype.startswith("application/json") else text), ctype

    def send_json(self, path: str, body, method: str = "POST", token: str | None = ADMIN_TOKEN) -> tuple[int, dict]:
        """(status, parsed JSON) for `method` on path with `body` as JSON (bytes go as they are;
        None sends no body)."""
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.http_base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def get(self, path: str):
        status, body, _ = self.http(path)
        assert status == 200, (status, body)
        return body

    def gateways(self) -> dict:
        return {g["id"]: g for g in self.get("/v1/gateways")["gateways"]}

    def wait_for(self, predicate, what: str, timeout: float = 5.0):
        """Polls `predicate()` (bounded) until truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    # ---- link

    def connect(self, timeout: float = 5.0, ssl_context=None, server_hostname=None) -> FleetClient:
        return FleetClient(self.link_host, self.link_port, timeout, ssl_context, server_hostname)

    def gateway(self, gateway_id: str, token: bytes = TOKEN, **hello_kw) -> "Gateway":
        """A fake agent after HELLO / HELLO_ACK / REMOTE_INTEREST snapshot."""
        c = self.connect()
        c.send(hello(gateway_id, token, **hello_kw))
        ack = c.recv_kind(HELLO_ACK)
        snap = c.recv_kind(REMOTE_INTEREST)
        assert snap["form"] == "snapshot" and snap["last"], snap.fields
        return Gateway(gateway_id, c, ack, snap)


class Gateway:
    def __init__(self, gid, client, ack, remote_snapshot):
        self.id, self.c, self.ack, self.remote = gid, client, ack, remote_snapshot

    def send(self, data: bytes):
        self.c.send(data)

    def recv(self, kind, timeout=None):
        return self.c.recv_kind(kind, timeout)

    def close(self):
        self.c.close()


@pytest.fixture
def coordinator_factory(tmp_path):
    """coordinator_factory(gateway_timeout=None) -> started Coordinator; stopped at teardown and
    required to exit 0 on SIGTERM."""
    started: list[Coordinator] = []

    def make(**kw) -> Coordinator:
        c = Coordinator(tmp_path / f"coordinator{len(started)}", **kw)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        if c.proc is not None and c.proc.poll() is None:
            code = c.stop()
            assert code == 0, f"coordinator exited {code} on SIGTERM:\n{c.log_tail()}"


@pytest.fixture
def coordinator(coordinator_factory) -> Coordinator:
    return coordinator_factory()
