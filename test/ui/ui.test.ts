/**
 * The web UI in a real browser (Debian's Chromium driven by playwright-core), over runs made by
 * the real CLI: find a run in the list, open it, see its task runs on the timeline and its logs,
 * follow a retried task run, and check that values are shown as text and nothing outside the
 * UI's own files is served. One browser for the whole file.
 *
 * UPDATE_SCREENSHOTS=1 writes the README's screenshots to docs/screenshots/.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type Page } from "playwright-core";
import { runCli, spawnCli, ROOT } from "../support/cli.ts";
import { launchChromium, SKIP_NO_CHROMIUM } from "../support/browser.ts";
import { once } from "node:events";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";

const SKIP = SKIP_NO_CHROMIUM;
const XSS = "<img src=x onerror=alert(1)>";
const HELLO = join(ROOT, "workflows/hello.ts");
const PIPELINE = join(ROOT, "test/ui/fixtures/pipeline.ts");
const SHOTS = process.env.UPDATE_SCREENSHOTS ? join(ROOT, "docs/screenshots") : mkdtempSync(join(tmpdir(), "flowctl-shots-"));
const ENV = { PREFECT_API_DATABASE_CONNECTION_URL: undefined, PREFECT_LOCAL_STORAGE_PATH: undefined, PREFECT_LOGGING_LEVEL: undefined };

let dir: string;
let home: string;
let store: SqliteStore;
let server: RunningServer;
let browser: BrowserContext;
let page: Page;
const dialogs: string[] = [];
const confirms: string[] = [];
let acceptConfirm = false;
const problems: string[] = [];
const runs: Record<"hello" | "pipeline" | "failed", { id: string; name: string }> = {} as never;

async function cli(args: string[], expectCode = 0) {
  const r = await runCli(args, { home, env: ENV });
  assert.equal(r.code, expectCode, `flowctl ${args.join(" ")}\n${r.stderr}`);
  return r;
}

/** A raw GET: the path goes out exactly as written (browsers would normalise `..`). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("web UI in Chromium", { skip: SKIP }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "flowctl-ui-"));
    home = join(dir, "home");
    mkdirSync(SHOTS, { recursive: true });
    await cli(["run", PIPELINE]);
    await cli(["run", PIPELINE, "--param", "failReport=true"], 1);
    await cli(["run", HELLO, "--param", `name=${XSS}`]);
    store = new SqliteStore(join(home, "flowctl.db"));
    for (const r of await store.listFlowRuns({ parentFlowRunId: null })) {
      const key = r.flowName === "hello" ? "hello" : r.stateType === "FAILED" ? "failed" : "pipeline";
      runs[key] = { id: r.id, name: r.name };
    }
    assert.ok(runs.hello && runs.pipeline && runs.failed);
    server = await startServer({ store, port: 0 });
    browser = await launchChromium(dir, { width: 1280, height: 800 });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15_000);
    page.on("dialog", (d) => {
      // the Cancel button's confirmation is expected; any other dialog is a script that ran
      if (d.message().startsWith("Cancel flow run ")) {
        confirms.push(d.message());
        void (acceptConfirm ? d.accept() : d.dismiss());
        return;
      }
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 404/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
  });

  test("find the run in the list, open it: its task runs on the timeline, its logs", async () => {
    await page.goto(`${server.url}/`);
    const row = page.locator(".runs-table tbody tr", { has: page.locator(`a.run-link:text-is("${runs.pipeline.name}")`) });
    await row.waitFor();
    assert.match(await row.innerText(), /Completed\s+etl-pipeline/);
    assert.equal(await page.locator(".runs-table tbody tr").count(), 4, "three flow runs and one subflow run");
    await page.screenshot({ path: join(SHOTS, "runs-list.png"), fullPage: true });

    await row.locator("a.run-link").click();
    await page.waitForURL(`${server.url}/runs/${runs.pipeline.id}`);
    await page.locator("h1", { hasText: runs.pipeline.name }).waitFor();
    assert.equal(await page.locator("h1 .badge").innerText(), "Completed");

    const bars = page.locator(".timeline .tl-bar");
    await bars.first().waitFor();
    const names = await bars.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.name));
    for (const n of ["extract-0", "extract-1", "transform-0", "transform-1", "report-0"]) assert.ok(names.includes(n), `${n} on the timeline: ${names}`);
    assert.equal(names.length, 6, "five task runs and the notify subflow run");
    const widths = await bars.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
    assert.ok(widths.every((w) => w >= 3), `every bar is visible: ${widths}`);
    const report = await page.locator('.tl-bar[data-name="report-0"]').boundingBox();
    const extract = await page.locator('.tl-bar[data-name="extract-0"]').boundingBox();
    assert.ok(report!.x > extract!.x, "report starts after extract on the timeline");
    assert.equal(await page.locator(".task-runs tbody tr").count(), 5);
    assert.equal(await page.locator(".subflow-runs tbody tr").count(), 1);

    await page.locator(".logs .log-msg", { hasText: "Read 3 rows from orders" }).waitFor();
    await page.locator(".logs .log-msg", { hasText: "Pipeline done: 120" }).waitFor();
    await page.locator(".logs .log-msg", { hasText: "Finished in state Completed()" }).first().waitFor();
    await page.screenshot({ path: join(SHOTS, "flow-run.png"), fullPage: true });

    // the level filter keeps only warnings and worse
    await page.selectOption(".logs-panel select[name=level]", "WARNING");
    await page.locator(".logs .log-msg", { hasText: "Total is 120" }).waitFor();
    await page.waitForFunction(() => Array.from(document.querySelectorAll(".logs .log-level")).every((e) => e.textContent !== "INFO"));
  });

  test("a task run page: each retry in its history, upstream run, logs", async () => {
    const retried = (await store.listTaskRuns({ flowRunId: runs.pipeline.id })).find((t) => t.runCount === 2)!;
    assert.ok(retried, "one transform run was retried");
    await page.goto(`${server.url}/runs/${runs.pipeline.id}`);
    await page.locator(`.task-runs a.task-link:text-is("${retried.name}")`).click();
    await page.waitForURL(`${server.url}/task-runs/${retried.id}`);
    await page.locator("h1", { hasText: retried.name }).waitFor();
    const states = await page.locator("table.history tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.state));
    assert.deepEqual(states, ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]);
    const upstream = page.locator("table.upstream a");
    assert.match(await upstream.innerText(), /^extract-[01]$/);
    await page.locator(".logs .log-msg", { hasText: "Transient glitch while transforming - Retry 1/1" }).waitFor();
    await page.screenshot({ path: join(SHOTS, "task-run.png"), fullPage: true });

    await upstream.click();
    await page.waitForURL(/\/task-runs\/[^/]+$/);
    await page.locator("h1", { hasText: /^extract-[01]/ }).waitFor();
    await page.goBack();
    await page.locator("h1", { hasText: retried.name }).waitFor();
  });

  test("a parameter holding markup shows as text and runs nothing", async () => {
    await page.goto(`${server.url}/runs/${runs.hello.id}`);
    const params = page.locator("pre.json");
    await params.waitFor();
    assert.deepEqual(JSON.parse(await params.innerText()), { name: XSS });
    await page.locator(".logs .log-msg", { hasText: `HELLO, ${XSS}!` }).waitFor();
    const greet = (await store.listTaskRuns({ flowRunId: runs.hello.id })).find((t) => t.taskName === "greet")!;
    await page.goto(`${server.url}/task-runs/${greet.id}`);
    assert.deepEqual(JSON.parse(await page.locator("pre.json").innerText()), { name: XSS });
    assert.equal(await page.locator('img[src="x"]').count(), 0, "no element made from the value");
    assert.deepEqual(dialogs, [], "no script ran");
  });

  test("filters live in the address; the list updates while runs happen", async () => {
    await page.goto(`${server.url}/runs?state=Failed`);
    await page.locator(`a.run-link:text-is("${runs.failed.name}")`).waitFor();
    assert.equal(await page.locator(".runs-table tbody tr").count(), 1);
    assert.equal(await page.locator("select[name=state]").inputValue(), "Failed");

    await page.fill("input[name=flow]", "hello");
    await page.selectOption("select[name=state]", "");
    await page.waitForURL(`${server.url}/runs?flow=hello`);
    await page.locator(`a.run-link:text-is("${runs.hello.name}")`).waitFor();
    await page.waitForFunction(() => document.querySelectorAll(".runs-table tbody tr").length === 1);

    // a new run shows up without a reload
    await cli(["run", HELLO, "--param", "name=Live"]);
    await page.waitForFunction(() => document.querySelectorAll(".runs-table tbody tr").length === 2);
    const newest = await page.locator(".runs-table tbody tr").first().getAttribute("data-id");
    assert.notEqual(newest, runs.hello.id);
    assert.equal((await store.getFlowRun(newest!))?.parameters, '{"name":"Live"}');
  });

  test("only the UI's own files are served: traversal gets 404", async () => {
    for (const path of ["/assets/..%2f..%2f..%2fpackage.json", "/assets/%2e%2e/server.ts", "/package.json", "/src/server/server.ts"]) {
      const res = await page.goto(`${server.url}${path}`);
      assert.equal(res?.status(), 404, path);
    }
    for (const path of ["/assets/../../../package.json", "/../../etc/passwd", "/assets/../server.ts"]) {
      const res = await rawGet(path);
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body, /"name": "flowctl"|root:|import /);
    }
  });

  test("dashboard and a narrow screen", async () => {
    await page.goto(`${server.url}/dashboard`);
    await page.locator(".stat", { hasText: "failure rate" }).waitFor();
    const failed = await page.locator(".stat", { hasText: "failed or crashed" }).locator(".stat-value").innerText();
    assert.equal(failed, "1");
    assert.ok(await page.locator("table.slowest tbody tr", { hasText: "transform" }).count());
    assert.ok(await page.locator(".chart .seg.state-failed").count());

    await page.setViewportSize({ width: 390, height: 800 });
    try {
      await page.goto(`${server.url}/runs/${runs.pipeline.id}`);
      await page.locator(".timeline .tl-bar").first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page fits a phone's width (overflow ${overflow}px)`);
      assert.ok(await page.locator('.tl-bar[data-name="report-0"]').isVisible());
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    assert.deepEqual(problems, [], "no page errors and no CSP violations");
    assert.deepEqual(dialogs, []);
  });

  test("the Cancel button asks first, then cancels a running flow run; the endpoint refuses cross-site requests", async () => {
    const side = join(dir, "side.txt");
    const child = spawnCli(["run", join(ROOT, "test/fixtures/retry/long.ts")], { home, env: { SIDE: side } });
    const closed = once(child, "close");
    let err = "";
    const name = await new Promise<string>((resolve) => {
      child.stderr!.on("data", (d) => {
        err += d;
        const m = /Created flow run '([^']+)'/.exec(err);
        if (m && err.includes("Executing 'wait-0' immediately...")) resolve(m[1]!);
      });
    });
    // the run reaches the store with the writer's next batch
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (await store.findRuns(name)).flowRuns.find((r) => r.stateType === "RUNNING")?.id;
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id, `run ${name} in the store`);

    const post = (path: string, headers: Record<string, string>) => fetch(`${server.url}${path}`, { method: "POST", headers });
    assert.equal((await post(`/api/flow-runs/${id}/cancel`, {})).status, 403, "no custom header: refused");
    assert.equal((await post(`/api/flow-runs/${id}/cancel`, { "X-Flowctl-Action": "cancel", Origin: "http://evil.example" })).status, 403);
    assert.equal((await post("/api/flow-runs/nope/cancel", { "X-Flowctl-Action": "cancel" })).status, 404);
    const finished = await post(`/api/flow-runs/${runs.pipeline.id}/cancel`, { "X-Flowctl-Action": "cancel" });
    assert.equal(finished.status, 409);
    assert.match((await finished.json()).error, /has already finished \(Completed\)/);

    await page.goto(`${server.url}/runs/${id}`);
    const button = page.locator("button.cancel-run");
    await button.waitFor();
    acceptConfirm = false;
    await button.click();
    assert.equal(confirms.length, 1);
    assert.match(confirms[0]!, new RegExp(`^Cancel flow run '${name}'\\?`));
    assert.equal(await page.locator(".cancel-status").innerText(), "", "declined: nothing sent");
    acceptConfirm = true;
    await button.click();
    await page.locator("h1 .badge", { hasText: "Cancelled" }).waitFor({ timeout: 30_000 });
    const [code] = await closed;
    assert.equal(code, 1, err);
    const row = await store.getFlowRun(id!);
    assert.match(row!.stateMessage!, /^Cancelled by the web UI from /);
    assert.equal(await page.locator("button.cancel-run").count(), 0, "no button on a finished run");
    assert.deepEqual(dialogs, [], "no other dialog");
  });
});
