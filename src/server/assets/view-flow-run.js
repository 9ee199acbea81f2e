// One flow run, however many task runs it has: what it is, its timeline (capped, with an
// overview lane per task), its task runs grouped by task and in a table a page at a time,
// subflow runs (the newest, older ones a page at a time on demand), parameters, state history
// and logs (tail first). The page reads the API's overview once, then polls it with the cursor
// (`?since=`): a poll where nothing happened is a few bytes; otherwise it carries the changed
// task runs and new log lines, and the page updates in place (open groups, the table page and
// the logs stay as they are). It reads everything again every FULL_EVERY polls and once when
// the run ends.
import {
  api, errorBox, fmtClock, fmtCount, fmtDateTime, h, isFinal, json, link, poller, relTime, replace, runDuration, runHref,
  section, setLive, stateBadge, table, tagChips, taskRunHref,
} from "./dom.js";
import { logsPanel } from "./logs.js";
import { groupList } from "./groups.js";
import { taskRunTable } from "./task-table.js";
import { timeline } from "./timeline.js";

const REFRESH_MS = 1500;
const FULL_EVERY = 20;

export function metaList(pairs) {
  return h(
    "dl",
    { class: "meta" },
    pairs.filter(Boolean).map(([term, value]) => h("div", null, h("dt", null, term), h("dd", null, value))),
  );
}

export function historyTable(states) {
  let attempt = 0;
  return table(
    [
      ["Time", (s) => h("time", { datetime: new Date(s.timestamp).toISOString(), title: fmtDateTime(s.timestamp) }, fmtClock(s.timestamp))],
      ["State", (s) => stateBadge(s)],
      ["Attempt", (s) => (s.type === "RUNNING" ? `#${++attempt}` : "")],
      ["Message", (s) => [s.message ?? "", s.scheduledTime ? h("span", { class: "muted" }, ` (due ${fmtClock(s.scheduledTime)})`) : null], "wrap"],
    ],
    states,
    { class: "history", rowData: (s) => ({ state: s.name }) },
  );
}

/** Cancel a run that has not finished, after a confirmation; the page shows it end Cancelled. */
function cancelButton(f) {
  const status = h("span", { class: "muted cancel-status", role: "status" });
  const button = h("button", {
    type: "button",
    class: "cancel-run",
    on: {
      click: async () => {
        if (!window.confirm(`Cancel flow run '${f.name}'? Its running task runs end Cancelled and its onCancellation hooks run.`)) return;
        button.disabled = true;
        status.textContent = " Cancel requested…";
        try {
          const res = await fetch(`/api/flow-runs/${encodeURIComponent(f.id)}/cancel`, {
            method: "POST",
            headers: { Accept: "application/json", "X-Flowctl-Action": "cancel" },
            credentials: "same-origin",
          });
          const body = await res.json().catch(() => ({}));
          if (!res.ok) throw new Error(body.error ?? res.statusText);
        } catch (err) {
          button.disabled = false;
          status.textContent = ` Could not cancel: ${err.message}`;
        }
      },
    },
  }, "Cancel run");
  return h("div", { class: "run-actions" }, button, status);
}


