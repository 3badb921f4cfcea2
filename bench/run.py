#!/usr/bin/env python3
"""Fleetgate benchmark harness (issue #5): runs each scenario against Fleetgate and the reference
peers (mosquitto, nats-server) alternately, a fresh broker process per run, and writes
BENCHMARKS.md and bench/results/latest.json. Plain Python 3 standard library.

    python3 bench/run.py [--quick] [--rounds N] [--only fan-in-qos0,latency] [--brokers mosquitto,nats]

TLS scenarios (tls=True) run against each broker's TLS listener, all brokers using one EC P-256
CA and server certificate made with the openssl CLI for this harness run.

BENCH_QUICK=1 in the environment is the same as --quick (1 round, smaller counts).
FLEETGATE_BENCH_BIN_DIR names another directory holding fleetgate-agent, fleetgate-coordinator and
fleetgate-bench (release builds made elsewhere); the default is .build/release of this checkout.
"""
import argparse
import atexit
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Prebuilt binaries from another checkout (FLEETGATE_BENCH_BIN_DIR) spare an 11-minute release build.
BIN_DIR = os.environ.get("FLEETGATE_BENCH_BIN_DIR") or os.path.join(ROOT, ".build", "release")
GEN = os.path.join(BIN_DIR, "fleetgate-bench")
AGENT = os.path.join(BIN_DIR, "fleetgate-agent")
COORDINATOR = os.path.join(BIN_DIR, "fleetgate-coordinator")
RESULTS = os.path.join(ROOT, "bench", "results")
FD_LIMIT = 20000

# ---------------------------------------------------------------------------------------------
# Scenarios: (name, generator arguments, full-mode extra args, quick-mode extra args, headline
# metric, higher is better, description). Every run is bounded in count and in seconds.

SCENARIOS = [
    dict(name="fan-in-qos0", args=["fan-in", "--qos", "0"],
         full=["--count", "2000000", "--seconds", "5"], quick=["--count", "300000", "--seconds", "1.5"],
         metric="delivery_rate", unit="msg/s", higher=True,
         what="4 publishers -> 1 subscriber, 64 B, QoS 0"),
    dict(name="fan-in-qos1", args=["fan-in", "--qos", "1"],
         full=["--count", "1000000", "--seconds", "5"], quick=["--count", "100000", "--seconds", "1.5"],
         metric="delivery_rate", unit="msg/s", higher=True,
         what="4 publishers -> 1 subscriber, 64 B, QoS 1 (64 in flight per publisher)"),
    dict(name="fan-out-100", args=["fan-out", "--subscribers", "100"],
         full=["--count", "50000", "--seconds", "5"], quick=["--count", "5000", "--seconds", "1.5"],
         metric="delivery_rate", unit="deliveries/s", higher=True,
         what="1 publisher -> 100 subscribers, QoS 0"),
    dict(name="fan-out-1000", args=["fan-out", "--subscribers", "1000"],
         full=["--count", "5000", "--seconds", "5"], quick=["--count", "500", "--seconds", "1.5"],
         metric="delivery_rate", unit="deliveries/s", higher=True,
         what="1 publisher -> 1,000 subscribers, QoS 0"),
    dict(name="latency", args=["latency", "--rate", "10000"],
         full=["--count", "50000", "--seconds", "6"], quick=["--count", "15000", "--seconds", "2"],
         metric="latency_us.p99", unit="us", higher=False, min_rounds=5,
         what="10,000 msg/s, 1 -> 1, QoS 0 (at least 5 rounds: tails are the noisiest figure)"),
    dict(name="wildcard-100000", args=["wildcard", "--subscriptions", "100000", "--clients", "1000"],
         full=["--count", "1000000", "--seconds", "5"], quick=["--count", "100000", "--seconds", "1.5"],
         metric="msg_rate", unit="publishes/s", higher=True,
         what="100,000 mixed +/# filters over 1,000 clients; half the publishes match one, half none"),
    dict(name="wildcard-100", args=["wildcard", "--subscriptions", "100", "--clients", "1000"],
         full=["--count", "1000000", "--seconds", "5"], quick=["--count", "100000", "--seconds", "1.5"],
         metric="msg_rate", unit="publishes/s", higher=True,
         what="same, 100 filters (1,000 clients connected)"),
    dict(name="connections", args=["connections", "--source-addresses", "8"],
         full=["--count", "19000", "--seconds", "60"], quick=["--count", "2000", "--seconds", "20"],
         metric="rss_per_connection_bytes", unit="B/conn", higher=False,
         what="idle connections (keepalive 300 s), 200 handshakes at a time, 8 source addresses"),
    dict(name="durability", args=["durability"],
         full=["--count", "500000", "--seconds", "5"], quick=["--count", "50000", "--seconds", "1.5"],
         metric="delivery_rate", unit="msg/s", higher=True, persistent=True,
         what="QoS 1 to a clean-session-0 subscriber, broker persistence on"),
    dict(name="retained-wildcard", args=["retained", "--groups", "1000", "--concurrency", "100"],
         full=["--retained", "100000", "--subscribers", "1000", "--seconds", "60"],
         quick=["--retained", "20000", "--subscribers", "200", "--seconds", "30"],
         metric="subscribe_rate", unit="subscribes/s", higher=True, persistent=True,
         what="100,000 retained messages (bench/retained/<i mod 1000>/<i>), then 1,000 clients each "
              "SUBSCRIBE to bench/retained/<k>/+ and receive its 100 retained messages; broker persistence on"),
]

# TLS scenarios (issue #3): the same certificate for every broker, TLS 1.3 with one suite that all
# three support, so the brokers differ only in how they drive OpenSSL (Go's crypto/tls for nats).
TLS_SUITE = "TLS_AES_128_GCM_SHA256"
SCENARIOS += [
    dict(name="tls-connect", tls=True,
         args=["connections", "--source-addresses", "8", "--concurrency", "50", "--settle", "0",
               "--hold", "0.5", "--quickack"],
         full=["--count", "2000", "--seconds", "60"], quick=["--count", "1000", "--seconds", "30"],
         metric="connect_rate", unit="handshakes+connects/s", higher=True,
         what="TLS connections, each a full TLS 1.3 handshake (P-256 certificate verified against the "
              "test CA, SNI localhost) then CONNECT/CONNACK, 50 in progress at once, kept open"),
    dict(name="tls-fan-in-qos0", tls=True, args=["fan-in", "--qos", "0"],
         full=["--count", "2000000", "--seconds", "5"], quick=["--count", "300000", "--seconds", "1.5"],
         metric="delivery_rate", unit="msg/s", higher=True,
         what="fan-in-qos0 over TLS: 4 publishers -> 1 subscriber, 64 B, QoS 0"),
]

# Cross-gateway (issue #4): Fleetgate only (the peers have no fabric). One coordinator and three
# agents per round; every part runs in that same fabric, local and cross alternating, so the
# cross/local ratios compare like with like. Parts: (name, generator args, full, quick).
XGW_GATEWAYS = 3
XGW_SUBSCRIBERS = 10  # throughput parts: 5 on each of gw-2 and gw-3 (cross) or 10 on gw-1 (local)
XGW_RATE = 2000
XGW_PARTS = [
    ("qos0", ["fan-out", "--subscribers", str(XGW_SUBSCRIBERS), "--qos", "0"],
     ["--count", "100000", "--seconds", "5"], ["--count", "20000", "--seconds", "1.5"]),
    ("qos1", ["fan-out", "--subscribers", str(XGW_SUBSCRIBERS), "--qos", "1"],
     ["--count", "50000", "--seconds", "5"], ["--count", "10000", "--seconds", "1.5"]),
    ("latency", ["latency", "--rate", str(XGW_RATE)],
     ["--count", "12000", "--seconds", "6"], ["--count", "4000", "--seconds", "2"]),
]
# Destination down (issue #11), in the same fabric after the parts above: the origin's QoS 1 publish
# rate to persistent subscribers on gw-2 and gw-3 (both up), then with gw-3's agent stopped and its
# persistent session's durable interest held for it at the origin; then the catch-up rate when it
# returns (held forwards / seconds until the coordinator holds none for it).
XGW_DOWN_FLOW = (["--count", "50000", "--seconds", "5"], ["--count", "10000", "--seconds", "1.5"])
SCENARIOS += [
    dict(name="cross-gateway", fabric=True, args=[], full=[], quick=[],
         metric="cross_qos0.delivery_rate", unit="deliveries/s", higher=True,
         what=f"Fleetgate fabric: coordinator + {XGW_GATEWAYS} agents (gw-1..gw-{XGW_GATEWAYS}); publisher on "
              f"gw-1 -> {XGW_SUBSCRIBERS} subscribers on gw-2/gw-3 (QoS 0 and 1, deliveries/s) and -> 1 "
              f"subscriber on gw-2 at {XGW_RATE:,} msg/s (latency), each also with everything on gw-1 "
              "(local delivery) in the same fabric; the peers have no equivalent"),
]


