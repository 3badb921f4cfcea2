// The dashboard's controller: sign-in, the polling loop, and the drain / resume buttons.
//
// Live by polling, one round every 2 s (the agents' load reports arrive once per heartbeat, so
// faster shows nothing new): gateways, graph, sockets and maintenance each round; migrations,
// the migration policy and mappings every third round (the handover list can hold thousands).
// Nothing is fetched before there is a token, and a 401 throws the token away and asks again.
import { api, ApiError, forgetToken, setToken, takeTokenFromFragment, token } from "./api.js";
import { clock } from "./format.js";
import { drawGraph } from "./graph.js";
import { gatewayRows, maintenanceView, mappingsView, migrationsView, socketsView, tiles } from "./views.js";

const POLL_MS = 2000;
const SLOW_EVERY = 3;
const ARM_MS = 5000;
const FINISHED = ["done", "stopped", "cancelled"];

const $ = (id) => document.getElementById(id);

const state = {
  session: 0,        // bumped on every sign-in and sign-out: answers of an older session are dropped
  timer: null,
  round: 0,
  failures: 0,
  data: {},          // the last answers, by name
  armed: null,       // gateway whose drain button waits for the confirming click
  armedTimer: null,
  busy: null,        // gateway with a drain or resume request in flight
  signedIn: false,
  inflight: false,   // a round is waiting for its answers
  everything: false, // the next round fetches the slow set too (after a drain or resume)
  again: false,      // someone asked for a round while one was in flight
};

// ---------------------------------------------------------------- sign-in

function showSignIn(message) {
  state.session++;
  state.signedIn = false;
  clearTimeout(state.timer);
  state.data = {};
  $("fleet").hidden = true;
  // No data stays in the page once the token is gone.
  for (const id of ["tiles", "graph", "gateways", "migrations", "maintenance", "mappings", "sockets"]) $(id).replaceChildren();
  $("coordinator-id").textContent = "";
  $("action-message").hidden = true;
  $("signin").hidden = false;
  $("sign-out").hidden = true;
  $("auth-error").hidden = !message;
  $("auth-error").textContent = message || "";
  setStatus("signed-out", "not signed in");
  $("token-input").value = "";
  $("token-input").focus();
}

function start() {
  state.session++;
  state.signedIn = true;
  state.round = 0;
  state.failures = 0;
  $("signin").hidden = true;
  $("auth-error").hidden = true;
  $("sign-out").hidden = false;
  setStatus("connecting", "connecting…");
  refresh();
}

// A 401: the token is wrong (or the coordinator's token files changed). It is forgotten.
function authFailed(error) {
  forgetToken();
  showSignIn(`The coordinator refused this token (401 ${error.code}): ${error.message}. ` +
             "Use the token from --admin-token-file or --read-token-file.");
}

function setStatus(kind, text) {
  $("status").className = "status status-" + kind;
  $("status-text").textContent = text;
}

// ---------------------------------------------------------------- polling

async function fetchRound(n) {
  const slow = n % SLOW_EVERY === 0 || state.everything;
  state.everything = false;
  const [gateways, graph, sockets, maintenance] = await Promise.all([
    api.get("/v1/gateways"), api.get("/v1/graph"), api.get("/v1/sockets"), api.get("/v1/maintenance")]);
  const unfinished = maintenance.runs.filter((r) => !FINISHED.includes(r.state)).slice(0, 5);
  const details = new Map(await Promise.all(unfinished.map(async (r) => [r.id, await api.get("/v1/maintenance/" + encodeURIComponent(r.id))])));
  const data = { gateways, graph, sockets, maintenance, details };
  if (slow || !state.data.migrations) {
    [data.migrations, data.policy, data.mappings] = await Promise.all([
      api.get("/v1/migrations"), api.get("/v1/migration/policy"), api.get("/v1/mappings")]);
  } else {
    Object.assign(data, { migrations: state.data.migrations, policy: state.data.policy, mappings: state.data.mappings });
  }
  return data;
}

// A round now, or right after the one in flight (one round at a time, whatever asks for it).
function refresh() {
  clearTimeout(state.timer);
  if (state.inflight) { state.again = true; return; }
  round();
}

