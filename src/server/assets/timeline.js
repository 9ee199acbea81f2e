// A flow run's timeline: one row per task run (and subflow run), a bar from its start to its
// end (or to now while it runs), colored by state, on a shared time axis from the flow run's
// start. Plain positioned elements, so every bar is a link with a text label.
import { fmtDuration, h, runDuration, taskRunHref, runHref } from "./dom.js";

export function timeline(flowRun, taskRuns, subflowRuns, now = Date.now()) {
  const items = [
    ...taskRuns.map((t) => ({ run: t, kind: "task", href: taskRunHref(t.id) })),
    ...subflowRuns.map((f) => ({ run: f, kind: "subflow", href: runHref(f.id) })),
  ].sort((a, b) => (a.run.startTime ?? a.run.created) - (b.run.startTime ?? b.run.created));
  if (items.length === 0) return h("p", { class: "muted" }, "No task runs.");

  const start = Math.min(flowRun.startTime ?? flowRun.created, ...items.map((i) => i.run.startTime ?? i.run.created));
  const endOf = (r) => r.endTime ?? (r.startTime !== null && r.durationMs !== null ? Math.max(r.startTime + r.durationMs, now) : null);
  const end = Math.max(
    flowRun.endTime ?? now,
    ...items.map((i) => endOf(i.run) ?? i.run.created),
    start + 1,
  );
  const span = end - start;
  const pct = (t) => `${(((t - start) / span) * 100).toFixed(3)}%`;

  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    h("span", { class: "tick", style: { left: `${f * 100}%` } }, fmtDuration(f * span)),
  );
  const rows = items.map(({ run, kind, href }) => {
    const s = run.startTime;
    const e = endOf(run) ?? s ?? run.created;
    const label = h("a", { href, "data-link": true, class: "tl-label", title: run.name }, run.name);
    let bar;
    if (s === null) {
      bar = h("span", { class: "tl-pending", style: { left: pct(run.created) } }, `${run.state.name} – not started`);
    } else {
      bar = h(
        "a",
        {
          href, "data-link": true,
          class: `tl-bar state-${run.state.type.toLowerCase()}${kind === "subflow" ? " subflow" : ""}`,
          style: { left: pct(s), width: `max(3px, ${(((e - s) / span) * 100).toFixed(3)}%)` },
          title: `${run.name}: ${run.state.name}, ${runDuration(run)}`,
          dataset: { name: run.name, state: run.state.type },
          "aria-label": `${run.name}: ${run.state.name}, ${runDuration(run)}`,
        },
        h("span", { class: "tl-bar-text" }, runDuration(run)),
      );
    }
    return h("div", { class: "tl-row", dataset: { kind } }, label, h("div", { class: "tl-track" }, bar));
  });
  return h(
    "div",
    { class: "timeline", role: "group", "aria-label": "Timeline of task runs" },
    h("div", { class: "tl-row tl-axis" }, h("span", { class: "tl-label muted" }, "since start"), h("div", { class: "tl-track" }, ticks)),
    rows,
  );
}
