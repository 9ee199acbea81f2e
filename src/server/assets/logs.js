// A run's logs: a level filter and "follow", which keeps asking for lines newer than the last
// one shown and scrolls along while the run goes on.
import { api, fmtClock, h, poller } from "./dom.js";

const LEVELS = [["DEBUG", 10], ["INFO", 20], ["WARNING", 30], ["ERROR", 40], ["CRITICAL", 50]];
const FOLLOW_MS = 1000;

/** `base`: `/api/flow-runs/ID/logs` or `/api/task-runs/ID/logs`. Returns { el, stop(), setFollow(on) }. */
export function logsPanel(base, { follow = false } = {}) {
  const params = new URLSearchParams(location.search);
  let level = LEVELS.find(([name]) => name === params.get("level")) ? params.get("level") : "DEBUG";
  let lastId = 0;
  let poll;

  const list = h("ol", { class: "logs", "aria-label": "Log lines" });
  const empty = h("p", { class: "muted logs-empty" }, "No log lines.");
  const levelSelect = h(
    "select",
    { name: "level", "aria-label": "Lowest level", on: { change: () => { level = levelSelect.value; reload(); } } },
    LEVELS.map(([name]) => h("option", { value: name, selected: name === level }, name === "DEBUG" ? "All levels" : `${name} and above`)),
  );
  const followBox = h("input", { type: "checkbox", name: "follow", checked: follow, on: { change: () => setFollow(followBox.checked) } });
  const controls = h(
    "div",
    { class: "log-controls" },
    h("label", null, "Level ", levelSelect),
    h("label", { class: "check" }, followBox, " Follow"),
  );
  const el = h("div", { class: "logs-panel" }, controls, empty, list);

  function row(l) {
    return h(
      "li",
      { class: `log level-${l.levelName.toLowerCase()}`, dataset: { id: String(l.id) } },
      h("time", { datetime: new Date(l.timestamp).toISOString() }, fmtClock(l.timestamp)),
      h("span", { class: "log-level" }, l.levelName),
      h("span", { class: "log-source" }, l.source),
      h("span", { class: "log-msg" }, l.message),
    );
  }

  async function fetchNew() {
    const q = new URLSearchParams({ level, after: String(lastId), limit: "1000" });
    const { logs } = await api(`${base}?${q}`);
    if (logs.length === 0) return;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    list.append(...logs.map(row));
    lastId = logs[logs.length - 1].id;
    empty.hidden = true;
    if (followBox.checked && atBottom) list.scrollTop = list.scrollHeight;
  }

  function reload() {
    poll?.stop();
    list.replaceChildren();
    empty.hidden = false;
    lastId = 0;
    poll = poller(async () => {
      await fetchNew();
      return followBox.checked;
    }, FOLLOW_MS);
  }

  function setFollow(on) {
    if (followBox.checked !== on) followBox.checked = on;
    if (on) {
      list.scrollTop = list.scrollHeight;
      poll?.stop();
      poll = poller(async () => {
        await fetchNew();
        return followBox.checked;
      }, FOLLOW_MS);
    }
  }

  reload();
  return { el, stop: () => poll?.stop(), setFollow };
}
