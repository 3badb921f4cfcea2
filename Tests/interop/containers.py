"""The fabric's container backend (issue #16): each gateway's agent and the coordinator run as the
main process of their own podman container (own network, PID, mount and UTS namespaces; own
address and hostname) on a podman network this suite creates.

No image registry is reachable, so there is no image: one root filesystem directory per session
(`bin`, `lib`, `lib64`, `sbin` symlinks into an empty `usr/`), run with `--rootfs DIR` and the
host's `/usr` bound read-only, plus, read-only, the directories of the binaries under test and of
the libraries they link from outside /usr (the Swift runtime), and, read-write and at the same path,
the test's temp directory (data dirs, ready files, configs, certificates, logs). podman is run with
containers.conf from this directory (CONTAINERS_CONF): runc and explicit ulimits, which this
sandbox needs (../../../shared/PLATFORM-NOTES.md, "Real containers with podman").

The host reaches every container through the network's bridge (root only): the test's MQTT
clients connect to a gateway's own address, and a container reaches the host at the bridge's
address. The network is `--internal` (no route out).

A host is two containers: `<name>-net` holds its network namespace (address, fixed MAC) and only
sleeps; `<name>` runs the daemon in that network namespace with its own PID, mount and UTS
namespaces and hostname. So the daemon can be killed and restarted while the host's network stays,
as on a real machine (see ContainerHost).

`ContainerProcess` is what `Broker.proc` / `Coordinator.proc` hold in this backend: the host PID
of the container's main process (from `podman run --pidfile`) behind Popen's poll/wait/
send_signal/kill, so `kill -9` of "the agent" is the agent's death, and a pidfd keeps every signal
on that process only. Everything made here is removed by name at the end: containers when their
fleet closes, the network and the root filesystem when the session ends.
"""

from __future__ import annotations

import ipaddress
import os
import random
import select
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

CONF = Path(__file__).with_name("containers.conf")
PODMAN = shutil.which("podman") or "podman"
PREFIX = f"fg-e2e-{os.getpid()}"  # every container and the network are named with this prefix


def podman(*args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    """One podman call, bounded. On the deadline podman gets SIGQUIT (Go prints every goroutine's
    stack) and the error carries the end of that, to say where it was stuck."""
    p = subprocess.Popen([PODMAN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "CONTAINERS_CONF": str(CONF)})
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGQUIT)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        raise RuntimeError(f"podman {' '.join(args[:2])} stuck for {timeout}s; its goroutines:\n{err[-3000:]}")
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return r


def build_rootfs(root: Path) -> Path:
    """The image without a registry: an empty `usr/` (the host's is bound over it) and the
    merged-/usr symlinks; the mount points podman and the binds need are made by runc."""
    (root / "usr").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "etc", "tmp", "run", "var"):
        (root / d).mkdir()
    for d in ("bin", "lib", "lib64", "sbin"):
        (root / d).symlink_to(f"usr/{d}")
    return root


