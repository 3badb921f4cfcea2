"""The coordinator's HTTP admin API, gateway timeouts, restart persistence and config errors."""

from __future__ import annotations

import re
import subprocess
import time

from coordinators import (ADMIN_TOKEN, BINARY, READ_TOKEN, TOKEN, Coordinator, coordinator,  # noqa: F401 (fixtures)
                          coordinator_factory)
from fleetframes import (ERROR, FORWARD, HEARTBEAT, HEARTBEAT_TIMEOUT, LIMIT_EXCEEDED, REMOTE_INTEREST, forward, heartbeat,
                         interest_delta, interest_snapshot, load_report)


def test_unknown_gateway_and_route_are_404_json(coordinator):
    status, body, ctype = coordinator.http("/v1/gateways/does-not-exist")
    assert status == 404 and ctype.startswith("application/json")
    assert body["code"] == "not_found" and "does-not-exist" in body["error"]
    status, body, ctype = coordinator.http("/v2/nothing/here")
    assert status == 404 and ctype.startswith("application/json") and body["code"] == "not_found"


def test_interest_query_validation_is_400_json(coordinator):
    for path in ("/v1/interest", "/v1/interest?topic=", "/v1/interest?topic=a/%2B/b", "/v1/interest?topic=a/%23"):
        status, body, ctype = coordinator.http(path)
        assert status == 400 and ctype.startswith("application/json"), (path, status, body)
        assert body["code"] in ("bad_request", "invalid_topic") and body["error"], (path, body)
    assert coordinator.get("/v1/interest?topic=a/b") == {"topic": "a/b", "gateways": []}


READ_PATHS = ("/v1/gateways", "/v1/gateways/gw-1", "/v1/graph", "/v1/interest?topic=a/b", "/metrics",
              "/v2/nothing/here")


def test_admin_api_wants_a_token_and_the_read_token_cannot_write(coordinator):
    """Issue #11 (admin API security): every endpoint but /healthz answers 401 with the JSON body
    without a token or with a wrong one (an unknown path too: nothing is revealed), the read token
    reads, and a write with the read token is 403."""
    for path in READ_PATHS:
        for token in (None, "wrong", ADMIN_TOKEN + "x", READ_TOKEN[:-1]):
            status, body, ctype = coordinator.http(path, token=token)
            assert status == 401 and ctype.startswith("application/json"), (path, token, status, body)
            assert body["code"] == "unauthorized" and body["error"], (path, body)
        status, _, _ = coordinator.http(path, token=READ_TOKEN)
        assert status in (200, 404), (path, status)  # 404: no gw-1 yet, no /v2
    for method, path in (("DELETE", "/v1/gateways/gw-1"), ("POST", "/v1/gateways"), ("PUT", "/v1/graph")):
        status, body, _ = coordinator.http(path, method=method, token=READ_TOKEN)
        assert status == 403 and body["code"] == "forbidden", (method, path, status, body)
        status, body, _ = coordinator.http(path, method=method, token=None)
        assert status == 401, (method, path, status, body)
        status, body, _ = coordinator.http(path, method=method, token=ADMIN_TOKEN)
        assert status in (404, 405), (method, path, status, body)  # past the check: routing answers
    status, body, _ = coordinator.http("/healthz", token=None)
    assert status == 200 and body["status"] == "ok"


def test_admin_api_without_configured_tokens_is_closed(tmp_path):
    """No --admin-token-file: the API answers 401 to all but /healthz, whatever is presented."""
    c = Coordinator(tmp_path / "closed")
    c.args = lambda: [a for a in Coordinator.args(c) if a not in (
        "--admin-token-file", str(c.admin_token_file), "--read-token-file", str(c.read_token_file))]
    c.start()
    try:
        for token in (None, ADMIN_TOKEN, READ_TOKEN):
            status, body, _ = c.http("/v1/gateways", token=token)
            assert status == 401 and "no token configured" in body["error"], (token, status, body)
        assert c.http("/healthz", token=None)[0] == 200
    finally:
        c.stop()


def test_healthz(coordinator):
    body = coordinator.get("/healthz")
    assert body["status"] == "ok" and body["gateways_active"] == 0


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?$')


