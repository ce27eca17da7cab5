// DOM helpers, formatting and the contract's link colours, shared by the dashboard's views.
// Text from a snapshot is only ever set as text (textContent, attributes), never parsed as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------------------------------------------
// DOM helpers: h() for HTML elements, s() for SVG ones; `text` sets the text, `on*` adds a listener,
// null/undefined/false attributes are left out.

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function viewBody(view) {
  return document.querySelector(`#view-${view} .view-body`);
}

// ---------------------------------------------------------------------------------------------------
// Formatting and classification

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

export function fmtRate(bps) {
  if (!isNumber(bps)) return "–";
  if (Math.abs(bps) >= 1e6) return `${(bps / 1e6).toFixed(2)} Mb/s`;
  if (Math.abs(bps) >= 1e3) return `${(bps / 1e3).toFixed(1)} kb/s`;
  return `${bps.toFixed(0)} b/s`;
}

export function fmtNumber(value, digits, unit = "") {
  return isNumber(value) ? `${value.toFixed(digits)}${unit}` : "–";
}

export function fmtPercent(share) {
  return isNumber(share) ? `${Math.round(share * 100)} %` : "–";
}

export function fmtClock(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? String(iso ?? "–") : new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Key rate over target, or null when either is unknown. */
export function rateRatio(link) {
  if (!isNumber(link.skr_bps) || !isNumber(link.target_bps) || link.target_bps <= 0) return null;
  return link.skr_bps / link.target_bps;
}

/** The contract's colour class: down or under half the target is red, under target amber. */
export function linkClass(link) {
  if (link.status === "down") return "link-down";
  const ratio = rateRatio(link);
  if (ratio === null) return "link-ok"; // up with no figures yet: nothing says it is short
  if (ratio >= 1) return "link-ok";
  return ratio >= 0.5 ? "link-low" : "link-down";
}