# Managed sockets (issue #14): Fleetgate only; the peer is wrk against the same nginx location the
# agent's webhook mapping calls (bench/managed_sockets.py), so the ratio is agent/endpoint ceiling.
SCENARIOS += [
    dict(name="sockets", sockets=True, args=[], full=[], quick=[],
         metric="ratio_data", unit="agent/wrk", higher=True,
         what="managed sockets: 64 device sockets send 32-byte lines through a webhook mapping (events data, "
              "delimiter LF, reply discard, max_concurrency 64) to a private nginx (1 worker, keep-alive), "
              "against wrk -t1 -c64 POSTing the same body and headers to the same location; and sockets opened "
              "per second (OPEN line to OK, 100 handshakes at a time); the MQTT peers have no equivalent"),
]


class Certs:
    """EC P-256 CA and a server certificate for localhost / 127.0.0.1, made with the openssl CLI
    in a temporary directory that lives for the whole harness run (every broker gets the same)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fgbench-certs-")
        # mosquitto drops root privileges to its own user before reading the key.
        os.chmod(self.dir, 0o755)
        d = lambda name: os.path.join(self.dir, name)
        self.ca, self.cert, self.key = d("ca.pem"), d("server.pem"), d("server.key")
        with open(d("server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        for argv in (["genpkey"] + ec + ["-out", d("ca.key")],
                     ["req", "-x509", "-new", "-key", d("ca.key"), "-sha256", "-days", "2",
                      "-subj", "/CN=fleetgate-bench-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign", "-out", self.ca],
                     ["genpkey"] + ec + ["-out", self.key],
                     ["req", "-new", "-key", self.key, "-subj", "/CN=localhost", "-out", d("server.csr")],
                     ["x509", "-req", "-in", d("server.csr"), "-CA", self.ca, "-CAkey", d("ca.key"),
                      "-CAcreateserial", "-days", "2", "-sha256", "-extfile", d("server.ext"),
                      "-out", self.cert],
                     ["verify", "-CAfile", self.ca, self.cert]):
            out = subprocess.run(["openssl"] + argv, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise RuntimeError(f"openssl {argv[0]}: {out.stderr.strip()[-200:]}")
        os.chmod(self.key, 0o644)

    def generator_args(self):
        return ["--tls-ca", self.ca, "--tls-server-name", "localhost", "--tls-ciphersuites", TLS_SUITE]

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


CERTS = None  # Certs for this run, made in main() when a TLS scenario is selected


def get(d, dotted):
    if isinstance(d, dict) and dotted in d:  # summaries store dotted keys flat
        return d[dotted]
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


# ---------------------------------------------------------------------------------------------
# Brokers. Each start() returns (pid, "127.0.0.1:port", stop-callable) or raises Unavailable.

class Unavailable(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def wait_port(port, proc, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Broker:
    name = "?"
    unavailable = None  # reason string when the broker cannot run at all

    def version(self):
        return "?"

    def spawn(self, argv, tmp):
        log = open(os.path.join(tmp, "broker.log"), "wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=raise_fd_limit, cwd=tmp)

    def log_tail(self, tmp):
        try:
            with open(os.path.join(tmp, "broker.log"), "rb") as f:
                return f.read()[-600:].decode(errors="replace").strip()
        except OSError:
            return ""


class Fleetgate(Broker):
    name = "fleetgate"

    def __init__(self):
        self.agent = AGENT
        if not os.path.exists(self.agent):
            self.unavailable = "fleetgate-agent not built"

    def version(self):
        try:
            rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, timeout=5).stdout.strip()
        except Exception:
            rev = "?"
        return f"fleetgate-agent (git {rev}, release)"

    def start(self, scenario, tmp):
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        ready = os.path.join(tmp, "ready.json")
        config = os.path.join(tmp, "agent.yaml")
        with open(config, "w") as f:
            f.write("limits:\n  max_queued_messages: 1000000\n  max_packet_size: 1048576\nauth:\n  allow_anonymous: true\n")
        argv = [self.agent, "--listen", "127.0.0.1:0", "--data-dir", data, "--ready-file", ready,
                "--log-level", "warning", "--config", config]
        tls = bool(scenario.get("tls"))
        if tls:
            argv += ["--listen-tls", "127.0.0.1:0", "--tls-cert", CERTS.cert, "--tls-key", CERTS.key]
        proc = self.spawn(argv, tmp)
        deadline = time.time() + 15
        while time.time() < deadline:
            if os.path.exists(ready):
                try:
                    with open(ready) as f:
                        info = json.load(f)
                    return proc, info["mqtts" if tls else "mqtt"][0]
                except (ValueError, KeyError, IndexError):
                    pass  # written but not complete yet
            if proc.poll() is not None:
                raise Unavailable("fleetgate-agent not built (exited with status %s without writing %s)%s"
                                  % (proc.returncode, "ready.json", tail_note(self.log_tail(tmp))))
            time.sleep(0.05)
        stop_process(proc)
        raise Unavailable("fleetgate-agent did not write ready.json within 15 s" + tail_note(self.log_tail(tmp)))


class Baseline(Fleetgate):
    """Another fleetgate-agent build as a peer in the same run (before/after a change): the
    binary named by FLEETGATE_BASELINE_AGENT, e.g. a release build of the previous commit made
    in a git worktree. `--brokers fleetgate,baseline`; its column is Fleetgate/baseline."""
    name = "baseline"

    def __init__(self):
        self.agent = os.environ.get("FLEETGATE_BASELINE_AGENT", "")
        if not self.agent or not os.path.exists(self.agent):
            self.unavailable = "FLEETGATE_BASELINE_AGENT does not name a fleetgate-agent binary"

    def version(self):
        return f"fleetgate-agent baseline ({self.agent})"


class Mosquitto(Broker):
    name = "mosquitto"

    def __init__(self):
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(self.binary):
            self.unavailable = "mosquitto not installed"

    def version(self):
        try:
            out = subprocess.run([self.binary, "-h"], capture_output=True, text=True, timeout=5).stdout
            return out.splitlines()[0].strip()
        except Exception:
            return "mosquitto ?"

    def start(self, scenario, tmp):
        port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        lines = [f"listener {port} 127.0.0.1"]
        if scenario.get("tls"):
            lines += [f"cafile {CERTS.ca}", f"certfile {CERTS.cert}", f"keyfile {CERTS.key}"]
        lines += ["allow_anonymous true", "max_queued_messages 1000000",
                 "max_connections -1", "connection_messages false", "log_dest stderr",
                 "log_type error", "log_type warning"]
        if scenario.get("persistent"):
            # mosquitto writes its database only at autosave_interval and at exit, not per message.
            lines += ["persistence true", f"persistence_location {tmp}/"]
        else:
            lines += ["persistence false"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = self.spawn([self.binary, "-c", conf], tmp)
        if not wait_port(port, proc):
            stop_process(proc)
            raise Unavailable("mosquitto did not start" + tail_note(self.log_tail(tmp)))
        return proc, f"127.0.0.1:{port}"


class Nats(Broker):
    name = "nats"

    def __init__(self):
        self.binary = shutil.which("nats-server")
        if not self.binary:
            self.unavailable = "nats-server not installed"

    def version(self):
        try:
            return subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except Exception:
            return "nats-server ?"

    def start(self, scenario, tmp):
        port = free_port()
        conf = os.path.join(tmp, "nats.conf")
        # The MQTT listener needs a server_name and JetStream (sessions, QoS 1 and retained messages
        # live in JetStream streams); the NATS client port is not used by the benchmark.
        tls = ""
        if scenario.get("tls"):
            tls = f", tls {{ cert_file: \"{CERTS.cert}\", key_file: \"{CERTS.key}\" }}"
        with open(conf, "w") as f:
            f.write("server_name: fgbench\nlisten: 127.0.0.1:-1\nmax_payload: 1MB\n"
                    f"jetstream {{ store_dir: \"{tmp}/js\" }}\n"
                    f"mqtt {{ listen: 127.0.0.1:{port}{tls} }}\n")
        proc = self.spawn([self.binary, "-c", conf], tmp)
        if not wait_port(port, proc):
            stop_process(proc)
            raise Unavailable("nats-server did not start" + tail_note(self.log_tail(tmp)))
        return proc, f"127.0.0.1:{port}"


def tail_note(text):
    return (": " + text.splitlines()[-1][:200]) if text else ""


# ---------------------------------------------------------------------------------------------

# A run during which the hypervisor took more than this share of the machine's CPU (/proc/stat
# steal) is repeated, at most STEAL_RERUNS times; the repeats are listed in BENCHMARKS.md.
STEAL_RERUN_PCT = 5.0
STEAL_RERUNS = 2


def cpu_ticks():
    """(steal, total) jiffies of the whole machine from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[7] if len(fields) > 7 else 0, sum(fields[:8])
    except (OSError, ValueError):
        return None


