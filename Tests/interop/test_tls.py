"""Issue #3: MQTT over TLS (`mqtts` listener, `tls:` section) with real clients.

Handshake outcomes for server-auth and mutual TLS (good, expired, other-CA and missing client
certificates; required and optional modes), no session for a refused handshake, the
$SYS/broker/security/tls_handshake_failures counter, TLS 1.2/1.3 and min_version, ALPN,
mosquitto_pub/sub and paho-mqtt over TLS, SIGHUP certificate rotation without dropping
connections, and 1,000 concurrent TLS connections.

Fleetgate-only: the suite's mosquitto profile has no TLS listener, and the config keys
(client_auth optional, ALPN list, the security counters) have no mosquitto twin."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
import types

import pytest

import mqttraw as m
from certs import TLSRawClient, client_context, der_sha256, read_sys, wait_sys
from support import PROTOS, V5, V311, Paho, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("TLS listener config and security counters (issue #3)")

FAILURES = "$SYS/broker/security/tls_handshake_failures"


def tls_config(certs, client_auth="none", **extra) -> dict:
    cfg = {"cert": str(certs.pem("server")), "key": str(certs.key("server")),
           "client_auth": client_auth}
    if client_auth != "none":
        cfg["ca"] = str(certs.ca)
    cfg.update(extra)
    return cfg


def start(broker_factory, certs, client_auth="none", auth=None, **tls_extra):
    b = broker_factory(tls=tls_config(certs, client_auth, **tls_extra),
                       auth=auth if auth is not None else {"allow_anonymous": client_auth == "none"})
    assert b.tls_port, "ready.json has no mqtts listener"
    return b


def tls_client(b, certs, cert=None, proto=V311, **ctx_kw) -> TLSRawClient:
    return TLSRawClient(b.tls_port, client_context(certs, cert, **ctx_kw), proto=proto)


def attempt_refused(b, certs, cert, client_id, **ctx_kw) -> str:
    """A TLS connection attempt that must be refused: either the handshake fails, or (TLS 1.3,
    where the server judges the client certificate after the client has finished) the first read
    gets an alert / EOF. A CONNACK is a failure. Returns how it was refused."""
    try:
        c = tls_client(b, certs, cert, **ctx_kw)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return f"handshake: {e!r}"
    try:
        c.send_tolerant(m.connect(client_id, clean=False))
        try:
            pkt = c.recv(5.0)
        except m.Closed:
            return f"after handshake: {c.alert!r}"
        raise AssertionError(f"refused certificate {cert!r} got {pkt!r}")
    finally:
        c.close()


def roundtrip(pub: m.RawClient, sub: m.RawClient, topic: str, payload: bytes) -> None:
    sub.subscribe([(topic, 1)], mid=7)
    pub.publish(topic, payload, qos=1, mid=9)
    p = sub.expect(m.PUBLISH)
    sub.ack(p)
    assert (p.topic, p.payload) == (topic.encode(), payload)


# -- server authentication only ------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_server_auth_only_verified_and_serves(broker_factory, certs, proto, server_hostname):
    """client_auth none: a client that verifies the server (CA + name, both SAN entries)
    connects without a certificate and publishes/receives over TLS."""
    b = start(broker_factory, certs, "none")
    ctx = client_context(certs)
    sub = TLSRawClient(b.tls_port, ctx, proto=proto, server_hostname=server_hostname)
    pub = TLSRawClient(b.tls_port, ctx, proto=proto, server_hostname=server_hostname)
    try:
        assert sub.sock.getpeercert()["subject"] == ((("commonName", "localhost"),),)
        sub.connect(uid())
        pub.connect(uid())
        roundtrip(pub, sub, f"tls/{uid()}", b"over tls")
    finally:
        sub.close(), pub.close()


def test_client_with_wrong_trust_anchor_refuses_server(broker_factory, certs):
    """Sanity of the fixture: a client trusting only the other CA rejects the server."""
    b = start(broker_factory, certs, "none")
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(b, certs, ca=certs.pem("other-ca"))


def test_plaintext_mqtt_on_tls_port_is_closed_and_counted(broker_factory, certs):
    b = start(broker_factory, certs, "none")
    mon = tls_client(b, certs)
    mon.connect(uid())
    before = read_sys(mon, FAILURES)
    plain = m.RawClient(b.tls_port)
    plain.send_tolerant(m.connect(uid()))
    assert plain.is_closed(5.0), "a plaintext CONNECT on the TLS port got no close"
    plain.close()
    wait_sys(lambda: _connected(b, certs, None), FAILURES, lambda v: v > before)
    mon.disconnect()


def _connected(b, certs, cert, proto=V311) -> TLSRawClient:
    c = tls_client(b, certs, cert, proto=proto)
    c.connect(uid())
    return c


# -- mutual TLS ---------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("cert", ["device-1", "device-2"])
def test_mutual_tls_good_certificate_accepted(broker_factory, certs, proto, cert):
    """client_auth required, anonymous off: a certificate from the trusted CA is the credential."""
    b = start(broker_factory, certs, "required")
    sub, pub = _connected(b, certs, cert, proto), _connected(b, certs, cert, proto)
    try:
        roundtrip(pub, sub, f"mtls/{uid()}", b"mutual")
    finally:
        sub.close(), pub.close()


# Optional mode with no certificate is not a refusal: test_optional_mode_* covers it.
@pytest.mark.parametrize("mode,bad", [("required", "expired"), ("required", "stranger"), ("required", None),
                                      ("optional", "expired"), ("optional", "stranger")])
def test_bad_or_missing_client_certificate_refused_without_session(broker_factory, certs, mode, bad):
    """Required mode: an expired certificate, one from another CA, or none at all is refused at
    the handshake. Optional mode: the two bad certificates are refused too (a presented
    certificate must verify); no certificate is allowed in optional mode (see the optional test).
    The refused attempt (client id with clean_session=0) leaves no session behind, and
    $SYS/broker/security/tls_handshake_failures rises."""
    b = start(broker_factory, certs, mode)
    mon = _connected(b, certs, "device-1")
    before = read_sys(mon, FAILURES)
    cid = uid("victim")
    how = attempt_refused(b, certs, bad, cid)
    assert b.alive()
    # the persistent client id used in the refused attempt has no session
    good = tls_client(b, certs, "device-1")
    ack = good.connect(cid, clean=False)
    assert ack.session_present is False, f"refused handshake ({how}) created a session"
    good.disconnect()
    after = wait_sys(lambda: _connected(b, certs, "device-1"), FAILURES, lambda v: v > before)
    assert after >= before + 1
    mon.disconnect()


@pytest.mark.parametrize("proto,anon_refused", [(V311, 0x05), (V5, m.RC_NOT_AUTHORIZED)])
def test_optional_mode_with_and_without_certificate(broker_factory, certs, tmp_path, proto,
                                                    anon_refused):
    """client_auth optional, anonymous off: with a good certificate the client is authenticated by
    it; without one it is an anonymous client (refused: 0x87 / 0x05) unless it gives a user name
    and password from the password file."""
    from certs import passwd
    pw = tmp_path / "passwd"
    passwd(pw, "add", "alice", "s3cret")
    b = start(broker_factory, certs, "optional",
              auth={"allow_anonymous": False, "password_file": str(pw)})
    with_cert = tls_client(b, certs, "device-1", proto=proto)
    with_cert.connect(uid())
    without = tls_client(b, certs, None, proto=proto)
    without.connect(uid(), expect_rc=anon_refused)
    without.close()
    with_password = tls_client(b, certs, None, proto=proto)
    with_password.connect(uid(), username="alice", password=b"s3cret")
    roundtrip(with_password, with_cert, f"opt/{uid()}", b"both")
    with_cert.close(), with_password.close()


# -- protocol versions --------------------------------------------------------------------------

@pytest.mark.parametrize("max_version,expected", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                                  (None, "TLSv1.3")])
def test_tls12_and_tls13_both_served(broker_factory, certs, max_version, expected):
    b = start(broker_factory, certs, "required")
    c = tls_client(b, certs, "device-1", max_version=max_version)
    assert c.sock.version() == expected
    c.connect(uid())
    c.subscribe([("v/x", 1)])
    c.disconnect()


def test_min_version_13_refuses_tls12_only_client(broker_factory, certs):
    b = start(broker_factory, certs, "required", min_version="1.3")
    mon = _connected(b, certs, "device-1")
    assert mon.sock.version() == "TLSv1.3"
    before = read_sys(mon, FAILURES)
    with pytest.raises(ssl.SSLError):
        tls_client(b, certs, "device-1", max_version=ssl.TLSVersion.TLSv1_2)
    wait_sys(lambda: _connected(b, certs, "device-1"), FAILURES, lambda v: v > before)
    mon.disconnect()


# -- ALPN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("offer,selected", [
    (["mqtt"], "mqtt"),
    (["x-amzn-mqtt-ca"], "x-amzn-mqtt-ca"),
    (["x-amzn-mqtt-ca", "mqtt"], None),   # either is fine: the server picks
    (["h2", "spdy/1"], None),              # unknown protocols: no ALPN, still connects
    (None, None),
])
def test_alpn_negotiation(broker_factory, certs, offer, selected):
    b = start(broker_factory, certs, "required")
    c = tls_client(b, certs, "device-1", alpn=offer)
    got = c.sock.selected_alpn_protocol()
    if offer and set(offer) <= {"mqtt", "x-amzn-mqtt-ca"}:
        assert got in offer if selected is None else got == selected
    else:
        assert got is None
    c.connect(uid())
    c.disconnect()


# -- real clients -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_clients_mutual_tls(broker_factory, certs, version):
    b = start(broker_factory, certs, "required")
    topic = f"cli/{uid()}"
    tls = ["--cafile", str(certs.ca)]
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "localhost", "-p", str(b.tls_port), "-V", version, "-t", topic,
         "-q", "1", "-C", "1", "-W", "15", "-i", uid("sub"), *tls,
         "--cert", str(certs.pem("device-2")), "--key", str(certs.key("device-2"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        got = None
        # publish until the subscriber has subscribed and received one
        while got is None and time.monotonic() < deadline:
            subprocess.run(
                ["mosquitto_pub", "-h", "localhost", "-p", str(b.tls_port), "-V", version, "-t",
                 topic, "-q", "1", "-m", "hello-tls", *tls, "--cert", str(certs.pem("device-1")),
                 "--key", str(certs.key("device-1"))], check=True, timeout=10,
                capture_output=True)
            try:
                out, err = sub.communicate(timeout=0.5)
                got = out
            except subprocess.TimeoutExpired:
                pass
        assert got is not None and got.strip() == b"hello-tls", (got, sub.stderr)
        assert sub.returncode == 0
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)


def test_mosquitto_pub_with_expired_certificate_fails(broker_factory, certs):
    b = start(broker_factory, certs, "required")
    r = subprocess.run(
        ["mosquitto_pub", "-h", "localhost", "-p", str(b.tls_port), "-t", "x", "-m", "y",
         "-q", "1", "--cafile", str(certs.ca), "--cert", str(certs.pem("expired")),
         "--key", str(certs.key("expired"))], timeout=15, capture_output=True)
    assert r.returncode != 0, r


@pytest.mark.parametrize("proto", PROTOS)
def test_paho_tls_set_mutual(broker_factory, certs, proto):
    b = start(broker_factory, certs, "required")
    target = types.SimpleNamespace(host="localhost", port=b.tls_port)
    clients = []
    try:
        for name in ("device-1", "device-2"):
            c = Paho(target, proto=proto)
            c.c.tls_set(ca_certs=str(certs.ca), certfile=str(certs.pem(name)),
                        keyfile=str(certs.key(name)))
            c.connect()
            clients.append(c)
        sub, pub = clients
        topic = f"paho/{uid()}"
        assert sub.subscribe(topic, qos=1) == [1]
        pub.publish(topic, b"paho-tls", qos=1)
        assert sub.wait_messages(1, topic=topic)[0].payload == b"paho-tls"
    finally:
        for c in clients:
            c.disconnect()


# -- SIGHUP rotation ----------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
def test_sighup_rotates_certificate_and_keeps_connections(broker_factory, certs, tmp_path, proto):
    """Replace the server cert+key files with a new certificate, SIGHUP: a new handshake sees the
    new certificate (DER fingerprint); clients connected before keep publishing and receiving."""
    cert, key = certs.copy_server_to(tmp_path / "live")
    b = broker_factory(tls={"cert": str(cert), "key": str(key), "ca": str(certs.ca),
                            "client_auth": "required"}, auth={})
    old_fp = der_sha256(cert)
    sub = _connected(b, certs, "device-1", proto)
    pub = _connected(b, certs, "device-2", proto)
    assert der_sha256_of(sub) == old_fp
    topic = f"rot/{uid()}"
    sub.subscribe([(topic, 1)], mid=3)
    pub.publish(topic, b"before", qos=1, mid=1)
    p = sub.expect(m.PUBLISH)
    sub.ack(p)

    certs.issue("server", "localhost", str(certs.dir / "server.ext"), out_dir=cert.parent)
    new_fp = der_sha256(cert)
    assert new_fp != old_fp
    b.sighup()
    deadline = time.monotonic() + 5
    while True:
        fresh = _connected(b, certs, "device-1", proto)
        seen = der_sha256_of(fresh)
        fresh.disconnect()
        if seen == new_fp:
            break
        assert time.monotonic() < deadline, "new handshakes still get the old certificate"
        time.sleep(0.1)
    # the old connections are the same sockets, still working both ways
    pub.publish(topic, b"after", qos=1, mid=2)
    p = sub.expect(m.PUBLISH)
    sub.ack(p)
    assert p.payload == b"after"
    assert der_sha256_of(sub) == old_fp
    sub.disconnect(), pub.disconnect()


def der_sha256_of(c: TLSRawClient) -> str:
    import hashlib
    return hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()


def test_sighup_with_broken_cert_file_keeps_old_certificate(broker_factory, certs, tmp_path):
    cert, key = certs.copy_server_to(tmp_path / "live")
    b = broker_factory(tls={"cert": str(cert), "key": str(key)}, auth={"allow_anonymous": True})
    old_fp = der_sha256(cert)
    cert.write_text("not a certificate\n")
    b.sighup()
    time.sleep(0.5)
    assert b.alive()
    c = _connected(b, certs, None)
    assert der_sha256_of(c) == old_fp
    c.disconnect()


# -- scale --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(180)
def test_1000_concurrent_tls_connections(broker_factory, certs):
    """1,000 TLS connections opened concurrently (asyncio + ssl), each CONNECT -> CONNACK 0,
    all held open together, then closed; no errors, within 120 s."""
    b = start(broker_factory, certs, "required")
    n = 1000
    ctx = client_context(certs, "device-1")

    async def one(i, opened):
        reader, writer = await asyncio.open_connection("127.0.0.1", b.tls_port, ssl=ctx,
                                                       server_hostname="localhost")
        writer.write(m.connect(f"scale-{i}"))
        await writer.drain()
        head = await reader.readexactly(4)
        assert head == b"\x20\x02\x00\x00", f"connection {i}: CONNACK {head!r}"
        opened.append(writer)

    async def main():
        opened = []
        results = await asyncio.wait_for(
            asyncio.gather(*(one(i, opened) for i in range(n)), return_exceptions=True), 120)
        errors = [r for r in results if isinstance(r, BaseException)]
        # all of them are open at the same time here
        for w in opened:
            w.close()
        await asyncio.gather(*(w.wait_closed() for w in opened), return_exceptions=True)
        return errors

    t0 = time.monotonic()
    errors = asyncio.run(main())
    elapsed = time.monotonic() - t0
    assert not errors, f"{len(errors)} of {n} failed, e.g. {errors[:3]!r}"
    assert elapsed < 120
    assert b.alive()
    c = _connected(b, certs, "device-2")
    c.disconnect()


def test_silent_client_closed_after_handshake_timeout(broker_factory, certs):
    """A TCP connection to the TLS port that never sends a ClientHello is closed after
    tls.handshake_timeout_ms (here 500 ms), and the broker keeps serving."""
    b = start(broker_factory, certs, "none", handshake_timeout_ms=500)
    idle = m.RawClient(b.tls_port)
    t0 = time.monotonic()
    assert idle.is_closed(5.0), "a silent connection on the TLS port stayed open for 5 s"
    assert time.monotonic() - t0 >= 0.3
    idle.close()
    c = _connected(b, certs, None)
    c.disconnect()
