/**
 * The API the web UI reads a large flow run through, in-process over a seeded SQLite store: the
 * overview (groups, capped timeline with lanes, not-completed runs), task-run pages, logs tail
 * first and paged back, polls with a cursor, brotli/gzip by Accept-Encoding, and the flow run's
 * own answer, bounded: a page of task runs and a page of subflow runs.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { pickEncoding } from "../../src/server/compress.ts";
import { attemptsOf, TIMELINE_ROWS } from "../../src/server/flow-run-page.ts";
import { batch, flowRow, state, taskRow } from "./server-rows.ts";
import type { LogRow, TaskRunRow } from "../../src/store/types.ts";

interface Res { status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }

function raw(server: RunningServer, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, bytes: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function get(path: string): Promise<any> {
  const r = await raw(server, path);
  assert.equal(r.status, 200, `${path}: ${r.bytes.toString()}`);
  return JSON.parse(r.bytes.toString());
}

const T = Date.now() - 3_600_000;
const N = 3000;
let dir: string;
let store: SqliteStore;
let server: RunningServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-large-"));
  store = new SqliteStore(join(dir, "flowctl.db"));
  const taskRuns: TaskRunRow[] = [];
  for (let i = 0; i < N; i++) {
    const failed = i === 7 || i === 900;
    taskRuns.push(taskRow(`g${i}`, "big", T + i, {
      name: `get-url-${i}`, taskName: "getUrl", taskKey: "get-url-k", startTime: T + i * 10, endTime: T + i * 10 + 50, updated: T + i * 10 + 50,
      runCount: i === 5 ? 2 : 1, ...(failed ? { stateType: "FAILED", stateName: "Failed", stateMessage: `boom ${i}` } : {}),
    }));
  }
  for (let i = 0; i < 40; i++) {
    taskRuns.push(taskRow(`s${i}`, "big", T + 20_000 + i, { name: `save-${i}`, taskName: "save", taskKey: "save-k", startTime: T + 20_000 + i, endTime: T + 20_100 + i, updated: T + 20_100 + i }));
  }
  const logs: LogRow[] = Array.from({ length: 500 }, (_, i) => ({
    flowRunId: "big", taskRunId: `g${i}`, level: i % 50 === 0 ? 40 : 20, source: `Task run 'get-url-${i}'`, message: `line ${i}`, timestamp: T + i,
  }));
  // a flow run of five subflow runs and one task run whose fields are far past any bound
  const huge = "x".repeat(300_000);
  await store.writeBatch(batch({
    flowRuns: [
      flowRow("parent", T, { name: "parent-run" }),
      ...Array.from({ length: 5 }, (_, i) => flowRow(`sub${i}`, T + 100 + i, { name: `sub-${i}`, parentFlowRunId: "parent", parameters: JSON.stringify({ big: huge }) })),
    ],
    taskRuns: [
      taskRow("h1", "parent", T + 1, { name: "huge-0", stateType: "FAILED", stateName: "Failed", stateMessage: huge, parameters: JSON.stringify({ big: huge }) }),
      // a reduce over 250 mapped runs (of the big run, written below)
      taskRow("r1", "parent", T + 2, { name: "reduce-0" }),
    ],
    inputs: Array.from({ length: 250 }, (_, i) => ({ taskRunId: "r1", upstreamTaskRunId: `g${i}`, parameter: "pages" })),
  }));
  await store.writeBatch(batch({
    flowRuns: [flowRow("big", T, { name: "big-run", endTime: T + 30_000, updated: T + 30_000 })],
    taskRuns,
    states: [
      state("g5", 0, "PENDING", T + 50), state("g5", 1, "RUNNING", T + 51),
      { ...state("g5", 2, "SCHEDULED", T + 60), name: "AwaitingRetry" }, { ...state("g5", 3, "RUNNING", T + 70), name: "Retrying" },
      state("g5", 4, "COMPLETED", T + 90),
    ],
    logs,
  }));
  server = await startServer({ store, port: 0 });
});

after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a flow run of many task runs", () => {
  test("the overview groups mapped runs, lists the failed ones and caps the timeline, with a lane per group", async () => {
    const o = await get("/api/flow-runs/big-run/overview");
    assert.equal(o.taskRunCount, N + 40);
    assert.deepEqual(o.groups.map((g: any) => [g.taskName, g.total, g.counts, g.retried]), [
      ["getUrl", N, { COMPLETED: N - 2, FAILED: 2 }, 1],
      ["save", 40, { COMPLETED: 40 }, 0],
    ]);
    assert.deepEqual(o.notCompleted.taskRuns.map((t: any) => t.name), ["get-url-7", "get-url-900"]);
    assert.equal(o.notCompleted.total, 2);
    assert.equal(o.notCompleted.taskRuns[0].parameters, undefined, "lists carry no parameters");
    const rows = o.timeline.rows;
    assert.equal(rows.length, TIMELINE_ROWS);
    for (const name of ["get-url-5", "get-url-7", "get-url-900", "get-url-0"]) assert.ok(rows.some((r: any) => r.name === name), name);
    const retried = rows.find((r: any) => r.name === "get-url-5");
    assert.deepEqual(retried.attempts, [{ start: T + 51, end: T + 60, outcome: "AwaitingRetry" }, { start: T + 70, end: T + 90, outcome: "Completed" }]);
    assert.equal(o.timeline.total, N + 40);
    assert.deepEqual(o.timeline.lanes.map((l: any) => [l.taskName, l.total, l.buckets.length]), [["getUrl", N, 60], ["save", 40, 60]]);
    const laneSum = (l: any) => l.buckets.reduce((n: number, b: any) => n + Object.values(b).reduce((a: number, c: any) => a + c, 0), 0);
    assert.equal(laneSum(o.timeline.lanes[0]), N);
    assert.match(o.cursor, /^\d+\.\d+\.\d+$/);
  });

  test("task runs page by page with a total, for the whole run or one group or state", async () => {
    const p1 = await get("/api/flow-runs/big-run/task-runs?limit=100");
    assert.equal(p1.total, N + 40);
    assert.equal(p1.taskRuns.length, 100);
    assert.equal(p1.taskRuns[0].name, "get-url-0");
    const last = await get(`/api/flow-runs/big-run/task-runs?limit=100&offset=${N}`);
    assert.deepEqual(last.taskRuns.map((t: any) => t.name).slice(0, 2), ["save-0", "save-1"]);
    assert.equal(last.taskRuns.length, 40);
    const group = await get("/api/flow-runs/big-run/task-runs?taskKey=save-k&limit=10&offset=35");
    assert.deepEqual([group.total, group.taskRuns.length, group.taskRuns[0].name], [40, 5, "save-35"]);
    const failed = await get("/api/flow-runs/big-run/task-runs?state=Failed");
    assert.deepEqual(failed.taskRuns.map((t: any) => t.name), ["get-url-7", "get-url-900"]);
    for (const q of ["limit=501", "offset=-1", "state=Nope"]) {
      assert.equal((await raw(server, `/api/flow-runs/big-run/task-runs?${q}`)).status, 400, q);
    }
    assert.equal((await raw(server, "/api/flow-runs/nope/task-runs")).status, 404);
  });

  test("logs: the tail first, then page back with 'before'; 'more' says whether earlier lines remain", async () => {
    const tail = await get("/api/flow-runs/big/logs?tail=1&limit=200");
    assert.equal(tail.logs.length, 200);
    assert.deepEqual([tail.logs[0].message, tail.logs[199].message, tail.more], ["line 300", "line 499", true]);
    const back = await get(`/api/flow-runs/big/logs?before=${tail.logs[0].id}&limit=200`);
    assert.deepEqual([back.logs[0].message, back.logs[199].message, back.more], ["line 100", "line 299", true]);
    const first = await get(`/api/flow-runs/big/logs?before=${back.logs[0].id}&limit=200`);
    assert.deepEqual([first.logs.length, first.logs[0].message, first.more], [100, "line 0", false]);
    const errors = await get("/api/flow-runs/big/logs?tail=1&level=ERROR&limit=3");
    assert.deepEqual(errors.logs.map((l: any) => l.message), ["line 350", "line 400", "line 450"]);
    assert.equal((await raw(server, `/api/flow-runs/big/logs?tail=1&after=5`)).status, 400);
  });

  test("a poll with the cursor is a few bytes when nothing changed, and carries only what changed", async () => {
    const { cursor } = await get("/api/flow-runs/big/overview");
    const quiet = await raw(server, `/api/flow-runs/big/overview?since=${cursor}`, { "Accept-Encoding": "br, gzip" });
    assert.ok(quiet.bytes.length < 100, `unchanged poll: ${quiet.bytes.length} bytes`);
    assert.deepEqual(JSON.parse(quiet.bytes.toString()), { cursor, unchanged: true });

    const at = Date.now();
    await store.writeBatch(batch({
      taskRuns: [taskRow("g3", "big", T + 3, {
        name: "get-url-3", taskName: "getUrl", taskKey: "get-url-k", stateType: "FAILED", stateName: "Failed", stateMessage: "late", updated: at,
      })],
      logs: [{ flowRunId: "big", taskRunId: "g3", level: 40, source: "Task run 'get-url-3'", message: "it broke", timestamp: at }],
    }));
    const changed = await get(`/api/flow-runs/big/overview?since=${cursor}`);
    assert.deepEqual(changed.taskRuns.map((t: any) => [t.name, t.state.name]), [["get-url-3", "Failed"]]);
    assert.deepEqual(changed.logs.map((l: any) => l.message), ["it broke"]);
    assert.deepEqual(changed.overview.groups[0].counts, { COMPLETED: N - 3, FAILED: 3 });
    assert.notEqual(changed.cursor, cursor);
    const again = await get(`/api/flow-runs/big/overview?since=${changed.cursor}`);
    assert.deepEqual(again, { cursor: changed.cursor, unchanged: true });
    // only log lines at the level asked for
    const [, , logPart] = cursor.split(".");
    assert.ok(Number(logPart) > 0);
    const infoOnly = await get(`/api/flow-runs/big/overview?since=${changed.cursor.split(".").slice(0, 2).join(".")}.${logPart}&level=CRITICAL`);
    assert.equal(infoOnly.unchanged, true);
    assert.equal((await raw(server, "/api/flow-runs/big/overview?since=yesterday")).status, 400);
  });

  test("answers are brotli- or gzip-encoded by Accept-Encoding, with an ETag per encoding", async () => {
    const path = "/api/flow-runs/big/task-runs?limit=500";
    const plain = await raw(server, path);
    assert.equal(plain.headers["content-encoding"], undefined);
    assert.equal(plain.headers.vary, "Accept-Encoding");
    const br = await raw(server, path, { "Accept-Encoding": "gzip, deflate, br" });
    assert.equal(br.headers["content-encoding"], "br");
    assert.deepEqual(brotliDecompressSync(br.bytes), plain.bytes);
    assert.equal(Number(br.headers["content-length"]), br.bytes.length);
    assert.ok(br.bytes.length * 5 < plain.bytes.length, `br ${br.bytes.length} of ${plain.bytes.length} bytes`);
    const gz = await raw(server, path, { "Accept-Encoding": "gzip" });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.deepEqual(gunzipSync(gz.bytes), plain.bytes);
    assert.notEqual(gz.headers.etag, plain.headers.etag);
    assert.equal((await raw(server, path, { "Accept-Encoding": "gzip", "If-None-Match": String(gz.headers.etag) })).status, 304);
    assert.equal((await raw(server, path, { "If-None-Match": String(gz.headers.etag) })).status, 200, "an identity request does not match the gzip ETag");
    const js = await raw(server, "/assets/app.css", { "Accept-Encoding": "br" });
    assert.equal(js.headers["content-encoding"], "br");
    assert.match(brotliDecompressSync(js.bytes).toString(), /--completed/);
    // a tiny answer goes as it is
    assert.equal((await raw(server, "/api/health", { "Accept-Encoding": "br" })).headers["content-encoding"], undefined);
  });

  test("the flow run's own answer is bounded: one page of task runs with a total, paged by offset", async () => {
    const first = await raw(server, "/api/flow-runs/big-run");
    assert.equal(first.status, 200);
    assert.ok(first.bytes.length < 150_000, `default answer: ${first.bytes.length} bytes`);
    const d = JSON.parse(first.bytes.toString());
    assert.equal(d.flowRun.name, "big-run");
    // counted over all of them, as the overview's groups are (the poll test above failed get-url-3)
    const counts: Record<string, number> = {};
    for (const g of (await get("/api/flow-runs/big/overview")).groups) for (const [k, n] of Object.entries(g.counts)) counts[k] = (counts[k] ?? 0) + Number(n);
    assert.deepEqual(d.flowRun.taskCounts, counts);
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), N + 40);
    assert.deepEqual(d.taskRunPage, { offset: 0, limit: 200, total: N + 40, nextOffset: 200 });
    assert.equal(d.taskRuns.length, 200);
    assert.deepEqual([d.taskRuns[0].name, d.taskRuns[199].name], ["get-url-0", "get-url-199"]);
    assert.equal(d.taskRuns[0].parameters, undefined);
    assert.deepEqual(d.subflowRuns, []);
    assert.deepEqual(d.subflowRunPage, { offset: 0, limit: 100, nextOffset: null });

    // every task run, once each, in order, by following nextOffset; no page past the bound
    const names: string[] = [];
    let offset: number | null = 0;
    while (offset !== null) {
      const r = await raw(server, `/api/flow-runs/big?limit=1000&offset=${offset}`);
      assert.ok(r.bytes.length < 600_000, `page at ${offset}: ${r.bytes.length} bytes`);
      const p = JSON.parse(r.bytes.toString());
      assert.deepEqual([p.taskRunPage.offset, p.taskRunPage.limit, p.taskRunPage.total], [offset, 1000, N + 40]);
      names.push(...p.taskRuns.map((t: any) => t.name));
      offset = p.taskRunPage.nextOffset;
    }
    assert.equal(names.length, N + 40);
    assert.equal(new Set(names).size, N + 40);
    assert.deepEqual([names[0], names[N - 1], names[N]], ["get-url-0", `get-url-${N - 1}`, "save-0"]);
    const past = await get(`/api/flow-runs/big?offset=${N + 40}`);
    assert.deepEqual([past.taskRuns, past.taskRunPage.nextOffset], [[], null]);
    // one group, or some states, with their own totals
    const group = await get("/api/flow-runs/big?taskKey=save-k&limit=10&offset=35");
    assert.deepEqual([group.taskRunPage, group.taskRuns.map((t: any) => t.name)], [
      { offset: 35, limit: 10, total: 40, nextOffset: null }, ["save-35", "save-36", "save-37", "save-38", "save-39"],
    ]);
    const failed = await get("/api/flow-runs/big?state=Failed");
    assert.deepEqual(failed.taskRuns.map((t: any) => t.name), ["get-url-3", "get-url-7", "get-url-900"]);
    assert.equal(failed.taskRunPage.total, counts.FAILED);
  });

  test("the flow run's answer pages its subflow runs (newest first) and cuts fields past their bound", async () => {
    const r = await raw(server, "/api/flow-runs/parent-run");
    assert.ok(r.bytes.length < 10_000, `${r.bytes.length} bytes for 5 subflows and a task run of a 300 KB parameter`);
    const d = JSON.parse(r.bytes.toString());
    assert.equal(d.taskRuns[0].parameters, undefined);
    assert.equal(d.subflowRuns[0].parameters, undefined, "subflow runs are listed without parameters");
    assert.match(d.taskRuns[0].state.message, /^x{400}… \[truncated: /);
    assert.deepEqual(d.subflowRuns.map((s: any) => s.name), ["sub-4", "sub-3", "sub-2", "sub-1", "sub-0"]);
    const names = (p: any) => p.subflowRuns.map((s: any) => s.name);
    const p1 = await get("/api/flow-runs/parent?subflowLimit=2");
    assert.deepEqual([names(p1), p1.subflowRunPage], [["sub-4", "sub-3"], { offset: 0, limit: 2, nextOffset: 2 }]);
    const p2 = await get("/api/flow-runs/parent?subflowLimit=2&subflowOffset=2");
    assert.deepEqual([names(p2), p2.subflowRunPage.nextOffset], [["sub-2", "sub-1"], 4]);
    const p3 = await get("/api/flow-runs/parent?subflowLimit=2&subflowOffset=4");
    assert.deepEqual([names(p3), p3.subflowRunPage.nextOffset], [["sub-0"], null]);
    assert.equal((await get("/api/flow-runs/sub-2")).parentFlowRun.name, "parent-run");
  });

  test("a task run's answer pages its upstream runs, listed without parameters", async () => {
    const d = await get("/api/task-runs/reduce-0");
    assert.deepEqual(d.upstreamPage, { offset: 0, limit: 100, total: 250, nextOffset: 100 });
    // by parameter, then upstream id (as text: g0, g1, g10, g100 …)
    const ids = Array.from({ length: 250 }, (_, i) => `g${i}`).sort();
    assert.deepEqual(d.upstream.map((u: any) => u.taskRunId), ids.slice(0, 100));
    assert.deepEqual(d.upstream.map((u: any) => u.taskRun.name), ids.slice(0, 100).map((id) => `get-url-${id.slice(1)}`));
    assert.equal(d.upstream[0].parameter, "pages");
    assert.equal(d.upstream[0].taskRun.parameters, undefined);
    const last = await get("/api/task-runs/r1?upstreamLimit=100&upstreamOffset=200");
    assert.deepEqual([last.upstream.map((u: any) => u.taskRunId), last.upstreamPage.nextOffset], [ids.slice(200), null]);
    assert.deepEqual((await get("/api/task-runs/huge-0")).upstreamPage, { offset: 0, limit: 100, total: 0, nextOffset: null });
    for (const q of ["upstreamLimit=0", "upstreamLimit=1001", "upstreamOffset=-1", "upstreamOffset=x"]) {
      const r = await raw(server, `/api/task-runs/r1?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(JSON.parse(r.bytes.toString()).error, /^'upstream(Limit|Offset)' must be a whole number from \d+ to \d+, got '/);
    }
  });

  test("bad paging values of the flow run's answer are 400 with a message, before the run is looked up", async () => {
    const cases: [string, RegExp][] = [
      ["limit=0", /^'limit' must be a whole number from 1 to 1000, got '0'$/],
      ["limit=1001", /^'limit' must be a whole number from 1 to 1000, got '1001'$/],
      ["limit=2.5", /'limit' must be a whole number/],
      ["offset=-1", /^'offset' must be a whole number from 0 to \d+, got '-1'$/],
      ["offset=ten", /'offset' must be a whole number/],
      ["subflowLimit=0", /^'subflowLimit' must be a whole number from 1 to 1000, got '0'$/],
      ["subflowLimit=5000", /'subflowLimit'/],
      ["subflowOffset=-3", /'subflowOffset' must be a whole number/],
      ["state=Nope", /^'state' got an unknown state 'Nope'; states are /],
    ];
    for (const [q, re] of cases) {
      for (const run of ["big", "nope"]) {
        const r = await raw(server, `/api/flow-runs/${run}?${q}`);
        assert.equal(r.status, 400, `${run}?${q}`);
        assert.match(JSON.parse(r.bytes.toString()).error, re, q);
      }
    }
    assert.equal((await raw(server, "/api/flow-runs/nope?limit=5")).status, 404);
  });

  test("Accept-Encoding is read with its q-values", () => {
    assert.equal(pickEncoding(undefined), "identity");
    assert.equal(pickEncoding("gzip, deflate, br"), "br");
    assert.equal(pickEncoding("br;q=0.5, gzip"), "gzip");
    assert.equal(pickEncoding("br;q=0, gzip;q=0"), "identity");
    assert.equal(pickEncoding("*"), "br");
    assert.equal(pickEncoding("identity"), "identity");
  });

  test("attempts from a state history: each Running up to the next state", () => {
    const s = (seq: number, type: any, name: string, at: number) => ({ ...state("x", seq, type, at), name });
    assert.deepEqual(attemptsOf([s(0, "PENDING", "Pending", 1), s(1, "RUNNING", "Running", 2), s(2, "SCHEDULED", "AwaitingRetry", 3), s(3, "RUNNING", "Retrying", 4)]), [
      { start: 2, end: 3, outcome: "AwaitingRetry" }, { start: 4, end: null, outcome: null },
    ]);
  });
});
