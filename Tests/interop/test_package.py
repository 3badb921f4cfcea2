"""`make package`'s tarball, installed into a clean root the way an operator installs it
(`tar -C / -xzf`, `systemd-sysusers`, the secrets Agent/README.md and Coordinator/README.md ask
for): the units pass `systemd-analyze verify`, and the installed coordinator and agent, started
with their units' own ExecStart= lines from the installed example configs, run as the unprivileged
`fleetgate` user in a read-only root, the agent joins the coordinator (GET /v1/gateways) and
serves MQTT (paho round trip with a password from the installed `fleetgate-agent passwd`).

The package is made from the debug build `make test` already built (CONFIGURATION=debug), never
a release build; FLEETGATE_PACKAGE=dist/fleetgate-....tar.gz tests `make package`'s own tarball
instead, without the Swift toolchain in the root (its executables link the runtime statically). The root is a fresh directory: a Debian-shaped skeleton (bin -> usr/bin, ...)
plus the tarball; in_root.sh lays the host's /usr read-only under the package's files inside a
private mount namespace, so the host is never changed. Needs root (mounts, chroot, setpriv), as
`make test` runs; skipped with the reason otherwise. Ports are the only override: port 0 on
loopback, read back from ready files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from brokers import FLEETGATE_AGENT
from support import V5, Paho, fleetgate_only_marks, uid, wait_until

# About 10 s on an idle machine (most of it gzip of ~120 MB of debug executables, in the fixture,
# which counts against the first test); the bound is for a machine shared with builds.
pytestmark = fleetgate_only_marks("tests Fleetgate's own package") + [pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
IN_ROOT = Path(__file__).with_name("in_root.sh")
PREFIX = "/usr/local"
UNIT_DIR = f"{PREFIX}/lib/systemd/system"
UNITS = ("fleetgate-agent.service", "fleetgate-coordinator.service")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

# The secrets an operator creates (Agent/README.md, Coordinator/README.md); made-up values.
FLEET_TOKEN = "fleet-shared-token-7d1c0f2a9b"
GATEWAY_TOKEN = "gw-1-own-token-5e8a2c41f0"
ADMIN_TOKEN = "admin-token-b93e07c5d2"
MQTT_USER, MQTT_PASSWORD = "alice", "alice-password-1"


def need_tools():
    if os.geteuid() != 0:
        pytest.skip("installing into a chroot needs root (mounts, chroot, setpriv); make test runs as root")
    missing = [t for t in ("unshare", "chroot", "systemd-analyze", "systemd-sysusers", "setpriv") if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing host tools: {', '.join(missing)}")


def in_root(root: Path, mode: str, command: list[str], uid_gid: tuple[int, int] | None = None,
            rw: tuple[str, ...] = ()) -> list[str]:
    """argv that runs `command` against the installed root (in_root.sh says how)."""
    # A given (release) package must run without the toolchain: in_root.sh then leaves /opt/swift out.
    toolchain = "0" if os.environ.get("FLEETGATE_PACKAGE") else "1"
    argv = ["env", f"IN_ROOT_TOOLCHAIN={toolchain}", "unshare", "--mount", "--propagation", "private",
            "bash", str(IN_ROOT), str(root), mode]
    if uid_gid:
        argv += ["--uid", str(uid_gid[0]), "--gid", str(uid_gid[1])]
    for d in rw:
        argv += ["--rw", d]
    return argv + ["--"] + command


def make_package(out_dir: Path) -> Path:
    env = dict(os.environ, CONFIGURATION="debug", BUILD_DIR=str(FLEETGATE_AGENT.parent), OUT_DIR=str(out_dir),
               VERSION="0.0.0-test", GZIP_LEVEL="1")
    r = subprocess.run(["bash", str(REPO / "scripts/package.sh")], env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"package.sh failed:\n{r.stdout}\n{r.stderr}"
    tarball = Path(r.stdout.strip().splitlines()[-1])
    assert tarball.name == f"fleetgate-0.0.0-test-linux-{os.uname().machine}.tar.gz", tarball
    return tarball


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(root, tarball): a fresh root skeleton with the package extracted into it as by `tar -C / -xzf`."""
    need_tools()
    tmp = tmp_path_factory.mktemp("package")
    given = os.environ.get("FLEETGATE_PACKAGE")
    tarball = Path(given).resolve() if given else make_package(tmp / "dist")
    root = tmp / "root"
    # What any Debian root has before the package: the usrmerge links and the API mount points.
    for d in ("usr", "etc", "proc", "dev", "tmp", "run", "var/lib"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")
    for node in ("null", "zero", "random", "urandom"):
        (root / "dev" / node).touch()
    (root / "tmp").chmod(0o1777)
    subprocess.run(["tar", "-C", str(root), "-xzf", str(tarball)], check=True)
    return root, tarball


def unit_setting(root: Path, unit: str, key: str) -> list[str]:
    """Every value of `key=` in the installed unit (systemd's own syntax: one per line)."""
    text = (root / UNIT_DIR.lstrip("/") / unit).read_text()
    return [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{key}=")]


def test_tarball_holds_only_fleetgate_paths(installed):
    """`tar -C / -xzf` must not touch the host's shared directories (/, /etc, /usr/local/bin):
    only files, and directories of our own."""
    _, tarball = installed
    with tarfile.open(tarball) as t:
        members = t.getmembers()
    names = {m.name for m in members}
    for m in members:
        assert not m.name.startswith(("/", "./")) and ".." not in m.name.split("/"), m.name
        assert m.uid == 0 and m.gid == 0, (m.name, m.uid, m.gid)
        if m.isdir():
            assert "fleetgate" in m.name, f"shared directory {m.name} in the package"
    for expected in ("usr/local/bin/fleetgate-agent", "usr/local/bin/fleetgate-coordinator",
                     f"{UNIT_DIR.lstrip('/')}/fleetgate-agent.service", f"{UNIT_DIR.lstrip('/')}/fleetgate-coordinator.service",
                     "usr/local/lib/sysusers.d/fleetgate.conf", "etc/fleetgate/agent.yaml", "etc/fleetgate/coordinator.yaml",
                     "usr/local/share/fleetgate/examples/agent.yaml", "usr/local/share/doc/fleetgate/Agent/README.md"):
        assert expected in names, f"{expected} missing from the package: {sorted(names)}"


def verify(root: Path, unit_paths: list[str]) -> subprocess.CompletedProcess:
    command = ["systemd-analyze", "verify", f"--root={root}", "--man=no"] + [str(root) + p for p in unit_paths]
    return subprocess.run(in_root(root, "analyze", command), capture_output=True, text=True, timeout=60)


def test_installed_units_pass_systemd_analyze_verify(installed):
    """verify --root checks the unit syntax, every directive's value, and that ExecStart= and
    ExecReload= name executables that exist in the installed root; any warning fails too."""
    root, _ = installed
    for unit in UNITS:
        assert (root / UNIT_DIR.lstrip("/") / unit).exists(), unit
        program = shlex.split(unit_setting(root, unit, "ExecStart")[0])[0]
        assert (root / program.lstrip("/")).is_file(), f"{unit}: ExecStart names {program}, not in the package"
    r = verify(root, [f"{UNIT_DIR}/{u}" for u in UNITS])
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), f"verify said:\n{r.stdout}{r.stderr}"


# systemd-analyze security's exposure, 0-10 in tenths: the units score 1.4 ("OK"); 2.0 leaves room
# for a deliberate trade-off, while dropping a group of sandbox directives goes well past it.
MAX_EXPOSURE_TENTHS = 20


def test_installed_units_stay_hardened(installed):
    root, _ = installed
    for unit in UNITS:
        command = ["systemd-analyze", "security", "--offline=true", f"--root={root}", f"--threshold={MAX_EXPOSURE_TENTHS}",
                   "--no-pager", f"{root}{UNIT_DIR}/{unit}"]
        r = subprocess.run(in_root(root, "analyze", command), capture_output=True, text=True, timeout=60)
        overall = [line for line in r.stdout.splitlines() if "Overall exposure" in line]
        assert r.returncode == 0 and overall, f"{unit} exposure above {MAX_EXPOSURE_TENTHS / 10}:\n{r.stdout}{r.stderr}"


def test_verify_catches_a_broken_unit(installed):
    """The check above can fail: the agent's unit with a misspelled directive, and with an
    ExecStart= that names no installed file, are both refused."""
    root, _ = installed
    good = (root / UNIT_DIR.lstrip("/") / "fleetgate-agent.service").read_text()
    broken_dir = root / "etc/systemd/system"
    broken_dir.mkdir(parents=True, exist_ok=True)
    cases = {"fleetgate-typo.service": (good.replace("ProtectSystem=strict", "ProtectSytem=strict"), "ProtectSytem"),
             "fleetgate-noexec.service": (good.replace("/bin/fleetgate-agent ", "/bin/fleetgate-agnet "), "fleetgate-agnet")}
    try:
        for name, (text, needle) in cases.items():
            assert text != good
            (broken_dir / name).write_text(text)
            r = verify(root, [f"/etc/systemd/system/{name}"])
            said = r.stdout + r.stderr
            assert needle in said and (r.returncode != 0 or said.strip()), f"{name}: verify did not object:\n{said}"
    finally:
        shutil.rmtree(broken_dir)


def example_keys(yaml_text: str) -> set[str]:
    """Every `key:` the example names, commented out or not."""
    return set(re.findall(r"([a-z_]+):", yaml_text))


def known_keys(*sources: str) -> set[str]:
    """The keys the config readers accept: their `known: [...]` lists and `(known: a, b)` messages."""
    keys: set[str] = set()
    for source in sources:
        text = (REPO / source).read_text()
        for group in re.findall(r"known(?:Keys =|:) \[([^\]]*)\]", text):
            keys |= set(re.findall(r'"([a-z_]+)"', group))
        for group in re.findall(r"\(known: ([a-z_, ]+)\)", text):
            keys |= {k.strip() for k in group.split(",")}
    return keys


@pytest.mark.parametrize("example,sources", [
    ("Agent/agent.yaml", ["Sources/Agent/Config/ConfigFile.swift", "Sources/Agent/Config/SecurityConfigFile.swift",
                          "Sources/Agent/Link/ConfigFile+Coordinator.swift",
                          "Sources/Agent/Maintenance/ConfigFile+Maintenance.swift"]),
    ("Coordinator/coordinator.yaml", ["Sources/Coordinator/Config/ConfigFile.swift"]),
])
def test_example_config_names_every_key(example, sources):
    """The annotated examples list every key their reader accepts, so a new key cannot be
    added without documenting it for operators."""
    accepted = known_keys(*sources)
    assert len(accepted) > 20, f"found only {sorted(accepted)} in {sources}: did the readers change shape?"
    missing = accepted - example_keys((REPO / example).read_text())
    assert not missing, f"{example} does not mention: {sorted(missing)}"


class Service:
    """One installed unit's ExecStart=, run through in_root.sh's `service` mode."""

    def __init__(self, root: Path, unit: str, owner: tuple[int, int], extra: list[str], ready: str, log: Path):
        self.root, self.unit, self.ready = root, unit, ready
        exec_start = unit_setting(root, unit, "ExecStart")
        assert len(exec_start) == 1, exec_start
        state = unit_setting(root, unit, "StateDirectory")
        assert len(state) == 1, state
        # StateDirectory=: systemd creates /var/lib/NAME owned by User= before starting.
        self.state_dir = f"/var/lib/{state[0]}"
        d = root / self.state_dir.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, *owner)
        d.chmod(0o750)
        self.log_path = log
        self.log = open(log, "ab")
        argv = shlex.split(exec_start[0]) + extra + ["--ready-file", ready]
        self.proc = subprocess.Popen(in_root(root, "service", argv, owner, rw=(self.state_dir, str(Path(ready).parent))),
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> dict:
        path = self.root / self.ready.lstrip("/")
        deadline = time.monotonic() + START_TIMEOUT
        while not path.exists():
            assert self.proc.poll() is None, f"{self.unit} exited with {self.proc.returncode}:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"{self.unit} not ready in {START_TIMEOUT}s:\n{self.log_tail()}"
            time.sleep(0.05)
        ready = json.loads(path.read_text())
        assert ready["pid"] == self.proc.pid, (ready, self.proc.pid)
        return ready

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_tail(self, n: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def write_secret(root: Path, path: str, text: str, gid: int):
    """root:fleetgate 0640, as the READMEs ask."""
    p = root / path.lstrip("/")
    p.write_text(text)
    os.chown(p, 0, gid)
    p.chmod(0o640)


def admin_get(http: str, path: str):
    request = urllib.request.Request(f"http://{http}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def test_installed_fleet_starts_from_the_example_configs(installed, tmp_path):
    root, _ = installed
    # The operator's steps after `tar -C / -xzf`: the user, then the secrets the configs name.
    r = subprocess.run(["systemd-sysusers", f"--root={root}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    entry = next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("fleetgate:"))
    owner = (int(entry.split(":")[2]), int(entry.split(":")[3]))
    assert owner[0] != 0 and owner[1] != 0, entry
    write_secret(root, "/etc/fleetgate/fleet-token", FLEET_TOKEN + "\n", owner[1])
    write_secret(root, "/etc/fleetgate/gateway-tokens", f"# gateway token\ngw-1 {GATEWAY_TOKEN}\n", owner[1])
    write_secret(root, "/etc/fleetgate/admin-token", ADMIN_TOKEN + "\n", owner[1])
    write_secret(root, "/etc/fleetgate/gateway-token", GATEWAY_TOKEN + "\n", owner[1])
    r = subprocess.run(in_root(root, "root", [f"{PREFIX}/bin/fleetgate-agent", "passwd", "/etc/fleetgate/passwd", "add", MQTT_USER]),
                       input=MQTT_PASSWORD + "\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"fleetgate-agent passwd failed:\n{r.stdout}{r.stderr}"
    passwd = root / "etc/fleetgate/passwd"
    os.chown(passwd, 0, owner[1])
    passwd.chmod(0o640)
    # Where the test reads the ready files (the only thing not in the installed configs).
    run_dir = root / "run/fleetgate-test"
    run_dir.mkdir(exist_ok=True)
    os.chown(run_dir, *owner)

    coordinator = agent = None
    try:
        coordinator = Service(root, "fleetgate-coordinator.service", owner,
                              ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                              "/run/fleetgate-test/coordinator.json", tmp_path / "coordinator.log")
        c_ready = coordinator.wait_ready()
        agent = Service(root, "fleetgate-agent.service", owner,
                        ["--listen", "127.0.0.1:0", "--coordinator", c_ready["link"]],
                        "/run/fleetgate-test/agent.json", tmp_path / "agent.log")
        a_ready = agent.wait_ready()

        for service in (coordinator, agent):
            status = Path(f"/proc/{service.proc.pid}/status").read_text()
            uids = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
            caps = re.search(r"^CapBnd:\s+([0-9a-f]+)", status, re.M).group(1)
            assert int(uids) == owner[0] and int(caps, 16) == 0, f"{service.unit}: Uid {uids}, CapBnd {caps}"

        def joined():
            gateways = {g["id"]: g for g in admin_get(c_ready["http"], "/v1/gateways")["gateways"]}
            g = gateways.get("gw-1")
            return g if g and g.get("connected") and g["state"] == "active" else None
        try:
            wait_until(joined, timeout=15, interval=0.1, what="gw-1 joined (GET /v1/gateways)")
        except AssertionError:
            raise AssertionError(f"gw-1 did not join:\ncoordinator:\n{coordinator.log_tail()}\nagent:\n{agent.log_tail()}")

        host, port = a_ready["mqtt"][0].rsplit(":", 1)
        broker = SimpleNamespace(host=host, port=int(port))
        sub, pub = Paho(broker, client_id=uid("pkg-sub"), proto=V5), Paho(broker, client_id=uid("pkg-pub"), proto=V5)
        for client in (sub, pub):
            client.c.username_pw_set(MQTT_USER, MQTT_PASSWORD)
            client.connect()
        try:
            assert sub.subscribe("packaged/#", qos=1) == [1]
            pub.publish("packaged/hello", b"from the installed agent", qos=1)
            got = sub.wait_messages(1, topic="packaged/hello")
            assert got[0].payload == b"from the installed agent"
        finally:
            sub.disconnect()
            pub.disconnect()

        # The state went where StateDirectory= and the example configs put it, written as fleetgate.
        for service, db in ((agent, "fleetgate.db"), (coordinator, "coordinator.db")):
            f = root / service.state_dir.lstrip("/") / db
            assert f.exists() and f.stat().st_uid == owner[0], f"{f}: missing or not owned by fleetgate"
    finally:
        codes = {s.unit: (s.stop(), s) for s in (agent, coordinator) if s is not None}
    for unit, (code, service) in codes.items():
        assert code == 0, f"{unit} exited {code} on SIGTERM:\n{service.log_tail()}"