def steal_pct(before, after):
    """Share of the machine's CPU time the hypervisor gave to others between two cpu_ticks()."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 2)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def run_one(broker, scenario, quick, log):
    tmp = tempfile.mkdtemp(prefix=f"fgbench-{broker.name}-")
    proc = None
    try:
        proc, endpoint = broker.start(scenario, tmp)
        time.sleep(0.2)
        argv = [GEN] + scenario["args"] + (scenario["quick"] if quick else scenario["full"]) + [
            "--broker", endpoint, "--label", broker.name, "--broker-pid", str(proc.pid)]
        if scenario.get("tls"):
            argv += CERTS.generator_args()
        seconds = float(argv[argv.index("--seconds") + 1])
        load = loadavg()
        ticks = cpu_ticks()
        t = time.time()
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120,
                             preexec_fn=raise_fd_limit)
        steal = steal_pct(ticks, cpu_ticks())
        if out.returncode != 0 or not out.stdout.strip():
            return dict(scenario=scenario["name"], broker=broker.name, ok=False,
                        errors=[f"generator exit {out.returncode}: {out.stderr.strip()[-300:]}"])
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["scenario"] = scenario["name"]
        result["loadavg_before"] = load
        result["steal_pct"] = steal
        result["wall_s"] = round(time.time() - t, 3)
        if proc.poll() is not None:
            result["ok"] = False
            result.setdefault("errors", []).append(f"broker exited with status {proc.returncode}"
                                                   + tail_note(broker.log_tail(tmp)))
        return result
    except Unavailable:
        raise
    except subprocess.TimeoutExpired:
        return dict(scenario=scenario["name"], broker=broker.name, ok=False, errors=["generator timed out"])
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Cross-gateway: a coordinator and agents on loopback, each process started and stopped by PID.

# The admin API wants a bearer token (--admin-token-file); the harness makes one per fabric.
ADMIN_TOKEN = os.urandom(16).hex()


def http_json(endpoint, path, timeout=2):
    import urllib.request
    request = urllib.request.Request(f"http://{endpoint}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready_file(path, proc, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return json.load(f)
            except ValueError:
                pass
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


class Fabric:
    """fleetgate-coordinator + agents gw-1..gw-N in one temporary directory."""

    def __init__(self, tmp, gateways):
        self.tmp, self.n = tmp, gateways
        self.procs = []           # every Popen started here, stopped in stop() by PID
        self.agents = {}          # gateway id -> (proc, mqtt endpoint)
        self.argv = {}            # gateway id -> its agent's argv (restarts reuse it and its data dir)
        self.coordinator = None
        self.http = None

    def log_tail(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read()[-400:].decode(errors="replace").strip()
        except OSError:
            return ""

    def spawn(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=raise_fd_limit, cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def start(self):
        if not os.path.exists(COORDINATOR):
            raise Unavailable("fleetgate-coordinator not built")
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        admin_token = os.path.join(self.tmp, "admin-token")
        with open(admin_token, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        cdata, cready = os.path.join(self.tmp, "coord-data"), os.path.join(self.tmp, "coord-ready.json")
        os.makedirs(cdata)
        self.coordinator = self.spawn("coordinator", [
            COORDINATOR, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", cdata,
            "--token-file", token, "--admin-token-file", admin_token, "--ready-file", cready, "--allow-new-gateways"])
        info = wait_ready_file(cready, self.coordinator)
        if not info:
            raise Unavailable("fleetgate-coordinator did not write its ready file" + tail_note(self.log_tail("coordinator")))
        link, self.http = info["link"], info["http"]
        for i in range(1, self.n + 1):
            gw = f"gw-{i}"
            d = os.path.join(self.tmp, gw)
            os.makedirs(os.path.join(d, "data"))
            config, ready = os.path.join(d, "agent.yaml"), os.path.join(d, "ready.json")
            with open(config, "w") as f:
                f.write("limits:\n  max_queued_messages: 1000000\n  max_packet_size: 1048576\n"
                        "auth:\n  allow_anonymous: true\n")
            self.argv[gw] = [AGENT, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(d, "data"),
                             "--ready-file", ready, "--log-level", "warning", "--config", config,
                             "--coordinator", link, "--token-file", token, "--gateway-id", gw]
            self.start_agent(gw)
        t = time.time()
        want = set(self.agents)
        while time.time() < t + 15:
            try:
                connected = {g["id"] for g in http_json(self.http, "/v1/gateways")["gateways"] if g.get("connected")}
            except (OSError, ValueError, KeyError):
                connected = set()
            if want <= connected:
                return round(time.time() - t, 3)
            self.check_alive()
            time.sleep(0.05)
        raise Unavailable(f"gateways not all connected to the coordinator within 15 s (connected: {sorted(connected)})")

    def start_agent(self, gw):
        """Starts (or restarts, on the same data dir) one agent and waits for its ready file."""
        ready = self.argv[gw][self.argv[gw].index("--ready-file") + 1]
        if os.path.exists(ready):
            os.unlink(ready)
        proc = self.spawn(gw, self.argv[gw])
        info = wait_ready_file(ready, proc)
        if not info:
            raise Unavailable(f"fleetgate-agent {gw} did not write ready.json" + tail_note(self.log_tail(gw)))
        self.agents[gw] = (proc, info["mqtt"][0])

    def stop_agent(self, gw):
        stop_process(self.agents[gw][0])

    def gateway(self, gw):
        try:
            return http_json(self.http, "/v1/gateways/" + gw)
        except (OSError, ValueError):
            return {}

    def wait_gateway(self, gw, predicate, seconds):
        """Polls GET /v1/gateways/{gw} (bounded) until predicate(view); returns the seconds taken or None."""
        t = time.time()
        while time.time() < t + seconds:
            if predicate(self.gateway(gw)):
                return time.time() - t
            time.sleep(0.05)
        return None

    def link_drops(self):
        """Per gateway: how many times its agent logged losing the coordinator link so far."""
        out = {}
        for gw in self.agents:
            try:
                with open(os.path.join(self.tmp, gw + ".log"), "rb") as f:
                    out[gw] = f.read().count(b"coordinator link: disconnected")
            except OSError:
                out[gw] = 0
        return out

    def pids(self):
        return [p.pid for p, _ in self.agents.values() if p.poll() is None] + [self.coordinator.pid]

    def check_alive(self, skip=()):
        named = [("coordinator", self.coordinator)] + [(g, p) for g, (p, _) in self.agents.items() if g not in skip]
        dead = [(n, p.returncode) for n, p in named if p is not None and p.poll() is not None]
        if dead:
            raise Unavailable("exited: " + ", ".join(f"{n} (status {rc}){tail_note(self.log_tail(n))}" for n, rc in dead))

    def interest(self, topic):
        try:
            view = http_json(self.http, "/v1/interest?topic=" + topic)
            return {m["gateway"] for m in view.get("gateways", [])}
        except (OSError, ValueError, KeyError):
            return set()

    def stop(self):
        # Agents first (their links close cleanly), then the coordinator; only our own PIDs.
        for proc in self.procs[1:] + self.procs[:1]:
            stop_process(proc)


def run_fabric_part(fabric, part, mode, quick, topic, settle=0.3, sub_gws=None):
    """One generator run in the fabric: publisher on gw-1, subscribers on gw-2.. (cross) or gw-1 (local).
    The generator connects its subscribers, creates `subscribed`, and waits for `start`, which is
    created once the coordinator's interest index lists every subscriber gateway for the topic
    (plus `settle` seconds for REMOTE_INTEREST to reach gw-1)."""
    name, args, full, quick_args = part
    pub = fabric.agents["gw-1"][1]
    if sub_gws is not None:
        pass
    elif mode == "cross":
        sub_gws = ["gw-2"] if name == "latency" else [g for g in fabric.agents if g != "gw-1"]
    else:
        sub_gws = ["gw-1"]
    tag = f"{mode}_{name}"
    subscribed, start = os.path.join(fabric.tmp, tag + ".subscribed"), os.path.join(fabric.tmp, tag + ".start")
    argv = [GEN] + args + (quick_args if quick else full) + [
        "--broker", pub, "--subscriber-broker", ",".join(fabric.agents[g][1] for g in sub_gws),
        "--topic", topic, "--label", f"fleetgate-{mode}", "--broker-pid", ",".join(map(str, fabric.pids())),
        "--subscribed-file", subscribed, "--start-file", start]
    seconds = float(argv[argv.index("--seconds") + 1])
    load = loadavg()
    drops0 = fabric.link_drops()
    t = time.time()
    out_path = os.path.join(fabric.tmp, tag + ".out")
    with open(out_path, "w") as out_f, open(out_path + ".err", "w") as err_f:
        gen = subprocess.Popen(argv, stdout=out_f, stderr=err_f, text=True, preexec_fn=raise_fd_limit)
        interest_wait, seen = None, set()
        try:
            deadline = time.time() + 30
            while time.time() < deadline and gen.poll() is None:
                if os.path.exists(subscribed):
                    t_sub = time.time()
                    while time.time() < deadline and gen.poll() is None:
                        seen = fabric.interest(topic)
                        if set(sub_gws) <= seen:
                            interest_wait = round(time.time() - t_sub, 3)
                            break
                        time.sleep(0.02)
                    break
                time.sleep(0.02)
            time.sleep(settle)
            open(start, "w").close()  # also on a timeout, so the generator runs and reports
            gen.wait(timeout=seconds + 150)
        except subprocess.TimeoutExpired:
            gen.kill()
            gen.wait()
            return dict(ok=False, errors=["generator timed out"])
    with open(out_path) as f:
        lines = f.read().strip().splitlines()
    if gen.returncode != 0 or not lines:
        with open(out_path + ".err") as f:
            err = f.read().strip()[-300:]
        return dict(ok=False, errors=[f"generator exit {gen.returncode}: {err}"])
    r = json.loads(lines[-1])
    r["mode"], r["part"], r["topic"], r["subscriber_gateways"] = mode, name, topic, sub_gws
    r["interest_wait_s"] = interest_wait
    time.sleep(0.1)  # let a disconnect of this part reach the logs
    drops = {g: n - drops0.get(g, 0) for g, n in fabric.link_drops().items() if n > drops0.get(g, 0)}
    if drops:  # the coordinator closed (or lost) gateway links during this part
        r["link_drops"] = drops
        r.setdefault("errors", []).append("coordinator link lost during the run: " + ", ".join(
            f"{g} x{n}" for g, n in sorted(drops.items())) + " (see the agent log, e.g. ERROR 0x301 forward queue full)")
    r["loadavg_before"] = load
    r["wall_s"] = round(time.time() - t, 3)
    if interest_wait is None:
        r["ok"] = False
        r.setdefault("errors", []).append(f"interest for {topic} not seen on {sub_gws} within 30 s (seen {sorted(seen)})")
    return r


def run_destination_down(fabric, result, quick, run_id):
    """Issue #11's bench row (XGW_DOWN_FLOW): origin publish rate with one of two destinations down
    against both up, and the catch-up rate when it returns. Fills result["down_*"] and ratios."""
    full, quick_args = XGW_DOWN_FLOW
    both = run_fabric_part(fabric, ("down_both", ["durability", "--subscribers", "2"], full, quick_args), "cross", quick,
                           f"bench/xgw/{run_id}/down/both", sub_gws=["gw-2", "gw-3"])
    result["down_both"] = both
    topic = f"bench/xgw/{run_id}/down/one"
    # A persistent session on gw-3 subscribes (durable interest), then gw-3 goes down.
    seed = run_fabric_part(fabric, ("down_seed", ["durability", "--subscribers", "1"], ["--count", "10", "--seconds", "1"],
                                    ["--count", "10", "--seconds", "1"]), "cross", quick, topic, sub_gws=["gw-3"])
    fabric.stop_agent("gw-3")
    if fabric.wait_gateway("gw-3", lambda g: g.get("connected") is False, 20) is None:
        result["errors"].append("destination down: gw-3 not seen down within 20 s")
    one = run_fabric_part(fabric, ("down_one", ["durability", "--subscribers", "1"], full, quick_args), "cross", quick,
                          topic, sub_gws=["gw-2"])
    result["down_one"] = one
    held = fabric.gateway("gw-3").get("retention", {}).get("held_messages")
    fabric.start_agent("gw-3")
    took = fabric.wait_gateway("gw-3", lambda g: g.get("retention", {}).get("held_messages") == 0, 180)
    result["down_held"] = held
    result["down_catchup_s"] = round(took, 3) if took is not None else None
    result["down_catchup_rate"] = held / took if held and took else None
    b, o = get(result, "down_both.msg_rate"), get(result, "down_one.msg_rate")
    result["ratio_down_publish"] = o / b if b and o else None
    for name, r in (("both up", both), ("seed", seed), ("one down", one)):
        if not r.get("ok"):
            result["ok"] = False
            result["errors"] += [f"destination down, {name}: {e}" for e in r.get("errors", [])]
    if took is None:
        result["ok"] = False
        result["errors"].append(f"destination down: gw-3 still owed forwards 180 s after it returned (held {held})")


# Drain (issue #12), last in the same fabric: gw-1's persistent sessions move to gw-2/gw-3.
DRAIN_SESSIONS = (2000, 300)   # full, quick
DRAIN_RATE = 5000              # asked clients/s: the row measures how fast it goes


def run_drain_row(fabric, result, quick, run_id):
    """Fills result["drain"]: sessions moved per second, handover stall p50/p99, loss/dups."""
    from drain import run_drain
    sessions = DRAIN_SESSIONS[1 if quick else 0]
    try:
        d = run_drain({gw: ep for gw, (_, ep) in fabric.agents.items()}, fabric.http, ADMIN_TOKEN, run_id, sessions, DRAIN_RATE)
    except OSError as e:
        d = {"errors": [f"drain: {e}"]}
    result["drain"] = d
    if d.get("errors") or d.get("loss") or d.get("dups") or d.get("sessions_missing"):
        result["ok"] = False
        result["errors"] += d.get("errors", []) + ([f"drain: loss {d.get('loss')}, dups {d.get('dups')}, "
                                                   f"sessions missing {d.get('sessions_missing')}"]
                                                  if d.get("loss") or d.get("dups") or d.get("sessions_missing") else [])


def run_fabric(scenario, quick):
    """The cross-gateway scenario: one fabric, every part local then cross. One result dict with
    `<mode>_<part>` sub-results and cross/local ratios."""
    tmp = tempfile.mkdtemp(prefix="fgbench-fabric-")
    fabric = Fabric(tmp, XGW_GATEWAYS)
    result = dict(scenario=scenario["name"], broker="fleetgate", ok=True, errors=[])
    try:
        result["connect_wait_s"] = fabric.start()
        result["loadavg_before"] = loadavg()
        run_id = os.urandom(3).hex()
        for part in XGW_PARTS:
            for mode in ("local", "cross"):
                r = run_fabric_part(fabric, part, mode, quick, f"bench/xgw/{run_id}/{mode}/{part[0]}")
                result[f"{mode}_{part[0]}"] = r
                if not r.get("ok"):
                    result["ok"] = False
                    result["errors"] += [f"{mode} {part[0]}: {e}" for e in r.get("errors", [])]
                try:
                    fabric.check_alive()
                except Unavailable as e:
                    result["ok"] = False
                    result["errors"].append(str(e))
                    return result
        run_destination_down(fabric, result, quick, run_id)
        run_drain_row(fabric, result, quick, run_id)
        for part in ("qos0", "qos1"):
            c, l = get(result, f"cross_{part}.delivery_rate"), get(result, f"local_{part}.delivery_rate")
            result[f"ratio_{part}_throughput"] = c / l if c and l else None
        for q in ("p50", "p99", "p999"):
            c, l = get(result, f"cross_latency.latency_us.{q}"), get(result, f"local_latency.latency_us.{q}")
            result[f"ratio_latency_{q}"] = c / l if c and l else None
        for k in ("loss", "dups", "reorders", "misrouted"):
            result[k] = sum(result.get(f"{m}_{p[0]}", {}).get(k, 0) or 0 for m in ("local", "cross") for p in XGW_PARTS)
        return result
    except Unavailable as e:
        result["ok"] = False
        result["errors"].append(str(e))
        return result
    finally:
        fabric.stop()
        if os.environ.get("BENCH_KEEP_FABRIC"):
            print(f"fabric logs kept in {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run_sockets(quick):
    """One round of the managed-sockets scenario (bench/managed_sockets.py), with load and steal."""
    from managed_sockets import run_round
    load, ticks = loadavg(), cpu_ticks()
    r = run_round(AGENT, quick)
    r["loadavg_before"], r["steal_pct"] = load, steal_pct(ticks, cpu_ticks())
    return r


def machine():
    model, cores, mem = "?", os.cpu_count(), "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                    break
    except OSError:
        pass
    return dict(cpu=model, cores=cores, memory=mem, kernel=platform.release(), os=platform.platform())


# ---------------------------------------------------------------------------------------------
# Summaries

def median_of(results, key):
    values = [get(r, key) for r in results if get(r, key) is not None]
    return statistics.median(values) if values else None


def summarize(all_results, brokers):
    summary = {}
    for sc in SCENARIOS:
        per = {}
        for b in brokers:
            runs = [r for r in all_results if r.get("scenario") == sc["name"] and r.get("broker") == b.name]
            if not runs:
                continue
            if sc.get("fabric"):
                per[b.name] = summarize_fabric(runs)
                continue
            if sc.get("sockets"):
                per[b.name] = summarize_sockets(runs)
                continue
            keys = [sc["metric"], "delivery_rate", "msg_rate", "latency_us.p50", "latency_us.p99",
                    "latency_us.p999", "gen_cpu_pct", "broker_cpu_pct", "connect_rate",
                    "rss_per_connection_bytes", "subscriptions_per_s", "broker_cpu_us_per_subscribe", "store_rate"]
            med = {k: median_of(runs, k) for k in keys}
            med["runs"] = len(runs)
            med["ok_runs"] = sum(1 for r in runs if r.get("ok"))
            for k in ("loss", "dups", "reorders", "misrouted"):
                med[k + "_total"] = sum(r.get(k, 0) or 0 for r in runs)
            med["errors"] = sorted({e for r in runs for e in r.get("errors", [])})[:4]
            if sc.get("tls"):
                med["tls"] = sorted({f"{r['tls_version']} {r['tls_cipher']}" for r in runs if r.get("tls_version")})
            per[b.name] = med
        summary[sc["name"]] = per
    return summary


def summarize_fabric(runs):
    """Medians of every cross-gateway part (flat dotted keys) plus loss/dups totals per part."""
    med = {"runs": len(runs), "ok_runs": sum(1 for r in runs if r.get("ok"))}
    for mode in ("local", "cross"):
        for part, *_ in XGW_PARTS:
            sub = f"{mode}_{part}"
            for k in ("delivery_rate", "msg_rate", "latency_us.p50", "latency_us.p99", "latency_us.p999",
                      "gen_cpu_pct", "broker_cpu_pct", "interest_wait_s"):
                med[f"{sub}.{k}"] = median_of([r.get(sub, {}) for r in runs], k)
            each = [r.get(sub, {}).get("broker_cpu_pct_each") for r in runs]
            each = [e for e in each if e]
            if each:  # per process median: gw-1, gw-2, gw-3, coordinator
                med[f"{sub}.broker_cpu_pct_each"] = [statistics.median(v[i] for v in each if v[i] is not None)
                                                     if any(v[i] is not None for v in each) else None
                                                     for i in range(len(each[0]))]
            for k in ("loss", "dups", "reorders", "misrouted"):
                med[f"{sub}.{k}_total"] = sum(r.get(sub, {}).get(k, 0) or 0 for r in runs)
    for k in ("ratio_qos0_throughput", "ratio_qos1_throughput", "ratio_latency_p50", "ratio_latency_p99",
              "ratio_latency_p999", "ratio_down_publish", "down_catchup_rate", "down_held", "down_catchup_s",
              "down_both.msg_rate", "down_one.msg_rate", "drain.sessions_per_s", "drain.stall_ms_p50",
              "drain.stall_ms_p99", "drain.sessions", "drain.drain_s"):
        med[k] = median_of(runs, k)
    for k in ("loss", "dups", "sessions_missing"):
        med[f"drain.{k}_total"] = sum(get(r, f"drain.{k}") or 0 for r in runs)
    for k in ("loss", "dups", "reorders", "misrouted"):
        med[k + "_total"] = sum(r.get(k, 0) or 0 for r in runs)
    med["errors"] = sorted({e for r in runs for e in r.get("errors", [])})[:4]
    return med


SOCKET_KEYS = ("ratio_data", "data_rate", "wrk_rate", "open_rate", "wrk.wrk_requests_per_s", "wrk.cpu_pct.wrk",
               "wrk.cpu_pct.nginx", "data.cpu_pct.agent", "data.cpu_pct.nginx", "data.gen_cpu_pct", "open.gen_cpu_pct",
               "open.agent_cpu_pct", "open.handshake_ms_p50", "open.handshake_ms_p99", "open.sockets_opened", "steal_pct",
               "loadavg_before", "wrk.cpu_us_per_request.wrk", "wrk.cpu_us_per_request.nginx",
               "data.cpu_us_per_request.agent", "data.cpu_us_per_request.nginx", "cpu_bound_ratio")


def summarize_sockets(runs):
    """Medians over the rounds (flat dotted keys); the ratio is each round's own, then the median."""
    med = {"runs": len(runs), "ok_runs": sum(1 for r in runs if r.get("ok"))}
    for k in SOCKET_KEYS:
        med[k] = median_of(runs, k)
    med["ratios"] = [r.get("ratio_data") for r in runs]
    med["nginx_version"] = next((r["nginx_version"] for r in runs if r.get("nginx_version")), None)
    med["wrk_command"] = next((get(r, "wrk.command") for r in runs if get(r, "wrk.command")), None)
    for k in ("loss", "dups", "reorders", "misrouted"):
        med[k + "_total"] = 0
    med["errors"] = sorted({e for r in runs for e in r.get("errors", [])})[:4]
    return med


