// A flow run's task runs as a table a page at a time (the API's `task-runs?offset=&limit=`):
// a pager with the total, optionally one group's runs (`taskKey`) or a state filter. Only the
// page shown is ever on the page, whatever the number of task runs.
import { api, fmtCount, h, link, relTime, replace, runDuration, stateBadge, table, tagChips, taskRunHref } from "./dom.js";

const STATES = [["", "Any state"], ["Failed,Crashed,NotReady", "Not completed"], ["Completed", "Completed"], ["Running", "Running"], ["Pending,Scheduled", "Waiting"], ["Cancelled", "Cancelled"]];

export const COLUMNS = [
  ["Name", (t) => link(taskRunHref(t.id), t.name, { class: "task-link" })],
  ["Task", (t) => t.taskName, "hide-narrow"],
  ["State", (t) => stateBadge(t.state)],
  ["Start", (t) => relTime(t.startTime), "hide-narrow"],
  ["Duration", (t) => runDuration(t), "num"],
  ["Runs", (t) => String(t.runCount), "num"],
  ["Tags", (t) => tagChips(t.tags), "hide-narrow"],
];

/**
 * @param {string} flowRunId
 * @param {{ taskKey?: string, pageSize?: number, cls?: string, filter?: boolean, onTotal?: (n: number) => void }} opts
 * @returns {{ el: HTMLElement, reload(): Promise<void>, patch(runs: any[], more: boolean): void, setState(s: string): void, setTotal(n: number): void }}
 */
export function taskRunTable(flowRunId, { taskKey, pageSize = 100, cls = "task-runs", filter = false, onTotal } = {}) {
  let offset = 0;
  let total = 0;
  let state = "";
  let shown = [];
  let generation = 0;
  let loaded = false;

  const body = h("div", { class: "page-body" });
  const info = h("span", { class: "pager-info muted", "aria-live": "polite" });
  const btn = (label, title, to) => h("button", { type: "button", class: "pager-btn", title, "aria-label": title, on: { click: () => go(to()) } }, label);
  const first = btn("«", "First page", () => 0);
  const prev = btn("‹", "Previous page", () => offset - pageSize);
  const next = btn("›", "Next page", () => offset + pageSize);
  const last = btn("»", "Last page", () => Math.floor(Math.max(0, total - 1) / pageSize) * pageSize);
  const pager = h("div", { class: "pager" }, first, prev, info, next, last);
  const select = filter
    ? h("select", { name: "task-state", "aria-label": "Task-run state", on: { change: () => setState(select.value) } },
      STATES.map(([v, label]) => h("option", { value: v }, label)))
    : null;
  const el = h("div", { class: "task-table", dataset: { taskKey: taskKey ?? "" } }, select ? h("div", { class: "table-tools" }, h("label", null, "Show ", select)) : null, body, pager);

  function go(to) {
    offset = Math.max(0, Math.min(to, Math.floor(Math.max(0, total - 1) / pageSize) * pageSize));
    reload().catch((err) => console.error(err));
  }

  function draw() {
    replace(body, shown.length
      ? table(COLUMNS, shown, { class: cls, rowData: (t) => ({ id: t.id, state: t.state.type }) })
      : h("p", { class: "muted" }, state ? "No task runs in this state." : "No task runs."));
    const end = offset + shown.length;
    info.textContent = total ? `${fmtCount(offset + 1)}–${fmtCount(end)} of ${fmtCount(total)}` : "0 of 0";
    first.disabled = prev.disabled = offset === 0;
    next.disabled = last.disabled = end >= total;
    pager.hidden = total <= pageSize && offset === 0;
  }

  async function reload() {
    const mine = ++generation;
    const q = new URLSearchParams({ offset: String(offset), limit: String(pageSize) });
    if (taskKey !== undefined) q.set("taskKey", taskKey);
    if (state) q.set("state", state);
    const page = await api(`/api/flow-runs/${encodeURIComponent(flowRunId)}/task-runs?${q}`);
    if (mine !== generation) return;
    shown = page.taskRuns;
    total = page.total;
    loaded = true;
    if (shown.length === 0 && offset > 0 && total > 0) return go(total - 1);
    onTotal?.(total);
    draw();
  }

  function setState(s) {
    state = s;
    if (select && select.value !== s) select.value = s;
    offset = 0;
    reload().catch((err) => console.error(err));
  }

  /**
   * Task runs that changed (from a poll): rows on this page are redrawn in place; when some
   * may belong here but are not shown (a new run on a page not yet full, a state filter, more
   * changes than the poll carried), the page is read again.
   */
  function patch(runs, more) {
    const byId = new Map(runs.filter((r) => taskKey === undefined || r.taskKey === taskKey).map((r) => [r.id, r]));
    if (byId.size === 0 && !more) return;
    const ids = new Set(shown.map((t) => t.id));
    const allShown = [...byId.keys()].every((id) => ids.has(id));
    if (more || state !== "" || (!allShown && shown.length < pageSize)) {
      reload().catch((err) => console.error(err));
      return;
    }
    if (!allShown && byId.size > 0 && [...byId.keys()].every((id) => !ids.has(id))) return;
    shown = shown.map((t) => byId.get(t.id) ?? t);
    draw();
  }

  /** The number of runs, as the page's overview counts them (for the pager, between reads). */
  function setTotal(n) {
    if (!loaded || state !== "" || n === total) return;
    total = n;
    draw();
  }

  return { el, reload, patch, setState, setTotal };
}
