// A run's logs, tail first: the newest PAGE lines, "Load earlier lines" pages back, and new
// lines are appended as they come, either from the panel's own polling (`after=`) or pushed by
// the page's poll (`feed`). At most MAX_SHOWN lines stay on the page; older ones can be loaded
// again. A level filter; "follow" scrolls along while the run goes on.
import { api, fmtClock, fmtDateTime, h, poller } from "./dom.js";

const LEVELS = [["DEBUG", 10], ["INFO", 20], ["WARNING", 30], ["ERROR", 40], ["CRITICAL", 50]];
const FOLLOW_MS = 1000;
const PAGE = 200;
const MAX_SHOWN = 2000;

/**
 * `base`: `/api/flow-runs/ID/logs` or `/api/task-runs/ID/logs`. With `feed`, the panel does not
 * poll: the page calls `push(lines)` with the lines its own poll got (at `level()` or above).
 * Returns { el, stop(), setFollow(on), push(lines), level() }.
 */
export function logsPanel(base, { follow = false, feed = false } = {}) {
  const params = new URLSearchParams(location.search);
  let level = LEVELS.find(([name]) => name === params.get("level")) ? params.get("level") : "DEBUG";
  let firstId = null;
  let lastId = 0;
  let generation = 0;
  let poll;

  const list = h("ol", { class: "logs", "aria-label": "Log lines" });
  const empty = h("p", { class: "muted logs-empty" }, "No log lines.");
  const earlier = h("button", { type: "button", class: "logs-earlier", hidden: true, on: { click: () => loadEarlier() } }, "Load earlier lines");
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
  const el = h("div", { class: "logs-panel" }, controls, empty, earlier, list);
  const minLevel = () => LEVELS.find(([name]) => name === level)[1];

  function row(l) {
    return h(
      "li",
      { class: `log level-${l.levelName.toLowerCase()}`, dataset: { id: String(l.id) } },
      h("time", { datetime: new Date(l.timestamp).toISOString(), title: fmtDateTime(l.timestamp) }, fmtClock(l.timestamp)),
      h("span", { class: "log-level" }, l.levelName),
      h("span", { class: "log-source" }, l.source),
      h("span", { class: "log-msg" }, l.message),
    );
  }

  /** Keep at most MAX_SHOWN lines, dropping the oldest (they can be loaded again). */
  function trim() {
    let extra = list.childElementCount - MAX_SHOWN;
    if (extra <= 0) return;
    while (extra-- > 0) list.firstElementChild.remove();
    firstId = Number(list.firstElementChild.dataset.id);
    earlier.hidden = false;
  }

  function push(lines) {
    const fresh = lines.filter((l) => l.id > lastId && l.level >= minLevel());
    if (fresh.length === 0) return;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    list.append(...fresh.map(row));
    lastId = fresh[fresh.length - 1].id;
    if (firstId === null) firstId = fresh[0].id;
    empty.hidden = true;
    trim();
    if (followBox.checked && atBottom) list.scrollTop = list.scrollHeight;
  }

  async function loadTail() {
    const mine = ++generation;
    const { logs, more } = await api(`${base}?${new URLSearchParams({ level, tail: "1", limit: String(PAGE) })}`);
    if (mine !== generation) return;
    list.replaceChildren();
    firstId = null;
    lastId = 0;
    empty.hidden = logs.length > 0;
    earlier.hidden = !more;
    push(logs);
    list.scrollTop = list.scrollHeight;
  }

  async function loadEarlier() {
    if (firstId === null) return;
    const mine = generation;
    earlier.disabled = true;
    try {
      const { logs, more } = await api(`${base}?${new URLSearchParams({ level, before: String(firstId), limit: String(PAGE) })}`);
      if (mine !== generation || logs.length === 0) {
        earlier.hidden = !more;
        return;
      }
      const before = list.scrollHeight;
      list.prepend(...logs.map(row));
      // the lines in view stay where they were
      list.scrollTop += list.scrollHeight - before;
      firstId = logs[0].id;
      earlier.hidden = !more;
    } finally {
      earlier.disabled = false;
    }
  }

  function startPolling() {
    poll?.stop();
    if (feed || !followBox.checked) return;
    poll = poller(async () => {
      const { logs } = await api(`${base}?${new URLSearchParams({ level, after: String(lastId), limit: "1000" })}`);
      push(logs);
      return followBox.checked;
    }, FOLLOW_MS);
  }

  function reload() {
    loadTail().then(startPolling, (err) => {
      // a run that is not there is the page's to say
      if (err.status !== 404) console.error(err);
    });
  }

  function setFollow(on) {
    if (followBox.checked !== on) followBox.checked = on;
    if (on) {
      list.scrollTop = list.scrollHeight;
      startPolling();
    }
  }

  reload();
  return { el, stop: () => poll?.stop(), setFollow, push, level: () => level };
}
