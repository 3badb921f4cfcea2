#!/usr/bin/env python3
"""The managed-sockets scenario of `make bench` (issue #14), Fleetgate only; its peer is `wrk`.

Per round, against one private nginx (Debian package; own config in a temporary directory, one
worker, loopback port, keep-alive, access log off, started and stopped by PID):
- wrk: `wrk -t1 -c N` POSTs the body and headers a data call carries straight to nginx's /fn
  location: the endpoint's own ceiling on this machine.
- data: a stand-alone fleetgate-agent (`--listen-sockets`, a config-file mapping to /fn with
  events ["data"], delimiter "\\n", reply "discard") and N device sockets that send lines as fast as
  the agent reads them; one data call per line, N calls at once (max_concurrency N), like wrk's N
  connections with one request each.
- open: sockets opened per second: `OPEN` line to `OK` reply, many handshakes in parallel.

Both throughput parts are counted the same way, independently of either client: nginx's request
counter (stub_status on its own location) read at the start and end of a window after warm-up.

The device side is this file run as a program (a separate process, so its CPU is its own):
    python3 bench/managed_sockets.py data --port P --sockets 64 --seconds 5 --status http://127.0.0.1:Q/status
    python3 bench/managed_sockets.py open --port P --count 2000 --concurrency 100
One thread on epoll with non-blocking sockets; it prints one JSON object. Plain standard library.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# One data event: a 32-byte line (31-byte chunk; the delimiter is not part of it). wrk sends the
# same 31 bytes as its body, with the headers a data call carries (curl adds Host and Accept).
LINE = b"data-0123456789abcdef0123456789\n"
assert len(LINE) == 32
MAPPING = "bench"
RESPONSE = "ok\n"
CALL_HEADERS = {"Content-Type": "application/octet-stream", "X-Fleetgate-Event": "data",
                "X-Fleetgate-Socket": "agent-1", "X-Fleetgate-Client": "bench-0", "X-Fleetgate-Identity": "",
                "X-Fleetgate-Gateway": "agent", "X-Fleetgate-Mapping": MAPPING}

# Full / quick sizes. CONCURRENCY: wrk's connections = the agent's sockets = max_concurrency; it
# stays at 64, curl's idle-connection cache (HTTPClient maximumIdleConnections): past it the agent
# would close connections after each call and the comparison would no longer be keep-alive.
CONCURRENCY = 64
WINDOW_S = (5.0, 2.0)
WARMUP_S = 1.0
MAX_LINES = (20_000_000, 8_000_000)     # bound on what the devices send in one run
OPEN_COUNT = (2000, 1000)
OPEN_CONCURRENCY = 100


# ---------------------------------------------------------------------------------------------
# Shared helpers

def cpu_seconds(pid):
    """utime + stime of a process from /proc/PID/stat, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def own_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def status_requests(url, timeout=5.0):
    """nginx's total request count from its stub_status location (this request included)."""
    m = re.match(r"http://([^/:]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    # "server accepts handled requests\n A H R \n"
    text = data.decode(errors="replace")
    nums = re.search(r"accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if not nums:
        raise OSError(f"no stub_status counters in {text[:200]!r}")
    return int(nums.group(3))


class Window:
    """Requests nginx answered and CPU of the named processes between start() and stop()."""

    def __init__(self, status_url, pids):
        self.status_url, self.pids = status_url, pids

    def start(self):
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.own0 = own_cpu_seconds()
        self.t0 = time.monotonic()
        self.r0 = status_requests(self.status_url)

    def stop(self):
        r1 = status_requests(self.status_url)
        t1 = time.monotonic()
        own1 = own_cpu_seconds()
        cpu1 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        dt = t1 - self.t0
        requests = r1 - self.r0 - 1      # the second status request counts itself
        cpu = {n: (round(100.0 * (cpu1[n] - self.cpu0[n]) / dt, 1)
                   if cpu1.get(n) is not None and self.cpu0.get(n) is not None else None) for n in self.pids}
        return dict(requests=requests, window_s=round(dt, 3), rate=requests / dt, cpu_pct=cpu,
                    own_cpu_pct=round(100.0 * (own1 - self.own0) / dt, 1))


# ---------------------------------------------------------------------------------------------
# The device side (run as a program)

def open_sockets(port, count, concurrency, deadline, client_prefix="bench"):
    """Opens `count` managed sockets, at most `concurrency` handshakes in progress: connect, send
    the OPEN line, read the answer line. Returns (open sockets, errors, seconds from the first
    connect to the last answer, handshake latencies in seconds)."""
    ep = select.epoll()
    pending = {}        # fd -> [socket, answer bytes so far, start time]
    opened, errors, latencies = [], [], []
    started = 0
    t_first = time.monotonic()
    t_last = t_first
    try:
        while len(opened) + len(errors) < count and time.monotonic() < deadline:
            while started < count and len(pending) < concurrency:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                rc = s.connect_ex(("127.0.0.1", port))
                if rc not in (0, errno.EINPROGRESS):
                    errors.append(f"connect: {os.strerror(rc)}")
                    s.close()
                    started += 1
                    continue
                ep.register(s.fileno(), select.EPOLLOUT)
                pending[s.fileno()] = [s, b"", time.monotonic(), f"OPEN {MAPPING} client={client_prefix}-{started}\n".encode()]
                started += 1
            for fd, ev in ep.poll(0.2):
                entry = pending.get(fd)
                if entry is None:
                    continue
                s = entry[0]
                try:
                    if entry[3] is not None:     # connecting: writable means connected (or failed)
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        s.send(entry[3])         # < 100 bytes into an empty socket buffer
                        entry[3] = None
                        ep.modify(fd, select.EPOLLIN)
                        continue
                    data = s.recv(512)
                    if not data:
                        raise OSError("closed before an answer")
                    entry[1] += data
                    if b"\n" not in entry[1]:
                        continue
                    line = entry[1].split(b"\n", 1)[0].rstrip(b"\r")
                    ep.unregister(fd)
                    del pending[fd]
                    t_last = time.monotonic()
                    if line.startswith(b"OK "):
                        opened.append(s)
                        latencies.append(t_last - entry[2])
                    else:
                        errors.append(line.decode(errors="replace")[:120])
                        s.close()
                except OSError as e:
                    ep.unregister(fd)
                    del pending[fd]
                    errors.append(f"handshake: {e}")
                    s.close()
        for s, *_ in pending.values():
            errors.append("no answer before the deadline")
            s.close()
    finally:
        ep.close()
    return opened, errors, t_last - t_first, latencies


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def device_open(args):
    t = time.monotonic()
    deadline = t + args.seconds
    cpu0 = own_cpu_seconds()
    agent0 = cpu_seconds(args.agent_pid) if args.agent_pid else None
    opened, errors, took, lat = open_sockets(args.port, args.count, args.concurrency, deadline)
    own = own_cpu_seconds() - cpu0
    agent1 = cpu_seconds(args.agent_pid) if args.agent_pid else None
    for s in opened:
        s.close()
    out = dict(part="open", sockets_opened=len(opened), count=args.count, concurrency=args.concurrency,
               seconds=round(took, 3), open_rate=len(opened) / took if took > 0 else None,
               handshake_ms_p50=round(1000 * percentile(lat, 0.5), 2) if lat else None,
               handshake_ms_p99=round(1000 * percentile(lat, 0.99), 2) if lat else None,
               gen_cpu_pct=round(100.0 * own / took, 1) if took > 0 else None,
               agent_cpu_pct=round(100.0 * (agent1 - agent0) / took, 1) if agent0 is not None and agent1 is not None and took > 0 else None,
               errors=sorted(set(errors))[:4], error_count=len(errors))
    out["ok"] = not errors and len(opened) == args.count
    print(json.dumps(out), flush=True)


def device_data(args):
    """N sockets send lines as fast as the agent reads them (a socket is written whenever it is
    writable: the agent's backpressure is the only pacing), bounded by --max-lines in total and by
    time; nginx's counter is read after --warmup and again --seconds later."""
    deadline = time.monotonic() + args.seconds + args.warmup + 30
    socks, errors, _, _ = open_sockets(args.port, args.sockets, args.sockets, deadline)
    if errors:
        print(json.dumps(dict(part="data", ok=False, errors=sorted(set(errors))[:4])), flush=True)
        return
    block = LINE * 256                               # 8 KiB per send()
    budget = args.max_lines * len(LINE) // len(socks)
    sent = {s.fileno(): 0 for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLOUT)
    pids = {"agent": args.agent_pid} if args.agent_pid else {}
    if args.nginx_pid:
        pids["nginx"] = args.nginx_pid
    window = Window(args.status, pids)
    t_start = time.monotonic()
    t_window, t_end, result = t_start + args.warmup, None, None
    closed = 0
    while True:
        now = time.monotonic()
        if t_end is None and now >= t_window:
            window.start()
            t_end = time.monotonic() + args.seconds
        elif t_end is not None and now >= t_end:
            result = window.stop()
            break
        if not sent:
            time.sleep(min(0.05, max(0.0, (t_end or t_window) - now)))
            continue
        for fd, ev in ep.poll(0.05):
            if fd not in sent:
                continue
            if ev & (select.EPOLLERR | select.EPOLLHUP):
                ep.unregister(fd)
                del sent[fd]
                closed += 1
                continue
            try:
                offset = sent[fd] % len(block)
                n = by_fd[fd].send(memoryview(block)[offset:])
                sent[fd] += n
                if sent[fd] >= budget:
                    ep.unregister(fd)
                    del sent[fd]
            except BlockingIOError:
                pass
            except OSError:
                ep.unregister(fd)
                del sent[fd]
                closed += 1
    ep.close()
    for s in socks:
        s.close()
    result.update(part="data", sockets=len(socks), lines_budget=args.max_lines,
                  budget_exhausted=not sent and closed == 0, closed_by_agent=closed,
                  gen_cpu_pct=result.pop("own_cpu_pct"))
    errs = []
    if closed:
        errs.append(f"{closed} sockets closed by the agent during the run (a failed call with on_error close)")
    if not sent and closed == 0:
        errs.append(f"the devices ran out of lines ({args.max_lines:,}) before the window ended: raise MAX_LINES")
    result["errors"] = errs
    result["ok"] = not errs
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# The harness side: nginx, wrk, the agent, one round

class Unavailable(Exception):
    pass


def raise_fd_limit():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    except (ValueError, OSError):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_pid(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class Nginx:
    """A private nginx: its own config in `tmp`, one worker, a loopback port, /fn answering
    "ok\\n" with 200 (request body read and discarded), /status (stub_status), keep-alive on,
    access log off. Runs in the foreground (daemon off) as our child: stopped by its PID."""

    def __init__(self, tmp):
        self.binary = nginx_binary()
        if not self.binary:
            raise Unavailable("nginx not installed (Debian package nginx)")
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(self.dir)
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o777)   # the worker runs as nobody when we are root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/fn"
        self.status_url = f"http://127.0.0.1:{self.port}/status"
        d = self.dir
        conf = os.path.join(d, "nginx.conf")
        temp = "\n".join(f"    {k}_temp_path {d}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location = /fn {{ default_type text/plain; return 200 "{RESPONSE.strip()}\\n"; }}
        location = /status {{ stub_status; }}
    }}
}}
""")
        self.log = open(os.path.join(d, "stderr.log"), "wb")
        self.proc = subprocess.Popen([self.binary, "-c", conf, "-p", d + "/", "-e", f"{d}/error.log"],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("nginx exited at start: " + self.error_tail())
            try:
                status_requests(self.status_url, timeout=0.5)
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise Unavailable("nginx did not answer within 10 s: " + self.error_tail())
        self.worker = self.worker_pid()

    def worker_pid(self):
        """The worker (the master only supervises): its CPU is the endpoint's."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = [int(x) for x in f.read().split()]
            return kids[0] if kids else self.proc.pid
        except OSError:
            return self.proc.pid

    def error_tail(self):
        for name in ("error.log", "stderr.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    text = f.read()[-300:].decode(errors="replace").strip()
                if text:
                    return text.splitlines()[-1]
            except OSError:
                pass
        return ""

    def version(self):
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True, timeout=5)
        return (out.stderr or out.stdout).strip()

    def stop(self):
        # SIGQUIT: graceful shutdown of master and worker; the master is our child, by PID.
        stop_pid(self.proc, signal.SIGQUIT)
        self.log.close()


