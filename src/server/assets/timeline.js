// A flow run's timeline on a shared time axis from its start. At most the API's TIMELINE_ROWS
// runs get a row of their own (a bar from start to end, or to now while it runs, colored by
// state; a retried run shows each attempt, failed ones marked ↻); when that is not all of them,
// an overview first draws one lane per group, counting every run by when it started. Plain
// positioned elements: every bar is a link with a text label.
import { fmtCount, fmtDateTime, fmtDuration, h, runDuration, taskRunHref, runHref } from "./dom.js";
import { countsText, STATE_ORDER } from "./groups.js";

/** @param tl the overview's `timeline` { rows, total, from, bucketMs, lanes } */
export function timeline(flowRun, tl, now = Date.now()) {
  const items = tl.rows;
  if (items.length === 0) return h("p", { class: "muted" }, "No task runs.");

  const endOf = (r) => r.endTime ?? (r.startTime !== null && r.durationMs !== null ? Math.max(r.startTime + r.durationMs, now) : null);
  const lanes = tl.lanes ?? [];
  const start = Math.min(flowRun.startTime ?? flowRun.created, ...items.map((i) => i.startTime ?? i.created), lanes.length ? tl.from : Infinity);
  const end = Math.max(
    flowRun.endTime ?? now,
    ...items.map((i) => endOf(i) ?? i.created),
    lanes.length ? tl.from + tl.bucketMs * (lanes[0]?.buckets.length ?? 0) : 0,
    start + 1,
  );
  const span = end - start;
  const pct = (t) => `${(((t - start) / span) * 100).toFixed(3)}%`;
  const width = (a, b) => `max(3px, ${(((b - a) / span) * 100).toFixed(3)}%)`;

  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    h("span", { class: "tick", style: { left: `${f * 100}%` } }, fmtDuration(f * span)),
  );

  const laneRows = lanes.map((lane) => {
    const max = Math.max(1, ...lane.buckets.map((b) => Object.values(b).reduce((a, n) => a + n, 0)));
    const cols = lane.buckets.map((b, i) => {
      const n = Object.values(b).reduce((a, c) => a + c, 0);
      if (n === 0) return null;
      const t0 = tl.from + i * tl.bucketMs;
      return h(
        "span",
        {
          class: "lane-col",
          style: { left: pct(t0), width: width(t0, t0 + tl.bucketMs), height: `${Math.max(12, (n / max) * 100)}%` },
          title: `${fmtCount(n)} started ${fmtDuration(t0 - start)}–${fmtDuration(t0 + tl.bucketMs - start)} after the start: ${countsText(b)}`,
        },
        STATE_ORDER.filter((t) => b[t]).map((t) => h("span", { class: `state-${t.toLowerCase()}`, style: { flex: String(b[t]) } })),
      );
    });
    return h(
      "div",
      { class: "tl-row tl-lane", dataset: { key: lane.taskKey } },
      h("span", { class: "tl-label", title: `${lane.taskName}: ${fmtCount(lane.total)} runs` }, `${lane.taskName} × ${fmtCount(lane.total)}`),
      h("div", { class: "tl-track lane-track" }, cols),
    );
  });

  const rows = items.map((run) => {
    const href = run.kind === "subflow" ? runHref(run.id) : taskRunHref(run.id);
    const s = run.startTime;
    const e = endOf(run) ?? s ?? run.created;
    const label = h("a", { href, "data-link": true, class: "tl-label", title: run.name }, run.name);
    let bar;
    if (s === null) {
      bar = h("span", { class: "tl-pending", style: { left: pct(run.created) } }, `${run.state.name} – not started`);
    } else {
      const attempts = run.attempts && run.attempts.length > 1 ? run.attempts : null;
      const text = `${run.name}: ${run.state.name}, ${runDuration(run)}${attempts ? `, ${attempts.length} attempts` : ""}`;
      bar = h(
        "a",
        {
          href, "data-link": true,
          class: `tl-bar state-${run.state.type.toLowerCase()}${run.kind === "subflow" ? " subflow" : ""}${attempts ? " retried" : ""}`,
          style: { left: pct(s), width: width(s, e) },
          title: text,
          dataset: { name: run.name, state: run.state.type },
          "aria-label": text,
        },
        attempts ? attemptSegments(attempts, s, e, run, now) : null,
        h("span", { class: "tl-bar-text" }, attempts ? `↻ ${runDuration(run)}` : runDuration(run)),
      );
    }
    return h("div", { class: "tl-row", dataset: { kind: run.kind } }, label, h("div", { class: "tl-track" }, bar));
  });

  const capped = items.length < tl.total;
  return h(
    "div",
    { class: "timeline", role: "group", "aria-label": "Timeline of task runs" },
    h("div", { class: "tl-row tl-axis" }, h("span", { class: "tl-label muted" }, "since start"), h("div", { class: "tl-track" }, ticks)),
    laneRows.length ? [h("p", { class: "tl-note muted small" }, `All ${fmtCount(tl.total)} runs by start time, one lane per task:`), laneRows] : null,
    capped
      ? h("p", { class: "tl-note muted small" }, `${fmtCount(items.length)} of ${fmtCount(tl.total)} runs, one row each: those running, not completed or retried first, then the first ones.`)
      : null,
    rows,
  );
}

/** A retried run's attempts inside its bar: each attempt a segment, a failed one (retried) marked. */
function attemptSegments(attempts, s, e, run, now) {
  const span = Math.max(1, e - s);
  return attempts.map((a, i) => {
    const aEnd = a.end ?? Math.max(now, a.start);
    const retried = a.outcome !== null && i < attempts.length - 1;
    return h("span", {
      class: `tl-attempt ${retried ? "state-failed" : `state-${run.state.type.toLowerCase()}`}`,
      style: { left: `${(((a.start - s) / span) * 100).toFixed(3)}%`, width: `max(2px, ${(((aEnd - a.start) / span) * 100).toFixed(3)}%)` },
      title: `Attempt ${i + 1}: ${fmtDateTime(a.start)}, ${fmtDuration(aEnd - a.start)}${a.outcome ? ` → ${a.outcome}` : " (running)"}`,
      dataset: { attempt: String(i + 1) },
    });
  });
}
