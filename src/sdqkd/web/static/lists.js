// The views drawn as lists: switches (port and shares), applications and services, and the timeline of
// alarms and the controller's actions.

import { fmtClock, fmtPercent, fmtRate, h, isNumber } from "./dom.js";

const TIMELINE_MAX = 100; // entries shown in the alarms & actions timeline

// ---------------------------------------------------------------------------------------------------
// Switches: the port connected now and each link's share of the transmitter's time

export function renderSwitches(snapshot) {
  const switches = snapshot.switches || [];
  if (!switches.length) return h("p", { class: "empty", text: "No optical switches." });
  return h("div", { class: "stack" }, switches.map(switchCard));
}

function switchCard(sw) {
  return h("article", { class: "card switch-card", "data-switch": sw.id },
    h("h3", {}, `${sw.id} `, h("small", { text: `at ${sw.node}` })),
    h("ul", { class: "ports" }, (sw.ports || []).map((port) => h("li", {
      class: port === sw.port ? "port port-current" : "port", "data-port": port,
    }, port, port === sw.port ? h("span", { class: "badge status-up", text: "connected" }) : null))),
    h("ul", { class: "shares" }, Object.entries(sw.shares || {}).map(([link, share]) => h("li", {},
      h("span", { class: "share-name", text: link }),
      shareBar(share),
      h("span", { class: "share-value", text: fmtPercent(share) })))));
}

/** A bar as wide as the share; its width set through the CSSOM, which a strict style-src allows. */
function shareBar(share) {
  const fill = h("span");
  fill.style.width = `${Math.round(100 * (isNumber(share) ? share : 0))}%`;
  return h("span", { class: "share-bar" }, fill);
}

// ---------------------------------------------------------------------------------------------------
// Applications and services: tables with their status

function badge(status) {
  return h("span", { class: `badge status-${String(status).toLowerCase()}`, text: status });
}

function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { text: column })))),
    h("tbody", {}, rows));
}

export function renderServices(snapshot) {
  const apps = (snapshot.apps || []).map((app) => h("tr", { "data-app": app.id },
    h("td", { text: `${app.client} → ${app.server}` }),
    h("td", {}, badge(app.status)),
    h("td", { text: app.min_bps ? fmtRate(app.min_bps) : "best effort" })));
  const services = (snapshot.services || []).map((service) => h("tr", { "data-service": service.id },
    h("td", { text: service.type }),
    h("td", {}, badge(service.state),
      service.reason ? h("div", { class: "reason", text: service.reason }) : null),
    h("td", { text: service.summary })));
  return h("div", { class: "stack" },
    h("h3", { text: "Applications" }),
    table(["client → server", "status", "reserved"], apps, "No applications."),
    h("h3", { text: "Services" }),
    table(["type", "state", "path"], services, "No services."));
}

// ---------------------------------------------------------------------------------------------------
// Timeline: alarms and the controller's optical actions, newest first

export function renderTimeline(snapshot) {
  const entries = [
    ...(snapshot.alarms || []).map((alarm) => ({ kind: "alarm", item: alarm })),
    ...(snapshot.actions || []).map((action) => ({ kind: "action", item: action })),
  ];
  const when = (entry) => Date.parse(entry.item.time) || 0;
  entries.sort((first, second) => when(second) - when(first));
  if (!entries.length) return h("p", { class: "empty", text: "No alarms or actions yet." });
  return h("ol", { class: "timeline" }, entries.slice(0, TIMELINE_MAX).map(timelineEntry));
}

function timelineEntry({ kind, item }) {
  if (kind === "alarm") {
    const kind = `entry entry-alarm severity-${item.severity}${item.active ? " alarm-active" : ""}`;
    return h("li", { class: kind },
      h("time", { datetime: item.time, text: fmtClock(item.time) }),
      h("span", { class: "badge", text: item.active ? item.severity : "cleared" }),
      h("div", { class: "entry-text" }, h("strong", { text: `${item.kind} · ${item.source}` }),
        item.message ? h("div", { text: item.message }) : null));
  }
  return h("li", { class: "entry entry-action" },
    h("time", { datetime: item.time, text: fmtClock(item.time) }),
    h("span", { class: "badge", text: "action" }),
    h("div", { class: "entry-text" }, h("strong", { text: `${item.fibre}: ${item.what}` }),
      item.why ? h("div", { text: item.why }) : null));
}

