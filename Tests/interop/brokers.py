"""Start, stop, restart and kill the broker under test as a real child process.

FLEETGATE_PEER=fleetgate (default) runs the agent binary and reads its ready.json;
FLEETGATE_PEER=mosquitto runs the Debian mosquitto with an equivalent mosquitto.conf.
Only processes started here are ever signalled, always by PID.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PEER = os.environ.get("FLEETGATE_PEER", "fleetgate").strip().lower()
if PEER not in ("fleetgate", "mosquitto"):
    raise RuntimeError(f"FLEETGATE_PEER must be 'fleetgate' or 'mosquitto', not {PEER!r}")

REPO = Path(__file__).resolve().parents[2]
FLEETGATE_AGENT = Path(os.environ.get("FLEETGATE_AGENT", REPO / ".build/debug/fleetgate-agent"))
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass
class BrokerConfig:
    """The knobs of the agent's YAML config that the suite uses (and their mosquitto twins)."""
    max_keepalive: int = 60
    receive_maximum: int = 20
    max_packet_size: int = 1_048_576
    max_queued_messages: int = 100
    topic_alias_maximum: int = 10
    deny_subscribe: list = field(default_factory=lambda: ["forbidden/#"])
    sys_interval: int = 1
    # Fleetgate only: topic aliases the broker uses towards clients (off by default)
    outbound_topic_alias_maximum: int = 0
    # mosquitto: raise its fd limit (used by the 10k-connection test); fleetgate: set the agent's
    # soft *and* hard limit (it raises its soft limit to the hard one at start; test_dos_fds.py)
    nofile: int | None = None
    # Fleetgate only (device security, issue #3): the `tls:`, `auth:` and `policies:` sections as
    # dicts (written as YAML flow mappings). `tls` set adds an mqtts listener on 127.0.0.1:0;
    # `auth` None keeps the suite's default (anonymous allowed).
    tls: dict | None = None
    auth: dict | None = None
    policies: dict | None = None
    extra_args: list = field(default_factory=list)
    # Fleetgate only (fabric tests, fabric.py): the MQTT listener address, a command prefix (e.g.
    # `ip netns exec NS`, which execs the agent so the PID stays the agent's) and raw YAML appended
    # to the config (e.g. the `coordinator:` section).
    listen: str = "127.0.0.1:0"
    command_prefix: list = field(default_factory=list)
    extra_yaml: str = ""
    # Fleetgate only: more keys of the `limits:` section (e.g. {"max_sessions": 3})
    extra_limits: dict = field(default_factory=dict)
    # Fleetgate only: how the agent's command is started, spawn(cmd, log_path, nofile) -> a
    # Popen-like process (default: a child process here); the fabric's container backend makes it
    # a container's main process (containers.py).
    spawn: object = None

    def agent_yaml(self) -> str:
        deny = ", ".join(json.dumps(d) for d in self.deny_subscribe)
        return (
            "limits:\n"
            f"  max_keepalive: {self.max_keepalive}\n"
            f"  receive_maximum: {self.receive_maximum}\n"
            f"  max_packet_size: {self.max_packet_size}\n"
            f"  max_queued_messages: {self.max_queued_messages}\n"
            f"  topic_alias_maximum: {self.topic_alias_maximum}\n"
            f"  outbound_topic_alias_maximum: {self.outbound_topic_alias_maximum}\n"
            + "".join(f"  {k}: {v}\n" for k, v in self.extra_limits.items()) +
            "policy:\n"
            f"  deny_subscribe: [{deny}]\n"
            f"sys_interval: {self.sys_interval}\n"
            # anonymous access is off by default; this suite tests the protocol, not authentication
            # (the security tests pass their own `auth`)
            + (f"auth: {json.dumps(self.auth)}\n" if self.auth is not None else
               "auth:\n  allow_anonymous: true\n")
            + (f"listeners: [{{mqtts: \"127.0.0.1:0\"}}]\ntls: {json.dumps(self.tls)}\n"
               if self.tls is not None else "")
            + (f"policies: {json.dumps(self.policies)}\n" if self.policies is not None else "")
            + self.extra_yaml
        )

    def mosquitto_conf(self, port: int, tmp: Path) -> str:
        return (
            f"per_listener_settings false\n"
            # as root mosquitto would drop to user 'mosquitto' and lose access to the tmpdir
            + (f"user root\n" if os.geteuid() == 0 else "") +
            f"allow_anonymous true\n"
            f"persistence true\n"
            f"persistence_location {tmp}/\n"
            f"autosave_interval 1800\n"
            f"log_dest file {tmp}/mosquitto.log\n"
            f"log_type all\n"
            f"max_keepalive {self.max_keepalive}\n"
            # mosquitto advertises max_inflight_messages as its v5 Receive Maximum and
            # enforces it on inbound QoS>0 too; it is also its outbound window.
            f"max_inflight_messages {self.receive_maximum}\n"
            f"max_packet_size {self.max_packet_size}\n"
            f"max_queued_messages {self.max_queued_messages}\n"
            f"sys_interval {self.sys_interval}\n"
            f"acl_file {tmp}/acl\n"
            f"listener {port} 127.0.0.1\n"
            f"max_connections -1\n"
            f"max_topic_alias {self.topic_alias_maximum}\n"
        )

    def mosquitto_acl(self) -> str:
        lines = [f"topic deny {d}" for d in self.deny_subscribe]
        lines += ["topic readwrite #", "topic read $SYS/#"]
        return "\n".join(lines) + "\n"


