// A run's page (flow run or task run): a head, a body and the run's logs, refreshed while the
// run is going (re-rendered only when the data changed); the logs follow the run.
import { api, errorBox, h, isFinal, poller, replace, setLive } from "./dom.js";
import { logsPanel } from "./logs.js";

const REFRESH_MS = 1500;

/**
 * @param {HTMLElement} main
 * @param {{ apiPath: string | (() => string), runOf: (d: any) => any, logsPath: (run: any) => string,
 *           render: (d: any, head: HTMLElement, body: HTMLElement) => void }} page
 * @returns {(() => void) & { refresh: () => void }} stops the refreshes; `refresh()` reads the
 *   run again now (after the page changed what `apiPath` asks for)
 */
export function runPage(main, { apiPath, runOf, logsPath, render }) {
  const head = h("div", { class: "page-head" });
  const body = h("div", { class: "stack" });
  const logsSection = h("section", { class: "card" }, h("h2", null, "Logs"));
  replace(main, head, body, logsSection);
  let logs;
  let last = "";

  async function refresh() {
    let d;
    try {
      d = await api(typeof apiPath === "function" ? apiPath() : apiPath);
    } catch (err) {
      replace(main, errorBox(err));
      return false;
    }
    setLive(`Updated ${new Date().toLocaleTimeString()}`);
    const run = runOf(d);
    document.title = `${run.name} · flowctl`;
    if (!logs) {
      logs = logsPanel(logsPath(run), { follow: !isFinal(run.state) });
      logsSection.append(logs.el);
    }
    const key = JSON.stringify(d);
    if (key !== last) {
      last = key;
      render(d, head, body);
    }
    return !isFinal(run.state);
  }

  const poll = poller(refresh, REFRESH_MS);
  const stop = () => {
    poll.stop();
    logs?.stop();
  };
  stop.refresh = () => poll.kick();
  return stop;
}