def run_wrk(nginx, seconds, warmup, tmp):
    """wrk against nginx's /fn with the data call's body and headers, wrk's CPU and nginx's over
    the same counted window as the agent's part."""
    wrk = shutil.which("wrk")
    if not wrk:
        return dict(ok=False, errors=["wrk not installed (Debian package wrk)"])
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n' + f'wrk.body = "{LINE[:-1].decode()}"\n'
                + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in CALL_HEADERS.items()))
    argv = [wrk, "-t1", f"-c{CONCURRENCY}", f"-d{int(seconds + warmup + 1)}s", "--timeout", "5s", "-s", script, nginx.url]
    out_path = os.path.join(tmp, "wrk.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            window = Window(nginx.status_url, {"wrk": proc.pid, "nginx": nginx.worker})
            time.sleep(warmup)
            window.start()
            time.sleep(seconds)
            r = window.stop()
            proc.wait(timeout=seconds + 30)
        finally:
            stop_pid(proc)
    with open(out_path) as f:
        text = f.read()
    r.update(part="wrk", command=" ".join(["wrk"] + argv[1:-2] + ["post.lua", "URL"]))
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    r["wrk_requests_per_s"] = float(m.group(1)) if m else None
    errs = [line.strip() for line in text.splitlines() if "errors" in line.lower() or "Non-2xx" in line]
    r["gen_cpu_pct"] = r["cpu_pct"].get("wrk")
    r["errors"] = errs
    r["ok"] = proc.returncode == 0 and not errs
    if proc.returncode != 0:
        r["errors"].append(f"wrk exit {proc.returncode}: {text.strip()[-200:]}")
    return r


class Agent:
    """A stand-alone fleetgate-agent with a managed-socket listener and the `bench` mapping from
    its config file (events data, delimiter LF, reply discard, max_concurrency CONCURRENCY)."""

    def __init__(self, binary, tmp, nginx, name):
        if not binary or not os.path.exists(binary):
            raise Unavailable("fleetgate-agent not built")
        self.dir = os.path.join(tmp, name)
        os.makedirs(os.path.join(self.dir, "data"))
        mapping = {"endpoint": {"url": nginx.url, "timeout_ms": 5000}, "events": ["data"],
                   "receive": {"delimiter": "\n"}, "reply": "discard", "on_error": "close",
                   "max_concurrency": CONCURRENCY}
        self.mapping = mapping
        config, ready = os.path.join(self.dir, "agent.yaml"), os.path.join(self.dir, "ready.json")
        with open(config, "w") as f:
            f.write("auth:\n  allow_anonymous: true\nmappings:\n" + f"  {MAPPING}: {json.dumps(mapping)}\n")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--listen-sockets", "127.0.0.1:0",
                                      "--data-dir", os.path.join(self.dir, "data"), "--ready-file", ready,
                                      "--log-level", "warning", "--config", config],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_fd_limit, cwd=self.dir)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"fleetgate-agent exited with status {self.proc.returncode}: {self.tail()}")
            try:
                with open(ready) as f:
                    self.port = int(json.load(f)["sockets"][0].rpartition(":")[2])
                return
            except (OSError, ValueError, KeyError, IndexError):
                time.sleep(0.05)
        self.stop()
        raise Unavailable("fleetgate-agent did not write ready.json with a sockets listener within 15 s: " + self.tail())

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read()[-400:].decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
        except OSError:
            return ""

    def stop(self):
        stop_pid(self.proc)
        self.log.close()


