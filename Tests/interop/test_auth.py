"""Issue #3: who may connect. The password file and `fleetgate-agent passwd` (the real binary),
password logins and their refusals (v5 0x86 / 3.1.1 0x04), anonymous refused by default
(0x87 / 0x05), SIGHUP reloading the password file without dropping connections, and the device
identity taken from the client certificate (`auth.identity`, `client_id_must_match`: 0x85 / 0x02).

Fleetgate-only: the password file format, the passwd command and the identity options are
Fleetgate's own."""

from __future__ import annotations

import os
import stat
import time
import types

import pytest

import mqttraw as m
from certs import TLSRawClient, client_context, passwd
from support import PROTOS, V5, V311, Paho, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("password file, passwd command and identity options (issue #3)")

# (proto, bad user name or password, not authorized, client id rejected)
CODES = {V311: (0x04, 0x05, 0x02), V5: (0x86, 0x87, 0x85)}


@pytest.fixture
def pwfile(tmp_path):
    f = tmp_path / "passwd"
    passwd(f, "add", "alice", "alice-pw")
    passwd(f, "add", "bob", "bob pw with spaces")
    return f


def refused_and_closed(c: m.RawClient, client_id: str, rc: int, **kw) -> None:
    c.connect(client_id, expect_rc=rc, **kw)
    assert c.is_closed(5.0), "the broker kept the connection open after refusing CONNECT"


# -- the passwd command -------------------------------------------------------------------------

def test_passwd_add_remove_file_format_and_mode(tmp_path):
    f = tmp_path / "passwd"
    passwd(f, "add", "alice", "plain-secret-1")
    passwd(f, "add", "bob", "plain-secret-2")
    text = f.read_text()
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, oct(os.stat(f).st_mode)
    assert "plain-secret" not in text, "plaintext password in the file"
    lines = [line for line in text.splitlines() if line.strip()]
    users = {line.split(":", 1)[0] for line in lines}
    assert users == {"alice", "bob"}
    for line in lines:
        user, hashed = line.split(":", 1)
        assert hashed.startswith("$"), line
    # salted: the same password twice gives two different hashes
    passwd(f, "add", "carol", "plain-secret-1")
    hashes = dict(line.split(":", 1) for line in f.read_text().splitlines() if line.strip())
    assert hashes["alice"] != hashes["carol"]
    # remove
    passwd(f, "remove", "bob")
    users = {line.split(":", 1)[0] for line in f.read_text().splitlines() if line.strip()}
    assert users == {"alice", "carol"}
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    # remove an unknown user, or add without a password: an error, file unchanged
    before = f.read_text()
    assert passwd(f, "remove", "nobody", check=False).returncode != 0
    assert passwd(f, "add", "dave", None, check=False).returncode != 0
    assert f.read_text() == before


