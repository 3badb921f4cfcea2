"""Issue #16: the golden vectors of Protocol/vectors are language-neutral. This reads them in
Python (protocol_vectors.py, written from Protocol/README.md) and holds this suite's own frame
codec, fleetframes.py (written from the spec independently of the Swift one, and what the
coordinator tests speak), to them: for every vector of a kind it builds, the same bytes; for every
vector of a kind it parses, the same fields. The Swift tests hold the Swift codec to the same files."""
from __future__ import annotations

import pytest

import fleetframes as ff
from protocol_vectors import boolean, byte_string, integer, items, load, records, text

VECTORS = load("agent-coordinator")


def of(kind: str):
    return [pytest.param(v, id=v.name) for v in VECTORS if v.kind == kind]


def test_the_files_read_and_no_vector_was_lost():
    assert len(VECTORS) >= 33  # the count when they moved out of the Swift tests
    assert len({v.name for v in VECTORS}) == len(VECTORS)
    assert all(v.kind and v.data for v in VECTORS)
    # Every frame's header says its body length, and the bytes hold exactly one frame.
    for v in VECTORS:
        frame, rest = ff.split_frame(v.data)
        assert frame is not None and rest == b"", v.name
        assert ff.KIND_NAMES.get(frame.kind, v.kind) == v.kind, v.name


# ---- fleetframes' builders give the vector's bytes

@pytest.mark.parametrize("v", of("HELLO"))
def test_hello_builds_the_vector(v):
    f = v.fields
    labels = [(text(f[f"labels.{i}.key"]), text(f[f"labels.{i}.value"])) for i in range(records(f, "labels"))]
    built = ff.hello(text(f["gateway_id"]), byte_string(f["auth_token"]), min_version=integer(f["min_version"]),
                     max_version=integer(f["max_version"]), max_frame=integer(f["maximum_frame_size"]),
                     mqtt_address=text(f["mqtt_address"]), region=text(f["region"]), labels=labels,
                     capacity=integer(f["capacity_weight"]), software=text(f["software_version"]))
    assert built == v.data


@pytest.mark.parametrize("v", of("ERROR"))
def test_error_builds_the_vector(v):
    f = v.fields
    assert ff.error(integer(f["code"]), integer(f["related_kind"]), text(f["message"])) == v.data


@pytest.mark.parametrize("v", of("HEARTBEAT"))
def test_heartbeat_builds_the_vector(v):
    assert ff.heartbeat(integer(v.fields["sequence"]), integer(v.fields["timestamp_ms"])) == v.data


@pytest.mark.parametrize("v", of("INTEREST_SNAPSHOT"))
def test_interest_snapshot_builds_the_vector(v):
    f = v.fields
    built = ff.interest_snapshot(integer(f["epoch"]), integer(f["sequence"]), [text(x) for x in items(f, "filters")],
                                 last=boolean(f["last"]))
    assert built == v.data


@pytest.mark.parametrize("v", of("INTEREST_DELTA"))
def test_interest_delta_builds_the_vector(v):
    f = v.fields
    built = ff.interest_delta(integer(f["epoch"]), integer(f["sequence"]), [text(x) for x in items(f, "added")],
                              [text(x) for x in items(f, "removed")])
    assert built == v.data


@pytest.mark.parametrize("v", of("DELIVERY_ACK"))
def test_delivery_ack_builds_the_vector(v):
    f = v.fields
    built = ff.delivery_ack(text(f["origin_gateway_id"]), integer(f["up_to_sequence"]), [integer(x) for x in items(f, "selective")])
    assert built == v.data


# ---- fleetframes' parser gives the vector's fields

@pytest.mark.parametrize("v", of("HELLO_ACK"))
def test_hello_ack_parses_to_the_fields(v):
    frame, _ = ff.split_frame(v.data)
    f = v.fields
    assert frame.fields == {"version": integer(f["version"]), "session_epoch": integer(f["session_epoch"]),
                            "heartbeat_ms": integer(f["heartbeat_interval_ms"]),
                            "max_frame": integer(f["maximum_frame_size"]), "coordinator_id": text(f["coordinator_id"])}


@pytest.mark.parametrize("v", of("REMOTE_INTEREST"))
def test_remote_interest_parses_to_the_fields(v):
    frame, _ = ff.split_frame(v.data)
    f = v.fields
    expected = {"form": {0: "snapshot", 1: "delta"}[integer(f["form"])], "epoch": integer(f["epoch"]), "seq": integer(f["sequence"])}
    if expected["form"] == "snapshot":
        expected.update(last=boolean(f["last"]), filters=[text(x) for x in items(f, "filters")])
    else:
        expected.update(added=[text(x) for x in items(f, "added")], removed=[text(x) for x in items(f, "removed")])
    assert frame.fields == expected


@pytest.mark.parametrize("v", of("FORWARD"))
def test_forward_parses_to_the_fields(v):
    frame, _ = ff.split_frame(v.data)
    f = v.fields
    assert (frame["origin"], frame["seq"], frame["qos"], frame["retain"], frame["topic"], frame["payload"]) == (
        text(f["origin_gateway_id"]), integer(f["sequence"]), integer(f["qos"]), boolean(f["retain"]), text(f["topic"]),
        byte_string(f["payload"]))
    # fleetframes keeps the property block raw: it is empty exactly when the vector has no properties.
    assert (frame["properties"] == b"") == (not any(k.startswith("properties.") for k in f))


@pytest.mark.parametrize("v", of("REPLAY"))
def test_replay_parses_to_the_fields(v):
    frame, _ = ff.split_frame(v.data)
    assert frame.fields == {"from_seq": integer(v.fields["from_sequence"])}

