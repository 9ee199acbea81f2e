// The flowctl web UI: a small router over real URLs (every page is a link), each view drawn
// from the read-only JSON API under /api.
import { h, link, replace, tickRelativeTimes } from "./dom.js";
import { runsView } from "./view-runs.js";
import { flowRunView } from "./view-flow-run.js";
import { taskRunView } from "./view-task-run.js";
import { dashboardView } from "./view-dashboard.js";

const main = document.getElementById("app");
let dispose = () => {};

function route(path) {
  let m;
  if (path === "/" || path === "/runs" || path === "/runs/") return ["runs", (el) => runsView(el)];
  if ((m = /^\/runs\/([^/]+)\/?$/.exec(path))) return ["runs", (el) => flowRunView(el, decodeURIComponent(m[1]))];
  if ((m = /^\/task-runs\/([^/]+)\/?$/.exec(path))) return ["runs", (el) => taskRunView(el, decodeURIComponent(m[1]))];
  if (path === "/dashboard" || path === "/dashboard/") return ["dashboard", (el) => dashboardView(el)];
  return ["", (el) => {
    replace(el, h("div", { class: "card notice" }, h("h1", null, "Not found"), h("p", null, link("/runs", "Back to the flow runs"))));
    return () => {};
  }];
}

function render() {
  dispose();
  document.title = "flowctl";
  const [nav, view] = route(location.pathname);
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  dispose = view(main) ?? (() => {});
}

document.addEventListener("click", (e) => {
  const a = e.target instanceof Element ? e.target.closest("a[data-link]") : null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) history.pushState(null, "", url.pathname + url.search);
  render();
  window.scrollTo(0, 0);
  main.focus({ preventScroll: true });
});

window.addEventListener("popstate", render);
// "3 min ago" stays true while a page is open
setInterval(() => tickRelativeTimes(), 15_000);
render();
