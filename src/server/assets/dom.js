// Building blocks of the UI: one way to make elements (`h`), formatting, the API client and a
// poller. Every value from the store reaches the page as a text node or an attribute set
// through the DOM, never as markup: `h` is the single place text becomes DOM.

/**
 * h("a", { href, class: "x", title, dataset: { id }, on: { click } }, "text", child, [more])
 * Strings and numbers become text nodes; null, undefined and false are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === "href") el.setAttribute("href", safeHref(value));
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Replace `el`'s children; like `h`, skips null, undefined and false and makes text of strings. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Only this site's own paths are linked. */
function safeHref(value) {
  const s = String(value);
  return s.startsWith("/") && !s.startsWith("//") ? s : "#";
}

export const runHref = (id) => `/runs/${encodeURIComponent(id)}`;
export const taskRunHref = (id) => `/task-runs/${encodeURIComponent(id)}`;

export const link = (href, text, props = {}) => h("a", { href, "data-link": true, ...props }, text);

// ------------------------------------------------------------------ formatting

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function fmtDateTime(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** `3 min ago` (or `in 5 s` for a time ahead of this clock). */
export function fmtAgo(ms, now = Date.now()) {
  const d = Math.round((now - ms) / 1000);
  const a = Math.abs(d);
  const text = a < 5 ? "now" : a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86_400 ? `${Math.floor(a / 3600)} h` : `${Math.floor(a / 86_400)} d`;
  if (text === "now") return "just now";
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** A time shown relative to now ("3 min ago"), the absolute time as its title; kept current by `tickRelativeTimes`. */
export function relTime(ms) {
  if (ms === null || ms === undefined) return h("span", { class: "muted" }, "–");
  return h("time", { class: "rel", datetime: new Date(ms).toISOString(), title: fmtDateTime(ms), dataset: { ms: String(ms) } }, fmtAgo(ms));
}

export function tickRelativeTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll("time.rel")) t.textContent = fmtAgo(Number(t.dataset.ms), now);
}

/** 100000 → "100,000" */
export const fmtCount = (n) => Number(n).toLocaleString("en-US");

export const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);
export const isFinal = (state) => FINAL.has(state.type);

/** A run's duration, with "…" while it is still going. */
export function runDuration(run) {
  const d = fmtDuration(run.durationMs);
  return run.durationMs !== null && !isFinal(run.state) ? `${d}…` : d;
}

export function stateBadge(state, withMessage = false) {
  return h(
    "span",
    { class: `badge state-${state.type.toLowerCase()}`, title: state.message ? `${state.name}: ${state.message}` : state.name },
    state.name,
    withMessage && state.message ? h("span", { class: "badge-msg" }, state.message) : null,
  );
}

export function tagChips(tags) {
  return tags.length ? h("span", { class: "tags" }, tags.map((t) => h("span", { class: "tag" }, t))) : h("span", { class: "muted" }, "–");
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** A table; `columns` are [header, cell(row) → node or text, optional class]. */
export function table(columns, rows, opts = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: opts.class ?? "" },
      h("thead", null, h("tr", null, columns.map(([head, , cls]) => h("th", { class: cls }, head)))),
      h(
        "tbody",
        null,
        rows.map((r) => h("tr", { dataset: opts.rowData?.(r) }, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(r))))),
      ),
    ),
  );
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", null, title), ...children);
}

// ------------------------------------------------------------------ data

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  let body;
  try {
    body = await res.json();
  } catch {
    body = { error: res.statusText };
  }
  if (!res.ok) throw new ApiError(res.status, body.error ?? res.statusText);
  return body;
}

/**
 * Call `fn` now and every `ms` after it settles, skipping beats while the tab is hidden.
 * `fn` returning false stops it. Returns { stop(), kick() }.
 */
export function poller(fn, ms) {
  let timer;
  let stopped = false;
  let busy = false;
  const tick = async () => {
    clearTimeout(timer);
    if (stopped || busy) return;
    if (document.hidden) {
      timer = setTimeout(tick, ms);
      return;
    }
    busy = true;
    let again = true;
    try {
      again = (await fn()) !== false;
    } catch (err) {
      console.error(err);
    } finally {
      busy = false;
    }
    if (!stopped && again) timer = setTimeout(tick, ms);
  };
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    kick() {
      if (!stopped) tick();
    },
  };
}

export function setLive(text) {
  const el = document.getElementById("live");
  if (el) el.textContent = text;
}

export function errorBox(err) {
  const notFound = err instanceof ApiError && err.status === 404;
  return h(
    "div",
    { class: "card notice error", role: "alert" },
    h("h1", null, notFound ? "Not found" : "Something went wrong"),
    h("p", null, err.message),
    h("p", null, link("/runs", "Back to the flow runs")),
  );
}
