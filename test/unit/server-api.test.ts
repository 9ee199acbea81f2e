/**
 * The web UI's HTTP server in-process, over a seeded SQLite store: the JSON API, the pages and
 * assets, and what it refuses (path traversal, writes, foreign Host headers, missing auth).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { batch, flowRow, state, taskRow } from "./server-rows.ts";
import { thisHost } from "../../src/store/liveness.ts";

interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A raw request: the path goes out exactly as given (no URL normalisation). */
function raw(server: RunningServer, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function getJson(server: RunningServer, path: string): Promise<{ status: number; body: any }> {
  const r = await raw(server, path);
  assert.match(String(r.headers["content-type"]), /^application\/json/);
  return { status: r.status, body: JSON.parse(r.body) };
}

const T = Date.now() - 60_000;
let dir: string;
let store: SqliteStore;
let server: RunningServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-server-"));
  store = new SqliteStore(join(dir, "flowctl.db"));
  await store.writeBatch(batch({
    flowRuns: [
      flowRow("f1", T, { name: "brave-otter", flowName: "etl", parameters: '{"n":1}', tags: '["nightly"]' }),
      flowRow("f2", T + 1000, { name: "calm-bat", flowName: "etl", stateType: "FAILED", stateName: "Failed", stateMessage: "1/2 states failed." }),
      flowRow("f3", T + 2000, { name: "sub-run", flowName: "notify", parentFlowRunId: "f1" }),
    ],
    taskRuns: [
      taskRow("a1", "f1", T, { name: "extract-0", taskName: "extract" }),
      taskRow("b1", "f1", T + 10, { name: "load-0", taskName: "load", cacheKey: "ck-1" }),
      taskRow("c1", "f2", T + 1000, { name: "boom-0", taskName: "boom", stateType: "FAILED", stateName: "Failed", runCount: 2 }),
    ],
    states: [
      state("f1", 0, "PENDING", T, "flow"), state("f1", 1, "RUNNING", T + 1, "flow"), state("f1", 2, "COMPLETED", T + 1000, "flow"),
      state("c1", 0, "PENDING", T + 1000), state("c1", 1, "RUNNING", T + 1001),
      { ...state("c1", 2, "SCHEDULED", T + 1002), name: "AwaitingRetry", scheduledTime: T + 1100 },
      { ...state("c1", 3, "RUNNING", T + 1100), name: "Retrying" },
      { ...state("c1", 4, "FAILED", T + 1200), error: JSON.stringify({ name: "Error", message: "boom", stack: "Error: boom\n    at x" }) },
    ],
    inputs: [{ taskRunId: "b1", upstreamTaskRunId: "a1", parameter: "rows" }],
    logs: [
      { flowRunId: "f1", taskRunId: null, level: 20, source: "Flow run 'brave-otter'", message: "started", timestamp: T },
      { flowRunId: "f1", taskRunId: "a1", level: 10, source: "Task run 'extract-0'", message: "debug detail", timestamp: T + 1 },
      { flowRunId: "f1", taskRunId: "b1", level: 40, source: "Task run 'load-0'", message: "<b>bad</b>", timestamp: T + 2 },
      { flowRunId: "f2", taskRunId: null, level: 20, source: "Flow run 'calm-bat'", message: "other run", timestamp: T + 3 },
    ],
  }));
  server = await startServer({ store, port: 0 });
});

