"""Item 9: the agent's deny_subscribe policy (config `policy.deny_subscribe: ["forbidden/#"]`).

Fleetgate-only: mosquitto 2.0's acl_file never refuses a SUBSCRIBE (it filters at delivery), so
there is no reference behaviour to validate against; the SUBACK decoding these tests rely on is
validated by every other subscribe test."""

import pytest

import mqttraw as m
from support import V5, V311, fleetgate_only_marks, uid

pytestmark = fleetgate_only_marks("deny_subscribe policy; mosquitto's acl_file cannot refuse SUBSCRIBE")


@pytest.mark.parametrize("proto,refused", [(V311, 0x80), (V5, m.RC_NOT_AUTHORIZED)])
def test_denied_filter_refused_others_granted_in_same_subscribe(raw, proto, refused):
    c = raw(proto)
    c.connect(uid())
    ack = c.subscribe([("ok/a", 1), ("forbidden/#", 1), ("forbidden/x/y", 2), ("ok/b", 2)])
    assert ack.codes == [1, refused, refused, 2]


def test_denied_subscription_receives_nothing_granted_one_does(raw, paho):
    c = raw(V5)
    c.connect(uid())
    c.subscribe([("forbidden/x", 1), ("ok/x", 1)])
    pub = paho(proto=V5)
    pub.connect()
    pub.publish("forbidden/x", b"no", qos=1)
    pub.publish("ok/x", b"yes", qos=1)
    p = c.expect(m.PUBLISH)
    c.ack(p)
    assert p.payload == b"yes"
    c.expect_none(0.3)


def test_paho_sees_refusal(paho):
    c = paho(proto=V311)
    c.connect()
    assert c.subscribe("forbidden/#", qos=1) == [0x80]
