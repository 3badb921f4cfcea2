"""Issue #4: gateways authenticate with "a shared token at least; mutual TLS when configured".
Real coordinator and agents with `--link-tls-*` / `coordinator.tls`, certificates made at test
time (certs.py): the link carries cross-gateway traffic over TLS, and the coordinator refuses
a plaintext peer, a peer without a certificate, one from another CA, and a certificate that
names a different gateway than the HELLO."""

from __future__ import annotations

import ssl

import pytest

from coordinators import TOKEN
from fabric import LINK_TLS_NAME, fleet_factory  # noqa: F401 (fixture)
from fleetframes import ERROR, GATEWAY_ID_IN_USE, NOT_AUTHORIZED, Closed, hello
from support import uid, wait_until

pytestmark = pytest.mark.fleetgate_only


def _context(certs, name: str | None) -> ssl.SSLContext:
    """A gateway's TLS client: trusts the test CA, presents `name`'s certificate (None: none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(certs.ca))
    if name is not None:
        ctx.load_cert_chain(str(certs.pem(name)), str(certs.key(name)))
    return ctx


def _refused_at_handshake(co, ctx) -> bool:
    """The TLS handshake (or, with TLS 1.3, the first read after it) fails: no frame ever comes."""
    try:
        c = co.connect(ssl_context=ctx, server_hostname=LINK_TLS_NAME)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True
    try:
        c.send(hello("gw-x", TOKEN))
        return c.expect_close(timeout=5) == []
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, Closed):
        return True
    finally:
        c.close()


def test_mutual_tls_link_carries_cross_gateway_traffic(fleet_factory):
    fleet = fleet_factory(2, link_tls=True)
    topic = f"{uid('tls')}/t"
    sub = fleet.client("gw-2")
    sub.connect()
    sub.subscribe(topic, qos=1)
    fleet.wait_interest(topic, {"gw-2"}, origin="gw-1")
    pub = fleet.client("gw-1")
    pub.connect()
    for i in range(20):
        pub.publish(topic, str(i).encode(), qos=i % 2)
    assert [int(m.payload) for m in sub.wait_messages(20, timeout=10)] == list(range(20))
    assert fleet.coordinator.metrics().get("fleetgate_coordinator_tls_handshake_failures_total", 0) == 0


def test_tls_link_refuses_plaintext_missing_foreign_and_mismatched_certificates(fleet_factory):
    fleet = fleet_factory(2, link_tls=True)
    co, certs = fleet.coordinator, fleet.certs
    before = {g: v["session_epoch"] for g, v in co.gateways().items()}

    # Plain TCP HELLO to a TLS listener: never parsed as a frame, no answer, counted.
    plain = co.connect()
    plain.send(hello("gw-1", TOKEN))
    assert plain.expect_close(timeout=5) == []
    # No client certificate, and a certificate from a CA the coordinator does not trust.
    assert _refused_at_handshake(co, _context(certs, None))
    assert _refused_at_handshake(co, _context(certs, "stranger"))
    wait_until(lambda: co.metrics().get("fleetgate_coordinator_tls_handshake_failures_total", 0) >= 3, 5,
               what="3 failed link handshakes counted")

    # gw-2's valid certificate, but a HELLO as gw-1: the certificate does not name gw-1.
    auth_before = co.metrics().get("fleetgate_coordinator_auth_failures_total", 0)
    c = co.connect(ssl_context=_context(certs, "gw-2"), server_hostname=LINK_TLS_NAME)
    c.send(hello("gw-1", TOKEN))
    assert [(f.kind, f.fields.get("code")) for f in c.expect_close(timeout=5)] == [(ERROR, NOT_AUTHORIZED)]
    assert co.metrics().get("fleetgate_coordinator_auth_failures_total", 0) == auth_before + 1

    # The real gateways were not disturbed: same sessions, still connected.
    assert {g: v["session_epoch"] for g, v in co.gateways().items()} == before
    assert all(fleet.connected().values())
    # The right certificate with the right id authenticates, but gw-2's session is alive: the
    # second HELLO is refused (issue #11), not taking it over.
    c = co.connect(ssl_context=_context(certs, "gw-2"), server_hostname=LINK_TLS_NAME)
    c.send(hello("gw-2", TOKEN))
    assert [(f.kind, f.fields.get("code")) for f in c.expect_close(timeout=5)] == [(ERROR, GATEWAY_ID_IN_USE)]
    assert {g: v["session_epoch"] for g, v in co.gateways().items()} == before
    assert all(fleet.connected().values())


def test_incomplete_or_unreadable_link_tls_settings_stop_the_coordinator_with_the_reason(tmp_path):
    import subprocess
    from coordinators import BINARY
    token = tmp_path / "token"
    token.write_bytes(TOKEN)
    base = [str(BINARY), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
            "--token-file", str(token)]
    r = subprocess.run(base + ["--link-tls-client-ca", str(tmp_path / "ca.pem")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 78 and "--link-tls-cert: required" in r.stderr, r.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log_level: info\nlink_tls: {cert: a.pem}\n")
    r = subprocess.run(base + ["--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 78 and f"{cfg}:2: link_tls: needs both 'cert' and 'key'" in r.stderr, r.stderr
    missing = tmp_path / "missing.pem"
    r = subprocess.run(base + ["--link-tls-cert", str(missing), "--link-tls-key", str(missing)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and str(missing) in r.stderr, r.stderr


def _served_fingerprint(co, certs) -> str:
    import hashlib
    ctx = _context(certs, "gw-1")
    c = co.connect(ssl_context=ctx, server_hostname=LINK_TLS_NAME)
    try:
        return hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()
    finally:
        c.close()


def test_sighup_reloads_link_certificates_on_both_sides(fleet_factory):
    """Certificate rotation without a restart: SIGHUP makes the coordinator serve its new link
    certificate to new connections (the joined gateway stays connected), and makes an agent use
    its new client certificate from its next connection: first an untrusted one (refused), then
    a good one again (joined)."""
    import hashlib
    import signal
    fleet = fleet_factory(1, link_tls=True)
    co, certs = fleet.coordinator, fleet.certs
    epoch = co.gateways()["gw-1"]["session_epoch"]
    before = _served_fingerprint(co, certs)
    certs.issue("coordinator", LINK_TLS_NAME, "coordinator.ext")      # new key and certificate, same files
    rotated = hashlib.sha256(ssl.PEM_cert_to_DER_cert(certs.pem("coordinator").read_text())).hexdigest()
    assert rotated != before
    co.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: _served_fingerprint(co, certs) == rotated, 5, what="the coordinator serving its new certificate")
    assert co.gateways()["gw-1"]["session_epoch"] == epoch and fleet.connected()["gw-1"]

    agent = fleet.gws["gw-1"].agent
    certs.issue("gw-1", "gw-1", "client.ext", ca="other-ca")          # a certificate the coordinator refuses
    agent.sighup()
    co.stop()
    co.start()                                                         # the agent reconnects with it
    wait_until(lambda: co.metrics().get("fleetgate_coordinator_tls_handshake_failures_total", 0) >= 1, 15,
               what="the agent's reloaded (untrusted) certificate refused")
    assert not fleet.connected().get("gw-1")
    certs.issue("gw-1", "gw-1", "client.ext")                         # a good one again
    agent.sighup()
    fleet.wait_connected(["gw-1"], timeout=15)


def test_incomplete_agent_link_tls_flags_are_a_config_error_naming_the_key(tmp_path):
    """The agent's side: TLS flags without the CA (an unverified coordinator would be handed the
    token), or a certificate without its key, stop the agent with status 78 naming the key."""
    import subprocess
    from brokers import FLEETGATE_AGENT
    token = tmp_path / "token"
    token.write_bytes(TOKEN)
    base = [str(FLEETGATE_AGENT), "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
            "--coordinator", "127.0.0.1:1", "--gateway-id", "gw-x", "--token-file", str(token)]
    for extra, key in ((["--coordinator-tls-cert", "a.pem", "--coordinator-tls-key", "a.key"], "coordinator.tls.ca"),
                       (["--coordinator-tls-ca", "ca.pem", "--coordinator-tls-cert", "a.pem"], "coordinator.tls.key")):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=10)
        assert r.returncode == 78 and f"{key}:" in r.stderr, (extra, r.returncode, r.stderr)