# -- password logins ----------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
def test_password_login_accepted_and_refusals(broker_factory, pwfile, proto):
    bad, _, _ = CODES[proto]
    b = broker_factory(auth={"password_file": str(pwfile)})
    ok = m.RawClient(b.port, proto)
    ok.connect(uid(), username="alice", password=b"alice-pw")
    ok2 = m.RawClient(b.port, proto)
    ok2.connect(uid(), username="bob", password=b"bob pw with spaces")
    # wrong password, unknown user, user name without password, password of another user
    for kw in ({"username": "alice", "password": b"wrong"},
               {"username": "mallory", "password": b"alice-pw"},
               {"username": "alice"},
               {"username": "alice", "password": b"bob pw with spaces"},
               {"username": "alice", "password": b"alice-pw\n"},
               {"username": "Alice", "password": b"alice-pw"}):
        c = m.RawClient(b.port, proto)
        refused_and_closed(c, uid(), bad, **kw)
        c.close()
    # the accepted ones are still up and working
    ok.subscribe([("a/b", 1)])
    ok2.publish("a/b", b"x", qos=1)
    p = ok.expect(m.PUBLISH)
    assert p.payload == b"x"
    ok.close(), ok2.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_refused_connect_creates_no_session(broker_factory, pwfile, proto):
    bad, _, _ = CODES[proto]
    b = broker_factory(auth={"password_file": str(pwfile)})
    cid = uid("persist")
    props = [(m.SESSION_EXPIRY_INTERVAL, 600)] if proto == V5 else None
    c = m.RawClient(b.port, proto)
    refused_and_closed(c, cid, bad, clean=False, username="alice", password=b"nope", props=props)
    c.close()
    c = m.RawClient(b.port, proto)
    ack = c.connect(cid, clean=False, username="alice", password=b"alice-pw", props=props)
    assert ack.session_present is False
    c.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_paho_password_over_tls(broker_factory, certs, pwfile, proto):
    b = broker_factory(tls={"cert": str(certs.pem("server")), "key": str(certs.key("server"))},
                       auth={"password_file": str(pwfile)})
    target = types.SimpleNamespace(host="localhost", port=b.tls_port)
    good = Paho(target, proto=proto)
    good.c.tls_set(ca_certs=str(certs.ca))
    good.c.username_pw_set("alice", "alice-pw")
    bad = Paho(target, proto=proto)
    bad.c.tls_set(ca_certs=str(certs.ca))
    bad.c.username_pw_set("alice", "wrong")
    try:
        good.connect()
        _, rc, _ = bad.connect(expect_success=False)
        # paho reports a 3.1.1 return code 4 as the v5 reason code 0x86 (its own mapping)
        assert rc.value == 0x86 and str(rc) == "Bad user name or password", rc
    finally:
        for c in (good, bad):
            c.c.disconnect()
            c.c.loop_stop()


# -- anonymous ----------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("auth", [{}, "with_password_file"])
def test_anonymous_refused_by_default(broker_factory, pwfile, proto, auth):
    """No allow_anonymous in the config: a client without credentials gets 0x87 (v5) / 0x05."""
    _, not_authorized, _ = CODES[proto]
    cfg = {} if auth == {} else {"password_file": str(pwfile)}
    b = broker_factory(auth=cfg)
    c = m.RawClient(b.port, proto)
    refused_and_closed(c, uid(), not_authorized)
    c.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_anonymous_refused_over_tls_without_client_certificate(broker_factory, certs, proto):
    _, not_authorized, _ = CODES[proto]
    b = broker_factory(tls={"cert": str(certs.pem("server")), "key": str(certs.key("server"))},
                       auth={})
    c = TLSRawClient(b.tls_port, client_context(certs), proto)
    refused_and_closed(c, uid(), not_authorized)
    c.close()


# -- SIGHUP reloads the password file -------------------------------------------------------------

def _login(b, proto, user, password, rc=0):
    c = m.RawClient(b.port, proto)
    c.connect(uid(), expect_rc=rc, username=user, password=password)
    return c


