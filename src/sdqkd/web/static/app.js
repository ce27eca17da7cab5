// The sdqkd dashboard: renders the web role's snapshot (GET /api/snapshot, then every `snapshot` event of
// GET /api/events) into the six views of index.html. Plain JavaScript modules and SVG written here: no
// library, no build step, nothing fetched from elsewhere, so it works offline.
//
// What tests and tools read: in the topology each node is `[data-node=ID]` and each QKD link
// `[data-link=ID]` with `data-status` (up|standby|down) and one class of link-ok|link-low|link-down
// (key rate vs target: ≥ 1, 0.5–1, < 0.5 or down). `data-link` marks the topology's link only, once per
// link; the other views name links with `data-chart-link`, fibres with `data-fibre`.

import { HISTORY_MS, renderLinks, renderSpectra } from "./charts.js";
import { fmtClock, h, isNumber, viewBody } from "./dom.js";
import { renderServices, renderSwitches, renderTimeline } from "./lists.js";
import { renderTopology } from "./topology.js";

const RETRY_MS = 3000; // wait before opening the event stream again after the server closed it

const state = {
  snapshot: null,
  lastTimeMs: null, // time of the latest recorded snapshot (server clock)
  history: new Map(), // link id → [{t, skr, target, pools: {node: ready}, poolTarget, xi, raman}]
};

// ---------------------------------------------------------------------------------------------------
// Snapshots: keep each link's recent figures for the charts, then draw every view

function ingest(snapshot) {
  state.snapshot = snapshot;
  record(snapshot);
  render(snapshot);
}

function record(snapshot) {
  const t = Date.parse(snapshot.time);
  if (Number.isNaN(t)) return;
  if (state.lastTimeMs !== null && t < state.lastTimeMs) state.history.clear(); // a new server clock
  if (state.lastTimeMs !== null && t === state.lastTimeMs) return; // the same snapshot twice
  state.lastTimeMs = t;
  const present = new Set();
  for (const link of snapshot.links || []) {
    present.add(link.id);
    const pools = {};
    let poolTarget = null;
    for (const [node, pool] of Object.entries(link.pools || {})) {
      pools[node] = pool.ready_blocks;
      if (isNumber(pool.target_blocks)) poolTarget = Math.max(poolTarget ?? 0, pool.target_blocks);
    }
    const samples = state.history.get(link.id) || [];
    samples.push({
      t, skr: link.skr_bps, target: link.target_bps, pools, poolTarget,
      xi: link.excess_noise, raman: link.raman_noise,
    });
    while (samples.length && samples[0].t < t - HISTORY_MS) samples.shift();
    state.history.set(link.id, samples);
  }
  for (const id of [...state.history.keys()]) if (!present.has(id)) state.history.delete(id);
}

const RENDERERS = {
  topology: renderTopology,
  links: renderLinks,
  spectra: renderSpectra,
  switches: renderSwitches,
  services: renderServices,
  timeline: renderTimeline,
};

function render(snapshot) {
  document.getElementById("network-name").textContent = snapshot.network || "network";
  document.getElementById("snapshot-time").textContent = `as of ${fmtClock(snapshot.time)}`;
  showProblems(snapshot.problems || []);
  for (const [view, draw] of Object.entries(RENDERERS)) {
    const body = viewBody(view);
    try {
      body.replaceChildren(draw(snapshot, state));
    } catch (error) { // one malformed part must not blank the other views
      body.replaceChildren(h("p", { class: "view-error", text: `cannot show this view: ${error.message}` }));
    }
  }
}

function showProblems(problems) {
  const box = document.getElementById("problems");
  box.hidden = problems.length === 0;
  box.replaceChildren(...problems.map((problem) => h("p", { text: problem })));
}

// ---------------------------------------------------------------------------------------------------
// Connection: the first snapshot by GET, then the event stream (same origin: the session cookie goes with
// both). EventSource reconnects by itself after a dropped connection; it gives up on an HTTP error (401
// when the session expired, 5xx), and then the snapshot endpoint says which.

function setConnection(kind, text) {
  const badge = document.getElementById("connection");
  badge.className = `conn conn-${kind}`;
  badge.dataset.connection = kind;
  badge.textContent = text;
}

function showUnauthorized() {
  setConnection("unauthorized", "not signed in");
  showProblems(["Not signed in: open the dashboard URL that `sdqkd up` printed (it carries the token)."]);
}

async function fetchSnapshot() {
  const response = await fetch("/api/snapshot", {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.status === 401) return "unauthorized";
  if (!response.ok) throw new Error(`GET /api/snapshot: HTTP ${response.status}`);
  ingest(await response.json());
  return "ok";
}

function listen() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => setConnection("live", "live"));
  source.addEventListener("snapshot", (event) => {
    setConnection("live", "live");
    ingest(JSON.parse(event.data));
  });
  source.addEventListener("error", () => {
    setConnection("reconnecting", "reconnecting…");
    if (source.readyState === EventSource.CLOSED) setTimeout(() => start(), RETRY_MS); // it gave up
  });
}

async function start() {
  let outcome;
  try {
    outcome = await fetchSnapshot();
  } catch (error) {
    setConnection("error", "no answer");
    showProblems([error.message]);
    setTimeout(() => start(), RETRY_MS);
    return;
  }
  if (outcome === "unauthorized") showUnauthorized();
  else listen();
}

document.addEventListener("DOMContentLoaded", () => start());
