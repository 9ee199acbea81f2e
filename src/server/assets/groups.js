// A flow run's task runs grouped by task (a `.map` call's runs together): one line per group,
// `getUrl × 1,000: 998 Completed, 2 Failed`, with a bar of its states; opening a group pages
// through its runs. Groups are updated in place, so an open group stays open while the run goes on.
import { fmtCount, fmtDuration, h, replace } from "./dom.js";
import { taskRunTable } from "./task-table.js";

export const STATE_ORDER = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED", "CANCELLING", "RUNNING", "PENDING", "SCHEDULED", "PAUSED"];
const stateLabel = (type) => type[0] + type.slice(1).toLowerCase();

/** `998 Completed, 2 Failed` */
export function countsText(counts) {
  return STATE_ORDER.filter((t) => counts[t]).map((t) => `${fmtCount(counts[t])} ${stateLabel(t)}`).join(", ");
}

export function stateBar(counts, total) {
  return h("span", { class: "state-bar", "aria-hidden": "true" },
    STATE_ORDER.filter((t) => counts[t]).map((t) => h("span", { class: `state-${t.toLowerCase()}`, style: { width: `${(counts[t] / total) * 100}%` } })));
}

/** Returns { el, update(groups, groupTotal), patch(changedRuns, more) }. */
export function groupList(flowRunId) {
  const el = h("div", { class: "groups" });
  const items = new Map();
  const note = h("p", { class: "muted small", hidden: true });

  function summary(g) {
    return [
      h("span", { class: "group-name" }, `${g.taskName} × ${fmtCount(g.total)}:`),
      h("span", { class: "group-counts" }, ` ${countsText(g.counts)}`),
      g.retried ? h("span", { class: "group-retried muted" }, ` · ${fmtCount(g.retried)} retried`) : null,
      g.durationMs !== null ? h("span", { class: "group-time muted" }, ` · ${fmtDuration(g.durationMs)}`) : null,
      stateBar(g.counts, g.total),
    ];
  }

  function item(g) {
    const sum = h("summary", null);
    const details = h("details", { class: "group", dataset: { key: g.taskKey } }, sum);
    const it = { details, sum, table: null, group: g };
    details.addEventListener("toggle", () => {
      if (!details.open || it.table) return;
      it.table = taskRunTable(flowRunId, { taskKey: g.taskKey, pageSize: 50, cls: "group-runs" });
      details.append(it.table.el);
      it.table.reload().catch((err) => console.error(err));
    });
    return it;
  }

  function update(groups, groupTotal) {
    const keep = new Set(groups.map((g) => g.taskKey));
    for (const [key, it] of items) if (!keep.has(key)) { it.details.remove(); items.delete(key); }
    const order = [];
    for (const g of groups) {
      let it = items.get(g.taskKey);
      if (!it) items.set(g.taskKey, (it = item(g)));
      it.group = g;
      replace(it.sum, summary(g));
      it.table?.setTotal(g.total);
      order.push(it.details);
    }
    el.replaceChildren(...order, note);
    note.hidden = groupTotal <= groups.length;
    note.textContent = `and ${fmtCount(groupTotal - groups.length)} more tasks (see the table below)`;
  }

  function patch(runs, more) {
    for (const it of items.values()) if (it.table && it.details.open) it.table.patch(runs, more);
  }

  return { el, update, patch };
}