def parse_prometheus(text: str) -> dict[str, float]:
    """Strict enough for the text format 0.0.4: every line a comment (# TYPE/# HELP) or a sample."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[1] in ("TYPE", "HELP"), line
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name = m.group(1)
        assert name in types or name.rsplit("_", 1)[0] in types, f"sample without TYPE: {line}"
        samples[line.rsplit(" ", 1)[0]] = float(m.group(4))
    return samples


def test_metrics_parse_and_count(coordinator):
    a = coordinator.gateway("gw-a")
    b = coordinator.gateway("gw-b")
    b.send(interest_snapshot(1, 0, ["m/#", "n"]))
    coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-b")["interest_filters"] == 2, "interest")
    a.c.expect_silence(0.1, skip=(REMOTE_INTEREST,))
    a.send(forward("gw-a", 1, "m/1", b"x", qos=0))
    assert b.recv(FORWARD)["seq"] == 1
    status, text, ctype = coordinator.http("/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    s = parse_prometheus(text)
    p = "fleetgate_coordinator_"
    assert s[p + 'gateways{state="active"}'] == 2
    assert s[p + 'gateways{state="down"}'] == 0
    assert s[p + 'frames_in_total{kind="HELLO"}'] == 2
    assert s[p + 'frames_in_total{kind="FORWARD"}'] == 1
    assert s[p + 'frames_out_total{kind="FORWARD"}'] == 1
    assert s[p + 'frames_out_total{kind="HELLO_ACK"}'] == 2
    assert s[p + "forwards_routed_total"] == 1
    assert s[p + 'forwards_dropped_total{reason="queue_full"}'] == 0
    assert s[p + "interest_filters"] == 2
    # counters only move up between scrapes
    a.send(forward("gw-a", 2, "n", b"y", qos=0))
    assert b.recv(FORWARD)["seq"] == 2
    s2 = parse_prometheus(coordinator.get("/metrics"))
    assert s2[p + "forwards_routed_total"] == 2


def test_load_report_is_shown(coordinator):
    a = coordinator.gateway("gw-a")
    a.send(load_report(connections=12, msgs_in=100, msgs_out=90, bytes_in=5000, bytes_out=4000))
    g = coordinator.wait_for(lambda: coordinator.get("/v1/gateways/gw-a")["load"], "load report")
    assert g["connections"] == 12 and g["messages_in_per_second"] == 100 and g["bytes_out_per_second"] == 4000


def test_silent_gateway_is_marked_down_and_forgotten(coordinator_factory):
    coord = coordinator_factory(gateway_timeout=0.6)
    quiet = coord.gateway("gw-quiet")
    alive = coord.gateway("gw-alive")
    interval = alive.ack["heartbeat_ms"] / 1000
    assert interval <= 0.2 + 1e-9  # a third of the timeout
    quiet.send(interest_snapshot(1, 0, ["q/#"]))
    coord.wait_for(lambda: coord.get("/v1/gateways/gw-quiet")["interest_filters"] == 1, "interest")
    seq = 0
    alive_frames = []

    def keep_alive():
        """alive talks at the announced pace and collects what it is sent."""
        nonlocal seq
        seq += 1
        alive.send(heartbeat(seq))
        while True:
            try:
                alive_frames.append(alive.c.recv(timeout=0.001))
            except TimeoutError:
                return

    # quiet says nothing more; bounded wait for its heartbeatTimeout
    deadline = time.monotonic() + 3.0
    got_error = None
    while time.monotonic() < deadline and got_error is None:
        keep_alive()
        try:
            f = quiet.c.recv(timeout=interval / 2)
            if f.kind == ERROR:
                got_error = f
        except TimeoutError:
            pass
    assert got_error is not None and got_error["code"] == HEARTBEAT_TIMEOUT

    def quiet_down():
        keep_alive()
        g = coord.gateways()
        return g if g["gw-quiet"]["state"] == "down" else None

    g = coord.wait_for(quiet_down, "gw-quiet down")
    assert g["gw-quiet"]["connected"] is False
    assert g["gw-alive"]["state"] == "active"
    assert coord.get("/v1/interest?topic=q/1")["gateways"] == []
    keep_alive()
    # alive heard the coordinator's heartbeats and the filter leaving the union
    assert HEARTBEAT in {f.kind for f in alive_frames}
    deltas = [f for f in alive_frames if f.kind == REMOTE_INTEREST]
    assert [d["added"] for d in deltas] == [["q/#"], []] and deltas[-1]["removed"] == ["q/#"]
    graph = coord.get("/v1/graph")
    assert any(e["source"] == "gw-quiet" and e["state"] == "down" for e in graph["edges"])


def test_restart_keeps_registry_with_gateways_down(coordinator_factory):
    coord = coordinator_factory()
    gw = coord.gateway("gw-p", region="us-2", labels=[("tier", "edge")], capacity=7, mqtt_address="192.0.2.1:1883")
    first_epoch = gw.ack["session_epoch"]
    coord.restart()
    g = coord.get("/v1/gateways/gw-p")
    assert g["state"] == "down" and g["connected"] is False
    assert (g["region"], g["labels"], g["capacity_weight"], g["mqtt_address"]) == ("us-2", {"tier": "edge"}, 7, "192.0.2.1:1883")
    edges = coord.get("/v1/graph")["edges"]
    assert [e["state"] for e in edges if e["source"] == "gw-p"] == ["down"]
    again = coord.gateway("gw-p", region="us-2")
    assert again.ack["session_epoch"] > first_epoch  # epochs keep increasing across restarts
    assert coord.get("/v1/gateways/gw-p")["state"] == "active"


def test_delete_gateway_refuses_while_connected_and_removes_for_good(coordinator_factory):
    """Issue #11: DELETE /v1/gateways/{id} (the first write endpoint) refuses a connected gateway
    (409), needs the admin token (403 with the read token), forgets the gateway and its edge, and
    the removal survives a restart."""
    coord = coordinator_factory()
    gw = coord.gateway("gw-del", region="r1")
    keep = coord.gateway("gw-keep")
    status, body, _ = coord.http("/v1/gateways/gw-del", method="DELETE")
    assert status == 409 and body["code"] == "gateway_connected", (status, body)
    gw.close()
    coord.wait_for(lambda: coord.get("/v1/gateways/gw-del")["connected"] is False, "gw-del down")
    status, body, _ = coord.http("/v1/gateways/gw-del", method="DELETE", token=READ_TOKEN)
    assert status == 403, (status, body)
    status, body, _ = coord.http("/v1/gateways/gw-del", method="DELETE")
    assert status == 200 and body == {"removed": "gw-del"}, (status, body)
    assert coord.http("/v1/gateways/gw-del")[0] == 404
    assert "gw-del" not in coord.gateways() and "gw-keep" in coord.gateways()
    assert not [e for e in coord.get("/v1/graph")["edges"] if "gw-del" in (e["source"], e["target"])]
    status, body, _ = coord.http("/v1/gateways/gw-del", method="DELETE")
    assert status == 404 and body["code"] == "not_found"
    keep.close()
    coord.restart()
    assert "gw-del" not in coord.gateways() and "gw-keep" in coord.gateways()


def test_interest_over_max_interest_filters_is_refused(coordinator_factory, tmp_path):
    """Issue #11: a gateway's interest is bounded (`max_interest_filters`): a snapshot or a delta
    past it gets ERROR limitExceeded and a close, the table in force is not replaced by it, and
    other gateways never hear the filters."""
    cfg = tmp_path / "bounded.yaml"
    cfg.write_text("max_interest_filters: 5\n")
    coord = coordinator_factory(extra_args=["--config", str(cfg)])
    watcher = coord.gateway("gw-watch")
    big = coord.gateway("gw-big")
    big.send(interest_snapshot(1, 0, [f"big/{i}" for i in range(6)]))
    err = big.recv(ERROR)
    assert err["code"] == LIMIT_EXCEEDED and "max_interest_filters" in err["message"], err.fields
    coord.wait_for(lambda: not coord.get("/v1/gateways/gw-big")["connected"], "gw-big disconnected")
    assert coord.get("/v1/interest?topic=big/0")["gateways"] == []
    ok = coord.gateway("gw-ok")
    ok.send(interest_snapshot(1, 0, [f"ok/{i}" for i in range(5)]))
    coord.wait_for(lambda: coord.get("/v1/gateways/gw-ok")["interest_filters"] == 5, "5 filters held")
    ok.send(interest_delta(1, 1, added=["ok/0", "ok/5"], removed=["ok/1"]))  # still 5: allowed
    coord.wait_for(lambda: len(coord.get("/v1/interest?topic=ok/5")["gateways"]) == 1, "delta applied")
    ok.send(interest_delta(1, 2, added=["ok/6"]))  # 6: refused
    err = ok.recv(ERROR)
    assert err["code"] == LIMIT_EXCEEDED, err.fields
    status, text, _ = coord.http("/metrics")
    assert "fleetgate_coordinator_interest_refused_total 2" in text, text[-2000:]
    watcher.close()


def test_admin_api_over_tls(tmp_path):
    """Issue #11: --http-tls-cert/--http-tls-key serve the admin API over TLS (1.2+): a client
    that trusts the test CA gets answers, with the token rules unchanged; plain HTTP to that port
    gets no answer; a client that does not trust the CA refuses the handshake."""
    import http.client
    import ssl
    from certs import Certs
    certs = Certs(tmp_path / "certs")
    c = Coordinator(tmp_path / "tls", extra_args=["--http-tls-cert", str(certs.pem("server")),
                                                 "--http-tls-key", str(certs.key("server"))])
    c.start()
    try:
        host, port = c.http_base.removeprefix("http://").rsplit(":", 1)

        def get(path, token, context):
            conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r.status, body, conn

        trusted = ssl.create_default_context(cafile=str(certs.ca))
        status, body, _ = get("/v1/gateways", ADMIN_TOKEN, trusted)
        assert status == 200 and b'"gateways"' in body, (status, body)
        assert get("/v1/gateways", None, trusted)[0] == 401
        assert get("/healthz", None, trusted)[0] == 200
        strict = ssl.create_default_context(cafile=str(certs.pem("other-ca")))
        try:
            get("/healthz", None, strict)
            raise AssertionError("a client that does not trust the CA completed the handshake")
        except ssl.SSLCertVerificationError:
            pass
        plain = http.client.HTTPConnection(host, int(port), timeout=3)
        try:
            plain.request("GET", "/healthz")
            status = plain.getresponse().status
            raise AssertionError(f"plain HTTP to the TLS listener got an answer ({status})")
        except (http.client.HTTPException, ConnectionError, OSError):
            pass
        finally:
            plain.close()
    finally:
        c.stop()


def test_http_tls_needs_both_cert_and_key(tmp_path):
    token = tmp_path / "t"
    token.write_text("tok\n")
    r = run_binary("--token-file", str(token), "--http-tls-cert", str(tmp_path / "c.pem"))
    assert r.returncode == 78 and "--http-tls-key" in r.stderr, r


def test_unreadable_http_tls_files_are_config_errors_naming_key_and_file(tmp_path):
    """A missing or non-PEM certificate or key stops the coordinator at start with exit 78, the
    key and the file named (not later, at bind)."""
    token = tmp_path / "t"
    token.write_text("tok\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    from certs import Certs
    certs = Certs(tmp_path / "certs")
    for cert, key, bad_key, bad_file in ((tmp_path / "missing.pem", certs.key("server"), "http_tls_cert", tmp_path / "missing.pem"),
                                         (junk, certs.key("server"), "http_tls_cert", junk),
                                         (certs.pem("server"), junk, "http_tls_key", junk)):
        r = run_binary("--token-file", str(token), "--data-dir", str(tmp_path / "d"), "--http", "127.0.0.1:0",
                       "--listen", "127.0.0.1:0", "--http-tls-cert", str(cert), "--http-tls-key", str(key))
        assert r.returncode == 78, (bad_key, r)
        assert bad_key in r.stderr and str(bad_file) in r.stderr, (bad_key, r.stderr)


def run_binary(*args, timeout=10):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=timeout)


def test_bad_config_names_file_line_key_and_exits_78(tmp_path):
    cfg = tmp_path / "coordinator.yaml"
    cfg.write_text("data_dir: /tmp/x\nhttp: 127.0.0.1:0\ngateway_timout: 5\n")
    r = run_binary("--config", str(cfg), "--token-file", str(tmp_path / "t"))
    assert r.returncode == 78, r
    assert f"{cfg}:3: gateway_timout: unknown key" in r.stderr
    cfg.write_text("link: nowhere\n")
    r = run_binary("--config", str(cfg))
    assert r.returncode == 78 and f"{cfg}:1: link:" in r.stderr, r.stderr


def test_missing_token_file_is_a_config_error(tmp_path):
    r = run_binary("--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                   "--token-file", str(tmp_path / "absent"))
    assert r.returncode == 78 and "token_file" in r.stderr


def test_config_file_values_and_flag_override(coordinator_factory, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("coordinator_id: central-1\ngateway_timeout: 30\nheartbeat_interval_ms: 1000\n")
    coord = coordinator_factory(extra_args=["--config", str(cfg)], gateway_timeout=0.9)
    gw = coord.gateway("gw-cfg")
    assert gw.ack["coordinator_id"] == "central-1"
    assert gw.ack["heartbeat_ms"] == 300  # the flag's 0.9 s timeout wins over the file's 30 s
