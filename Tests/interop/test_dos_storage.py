"""Issue #10 §3.5: a loop that blocks on storage. 10,000 persistent sessions subscribe to one
topic; each 1 KB QoS 1 publish to it then costs 10,000 rows. With commits on the loop thread the
loop blocked for the whole commit (~1.5 s), and an unrelated client waited as long for its
PUBACK. With commits on a writer, only the acknowledgements that wait for that data wait.

Fleetgate-only (the agent's storage design, not an MQTT rule). Traffic goes to 127.0.0.1 only;
every loop is bounded in count and time; every socket is closed at the end."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import mqttraw as m
from support import V311, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("where the agent commits (issue #10 §3.5)")

SESSIONS = 10_000
BATCH = 200  # sockets opened at once while creating the sessions


def _make_offline_sessions(broker, prefix: str, topic: str) -> None:
    """SESSIONS persistent 3.1.1 sessions subscribed to `topic` at QoS 1, then disconnected:
    pipelined (CONNECT + SUBSCRIBE + DISCONNECT in one send per socket), BATCH sockets at a time."""
    made = 0
    deadline = time.monotonic() + 120
    while made < SESSIONS:
        assert time.monotonic() < deadline, f"only {made} sessions made in 120 s"
        socks = []
        for i in range(min(BATCH, SESSIONS - made)):
            s = socket.create_connection((broker.host, broker.port), timeout=10)
            s.sendall(m.connect(f"{prefix}-{made + i}", proto=V311, clean=False)
                      + m.subscribe(1, [(topic, 1)], proto=V311) + m.disconnect(V311))
            socks.append(s)
        for s in socks:
            # CONNACK (4 bytes) + SUBACK (5 bytes), then the broker closes after DISCONNECT.
            got = b""
            while len(got) < 9:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            assert got[:1] == b"\x20" and got[4:5] == b"\x90", got
            s.close()
        made += len(socks)


def test_a_large_commit_delays_only_the_acknowledgements_that_wait_for_it(broker_factory):
    b = broker_factory(max_queued_messages=100)
    topic = f"fan/{uid()}"
    _make_offline_sessions(b, uid("s"), topic)

    # The probe: an unrelated client whose QoS 1 publishes need no storage (nobody subscribes to
    # its topic), answered while the big commits run (or not, when the loop is blocked).
    probe = m.RawClient(b.port, proto=V311, host=b.host, timeout=10)
    probe.connect(uid("probe"))
    publisher = m.RawClient(b.port, proto=V311, host=b.host, timeout=60)
    publisher.connect(uid("pub"))

    latencies: list[float] = []
    stop = threading.Event()

    def probe_loop():
        mid = 0
        end = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < end:
            mid = mid % 60000 + 1
            t0 = time.monotonic()
            probe.publish(f"probe/{uid()}", b"x", qos=1, mid=mid, timeout=10)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.01)

    t = threading.Thread(target=probe_loop, daemon=True)
    t.start()
    time.sleep(0.3)
    payload = b"P" * 1024
    started = time.monotonic()
    for i in range(5):
        publisher.publish(topic, payload, qos=1, mid=i + 1, timeout=60)
    fan_out_seconds = time.monotonic() - started
    stop.set()
    t.join(15)
    probe.close()
    publisher.close()

    during = sorted(latencies)
    worst = during[-1]
    print(f"5 publishes to {SESSIONS} persistent sessions: {fan_out_seconds:.2f} s; "
          f"probe PUBACKs meanwhile: n={len(during)} median {during[len(during) // 2] * 1000:.1f} ms "
          f"worst {worst * 1000:.1f} ms")
    # The fan-out must be heavy enough to show the effect; the comparison is within this run.
    assert fan_out_seconds > 0.5, f"the fan-out took {fan_out_seconds:.2f} s: not a large commit"
    assert worst < fan_out_seconds / 5, (
        f"an unrelated PUBACK waited {worst:.2f} s while 5 large commits took {fan_out_seconds:.2f} s")


def test_kill_9_during_large_background_commits_loses_nothing_acknowledged(broker_factory):
    """Turns larger than the inline bound (TurnCommitter: 2,000 writes) are committed off the loop
    thread and their acknowledgements gated until then. kill -9 the agent while a publisher streams
    QoS 1 messages to 2,500 persistent sessions: after the restart, every message whose PUBACK
    the publisher received is queued for every session, in order."""
    import signal
    import subprocess
    global SESSIONS
    b = broker_factory(max_queued_messages=1000)
    topic = f"kill/{uid()}"
    prefix = uid("k")
    saved, SESSIONS = SESSIONS, 2_500
    try:
        _make_offline_sessions(b, prefix, topic)
    finally:
        SESSIONS = saved
    pub = m.RawClient(b.port, proto=V311, host=b.host, timeout=30)
    pub.connect(uid("pub"))
    acked: list[int] = []
    stop = threading.Event()

    def publish_loop():
        for i in range(1, 400):
            if stop.is_set():
                return
            try:
                pub.publish(topic, f"{i}".encode() + b"." * 200, qos=1, mid=i, timeout=30)
            except Exception:
                return  # the agent was killed under us
            acked.append(i)

    t = threading.Thread(target=publish_loop, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 5, "the publisher got no acknowledgements"
    b.proc.send_signal(signal.SIGKILL)  # the process this test started, by PID
    b.proc.wait(10)
    stop.set()
    t.join(35)
    pub.close()
    assert acked, "nothing acknowledged before the kill"
    b.start()
    # Every acknowledged message is there for a sample of the sessions (first, last, some between).
    for n in (0, 1, 1250, 2498, 2499):
        s = m.RawClient(b.port, proto=V311, host=b.host, timeout=30)
        s.connect(f"{prefix}-{n}", clean=False)
        got = []
        while True:
            try:
                p = s.expect(m.PUBLISH, 2 if got else 15)
            except TimeoutError:
                break
            s.ack(p)
            got.append(int(p.payload.split(b".")[0]))
        s.close()
        assert got[:len(acked)] == acked[:len(got)] and set(acked) <= set(got), (
            f"session {n}: acknowledged {acked[:3]}..{acked[-3:]} ({len(acked)}), got {got[:3]}..{got[-3:]} ({len(got)})")