export function flowRunView(main, id) {
  const base = `/api/flow-runs/${encodeURIComponent(id)}`;
  const head = h("div", { class: "page-head" });
  const meta = h("section", { class: "card" });
  const notice = h("div");
  const tlBody = h("div");
  const taskTitle = h("h2", null, "Task runs");
  const groups = groupList(id);
  const tasksBody = h("div");
  const subflows = h("div");
  const bottom = h("div", { class: "two-col" });
  const logsSection = h("section", { class: "card" }, h("h2", null, "Logs"));
  replace(main, head, h("div", { class: "stack" },
    meta, notice, h("section", { class: "card" }, taskTitle, groups.el), section("Timeline", tlBody),
    section("All task runs", tasksBody), subflows, bottom), logsSection);

  // the first page of task runs and the log tail are asked for at once with the overview
  const tasks = taskRunTable(id, { filter: true });
  replace(tasksBody, tasks.el);
  // (a run that is not there shows as the overview's error)
  tasks.reload().catch(() => {});
  const olderSubflows = subflowList(base, subflows);
  const logs = logsPanel(`${base}/logs`, { follow: true, feed: true });
  logsSection.append(logs.el);
  let cursor = null;
  let polls = 0;
  let flowRun = null;
  let stopped = false;

  function render(o) {
    const f = (flowRun = o.flowRun);
    document.title = `${f.name} · flowctl`;
    renderHead(f, head);
    replace(meta, metaList([
      ["Flow", f.flowName + (f.flowVersion ? ` (version ${f.flowVersion})` : "")],
      ["State", [stateBadge(f.state), f.state.message ? h("span", { class: "state-msg" }, ` ${f.state.message}`) : null]],
      ["Start", relTime(f.startTime)],
      ["End", relTime(f.endTime)],
      ["Duration", runDuration(f)],
      ["Run count", String(f.runCount)],
      ["Tags", tagChips(f.tags)],
      ["ID", h("code", null, f.id)],
      o.parentFlowRun && ["Parent flow run", link(runHref(o.parentFlowRun.id), o.parentFlowRun.name)],
      f.parentTaskRunId && ["Parent task run", link(taskRunHref(f.parentTaskRunId), "task run")],
    ]));
    const nc = o.notCompleted;
    replace(notice, nc.total
      ? h("section", { class: "card notice error" }, h("h2", null, `Not completed (${fmtCount(nc.total)})`),
        h("ul", null, nc.taskRuns.map((t) => h("li", null, link(taskRunHref(t.id), t.name), " ", stateBadge(t.state), t.state.message ? ` ${t.state.message}` : ""))),
        nc.total > nc.taskRuns.length
          ? h("p", null, h("button", { type: "button", class: "show-not-completed", on: { click: () => { tasks.setState("Failed,Crashed,NotReady"); tasks.el.scrollIntoView(); } } }, `Show all ${fmtCount(nc.total)} in the table`))
          : null)
      : null);
    replace(tlBody, timeline(f, o.timeline));
    taskTitle.textContent = `Task runs (${fmtCount(o.taskRunCount)})`;
    groups.update(o.groups, o.groupTotal);
    tasks.setTotal(o.taskRunCount);
    olderSubflows.render(o);
    replace(bottom, section("Parameters", json(f.parameters)), section("State history", historyTable(o.states)));
    if (cursor === null) logs.setFollow(!isFinal(f.state));
  }

  async function full() {
    const o = await api(`${base}/overview`);
    if (stopped) return;
    render(o);
    cursor = o.cursor;
    if (polls > 0) await tasks.reload();
  }

  async function refresh() {
    try {
      if (cursor === null || ++polls % FULL_EVERY === 0) await full();
      else {
        const c = await api(`${base}/overview?${new URLSearchParams({ since: cursor, level: logs.level() })}`);
        if (stopped) return false;
        cursor = c.cursor;
        if (c.overview) {
          const ended = isFinal(c.overview.flowRun.state) && flowRun && !isFinal(flowRun.state);
          render(c.overview);
          tasks.patch(c.taskRuns ?? [], Boolean(c.moreTaskRuns) || ended);
          groups.patch(c.taskRuns ?? [], Boolean(c.moreTaskRuns) || ended);
          // the run just ended: read everything once more (rows written late are in it)
          if (ended) await full();
        }
        if (c.logs) logs.push(c.logs);
      }
    } catch (err) {
      if (cursor === null) replace(main, errorBox(err));
      else console.error(err);
      return cursor !== null;
    }
    setLive(`Updated ${new Date().toLocaleTimeString()}`);
    return !isFinal(flowRun.state);
  }

  const poll = poller(refresh, REFRESH_MS);
  return () => {
    stopped = true;
    poll.stop();
    logs.stop();
  };
}

/**
 * The subflow runs: the overview's (the newest SUBFLOWS_SHOWN, oldest first) and, above them,
 * older ones read a page at a time from the run's own answer (`subflowOffset`, newest first)
 * when asked for. Runs created meanwhile shift those pages: what arrives twice is shown once.
 */
function subflowList(base, el) {
  const PAGE = 100;
  let older = [];
  let next = null;
  let last = null;
  let loading = false;

  async function loadOlder(button) {
    if (loading) return;
    loading = true;
    button.disabled = true;
    try {
      const offset = older.length ? next : last.subflowRuns.length;
      const d = await api(`${base}?${new URLSearchParams({ limit: "1", subflowLimit: String(PAGE), subflowOffset: String(offset) })}`);
      const seen = new Set([...older, ...last.subflowRuns].map((s) => s.id));
      older = older.concat(d.subflowRuns.filter((s) => !seen.has(s.id)));
      next = d.subflowRunPage.nextOffset;
    } catch (err) {
      console.error(err);
    } finally {
      loading = false;
    }
    render(last);
  }

  function render(o) {
    last = o;
    if (!o.subflowRuns.length) return replace(el, null);
    const newest = new Set(o.subflowRuns.map((s) => s.id));
    const rows = [...older.filter((s) => !newest.has(s.id)).reverse(), ...o.subflowRuns];
    const more = older.length ? next !== null : Boolean(o.moreSubflowRuns);
    const button = more
      ? h("button", { type: "button", class: "subflows-older", on: { click: () => loadOlder(button) } }, `Show ${PAGE} older`)
      : null;
    replace(el, section(
      `Subflow runs (${fmtCount(rows.length)}${more ? "+" : ""})`,
      button && h("p", null, button),
      table(
        [
          ["Name", (s) => link(runHref(s.id), s.name)],
          ["Flow", (s) => s.flowName],
          ["State", (s) => stateBadge(s.state)],
          ["Start", (s) => relTime(s.startTime), "hide-narrow"],
          ["Duration", (s) => runDuration(s), "num"],
        ],
        rows,
        { class: "subflow-runs" },
      ),
    ));
  }
  return { render };
}

function renderHead(f, head) {
  replace(head,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/runs", "Flow runs"), " / ",
      link(`/runs?flow=${encodeURIComponent(f.flowName)}`, f.flowName), " / ", h("span", null, f.name)),
    h("h1", null, h("span", { class: "run-name" }, f.name), " ", stateBadge(f.state)),
    isFinal(f.state) ? null : cancelButton(f),
  );
}
