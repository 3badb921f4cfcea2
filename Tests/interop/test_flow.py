"""Item 11: slow consumers, per-session queue bound and the $SYS metrics that report it."""

import socket
import time

import pytest

import mqttraw as m
from support import PEER, V5, V311, fleetgate_only, uid, wait_until


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.parametrize("sub_qos", [0, 1])
def test_slow_consumer_does_not_grow_broker_or_stall_others(broker, raw, paho, sub_qos):
    """A subscriber that never reads while 20 MB are published: the broker stays up, its RSS
    stays bounded (< 128 MiB growth), and a healthy QoS 1 subscriber gets every message. The
    publisher goes in batches of 50 and waits for the healthy subscriber to have them: a PUBACK
    only means the broker has the message, and bursts beyond in-flight window + queue bound
    (max_queued_messages) are legitimately dropped even for fast subscribers."""
    topic = f"slow/{uid()}"
    stuck = m.RawClient(broker.port, proto=V311)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(uid())
    stuck.subscribe([(topic, sub_qos)])
    healthy = paho(proto=V5)
    healthy.connect()
    healthy.subscribe(topic, qos=1)
    pub = raw(V311)
    pub.connect(uid())
    rss0 = _rss_kib(broker.proc.pid)
    payload = b"p" * 4096
    n, batch = 5_000, 50
    for i in range(n):
        pub.publish(topic, payload, qos=1, mid=(i % 65535) + 1, timeout=10)
        if i % batch == batch - 1:
            healthy.wait_messages(i + 1, timeout=10)
    assert len(healthy.messages) == n
    growth_mib = (_rss_kib(broker.proc.pid) - rss0) / 1024
    assert broker.alive()
    assert growth_mib < 128, f"broker RSS grew {growth_mib:.0f} MiB for one stuck subscriber"
    stuck.close()
    # and it still serves
    c = raw(V5)
    c.connect(uid())


def _sys_value(paho_client, topic, timeout=5.0):
    msgs = paho_client.wait_messages(1, timeout=timeout, topic=topic)
    return int(float(msgs[-1].payload))


def test_offline_queue_bound_drops_newest_and_counts_drops(broker, raw, paho):
    """max_queued_messages=100 for an offline persistent session: publishing 150 QoS 1 messages
    keeps the oldest ones (overflow drops the newest), and
    $SYS/broker/publish/messages/dropped increases by the number dropped."""
    limit = broker.config.max_queued_messages
    dropped_topic = "$SYS/broker/publish/messages/dropped"
    sysmon = paho(proto=V311)
    sysmon.connect()
    sysmon.subscribe(dropped_topic, qos=0)
    before = _sys_value(sysmon, dropped_topic) if PEER != "mosquitto" else 0
    cid, topic = uid(), f"bound/{uid()}"
    s = raw(V311)
    s.connect(cid, clean=False)
    s.subscribe([(topic, 1)])
    s.disconnect()
    pub = raw(V311)
    pub.connect(uid())
    total = limit + 50
    for i in range(total):
        pub.publish(topic, f"{i}".encode(), qos=1, mid=i + 1)
    s2 = raw(V311)
    assert s2.connect(cid, clean=False).session_present
    got = []
    try:
        while True:
            p = s2.expect(m.PUBLISH, timeout=1.0)
            s2.ack(p)
            got.append(int(p.payload))
    except TimeoutError:
        pass
    # Oldest kept, newest dropped: what arrives is a prefix. mosquitto keeps its in-flight window
    # (max_inflight_messages=20) on top of the queue; Fleetgate's bound is exact.
    kept = len(got)
    assert got == list(range(kept)), got
    if PEER == "mosquitto":
        assert limit <= kept <= limit + broker.config.receive_maximum, kept
    else:
        assert kept == limit, kept
    want = before + (total - kept)
    wait_until(lambda: any(int(float(x.payload)) >= want for x in sysmon.messages
                           if x.topic == dropped_topic), timeout=5,
               what=f"{dropped_topic} >= {want}")