def ratio(a, b, higher):
    if a is None or b in (None, 0) or a == 0:
        return None
    return a / b if higher else b / a  # > 1 means Fleetgate is better


def fmt(v, unit=""):
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def targets(summary):
    """Issue #5 targets, evaluated only where Fleetgate has results."""
    lines = []
    fg = lambda s, k: get(summary.get(s, {}).get("fleetgate", {}), k)
    peer = lambda s, b, k: get(summary.get(s, {}).get(b, {}), k)
    if not any("fleetgate" in v for v in summary.values()):
        return ["Not evaluated: no Fleetgate results in this run."]
    for s in ("fan-in-qos0", "fan-in-qos1", "fan-out-100", "fan-out-1000"):
        f, m, n = fg(s, "delivery_rate"), peer(s, "mosquitto", "delivery_rate"), peer(s, "nats", "delivery_rate")
        if f is None:
            continue
        r = f / m if m else None
        ok = (r is not None and r >= 3) and (n is None or f > n)
        lines.append(f"- {s}: Fleetgate/mosquitto = {fmt(r)}x (target >= 3x)"
                     + (f", Fleetgate/nats = {fmt(f / n)}x (target > 1x)" if n else "")
                     + (" — met" if ok else " — **missed**"))
    for s in ("fan-in-qos1", "durability"):
        if "fleetgate" in summary.get(s, {}):
            d = summary[s]["fleetgate"]
            ok = d["loss_total"] == 0 and d["dups_total"] == 0
            lines.append(f"- {s}: loss {d['loss_total']}, dups {d['dups_total']} over all rounds (target 0)"
                         + (" — met" if ok else " — **missed**"))
    for q in ("p99", "p999"):
        f, m = fg("latency", "latency_us." + q), peer("latency", "mosquitto", "latency_us." + q)
        if f is not None and m is not None:
            lines.append(f"- latency {q} at 10k msg/s: Fleetgate {fmt(f)} us vs mosquitto {fmt(m)} us"
                         + (" — met" if f <= m else f" — **missed** by {fmt(f - m)} us ({fmt(f / m)}x)"))
    rss = fg("connections", "rss_per_connection_bytes")
    if rss is not None:
        lines.append(f"- RSS per idle connection: {fmt(rss)} B (target < 2048 B)"
                     + (" — met" if rss < 2048 else f" — **missed** by {fmt(rss - 2048)} B"))
    big, small = fg("wildcard-100000", "msg_rate"), fg("wildcard-100", "msg_rate")
    if big and small:
        slow = small / big
        lines.append(f"- wildcard: 100 subscriptions run {fmt(slow)}x faster than 100,000 (target <= 2x)"
                     + (" — met" if slow <= 2 else " — **missed**"))
    r = fg("sockets", "ratio_data")
    if r is not None:
        lines.append(f"- managed sockets (issue #14): data events/s through the agent / wrk to the same nginx = {fmt(r)}x "
                     f"(target >= {SOCKETS_TARGET:g}x)" + (" — met" if r >= SOCKETS_TARGET else " — **missed**"))
    tls_lines = []
    for sc in SCENARIOS:
        if not sc.get("tls") or fg(sc["name"], sc["metric"]) is None:
            continue
        f = fg(sc["name"], sc["metric"])
        parts = [f"Fleetgate/{b} = {fmt(ratio(f, peer(sc['name'], b, sc['metric']), sc['higher']))}x"
                 for b in ("mosquitto", "nats") if peer(sc["name"], b, sc["metric"]) is not None]
        tls_lines.append(f"- {sc['name']}: Fleetgate {fmt(f)} {sc['unit']}"
                         + (f"; {', '.join(parts)}" if parts else "") + " (informational: issue #3 sets no target)")
    if tls_lines:
        lines += ["", "TLS (issue #3):", ""] + tls_lines
    lines.append("")
    lines.append("Where a target is missed, `bench/profile.sh` shows where the time goes "
                 "(docs/PROFILE.md records the reading).")
    return lines


