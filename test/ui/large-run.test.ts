/**
 * The web UI on a flow run of 100,000 task runs, in a real browser (Debian's Chromium through
 * playwright-core). The rows are seeded straight into a SQLite store with SQL (a second, not a
 * run of 100,000 tasks): getUrl × 90,000 (30 failed, every 97th retried once, the last 20
 * running), parsePage × 9,000, saveBatch × 1,000, and 20,000 log lines; the flow run is Running
 * in this process, so the page keeps polling. Checked: the groups, the paged table, a group's
 * pages, the capped timeline with its lanes and a retried run's attempts, the logs tail first
 * and paged back, polls (an unchanged one is a few bytes; a change arrives), the phone layouts
 * (390 px), the older subflow runs of a flow run of 250 read on demand, and a task run's 250
 * upstream runs paged. First render and poll sizes are printed, never asserted on time.
 *
 * UPDATE_SCREENSHOTS=1 writes the README's screenshots of this page to docs/screenshots/.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type Page, type Response } from "playwright-core";
import { ROOT } from "../support/cli.ts";
import { launchChromium, SKIP_NO_CHROMIUM } from "../support/browser.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { seedLargeRun, TOTAL } from "./large-run-seed.ts";
import { batch, flowRow, taskRow } from "../unit/server-rows.ts";

const SKIP = SKIP_NO_CHROMIUM;
const SHOTS = process.env.UPDATE_SCREENSHOTS ? join(ROOT, "docs/screenshots") : mkdtempSync(join(tmpdir(), "flowctl-shots-"));

let dir: string;
let store: SqliteStore;
let server: RunningServer;
let browser: BrowserContext;
let page: Page;
const problems: string[] = [];
const polls: { url: string; encoded: number; raw: number; unchanged: boolean }[] = [];

const isPoll = (url: string) => /\/overview\?since=/.test(url);

describe("web UI: a flow run of 100,000 task runs", { skip: SKIP }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "flowctl-ui-large-"));
    mkdirSync(SHOTS, { recursive: true });
    store = new SqliteStore(join(dir, "flowctl.db"));
    const t0 = performance.now();
    seedLargeRun(store.database);
    console.log(`# seeded ${TOTAL} task runs and 20,000 log lines in ${Math.round(performance.now() - t0)} ms`);
    server = await startServer({ store, port: 0 });
    browser = await launchChromium(dir, { width: 1280, height: 900 });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(20_000);
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("response", (res: Response) => {
      if (!isPoll(res.url())) return;
      void (async () => {
        const body = await res.body().catch(() => undefined);
        const sizes = await res.request().sizes().catch(() => undefined);
        if (!body || !sizes) return;
        polls.push({ url: res.url(), encoded: sizes.responseBodySize, raw: body.length, unchanged: JSON.parse(body.toString()).unchanged === true });
      })();
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
  });

  test("first render: groups, the first page of task runs, the capped timeline, the log tail", async () => {
    await page.goto(`${server.url}/runs/big`);
    await page.locator(".task-runs tbody tr").first().waitFor();
    await page.locator(".groups .group").first().waitFor();
    await page.locator(".timeline .tl-bar").first().waitFor();
    await page.locator(".logs .log").first().waitFor();
    const firstRender = await page.evaluate(() => Math.round(performance.now()));
    const dom = await page.evaluate(() => ({ nodes: document.querySelectorAll("*").length, height: document.documentElement.scrollHeight }));
    console.log(`# first render of the 100,000-task-run page: ${firstRender} ms after navigation start; ${dom.nodes} elements, ${dom.height} px tall`);
    assert.ok(dom.nodes < 6000, `bounded DOM: ${dom.nodes} elements`);

    const groups = (await page.locator(".groups .group > summary").allTextContents()).map((t) => t.replace(/\s+/g, " "));
    assert.equal(groups.length, 3);
    assert.match(groups[0]!, /^getUrl × 90,000: 89,950 Completed, 30 Failed, 20 Running · 928 retried/);
    assert.match(groups[1]!, /^parsePage × 9,000: 9,000 Completed/);
    assert.match(groups[2]!, /^saveBatch × 1,000: 1,000 Completed/);
    assert.equal(await page.locator("h2", { hasText: "Task runs (100,000)" }).count(), 1);
    assert.match(await page.locator(".notice.error h2").innerText(), /^Not completed \(30\)$/);
    assert.equal(await page.locator(".notice.error li").count(), 5);

    assert.equal(await page.locator(".task-runs tbody tr").count(), 100);
    assert.equal(await page.locator(".task-table .pager-info").first().innerText(), "1–100 of 100,000");

    const bars = await page.locator(".timeline .tl-bar").count();
    assert.ok(bars > 0 && bars <= 30, `timeline rows capped: ${bars}`);
    assert.equal(await page.locator(".timeline .tl-bar.state-running").count(), 10, "runs going on have rows");
    assert.equal(await page.locator(".timeline .tl-lane").count(), 3, "one overview lane per task");
    const retried = page.locator(".timeline .tl-bar.retried").first();
    assert.equal(await retried.locator(".tl-attempt").count(), 2, "a retried run shows both attempts");
    assert.equal(await retried.locator(".tl-attempt.state-failed").count(), 1);
    assert.match(await page.locator(".timeline .tl-note").last().innerText(), /^\d+ of 100,000 runs, one row each/);

    assert.equal(await page.locator(".logs .log").count(), 200, "the log tail");
    assert.equal(await page.locator(".logs .log .log-msg").last().innerText(), "Fetched https://example.com/page/99995 (20999 bytes)");
    await page.screenshot({ path: join(SHOTS, "flow-run-100k.png"), fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1250 } });
  });

  test("paging: the table, a group's runs, the failed ones, earlier log lines", async () => {
    const table = page.locator(".card > div > .task-table").first();
    await table.scrollIntoViewIfNeeded();
    await table.locator("button[aria-label='Next page']").click();
    await page.waitForFunction(() => document.querySelector(".task-table .pager-info")?.textContent === "101–200 of 100,000");
    assert.equal(await table.locator(".task-runs tbody tr a.task-link").first().innerText(), "getUrl-100");
    await table.locator("button[aria-label='Last page']").click();
    await page.waitForFunction(() => document.querySelector(".task-table .pager-info")?.textContent === "99,901–100,000 of 100,000");
    assert.equal(await table.locator(".task-runs tbody tr a.task-link").last().innerText(), "saveBatch-999");

    const save = page.locator(".group", { has: page.locator("summary", { hasText: "saveBatch" }) });
    await save.locator("summary").click();
    await save.locator(".group-runs tbody tr").first().waitFor();
    assert.equal(await save.locator(".group-runs tbody tr").count(), 50);
    assert.equal(await save.locator(".pager-info").innerText(), "1–50 of 1,000");
    await save.locator("button[aria-label='Last page']").click();
    await page.waitForFunction(() => document.querySelector(".group[open] .pager-info")?.textContent === "951–1,000 of 1,000");

    await page.locator("select[name=task-state]").selectOption({ label: "Not completed" });
    await page.waitForFunction(() => document.querySelector(".card > div > .task-table .pager-info")?.textContent === "1–30 of 30");
    const states = await table.locator(".task-runs tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.state));
    assert.deepEqual(new Set(states), new Set(["FAILED"]));

    await page.locator("button.logs-earlier").click();
    await page.waitForFunction(() => document.querySelectorAll(".logs .log").length === 400);
    assert.equal(await page.locator(".logs .log .log-msg").first().innerText(), "Fetched https://example.com/page/98000 (20600 bytes)");
  });

  test("polls: unchanged ones are a few bytes; a change shows up in place", async () => {
    // two polls with nothing new
    await page.waitForFunction(() => true);
    for (let i = 0; i < 200 && polls.filter((p) => p.unchanged).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const quiet = polls.filter((p) => p.unchanged);
    assert.ok(quiet.length >= 2, `unchanged polls seen: ${JSON.stringify(polls)}`);
    for (const p of quiet) assert.ok(p.raw < 50_000 && p.encoded < 50_000, `poll under 50 KB: ${JSON.stringify(p)}`);
    console.log(`# unchanged poll: ${quiet[0]!.encoded} bytes on the wire, ${quiet[0]!.raw} bytes of JSON`);

    const at = Date.now();
    const row = store.database.prepare("SELECT * FROM task_runs WHERE id = 'tr-089999'").get() as Record<string, unknown>;
    assert.equal(row.state_type, "RUNNING");
    await store.writeBatch({
      flowRuns: [], states: [], inputs: [],
      taskRuns: [{
        id: "tr-089999", name: "getUrl-89999", taskName: "getUrl", taskKey: "getUrl-3f9a2c", flowRunId: "big", parentTaskRunId: null,
        parameters: String(row.parameters), tags: '["crawl"]', stateType: "FAILED", stateName: "Failed", stateMessage: "HTTPError: 500 (late)",
        runCount: 1, cacheKey: null, created: Number(row.created), startTime: Number(row.start_time), endTime: at, updated: at,
      }],
      logs: [{ flowRunId: "big", taskRunId: "tr-089999", level: 40, source: "Task run 'getUrl-89999'", message: "getUrl-89999 failed: HTTPError: 500 (late)", timestamp: at }],
    });
    await page.locator(".logs .log-msg", { hasText: "getUrl-89999 failed" }).waitFor();
    await page.waitForFunction(() => /31 Failed, 19 Running/.test(document.querySelector(".group > summary")?.textContent ?? ""));
    await page.waitForFunction(() => document.querySelector(".card > div > .task-table .pager-info")?.textContent === "1–31 of 31");
    const changed = polls.filter((p) => !p.unchanged);
    assert.ok(changed.length >= 1);
    console.log(`# changed poll (1 task run, 1 log line): ${changed[0]!.encoded} bytes on the wire, ${changed[0]!.raw} bytes of JSON`);
  });

  test("a phone (390 px): the page fits; the runs list shows the State column; the dashboard shows the newest bars", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.goto(`${server.url}/runs/big`);
      await page.locator(".task-runs tbody tr").first().waitFor();
      await page.locator(".timeline .tl-bar").first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page fits a phone's width (overflow ${overflow}px)`);
      const badge = await page.locator(".task-runs tbody tr .badge").first().boundingBox();
      assert.ok(badge && badge.x + badge.width <= 390, `task-run state visible: ${JSON.stringify(badge)}`);
      await page.screenshot({ path: join(SHOTS, "flow-run-100k-phone.png"), fullPage: true, clip: { x: 0, y: 0, width: 390, height: 1500 } });

      await page.goto(`${server.url}/runs`);
      const state = page.locator(".runs-table tbody tr .badge").first();
      await state.waitFor();
      const box = await state.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the State column is on screen: ${JSON.stringify(box)}`);
      assert.equal(await page.locator(".runs-table th", { hasText: "State" }).isVisible(), true);
      assert.match(await page.locator(".runs-table time.rel").first().innerText(), /^2\d min ago$/);
      assert.match(String(await page.locator(".runs-table time.rel").first().getAttribute("title")), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

      await page.goto(`${server.url}/dashboard`);
      await page.locator(".chart .seg").first().waitFor();
      const last = await page.locator(".chart .chart-col").last().boundingBox();
      assert.ok(last && last.x + last.width <= 390 && last.x >= 0, `the newest bar is on screen: ${JSON.stringify(last)}`);
      const seg = await page.locator(".chart .seg").last().boundingBox();
      assert.ok(seg && seg.x + seg.width <= 390 && seg.x >= 0, `the bar of the running flow run is on screen: ${JSON.stringify(seg)}`);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    assert.deepEqual(problems, [], "no page errors and no CSP violations");
  });

  test("a flow run of 250 subflow runs: the newest 100, older ones 100 at a time on demand", async () => {
    const at = Date.now() - 3_600_000;
    await store.writeBatch(batch({
      flowRuns: [
        flowRow("fan", at, { name: "fan-out", flowName: "fan" }),
        ...Array.from({ length: 250 }, (_, i) => flowRow(`fan-sub-${i}`, at + 10 + i, { name: `child-${i}`, flowName: "child", parentFlowRunId: "fan" })),
      ],
    }));
    await page.goto(`${server.url}/runs/fan`);
    const rows = page.locator(".subflow-runs tbody tr");
    const title = page.locator("h2", { hasText: "Subflow runs" });
    await title.waitFor();
    assert.equal(await title.innerText(), "Subflow runs (100+)");
    assert.equal(await rows.count(), 100);
    assert.equal(await rows.first().locator("a").innerText(), "child-150");
    await page.locator("button.subflows-older").click();
    await page.waitForFunction(() => document.querySelectorAll(".subflow-runs tbody tr").length === 200);
    assert.equal(await title.innerText(), "Subflow runs (200+)");
    await page.locator("button.subflows-older").click();
    await page.waitForFunction(() => document.querySelectorAll(".subflow-runs tbody tr").length === 250);
    assert.equal(await title.innerText(), "Subflow runs (250)");
    assert.equal(await page.locator("button.subflows-older").count(), 0, "nothing older is left");
    const names = await rows.locator("td:first-child a").allInnerTexts();
    assert.deepEqual(names, Array.from({ length: 250 }, (_, i) => `child-${i}`), "every subflow run once, oldest first");
    assert.deepEqual(problems, [], "no page errors");
  });

  test("a task run that reduces 250 mapped runs: its upstream runs 100 at a time", async () => {
    const { taskRuns } = await store.pageTaskRuns({ flowRunId: "big", limit: 250 });
    const at = Date.now() - 60_000;
    await store.writeBatch(batch({
      taskRuns: [taskRow("reduce-1", "fan", at, { name: "merge-0", taskName: "merge" })],
      inputs: taskRuns.map((t) => ({ taskRunId: "reduce-1", upstreamTaskRunId: t.id, parameter: "pages" })),
    }));
    await page.goto(`${server.url}/task-runs/reduce-1`);
    const title = page.locator("h2", { hasText: "Upstream runs" });
    await title.waitFor();
    assert.equal(await title.innerText(), "Upstream runs (250)");
    const rows = page.locator(".upstream tbody tr");
    const info = page.locator(".upstream-pager .pager-info");
    assert.equal(await info.innerText(), "1–100 of 250");
    assert.equal(await rows.count(), 100);
    const seen = new Set(await rows.locator("td:nth-child(2) a").allInnerTexts());
    const next = page.locator(".upstream-pager button", { hasText: "Next" });
    for (const want of ["101–200 of 250", "201–250 of 250"]) {
      await next.click();
      await page.waitForFunction((w) => document.querySelector(".upstream-pager .pager-info")?.textContent === w, want);
      for (const n of await rows.locator("td:nth-child(2) a").allInnerTexts()) seen.add(n);
    }
    assert.equal(seen.size, 250, "every upstream run on one of the pages");
    assert.equal(await next.isDisabled(), true);
    await page.locator(".upstream-pager button", { hasText: "Previous" }).click();
    await page.waitForFunction(() => document.querySelector(".upstream-pager .pager-info")?.textContent === "101–200 of 250");
    assert.deepEqual(problems, [], "no page errors");
  });
});
