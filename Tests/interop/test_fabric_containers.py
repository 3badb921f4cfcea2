"""Issue #16: on the container backend (fabric.py, containers.py) the coordinator and each gateway
really are separate hosts: their own network, PID, mount and UTS namespaces, the hostname and
address the fleet gave them, and the daemon as the container's main process, so kill -9 of an
agent ends its container. Skipped on the other backends (the summary line says which ran)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from containers import podman
from fabric import fleet_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.fleetgate_only

NAMESPACES = ("net", "pid", "mnt", "uts")


def inside(pid: int, flags: str, *cmd: str) -> str:
    """`cmd` run from the host in the given namespaces of process `pid` (nsenter)."""
    return subprocess.run(["nsenter", "-t", str(pid), flags, *cmd], check=True, capture_output=True,
                          text=True, timeout=10).stdout.strip()


def test_coordinator_and_gateways_each_run_in_their_own_container(fleet_factory):
    fleet = fleet_factory(2)
    if fleet.mode != "containers":
        pytest.skip(f"fabric backend is {fleet.mode}: {fleet.mode_reason}")
    hosts = {"coordinator": (fleet.coordinator.proc, fleet.coordinator_host)}
    hosts.update({gid: (gw.agent.proc, gw.ns) for gid, gw in fleet.gws.items()})
    seen = {kind: {os.readlink(f"/proc/self/ns/{kind}")} for kind in NAMESPACES}
    for hostname, (proc, host) in hosts.items():
        for kind in NAMESPACES:
            ns = os.readlink(f"/proc/{proc.pid}/ns/{kind}")
            assert ns not in seen[kind], f"{hostname} shares its {kind} namespace ({ns}) with the suite or another host"
            seen[kind].add(ns)
        # PID 1 of its own PID namespace: the daemon is the container's main process
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        nspid = next(line for line in status if line.startswith("NSpid:"))
        assert nspid.split()[-1] == "1", (hostname, nspid)
        assert inside(proc.pid, "-u", "hostname") == hostname
        assert f" {host.ip}/" in inside(proc.pid, "-n", "ip", "-4", "-o", "addr", "show"), hostname
        # its root is the session's root filesystem, not the host's
        assert os.stat(f"/proc/{proc.pid}/root").st_ino != os.stat("/").st_ino or \
            os.stat(f"/proc/{proc.pid}/root").st_dev != os.stat("/").st_dev, hostname
    assert fleet.gws["gw-1"].agent.host == fleet.gws["gw-1"].ns.ip

    # kill -9 of the agent ends its container; a restart is a new one at the same address
    fleet.stop_agent("gw-2", kill9=True)
    name = fleet.gws["gw-2"].ns.name
    state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split()
    assert state == ["exited", "137"], state
    fleet.start_agent("gw-2")
    assert fleet.gws["gw-2"].agent.host == fleet.gws["gw-2"].ns.ip
    assert podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "running"
