"""Issue #3: authorization policies (`policies:`), enforced end to end.

Allow and deny both ways with ${clientid}, ${username} and ${cn}; deny wins; rules keyed by user
name, by certificate CN and by group; refused publish (v5 PUBACK/PUBREC 0x87, 3.1.1 acked and
dropped, QoS 0 dropped), refused subscribe (SUBACK 0x80 / 0x87 next to granted filters),
receive-denied messages not delivered (live, retained, wills), and $SYS/broker/security/denied.

Fleetgate-only: mosquitto's acl_file has no receive/subscribe split, no deny rules and no
${cn}; the policy model is Fleetgate's."""

from __future__ import annotations

import pytest

import mqttraw as m
from certs import TLSRawClient, client_context, passwd, read_sys, wait_sys
from support import PROTOS, V5, V311, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("authorization policies (issue #3)")

ALL = ["publish", "subscribe", "receive"]
POLICIES = {
    "default": "deny",
    "everyone": [
        {"effect": "allow", "actions": ALL, "filters": ["devices/${clientid}/#"]},
        {"effect": "allow", "actions": ALL, "filters": ["users/${username}/#"]},
        {"effect": "deny", "actions": ALL, "filters": ["devices/${clientid}/locked/#"]},
    ],
    "identities": {
        "device-1": [{"effect": "allow", "actions": ["publish"], "filters": ["telemetry/${cn}/#"]}],
        "writer": [{"effect": "allow", "actions": ["publish"], "filters": ["#"]}],
        "auditor": [
            {"effect": "allow", "actions": ["subscribe", "receive"], "filters": ["#", "$SYS/#"]},
            {"effect": "deny", "actions": ["receive"], "filters": ["secret/#"]},
        ],
    },
    "groups": {
        "ops": {"members": ["alice"],
                "rules": [{"effect": "allow", "actions": ["subscribe", "receive"],
                           "filters": ["telemetry/#", "devices/#", "users/#"]}]},
    },
}
USERS = ["alice", "bob", "carol", "writer", "auditor"]
DENIED = "$SYS/broker/security/denied"


def sub_refused(proto):
    return 0x80 if proto == V311 else m.RC_NOT_AUTHORIZED


@pytest.fixture
def pb(broker_factory, certs, tmp_path):
    """The broker with POLICIES, a password file (user X has password "X-pw"), and an mqtts
    listener with client_auth optional (devices by certificate, users by password)."""
    pw = tmp_path / "passwd"
    for u in USERS:
        passwd(pw, "add", u, f"{u}-pw")
    return broker_factory(
        tls={"cert": str(certs.pem("server")), "key": str(certs.key("server")),
             "ca": str(certs.ca), "client_auth": "optional"},
        auth={"password_file": str(pw)}, policies=POLICIES)


@pytest.fixture
def user(pb):
    """user(name, proto, client_id=None) -> RawClient logged in over TCP with name's password."""
    opened = []

    def make(name, proto=V5, client_id=None, **kw):
        c = m.RawClient(pb.port, proto)
        opened.append(c)
        c.connect(client_id or uid(name), username=name, password=f"{name}-pw".encode(), **kw)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def device(pb, certs):
    """device(cert, proto, client_id=None) -> TLSRawClient authenticated by its certificate."""
    opened = []

    def make(cert, proto=V5, client_id=None, **kw):
        c = TLSRawClient(pb.tls_port, client_context(certs, cert), proto)
        opened.append(c)
        c.connect(client_id or uid(cert), **kw)
        return c

    yield make
    for c in opened:
        c.close()


def delivered(sub: m.RawClient, within: float = 0.5) -> list[tuple[bytes, bytes]]:
    """Every PUBLISH that arrives within `within` s (acked), as (topic, payload)."""
    got = []
    while True:
        try:
            p = sub.recv(within)
        except TimeoutError:
            return got
        assert p.type == m.PUBLISH, p
        sub.ack(p)
        got.append((p.topic, p.payload))


def send_publish(c: m.RawClient, topic: str, payload: bytes, qos: int, mid: int):
    """Send one PUBLISH and return the broker's first answer (None for QoS 0)."""
    c.send(m.publish(topic, payload, qos=qos, mid=mid, proto=c.proto))
    if qos == 0:
        return None
    return c.expect(m.PUBACK if qos == 1 else m.PUBREC)


