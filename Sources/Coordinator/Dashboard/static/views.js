// The dashboard's sections, rendered from API answers. Every value goes into the page as text
// (textContent), never as markup: client ids, topics and mapping names come from devices and
// operators, and must not become script.
import { ago, bytes, clock, duration, rate, until } from "./format.js";

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function badge(state) {
  return el("span", { class: "badge badge-" + state.replace(/[^a-z_]/g, "") }, state);
}

function table(headings, rows, empty) {
  if (rows.length === 0) return el("p", { class: "empty" }, empty);
  return el("div", { class: "table-wrap" },
    el("table", {},
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", typeof h === "string" ? {} : h[1], typeof h === "string" ? h : h[0])))),
      el("tbody", {}, rows)));
}

function num(value) {
  return el("td", { class: "num" }, value);
}

function more(shown, total, what) {
  return total > shown ? el("p", { class: "more" }, `Showing ${shown} of ${total} ${what}.`) : null;
}

// ---------------------------------------------------------------- summary tiles

export function tiles({ gateways, migrations, maintenance, sockets }) {
  const list = gateways.gateways;
  const active = list.filter((g) => g.connected).length;
  const sum = (f) => list.reduce((n, g) => n + (g.load ? f(g.load) : 0), 0);
  const moving = migrations ? migrations.handovers.filter((h) => h.state !== "done" && h.state !== "aborted").length : null;
  const runs = maintenance ? maintenance.runs.filter((r) => !["done", "stopped", "cancelled"].includes(r.state)).length : null;
  const tile = (label, value, sub, id) => el("div", { class: "tile", id }, el("div", { class: "tile-label" }, label),
                                             el("div", { class: "tile-value" }, value), el("div", { class: "tile-sub" }, sub));
  return [
    tile("Gateways", `${active} / ${list.length}`, "connected / registered", "tile-gateways"),
    tile("Connections", rate(sum((l) => l.connections)), "MQTT clients", "tile-connections"),
    tile("Messages in", rate(sum((l) => l.messages_in_per_second)) + "/s", bytes(sum((l) => l.bytes_in_per_second)) + "/s", "tile-in"),
    tile("Messages out", rate(sum((l) => l.messages_out_per_second)) + "/s", bytes(sum((l) => l.bytes_out_per_second)) + "/s", "tile-out"),
    tile("Migrations", moving === null ? "–" : String(moving), "handovers in progress", "tile-migrations"),
    tile("Maintenance", runs === null ? "–" : String(runs), "runs not finished", "tile-maintenance"),
    tile("Sockets", sockets ? String(sockets.sockets.length) : "–", "managed sockets open", "tile-sockets"),
  ];
}

// ---------------------------------------------------------------- gateways

// actions: { armed: gateway id whose drain waits for its confirming click, or null;
//            busy: gateway id with a request in flight; onDrain(id), onResume(id) }
export function gatewayRows(list, actions) {
  return table(
    ["Gateway", "State", ["Conns", { class: "num" }], ["In msg/s", { class: "num" }], ["Out msg/s", { class: "num" }],
     ["In / out bytes", { class: "num" }], "Top talkers", "Drain", ""],
    list.map((g) => {
      const load = g.load;
      const talkers = load && load.top_talkers.length
        ? el("ol", { class: "talkers" }, load.top_talkers.slice(0, 3).map((t) =>
            el("li", {}, el("span", { class: "talker-id", title: t.client_id }, t.client_id), " ",
               el("span", { class: "muted" }, rate(t.messages_per_second) + "/s"))))
        : el("span", { class: "muted" }, "–");
      const drain = g.drain
        ? el("span", { class: "drain-progress" }, `${g.drain.moved} moved · ${g.drain.started} started · ${g.drain.waiting} waiting` +
             (g.drain.not_started ? ` · ${g.drain.not_started} not started` : ""))
        : el("span", { class: "muted" }, "–");
      const draining = g.state === "draining" || g.drain;
      const busy = actions.busy === g.id;
      const button = draining
        ? el("button", { class: "action resume", type: "button", disabled: busy, onclick: () => actions.onResume(g.id) }, "Resume")
        : el("button", { class: "action drain" + (actions.armed === g.id ? " armed" : ""), type: "button",
                         disabled: busy || !g.connected, title: g.connected ? "Move every client of this gateway away" : "Not connected",
                         onclick: () => actions.onDrain(g.id) },
             actions.armed === g.id ? "Confirm drain" : "Drain");
      return el("tr", { dataset: { gateway: g.id }, class: g.connected ? "" : "offline" },
        el("td", {}, el("div", { class: "gw-id" }, g.id),
           el("div", { class: "muted small" }, [g.region || "no region", g.mqtt_address, g.software_version].filter(Boolean).join(" · "))),
        el("td", {}, badge(g.state), el("div", { class: "muted small" }, g.connected ? "seen " + ago(g.last_seen_ms) : "offline")),
        num(load ? rate(load.connections) : "–"),
        num(load ? rate(load.messages_in_per_second) : "–"),
        num(load ? rate(load.messages_out_per_second) : "–"),
        num(load ? `${bytes(load.bytes_in_per_second)}/s · ${bytes(load.bytes_out_per_second)}/s` : "–"),
        el("td", {}, talkers),
        el("td", {}, drain),
        el("td", { class: "actions" }, button));
    }),
    "No gateway has registered yet.");
}

// ---------------------------------------------------------------- migrations