@pytest.mark.parametrize("proto", PROTOS)
def test_sighup_after_passwd_add_remove_and_change(broker_factory, pwfile, proto):
    bad, _, _ = CODES[proto]
    b = broker_factory(auth={"password_file": str(pwfile)})
    alice = _login(b, proto, "alice", b"alice-pw")
    bob = _login(b, proto, "bob", b"bob pw with spaces")
    topic = f"hup/{uid()}"
    alice.subscribe([(topic, 1)])

    passwd(pwfile, "add", "carol", "carol-pw")
    _login(b, proto, "carol", b"carol-pw", rc=bad).close()   # not before the reload
    b.sighup()
    deadline = time.monotonic() + 5
    while True:
        c = m.RawClient(b.port, proto)
        c.send(m.connect(uid(), proto=proto, username="carol", password=b"carol-pw"))
        ack = c.expect(m.CONNACK)
        if ack.reason == 0:
            carol = c
            break
        c.close()
        assert time.monotonic() < deadline, "carol still refused 5 s after SIGHUP"
        time.sleep(0.1)
    # connections from before the reload are still up, both ways
    carol.publish(topic, b"from carol", qos=1)
    p = alice.expect(m.PUBLISH)
    alice.ack(p)
    assert p.payload == b"from carol"
    bob.publish(topic, b"from bob", qos=1)
    assert alice.expect(m.PUBLISH).payload == b"from bob"

    # remove bob and change alice's password, reload: the new file is in force for new logins
    passwd(pwfile, "remove", "bob")
    passwd(pwfile, "add", "alice", "alice-new")
    b.sighup()
    deadline = time.monotonic() + 5
    while True:
        c = m.RawClient(b.port, proto)
        c.send(m.connect(uid(), proto=proto, username="bob", password=b"bob pw with spaces"))
        ack = c.expect(m.CONNACK)
        c.close()
        if ack.reason == bad:
            break
        assert time.monotonic() < deadline, "removed user still accepted 5 s after SIGHUP"
        time.sleep(0.1)
    _login(b, proto, "alice", b"alice-pw", rc=bad).close()
    _login(b, proto, "alice", b"alice-new").close()
    alice.close(), bob.close(), carol.close()


def test_sighup_with_unreadable_password_file_keeps_the_old_one(broker_factory, pwfile):
    b = broker_factory(auth={"password_file": str(pwfile)})
    pwfile.write_text("this is not a password file\n")
    b.sighup()
    time.sleep(0.5)
    assert b.alive()
    _login(b, V5, "alice", b"alice-pw").close()


# -- identity from the client certificate ---------------------------------------------------------

@pytest.mark.parametrize("identity,expected", [
    ("cn", "device-1"),
    ("san_dns", "device-1.fleet"),
    ("san_uri", "urn:fleet:device-1"),
    ("san_email", "device-1@example.com"),
])
@pytest.mark.parametrize("proto", PROTOS)
def test_client_id_must_match_certificate_identity(broker_factory, certs, proto, identity, expected):
    _, _, id_rejected = CODES[proto]
    b = broker_factory(tls={"cert": str(certs.pem("server")), "key": str(certs.key("server")),
                            "ca": str(certs.ca), "client_auth": "required"},
                       auth={"identity": identity, "client_id_must_match": True})
    ctx = client_context(certs, "device-1")
    ok = TLSRawClient(b.tls_port, ctx, proto)
    ok.connect(expected)
    for wrong in {"device-1", "device-1.fleet", "device-2", "DEVICE-1", expected + "x"} - {expected}:
        c = TLSRawClient(b.tls_port, ctx, proto)
        refused_and_closed(c, wrong, id_rejected)
        c.close()
    ok.subscribe([("x/y", 0)])
    ok.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_certificate_without_the_identity_field_is_not_authorized(broker_factory, certs, proto):
    """identity san_dns: device-2's certificate has no SAN, so it names no device: 0x87 / 0x05."""
    _, not_authorized, _ = CODES[proto]
    b = broker_factory(tls={"cert": str(certs.pem("server")), "key": str(certs.key("server")),
                            "ca": str(certs.ca), "client_auth": "required"},
                       auth={"identity": "san_dns"})
    c = TLSRawClient(b.tls_port, client_context(certs, "device-2"), proto)
    refused_and_closed(c, "device-2", not_authorized)
    c.close()
    ok = TLSRawClient(b.tls_port, client_context(certs, "device-1"), proto)
    ok.connect(uid())
    ok.close()


@pytest.mark.parametrize("proto", PROTOS)
def test_client_id_need_not_match_by_default(broker_factory, certs, proto):
    b = broker_factory(tls={"cert": str(certs.pem("server")), "key": str(certs.key("server")),
                            "ca": str(certs.ca), "client_auth": "required"}, auth={})
    c = TLSRawClient(b.tls_port, client_context(certs, "device-1"), proto)
    c.connect("anything-" + uid())
    c.close()
