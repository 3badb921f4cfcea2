"""Item 12: 10,000 concurrent MQTT connections on one broker."""

import asyncio
import resource
import time

import pytest

import mqttraw as m
from support import uid

N_CONN = 10_000
N_SUBSCRIBERS = 100
OPEN_CONCURRENCY = 256


async def _read_packet(reader):
    first = (await reader.readexactly(1))[0]
    length, mult = 0, 1
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        length += (b & 0x7F) * mult
        if not b & 0x80:
            break
        mult *= 128
    body = await reader.readexactly(length)
    return m.decode(first, body, m.V311)


async def _scenario(host, port, deadline):
    conns = []
    sem = asyncio.Semaphore(OPEN_CONCURRENCY)
    prefix = uid("scale")
    errors = []

    async def open_one(i):
        async with sem:
            for attempt in range(5):  # SYN backlog overflow on bursts is the kernel's, retry
                try:
                    r, w = await asyncio.open_connection(host, port)
                    break
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))
            w.write(m.connect(f"{prefix}-{i}", proto=m.V311, keepalive=60))
            await w.drain()
            ack = await _read_packet(r)
            if ack.type != m.CONNACK or ack.reason != 0:
                errors.append((i, ack))
            return r, w

    results = await asyncio.gather(*(open_one(i) for i in range(N_CONN)), return_exceptions=True)
    failures = [x for x in results if isinstance(x, BaseException)]
    conns = [x for x in results if not isinstance(x, BaseException)]
    try:
        assert not failures, f"{len(failures)} connections failed, first: {failures[0]!r}"
        assert not errors, f"{len(errors)} refused CONNACKs, first: {errors[0]!r}"
        assert len(conns) == N_CONN
        # every connection is still alive: sample 100 pings spread over the set
        topic = f"scale/{prefix}"
        step = N_CONN // N_SUBSCRIBERS
        subs = conns[::step][:N_SUBSCRIBERS]
        for _, w in subs:
            w.write(m.subscribe(1, [(topic, 1)]))
        await asyncio.gather(*(w.drain() for _, w in subs))
        for r, _ in subs:
            ack = await _read_packet(r)
            assert ack.type == m.SUBACK and ack.codes == [1], ack
        pr, pw = conns[1]  # index 1 is not a subscriber (step > 1)
        pw.write(m.publish(topic, b"to all", qos=1, mid=7))
        await pw.drain()
        ack = await _read_packet(pr)
        assert ack.type == m.PUBACK and ack.mid == 7, ack

        async def recv_pub(r, w):
            p = await _read_packet(r)
            assert p.type == m.PUBLISH and p.payload == b"to all", p
            w.write(m.puback(p.mid))
        await asyncio.wait_for(asyncio.gather(*(recv_pub(r, w) for r, w in subs)),
                               max(1.0, deadline - time.monotonic()))
        # a last round trip on the very first and very last connection
        for r, w in (conns[0], conns[-1]):
            w.write(m.pingreq())
            await w.drain()
            assert (await _read_packet(r)).type == m.PINGRESP
    finally:
        for _, w in conns:
            w.write(m.disconnect())
            w.close()
        await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ten_thousand_concurrent_connections(broker_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_CONN + 500
    if hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        # started after raising the limit, so a fleetgate child inherits it; mosquitto gets an
        # explicit `ulimit -n` in its start command.
        broker = broker_factory(nofile=hard)
        deadline = time.monotonic() + 120
        asyncio.run(asyncio.wait_for(_scenario(broker.host, broker.port, deadline), 120))
        assert broker.alive()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