async function round() {
  state.inflight = true;
  state.again = false;
  const session = state.session;
  let delay = POLL_MS;
  try {
    const data = await fetchRound(state.round++);
    if (session === state.session) {
      state.data = data;
      state.failures = 0;
      render();
      setStatus("live", "live · updated " + clock(Date.now()));
    }
  } catch (error) {
    if (session === state.session) {
      if (error instanceof ApiError && error.status === 401) {
        authFailed(error);
      } else {
        state.failures++;
        delay = Math.min(10000, POLL_MS * 2 ** Math.min(state.failures, 3));
        const what = error instanceof ApiError ? error.message : String(error);
        setStatus("error", `${what} · retrying in ${Math.round(delay / 1000)} s` + (state.data.gateways ? " (showing the last answer)" : ""));
        if (!(error instanceof ApiError)) console.error(error);
      }
    }
  } finally {
    state.inflight = false;
  }
  if (!state.signedIn) return;
  state.timer = setTimeout(refresh, session !== state.session || state.again ? 0 : delay);
}

function render() {
  const d = state.data;
  $("fleet").hidden = false;
  $("coordinator-id").textContent = d.graph.nodes.find((n) => n.kind === "coordinator")?.id || "";
  fill("tiles", tiles(d));
  const byId = new Map(d.gateways.gateways.map((g) => [g.id, g]));
  drawGraph($("graph"), d.graph, byId);
  renderGateways();
  fill("migrations", migrationsView(d.migrations, d.policy));
  fill("maintenance", maintenanceView(d.maintenance, d.details));
  fill("mappings", [mappingsView(d.mappings)]);
  fill("sockets", socketsView(d.sockets));
}

function fill(id, nodes) {
  $(id).replaceChildren(...nodes.filter(Boolean));
}

function renderGateways() {
  if (!state.data.gateways) return;
  $("gateways").replaceChildren(gatewayRows(state.data.gateways.gateways,
    { armed: state.armed, busy: state.busy, onDrain: drain, onResume: resume }));
}

// ---------------------------------------------------------------- drain and resume

function say(kind, text) {
  const box = $("action-message");
  box.className = "action-message " + kind;
  box.textContent = text;
  box.hidden = false;
}

function explain(error, verb, id) {
  if (error.status === 403) return `Cannot ${verb} ${id}: this is the read token, which changes nothing. Sign in with the admin token.`;
  return `Cannot ${verb} ${id}: ${error.status ? error.status + " " : ""}${error.message}`;
}

// Two clicks: the first arms the button ("Confirm drain") for a few seconds, the second drains.
async function drain(id) {
  if (state.armed !== id) {
    state.armed = id;
    clearTimeout(state.armedTimer);
    state.armedTimer = setTimeout(() => { state.armed = null; renderGateways(); }, ARM_MS);
    renderGateways();
    return;
  }
  clearTimeout(state.armedTimer);
  state.armed = null;
  await act(id, "drain", async () => {
    const view = await api.post(`/v1/gateways/${encodeURIComponent(id)}/drain`);
    say("ok", `Draining ${id}: its clients move away at ${view.rate} per second (${view.started} started so far).`);
  });
}

async function resume(id) {
  await act(id, "resume", async () => {
    const view = await api.post(`/v1/gateways/${encodeURIComponent(id)}/resume`);
    say("ok", `${id} resumed: it is ${view.state} and takes clients again.`);
  });
}

async function act(id, verb, request) {
  const session = state.session;
  state.busy = id;
  renderGateways();
  try {
    await request();
  } catch (error) {
    if (session !== state.session) return;
    if (error instanceof ApiError && error.status === 401) { authFailed(error); return; }
    say("error", error instanceof ApiError ? explain(error, verb, id) : String(error));
  } finally {
    if (state.busy === id) state.busy = null;
  }
  if (session === state.session) {
    state.everything = true; // its handovers show at once, not a slow round later
    refresh();
  }
}

// ---------------------------------------------------------------- boot

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  setToken(value);
  start();
});
$("sign-out").addEventListener("click", () => { forgetToken(); showSignIn(""); });
window.addEventListener("hashchange", () => { if (takeTokenFromFragment()) start(); });

if (takeTokenFromFragment() || token()) start();
else showSignIn("");
