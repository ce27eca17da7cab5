// The views drawn as charts: per link its recent key rate, pools and noise (from the snapshots the page
// has kept, app.js), per fibre its spectrum.

import { fmtNumber, fmtPercent, fmtRate, h, isNumber, linkClass, s } from "./dom.js";

export const HISTORY_MS = 5 * 60 * 1000; // the charts' window: the last five minutes of snapshots

// ---------------------------------------------------------------------------------------------------
// Charts: a small SVG line chart over the charts' window, one polyline per series (gaps where unknown)

const CHART = { width: 320, height: 120, left: 60, right: 8, top: 10, bottom: 20 };

/** A line chart of `series` ([{label, cls, points: [[t_ms, value]]}]) over the window ending at `endMs`. */
function lineChart(title, series, format, endMs) {
  const end = endMs;
  const start = end - HISTORY_MS;
  const values = series.flatMap((line) => line.points.map(([, v]) => v)).filter(isNumber);
  const top = Math.max(...values, 0) * 1.1 || 1;
  const plotW = CHART.width - CHART.left - CHART.right;
  const plotH = CHART.height - CHART.top - CHART.bottom;
  const x = (t) => CHART.left + ((t - start) / HISTORY_MS) * plotW;
  const y = (v) => CHART.top + plotH - (v / top) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, class: "chart", role: "img",
    "aria-label": title },
  s("line", { x1: CHART.left, y1: y(0), x2: CHART.width - CHART.right, y2: y(0), class: "axis" }),
  s("line", { x1: CHART.left, y1: y(top), x2: CHART.width - CHART.right, y2: y(top), class: "grid" }),
  s("text", { x: CHART.left - 4, y: y(top) + 4, class: "tick tick-y", text: format(top) }),
  s("text", { x: CHART.left - 4, y: y(0), class: "tick tick-y", text: format(0) }),
  s("text", { x: CHART.left, y: CHART.height - 4, class: "tick", text: "−5 min" }),
  s("text", { x: CHART.width - CHART.right, y: CHART.height - 4, class: "tick tick-end", text: "now" }));
  for (const line of series) {
    for (const segment of segments(line.points)) {
      const points = segment.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(s("polyline", { points, class: `series ${line.cls}`, "data-series": line.label }));
    }
  }
  const legend = h("ul", { class: "chart-legend" }, series.map((line) => {
    const last = line.points.length ? line.points[line.points.length - 1][1] : null;
    return h("li", { class: line.cls }, h("span", { class: "swatch" }), `${line.label} ${format(last)}`);
  }));
  return h("figure", { class: "chart-figure" }, h("figcaption", { text: title }), svg, legend);
}

/** Runs of consecutive known values: an unknown value breaks the line rather than dropping it to 0. */
function segments(points) {
  const runs = [[]];
  for (const [t, v] of points) {
    if (isNumber(v)) runs[runs.length - 1].push([t, v]);
    else if (runs[runs.length - 1].length) runs.push([]);
  }
  return runs.filter((run) => run.length > 0);
}

// ---------------------------------------------------------------------------------------------------
// Links: a card per QKD link with its key rate, both pools and its excess noise over the last minutes

/** One card per link; `kept` is app.js's state: `history` (link id → samples) and `lastTimeMs`. */
export function renderLinks(snapshot, kept) {
  const links = snapshot.links || [];
  if (!links.length) return h("p", { class: "empty", text: "No QKD links." });
  const endMs = kept.lastTimeMs ?? Date.now();
  const cards = links.map((link) => linkCard(link, kept.history.get(link.id) || [], endMs));
  return h("div", { class: "card-grid" }, cards);
}