def nofile_limit(n: int | None):
    """A preexec_fn that sets RLIMIT_NOFILE (soft and hard) to n in the child; None: no change."""
    if n is None:
        return None

    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One broker instance on one data directory; can be restarted on the same directory."""

    def __init__(self, tmp: Path, config: BrokerConfig):
        self.peer = PEER
        self.tmp = Path(tmp)
        self.data_dir = self.tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.port: int = 0
        self.tls_port: int = 0  # the first "mqtts" listener of ready.json (fleetgate, tls set)
        self.sockets_port: int = 0  # the first "sockets" listener of ready.json (fleetgate)
        self.host = "127.0.0.1"
        self.starts = 0
        self._stderr = None

    # -- lifecycle
    def start(self) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        self._stderr = open(self.tmp / f"stderr.{self.starts}.log", "wb")
        if self.peer == "fleetgate":
            self._start_fleetgate()
        else:
            self._start_mosquitto()
        return self

    def _start_fleetgate(self) -> None:
        if not FLEETGATE_AGENT.exists():
            raise RuntimeError(
                f"fleetgate-agent not found at {FLEETGATE_AGENT}; build it (swift build) or set "
                "FLEETGATE_AGENT, or run the suite with FLEETGATE_PEER=mosquitto")
        ready = self.tmp / "ready.json"
        ready.unlink(missing_ok=True)
        cfg = self.tmp / "agent.yaml"
        cfg.write_text(self.config.agent_yaml())
        cmd = [*self.config.command_prefix, str(FLEETGATE_AGENT), "--listen", self.config.listen, "--data-dir", str(self.data_dir),
               "--ready-file", str(ready), "--log-level", "info", "--config", str(cfg),
               *self.config.extra_args]
        if self.config.spawn is not None:
            self.proc = self.config.spawn(cmd, Path(self._stderr.name), self.config.nofile)
        else:
            self.proc = subprocess.Popen(cmd, stdout=self._stderr, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=nofile_limit(self.config.nofile))
        # the PID the agent sees for itself (1 in a container's PID namespace)
        own_pid = getattr(self.proc, "ready_pid", self.proc.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleetgate-agent exited with {self.proc.returncode} before "
                                   f"ready:\n{self.log_tail()}")
            if ready.exists():
                try:
                    info = json.loads(ready.read_text())
                    host, _, port = info["mqtt"][0].rpartition(":")
                    assert info["pid"] == own_pid, f"ready.json pid {info['pid']}"
                    self.host, self.port = host, int(port)
                    if info.get("mqtts"):
                        self.tls_port = int(info["mqtts"][0].rpartition(":")[2])
                    if info.get("sockets"):  # managed sockets (issue #14)
                        self.sockets_port = int(info["sockets"][0].rpartition(":")[2])
                    return
                except (ValueError, KeyError, IndexError):
                    pass  # written non-atomically? keep polling until the deadline
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"fleetgate-agent not ready within {START_TIMEOUT}s:\n{self.log_tail()}")

    def _start_mosquitto(self) -> None:
        if not self.port:
            self.port = free_port()
        conf = self.tmp / "mosquitto.conf"
        conf.write_text(self.config.mosquitto_conf(self.port, self.data_dir))
        (self.data_dir / "acl").write_text(self.config.mosquitto_acl())
        cmd = [MOSQUITTO, "-c", str(conf)]
        if self.config.nofile:
            cmd = ["sh", "-c", f'ulimit -n {self.config.nofile} && exec "$0" "$@"', *cmd]
        self.proc = subprocess.Popen(cmd, stdout=self._stderr, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            if port_accepts(self.port):
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto not listening within {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), bounded; SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
            raise AssertionError(f"{self.peer} ignored SIGTERM for {STOP_TIMEOUT}s")

    def kill(self) -> None:
        """Crash: SIGKILL by PID."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)

    def restart(self, crash: bool = False) -> "Broker":
        self.kill() if crash else self.stop()
        return self.start()

    def sighup(self) -> None:
        """Reload (TLS certificate and key, password file): SIGHUP by PID."""
        assert self.alive(), "broker not running"
        self.proc.send_signal(signal.SIGHUP)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        out = []
        for f in sorted(self.tmp.glob("stderr.*.log")):
            out.append(f.read_bytes()[-n:].decode(errors="replace"))
        mlog = self.data_dir / "mosquitto.log"
        if mlog.exists():
            out.append(mlog.read_bytes()[-n:].decode(errors="replace"))
        return "\n".join(out)

    @property
    def mosquitto(self) -> bool:
        return self.peer == "mosquitto"