def test_sys_metrics_published_with_mosquitto_names(broker, paho, raw):
    """$SYS metrics appear every sys_interval (1 s) under the mosquitto-compatible names, as
    numbers that move: connected clients and message counters."""
    names = ["$SYS/broker/clients/connected", "$SYS/broker/messages/received",
             "$SYS/broker/messages/sent", "$SYS/broker/publish/messages/dropped"]
    mon = paho(proto=V5)
    mon.connect()
    mon.subscribe("$SYS/#", qos=0)
    extra = [raw(V311) for _ in range(3)]
    for c in extra:
        c.connect(uid())
    for i in range(5):
        extra[0].publish("sys/x", b"x", qos=1, mid=i + 1)

    def latest(name):
        vals = [x.payload for x in mon.messages if x.topic == name]
        return int(float(vals[-1])) if vals else None

    wait_until(lambda: all(latest(n) is not None for n in names[:3]), timeout=5,
               what="$SYS metrics")
    wait_until(lambda: (latest(names[0]) or 0) >= 4, timeout=5, what="clients/connected >= 4")
    wait_until(lambda: (latest(names[1]) or 0) >= 5, timeout=5, what="messages/received >= 5")
    assert latest(names[2]) >= 0


@fleetgate_only("mosquitto has no loop batching counters")
def test_sys_loop_counters_show_batching(broker, paho, raw):
    """$SYS/broker/load/loop/* count loop turns, reads and write() calls: a burst pipelined in one
    write is read in fewer reads than it has messages, and the counters only grow."""
    names = ["iterations", "reads", "try_writes", "queued_writes"]
    topics = ["$SYS/broker/load/loop/" + n for n in names]
    mon = paho(proto=V5)
    mon.connect()
    mon.subscribe("$SYS/broker/load/#", qos=0)

    def latest(topic):
        vals = [x.payload for x in mon.messages if x.topic == topic]
        return int(float(vals[-1])) if vals else None

    wait_until(lambda: all(latest(t) is not None for t in topics), timeout=5, what="$SYS load/loop counters")
    reads_before = latest(topics[1])
    pub = raw(V311)
    pub.connect(uid())
    burst = b"".join(m.publish("sys/burst", b"x" * 16, qos=0) for _ in range(500))
    pub.sock.sendall(burst)  # one write: the broker reads it in a few reads, not 500
    pub.send(m.pingreq())
    pub.expect(m.PINGRESP)
    n = len([x for x in mon.messages if x.topic == topics[1]])
    wait_until(lambda: len([x for x in mon.messages if x.topic == topics[1]]) > n + 1, timeout=5,
               what="a fresh load/loop/reads sample")
    reads = latest(topics[1]) - reads_before
    assert 0 < reads < 100, f"500 pipelined messages took {reads} reads"
    assert latest(topics[0]) > 0 and latest(topics[2]) > 0


@fleetgate_only("relies on Fleetgate pausing a publisher for a congested subscriber")
def test_paused_publisher_that_hangs_up_and_is_then_written_to_does_not_kill_the_broker(broker, raw, paho):
    """A device publishes to a congested subscriber, so the broker stops reading it, and the
    device also subscribes to a command topic. It hangs up (FIN, which the broker does not read
    while paused); commands then arrive for it. The first delivery draws an RST, the second write()
    hits EPIPE. Before the loop ignored SIGPIPE that write killed the agent (-13) and every other
    connection with it; now only the dead device's connection closes."""
    flood, commands = f"flood/{uid()}", f"cmd/{uid()}"
    stuck = raw(V311)                       # QoS 1 subscriber that never reads or acknowledges
    stuck.connect(uid())
    stuck.subscribe([(flood, 1)])
    device = raw(V311)
    device.connect(uid())
    device.subscribe([(commands, 0)])
    # QoS 1 in batches of 10, reading every PUBACK, until a batch goes unanswered: the broker
    # stopped reading the device (its in-flight window to `stuck` is full and half of the
    # queue bound is queued). What the device sent since then sits unread in the broker's socket.
    mid, paused = 0, False
    while mid < 100 + broker.config.max_queued_messages * 2 and not paused:
        batch = list(range(mid + 1, mid + 11))
        device.send(b"".join(m.publish(flood, b"%d" % i, qos=1, mid=i) for i in batch))
        mid = batch[-1]
        for i in batch:
            try:
                assert device.expect(m.PUBACK, timeout=0.5).mid == i
            except TimeoutError:
                paused = True
                break
    assert paused, f"{mid} QoS 1 messages to a stalled subscriber and the broker never paused the publisher"
    device.sock.close()                     # nothing unread on our side: a FIN, not an RST
    commander = raw(V311)
    commander.connect(uid())
    for i in range(20):                     # each acknowledged delivery is a separate write()
        commander.publish(commands, b"reboot", qos=1, mid=i + 1)
    assert broker.alive(), f"broker died writing to a device that hung up:\n{broker.log_tail()}"
    after = raw(V5)
    after.connect(uid())
