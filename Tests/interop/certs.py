"""Test certificates, generated at test time with the `openssl` CLI (OpenSSL 3.0 syntax), and
TLS client helpers (Python ssl) for the raw MQTT client.

Nothing here is committed: keys are created in a pytest temp directory once per test session.
The set mirrors Tests/FleetRuntimeTests/TLSTestSupport.swift:

  ca.pem / ca.key              "Fleet Test CA"
  other-ca.pem / other-ca.key  "Other CA" (not trusted by the broker)
  server.pem / server.key      CN=localhost, SAN DNS:localhost, IP:127.0.0.1, serverAuth
  device-1.pem / .key          CN=device-1, SAN DNS:device-1.fleet, URI:urn:fleet:device-1,
                               email:device-1@example.com, clientAuth
  device-2.pem / .key          CN=device-2, no SAN, clientAuth
  expired.pem / .key           CN=device-expired, valid 2020-01-01 .. 2020-01-02 (openssl ca)
  stranger.pem / .key          CN=device-stranger, issued by Other CA
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import mqttraw as m

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
CA_EXT = ["-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
OPENSSL_TIMEOUT = 30


def _openssl(dir: Path, *args: str) -> None:
    r = subprocess.run(["openssl", *args], cwd=dir, capture_output=True, timeout=OPENSSL_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr.decode(errors='replace')}")


class Certs:
    """One generated certificate set in `dir`. `path(name)` -> Path of "<name>.pem"/"<name>.key"."""

    def __init__(self, dir: Path):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._generate()

    def pem(self, name: str) -> Path:
        return self.dir / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.pem("ca")

    def _generate(self) -> None:
        d = self.dir
        (d / "server.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        (d / "device-1.ext").write_text(
            "subjectAltName=DNS:device-1.fleet,URI:urn:fleet:device-1,email:device-1@example.com\n"
            "extendedKeyUsage=clientAuth\n")
        (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
        # `openssl ca` is the OpenSSL 3.0 way to give explicit validity dates (the expired cert).
        (d / "ca.cnf").write_text(
            "[ ca ]\ndefault_ca = test_ca\n"
            f"[ test_ca ]\ndatabase = {d}/index.txt\nserial = {d}/serial\nnew_certs_dir = {d}\n"
            "default_md = sha256\npolicy = any\nunique_subject = no\n"
            "[ any ]\ncommonName = supplied\n"
            "[ client ]\nextendedKeyUsage = clientAuth\n")
        (d / "index.txt").write_text("")
        (d / "serial").write_text("1000\n")
        _openssl(d, "req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem",
                 "-subj", "/CN=Fleet Test CA", "-days", "3650", *CA_EXT)
        _openssl(d, "req", "-x509", *EC_KEY, "-keyout", "other-ca.key", "-out", "other-ca.pem",
                 "-subj", "/CN=Other CA", "-days", "3650", *CA_EXT)
        self.issue("server", "localhost", "server.ext")
        self.issue("device-1", "device-1", "device-1.ext")
        self.issue("device-2", "device-2", "client.ext")
        self.issue("stranger", "device-stranger", "client.ext", ca="other-ca")
        _openssl(d, "req", "-new", *EC_KEY, "-keyout", "expired.key", "-out", "expired.csr",
                 "-subj", "/CN=device-expired")
        _openssl(d, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                 "-in", "expired.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-extensions", "client", "-notext")

    def issue(self, name: str, cn: str, ext: str, ca: str = "ca", out_dir: Path | None = None) -> Path:
        """A new key + certificate `<name>.pem/.key` for CN=cn with extensions file `ext`,
        signed by `ca`; written to out_dir (default: this set's dir) via a rename."""
        out = Path(out_dir or self.dir)
        d = self.dir
        tmpkey, tmpcsr, tmppem = d / f"{name}.key.new", d / f"{name}.csr", d / f"{name}.pem.new"
        _openssl(d, "req", "-new", *EC_KEY, "-keyout", str(tmpkey), "-out", str(tmpcsr),
                 "-subj", f"/CN={cn}")
        _openssl(d, "x509", "-req", "-in", str(tmpcsr), "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                 "-CAcreateserial", "-out", str(tmppem), "-days", "365", "-extfile", ext)
        tmpkey.replace(out / f"{name}.key")
        tmppem.replace(out / f"{name}.pem")
        tmpcsr.unlink()
        return out / f"{name}.pem"

    def copy_server_to(self, dir: Path) -> tuple[Path, Path]:
        """A private copy of the server cert/key (for tests that rotate them)."""
        dir.mkdir(parents=True, exist_ok=True)
        cert, key = dir / "server.pem", dir / "server.key"
        shutil.copyfile(self.pem("server"), cert)
        shutil.copyfile(self.key("server"), key)
        return cert, key


def der_sha256(pem_path: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())).hexdigest()


def client_context(certs: Certs, cert: str | None = None, ca: Path | None = None,
                   max_version: ssl.TLSVersion | None = None,
                   alpn: list[str] | None = None) -> ssl.SSLContext:
    """A verifying client context (trusts the test CA, checks the name), optionally presenting
    the client certificate `cert` (a name of the set: device-1, expired, stranger, ...)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca or certs.ca))
    if cert is not None:
        ctx.load_cert_chain(str(certs.pem(cert)), str(certs.key(cert)))
    if max_version is not None:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TLSRawClient(m.RawClient):
    """RawClient over TLS (handshake done in the constructor; an ssl.SSLError propagates)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, proto: int = m.V311,
                 host: str = "127.0.0.1", server_hostname: str = "localhost",
                 timeout: float = 5.0):
        self.proto = proto
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False
        self.stash = []
        self.alert: ssl.SSLError | None = None

    def _fill(self, deadline: float) -> None:
        try:
            super()._fill(deadline)
        except ssl.SSLError as e:
            # a TLS 1.3 server refuses a client certificate after the client's handshake is done:
            # the alert arrives on the first read. Treat it as the connection being closed.
            self.eof = True
            self.alert = e
            raise m.Closed() from e


