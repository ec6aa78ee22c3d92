// Sluice search UI. No framework, no build step. Every string from the logs reaches the
// page through textContent or a text node, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

const state = { q: "*", range: "-1h", from: "", to: "", modules: [], levels: [], tail: null, newest: null };

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  state.q = p.get("q") || "*";
  state.range = p.get("range") || (p.get("from") ? "custom" : "-1h");
  state.from = p.get("from") || "";
  state.to = p.get("to") || "";
  state.modules = (p.get("module") || "").split(",").filter(Boolean);
  state.levels = (p.get("level") || "").split(",").filter(Boolean);
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.q && state.q !== "*") p.set("q", state.q);
  if (state.range === "custom") { p.set("from", state.from); p.set("to", state.to); } else p.set("range", state.range);
  if (state.modules.length) p.set("module", state.modules.join(","));
  if (state.levels.length) p.set("level", state.levels.join(","));
  history.replaceState(null, "", "#" + p.toString());
}

// The window as the API takes it: RFC 3339 or relative times.
function window_() {
  if (state.range === "custom") return { from: state.from, to: state.to };
  if (state.range === "all") return { from: "", to: "" };
  return { from: state.range, to: "now" };
}

function apiParams(extra = {}) {
  const p = new URLSearchParams();
  const w = window_();
  p.set("q", state.q || "*");
  if (w.from) p.set("from", w.from);
  if (w.to) p.set("to", w.to);
  if (state.modules.length) p.set("module", state.modules.join(","));
  if (state.levels.length) p.set("level", state.levels.join(","));
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

async function getJson(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function syncForm() {
  $("q").value = state.q === "*" ? "" : state.q;
  $("range").value = state.range;
  $("custom-range").hidden = state.range !== "custom";
  if (state.range === "custom") {
    $("from").value = toLocalInput(state.from);
    $("to").value = toLocalInput(state.to);
  }
}

const toLocalInput = (iso) => {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
const fmtTime = (iso) => {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
};

async function search() {
  writeHash();
  syncForm();
  rememberQuery(state.q);
  renderFilters();
  $("error").hidden = true;
  try {
    const body = await getJson("/api/v1/search?" + apiParams({ limit: 100 }));
    $("summary").textContent = `${body.total.toLocaleString()} events · ${body.took_ms.toFixed(1)} ms`;
    renderHistogram(body.histogram);
    renderFacets(body.facets || []);
    renderHits(body, false);
    window.scrollTo(0, 0); // a new result set starts at its top, wherever the last one was read
    state.newest = body.hits.length ? body.hits[0].timestamp : null;
    const w = window_();
    const digest = new URLSearchParams({ format: "html" });
    if (w.from) digest.set("from", w.from);
    if (w.to) digest.set("to", w.to);
    $("digest-window").href = "/api/v1/digest?" + digest;
  } catch (e) {
    $("error").textContent = e.message;
    $("error").hidden = false;
    $("hits").replaceChildren();
  }
}

function renderFilters() {
  const chips = [];
  for (const m of state.modules) chips.push(el("span", { title: "remove", onclick: () => { state.modules = state.modules.filter((x) => x !== m); search(); } }, "module: " + m));
  for (const l of state.levels) chips.push(el("span", { title: "remove", onclick: () => { state.levels = state.levels.filter((x) => x !== l); search(); } }, "level: " + l));
  $("filters").replaceChildren(...chips);
}

function renderHistogram(histogram) {
  const chart = $("histogram");
  chart.replaceChildren();
  if (!histogram || !histogram.buckets.length) return;
  const buckets = histogram.buckets;
  const width = 1000, height = 110, pad = 14;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const slot = width / buckets.length;
  buckets.forEach((b, i) => {
    const h = ((height - pad - 4) * b.count) / max;
    const rect = svg("rect", { x: i * slot + 0.5, y: height - pad - h, width: Math.max(slot - 1, 0.5), height: h, "data-start": b.start });
    const title = svg("title", {});
    title.textContent = `${fmtTime(b.start)}: ${b.count}`;
    rect.append(title);
    // Zoom into the bucket.
    rect.addEventListener("click", () => {
      const start = new Date(b.start);
      state.range = "custom";
      state.from = start.toISOString();
      state.to = new Date(start.getTime() + histogram.interval_ms).toISOString();
      search();
    });
    chart.append(rect);
  });
  for (const i of [0, Math.floor(buckets.length / 2), buckets.length - 1]) {
    const label = svg("text", { x: Math.min(i * slot, width - 110), y: height - 2 });
    label.textContent = fmtTime(buckets[i].start).replace(/\.\d+$/, "");
    chart.append(label);
  }
}

function renderFacets(facets) {
  const blocks = facets.filter((f) => f.values.length).map((facet) => {
    const list = facet.values.map((v) => el("li", {},
      el("button", { type: "button", "data-field": facet.field, "data-value": v.value, onclick: () => applyFacet(facet.field, v.value) },
        el("span", {}, v.value), el("span", { class: "n" }, v.count.toLocaleString()))));
    return el("div", { class: "facet" }, el("h3", {}, facet.field), el("ul", { style: "list-style:none;margin:0;padding:0" }, ...list));
  });
  $("facets").replaceChildren(...blocks);
}

function applyFacet(field, value) {
  if (field === "module") { if (!state.modules.includes(value)) state.modules.push(value); }
  else if (field === "level") { if (!state.levels.includes(value)) state.levels.push(value); }
  else {
    const term = `${field}:"${value.replace(/"/g, '\\"')}"`;
    state.q = state.q && state.q !== "*" ? `${state.q} ${term}` : term;
  }
  search();
}

// Plain words of the query, for highlighting (field:value terms and operators skipped).
function queryWords() {
  return (state.q || "")
    .replace(/[a-zA-Z_.]+:("[^"]*"|\S+)/g, " ")
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((w) => w && !["AND", "OR", "NOT", "TO"].includes(w));
}

// The server marks what matched as byte ranges of the message (its own analysis, so
// CJK bigrams and tokenized ids match exactly); events from the live stream carry none.
function highlighted(text, ranges) {
  if (ranges && ranges.length) {
    const bytes = new TextEncoder().encode(text);
    const decode = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
    const out = el("div", { class: "msg" });
    let last = 0;
    for (const [a, b] of ranges) {
      out.append(document.createTextNode(decode(last, a)), el("mark", {}, decode(a, b)));
      last = b;
    }
    out.append(document.createTextNode(decode(last, bytes.length)));
    return out;
  }
  const words = queryWords().map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const out = el("div", { class: "msg" });
  if (!words.length) { out.textContent = text; return out; }
  // Latin words match whole tokens (as the index splits them); CJK text matches anywhere.
  const bounded = words.map((w) => (/^[\w]+$/.test(w) ? `(?<![\\p{L}\\p{N}])${w}(?![\\p{L}\\p{N}])` : w));
  const re = new RegExp(bounded.join("|"), "giu");
  let last = 0;
  for (const m of text.matchAll(re)) {
    out.append(document.createTextNode(text.slice(last, m.index)), el("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  out.append(document.createTextNode(text.slice(last)));
  return out;
}

function hitItem(event) {
  const item = el("li", { class: "hit" },
    el("div", { class: "meta" },
      el("span", { class: `lvl lvl-${event.level}` }, event.level),
      `${fmtTime(event.timestamp)} · ${event.module} · ${event.source}${event.host ? " · " + event.host : ""}`),
    highlighted(event.message, event.highlights));
  item.addEventListener("click", (e) => {
    if (e.target.closest(".detail")) return;
    const open = item.querySelector(".detail");
    if (open) { open.remove(); return; }
    item.append(detail(event));
  });
  return item;
}

function detail(event) {
  const box = el("div", { class: "detail" }, el("pre", {}, JSON.stringify(event.fields, null, 2)));
  const context = el("ol", { class: "ctx" });
  box.append(el("h3", {}, "Around it in " + event.source), context);
  const line = (e, cls) => el("li", { class: cls }, `${fmtTime(e.timestamp)}  ${e.message}`);
  if (!event.sort) { context.append(el("li", {}, "(not in the index: past index_retention_days)")); return box; }
  const p = new URLSearchParams({ source: event.source, at: event.sort, before: 10, after: 10 });
  if (event.host) p.set("host", event.host);
  getJson("/api/v1/context?" + p).then((body) => {
    context.append(...body.before.map((e) => line(e, "")), line(event, "self"), ...body.after.map((e) => line(e, "")));
  }).catch((e) => context.append(el("li", { class: "error" }, e.message)));
  return box;
}

function renderHits(body, append) {
  const items = body.hits.map(hitItem);
  if (append) $("hits").append(...items); else $("hits").replaceChildren(...items);
  $("more").hidden = !body.next;
  $("more").dataset.next = body.next || "";
}

// The next page continues after the last hit's `sort` (search_after): events sharing a
// timestamp across the page boundary are neither skipped nor repeated.
async function older() {
  const next = $("more").dataset.next;
  if (!next) return;
  const body = await getJson("/api/v1/search?" + apiParams({ limit: 100, aggs: "false", search_after: next }));
  renderHits(body, true);
}

// Live: new events from the server's tail stream go on top (filtered by the module and
// level filters and the query's plain words); the same button pauses.
function toggleTail() {
  if (state.tail) {
    state.tail.close();
    state.tail = null;
    $("tail").classList.remove("on");
    $("tail").textContent = "Live";
    return;
  }
  const p = new URLSearchParams();
  const words = queryWords();
  if (words.length) p.set("q", words.join(" "));
  if (state.modules.length) p.set("module", state.modules.join(","));
  if (state.levels.length) p.set("level", state.levels.join(","));
  const source = new EventSource("/api/v1/tail?" + p);
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    $("hits").prepend(hitItem(event));
    while ($("hits").children.length > 1000) $("hits").lastElementChild.remove();
  });
  state.tail = source;
  $("tail").classList.add("on");
  $("tail").textContent = "Pause";
}

async function loadAlerts() {
  try {
    const body = await getJson("/api/v1/alerts?limit=20");
    const items = body.alerts.map((a) => el("li", { title: "search the events of this alert", onclick: () => {
      state.q = a.search || "*";
      state.range = "custom";
      state.from = a.start;
      state.to = new Date(new Date(a.end).getTime() + 1000).toISOString();
      state.modules = [];
      state.levels = [];
      search();
    } }, el("span", { class: `sev sev-${a.severity}` }, a.severity), `${a.module} · ${fmtTime(a.start)}`, el("div", { class: "muted" }, a.summary)));
    $("alerts").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "none")]));
  } catch (e) {
    $("alerts").replaceChildren(el("li", { class: "error" }, e.message));
  }
}

// The last 20 queries, offered as suggestions in the search box.
function rememberQuery(q) {
  let list = [];
  try { list = JSON.parse(localStorage.getItem("sluice.history") || "[]"); } catch (e) { list = []; }
  if (q && q !== "*") {
    list = [q, ...list.filter((x) => x !== q)].slice(0, 20);
    localStorage.setItem("sluice.history", JSON.stringify(list));
  }
  $("history").replaceChildren(...list.map((x) => el("option", { value: x })));
}

$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.q = $("q").value.trim() || "*";
  state.range = $("range").value;
  if (state.range === "custom") {
    state.from = new Date($("from").value).toISOString();
    state.to = new Date($("to").value).toISOString();
  }
  search();
});
$("range").addEventListener("change", () => {
  $("custom-range").hidden = $("range").value !== "custom";
  if ($("range").value !== "custom") $("search-form").requestSubmit();
});
$("more").addEventListener("click", older);
$("tail").addEventListener("click", toggleTail);
window.addEventListener("hashchange", () => { readHash(); search(); });

readHash();
rememberQuery("");
search();
loadAlerts();
setInterval(loadAlerts, 30000);
