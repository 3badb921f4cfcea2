"""Issue #16, the dashboard: the coordinator serves one page at `/` (its files compiled into the
binary), and a real browser (Debian's chromium, headless, over the DevTools protocol) uses it
against a real coordinator with two real agents joined: without a token it asks for one and
shows nothing, a wrong token is refused with an error, the read token shows the fleet but cannot
drain, the admin token given as `#token=` shows both gateways live and drains one from a click,
which the HTTP API confirms. A screenshot is kept as a test artifact."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from browser import browser  # noqa: F401 (fixture)
from coordinators import ADMIN_TOKEN, READ_TOKEN, coordinator, coordinator_factory  # noqa: F401 (fixtures)
from fabric import fleet_factory  # noqa: F401 (fixture)
from support import uid, wait_until

pytestmark = pytest.mark.fleetgate_only

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / ".build/test-artifacts/dashboard.png"


def fetch(url: str, token: str | None = None) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of a GET."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def rows(gateway_ids) -> str:
    """JS: both the table row and the graph node of every gateway are in the page."""
    checks = " && ".join(f'document.querySelector(\'#gateways tr[data-gateway="{g}"]\') && '
                         f'document.querySelector(\'#graph g[data-gateway="{g}"]\')' for g in gateway_ids)
    return f"!!({checks})"


def row_text(gateway: str) -> str:
    return f"""(document.querySelector('#gateways tr[data-gateway="{gateway}"]') || {{innerText: ""}}).innerText"""


class Traffic:
    """Bounded live load for the screenshot: a publisher on gw-2 at ~40 msg/s for at most 20 s
    (800 messages), a subscriber on gw-1, so both show messages/s and a top talker."""

    def __init__(self, fleet):
        self.stop = threading.Event()
        self.sub = fleet.client("gw-1", client_id=uid("dash-sub"))
        self.sub.connect()
        self.sub.subscribe("meters/#")
        fleet.wait_interest("meters/x", {"gw-1"})
        self.pub = fleet.client("gw-2", client_id="meter-17")
        self.pub.connect()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for i in range(800):
            if self.stop.is_set():
                return
            try:
                self.pub.c.publish("meters/17/power", f"{i}".encode(), qos=0)
            except Exception:
                pass  # a moved or closed client: the page is under test here, not the traffic
            time.sleep(0.025)

    def close(self):
        self.stop.set()
        self.thread.join(5)


def test_static_page_is_served_without_a_token_with_a_strict_policy_and_no_data(coordinator):
    """Plain HTTP: the page and its files need no token and carry no fleet data; the API behind
    them still refuses without one, and its answers are never cached."""
    base = coordinator.http_base
    status, headers, body = fetch(base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html"), (status, headers)
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy, policy
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-cache"
    assert b'src="/ui/dashboard.js"' in body
    for name, kind in [("dashboard.js", "text/javascript"), ("api.js", "text/javascript"), ("graph.js", "text/javascript"),
                       ("views.js", "text/javascript"), ("format.js", "text/javascript"), ("dashboard.css", "text/css"),
                       ("favicon.svg", "image/svg+xml")]:
        status, headers, body = fetch(base + "/ui/" + name)
        assert status == 200 and headers["content-type"].startswith(kind) and body, (name, status, headers)
        # Works offline: nothing from another origin (the SVG namespace is a name, not a fetch).
        assert b"://" not in body.replace(b"http://www.w3.org/2000/svg", b""), f"{name} refers to another origin"
    # Only the page's own files are open; anything else under /ui/ is the API's 401 first.
    assert fetch(base + "/ui/nothing.js")[0] == 401
    assert fetch(base + "/ui/nothing.js", READ_TOKEN)[0] == 404
    status, headers, _ = fetch(base + "/v1/gateways")
    assert status == 401 and headers["cache-control"] == "no-store"
    status, headers, body = fetch(base + "/v1/gateways", READ_TOKEN)
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'")


def test_dashboard_in_chromium_shows_the_fleet_and_drains_a_gateway(fleet_factory, browser):
    fleet = fleet_factory(2)
    co = fleet.coordinator
    base = co.http_base + "/"
    traffic = Traffic(fleet)
    try:
        # 1. No token: the page asks for one and shows nothing of the fleet.
        browser.navigate(base)
        browser.wait_for("!document.getElementById('signin').hidden && document.getElementById('fleet').hidden",
                         "the sign-in form")
        text = browser.evaluate("document.body.innerText")
        assert "gw-1" not in text and "gw-2" not in text, text
        assert browser.evaluate("performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/')).length") == 0, \
            "the page called the API before it had a token"

        # 2. A wrong token typed into the form: refused with the API's 401, still no data.
        browser.type_text("#token-input", "not-the-token")
        browser.press_enter()
        error = browser.wait_for("!document.getElementById('auth-error').hidden && document.getElementById('auth-error').innerText",
                                 "the auth error")
        assert "401" in error and "refused" in error, error
        assert browser.evaluate("document.getElementById('fleet').hidden && sessionStorage.getItem('fleetgate.token') === null")
        assert "gw-1" not in browser.evaluate("document.body.innerText")
        # (The probe of step 1 sees calls: this one was made, and refused.)
        assert browser.evaluate("performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/')).length") >= 1

        # 3. The read token in the fragment (same page: hashchange) shows the fleet, but cannot drain.
        browser.navigate(base + "#token=" + urllib.parse.quote(READ_TOKEN, safe=""))
        browser.wait_for(rows(["gw-1", "gw-2"]), "both gateways in the table and the graph (read token)")
        assert browser.evaluate("location.hash") == "", "the token must leave the address bar"
        browser.click('#gateways tr[data-gateway="gw-1"] button.drain')
        browser.wait_for(f"{row_text('gw-1')}.includes('Confirm drain')", "the drain button asking for confirmation")
        browser.click('#gateways tr[data-gateway="gw-1"] button.drain')
        refused = browser.wait_for("!document.getElementById('action-message').hidden && document.getElementById('action-message').innerText",
                                   "the page to say the read token cannot drain")
        assert "read token" in refused, refused
        assert co.gateway_info("gw-1")["state"] == "active"

        # 4. The admin token as a wall screen gets it (#token=...), kept in session storage across a reload.
        browser.navigate(base + "#token=" + urllib.parse.quote(ADMIN_TOKEN, safe=""))
        browser.reload()
        browser.wait_for(rows(["gw-1", "gw-2"]), "both gateways after a reload (token from session storage)")
        assert browser.evaluate("sessionStorage.getItem('fleetgate.token')") == ADMIN_TOKEN
        # Live numbers: the publisher shows up as gw-2's top talker.
        browser.wait_for(f"{row_text('gw-2')}.includes('meter-17')", "gw-2's top talker from its load report")

        # 5. Drain gw-1 from the page; the API says it started.
        browser.click('#gateways tr[data-gateway="gw-1"] button.drain')
        browser.click('#gateways tr[data-gateway="gw-1"] button.drain')
        view = wait_until(lambda: (lambda g: g if g["state"] == "draining" and g.get("drain") else None)(co.gateway_info("gw-1")),
                          10, interval=0.1, what="gw-1 draining in GET /v1/gateways/gw-1 after the click")
        assert view["drain"]["gateway"] == "gw-1" and view["drain"]["rate"] == 500
        assert co.gateway_info("gw-2")["state"] == "active"
        browser.wait_for("""document.querySelector('#graph g[data-gateway="gw-1"]').classList.contains('state-draining')
                            && !!document.querySelector('#gateways tr[data-gateway="gw-1"] button.resume')""",
                         "gw-1 draining in the graph and the table")
        # Its subscriber and $SYS reader move to gw-2: the progress and the handovers show up.
        browser.wait_for(f"/[1-9][0-9]* moved/.test({row_text('gw-1')})", "the drain's progress (clients moved)")
        browser.wait_for("document.getElementById('migrations').innerText.includes('gw-1 → gw-2')",
                         "the drain's handovers under Migrations")
        browser.evaluate("window.scrollTo(0, 0)")
        path = browser.screenshot(SCREENSHOT)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
        print(f"\n[dashboard] screenshot: {path}")

        # 6. Resume from the page.
        browser.click('#gateways tr[data-gateway="gw-1"] button.resume')
        wait_until(lambda: co.gateway_info("gw-1")["state"] == "active" and co.gateway_info("gw-1").get("drain") is None,
                   10, interval=0.1, what="gw-1 active again after Resume")

        assert browser.problems() == [], browser.problems()
    finally:
        traffic.close()
