"""A fleet for the end-to-end fabric tests (issue #4): one real fleetgate-coordinator and N real
fleetgate-agent processes joined to it, every port chosen by the OS and read back from ready files.

Backends, chosen once per session by FLEETGATE_E2E (`containers` | `netns` | `auto`, the default:
containers if podman can start one here, else netns); the terminal summary says which ran and why:

* **containers** (containers.py): the coordinator and each agent are the main process of their own
  podman container (own network, PID, mount and UTS namespaces, hostname `coordinator` / `gw-N`, a
  fixed address on a `--internal` podman network made for the session). The test's clients reach
  them from the host through the network's bridge; a gateway reaches the host at the bridge's
  address (`gw.ns.dev_root_addr`), devices reach it at its own (`gw.ns.dev_ns_addr`). Cutting a
  gateway's link drops every packet between it and the coordinator inside the gateway's network
  namespace (iptables through nsenter), restoring it removes the rule. Signals go to the
  container's main process, so kill -9 of an agent is the agent's death; a restart is a new
  container under the same name and data dir, in the same network namespace (held by a second,
  sleeping container per host), so the host's address, MAC and cuts outlive the daemon.
  Needs root and podman + runc.
* **netns** (root, `ip netns` works, FLEETGATE_FABRIC_NETNS not "0"): each agent runs in its own
  network namespace `fg-test-<pid>-N` (a separate test host), created and deleted here, with two
  veth pairs to the root namespace in 10.231.A.0/24 (A unused on this machine):
  an *uplink* (root 10.231.A.1 / ns 10.231.A.2, /30) used for the coordinator link, and a
  *device LAN* (root 10.231.A.5 / ns 10.231.A.6, /30) on which the agent's MQTT listener sits and
  which the test's MQTT clients use from the root namespace, and other gateways through it (the
  root namespace forwards what arrives on these test veths only). Cutting a gateway's link is
  `ip link set <uplink> down` (devices keep reaching the gateway), restoring it `... up`.
  The coordinator listens on 0.0.0.0:0. Agents are started with `ip netns exec NS fleetgate-agent
  ...`; `ip` execs the agent, so the PID we hold is the agent's (brokers.py checks ready.json's pid).
* **loopback** (netns not possible, or its setup fails; the reason is printed): everything on
  127.0.0.1; an agent created with `proxied=True` reaches the coordinator through `LinkProxy`, a TCP
  proxy in this process whose `cut()` resets every proxied connection and refuses new ones until
  `restore()`.

Only processes started here are signalled, by PID. Every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from brokers import FLEETGATE_AGENT, PEER, Broker, BrokerConfig
from coordinators import BINARY as COORDINATOR_BINARY
from coordinators import READ_TOKEN, Coordinator
from containers import ContainerHost, ContainerSite, library_dirs
from support import Paho, wait_until

SYS = "$SYS/broker/fabric/"


# ----------------------------------------------------------------------------------------- coordinator

class FleetCoordinator(Coordinator):
    """The suite's Coordinator, with a configurable link host and ports that stay fixed across
    restarts (the first start's OS-chosen ports are reused)."""

    def __init__(self, tmp: Path, listen_host: str = "127.0.0.1", container: ContainerHost | None = None, **kw):
        super().__init__(tmp, **kw)
        self.listen_host = listen_host
        # containers backend: the coordinator's own container; its API listens on its address
        self.container = container
        self.http_host = container.ip if container is not None else "127.0.0.1"
        self.http_port = 0

    def spawn(self, args: list[str]):
        if self.container is None:
            return super().spawn(args)
        return self.container.run(args, self.log_path, self.nofile)

    def args(self) -> list[str]:
        a = [str(COORDINATOR_BINARY), "--listen", f"{self.listen_host}:{self.link_port}",
             "--http", f"{self.http_host}:{self.http_port}", "--data-dir", str(self.data_dir),
             "--token-file", str(self.token_file), "--ready-file", str(self.ready_file),
             "--log-level", "debug",
             "--admin-token-file", str(self.admin_token_file), "--read-token-file", str(self.read_token_file)]
        if self.gateway_timeout is not None:
            a += ["--gateway-timeout", str(self.gateway_timeout)]
        return a + self.extra_args

    def start(self) -> "FleetCoordinator":
        super().start()
        self.http_port = int(self.http_base.rsplit(":", 1)[1])
        return self

    def kill9(self) -> None:
        """SIGKILL by PID (in the containers backend: the container's main process, from the host)."""
        assert self.proc is not None and self.proc.poll() is None, "coordinator not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def gateway_info(self, gid: str, token: str = READ_TOKEN) -> dict:
        """GET /v1/gateways/{gid} with the read token (asserts 200)."""
        status, body, _ = self.http("/v1/gateways/" + urllib.parse.quote(gid, safe=""), token=token)
        assert status == 200, (status, body)
        return body

    def interest(self, topic: str) -> set[str]:
        body = self.get("/v1/interest?topic=" + urllib.parse.quote(topic, safe=""))
        return {g["gateway"] for g in body["gateways"]}

    def metrics(self) -> dict[str, float]:
        status, text, _ = self.http("/metrics")
        assert status == 200
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out


# ----------------------------------------------------------------------------------------- link proxy

class LinkProxy:
    """TCP proxy agent -> coordinator on loopback. cut(): reset every connection and refuse new
    ones (accept + RST) until restore()."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.is_cut = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.closed = False
        self.accepted = 0
        threading.Thread(target=self._accept_loop, daemon=True, name="link-proxy").start()

    @staticmethod
    def _reset(s: socket.socket):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.is_cut:
                self._reset(c)
                continue
            try:
                u = socket.create_connection(self.target, timeout=2)
                u.settimeout(None)
            except OSError:
                self._reset(c)
                continue
            with self.lock:
                self.pairs.append((c, u))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        socks = [a, b]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 0.5)
                if self.closed:
                    break
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("eof")
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            self._reset(a)
            self._reset(b)
            with self.lock:
                if (a, b) in self.pairs:
                    self.pairs.remove((a, b))

    def cut(self):
        self.is_cut = True
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            self._reset(a)
            self._reset(b)

    def restore(self):
        self.is_cut = False

    def close(self):
        self.closed = True
        self.cut()
        self.lsock.close()


# ----------------------------------------------------------------------------------------- netns

def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def netns_wanted() -> tuple[bool, str]:
    if os.environ.get("FLEETGATE_FABRIC_NETNS", "") == "0":
        return False, "FLEETGATE_FABRIC_NETNS=0"
    if os.geteuid() != 0:
        return False, "not root"
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"`ip netns list` failed: {e}"
    return True, "root and ip netns available"


class NetNS:
    """One test host: namespace + uplink veth + device-LAN veth (see the module doc)."""

    def __init__(self, index: int, octet: int):
        tag = f"{os.getpid() % 100000}{index}"
        self.name = f"fg-test-{os.getpid()}-{index}"
        self.up_root = f"fg{tag}u"      # <= 15 chars
        self.dev_root = f"fg{tag}d"
        self.octet = octet
        self.up_root_addr = f"10.231.{octet}.1"
        self.up_ns_addr = f"10.231.{octet}.2"
        self.dev_root_addr = f"10.231.{octet}.5"
        self.dev_ns_addr = f"10.231.{octet}.6"
        self.created = False

    def create(self) -> "NetNS":
        _run("ip", "netns", "add", self.name)
        self.created = True
        x = ["ip", "netns", "exec", self.name]
        _run(*x, "ip", "link", "set", "lo", "up")
        for root, peer, raddr, naddr in ((self.up_root, "uplink0", self.up_root_addr, self.up_ns_addr),
                                         (self.dev_root, "devlan0", self.dev_root_addr, self.dev_ns_addr)):
            _run("ip", "link", "add", root, "type", "veth", "peer", "name", peer, "netns", self.name)
            _run("ip", "addr", "add", f"{raddr}/30", "dev", root)
            _run("ip", "link", "set", root, "up")
            _run(*x, "ip", "addr", "add", f"{naddr}/30", "dev", peer)
            _run(*x, "ip", "link", "set", peer, "up")
        # Gateways reach each other's device LANs (a relayed migration dials the target's
        # advertised address) through the root namespace, which forwards only what arrives on
        # this test's own device-LAN veths (per-interface forwarding; the host's stays off).
        _run("sysctl", "-qw", f"net.ipv4.conf.{self.dev_root}.forwarding=1")
        _run(*x, "ip", "route", "add", "10.231.0.0/16", "via", self.dev_root_addr, "dev", "devlan0")
        return self

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def cut(self):
        _run("ip", "link", "set", self.up_root, "down")

    def restore(self):
        _run("ip", "link", "set", self.up_root, "up")

    def delete(self):
        for dev in (self.up_root, self.dev_root):
            subprocess.run(["ip", "link", "del", dev], capture_output=True, timeout=10)
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


def _free_octets(n: int) -> list[int]:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=5).stdout
    free = [a for a in range(1, 255) if f"10.231.{a}." not in used]
    random.shuffle(free)
    if len(free) < n:
        raise RuntimeError("no free 10.231.A.0/24 left")
    return free[:n]


# ----------------------------------------------------------------------------------------- backend

E2E_CHOICES = ("containers", "netns", "auto")


class E2ESession:
    """The session's backend (FLEETGATE_E2E), decided at its first fleet and said in the terminal
    summary (conftest.py). Owns the container site (network, root filesystem) until the session
    ends, so the rootfs is built and the network made once, not per test."""

    def __init__(self):
        self.requested = os.environ.get("FLEETGATE_E2E", "auto").strip().lower() or "auto"
        self.kind: str | None = None
        self.reason = ""   # why containers were (podman's version, the network) or were not used
        self.site: ContainerSite | None = None
        self.workdir: Path | None = None
        self.modes: dict[str, int] = {}   # fleets started per mode (netns may fall back to loopback)
        self.why: dict[str, str] = {}     # per mode, the first such fleet's reason
        self._libs: set[str] | None = None

    def decide(self) -> str:
        if self.kind is None:
            if self.requested not in E2E_CHOICES:
                self.kind, self.reason = "error", f"FLEETGATE_E2E={self.requested!r}: want one of {E2E_CHOICES}"
            elif self.requested == "netns":
                self.kind, self.reason = "netns", "containers not requested"
            else:
                self.site, why = ContainerSite.open(self.workdir)
                if self.site is not None:
                    self.kind, self.reason = "containers", why
                elif self.requested == "containers":
                    self.kind, self.reason = "error", f"FLEETGATE_E2E=containers but containers cannot start here: {why}"
                else:
                    self.kind, self.reason = "netns", f"containers not used: {why}"
        if self.kind == "error":
            pytest.fail(self.reason, pytrace=False)
        return self.kind

    def binds(self, shared: Path) -> list[tuple[str, str]]:
        """What every container of a fleet gets besides the host's /usr: the binaries under test
        and their libraries read-only, the test's temp directory read-write (same paths)."""
        if self._libs is None:
            self._libs = library_dirs([FLEETGATE_AGENT, COORDINATOR_BINARY])
        ro = {str(FLEETGATE_AGENT.parent), str(COORDINATOR_BINARY.parent), *self._libs}
        return [(d, "ro") for d in sorted(ro)] + [(str(shared), "rw")]

    def started(self, fleet: "Fleet"):
        self.modes[fleet.mode] = self.modes.get(fleet.mode, 0) + 1
        self.why.setdefault(fleet.mode, fleet.mode_reason)

    def summary(self) -> str | None:
        if not self.modes:
            return None
        ran = "; ".join(f"{m} ({n} fleet{'s' if n > 1 else ''}): {self.why[m]}" for m, n in sorted(self.modes.items()))
        return f"fabric e2e backend: {ran} [FLEETGATE_E2E={self.requested}]"

    def close(self):
        if self.site is not None:
            self.site.close()
            self.site = None


# The one per session; conftest.py's e2e_backend fixture gives it a work dir and closes it.
SESSION = E2ESession()


# ----------------------------------------------------------------------------------------- metrics

class SysReader:
    """A paho client subscribed to $SYS/broker/fabric/# on one agent: the latest value of every
    fabric counter and how many samples of it arrived."""

    def __init__(self, client: Paho):
        self.client = client
        client.connect()
        client.subscribe(SYS + "#", qos=0)

    def _samples(self, name: str) -> list:
        with self.client.cond:
            return [m for m in self.client.messages if m.topic == SYS + name]

    def count(self, name: str) -> int:
        return len(self._samples(name))

    def value(self, name: str) -> int | None:
        s = self._samples(name)
        return int(s[-1].payload) if s else None

    def wait_fresh(self, name: str, timeout: float = 5.0) -> int:
        """Waits for a sample published after this call (sys_interval is 1 s) and returns it."""
        n = self.count(name)
        wait_until(lambda: self.count(name) > n + 1, timeout, what=f"two fresh samples of {SYS}{name}")
        return self.value(name)

    def wait_value(self, name: str, pred, timeout: float = 10.0, what: str = "") -> int:
        wait_until(lambda: self.value(name) is not None and pred(self.value(name)), timeout,
                   what=f"{SYS}{name} {what} (last {self.value(name)})")
        return self.value(name)


# ----------------------------------------------------------------------------------------- fleet

@dataclasses.dataclass
class Gateway:
    id: str
    agent: Broker
    ns: NetNS | ContainerHost | None = None   # the gateway's own host (netns or container backend)
    proxy: LinkProxy | None = None
    sys: SysReader | None = None


# ----------------------------------------------------------------------------------------- link TLS

LINK_TLS_NAME = "coordinator.fleet"  # the coordinator certificate's DNS name; agents verify it


def link_certs(dir: Path, gateway_ids) -> "Certs":
    """The suite's test CA (certs.py) plus a coordinator certificate for LINK_TLS_NAME and one
    client certificate per gateway whose CN is the gateway id (what mutual TLS checks)."""
    from certs import Certs
    certs = Certs(dir)
    (certs.dir / "coordinator.ext").write_text(f"subjectAltName=DNS:{LINK_TLS_NAME}\nextendedKeyUsage=serverAuth\n")
    certs.issue("coordinator", LINK_TLS_NAME, "coordinator.ext")
    for gid in gateway_ids:
        certs.issue(gid, gid, "client.ext")
    return certs


class Fleet:
    def __init__(self, tmp: Path, netns: bool, reason: str, gateway_timeout: float = 3.0,
                 link_tls: bool = False, coordinator_yaml: str | None = None,
                 site: ContainerSite | None = None, binds: list | None = None):
        self.tmp = tmp
        # containers backend: the session's site, the binds of every container, and the
        # coordinator's container (gateways' containers are their Gateway.ns)
        self.site = site
        self.binds = binds or []
        self.coordinator_host: ContainerHost | None = None
        self.container_hosts: list[ContainerHost] = []   # all of them, released at close
        # The coordinator's YAML config file (--config), when given.
        self.coordinator_yaml = coordinator_yaml
        # Mutual TLS on every agent link (coordinator --link-tls-*, agents coordinator.tls).
        self.link_tls = link_tls
        self.certs = None
        self.netns = netns
        self.mode_reason = reason
        self.gateway_timeout = gateway_timeout
        self.coordinator: FleetCoordinator | None = None
        self.gws: dict[str, Gateway] = {}
        self.clients: list[Paho] = []
        self.namespaces: list[NetNS] = []

    @property
    def mode(self) -> str:
        return "containers" if self.site is not None else "netns" if self.netns else "loopback"

    def coordinator_addr_for(self, gw: Gateway) -> str:
        if self.coordinator_host is not None:
            return f"{self.coordinator_host.ip}:{self.coordinator.link_port}"
        if gw.proxy is not None:
            return f"127.0.0.1:{gw.proxy.port}"
        if gw.ns is not None:
            return f"{gw.ns.up_root_addr}:{self.coordinator.link_port}"
        return f"127.0.0.1:{self.coordinator.link_port}"

    def _agent_config(self, gw: Gateway, agent_cfg: dict) -> BrokerConfig:
        # "link_extra": more keys (YAML lines, indented two spaces) for the coordinator section;
        # "yaml_for": a function of the gateway id giving more top-level YAML for that agent.
        agent_cfg = dict(agent_cfg)
        link_extra = agent_cfg.pop("link_extra", "")
        yaml_for = agent_cfg.pop("yaml_for", None)
        yaml = ("coordinator:\n"
                f"  address: {json.dumps(self.coordinator_addr_for(gw))}\n"
                f"  gateway_id: {json.dumps(gw.id)}\n"
                f"  token_file: {json.dumps(str(self.coordinator.token_file))}\n"
                "  reconnect_min_ms: 100\n"
                "  reconnect_max_ms: 1000\n" + link_extra)
        if yaml_for is not None:
            yaml += yaml_for(gw.id)
        if self.certs is not None:
            yaml += ("  tls: {" + f"ca: {json.dumps(str(self.certs.ca))}, cert: {json.dumps(str(self.certs.pem(gw.id)))}, "
                     f"key: {json.dumps(str(self.certs.key(gw.id)))}, server_name: {json.dumps(LINK_TLS_NAME)}" + "}\n")
        cfg = dataclasses.replace(BrokerConfig(), **{"max_queued_messages": 100_000, "receive_maximum": 100,
                                                     "extra_yaml": yaml, **agent_cfg})
        if isinstance(gw.ns, ContainerHost):
            cfg = dataclasses.replace(cfg, listen=f"{gw.ns.ip}:0", spawn=gw.ns.run)
        elif gw.ns is not None:
            cfg = dataclasses.replace(cfg, listen=f"{gw.ns.dev_ns_addr}:0", command_prefix=gw.ns.prefix())
        return cfg

    def start(self, n: int, proxied=(), agent_cfg: dict | None = None) -> "Fleet":
        hosts = []
        if self.site is not None:
            self.coordinator_host = self.site.host("coordinator", "coordinator", self.binds)
            hosts = [self.site.host(f"gw-{i}", f"gw-{i}", self.binds) for i in range(1, n + 1)]
            self.container_hosts = [self.coordinator_host, *hosts]
            self.site.start(self.container_hosts)
        elif self.netns:
            try:
                octets = _free_octets(n)
                for i in range(1, n + 1):
                    ns = NetNS(i, octets[i - 1])
                    self.namespaces.append(ns)
                    ns.create()
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                err = getattr(e, "stderr", b"") or b""
                self.mode_reason = f"netns setup failed ({e} {err.decode(errors='replace')}); loopback instead"
                print(f"[fabric] {self.mode_reason}")
                self._delete_namespaces()
                self.netns = False
        print(f"[fabric] mode: {self.mode} ({self.mode_reason})")
        extra = []
        if self.link_tls:
            self.certs = link_certs(self.tmp / "link-certs", [f"gw-{i}" for i in range(1, n + 1)])
            extra = ["--link-tls-cert", str(self.certs.pem("coordinator")), "--link-tls-key",
                     str(self.certs.key("coordinator")), "--link-tls-client-ca", str(self.certs.ca)]
        if self.coordinator_yaml is not None:
            self.tmp.mkdir(parents=True, exist_ok=True)
            path = self.tmp / "coordinator.yaml"
            path.write_text(self.coordinator_yaml)
            extra += ["--config", str(path)]
        listen_host = self.coordinator_host.ip if self.coordinator_host else "0.0.0.0" if self.netns else "127.0.0.1"
        self.coordinator = FleetCoordinator(self.tmp / "coordinator", listen_host=listen_host,
                                            container=self.coordinator_host,
                                            gateway_timeout=self.gateway_timeout, extra_args=extra).start()
        for i in range(1, n + 1):
            gid = f"gw-{i}"
            gw = Gateway(gid, None, ns=hosts[i - 1] if hosts else self.namespaces[i - 1] if self.netns else None)
            if gw.ns is None and gid in proxied:
                gw.proxy = LinkProxy("127.0.0.1", self.coordinator.link_port)
            gw.agent = Broker(self.tmp / gid, self._agent_config(gw, agent_cfg or {})).start()
            self.gws[gid] = gw
        self.wait_connected()
        for gw in self.gws.values():
            gw.sys = SysReader(self.client(gw.id, client_id=f"sys-{gw.id}-{os.getpid()}"))
        return self

    # -- helpers
    def client(self, gid: str, **kw) -> Paho:
        c = Paho(self.gws[gid].agent, **kw)
        self.clients.append(c)
        return c

    def connected(self) -> dict[str, bool]:
        try:
            return {g: v["connected"] for g, v in self.coordinator.gateways().items()}
        except (OSError, AssertionError):
            return {}

    def wait_connected(self, gids=None, timeout: float = 15.0):
        gids = list(gids or self.gws)
        wait_until(lambda: all(self.connected().get(g) for g in gids), timeout, interval=0.05,
                   what=f"{gids} connected at the coordinator (now {self.connected()})")

    def wait_interest(self, topic: str, gids, origin: str | None = None, timeout: float = 10.0):
        """Bounded: the coordinator's interest for `topic` is exactly `gids`; then, if `origin` is
        given, one fresh $SYS sample on the origin (its REMOTE_INTEREST delta is sent before the
        coordinator answers HTTP, so a sample taken afterwards reflects it)."""
        want = set(gids)
        wait_until(lambda: self.coordinator.interest(topic) == want, timeout, interval=0.05,
                   what=f"interest in {topic!r} == {sorted(want)} (now {sorted(self.coordinator.interest(topic))})")
        if origin is not None:
            self.gws[origin].sys.wait_fresh("interest/remote")

    def metric(self, gid: str, name: str) -> int | None:
        return self.gws[gid].sys.value(name)

    def stop_agent(self, gid: str, kill9: bool = False):
        """Stops one gateway's agent: SIGTERM (bounded), or SIGKILL with kill9, and waits for the
        coordinator to see it down. Its data dir is kept; its $SYS reader is stopped (start_agent
        attaches a new one)."""
        gw = self.gws[gid]
        gw.agent.kill() if kill9 else gw.agent.stop()
        if gw.sys is not None:
            gw.sys.client.c.loop_stop()
        self.wait_down(gid)

    def start_agent(self, gid: str, timeout: float = 20.0):
        """Starts a stopped agent again on its data dir (its MQTT port may change: clients read it
        from the Broker at connect), waits for its link and attaches a fresh $SYS reader."""
        gw = self.gws[gid]
        gw.agent.start()
        self.wait_connected([gid], timeout=timeout)
        gw.sys = SysReader(self.client(gid, client_id=f"sys-{gid}-{os.getpid()}-{gw.agent.starts}"))

    def wait_down(self, gid: str, timeout: float = 15.0):
        """Bounded: the coordinator reports `gid` not connected."""
        wait_until(lambda: self.connected().get(gid) is False, timeout, interval=0.05,
                   what=f"the coordinator to see {gid} down (now {self.connected()})")

    def cut(self, gid: str):
        gw = self.gws[gid]
        if isinstance(gw.ns, ContainerHost):
            gw.ns.cut(self.coordinator_host.ip)
        else:
            (gw.ns or gw.proxy).cut()

    def restore(self, gid: str):
        gw = self.gws[gid]
        (gw.ns or gw.proxy).restore()

    def logs(self) -> str:
        out = [f"--- coordinator\n{self.coordinator.log_tail(40)}" if self.coordinator else ""]
        for gw in self.gws.values():
            out.append(f"--- {gw.id}\n{gw.agent.log_tail(3000)}")
        return "\n".join(out)

    # -- teardown
    def _delete_namespaces(self):
        for ns in self.namespaces:
            ns.delete()
        self.namespaces = []

    def close(self) -> list[str]:
        crashed = []
        for c in self.clients:
            try:
                c.c.disconnect()
            except Exception:
                pass
            c.c.loop_stop()
        for gw in self.gws.values():
            a = gw.agent
            if a.proc is not None and a.proc.poll() is not None and a.proc.returncode not in (0, -9, -15):
                crashed.append(f"{gw.id} exited with {a.proc.returncode}:\n{a.log_tail()}")
            try:
                a.stop()
            except AssertionError as e:
                crashed.append(f"{gw.id}: {e}")
            if gw.proxy:
                gw.proxy.close()
        co = self.coordinator
        if co is not None and co.proc is not None:
            if co.proc.poll() is not None and co.proc.returncode not in (0, -9, -15):
                crashed.append(f"coordinator exited with {co.proc.returncode}:\n{co.log_tail()}")
            elif co.proc.poll() is None:
                code = co.stop()
                if code != 0:
                    crashed.append(f"coordinator exited {code} on SIGTERM:\n{co.log_tail()}")
        self._delete_namespaces()
        if self.site is not None:
            self.site.release(self.container_hosts)
        return crashed


@pytest.fixture
def fleet_factory(tmp_path, e2e_backend):
    """fleet_factory(n=3, proxied=(), gateway_timeout=3.0, agent_cfg=None, link_tls=False,
    coordinator_yaml=None) -> started Fleet, links connected and $SYS readers attached
    (coordinator_yaml: the text of the coordinator's --config file), on the session's backend
    (e2e_backend). Torn down (processes by PID, namespaces deleted, containers removed by name) at
    the end; a process that crashed during the test fails it with its log."""
    if PEER != "fleetgate":
        pytest.skip("fabric tests need fleetgate agents")
    fleets: list[Fleet] = []

    def make(n: int = 3, proxied=(), gateway_timeout: float = 3.0, agent_cfg: dict | None = None,
             link_tls: bool = False, coordinator_yaml: str | None = None) -> Fleet:
        if e2e_backend.decide() == "containers":
            want, reason = False, e2e_backend.reason
            site, binds = e2e_backend.site, e2e_backend.binds(tmp_path)
        else:
            want, reason = netns_wanted()
            reason = f"{reason}; {e2e_backend.reason}"
            site, binds = None, None
        f = Fleet(tmp_path / f"fleet{len(fleets)}", want, reason, gateway_timeout, link_tls, coordinator_yaml,
                  site=site, binds=binds)
        fleets.append(f)
        f.start(n, proxied=proxied, agent_cfg=agent_cfg)
        e2e_backend.started(f)
        return f

    yield make
    crashed = []
    for f in fleets:
        crashed += f.close()
    assert not crashed, "\n".join(crashed)


@pytest.fixture
def fleet(fleet_factory) -> Fleet:
    return fleet_factory(3)