# -- subscribe ------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
def test_subscribe_clientid_and_username_substitution_mixed_suback(user, proto):
    bob = user("bob", proto, client_id="dev-a")
    ack = bob.subscribe([("devices/dev-a/#", 1), ("devices/dev-b/#", 1), ("users/bob/inbox", 2),
                         ("users/carol/#", 0), ("devices/dev-a/locked/#", 1),
                         ("devices/dev-a/+/temp", 0), ("$share/g/devices/dev-a/x", 1),
                         ("$share/g/devices/dev-b/x", 1), ("#", 0), ("$SYS/#", 0)])
    no = sub_refused(proto)
    assert ack.codes == [1, no, 2, no, no, 0, 1, no, no, no]
    # still connected and usable
    bob.subscribe([("devices/dev-a/ok", 0)], mid=2)


def test_group_member_gets_group_rules_others_do_not(user):
    alice, bob = user("alice"), user("bob")
    assert alice.subscribe([("telemetry/#", 1)]).codes == [1]
    assert bob.subscribe([("telemetry/#", 1)]).codes == [m.RC_NOT_AUTHORIZED]


# -- publish ------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_refused_publish_answer_and_not_delivered(user, proto, qos):
    """v5: PUBACK 0x87 (QoS 1) / PUBREC 0x87 (QoS 2). 3.1.1: the normal ack, message dropped.
    QoS 0: silently dropped. In every case no subscriber gets it and the connection stays."""
    alice = user("alice", V5)
    alice.subscribe([("devices/#", 2)])
    bob = user("bob", proto, client_id="dev-a")
    ans = send_publish(bob, "devices/dev-b/t", b"not yours", qos, mid=11)
    if qos and proto == V5:
        assert ans.mid == 11 and ans.reason == m.RC_NOT_AUTHORIZED, ans
    elif qos:
        assert ans.mid == 11, ans
        if qos == 2:
            bob.send(m.pubrel(11, proto=proto))
            assert bob.expect(m.PUBCOMP).mid == 11
    assert delivered(alice) == []
    # the connection is still up and an allowed publish goes through
    bob.publish("devices/dev-a/t", b"mine", qos=1, mid=12)
    assert delivered(alice) == [(b"devices/dev-a/t", b"mine")]


@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("qos", [0, 1])
def test_refused_retained_publish_is_not_stored(user, proto, qos):
    bob = user("bob", proto, client_id="dev-a")
    send_publish_retained = m.publish("devices/dev-b/r", b"forged retained", qos=qos, retain=True,
                                      mid=3, proto=proto)
    bob.send(send_publish_retained)
    if qos:
        bob.expect(m.PUBACK)
    bob.publish("devices/dev-a/r", b"own retained", qos=1, retain=True, mid=4)
    alice = user("alice", V5)
    alice.subscribe([("devices/#", 1)])
    assert delivered(alice) == [(b"devices/dev-a/r", b"own retained")]


@pytest.mark.parametrize("proto", PROTOS)
def test_publish_allow_and_deny_by_variable(user, device, proto):
    alice = user("alice", V5)
    alice.subscribe([("devices/#", 1), ("users/#", 1), ("telemetry/#", 1)])
    bob = user("bob", proto, client_id="dev-a")
    d1 = device("device-1", proto)
    d2 = device("device-2", proto)
    tries = [
        (bob, "devices/dev-a/t", True),           # ${clientid}
        (bob, "devices/dev-b/t", False),
        (bob, "users/bob/t", True),               # ${username}
        (bob, "users/carol/t", False),
        (bob, "devices/dev-a/locked/t", False),   # deny wins over the allow of devices/dev-a/#
        (bob, "telemetry/device-1/t", False),
        (d1, "telemetry/device-1/t", True),       # ${cn}, rule of identity device-1
        (d1, "telemetry/device-2/t", False),
        (d2, "telemetry/device-2/t", False),      # no rule for device-2
        (d1, "users/device-1/t", False),          # no user name: ${username} rule dropped
    ]
    for i, (c, topic, _) in enumerate(tries):
        send_publish(c, topic, b"p%d" % i, 1, mid=100 + i)
    want = sorted((t.encode(), b"p%d" % i) for i, (_, t, ok) in enumerate(tries) if ok)
    assert sorted(delivered(alice, 1.0)) == want


# -- receive ------------------------------------------------------------------------------------

