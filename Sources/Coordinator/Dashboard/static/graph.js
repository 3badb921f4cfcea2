// The gateway graph (GET /v1/graph) drawn as SVG: the coordinator in the middle, each gateway on
// an ellipse around it (ordered by region, then id, so neighbours in a region sit together), one
// line per link. Colours say the state; a link's width grows with the gateway's traffic, and
// links that carry messages are animated. Built with DOM calls only (no markup strings), so an id
// can never become markup.
import { rate } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 1200;
// Few gateways sit on one line left and right of the coordinator: no need for a tall picture.
const heightFor = (n) => (n <= 2 ? 230 : n <= 4 ? 340 : 380);

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function truncate(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

// Gateway positions: an ellipse around the centre; two gateways sit left and right.
function layout(ids, height) {
  const cx = WIDTH / 2, cy = height / 2;
  const rx = WIDTH / 2 - 120, ry = height / 2 - 45;
  const n = ids.length;
  const start = n === 1 ? -Math.PI / 2 : Math.PI;
  return new Map(ids.map((id, i) => {
    const a = start + (2 * Math.PI * i) / n;
    return [id, { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) }];
  }));
}

export function drawGraph(root, graph, gatewaysById) {
  const coordinator = graph.nodes.find((n) => n.kind === "coordinator");
  const gateways = graph.nodes.filter((n) => n.kind === "gateway")
    .sort((a, b) => (a.region || "").localeCompare(b.region || "") || a.id.localeCompare(b.id, undefined, { numeric: true }));
  const height = heightFor(gateways.length);
  root.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
  const positions = layout(gateways.map((g) => g.id), height);
  const centre = { x: WIDTH / 2, y: height / 2 };
  if (coordinator) positions.set(coordinator.id, centre);
  const compact = gateways.length > 12;

  const edges = svg("g", { class: "edges" });
  for (const e of graph.edges) {
    const a = positions.get(e.source), b = positions.get(e.target);
    if (!a || !b) continue;
    const load = gatewaysById.get(e.source)?.load;
    const traffic = load ? load.messages_in_per_second + load.messages_out_per_second : 0;
    const line = svg("line", {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y,
      class: `edge edge-${e.state}` + (traffic > 0 && e.state === "up" ? " edge-busy" : ""),
      "stroke-width": (1.5 + Math.min(5, Math.log10(traffic + 1) * 1.6)).toFixed(2),
    });
    line.append(svg("title", {}, `${e.source} → ${e.target}: link ${e.state}, ${rate(traffic)} msg/s`));
    edges.append(line);
  }

  const nodes = svg("g", { class: "nodes" });
  if (coordinator) {
    const g = svg("g", { class: "node coordinator", transform: `translate(${centre.x},${centre.y})` });
    g.append(svg("circle", { r: 46 }));
    g.append(svg("text", { class: "node-id", y: 5, "text-anchor": "middle" }, truncate(coordinator.id, 13)));
    if (coordinator.id !== "coordinator") g.append(svg("text", { class: "node-kind", y: 64, "text-anchor": "middle" }, "coordinator"));
    g.append(svg("title", {}, `coordinator ${coordinator.id} (${coordinator.state})`));
    nodes.append(g);
  }
  for (const node of gateways) {
    const p = positions.get(node.id);
    const view = gatewaysById.get(node.id);
    const load = view?.load;
    const g = svg("g", { class: `node gateway state-${node.state}`, transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`,
                         "data-gateway": node.id });
    const summary = load
      ? `${load.connections} conn · ${rate(load.messages_in_per_second)}↓ ${rate(load.messages_out_per_second)}↑ msg/s`
      : node.state === "down" ? "offline" : "no load report yet";
    g.append(svg("title", {}, `${node.id}${node.region ? " (" + node.region + ")" : ""}: ${node.state}, ${summary}`));
    if (compact) {
      g.append(svg("circle", { r: 11, class: "node-body" }));
      g.append(svg("text", { class: "node-id small", y: 25, "text-anchor": "middle" }, truncate(node.id, 12)));
    } else {
      g.append(svg("rect", { x: -100, y: -28, width: 200, height: 56, rx: 9, class: "node-body" }));
      g.append(svg("rect", { x: -100, y: -28, width: 6, height: 56, rx: 3, class: "node-stripe" }));
      g.append(svg("text", { class: "node-id", x: -84, y: -6, "text-anchor": "start" }, truncate(node.id, 16)));
      g.append(svg("text", { class: "node-state", x: 90, y: -6, "text-anchor": "end" }, node.state));
      g.append(svg("text", { class: "node-load", x: -84, y: 15, "text-anchor": "start" }, truncate(summary, 34)));
    }
    nodes.append(g);
  }

  root.replaceChildren(edges, nodes);
  if (gateways.length === 0) {
    root.append(svg("text", { class: "empty", x: WIDTH / 2, y: height - 30, "text-anchor": "middle" },
                    "No gateway has joined yet: start an agent with --coordinator (make join)"));
  }
}
