// One task run: its state history (each retry shows as a new Running/Retrying entry),
// parameters, upstream runs (a page at a time), cache key, error and logs.
import {
  fmtCount, h, json, link, relTime, replace, runDuration, runHref, section, stateBadge, table, tagChips, taskRunHref,
} from "./dom.js";
import { runPage } from "./run-page.js";
import { historyTable, metaList } from "./view-flow-run.js";

function errorOf(states) {
  const e = states.length ? states[states.length - 1].error : null;
  if (!e || typeof e !== "object") return null;
  // a thrown non-Error is said by its message alone (`threw a string: "text"`)
  const title = e.name === "NonErrorThrown" ? String(e.message ?? "") : `${e.name ?? "Error"}: ${e.message ?? ""}`;
  return section(
    "Error",
    h("p", { class: "error-title" }, title),
    e.stack ? h("details", null, h("summary", null, "Stack trace"), h("pre", { class: "stack-trace" }, String(e.stack))) : null,
  );
}

/** The upstream runs a page at a time (a reduce over 10,000 mapped runs has 10,000). */
const UPSTREAM_PAGE = 100;

export function taskRunView(main, id) {
  let upstreamOffset = 0;
  const page = runPage(main, {
    apiPath: () => `/api/task-runs/${encodeURIComponent(id)}?${new URLSearchParams({ upstreamLimit: String(UPSTREAM_PAGE), upstreamOffset: String(upstreamOffset) })}`,
    runOf: (d) => d.taskRun,
    logsPath: (run) => `/api/task-runs/${encodeURIComponent(run.id)}/logs`,
    render: (d, head, body) => render(d, head, body, (offset) => {
      upstreamOffset = offset;
      page.refresh();
    }),
  });
  return page;
}

/** "1–100 of 10,000" with Previous and Next, when the upstream runs are more than a page. */
function upstreamPager(p, shown, go) {
  if (!p || (p.offset === 0 && p.nextOffset === null)) return null;
  const info = shown ? `${fmtCount(p.offset + 1)}–${fmtCount(p.offset + shown)} of ${fmtCount(p.total)}` : `none past ${fmtCount(p.total)}`;
  return h(
    "div",
    { class: "pager upstream-pager" },
    h("button", { type: "button", class: "pager-btn", disabled: p.offset === 0, on: { click: () => go(Math.max(0, p.offset - p.limit)) } }, "‹ Previous"),
    h("span", { class: "pager-info muted" }, info),
    h("button", { type: "button", class: "pager-btn", disabled: p.nextOffset === null, on: { click: () => go(p.nextOffset) } }, "Next ›"),
  );
}

function render(d, head, body, goUpstream) {
  const t = d.taskRun;
  replace(head,
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      link("/runs", "Flow runs"), " / ",
      d.flowRun ? [link(runHref(d.flowRun.id), d.flowRun.name), " / "] : [h("span", { class: "muted" }, "standalone"), " / "],
      h("span", null, t.name),
    ),
    h("h1", null, h("span", { class: "run-name" }, t.name), " ", stateBadge(t.state)),
  );
  replace(body,
    h(
      "section",
      { class: "card" },
      metaList([
        ["Task", t.taskName],
        ["State", [stateBadge(t.state), t.state.message ? h("span", { class: "state-msg" }, ` ${t.state.message}`) : null]],
        ["Flow run", d.flowRun ? link(runHref(d.flowRun.id), d.flowRun.name) : h("span", { class: "muted" }, "none (standalone run)")],
        d.parentTaskRun && ["Parent task run", link(taskRunHref(d.parentTaskRun.id), d.parentTaskRun.name)],
        ["Start", relTime(t.startTime)],
        ["End", relTime(t.endTime)],
        ["Duration", runDuration(t)],
        ["Run count", String(t.runCount)],
        ["Tags", tagChips(t.tags)],
        ["Task key", h("code", null, t.taskKey)],
        ["Cache key", t.cacheKey ? h("code", { class: "cache-key" }, t.cacheKey) : h("span", { class: "muted" }, "none")],
        ["ID", h("code", null, t.id)],
      ]),
    ),
    errorOf(d.states),
    h(
      "div",
      { class: "two-col" },
      section("Parameters", json(t.parameters)),
      section(
        `Upstream runs (${fmtCount(d.upstreamPage?.total ?? d.upstream.length)})`,
        upstreamPager(d.upstreamPage, d.upstream.length, goUpstream),
        d.upstream.length
          ? table(
            [
              ["Parameter", (u) => h("code", null, u.parameter)],
              ["Task run", (u) => (u.taskRun ? link(taskRunHref(u.taskRun.id), u.taskRun.name) : h("span", { class: "muted" }, `${u.taskRunId} (pruned)`))],
              ["State", (u) => (u.taskRun ? stateBadge(u.taskRun.state) : "–")],
            ],
            d.upstream,
            { class: "upstream" },
          )
          : h("p", { class: "muted" }, "No upstream task runs: its inputs were plain values."),
      ),
    ),
    section(`State history (${d.states.length})`, historyTable(d.states)),
  );
}
