// The topology view: fibres under the links, links under the nodes, at the snapshot's positions.
// Each node is `[data-node=ID]`; each QKD link `[data-link=ID]` (here only, once per link) with
// `data-status` and one class of link-ok|link-low|link-down (dom.js linkClass).

import { fmtNumber, fmtRate, isNumber, linkClass, rateRatio, s } from "./dom.js";

const TOPO_WIDE = { width: 1000, height: 540, pad: 80 };
const TOPO_NARROW = { width: 480, height: 440, pad: 56 }; // a phone: fewer units, so larger text

function topologyFrame() {
  return window.matchMedia("(max-width: 699px)").matches ? TOPO_NARROW : TOPO_WIDE;
}

function nodePositions(nodes, frame) {
  const positions = new Map();
  nodes.forEach((node, index) => {
    let { x, y } = node;
    if (!isNumber(x) || !isNumber(y)) { // the backend lays nodes out; a circle if it did not
      const angle = (2 * Math.PI * index) / Math.max(nodes.length, 1);
      [x, y] = [0.5 + 0.45 * Math.cos(angle), 0.5 + 0.45 * Math.sin(angle)];
    }
    positions.set(node.id, {
      x: frame.pad + x * (frame.width - 2 * frame.pad),
      y: frame.pad + y * (frame.height - 2 * frame.pad),
    });
  });
  return positions;
}

/** The two ends of a node pair in a fixed order, and the unit normal used to offset parallel links. */
function pairGeometry(positions, a, b) {
  const [first, second] = a < b ? [a, b] : [b, a];
  const p = positions.get(first);
  const q = positions.get(second);
  if (!p || !q) return null;
  const length = Math.hypot(q.x - p.x, q.y - p.y) || 1;
  return { p, q, n: { x: -(q.y - p.y) / length, y: (q.x - p.x) / length } };
}

function pointAt(g, along, offset) {
  return {
    x: g.p.x + (g.q.x - g.p.x) * along + g.n.x * offset,
    y: g.p.y + (g.q.y - g.p.y) * along + g.n.y * offset,
  };
}

/** A label beside a line, on the side `offset` points to: anchored so that its text runs away from it. */
function sideLabel(g, offset, attrs) {
  const at = pointAt(g, 0.5, offset);
  const outwards = g.n.x * Math.sign(offset);
  const anchor = outwards < -0.3 ? "end" : outwards > 0.3 ? "start" : "middle";
  const dy = Math.abs(outwards) > 0.3 ? 5 : g.n.y * Math.sign(offset) > 0 ? 12 : -4;
  return s("text", { x: at.x, y: at.y + dy, "text-anchor": anchor, ...attrs });
}

export function renderTopology(snapshot) {
  const frame = topologyFrame();
  const positions = nodePositions(snapshot.nodes || [], frame);
  const root = s("svg", {
    viewBox: `0 0 ${frame.width} ${frame.height}`, class: "topology", role: "img",
    "aria-label": `topology of ${snapshot.network}`,
  });
  root.append(s("g", { class: "fibres" }, (snapshot.fibres || []).map((f) => drawFibre(f, positions))));
  root.append(s("g", { class: "links" }, drawLinks(snapshot.links || [], positions)));
  root.append(s("g", { class: "nodes" }, (snapshot.nodes || []).map((n) => drawNode(n, positions, frame))));
  return root;
}

function drawFibre(fibre, positions) {
  const g = pairGeometry(positions, fibre.a, fibre.b);
  if (!g) return null;
  const length = fmtNumber(fibre.length_km, 1, " km");
  return s("g", { class: `fibre${fibre.cut ? " fibre-cut" : ""}`, "data-fibre": fibre.id },
    s("title", { text: `fibre ${fibre.id}, ${length}${fibre.cut ? " — CUT" : ""}` }),
    s("line", { x1: g.p.x, y1: g.p.y, x2: g.q.x, y2: g.q.y }),
    sideLabel(g, -14, { class: "fibre-label", text: `${length}${fibre.cut ? " ✂ cut" : ""}` }));
}

function drawLinks(links, positions) {
  const perPair = new Map(); // "a|b" → links between the two nodes, to spread them apart
  for (const link of links) {
    const key = [...(link.nodes || [])].sort().join("|");
    perPair.set(key, [...(perPair.get(key) || []), link]);
  }
  const drawn = [];
  for (const group of perPair.values()) {
    const physical = group.filter((link) => link.type !== "VIRT");
    const relayed = group.filter((link) => link.type === "VIRT");
    const middle = (physical.length - 1) / 2;
    physical.forEach((link, i) => drawn.push(drawLink(link, positions, 12 * (i - middle), 0)));
    relayed.forEach((link, i) => drawn.push(drawLink(link, positions, 0, 150 + 50 * i)));
  }
  return drawn;
}

/** A physical link is a straight line beside its fibre (offset); a relayed one an arc (bulge). */
function drawLink(link, positions, offset, bulge) {
  const [a, b] = link.nodes || [];
  const g = pairGeometry(positions, a, b);
  if (!g) return null;
  let path;
  if (bulge) {
    const control = pointAt(g, 0.5, bulge);
    path = `M ${g.p.x} ${g.p.y} Q ${control.x} ${control.y} ${g.q.x} ${g.q.y}`;
  } else {
    const start = pointAt(g, 0, offset);
    const end = pointAt(g, 1, offset);
    path = `M ${start.x} ${start.y} L ${end.x} ${end.y}`;
  }
  const status = link.status || "down";
  const ratio = rateRatio(link);
  const rate = `${fmtRate(link.skr_bps)} of ${fmtRate(link.target_bps)}`;
  const summary = `${link.type} link ${link.id}: ${status}, ${rate}` +
    (ratio === null ? "" : ` (${Math.round(ratio * 100)} %)`);
  const classes = [
    "link", linkClass(link), `link-${String(link.type).toLowerCase()}`,
    status === "standby" ? "link-standby" : "",
  ];
  return s("g", {
    class: classes.join(" ").trim(),
    "data-link": link.id, "data-status": status, tabindex: 0,
    onclick: () => focusCard(`link-card-${link.id}`),
  },
  s("title", { text: summary }),
  s("path", { d: path, class: "link-hit" }),
  s("path", { d: path, class: "link-line" }),
  sideLabel(g, bulge ? bulge / 2 + 8 : offset + 12,
    { class: "link-label", text: status === "down" ? "down" : fmtRate(link.skr_bps) }));
}

function drawNode(node, positions, frame) {
  const at = positions.get(node.id);
  const above = at.y < frame.height / 2; // the name away from the middle, where the lines are
  return s("g", {
    class: `node${node.reachable === false ? " node-unreachable" : ""}`, "data-node": node.id,
    transform: `translate(${at.x} ${at.y})`,
  },
  s("title", { text: `${node.name || node.id}${node.reachable === false ? " — unreachable" : ""}` }),
  s("circle", { r: 24 }),
  s("text", { y: above ? -34 : 46, class: "node-label", text: node.name || node.id }));
}

function focusCard(id) {
  const card = document.getElementById(id);
  if (!card) return;
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  card.classList.add("card-focus");
  setTimeout(() => card.classList.remove("card-focus"), 1500);
}