def negotiated(summary):
    """Protocol and suite each broker negotiated in the TLS scenarios."""
    seen = {}
    for sc in SCENARIOS:
        if sc.get("tls"):
            for name, d in summary.get(sc["name"], {}).items():
                seen.setdefault(name, set()).update(d.get("tls") or [])
    return "; ".join(f"{n} {', '.join(sorted(v)) or '?'}" for n, v in seen.items()) or "no TLS runs"


def cross_gateway_section(d, meta):
    """Cross-gateway vs local delivery, Fleetgate only (issue #4)."""
    L = ["", "## Cross-gateway (issue #4, Fleetgate only)", ""]
    if not d:
        return L + ["Not run" + (" (fleetgate unavailable)." if "fleetgate" in meta.get("skipped", {}) else ".")]
    L += [f"One fabric per round: fleetgate-coordinator + {XGW_GATEWAYS} agents on loopback. Publisher on gw-1; "
          f"cross = subscribers on gw-2 and gw-3 ({XGW_SUBSCRIBERS // 2} each; latency: 1 on gw-2), local = the "
          "same subscribers on gw-1, in the same fabric and run. mosquitto and nats-server have no equivalent "
          "(no fabric), so the comparison is cross-gateway vs local. Broker CPU is the sum over the three "
          "agents and the coordinator (% of one core); per process gw-1 / gw-2 / gw-3 / coordinator.", "",
          "| Measurement | local | cross | cross/local | loss (local / cross) | dups (local / cross) | "
          "gen CPU % (local / cross) | broker CPU % (local / cross) | cross CPU % per process |",
          "|---|---:|---:|---:|---|---|---|---|---|"]
    rows = [("qos0", "delivery_rate", f"deliveries/s, QoS 0, 1 -> {XGW_SUBSCRIBERS}", "ratio_qos0_throughput"),
            ("qos1", "delivery_rate", f"deliveries/s, QoS 1, 1 -> {XGW_SUBSCRIBERS}", "ratio_qos1_throughput"),
            ("latency", "latency_us.p50", f"p50 us at {XGW_RATE:,} msg/s, 1 -> 1", "ratio_latency_p50"),
            ("latency", "latency_us.p99", f"p99 us at {XGW_RATE:,} msg/s", "ratio_latency_p99"),
            ("latency", "latency_us.p999", f"p99.9 us at {XGW_RATE:,} msg/s", "ratio_latency_p999")]
    for part, key, label, rkey in rows:
        lo, cr = f"local_{part}", f"cross_{part}"
        each = d.get(f"{cr}.broker_cpu_pct_each") or []
        L.append(f"| {label} | {fmt(d.get(f'{lo}.{key}'))} | {fmt(d.get(f'{cr}.{key}'))} | {fmt(d.get(rkey))}x | "
                 f"{d.get(f'{lo}.loss_total')} / {d.get(f'{cr}.loss_total')} | "
                 f"{d.get(f'{lo}.dups_total')} / {d.get(f'{cr}.dups_total')} | "
                 f"{fmt(d.get(f'{lo}.gen_cpu_pct'))} / {fmt(d.get(f'{cr}.gen_cpu_pct'))} | "
                 f"{fmt(d.get(f'{lo}.broker_cpu_pct'))} / {fmt(d.get(f'{cr}.broker_cpu_pct'))} | "
                 + " / ".join(fmt(v) for v in each) + " |")
    L += ["", "Destination down (issue #11): QoS 1 from gw-1 to persistent subscribers on gw-2 and gw-3, "
          "then with gw-3's agent stopped (its persistent session's durable interest keeps the forwards "
          "owed to it in gw-1's log), then gw-3 restarted.", "",
          "| Measurement | value |", "|---|---:|",
          f"| origin publish rate, both destinations up (msgs/s) | {fmt(d.get('down_both.msg_rate'))} |",
          f"| origin publish rate, gw-3 down (msgs/s) | {fmt(d.get('down_one.msg_rate'))} |",
          f"| down / up | {fmt(d.get('ratio_down_publish'))}x |",
          f"| forwards held for gw-3 when it returned | {fmt(d.get('down_held'))} |",
          f"| catch-up after it returned (forwards/s; s) | {fmt(d.get('down_catchup_rate'))}; {fmt(d.get('down_catchup_s'))} |"]
    L += ["", f"Drain (issue #12): {fmt(d.get('drain.sessions'))} persistent MQTT 5 sessions on gw-1, each subscribed at "
          "QoS 1 with 5 messages queued, drained (`POST /v1/gateways/gw-1/drain`, asked "
          f"{DRAIN_RATE:,} clients/s) to gw-2/gw-3 while 5 more are published from gw-3; every session is then "
          "read back where it went. Stall: a handover's start to its commit (coordinator records). "
          "EMQX's default eviction rate is 500 connections/s.", "",
          "| Measurement | value |", "|---|---:|",
          f"| sessions moved per second | {fmt(d.get('drain.sessions_per_s'))} |",
          f"| drain time (s) | {fmt(d.get('drain.drain_s'))} |",
          f"| handover stall p50 / p99 (ms) | {fmt(d.get('drain.stall_ms_p50'))} / {fmt(d.get('drain.stall_ms_p99'))} |",
          f"| messages lost / delivered twice / sessions not found | {d.get('drain.loss_total')} / {d.get('drain.dups_total')} / "
          f"{d.get('drain.sessions_missing_total')} |"]
    if d.get("errors"):
        L += ["", "Errors: " + "; ".join(d["errors"])[:400].replace("|", "/")]
    L += ["", "Throughput ratios below 1 and latency ratios above 1 are the cost of the extra hops "
          "(gw-1 -> coordinator -> gw-2/gw-3). Loss at QoS 0 includes forwards the fabric dropped. "
          "The cross latency tails are mostly scheduling: four processes and the generator share 2 cores "
          "(an A/B on 2026-12-03 before and after write holding gave cross p99 573 and 1,638 us before, "
          "4,817 and 1,368 us after, p99.9 about 4.2 ms in all four)."]
    return L


