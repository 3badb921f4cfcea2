"""A real browser for the dashboard test: Debian's `chromium`, headless, driven over the DevTools
protocol (CDP) with a WebSocket client from PyPI (websocket-client).

Chromium is started here as a child process in its own session (so its renderer and GPU helpers
share its process group) with a throwaway profile under the test's tmp dir. It picks its own
DevTools port (--remote-debugging-port=0) and writes it to DevToolsActivePort in the profile;
only 127.0.0.1 is contacted. close() asks it to quit (Browser.close), then kills what is left of
the process group it leads, by that id: nothing else is ever signalled.

Flags that work as root on this machine (../shared/PLATFORM-NOTES.md): --headless=new
--no-sandbox --disable-gpu. FLEETGATE_CHROMIUM overrides the binary.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websocket

START_TIMEOUT = 20.0
CALL_TIMEOUT = 15.0


def chromium_binary() -> str:
    """The chromium to drive; fails the test (never skips) when there is none."""
    path = shutil.which(os.environ.get("FLEETGATE_CHROMIUM") or "chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium is not installed, and the dashboard is tested in a real browser: "
                    "`make test` installs it (APT_TEST); by hand: apt-get install -y chromium", pytrace=False)
    return path


class Browser:
    def __init__(self, tmp: Path, width: int = 1440, height: int = 900):
        self.width, self.height = width, height
        self.profile = tmp / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "chromium.log"
        self.log = open(self.log_path, "ab")
        args = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                "--mute-audio", "--hide-scrollbars", "--lang=en-US", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.ws = None
        self.next_id = 0
        # Every CDP event received, in order: (method, params).
        self.events: list[tuple[str, dict]] = []
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    # ---- startup

    def _devtools_port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                lines = active.read_text().splitlines()
                if lines and lines[0].strip().isdigit():
                    return int(lines[0])
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium wrote no DevTools port within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _attach(self):
        port = self._devtools_port()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("chromium opened no page")
            time.sleep(0.05)
        # No Origin header: chromium refuses DevTools connections from origins it does not allow.
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=CALL_TIMEOUT,
                                              suppress_origin=True)
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)

    # ---- protocol

    def call(self, method: str, **params) -> dict:
        """One CDP command; returns its result, keeping the events that arrive meanwhile."""
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append((message["method"], message.get("params", {})))
            elif message.get("id") == mine:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method}: no answer within {CALL_TIMEOUT}s")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20.0):
        """Polls `expression` (bounded) until truthy; returns its value. On timeout the failure
        shows the page's text and what the browser complained about."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''") or ""
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n--- page text:\n{text[:3000]}"
                                     f"\n--- browser problems: {self.problems()}")
            time.sleep(0.1)

    # ---- user actions

    def navigate(self, url: str):
        """Loads `url`; for a new document, waits for its load event (a fragment-only change
        fires hashchange in the page and returns at once)."""
        mark = len(self.events)
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"navigating to {url}: {result['errorText']}")
        if result.get("loaderId"):
            self._wait_event("Page.loadEventFired", mark, f"the load of {url}")

    def reload(self):
        mark = len(self.events)
        self.call("Page.reload", ignoreCache=True)
        self._wait_event("Page.loadEventFired", mark, "the reload")

    def _wait_event(self, method: str, after: int, what: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while not any(m == method for m, _ in self.events[after:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.call("Runtime.evaluate", expression="0")  # lets pending events in

    def click(self, selector: str):
        """A real mouse click (press and release) at the middle of the element, scrolled into view."""
        box = self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: "center"}});
            const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        assert box, f"nothing to click: {selector}"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {} if kind == "mouseMoved" else {"button": "left", "clickCount": 1}
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], **extra)

    def type_text(self, selector: str, text: str):
        self.click(selector)
        self.call("Input.insertText", text=text)

    def press_enter(self):
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))

    def screenshot(self, path: Path) -> Path:
        """The whole page (beyond the window) as PNG."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": self.width, "height": max(self.height, size["height"]), "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    # ---- what went wrong in the page

    def problems(self) -> list[str]:
        """Uncaught exceptions, console errors and browser errors (a Content-Security-Policy
        violation is one), except failed HTTP responses, which the tests cause on purpose (401)."""
        out = []
        for method, p in self.events:
            if method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif method == "Log.entryAdded":
                e = p["entry"]
                if e.get("level") == "error" and e.get("source") != "network":
                    out.append(f"{e.get('source')}: {e.get('text')} ({e.get('url', '')})")
        return out

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def close(self):
        if self.ws is not None:
            try:
                self.call("Browser.close")
            except Exception:
                pass
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        # Its helpers (renderer, zygote) are in the group it led; take down any that linger.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


@pytest.fixture
def browser(tmp_path):
    """A headless chromium with one page, closed at teardown."""
    b = Browser(tmp_path / "browser")
    yield b
    b.close()