def device(mode, argv, timeout):
    """Runs this file as the device-side program; its JSON line, or an error result."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), mode] + argv, capture_output=True,
                         text=True, timeout=timeout, preexec_fn=raise_fd_limit)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return dict(part=mode, ok=False, errors=[f"device program exit {out.returncode}: {out.stderr.strip()[-300:]}"])
    return json.loads(lines[-1])


def run_round(agent_binary, quick):
    """One round: nginx up; wrk, then the agent's data part, then its open part (each agent fresh);
    everything stopped by PID. Returns {wrk, data, open, ratio_data, ...}."""
    q = 1 if quick else 0
    seconds = WINDOW_S[q]
    tmp = tempfile.mkdtemp(prefix="fgbench-sockets-")
    result = dict(scenario="sockets", broker="fleetgate", ok=True, errors=[], concurrency=CONCURRENCY)
    nginx = None
    try:
        nginx = Nginx(tmp)
        result["nginx_version"] = nginx.version()
        result["wrk"] = run_wrk(nginx, seconds, WARMUP_S, tmp)
        agent = Agent(agent_binary, tmp, nginx, "agent-data")
        try:
            result["mapping"] = agent.mapping
            result["data"] = device("data", ["--port", str(agent.port), "--sockets", str(CONCURRENCY),
                                             "--seconds", str(seconds), "--warmup", str(WARMUP_S),
                                             "--max-lines", str(MAX_LINES[q]), "--status", nginx.status_url,
                                             "--agent-pid", str(agent.proc.pid), "--nginx-pid", str(nginx.worker)],
                                    timeout=seconds + WARMUP_S + 90)
            if agent.proc.poll() is not None:
                result["data"].setdefault("errors", []).append(f"agent exited with status {agent.proc.returncode}: {agent.tail()}")
                result["data"]["ok"] = False
        finally:
            agent.stop()
        agent = Agent(agent_binary, tmp, nginx, "agent-open")
        try:
            result["open"] = device("open", ["--port", str(agent.port), "--count", str(OPEN_COUNT[q]),
                                             "--concurrency", str(OPEN_CONCURRENCY), "--seconds", "60",
                                             "--agent-pid", str(agent.proc.pid)], timeout=120)
            if agent.proc.poll() is not None:
                result["open"].setdefault("errors", []).append(f"agent exited with status {agent.proc.returncode}: {agent.tail()}")
                result["open"]["ok"] = False
        finally:
            agent.stop()
    except Unavailable as e:
        result["ok"] = False
        result["errors"].append(str(e))
    finally:
        if nginx is not None:
            nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    # CPU per request: what a contended machine disturbs least (the rates depend on who else runs).
    for part, procs in (("wrk", ("wrk", "nginx")), ("data", ("agent", "nginx"))):
        r = result.get(part) or {}
        for p in procs:
            pct = (r.get("cpu_pct") or {}).get(p)
            r.setdefault("cpu_us_per_request", {})[p] = round(pct * 1e4 / r["rate"], 1) if pct and r.get("rate") else None
    # What an otherwise idle 2-core machine would give if each process had a core of its own: a
    # run goes at the pace of its costliest process per request. An estimate, shown as one.
    wu, du = (result.get("wrk") or {}).get("cpu_us_per_request", {}), (result.get("data") or {}).get("cpu_us_per_request", {})
    if all(wu.get(k) for k in ("wrk", "nginx")) and all(du.get(k) for k in ("agent", "nginx")):
        result["cpu_bound_ratio"] = max(wu["wrk"], wu["nginx"]) / max(du["agent"], du["nginx"])
    w, d = result.get("wrk", {}).get("rate"), result.get("data", {}).get("rate")
    result["ratio_data"] = d / w if w and d else None
    result["data_rate"], result["wrk_rate"] = d, w
    result["open_rate"] = result.get("open", {}).get("open_rate")
    for part in ("wrk", "data", "open"):
        r = result.get(part)
        if r is not None and not r.get("ok"):
            result["ok"] = False
            result["errors"] += [f"{part}: {e}" for e in r.get("errors", [])] or [f"{part}: failed"]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("data", help="N sockets sending lines; nginx's request rate over a window")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--sockets", type=int, default=CONCURRENCY)
    d.add_argument("--seconds", type=float, default=WINDOW_S[0])
    d.add_argument("--warmup", type=float, default=WARMUP_S)
    d.add_argument("--max-lines", type=int, default=MAX_LINES[0])
    d.add_argument("--status", required=True, help="nginx stub_status URL")
    d.add_argument("--agent-pid", type=int)
    d.add_argument("--nginx-pid", type=int)
    o = sub.add_parser("open", help="sockets opened per second (OPEN line to OK)")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--count", type=int, default=OPEN_COUNT[0])
    o.add_argument("--concurrency", type=int, default=OPEN_CONCURRENCY)
    o.add_argument("--seconds", type=float, default=60)
    o.add_argument("--agent-pid", type=int)
    r = sub.add_parser("round", help="one whole round (nginx, wrk, agent); prints its JSON")
    r.add_argument("--agent", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   ".build", "release", "fleetgate-agent"))
    r.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.mode == "data":
        device_data(args)
    elif args.mode == "open":
        device_open(args)
    else:
        print(json.dumps(run_round(args.agent, args.quick), indent=1))


if __name__ == "__main__":
    raise_fd_limit()
    main()