function linkCard(link, samples, endMs) {
  const series = (pick) => samples.map((sample) => [sample.t, pick(sample)]);
  const nodes = Object.keys(link.pools || {});
  const noisy = samples.some((sample) => isNumber(sample.xi) || isNumber(sample.raman)); // not a relayed link
  const charts = [
    lineChart("Secret key rate", [
      { label: "SKR", cls: "s-skr", points: series((p) => p.skr) },
      { label: "target", cls: "s-target", points: series((p) => p.target) },
    ], fmtRate, endMs),
    lineChart("Key pools (ready blocks)", [
      ...nodes.map((node, i) => ({ label: node, cls: `s-pool${i}`, points: series((p) => p.pools[node]) })),
      { label: "target", cls: "s-target", points: series((p) => p.poolTarget) },
    ], (v) => fmtNumber(v, 0), endMs),
    noisy && lineChart("Excess noise (SNU)", [
      { label: "total", cls: "s-noise", points: series((p) => p.xi) },
      { label: "Raman", cls: "s-raman", points: series((p) => p.raman) },
    ], (v) => fmtNumber(v, 4), endMs),
  ];
  const share = isNumber(link.time_share) ? `, time share ${fmtPercent(link.time_share)}` : "";
  return h("article", { class: `card link-card ${linkClass(link)}`, id: `link-card-${link.id}`,
    "data-chart-link": link.id },
  h("h3", {}, h("span", { class: `badge status-${link.status}`, text: link.status }), ` ${link.id} `,
    h("small", { text: `${link.type} · ${(link.nodes || []).join(" – ")}` })),
  h("p", { class: "figures",
    text: `${fmtRate(link.skr_bps)} of ${fmtRate(link.target_bps)} target${share}` }),
  h("div", { class: "charts" }, charts));
}

// ---------------------------------------------------------------------------------------------------
// Spectra: per fibre the classical channels as bars (launch power, floor marked) and the quantum channels

const SPECTRUM = { width: 480, height: 200, left: 44, right: 10, top: 24, bottom: 26 };
const BAR_THZ = 0.07; // bar width: most of the 100 GHz grid spacing

export function renderSpectra(snapshot) {
  const fibres = snapshot.fibres || [];
  if (!fibres.length) return h("p", { class: "empty", text: "No fibres." });
  return h("div", { class: "card-grid" }, fibres.map((fibre) => {
    const spectrum = (snapshot.spectra || {})[fibre.id] || { classical: [], quantum: [] };
    return spectrumCard(fibre, spectrum.classical || [], spectrum.quantum || []);
  }));
}

function spectrumCard(fibre, classical, quantum) {
  return h("article", { class: `card spectrum-card${fibre.cut ? " fibre-cut" : ""}`, "data-fibre": fibre.id },
    h("h3", {}, fibre.cut ? h("span", { class: "badge status-down", text: "cut" }) : null, ` ${fibre.id} `,
      h("small", { text: `${fmtNumber(fibre.length_km, 1, " km")} · ${classical.length} classical` })),
    spectrumChart(fibre, classical, quantum),
    quantumTable(quantum));
}

function quantumTable(quantum) {
  const headings = ["quantum channel", "grid", "Raman noise", "predicted"];
  const rows = quantum.map((q) => h("tr", {},
    h("td", { text: q.link }),
    h("td", { text: `ch ${q.dwdm_channel ?? "–"} · ${fmtNumber(q.frequency_thz, 2, " THz")}` }),
    h("td", { text: fmtNumber(q.raman_noise, 4, " SNU") }),
    h("td", { text: fmtRate(q.predicted_skr_bps) })));
  return h("table", { class: "quantum-table" },
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", { text })))),
    h("tbody", {}, rows));
}