def library_dirs(binaries) -> set[str]:
    """Directories of the shared libraries the binaries load from outside the host's /usr (the
    Swift runtime in /opt/swift here), found with ldd, to bind read-only."""
    dirs = set()
    for b in binaries:
        out = subprocess.run(["ldd", str(b)], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            parts = line.split("=>")
            if len(parts) == 2 and parts[1].strip().startswith("/"):
                d = str(Path(parts[1].split()[0]).resolve().parent)
                if not d.startswith(("/usr/", "/lib", "/bin", "/sbin")):
                    dirs.add(d)
    return dirs


class ContainerProcess:
    """A container's main process as the host sees it, with the part of subprocess.Popen the
    suite uses. Signals go through a pidfd (never to a reused PID); the exit status is podman's
    (128 + n for a signal, reported here as -n like Popen)."""

    # The PID the process sees for itself (PID namespace): what it writes into its ready file.
    ready_pid = 1

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self.pidfd = os.pidfd_open(pid)
        self.returncode: int | None = None

    def _exited(self, timeout: float) -> bool:
        return bool(select.select([self.pidfd], [], [], timeout)[0])

    def _collect(self) -> int:
        code = int(podman("wait", self.name, timeout=15).stdout.strip() or "0")
        self.returncode = -(code - 128) if code > 128 else code
        os.close(self.pidfd)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None and self._exited(0):
            self._collect()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._exited(timeout):
                raise subprocess.TimeoutExpired(self.name, timeout)
            self._collect()
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ContainerSite:
    """The session's podman network, root filesystem and address book. open() makes them and
    starts one throwaway container to prove containers run here; it returns (None, why) if not."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.rootfs = workdir / "rootfs"
        self.network = f"{PREFIX}-net"
        self.subnet: ipaddress.IPv4Network | None = None
        self.free: list[str] = []
        self.containers: set[str] = set()   # made and not yet removed
        self.removals: list[subprocess.Popen] = []   # `podman rm` of released hosts' daemons, still running
        # Hosts whose network holder is up and that no fleet uses: the next fleet takes them, so a
        # holder starts once per role and session, not once per test.
        self.idle: list[ContainerHost] = []
        self.version = ""
        self.counter = 0

    @classmethod
    def open(cls, workdir: Path) -> tuple["ContainerSite | None", str]:
        if os.geteuid() != 0:
            return None, "not root (the host reaches containers through the network's bridge)"
        if not shutil.which("podman"):
            return None, "podman is not installed (apt-get install podman runc)"
        site = cls(workdir)
        try:
            site._create()
            site._probe()
        except (OSError, subprocess.SubprocessError, RuntimeError) as e:
            site.close()
            return None, str(e).strip().splitlines()[-1][:300]
        return site, f"podman {site.version}, runc, network {site.network} {site.subnet}"

    def _create(self):
        self.version = podman("version", "--format", "{{.Client.Version}}").stdout.strip()
        build_rootfs(self.rootfs)
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=5).stdout
        octets = [a for a in range(1, 255) if f"10.232.{a}." not in used]
        random.shuffle(octets)
        for a in octets[:8]:  # another session's network may hold a subnet: podman refuses it
            # DNS stays on: an --internal network without it gets no address on the host's bridge,
            # and the host could not reach the containers at all
            r = podman("network", "create", "--internal", "--subnet", f"10.232.{a}.0/24", self.network, check=False)
            if r.returncode == 0:
                self.subnet = ipaddress.ip_network(f"10.232.{a}.0/24")
                self.free = [str(self.subnet[i]) for i in range(2, 255)]
                return
        raise RuntimeError(f"podman network create failed: {r.stderr.strip()[-300:]}")

    def _probe(self):
        name = f"{PREFIX}-probe"
        self.containers.add(name)
        podman("run", "--rm", "--name", name, "--network", self.network, "-v", "/usr:/usr:ro",
               "--rootfs", str(self.rootfs), "true", timeout=60)
        self.containers.discard(name)

    @property
    def bridge_addr(self) -> str:
        """The host, as a container reaches it."""
        return str(self.subnet[1])

    def host(self, label: str, hostname: str, binds: list[tuple[str, str]]) -> "ContainerHost":
        """A host for one fleet: an idle one of the same role (its network kept, cleared of cuts),
        else a new one. Its daemon's container gets a name no earlier fleet used."""
        self.counter += 1
        h = next((h for h in self.idle if h.label == label), None)
        if h is not None:
            self.idle.remove(h)
        else:
            h = ContainerHost(self, label, self.free.pop(0), f"{PREFIX}-{label}-{self.counter}-net")
        h.name, h.hostname, h.binds = f"{PREFIX}-{self.counter}-{label}", hostname, binds
        return h

    def start(self, hosts: list["ContainerHost"]):
        """Brings the hosts' networks up in parallel (one podman run each, at the same time)."""
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(h.up) for h in hosts]:
                f.result()

    def release(self, hosts: list["ContainerHost"]):
        """Removes the hosts' daemon containers (one podman call, not waited for: the next fleet
        names its daemons afresh; close() waits for it) and keeps their networks for the next
        fleet, cuts restored."""
        names = [h.name for h in hosts if h.name in self.containers]
        if names:
            self.removals.append(subprocess.Popen([PODMAN, "rm", "-f", "-t", "0", "--ignore", *names],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                  env={**os.environ, "CONTAINERS_CONF": str(CONF)}))
        for h in hosts:
            self.containers.discard(h.name)
            h.proc = None
            if h.holder_pid is not None:
                h.restore()
                self.idle.append(h)
            else:
                self.free.append(h.ip)

    def close(self):
        for p in self.removals:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        self.removals.clear()
        if self.containers:
            podman("rm", "-f", "-t", "0", "--ignore", "--depend", *sorted(self.containers), check=False, timeout=60)
            self.containers.clear()
        if self.subnet is not None:
            podman("network", "rm", "-f", self.network, check=False)
            self.subnet = None
        shutil.rmtree(self.rootfs, ignore_errors=True)


