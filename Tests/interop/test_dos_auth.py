"""Issue #10 §3.3-§3.5: what unauthenticated clients may cost the agent. Each test attacks the
built binary the way the issue describes and fails against the agent before the fix:

* abandoned logins: 500 wrong-password CONNECTs sent and closed at once kept both cores busy for
  ~23 s and a correct login took 24 s (bounded verification queue, skipped abandoned checks,
  per-address failure delay);
* partial CONNECTs: 3,000 sockets each announcing a 1 MiB CONNECT took the agent to 3 GB RSS
  (small pre-CONNECT packet limit, global pre-authentication byte budget);
* `limits.max_sessions`: the session that would pass it is refused (0x97 / 0x03); resuming an
  existing session or taking one over is not.

Fleetgate-only: these limits are Fleetgate's own. Traffic goes to 127.0.0.1 only; every loop is
bounded in count and time; sockets are closed at the end of each test."""

from __future__ import annotations

import os
import socket
import time

import pytest

import mqttraw as m
from certs import passwd, read_sys
from support import PROTOS, V5, V311, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("pre-authentication limits and max_sessions (issue #10)")

OTHER_HOST = "127.0.0.2"  # another loopback address: a legitimate device on another host


@pytest.fixture
def pwfile(tmp_path):
    f = tmp_path / "passwd"
    passwd(f, "add", "alice", "alice-pw")
    return f