# ---------------------------------------------------------------------------------------------
# Security helpers shared by test_tls.py, test_auth.py and test_policy.py

def passwd(file: Path, action: str, user: str, password: str | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """`fleetgate-agent passwd FILE add|remove USER`, the password on stdin (the real binary)."""
    from brokers import FLEETGATE_AGENT
    r = subprocess.run([str(FLEETGATE_AGENT), "passwd", str(file), action, user],
                       input=(password + "\n").encode() if password is not None else b"",
                       capture_output=True, timeout=30)
    if check:
        assert r.returncode == 0, f"passwd {action} {user}: rc {r.returncode}: {r.stderr!r}"
    return r


def read_sys(client: m.RawClient, topic: str, timeout: float = 5.0) -> int:
    """Subscribe `client` (allowed to receive $SYS) to `topic`, return the retained value, and
    unsubscribe. Other PUBLISHes arriving meanwhile are discarded."""
    import time
    client.send(m.subscribe(0x7001, [(topic, 0)], proto=client.proto))
    deadline = time.monotonic() + timeout
    value = None
    while value is None:
        p = client.recv(max(0.0, deadline - time.monotonic()))
        if p.type == m.PUBLISH and p.topic == topic.encode():
            value = int(float(p.payload))
        elif p.type == m.SUBACK:
            assert p.codes and p.codes[0] < 0x80, f"SUBACK for {topic}: {p!r}"
    client.send(m.unsubscribe(0x7002, [topic], proto=client.proto))
    while True:
        p = client.recv(max(0.0, deadline - time.monotonic()))
        if p.type == m.UNSUBACK:
            return value


def wait_sys(make_client, topic: str, predicate, timeout: float = 8.0) -> int:
    """Poll `topic` with fresh clients from make_client() until predicate(value); bounded."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        c = make_client()
        try:
            v = read_sys(c, topic)
        finally:
            c.close()
        if predicate(v):
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"{topic} = {v} did not satisfy the condition within {timeout}s")
        time.sleep(0.3)