after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("JSON API", () => {
  test("lists flow runs newest first with task counts, and filters them", async () => {
    const { status, body } = await getJson(server, "/api/flow-runs");
    assert.equal(status, 200);
    assert.deepEqual(body.flowRuns.map((r: any) => r.name), ["sub-run", "calm-bat", "brave-otter"]);
    const otter = body.flowRuns[2];
    assert.deepEqual(otter.taskCounts, { COMPLETED: 2 });
    assert.deepEqual(otter.parameters, { n: 1 });
    assert.deepEqual(otter.tags, ["nightly"]);
    assert.deepEqual(otter.state, { type: "COMPLETED", name: "Completed", message: null });
    assert.equal(otter.durationMs, 1000);

    const names = async (q: string) => (await getJson(server, `/api/flow-runs?${q}`)).body.flowRuns.map((r: any) => r.name);
    assert.deepEqual(await names("state=Failed"), ["calm-bat"]);
    assert.deepEqual(await names("state=failed,COMPLETED&flow=etl"), ["calm-bat", "brave-otter"]);
    assert.deepEqual(await names("tag=nightly"), ["brave-otter"]);
    assert.deepEqual(await names(`since=${T + 500}`), ["sub-run", "calm-bat"]);
    assert.deepEqual(await names(`until=${T + 500}`), ["brave-otter"]);
    assert.deepEqual(await names("limit=1&offset=1"), ["calm-bat"]);
  });

  test("bad query values are 400 with a message", async () => {
    for (const [q, re] of [["limit=0", /'limit' must be a whole number from 1 to 1000, got '0'/], ["limit=abc", /'limit'/], ["state=<x>", /'state' got an unknown state '<x>'; states are Scheduled, Pending, Running, Completed, Failed, .* \(names\) or SCHEDULED, .* \(types\)/], ["since=-5", /'since'/]] as const) {
      const { status, body } = await getJson(server, `/api/flow-runs?${q}`);
      assert.equal(status, 400, q);
      assert.match(body.error, re);
    }
    const lvl = await getJson(server, "/api/flow-runs/f1/logs?level=LOUD");
    assert.equal(lvl.status, 400);
    assert.match(lvl.body.error, /'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL/);
    assert.equal((await getJson(server, "/api/flow-runs/%E0%A4%A")).status, 400);
  });

  test("a flow run by id or name: history, task runs, subflows; unknown runs are 404", async () => {
    for (const key of ["f1", "brave-otter"]) {
      const { status, body } = await getJson(server, `/api/flow-runs/${key}`);
      assert.equal(status, 200);
      assert.equal(body.flowRun.id, "f1");
      assert.deepEqual(body.states.map((s: any) => s.name), ["Pending", "Running", "Completed"]);
      assert.deepEqual(body.taskRuns.map((t: any) => t.name), ["extract-0", "load-0"]);
      assert.deepEqual(body.taskRunPage, { offset: 0, limit: 200, total: 2, nextOffset: null });
      assert.deepEqual(body.flowRun.taskCounts, { COMPLETED: 2 });
      assert.equal(body.taskRuns[1].cacheKey, "ck-1");
      assert.equal(body.taskRuns[0].parameters, undefined, "task runs are listed without parameters");
      assert.deepEqual(body.subflowRuns.map((s: any) => s.name), ["sub-run"]);
      assert.deepEqual(body.subflowRunPage, { offset: 0, limit: 100, nextOffset: null });
      assert.equal(body.parentFlowRun, null);
    }
    const second = (await getJson(server, "/api/flow-runs/f1?limit=1&offset=1")).body;
    assert.deepEqual([second.taskRuns.map((t: any) => t.name), second.taskRunPage], [["load-0"], { offset: 1, limit: 1, total: 2, nextOffset: null }]);
    const sub = await getJson(server, "/api/flow-runs/f3");
    assert.equal(sub.body.parentFlowRun.name, "brave-otter");
    const missing = await getJson(server, "/api/flow-runs/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "No flow run with id or name 'nope'");
    assert.equal((await getJson(server, "/api/task-runs/nope")).status, 404);
    assert.equal((await getJson(server, "/api/flow-runs/nope/logs")).status, 404);
    assert.equal((await getJson(server, "/api/nothing")).status, 404);
  });

  test("a task run: retries in its history, error, upstream runs, flow run", async () => {
    const boom = (await getJson(server, "/api/task-runs/c1")).body;
    assert.deepEqual(boom.states.map((s: any) => s.name), ["Pending", "Running", "AwaitingRetry", "Retrying", "Failed"]);
    assert.equal(boom.states[2].scheduledTime, T + 1100);
    assert.deepEqual(boom.states[4].error, { name: "Error", message: "boom", stack: "Error: boom\n    at x" });
    assert.equal(boom.taskRun.runCount, 2);
    assert.equal(boom.flowRun.name, "calm-bat");
    const load = (await getJson(server, "/api/task-runs/load-0")).body;
    assert.equal(load.taskRun.cacheKey, "ck-1");
    assert.deepEqual(load.upstream.map((u: any) => [u.parameter, u.taskRun.name]), [["rows", "extract-0"]]);
    const list = (await getJson(server, "/api/task-runs?state=Failed")).body;
    assert.deepEqual(list.taskRuns.map((t: any) => t.name), ["boom-0"]);
  });

  test("logs of a flow run include its task runs', filter by level and page with 'after'", async () => {
    const all = (await getJson(server, "/api/flow-runs/f1/logs")).body.logs;
    assert.deepEqual(all.map((l: any) => l.message), ["started", "debug detail", "<b>bad</b>"]);
    assert.equal(all[2].levelName, "ERROR");
    const info = (await getJson(server, "/api/flow-runs/f1/logs?level=info")).body.logs;
    assert.deepEqual(info.map((l: any) => l.message), ["started", "<b>bad</b>"]);
    const newer = (await getJson(server, `/api/flow-runs/f1/logs?after=${all[0].id}`)).body.logs;
    assert.deepEqual(newer.map((l: any) => l.message), ["debug detail", "<b>bad</b>"]);
    const task = (await getJson(server, "/api/task-runs/a1/logs")).body.logs;
    assert.deepEqual(task.map((l: any) => l.message), ["debug detail"]);
  });

  test("dashboard: runs per state per bucket, failure rate, slowest tasks", async () => {
    const { status, body } = await getJson(server, `/api/dashboard?since=${T}&bucket=60000`);
    assert.equal(status, 200);
    assert.equal(body.flowRuns.total, 3);
    assert.equal(body.flowRuns.failed, 1);
    assert.equal(body.failureRate, 1 / 3);
    assert.deepEqual(body.buckets[0], { start: T, counts: { COMPLETED: 2, FAILED: 1 } });
    assert.equal(body.taskRuns.total, 3);
    assert.deepEqual(body.slowestTasks.map((t: any) => t.taskName).sort(), ["boom", "extract", "load"]);
    const tooMany = await getJson(server, `/api/dashboard?since=0&bucket=1000`);
    assert.equal(tooMany.status, 400);
  });
});

describe("pages, assets and refusals", () => {
  test("pages are the UI shell with a strict CSP; assets have their types", async () => {
    for (const path of ["/", "/runs", "/runs/f1", "/task-runs/c1", "/dashboard"]) {
      const r = await raw(server, path);
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers["content-type"]), /^text\/html/);
      assert.match(r.body, /<script type="module" src="\/assets\/app\.js">/);
      assert.match(String(r.headers["content-security-policy"]), /script-src 'self'/);
      assert.equal(r.headers["x-content-type-options"], "nosniff");
    }
    const js = await raw(server, "/assets/app.js");
    assert.equal(js.status, 200);
    assert.match(String(js.headers["content-type"]), /^text\/javascript/);
    assert.match((await raw(server, "/assets/app.css")).headers["content-type"] as string, /^text\/css/);
    const again = await raw(server, "/assets/app.js", { headers: { "If-None-Match": String(js.headers.etag) } });
    assert.equal(again.status, 304);
    const head = await raw(server, "/api/flow-runs", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  });

  test("path traversal and unknown paths are 404 and leak nothing", async () => {
    const paths = [
      "/assets/../package.json", "/assets/..%2f..%2fpackage.json", "/assets/%2e%2e/server.ts", "/assets/%2e%2e%2f%2e%2e%2fpackage.json",
      "/../../package.json", "/assets/../../../../etc/passwd", "/assets/..\\..\\package.json", "/assets/", "/assets/app.js/..",
      "/assets/./app.js", "//etc/passwd", "/src/server/server.ts", "/package.json", "/runs/a/b", "/assets/%00app.js",
    ];
    for (const p of paths) {
      const r = await raw(server, p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(r.body, /"name": "flowctl"|root:|import /, p);
    }
  });

  test("the API is read-only but for the cancel action: other methods are 405", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await raw(server, "/api/flow-runs/f1", { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, "GET, HEAD");
    }
    assert.equal((await store.listFlowRuns()).length, 3);
  });

  test("on loopback, requests addressed to another host name are refused (DNS rebinding)", async () => {
    assert.equal((await raw(server, "/api/health", { headers: { Host: "evil.example:4200" } })).status, 403);
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`]) {
      assert.equal((await raw(server, "/api/health", { headers: { Host: host } })).status, 200, host);
    }
  });

  test("with an auth string, every request needs it as Basic credentials", async () => {
    for (const [authString, good] of [["admin:s3cret", "admin:s3cret"], ["tok3n", "anyone:tok3n"]] as const) {
      const s = await startServer({ store, port: 0, authString });
      try {
        for (const path of ["/", "/runs/f1", "/assets/app.js", "/api/flow-runs", "/nothing"]) {
          const r = await raw(s, path);
          assert.equal(r.status, 401, path);
          assert.match(String(r.headers["www-authenticate"]), /^Basic realm="flowctl"/);
          assert.doesNotMatch(r.body, /brave-otter|script/);
        }
        const basic = (cred: string) => ({ Authorization: `Basic ${Buffer.from(cred).toString("base64")}` });
        assert.equal((await raw(s, "/api/flow-runs", { headers: basic("admin:wrong") })).status, 401);
        assert.equal((await raw(s, "/api/flow-runs", { headers: { Authorization: `Bearer ${authString}` } })).status, 401);
        const ok = await raw(s, "/api/flow-runs", { headers: basic(good) });
        assert.equal(ok.status, 200);
        assert.match(ok.body, /brave-otter/);
        assert.equal((await raw(s, "/assets/app.js", { headers: basic(good) })).status, 200);
      } finally {
        await s.close();
      }
    }
  });

  test("close() ends open keep-alive connections", async () => {
    const s = await startServer({ store, port: 0 });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: s.port, path: "/api/health", headers: { Connection: "keep-alive" } }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      req.on("error", reject);
      req.end();
    });
    await s.close();
    await assert.rejects(raw(s, "/api/health"), /ECONNREFUSED/);
  });
});

describe("liveness", () => {
  test("a run whose process is gone is answered Crashed (process gone), and stored so with its task runs", async () => {
    await store.writeBatch(batch({
      flowRuns: [flowRow("dead", T + 5000, {
        name: "dead-run", stateType: "RUNNING", stateName: "Running", endTime: null, pid: 999_999_999, host: thisHost(), heartbeat: T + 5000,
      })],
      taskRuns: [taskRow("d1", "dead", T + 5000, { name: "d-0", stateType: "RUNNING", stateName: "Running", endTime: null })],
      states: [state("dead", 0, "RUNNING", T + 5000, "flow")],
    }));
    // the API looks for dead runs at most once a second
    await new Promise((r) => setTimeout(r, 1100));
    const { body } = await getJson(server, "/api/flow-runs/dead-run");
    assert.equal(body.flowRun.state.name, "Crashed");
    assert.match(body.flowRun.state.message, /^Flow run crashed: process gone \(pid 999999999 on /);
    assert.deepEqual(body.states.map((s: any) => s.name), ["Running", "Crashed"]);
    assert.deepEqual(body.taskRuns.map((t: any) => t.state.name), ["Crashed"]);
    assert.equal((await store.getFlowRun("dead"))!.stateType, "CRASHED");
  });
});