export function migrationsView(migrations, policy) {
  const handovers = migrations.handovers.slice().reverse();
  const shown = handovers.slice(0, 10);
  const decisions = migrations.migrations;
  const last = decisions[decisions.length - 1];
  const policyLine = policy
    ? (policy.enabled
        ? `Policy on: a client above ${rate(policy.threshold_msgs_per_s)} msg/s for ${policy.sustain_s} s moves (mode ${policy.mode}, at most ${policy.max_concurrent} at once).`
        : "Policy off: clients move only by operator request, drain or maintenance.")
    : "";
  return [
    el("p", { class: "muted" }, policyLine,
       last ? ` Last decision: ${last.client_id} ${last.from} → ${last.to || "nowhere"} (${last.reason}, ${last.state}) at ${clock(last.at_ms)}.` : ""),
    table(["#", "Client", "From → to", "Reason", "Mode", "State", ["Stall", { class: "num" }], "Started", "Outcome"],
      shown.map((h) => el("tr", {},
        num(h.id), el("td", { class: "mono" }, h.client_id), el("td", {}, `${h.from} → ${h.to}`), el("td", {}, h.reason),
        el("td", {}, h.mode), el("td", {}, badge(h.state)), num(duration(h.stall_ms)), el("td", {}, clock(h.started_ms)),
        el("td", {}, h.outcome || "–"))),
      "No handover yet."),
    more(shown.length, handovers.length, "handovers (newest first)"),
  ];
}

// ---------------------------------------------------------------- maintenance

const FINISHED = ["done", "stopped", "cancelled"];

// runs: GET /v1/maintenance; details: id -> GET /v1/maintenance/{id} for unfinished runs.
export function maintenanceView(runs, details) {
  const shown = runs.runs.slice(0, 10);
  if (shown.length === 0) return [el("p", { class: "empty" }, "No maintenance run. Create one with POST /v1/maintenance.")];
  return [
    ...shown.map((r) => {
      const detail = details.get(r.id);
      const byState = Object.entries(r.by_state).map(([s, n]) => `${n} ${s}`).join(", ");
      return el("div", { class: "run" + (FINISHED.includes(r.state) ? " finished" : ""), dataset: { run: r.id } },
        el("div", { class: "run-head" }, el("span", { class: "gw-id" }, r.operation), " ", badge(r.state),
           el("span", { class: "muted" }, ` ${r.hosts} host${r.hosts === 1 ? "" : "s"}: ${byState}`),
           el("span", { class: "muted right" }, `run ${r.id} · created ${clock(r.created)}` + (r.finished ? ` · finished ${clock(r.finished)}` : ""))),
        detail ? scheduleTable(detail) : null);
    }),
    more(shown.length, runs.runs.length, "runs"),
  ];
}

function scheduleTable(run) {
  const policy = run.policy || {};
  const windows = (policy.windows || []).map((w) => `${(w.days || []).join(",")} ${w.start}-${w.end} ${w.timezone || ""}`.trim());
  return el("div", { class: "schedule" },
    el("p", { class: "muted small" },
       `At most ${policy.max_concurrent ?? 1} at once` + (windows.length ? `; windows: ${windows.join("; ")}` : "; any time") +
       (run.reason ? `. ${run.reason}` : "")),
    table(["Gateway", "State", "Planned start", "Waiting for", "Started", "Finished", "Result"],
      run.hosts.map((h) => el("tr", {},
        el("td", {}, h.gateway), el("td", {}, badge(h.state)),
        el("td", {}, h.started ? "–" : until(h.planned_start)), el("td", {}, h.waiting_for || "–"),
        el("td", {}, clock(h.started)), el("td", {}, clock(h.finished)),
        el("td", {}, h.error ? el("span", { class: "error-text" }, h.error)
                             : h.exit_status !== null && h.exit_status !== undefined ? `exit ${h.exit_status}` : "–"))),
      "No hosts."));
}

// ---------------------------------------------------------------- mappings and sockets

function endpointText(endpoint) {
  if (endpoint.mqtt) return `MQTT ${endpoint.mqtt.prefix}`;
  // Header values may be credentials (X-Api-Key): only their names are shown.
  const names = Object.keys(endpoint.headers || {});
  return endpoint.url + (names.length ? ` (headers: ${names.join(", ")})` : "");
}

export function mappingsView(mappings) {
  const names = Object.keys(mappings.mappings).sort();
  return table(["Name", "Endpoint", "Events", "Receive", "Reply"],
    names.map((name) => {
      const m = mappings.mappings[name];
      const receive = Object.entries(m.receive || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
      return el("tr", {}, el("td", { class: "gw-id" }, name), el("td", { class: "mono" }, endpointText(m.endpoint || {})),
                el("td", {}, (m.events || []).join(", ")), el("td", { class: "mono small" }, receive),
                el("td", {}, `${m.reply}, on error ${m.on_error}`));
    }),
    "No mapping. Add one with PUT /v1/mappings/{name}.");
}

export function socketsView(sockets) {
  const shown = sockets.sockets.slice(0, 50);
  return [
    table(["Socket", "Gateway", "Mapping", "Client", "Opened", ["In", { class: "num" }], ["Out", { class: "num" }],
           ["Calls", { class: "num" }], ["Errors", { class: "num" }], "State"],
      shown.map((s) => el("tr", {},
        el("td", { class: "mono" }, s.socket_id), el("td", {}, s.gateway), el("td", {}, s.mapping),
        el("td", {}, s.client_id + (s.identity ? ` (${s.identity})` : "")), el("td", {}, clock(s.opened)),
        num(bytes(s.bytes_in)), num(bytes(s.bytes_out)), num(s.calls), num(s.errors), el("td", {}, badge(s.state)))),
      "No managed socket is open."),
    more(shown.length, sockets.sockets.length, "sockets"),
  ];
}