SOCKETS_TARGET = 0.5   # issue #14: at least half the endpoint's own ceiling


def sockets_section(d, meta):
    """Managed sockets through a webhook mapping vs wrk on the same nginx (issue #14)."""
    L = ["", "## Managed sockets (issue #14, Fleetgate only)", ""]
    if not d:
        return L + ["Not run" + (" (fleetgate unavailable)." if "fleetgate" in meta.get("skipped", {}) else ".")]
    L += [f"Per round, one private nginx ({d.get('nginx_version') or 'nginx'}; 1 worker, keep-alive, access log off, "
          "`/fn` answers `ok` with 200). wrk: `" + (d.get("wrk_command") or "wrk") + "` POSTs to /fn the 31-byte body "
          "and the X-Fleetgate-* headers a data call carries. Agent: a stand-alone fleetgate-agent with "
          "`--listen-sockets` and a config-file mapping to the same /fn (events data, delimiter LF, reply discard, "
          "on_error close, max_concurrency 64); 64 device sockets send 32-byte lines as fast as the agent reads "
          "them. Both rates are nginx's own request count (stub_status) over the same window after 1 s of warm-up. "
          "CPU in % of one core over that window.", "",
          "| Measurement | value |", "|---|---:|",
          f"| nginx /fn driven by wrk, 64 connections (requests/s; wrk's own figure) | {fmt(d.get('wrk_rate'))} "
          f"({fmt(d.get('wrk.wrk_requests_per_s'))}) |",
          f"| data events/s through the agent, 64 sockets (nginx requests/s) | {fmt(d.get('data_rate'))} |",
          f"| agent / wrk (median of each round's ratio; rounds: {', '.join(fmt(x) for x in d.get('ratios', []))}) | "
          f"{fmt(d.get('ratio_data'))}x |",
          f"| CPU %, wrk run: wrk / nginx worker | {fmt(d.get('wrk.cpu_pct.wrk'))} / {fmt(d.get('wrk.cpu_pct.nginx'))} |",
          f"| CPU %, agent run: devices (Python) / agent / nginx worker | {fmt(d.get('data.gen_cpu_pct'))} / "
          f"{fmt(d.get('data.cpu_pct.agent'))} / {fmt(d.get('data.cpu_pct.nginx'))} |",
          f"| CPU us per request, wrk run: wrk / nginx worker | {fmt(d.get('wrk.cpu_us_per_request.wrk'))} / "
          f"{fmt(d.get('wrk.cpu_us_per_request.nginx'))} |",
          f"| CPU us per data event, agent run: agent / nginx worker | {fmt(d.get('data.cpu_us_per_request.agent'))} / "
          f"{fmt(d.get('data.cpu_us_per_request.nginx'))} |",
          f"| estimate, not measured: agent / wrk if each process had a core to itself (the costlier process per "
          f"request sets each run's pace) | {fmt(d.get('cpu_bound_ratio'))}x |",
          f"| load average before the rounds (median); CPU stolen (median %) | {fmt(d.get('loadavg_before'))}; "
          f"{fmt(d.get('steal_pct'))} |",
          f"| sockets opened/s, {fmt(d.get('open.sockets_opened'))} sockets, 100 handshakes at a time | {fmt(d.get('open_rate'))} |",
          f"| OPEN to OK p50 / p99 (ms) | {fmt(d.get('open.handshake_ms_p50'))} / {fmt(d.get('open.handshake_ms_p99'))} |",
          f"| CPU % while opening: devices (Python) / agent | {fmt(d.get('open.gen_cpu_pct'))} / {fmt(d.get('open.agent_cpu_pct'))} |"]
    if d.get("errors"):
        L += ["", "Errors: " + "; ".join(d["errors"])[:400].replace("|", "/")]
    L += ["", "Reading it: the rates, and so the measured ratio, depend on what else runs on the machine (a "
          "run whose processes wait for a CPU goes at the pace of the wait); the CPU microseconds per request "
          "are steadier, and the estimate row turns them into the ratio an otherwise idle machine would give. "
          "Where the agent's time goes: docs/PROFILE.md (managed sockets).",
          "", "Why reply discard: wrk reads nginx's answer and drops it; with `reply: discard` the agent does the same "
          "(curl reads the answer, nothing is written back to the device), so both sides do one POST and one response "
          "per data event and differ only in who makes the request. `reply: write` would add a write to the device "
          "per event, a cost wrk has no counterpart for. Each socket has one call in flight (calls of a socket are in "
          "order, one at a time), so 64 sockets are 64 concurrent keep-alive requests, like wrk's 64 connections; 64 "
          "is also the agent's idle-connection cache (HTTPClient maximumIdleConnections), past which connections "
          "would not be reused."]
    return L