function spectrumChart(fibre, classical, quantum) {
  const freqs = [...classical, ...quantum].map((c) => c.frequency_thz).filter(isNumber);
  const fMin = (freqs.length ? Math.min(...freqs) : 191.3) - 0.2;
  const fMax = (freqs.length ? Math.max(...freqs) : 196.1) + 0.2;
  const levels = classical.flatMap((c) => [c.power_dbm, c.floor_dbm]).filter(isNumber);
  const low = Math.floor((levels.length ? Math.min(...levels) : -20) - 3);
  const high = Math.ceil((levels.length ? Math.max(...levels) : 0) + 3);
  const plotW = SPECTRUM.width - SPECTRUM.left - SPECTRUM.right;
  const plotH = SPECTRUM.height - SPECTRUM.top - SPECTRUM.bottom;
  const x = (f) => SPECTRUM.left + ((f - fMin) / (fMax - fMin)) * plotW;
  const y = (dbm) => SPECTRUM.top + plotH - ((dbm - low) / (high - low)) * plotH;
  const barW = Math.max(2, (BAR_THZ / (fMax - fMin)) * plotW);
  const svg = s("svg", { viewBox: `0 0 ${SPECTRUM.width} ${SPECTRUM.height}`, class: "spectrum", role: "img",
    "aria-label": `spectrum of fibre ${fibre.id}` },
  s("line", { class: "axis",
    x1: SPECTRUM.left, x2: SPECTRUM.width - SPECTRUM.right, y1: y(low), y2: y(low) }),
  s("text", { x: SPECTRUM.left - 4, y: y(high) + 4, class: "tick tick-y", text: `${high} dBm` }),
  s("text", { x: SPECTRUM.left - 4, y: y(low), class: "tick tick-y", text: `${low}` }),
  s("text", { x: SPECTRUM.left, y: SPECTRUM.height - 6, class: "tick", text: `${fMin.toFixed(1)} THz` }),
  s("text", { x: SPECTRUM.width - SPECTRUM.right, y: SPECTRUM.height - 6, class: "tick tick-end",
    text: `${fMax.toFixed(1)} THz` }));
  for (let thz = Math.ceil(fMin); thz <= fMax; thz += 1) {
    svg.append(s("line", { x1: x(thz), x2: x(thz), y1: y(low), y2: y(low) + 4, class: "axis" }));
  }
  for (const channel of classical) {
    if (!isNumber(channel.frequency_thz) || !isNumber(channel.power_dbm)) continue;
    const left = x(channel.frequency_thz) - barW / 2;
    const top = y(channel.power_dbm);
    const floor = isNumber(channel.floor_dbm) ? y(channel.floor_dbm) : null;
    const kind = `bar bar-${String(channel.rate_class).toLowerCase()}`;
    svg.append(s("g", { class: kind, "data-channel": channel.id },
      s("title", { text: `${channel.id} (${channel.rate_class}), ch ${channel.dwdm_channel}, ` +
        `${fmtNumber(channel.frequency_thz, 2, " THz")}: ${fmtNumber(channel.power_dbm, 1, " dBm")}, ` +
        `floor ${fmtNumber(channel.floor_dbm, 1, " dBm")}` }),
      s("rect", { x: left, y: top, width: barW, height: Math.max(0, y(low) - top) }),
      floor === null ? null
        : s("line", { class: "floor", x1: left - 1, x2: left + barW + 1, y1: floor, y2: floor })));
  }
  for (const q of quantum) {
    if (!isNumber(q.frequency_thz)) continue;
    const at = x(q.frequency_thz);
    const anchor = at > SPECTRUM.width * 0.7 ? "end" : at < SPECTRUM.width * 0.3 ? "start" : "middle";
    svg.append(s("g", { class: "quantum-marker", "data-quantum": q.link },
      s("title", { text: `quantum channel of ${q.link}, ch ${q.dwdm_channel}: Raman noise ` +
        `${fmtNumber(q.raman_noise, 4, " SNU")}, predicted ${fmtRate(q.predicted_skr_bps)}` }),
      s("line", { x1: at, x2: at, y1: SPECTRUM.top - 4, y2: y(low) }),
      s("text", { x: at, y: SPECTRUM.top - 10, class: "quantum-label", "text-anchor": anchor,
        text: `quantum ch ${q.dwdm_channel ?? "–"} · Raman ${fmtNumber(q.raman_noise, 4, " SNU")}` })));
  }
  return svg;
}

