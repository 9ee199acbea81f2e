// The dashboard: flow runs per state over time (stacked bars), failure rate, task-run totals
// and the slowest tasks, over a chosen window.
import { api, fmtDuration, h, link, poller, replace, section, setLive, table } from "./dom.js";

const WINDOWS = [["24h", "Last 24 hours", 86_400_000, 3_600_000], ["7d", "Last 7 days", 7 * 86_400_000, 6 * 3_600_000], ["30d", "Last 30 days", 30 * 86_400_000, 86_400_000]];
const ORDER = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED", "RUNNING", "PENDING", "SCHEDULED", "PAUSED", "CANCELLING"];
const REFRESH_MS = 5000;

function stat(label, value, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("span", { class: "stat-value" }, value), h("span", { class: "stat-label" }, label));
}

function bucketLabel(ms, bucketMs) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return bucketMs >= 86_400_000 ? `${d.getMonth() + 1}/${d.getDate()}` : bucketMs >= 6 * 3_600_000 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
}

function chart(d) {
  const max = Math.max(1, ...d.buckets.map((b) => Object.values(b.counts).reduce((a, n) => a + n, 0)));
  const every = Math.ceil(d.buckets.length / 8);
  const present = ORDER.filter((t) => d.buckets.some((b) => b.counts[t]));
  return h(
    "div",
    { class: "chart-wrap" },
    h(
      "div",
      { class: "chart", role: "img", "aria-label": `Flow runs per state, ${d.buckets.length} intervals, at most ${max} in one` },
      h("div", { class: "chart-max muted" }, String(max)),
      d.buckets.map((b, i) => {
        const total = Object.values(b.counts).reduce((a, n) => a + n, 0);
        return h(
          "div",
          { class: "chart-col", title: `${bucketLabel(b.start, d.bucketMs)}: ${total} run(s)` + ORDER.filter((t) => b.counts[t]).map((t) => `, ${b.counts[t]} ${t.toLowerCase()}`).join("") },
          h("div", { class: "chart-stack", style: { height: `${(total / max) * 100}%` } },
            ORDER.filter((t) => b.counts[t]).map((t) => h("div", { class: `seg state-${t.toLowerCase()}`, style: { flex: String(b.counts[t]) } }))),
          h("span", { class: "chart-x" }, i % every === 0 ? bucketLabel(b.start, d.bucketMs) : ""),
        );
      }),
    ),
    h("div", { class: "legend" }, present.length ? present.map((t) => h("span", { class: "legend-item" }, h("span", { class: `swatch state-${t.toLowerCase()}` }), t.toLowerCase())) : h("span", { class: "muted" }, "No flow runs in this window.")),
  );
}

export function dashboardView(main) {
  const params = new URLSearchParams(location.search);
  let win = WINDOWS.find(([k]) => k === params.get("window")) ?? WINDOWS[0];
  const select = h(
    "select",
    { name: "window", "aria-label": "Window", on: { change: () => {
      win = WINDOWS.find(([k]) => k === select.value);
      history.replaceState(null, "", `/dashboard?window=${win[0]}`);
      last = "";
      poll.kick();
    } } },
    WINDOWS.map(([k, label]) => h("option", { value: k, selected: k === win[0] }, label)),
  );
  const body = h("div", { class: "stack" });
  replace(main, h("div", { class: "page-head row" }, h("h1", null, "Dashboard"), select), body);
  let last = "";

  async function refresh() {
    const now = Date.now();
    const since = Math.floor((now - win[2]) / win[3]) * win[3];
    const d = await api(`/api/dashboard?since=${since}&bucket=${win[3]}`);
    setLive(`Updated ${new Date().toLocaleTimeString()}`);
    const key = JSON.stringify({ ...d, until: 0 });
    if (key === last) return;
    last = key;
    const f = d.flowRuns;
    const rate = d.failureRate === null ? "–" : `${(d.failureRate * 100).toFixed(1)}%`;
    replace(body,
      h(
        "div",
        { class: "stats" },
        stat("flow runs", String(f.total)),
        stat("completed", String(f.byState.COMPLETED ?? 0), "state-text-completed"),
        stat("failed or crashed", String(f.failed), f.failed ? "state-text-failed" : ""),
        stat("failure rate", rate, d.failureRate ? "state-text-failed" : ""),
        stat("running", String(f.byState.RUNNING ?? 0), "state-text-running"),
        stat("task runs", String(d.taskRuns.total)),
      ),
      section("Flow runs per state", chart(d)),
      section(
        "Slowest tasks",
        d.slowestTasks.length
          ? table(
            [
              ["Task", (t) => t.taskName],
              ["Runs", (t) => String(t.runs), "num"],
              ["Mean", (t) => fmtDuration(t.meanMs), "num"],
              ["Longest", (t) => fmtDuration(t.maxMs), "num"],
            ],
            d.slowestTasks,
            { class: "slowest" },
          )
          : h("p", { class: "muted" }, "No finished task runs in this window."),
        h("p", { class: "muted small" }, "Failure rate: failed or crashed flow runs among finished ones. ", link("/runs?state=Failed", "Failed runs")),
      ),
    );
    // the newest bars are the ones to see: a chart wider than the screen starts scrolled to its end
    const wrap = body.querySelector(".chart-wrap");
    if (wrap) wrap.scrollLeft = wrap.scrollWidth;
  }

  const poll = poller(refresh, REFRESH_MS);
  return () => poll.stop();
}
