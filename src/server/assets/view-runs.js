// The flow runs list: filters kept in the address (so a filtered list is a link), newest first,
// refreshed every few seconds.
import {
  api, h, link, poller, relTime, replace, runDuration, runHref, setLive, stateBadge, table, tagChips,
} from "./dom.js";

const STATES = ["Completed", "Failed", "Running", "Pending", "Scheduled", "Crashed", "Cancelled", "Cached", "TimedOut"];
const RANGES = [["", "Any time"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const RANGE_MS = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };
const PAGE = 50;
const REFRESH_MS = 2000;

function taskCounts(counts) {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  if (entries.length === 0) return h("span", { class: "muted" }, "0");
  return h(
    "span",
    { class: "counts" },
    entries.map(([type, n]) => h("span", { class: `count state-${type.toLowerCase()}`, title: `${n} ${type.toLowerCase()}` }, String(n))),
  );
}

export function runsView(main) {
  const params = new URLSearchParams(location.search);
  const filters = {
    state: params.get("state") ?? "",
    flow: params.get("flow") ?? "",
    tag: params.get("tag") ?? "",
    range: RANGE_MS[params.get("range")] ? params.get("range") : "",
  };
  let limit = PAGE;
  let last = "";
  const flowNames = new Set();

  const input = (name, label, placeholder) =>
    h("label", null, label, h("input", { name, type: "search", value: filters[name], placeholder, list: name === "flow" ? "flow-names" : null, autocomplete: "off" }));
  const form = h(
    "form",
    { class: "filters", role: "search", on: { submit: (e) => e.preventDefault(), input: onChange, change: onChange } },
    h("label", null, "State", h("select", { name: "state" }, h("option", { value: "" }, "Any state"), STATES.map((s) => h("option", { value: s, selected: s === filters.state }, s)))),
    input("flow", "Flow", "any flow"),
    input("tag", "Tag", "any tag"),
    h("label", null, "Started", h("select", { name: "range" }, RANGES.map(([v, t]) => h("option", { value: v, selected: v === filters.range }, t)))),
  );
  const datalist = h("datalist", { id: "flow-names" });
  const results = h("div", { class: "results" });
  const more = h("button", { type: "button", class: "more", hidden: true, on: { click: () => { limit += PAGE; poll.kick(); } } }, "Show more");
  replace(main, h("div", { class: "page-head" }, h("h1", null, "Flow runs")), h("section", { class: "card" }, form, datalist, results, more));

  let debounce;
  function onChange() {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const data = new FormData(form);
      for (const k of Object.keys(filters)) filters[k] = String(data.get(k) ?? "").trim();
      const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
      history.replaceState(null, "", q.size ? `/runs?${q}` : "/runs");
      limit = PAGE;
      last = "";
      poll.kick();
    }, 150);
  }

  async function refresh() {
    const q = new URLSearchParams({ limit: String(limit) });
    if (filters.state) q.set("state", filters.state);
    if (filters.flow) q.set("flow", filters.flow);
    if (filters.tag) q.set("tag", filters.tag);
    if (filters.range) q.set("since", String(Date.now() - RANGE_MS[filters.range]));
    const { flowRuns } = await api(`/api/flow-runs?${q}`);
    setLive(`Updated ${new Date().toLocaleTimeString()}`);
    // durations of running runs change every time; compare the rest
    const key = JSON.stringify(flowRuns.map((r) => [r.id, r.state, r.taskCounts, r.endTime, r.durationMs !== null && r.endTime === null ? Math.floor(r.durationMs / 1000) : 0]));
    if (key === last) return;
    last = key;
    for (const r of flowRuns) {
      if (!flowNames.has(r.flowName)) {
        flowNames.add(r.flowName);
        datalist.append(h("option", { value: r.flowName }));
      }
    }
    more.hidden = flowRuns.length < limit;
    if (flowRuns.length === 0) {
      const filtered = Object.values(filters).some(Boolean);
      replace(results,
        h("p", { class: "empty" }, filtered ? "No flow runs match these filters." : "No flow runs yet. Run a flow with ", filtered ? null : h("code", null, "flowctl run FILE"), filtered ? null : "."),
      );
      return;
    }
    replace(results,
      table(
        [
          ["Name", (r) => [
            link(runHref(r.id), r.name, { class: "run-link" }),
            r.parentFlowRunId ? [" ", link(runHref(r.parentFlowRunId), "subflow", { class: "sub-chip", title: "a subflow run: open its parent" })] : null,
          ]],
          // the state right after the name, so a phone's width shows it
          ["State", (r) => stateBadge(r.state)],
          ["Flow", (r) => r.flowName, "hide-narrow"],
          ["Tags", (r) => tagChips(r.tags), "hide-narrow"],
          ["Start", (r) => relTime(r.startTime ?? r.created)],
          ["Duration", (r) => runDuration(r), "num"],
          ["Task runs", (r) => taskCounts(r.taskCounts), "hide-narrow"],
        ],
        flowRuns,
        { class: "runs-table", rowData: (r) => ({ id: r.id, state: r.state.type }) },
      ),
    );
  }

  const poll = poller(refresh, REFRESH_MS);
  return () => {
    poll.stop();
    clearTimeout(debounce);
  };
}