def write_markdown(path, meta, summary, brokers, skipped):
    names = [b.name for b in brokers]
    L = ["# Fleetgate benchmarks", "",
         f"Generated by `{meta['command']}` on {meta['date']} ({meta['rounds']} round(s), "
         f"{'quick' if meta['quick'] else 'full'} mode). Every scenario runs against each broker in turn "
         "(A B C A B C ...), a fresh broker process per run; figures are medians over the rounds.", "",
         "## Machine", "",
         f"- CPU: {meta['machine']['cpu']}, {meta['machine']['cores']} cores (shared by the broker and the "
         "load generator)",
         f"- Memory: {meta['machine']['memory']}; kernel {meta['machine']['kernel']}",
         f"- Load average before runs: min {fmt(meta['load_min'])}, max {fmt(meta['load_max'])} "
         "(other work on the machine skews results when it is well above 0)",
         f"- CPU stolen by the hypervisor during runs (/proc/stat steal, % of the machine): median "
         f"{fmt(meta.get('steal_median'))}, max {fmt(meta.get('steal_max'))} (this is a shared VM: runs with "
         "high steal slow down whichever broker runs then; brokers alternate within each round to spread it)",
         f"- Runs repeated because more than {STEAL_RERUN_PCT:g} % of the machine was stolen during them "
         f"(at most {STEAL_RERUNS} repeats per run, same broker and round): "
         + (", ".join(f"{d['scenario']}/{d['broker']} round {d['round']} ({fmt(d['steal_pct'])} %)"
                      for d in meta.get("discarded_for_steal", [])) or "none"), "",
         "## Brokers", ""]
    for b in brokers:
        L.append(f"- {b.name}: {meta['versions'].get(b.name, '?')}")
    for name, reason in skipped.items():
        L.append(f"- {name}: **unavailable** — {reason}")
    if meta.get("tls_unavailable"):
        L.append(f"- TLS scenarios: **not run** — {meta['tls_unavailable']}")
    L += ["", "## Results (medians)", "",
          "| Scenario | Metric | " + " | ".join(names + [n for n in skipped]) + " | " +
          " | ".join(f"Fleetgate/{n}" for n in names if n != "fleetgate") + " |",
          "|---|---|" + "---:|" * (len(names) + len(skipped)) + "---:|" * len([n for n in names if n != "fleetgate"])]
    for sc in SCENARIOS:
        per = summary.get(sc["name"], {})
        if sc.get("sockets"):
            d = per.get("fleetgate")
            bad = " (!)" if d and d["ok_runs"] < d["runs"] else ""
            for key, unit, suffix in (("ratio_data", "data events/s through a webhook mapping / wrk to the same nginx "
                                       f"location (target >= {SOCKETS_TARGET:g}x)", "x"),
                                      ("open_rate", "sockets opened/s (OPEN to OK)", "")):
                cells = [(fmt(get(d, key)) + suffix + bad) if (n == "fleetgate" and d) else
                         ("—" if n == "fleetgate" else "no equivalent") for n in names]
                cells += ["n/a" for _ in skipped]
                L.append(f"| {sc['name']} | {unit} | " + " | ".join(cells) + " | "
                         + " | ".join("—" for n in names if n != "fleetgate") + " |")
            continue
        if sc.get("fabric"):
            d = per.get("fleetgate")
            bad = " (!)" if d and d["ok_runs"] < d["runs"] else ""
            for key, unit in (("ratio_qos0_throughput", "cross/local deliveries/s, QoS 0"),
                              ("ratio_qos1_throughput", "cross/local deliveries/s, QoS 1"),
                              ("ratio_down_publish", "origin QoS 1 publish rate, one of two destinations down / both up"),
                              ("ratio_latency_p99", f"cross/local p99 latency at {XGW_RATE:,} msg/s")):
                cells = [(fmt(get(d, key)) + "x" + bad) if (n == "fleetgate" and d) else
                         ("—" if n == "fleetgate" else "no equivalent") for n in names]
                cells += ["n/a" for _ in skipped]
                L.append(f"| {sc['name']} | {unit} | " + " | ".join(cells) + " | "
                         + " | ".join("—" for n in names if n != "fleetgate") + " |")
            continue
        metrics = [(sc["metric"], sc["unit"], sc["higher"])]
        if sc["name"] == "latency":
            metrics = [("latency_us.p50", "p50 us", False), ("latency_us.p99", "p99 us", False),
                       ("latency_us.p999", "p99.9 us", False)]
        if sc["name"] == "connections":
            metrics = [("rss_per_connection_bytes", "RSS B/conn", False), ("connect_rate", "connects/s", True)]
        if sc["name"] == "retained-wildcard":
            metrics = [("subscribe_rate", "subscribes/s (100 retained each)", True),
                       ("broker_cpu_us_per_subscribe", "broker CPU us/subscribe", False),
                       ("store_rate", "retained messages stored/s", True)]
        for key, unit, higher in metrics:
            cells = []
            for n in names:
                v = get(per.get(n, {}), key)
                bad = per.get(n) and per[n]["ok_runs"] < per[n]["runs"]
                cells.append(fmt(v) + (" (!)" if bad else ""))
            cells += ["n/a" for _ in skipped]
            f = get(per.get("fleetgate", {}), key)
            ratios = [fmt(ratio(f, get(per.get(n, {}), key), higher)) for n in names if n != "fleetgate"]
            L.append(f"| {sc['name']} | {unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    L += ["", "Ratios are Fleetgate/peer with > 1 meaning Fleetgate is better (for latency and memory the "
          "inverse of the raw ratio). (!) marks a median that includes a run with errors or unfinished setup.",
          "", "## Correctness and CPU", "",
          "Generator CPU is its own getrusage time; broker CPU is utime+stime from /proc/<pid>/stat over "
          "the same window; both in % of one core (2 cores = 200 %).", "",
          "| Scenario | Broker | loss | dups | reorders | misrouted | gen CPU % | broker CPU % | errors |",
          "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for sc in SCENARIOS:
        for n in names:
            d = summary.get(sc["name"], {}).get(n)
            if not d or sc.get("fabric") or sc.get("sockets"):
                continue
            L.append(f"| {sc['name']} | {n} | {d['loss_total']} | {d['dups_total']} | {d['reorders_total']} | "
                     f"{d['misrouted_total']} | {fmt(d['gen_cpu_pct'])} | {fmt(d['broker_cpu_pct'])} | "
                     + ("; ".join(d["errors"])[:160].replace("|", "/") or "") + " |")
    L += cross_gateway_section(summary.get("cross-gateway", {}).get("fleetgate"), meta)
    if "sockets" in summary:
        L += sockets_section(summary["sockets"].get("fleetgate"), meta)
    L += ["", "## Scenarios", ""]
    for sc in SCENARIOS:
        if sc.get("sockets"):
            from managed_sockets import WINDOW_S, OPEN_COUNT, OPEN_CONCURRENCY
            q = 1 if meta["quick"] else 0
            L.append(f"- **{sc['name']}**: {sc['what']}. bench/managed_sockets.py: `wrk -t1 -c64 -d{int(WINDOW_S[q] + 2)}s -s post.lua "
                     f"http://127.0.0.1:P/fn`; `managed_sockets.py data --sockets 64 --seconds {WINDOW_S[q]:g}`; "
                     f"`managed_sockets.py open --count {OPEN_COUNT[q]} --concurrency {OPEN_CONCURRENCY}`.")
            continue
        if sc.get("fabric"):
            parts = "; ".join(f"{p}: `fleetgate-bench {' '.join(a)} {' '.join(q if meta['quick'] else f)} "
                              "--broker GW1 --subscriber-broker GW2,GW3 --topic T --broker-pid ...`"
                              for p, a, f, q in XGW_PARTS)
            L.append(f"- **{sc['name']}**: {sc['what']}. {parts} (latency: `--subscriber-broker GW2`; "
                     "local: `--subscriber-broker GW1`).")
            continue
        tls = " --tls-ca CA --tls-ciphersuites " + TLS_SUITE if sc.get("tls") else ""
        L.append(f"- **{sc['name']}**: {sc['what']}; `fleetgate-bench {' '.join(sc['args'])} "
                 f"{' '.join(sc['quick'] if meta['quick'] else sc['full'])}{tls}`")
    L += ["", "## Notes", "",
          "- Durability: mosquitto runs with `persistence true` but writes its database only periodically "
          "(autosave_interval) and at exit, so its figure is not for per-message durability; Fleetgate "
          "commits to SQLite before PUBACK. nats-server keeps MQTT QoS 1 sessions in JetStream (file store).",
          "- retained-wildcard: Fleetgate commits every retained message to SQLite (group commit per loop "
          "turn) before it is acknowledged or visible; mosquitto keeps them in memory and writes its "
          "database only periodically, nats-server stores them in a JetStream stream. The store rate row "
          "compares those different guarantees.",
          "- mosquitto config: `max_queued_messages 1000000`, `connection_messages false`, log errors and "
          "warnings only, `persistence false` except for durability; Nagle left on (its default).",
          "- Throughput scenarios keep at most 65,536 deliveries outstanding end to end (the generator's "
          "window), so their latency columns in latest.json measure queueing at saturation, not idle latency.",
          "- Loss at QoS 0 is real loss (the broker dropped or never delivered within the 2 s drain).",
          "- Fleetgate holds a connection's small writes for up to 3 loop turns while a turn reads 16 KiB or "
          "more (docs/DESIGN-NOTES.md): under saturation each write() carries several messages "
          "(wildcard-100000: 7.9 deliveries per write instead of 1.33); the latency scenario never triggers it.",
          "- Connections past one machine: 19,000 is this machine's per-process limit (hard RLIMIT_NOFILE "
          "20,000; the agent raises its soft limit to the hard one at start), not the agent's. Memory grows "
          "linearly with idle connections at the RSS-per-connection figure above (no per-connection timer, "
          "read buffer or write buffer while idle), so 1 M idle connections need about that figure x 1 M "
          "(e.g. ~1.2 GiB at 1.2 KiB) plus the kernel's socket memory; past one host, gateways scale out: "
          "each agent holds its own devices and the coordinator carries only interest and forwards.",
          "- TLS rows: one EC P-256 CA and server certificate (SAN DNS:localhost, IP:127.0.0.1) made with the "
          "openssl CLI per harness run, the same files for every broker (Fleetgate `--listen-tls`, mosquitto "
          "`listener` + `cafile/certfile/keyfile`, nats-server `mqtt { tls {} }`). The generator verifies the "
          f"chain and the name (SNI localhost), offers TLS 1.3 with {TLS_SUITE} only and keeps no session "
          "cache, so every connection is a full handshake. Its own handshake CPU is comparable to a broker's "
          "(OpenSSL 3.0 client side), so on 2 cores tls-connect is close to generator-bound: read it with "
          "the gen CPU column. `--quickack` in tls-connect: mosquitto (Nagle on) writes its TLS 1.3 session "
          "tickets and the CONNACK in pieces and otherwise waits for the generator's 40 ms delayed ACK on "
          "every connection.",
          "- TLS negotiated: " + negotiated(summary) + ".",
          "", "## Targets (issue #5)", ""]
    L += targets(summary)
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--brokers", default="fleetgate,mosquitto,nats")
    ap.add_argument("--markdown", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite the markdown from a results file")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        named = {"fleetgate": Fleetgate, "mosquitto": Mosquitto, "nats": Nats, "baseline": Baseline}
        brokers = [named[n]() for n in saved["meta"]["versions"]]
        write_markdown(args.markdown, saved["meta"], saved["summary"], brokers, saved["meta"]["skipped"])
        return
    rounds = args.rounds or (1 if args.quick else 3)
    scenarios = [s for s in SCENARIOS if not args.only or s["name"] in args.only.split(",")]
    if not os.path.exists(GEN) and any(not s.get("sockets") for s in scenarios):  # sockets has its own devices
        sys.exit(f"{GEN} missing: swift build -c release --product fleetgate-bench")
    global CERTS
    tls_unavailable = None
    if any(s.get("tls") for s in scenarios):
        try:
            CERTS = Certs()
            atexit.register(CERTS.remove)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            tls_unavailable = f"no test certificates (openssl CLI): {e}"
            print(f"skipping TLS scenarios: {tls_unavailable}", flush=True)
            scenarios = [s for s in scenarios if not s.get("tls")]

    all_brokers = {"fleetgate": Fleetgate, "mosquitto": Mosquitto, "nats": Nats, "baseline": Baseline}
    brokers, skipped = [], {}
    for name in args.brokers.split(","):
        b = all_brokers[name]()
        if b.unavailable is None:
            # One probe start so a broker that cannot run is reported once, not per run.
            tmp = tempfile.mkdtemp(prefix=f"fgbench-probe-{name}-")
            try:
                proc, _ = b.start({}, tmp)
                stop_process(proc)
            except Unavailable as e:
                b.unavailable = str(e)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        if b.unavailable:
            print(f"skipping {name}: {b.unavailable}", flush=True)
            skipped[name] = b.unavailable
        else:
            brokers.append(b)

    meta = dict(command="make bench" + (" BENCH_QUICK=1" if args.quick else ""),
                date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                quick=args.quick, rounds=rounds, machine=machine(),
                versions={b.name: b.version() for b in brokers}, skipped=skipped,
                tls_unavailable=tls_unavailable)
    results = []
    started = time.time()
    discarded = []
    for sc in scenarios:
        # Tail latency is what a noisy shared host disturbs most: it gets extra rounds (full mode).
        for rnd in range(max(rounds, sc.get("min_rounds", 0)) if not args.quick else rounds):
            for b in brokers:
                if sc.get("sockets"):
                    if b.name != "fleetgate":
                        continue  # the peer is wrk on the same endpoint, run inside the round
                    r = run_sockets(args.quick)
                    r["round"] = rnd + 1
                    results.append(r)
                    print(f"[{time.time() - started:6.1f}s] {sc['name']:<16} fleetgate  round {rnd + 1}: "
                          f"data events/s {fmt(r.get('data_rate'))} via the agent vs {fmt(r.get('wrk_rate'))} wrk direct = "
                          f"{fmt(r.get('ratio_data'))}x (CPU % agent {fmt(get(r, 'data.cpu_pct.agent'))} nginx "
                          f"{fmt(get(r, 'data.cpu_pct.nginx'))} gen {fmt(get(r, 'data.gen_cpu_pct'))}; wrk {fmt(get(r, 'wrk.cpu_pct.wrk'))} "
                          f"nginx {fmt(get(r, 'wrk.cpu_pct.nginx'))}); opened {fmt(r.get('open_rate'))} sockets/s "
                          f"(agent {fmt(get(r, 'open.agent_cpu_pct'))}% gen {fmt(get(r, 'open.gen_cpu_pct'))}%) "
                          f"steal={fmt(r.get('steal_pct'))}%" + ("" if r.get("ok") else f"  ERR {r.get('errors')}"), flush=True)
                    continue
                if sc.get("fabric"):
                    if b.name != "fleetgate":
                        continue  # no peer equivalent
                    r = run_fabric(sc, args.quick)
                    r["round"] = rnd + 1
                    results.append(r)
                    for part, *_ in XGW_PARTS:
                        for mode in ("local", "cross"):
                            x = r.get(f"{mode}_{part}", {})
                            lat = x.get("latency_us") or {}
                            print(f"[{time.time() - started:6.1f}s] {sc['name']:<16} {mode:<5} {part:<7} round "
                                  f"{rnd + 1}: {fmt(x.get('delivery_rate'))} deliveries/s p50={fmt(lat.get('p50'))} "
                                  f"p99={fmt(lat.get('p99'))} p99.9={fmt(lat.get('p999'))} us loss={x.get('loss', '-')} "
                                  f"dups={x.get('dups', '-')} gen_cpu={fmt(x.get('gen_cpu_pct'))}% "
                                  f"broker_cpu={fmt(x.get('broker_cpu_pct'))}% {x.get('broker_cpu_pct_each', '')} "
                                  f"interest_wait={x.get('interest_wait_s')}s"
                                  + (f" link_drops={x['link_drops']}" if x.get("link_drops") else ""), flush=True)
                    print(f"[{time.time() - started:6.1f}s] {sc['name']:<16} cross/local: qos0 "
                          f"{fmt(r.get('ratio_qos0_throughput'))}x qos1 {fmt(r.get('ratio_qos1_throughput'))}x "
                          f"p99 {fmt(r.get('ratio_latency_p99'))}x; destination down: publish "
                          f"{fmt(get(r, 'down_one.msg_rate'))} vs {fmt(get(r, 'down_both.msg_rate'))} msgs/s "
                          f"({fmt(r.get('ratio_down_publish'))}x), catch-up {fmt(r.get('down_catchup_rate'))} fwd/s "
                          f"({r.get('down_held')} in {r.get('down_catchup_s')} s); drain "
                          f"{fmt(get(r, 'drain.sessions_per_s'))} sessions/s, stall p50/p99 {fmt(get(r, 'drain.stall_ms_p50'))}/"
                          f"{fmt(get(r, 'drain.stall_ms_p99'))} ms, loss {get(r, 'drain.loss')} dups {get(r, 'drain.dups')}"
                          + ("" if r.get("ok") else f"  ERR {r.get('errors')}"), flush=True)
                    continue
                for attempt in range(STEAL_RERUNS + 1):
                    try:
                        r = run_one(b, sc, args.quick, None)
                    except Unavailable as e:
                        r = dict(scenario=sc["name"], broker=b.name, ok=False, errors=[str(e)])
                    if (r.get("steal_pct") or 0) <= STEAL_RERUN_PCT or attempt == STEAL_RERUNS:
                        break
                    # The hypervisor took the CPU from under this run: repeat it, and say so.
                    discarded.append(dict(scenario=sc["name"], broker=b.name, round=rnd + 1, steal_pct=r["steal_pct"],
                                          value=get(r, sc["metric"])))
                    print(f"[{time.time() - started:6.1f}s] {sc['name']:<16} {b.name:<10} round {rnd + 1}: "
                          f"{fmt(get(r, sc['metric']))} {sc['unit']} with steal={fmt(r['steal_pct'])}%: repeated", flush=True)
                r["round"] = rnd + 1
                results.append(r)
                v = get(r, sc["metric"])
                print(f"[{time.time() - started:6.1f}s] {sc['name']:<16} {b.name:<10} round {rnd + 1}: "
                      f"{fmt(v)} {sc['unit']}  loss={r.get('loss', '-')} dups={r.get('dups', '-')} "
                      f"gen_cpu={fmt(r.get('gen_cpu_pct'))}% broker_cpu={fmt(r.get('broker_cpu_pct'))}%"
                      + (f" steal={fmt(r['steal_pct'])}%" if r.get("steal_pct") is not None else "")
                      + ("" if r.get("ok") else f"  ERR {r.get('errors')}"), flush=True)
    loads = [r["loadavg_before"] for r in results if r.get("loadavg_before") is not None]
    meta["load_min"] = min(loads) if loads else None
    meta["load_max"] = max(loads) if loads else None
    steals = sorted(r["steal_pct"] for r in results if r.get("steal_pct") is not None)
    meta["steal_median"] = steals[len(steals) // 2] if steals else None
    meta["steal_max"] = steals[-1] if steals else None
    meta["discarded_for_steal"] = discarded
    meta["elapsed_s"] = round(time.time() - started, 1)
    summary = summarize(results, brokers)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(dict(meta=meta, summary=summary, runs=results), f, indent=1)
    write_markdown(args.markdown, meta, summary, brokers, skipped)
    print(f"wrote {args.markdown} and {os.path.join(RESULTS, 'latest.json')} in {meta['elapsed_s']} s")


if __name__ == "__main__":
    main()
