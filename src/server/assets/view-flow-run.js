// One flow run: what it is, its timeline, task runs, subflow runs, parameters, state history and
// logs. Refreshed while the run is going; the logs follow it.
import {
  fmtClock, fmtDateTime, h, isFinal, json, link, replace, runDuration, runHref, section, stateBadge, table, tagChips, taskRunHref,
} from "./dom.js";
import { runPage } from "./run-page.js";
import { timeline } from "./timeline.js";

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

export function flowRunView(main, id) {
  return runPage(main, {
    apiPath: `/api/flow-runs/${encodeURIComponent(id)}`,
    runOf: (d) => d.flowRun,
    logsPath: (run) => `/api/flow-runs/${encodeURIComponent(run.id)}/logs`,
    render,
  });
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

function render(d, head, body) {
  const f = d.flowRun;
  replace(head,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/runs", "Flow runs"), " / ",
      link(`/runs?flow=${encodeURIComponent(f.flowName)}`, f.flowName), " / ", h("span", null, f.name)),
    h("h1", null, h("span", { class: "run-name" }, f.name), " ", stateBadge(f.state)),
    isFinal(f.state) ? null : cancelButton(f),
  );
  const failed = d.taskRuns.filter((t) => ["FAILED", "CRASHED"].includes(t.state.type) || t.state.name === "NotReady");
  replace(body,
    h(
      "section",
      { class: "card" },
      metaList([
        ["Flow", f.flowName + (f.flowVersion ? ` (version ${f.flowVersion})` : "")],
        ["State", [stateBadge(f.state), f.state.message ? h("span", { class: "state-msg" }, ` ${f.state.message}`) : null]],
        ["Start", fmtDateTime(f.startTime)],
        ["End", fmtDateTime(f.endTime)],
        ["Duration", runDuration(f)],
        ["Run count", String(f.runCount)],
        ["Tags", tagChips(f.tags)],
        ["ID", h("code", null, f.id)],
        d.parentFlowRun && ["Parent flow run", link(runHref(d.parentFlowRun.id), d.parentFlowRun.name)],
        f.parentTaskRunId && ["Parent task run", link(taskRunHref(f.parentTaskRunId), "task run")],
      ]),
    ),
    failed.length
      ? h("section", { class: "card notice error" }, h("h2", null, "Not completed"),
        h("ul", null, failed.map((t) => h("li", null, link(taskRunHref(t.id), t.name), " ", stateBadge(t.state), t.state.message ? ` ${t.state.message}` : ""))))
      : null,
    section(`Timeline`, timeline(f, d.taskRuns, d.subflowRuns)),
    section(
      `Task runs (${d.taskRuns.length})`,
      d.taskRuns.length
        ? table(
          [
            ["Name", (t) => link(taskRunHref(t.id), t.name, { class: "task-link" })],
            ["Task", (t) => t.taskName, "hide-narrow"],
            ["State", (t) => stateBadge(t.state)],
            ["Start", (t) => fmtDateTime(t.startTime), "hide-narrow"],
            ["Duration", (t) => runDuration(t), "num"],
            ["Runs", (t) => String(t.runCount), "num"],
            ["Tags", (t) => tagChips(t.tags), "hide-narrow"],
          ],
          d.taskRuns,
          { class: "task-runs", rowData: (t) => ({ id: t.id, state: t.state.type }) },
        )
        : h("p", { class: "muted" }, "No task runs."),
    ),
    d.subflowRuns.length
      ? section(
        `Subflow runs (${d.subflowRuns.length})`,
        table(
          [
            ["Name", (s) => link(runHref(s.id), s.name)],
            ["Flow", (s) => s.flowName],
            ["State", (s) => stateBadge(s.state)],
            ["Start", (s) => fmtDateTime(s.startTime), "hide-narrow"],
            ["Duration", (s) => runDuration(s), "num"],
          ],
          d.subflowRuns,
          { class: "subflow-runs" },
        ),
      )
      : null,
    h("div", { class: "two-col" }, section("Parameters", json(f.parameters)), section("State history", historyTable(d.states))),
  );
}