class ContainerHost:
    """One test host: a fixed address and network namespace, held by a `<name>-net` container
    whose main process only sleeps, and the daemon's container `<name>` (own PID, mount and UTS
    namespaces, the hostname) joined to that network namespace, its main process (re)started with
    run(). The daemon can die and restart while the host's network stays, as on a real machine:
    what it wrote before it died (FIN, relayed bytes) still leaves, a cut stays cut, and peers'
    ARP entries stay right. Plays the part of fabric.NetNS for the tests: dev_ns_addr is the
    host's own address, dev_root_addr the suite's host as seen from it."""

    def __init__(self, site: ContainerSite, label: str, ip: str, holder: str):
        self.site, self.label, self.ip, self.holder = site, label, ip, holder
        # the daemon's container and what it gets: set by ContainerSite.host for each fleet
        self.name, self.hostname, self.binds = "", "", []
        self.holder_pid: int | None = None
        self.dev_ns_addr = ip
        self.dev_root_addr = site.bridge_addr
        self.proc: ContainerProcess | None = None
        self.cut_from: str | None = None   # the peer whose packets are dropped, while cut

    def _container(self, name: str, network: list[str], extra: list[str], cmd: list[str]) -> int:
        """podman run -d; returns the host PID of its main process."""
        pidfile = self.site.workdir / f"{name}.pid"
        pidfile.unlink(missing_ok=True)
        self.site.containers.add(name)
        # 30 s: under the tests' 60 s timeout, so a stuck run fails with its stacks (see podman())
        podman("run", "-d", "--name", name, *network, "--pidfile", str(pidfile), "-v", "/usr:/usr:ro", *extra,
               "--rootfs", str(self.site.rootfs), *cmd, timeout=30)
        return int(pidfile.read_text().strip())

    def up(self):
        """Starts the host's network holder (its address and a fixed MAC, locally administered and
        derived from the address, so an address always has the same MAC in the suite)."""
        if self.holder_pid is None:
            mac = "02:fb:" + ":".join(f"{int(o):02x}" for o in self.ip.split("."))
            self.holder_pid = self._container(self.holder, ["--network", self.site.network, "--ip", self.ip,
                                                            "--mac-address", mac], [], ["sleep", "infinity"])

    def run(self, cmd: list[str], log: Path, nofile: int | None = None) -> ContainerProcess:
        """Starts `cmd` as this container's main process (a new container under the same name,
        address and binds; `sh` execs it after pointing its output at `log`)."""
        self.up()
        if self.proc is not None:
            podman("rm", "-f", "-t", "0", self.name, check=False)
        extra = ["--hostname", self.hostname]
        for src, mode in self.binds:
            extra += ["-v", f"{src}:{src}:{mode}"]
        if nofile is not None:
            extra += ["--ulimit", f"nofile={nofile}:{nofile}"]
        pid = self._container(self.name, ["--network", f"container:{self.holder}"], extra,
                              ["/bin/sh", "-c", f'exec "$0" "$@" >>{shlex.quote(str(log))} 2>&1', *cmd])
        self.proc = ContainerProcess(self.name, pid)
        return self.proc

    def _drop(self, peer: str, op: str):
        for chain, side in (("INPUT", "-s"), ("OUTPUT", "-d")):
            subprocess.run(["nsenter", "-t", str(self.holder_pid), "-n",
                            "iptables", "-w", op, chain, side, peer, "-j", "DROP"],
                           check=True, capture_output=True, timeout=10)

    def cut(self, peer: str):
        """Every packet between this host and `peer` is dropped, in the host's network namespace
        (like a pulled uplink cable: no reset, the ends notice by their timeouts; devices still
        reach the host). Stays cut across restarts of the daemon, until restore()."""
        self.up()
        self._drop(peer, "-I")
        self.cut_from = peer

    def restore(self):
        peer, self.cut_from = self.cut_from, None
        if peer is not None:
            self._drop(peer, "-D")