def proc_status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field (VmRSS, VmHWM) in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads: the password workers included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poll_sys(client: m.RawClient, topic: str, predicate, timeout: float = 5.0) -> bool:
    """Whether a $SYS value satisfies predicate within timeout: the broker publishes $SYS every
    sys_interval (1 s here), so a counter read at once may predate the event. Bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = read_sys(client, topic)
        if predicate(value):
            return True
        if time.monotonic() > deadline:
            print(f"{topic} = {value}")
            return False
        time.sleep(0.3)


def timed_login(port: int, proto: int, source: str | None, timeout: float) -> float:
    """Seconds from sending a correct CONNECT to its CONNACK 0x00."""
    c = m.RawClient(port, proto, source=source, timeout=timeout)
    try:
        start = time.monotonic()
        c.connect(uid("good"), username="alice", password=b"alice-pw", timeout=timeout)
        return time.monotonic() - start
    finally:
        c.close()


# -- §3.3 abandoned logins ----------------------------------------------------------------------

# "wide": the queue's bounds opened so far that all 500 are admitted; only skipping abandoned
# checks then keeps the CPU down (the default bounds alone refuse most of them as busy).
WIDE_QUEUE = {"max_queued_password_checks": 1000, "max_password_checks_per_address": 1000}


@pytest.mark.parametrize("limits", [{}, WIDE_QUEUE], ids=["default", "wide-queue"])
@pytest.mark.parametrize("proto", PROTOS)
def test_correct_login_under_abandoned_login_attack(broker_factory, pwfile, proto, limits):
    b = broker_factory(auth={"password_file": str(pwfile)}, extra_limits=limits)
    pid = b.proc.pid
    cpu_before = cpu_seconds(pid)
    start = time.monotonic()
    sent = 0
    for i in range(500):  # the attack: 500 wrong-password CONNECTs, each closed at once
        if time.monotonic() - start > 10:
            break
        s = socket.create_connection((b.host, b.port), timeout=5)
        try:
            s.sendall(m.connect(uid("bad"), proto=proto, username="alice", password=b"not-the-password"))
            sent += 1
        except OSError:
            pass  # refused and closed already: fine
        s.close()
    attack = time.monotonic() - start
    assert sent >= 450, f"only {sent} attack CONNECTs went out"

    # Acceptance bound of issue #10 (a correct login under this attack takes under 1 s), not a
    # speed benchmark: before the fix it waited ~24 s behind 500 queued PBKDF2 runs.
    took = timed_login(b.port, proto, OTHER_HOST, timeout=30)
    print(f"\n{sent} abandoned logins in {attack:.2f} s; correct login from {OTHER_HOST}: {took * 1000:.0f} ms")
    assert took < 1.0, f"correct login from another address took {took:.2f} s after {sent} abandoned logins ({attack:.2f} s)"

    # The abandoned logins must not keep the workers busy: before the fix the agent burnt both
    # cores for ~23 s (about 6 CPU-seconds in these 3 s); skipped checks cost nothing.
    time.sleep(max(0.0, start + 3.0 - time.monotonic()))
    burnt = cpu_seconds(pid) - cpu_before
    print(f"agent CPU in the 3 s from the attack's start: {burnt:.2f} s")
    assert burnt < 2.0, f"the agent used {burnt:.1f} CPU-s in the 3 s after {sent} abandoned logins"

    # Slowed, never locked out: the attacking address itself still logs in (after at most the
    # failure delay's cap, 5 s by default).
    took_same = timed_login(b.port, proto, None, timeout=30)
    print(f"correct login from the attacking address: {took_same * 1000:.0f} ms")
    assert took_same < 8.0, f"correct login from the attacking address took {took_same:.2f} s"
    assert b.alive()


@pytest.mark.parametrize("proto", PROTOS)
def test_logins_held_open_from_one_address_are_refused_busy_not_queued(broker_factory, pwfile, proto):
    """One address may not fill the verification queue: beyond its share it is refused at once
    (0x89 server busy / 0x03 server unavailable) and a device elsewhere still logs in quickly."""
    busy = {V5: 0x89, V311: 0x03}[proto]
    bad = {V5: 0x86, V311: 0x04}[proto]
    b = broker_factory(auth={"password_file": str(pwfile)})
    held = []
    try:
        for _ in range(40):  # wrong passwords, kept open so none is skipped as abandoned
            c = m.RawClient(b.port, proto, timeout=10)
            c.send(m.connect(uid("bad"), proto=proto, username="alice", password=b"wrong"))
            held.append(c)
        took = timed_login(b.port, proto, OTHER_HOST, timeout=30)
        codes = []
        for c in held:
            codes.append(c.expect(m.CONNACK, timeout=30).reason)
        assert set(codes) <= {busy, bad}, codes
        assert codes.count(busy) >= 20, f"expected most of 40 held logins refused busy, got {codes}"
        # the acceptance bound (under 1 s), not a speed benchmark
        assert took < 1.0, f"correct login from another address took {took:.2f} s"
    finally:
        for c in held:
            c.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_repeated_failures_slow_their_address_only(broker_factory, pwfile, proto):
    """Wrong passwords one after another from one address: after 2 failures each further answer
    waits 100, 200, 400 ... ms (capped at 5 s, never a lockout); another address is not slowed."""
    bad = {V5: 0x86, V311: 0x04}[proto]
    b = broker_factory(auth={"password_file": str(pwfile)})
    times = []
    for _ in range(6):
        c = m.RawClient(b.port, proto, timeout=15)
        start = time.monotonic()
        c.connect(uid("guess"), username="alice", password=b"guess", expect_rc=bad, timeout=15)
        times.append(time.monotonic() - start)
        c.close()
    print("\nwrong-password answers (s):", ", ".join(f"{t:.2f}" for t in times))
    # the 6th check waited 800 ms (100 << 3) before hashing
    assert times[5] >= 0.7, f"no growing delay for repeated failures: {times}"
    assert times[2] >= 0.09, f"the third failure was not delayed: {times}"
    good = m.RawClient(b.port, proto, source=OTHER_HOST)
    start = time.monotonic()
    good.connect(uid("good"), username="alice", password=b"alice-pw")
    assert time.monotonic() - start < 1.0, "another address was slowed by this one's failures"
    assert poll_sys(good, "$SYS/broker/security/password_checks/delayed", lambda v: v >= 4)
    good.close()


# -- §3.4 partial CONNECTs ----------------------------------------------------------------------

def partial_connect(announced: int, sent: int) -> bytes:
    """A CONNECT that announces `announced` bytes of body and carries the first `sent` of them:
    a valid 3.1.1 variable header, then a client id that never ends."""
    head = m.binary(b"MQTT") + bytes([m.V311, 0x02]) + m.u16(60) + m.u16(min(announced - 12, 65535))
    body = head + b"x" * (sent - len(head))
    return bytes([0x10]) + m.varint(announced) + body


def open_partial_connects(port: int, count: int, announced: int, sent: int, seconds: float) -> tuple[list, int]:
    """Opens up to `count` sockets each sending a partial CONNECT, within `seconds`. Returns the
    sockets (kept open) and how many the agent closed while we sent."""
    socks, closed = [], 0
    payload = partial_connect(announced, sent)
    deadline = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(payload)
        except OSError:  # the agent closed it (reset): what a bounded agent does
            closed += 1
        socks.append(s)
    return socks, closed


def still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_partial_connects_keep_memory_bounded(broker_factory):
    b = broker_factory()
    pid = b.proc.pid
    peak_before = proc_status(pid, "VmHWM")
    # The attack: 3,000 CONNECTs announcing ~1 MiB, each sending a part and keeping the
    # socket open (256 KiB each here: 750 MB held by the agent before the fix).
    socks, closed = open_partial_connects(b.port, 3000, announced=1_000_000, sent=256 * 1024, seconds=40)
    try:
        assert len(socks) >= 2500, f"only {len(socks)} sockets opened in the time bound"
        time.sleep(0.5)  # let the agent read what is in flight
        grown = proc_status(pid, "VmHWM") - peak_before
        print(f"\n{len(socks)} partial CONNECTs ({closed} closed while sending): peak RSS +{grown / 1048576:.1f} MiB")
        assert grown < 100 * 1024 * 1024, f"agent peak RSS grew {grown / 1048576:.0f} MiB for {len(socks)} partial CONNECTs"
        assert b.alive()
        c = m.RawClient(b.port, V311)
        c.connect(uid("normal"))
        c.close()
    finally:
        for s in socks:
            s.close()


def test_partial_connects_past_the_preauth_budget_are_closed(broker_factory):
    """CONNECTs under the size limit but never finished: together they may hold only
    `limits.max_preauth_bytes`; beyond it the agent closes them. A whole CONNECT needs no buffer
    and still gets in."""
    b = broker_factory(extra_limits={"max_preauth_bytes": 1_048_576})
    socks, closed = open_partial_connects(b.port, 300, announced=16_000, sent=12_000, seconds=20)
    try:
        time.sleep(0.5)
        open_now = sum(1 for s in socks if still_open(s))
        # 1 MiB holds at most ~87 of these 12,000-byte partial packets
        assert open_now <= 100, f"{open_now} of {len(socks)} partial CONNECTs (12 kB each) still open under a 1 MiB budget"
        c = m.RawClient(b.port, V5)
        c.connect(uid("normal"))
        assert poll_sys(c, "$SYS/broker/connections/preauth_budget_closed", lambda v: v >= len(socks) - 100)
        c.close()
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_oversize_connect_is_refused_from_its_header(broker, proto):
    """A CONNECT announcing more than `limits.max_connect_packet_size` (16 KiB) is answered at
    once, from the fixed header and protocol level (v5: CONNACK 0x95; 3.1.1 has no code: closed),
    not buffered up to the 1 MiB packet limit."""
    c = m.RawClient(broker.port, proto)
    head = m.binary(b"MQTT") + bytes([proto, 0x02]) + m.u16(60)
    c.send(bytes([0x10]) + m.varint(200_000) + head + b"\x00" * 100)
    seen = c.wait_closed(5.0)
    if proto == V5:
        assert [p.type for p in seen] == [m.CONNACK] and seen[0].reason == 0x95, seen
    else:
        assert seen == [], seen
    c.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_large_publish_pipelined_behind_a_password_connect_is_delivered(broker_factory, pwfile, proto):
    """The small pre-CONNECT limit does not apply after CONNECT: a 200 kB PUBLISH sent right
    behind a CONNECT whose password is still being checked waits (unread) and is then handled."""
    b = broker_factory(auth={"password_file": str(pwfile)})
    sub = m.RawClient(b.port, proto)
    sub.connect(uid("sub"), username="alice", password=b"alice-pw")
    sub.subscribe([("big/t", 0)])
    pub = m.RawClient(b.port, proto)
    payload = bytes(range(256)) * 800
    pub.send(m.connect(uid("pub"), proto=proto, username="alice", password=b"alice-pw")
             + m.publish("big/t", payload, proto=proto))
    assert pub.expect(m.CONNACK).reason == 0
    assert sub.expect(m.PUBLISH, timeout=10).payload == payload
    sub.close(), pub.close()


# -- §3.5 max_sessions --------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
def test_max_sessions_refuses_a_new_session_but_not_a_resume_or_takeover(broker_factory, proto):
    quota = {V5: 0x97, V311: 0x03}[proto]
    b = broker_factory(extra_limits={"max_sessions": 3})
    props = [(m.SESSION_EXPIRY_INTERVAL, 600)] if proto == V5 else None
    ids = [uid("s") for _ in range(3)]
    for cid in ids:  # three persistent sessions, disconnected: the broker holds them
        c = m.RawClient(b.port, proto)
        c.connect(cid, clean=False, props=props)
        c.disconnect()
        c.close()
    extra = m.RawClient(b.port, proto)
    extra.connect(uid("fourth"), clean=False, expect_rc=quota, props=props)
    assert extra.is_closed(5.0), "refused CONNECT left open"
    extra.close()
    # resuming is never refused
    first = m.RawClient(b.port, proto)
    assert first.connect(ids[0], clean=False, props=props).session_present is True
    # nor is a takeover of a live session
    again = m.RawClient(b.port, proto)
    assert again.connect(ids[0], clean=False, props=props).session_present is True
    assert first.is_closed(5.0)
    # counted on $SYS
    assert poll_sys(again, "$SYS/broker/clients/sessions_refused", lambda v: v == 1)
    again.close(), first.close()