def test_receive_denied_even_when_subscribe_allowed_and_counted(user):
    """auditor may subscribe to '#' but is denied receive on secret/#: secret/x is not delivered
    (live or retained) and $SYS/broker/security/denied rises."""
    writer = user("writer")
    writer.publish("secret/retained", b"r-secret", qos=1, retain=True, mid=1)
    writer.publish("public/retained", b"r-public", qos=1, retain=True, mid=2)
    mon = user("auditor")
    before = read_sys(mon, DENIED)
    aud = user("auditor")
    assert aud.subscribe([("#", 1)]).codes == [1]
    got = delivered(aud)
    assert (b"public/retained", b"r-public") in got
    assert all(not t.startswith(b"secret/") for t, _ in got), got
    writer.publish("secret/x", b"live-secret", qos=1, mid=3)
    writer.publish("public/x", b"live-public", qos=1, mid=4)
    assert delivered(aud) == [(b"public/x", b"live-public")]
    wait_sys(lambda: user("auditor"), DENIED, lambda v: v > before)


@pytest.mark.parametrize("proto", PROTOS)
def test_deny_receive_inside_own_subtree(user, proto):
    """bob (client id dev-a) subscribed to devices/dev-a/# does not receive
    devices/dev-a/locked/x (deny receive wins), but does receive devices/dev-a/x."""
    bob = user("bob", proto, client_id="dev-a")
    assert bob.subscribe([("devices/dev-a/#", 1)]).codes == [1]
    writer = user("writer")
    writer.publish("devices/dev-a/locked/x", b"locked", qos=1, mid=1)
    writer.publish("devices/dev-a/x", b"open", qos=1, mid=2)
    assert delivered(bob) == [(b"devices/dev-a/x", b"open")]


def test_will_on_a_forbidden_topic_is_not_published(pb, user):
    alice = user("alice")
    alice.subscribe([("devices/#", 1), ("users/#", 1)])
    bob = m.RawClient(pb.port, V5)
    bob.connect("dev-a", username="bob", password=b"bob-pw",
                will=m.Will("devices/dev-b/will", b"forged will", qos=1))
    bob2 = m.RawClient(pb.port, V5)
    bob2.connect(uid(), username="bob", password=b"bob-pw",
                 will=m.Will("users/bob/will", b"allowed will", qos=1))
    bob.abort(), bob2.abort()
    assert sorted(delivered(alice, 1.5)) == [(b"users/bob/will", b"allowed will")]


# -- identity edge cases ------------------------------------------------------------------------

@pytest.mark.parametrize("claimed", ["alice", "writer"])
def test_certificate_client_cannot_claim_a_user_name_without_its_password(pb, certs, user, claimed):
    """Under mutual TLS the CONNECT's user name is not a credential: device-2 sending
    username=alice / writer (no password) must not get alice's group rules or writer's publish
    rule. Either the CONNECT is refused or the rules of that user do not apply."""
    c = TLSRawClient(pb.tls_port, client_context(certs, "device-2"), V5)
    c.send(m.connect(uid("dev2"), proto=V5, username=claimed))
    ack = c.expect(m.CONNACK)
    if ack.reason != 0:
        c.close()
        return
    alice = user("alice")
    alice.subscribe([("devices/#", 1)])
    assert c.subscribe([("telemetry/#", 1)]).codes == [m.RC_NOT_AUTHORIZED], \
        f"device-2 claiming username {claimed!r} got the subscribe rights of that user"
    ans = send_publish(c, "devices/somebody-else/x", b"forged", 1, mid=5)
    assert ans.reason == m.RC_NOT_AUTHORIZED, \
        f"device-2 claiming username {claimed!r} got the publish rights of that user"
    assert delivered(alice) == []
    c.close()


def test_certificate_client_with_wrong_password_is_not_that_user(pb, certs, user):
    c = TLSRawClient(pb.tls_port, client_context(certs, "device-2"), V5)
    c.send(m.connect(uid("dev2"), proto=V5, username="writer", password=b"wrong"))
    ack = c.expect(m.CONNACK)
    if ack.reason == 0:
        ans = send_publish(c, "anything/at/all", b"forged", 1, mid=5)
        assert ans.reason == m.RC_NOT_AUTHORIZED, "wrong password still gave writer's rights"
    c.close()


@pytest.mark.parametrize("cid", ["a/b", "dev+", "x#"])
def test_client_id_with_topic_characters_gets_no_subtree(user, cid):
    """${clientid} with '/', '+' or '#' is unusable: the allow rule drops (never widens)."""
    bob = user("bob", V5, client_id=cid)
    ack = bob.subscribe([("devices/a/b/#", 1), ("devices/+/#", 1), ("devices/#", 1)])
    assert ack.codes == [m.RC_NOT_AUTHORIZED] * 3
    ans = send_publish(bob, "devices/a/b/c", b"x", 1, mid=2)
    assert ans.reason == m.RC_NOT_AUTHORIZED
