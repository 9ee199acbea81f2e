/**
 * One conformance suite for every run-store backend: the same cases run against SQLite (a temp
 * file), PostgreSQL (the real server, a fresh schema per case) and memory (the test harness's
 * store; a fresh name per case; it has no second process to share with). A backend passes when what
 * the engine writes comes back the same, "latest snapshot wins" holds, every filter selects the
 * same rows in the same order, the summaries and pruning agree, and concurrent writers (two
 * store objects, two processes) lose nothing.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openStore } from "../../src/store/index.ts";
import { crashDeadRuns, STALE_AFTER_MS, thisHost } from "../../src/store/liveness.ts";
import type { FlowRunRow, KeptResultRow, LogRow, RunStore, StateRow, TaskRunRow, WriteBatch } from "../../src/store/types.ts";
import { COMPLETED_ELSEWHERE } from "../../src/store/types.ts";
import { packStates } from "../../src/store/packed-states.ts";
import type { StateType } from "../../src/engine/states.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DAY = 86_400_000;
const NOW = Date.UTC(2031, 4, 1);

interface Backend {
  name: string;
  /** a URL for a fresh, empty store (each call a new one) */
  freshUrl(): Promise<string>;
  /** can two processes share a store? */
  crossProcess: boolean;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-conformance-"));
  let n = 0;
  return {
    name: "sqlite",
    crossProcess: true,
    freshUrl: async () => `sqlite://${join(dir, `store-${n++}.db`)}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresBackend(): Backend {
  const schemas: ReturnType<typeof postgresSchema>[] = [];
  return {
    name: "postgres",
    crossProcess: true,
    freshUrl: async () => {
      const s = postgresSchema("flowctl_conf");
      schemas.push(s);
      return s.url;
    },
    cleanup: async () => {
      for (const s of schemas) await s.drop();
    },
  };
}

function memoryBackend(): Backend {
  let n = 0;
  return {
    name: "memory",
    crossProcess: false,
    freshUrl: async () => `memory://conformance-${process.pid}-${n++}`,
    cleanup: async () => undefined,
  };
}

function flowRow(id: string, at: number, over: Partial<FlowRunRow> = {}): FlowRunRow {
  return {
    id, name: `run-${id}`, flowName: "etl", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1,
    created: at, startTime: at, endTime: at + 1000, updated: at + 1000, entrypoint: null, pid: null, host: null, heartbeat: null, ...over,
  };
}

function taskRow(id: string, flowRunId: string | null, at: number, over: Partial<TaskRunRow> = {}): TaskRunRow {
  return {
    id, name: `${id}-0`, taskName: id.replace(/\d+$/, ""), taskKey: `${id.replace(/\d+$/, "")}-abc123`, flowRunId,
    parentTaskRunId: null, parameters: "{}", tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null,
    runCount: 1, cacheKey: null, created: at, startTime: at, endTime: at + 100, updated: at + 100, ...over,
  };
}

function stateRow(runId: string, seq: number, type: StateType, at: number, over: Partial<StateRow> = {}): StateRow {
  return {
    runId, seq, runKind: "task", type, name: type[0] + type.slice(1).toLowerCase(), message: null, timestamp: at,
    scheduledTime: null, error: null, ...over,
  };
}

function logRow(message: string, at: number, over: Partial<LogRow> = {}): LogRow {
  return { flowRunId: null, taskRunId: null, level: 20, source: "flowctl.engine", message, timestamp: at, ...over };
}

const batch = (b: Partial<WriteBatch>): WriteBatch => ({ flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [], ...b });
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

/** Run a short module in a child process (tsx, so it can import the sources). */
function runChild(code: string, env: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-conformance-child-"));
  const file = join(dir, "child.mts");
  writeFileSync(file, code);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => (status === 0 ? resolve() : reject(new Error(`child exited ${status}: ${stderr}`))));
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

for (const make of [sqliteBackend, postgresBackend, memoryBackend]) {
  const backend = make();
  describe(`run store conformance: ${backend.name}`, () => {
    const open: RunStore[] = [];
    const fresh = async () => {
      const s = await openStore(await backend.freshUrl());
      open.push(s);
      return s;
    };
    after(async () => {
      for (const s of open) await s.close();
      await backend.cleanup();
    });

    test("opens the right backend and names where it is", async () => {
      const store = await fresh();
      assert.equal(store.kind, backend.name);
      assert.ok(store.location.length > 0);
      assert.ok(!/:[^@/]*@/.test(store.location.replace(/^[a-z]+:\/\//, "")), "no password in the location");
    });

    test("writeBatch then read back runs, states, inputs and logs unchanged", async () => {
      const store = await fresh();
      const flow = flowRow("f1", NOW, {
        flowVersion: "1.2", parameters: '{"n":3,"name":"x"}', tags: '["a","b"]', stateMessage: "All states completed.", runCount: 2,
      });
      const sub = flowRow("f2", NOW + 5, { parentFlowRunId: "f1", parentTaskRunId: "t1", startTime: null, endTime: null, stateType: "PENDING", stateName: "Pending" });
      const t1 = taskRow("t1", "f1", NOW + 1, { parameters: '{"x":1}', tags: '["a"]', cacheKey: "t-abc:123", runCount: 3 });
      const t2 = taskRow("t2", "f1", NOW + 2, { parentTaskRunId: "t1", stateType: "FAILED", stateName: "TimedOut", stateMessage: "Task run exceeded timeout of 1 second(s)" });
      const states = [
        stateRow("t1", 0, "PENDING", NOW + 1),
        stateRow("t1", 1, "RUNNING", NOW + 2),
        stateRow("t1", 2, "SCHEDULED", NOW + 3, { name: "AwaitingRetry", scheduledTime: NOW + 5000 }),
        stateRow("t1", 3, "FAILED", NOW + 4, { message: "boom", error: JSON.stringify({ name: "Error", message: "boom" }) }),
        stateRow("f1", 0, "RUNNING", NOW, { runKind: "flow" }),
      ];
      const inputs = [{ taskRunId: "t2", upstreamTaskRunId: "t1", parameter: "x" }];
      const logs = [
        logRow("first", NOW, { flowRunId: "f1", source: "Flow run 'run-f1'" }),
        logRow("émoji 🌠 and 'quotes'", NOW + 1, { flowRunId: "f1", taskRunId: "t1", level: 40, source: "Task run 't1-0'" }),
        logRow("outside", NOW + 2),
      ];
      await store.writeBatch(batch({ flowRuns: [flow, sub], taskRuns: [t1, t2], states, inputs, logs }));

      assert.deepEqual(await store.getFlowRun("f1"), flow);
      assert.deepEqual(await store.getFlowRun("run-f2"), sub);
      assert.deepEqual(await store.getTaskRun("t2"), t2);
      assert.deepEqual(await store.getTaskRun("t1-0"), t1);
      assert.equal(await store.getFlowRun("nope"), undefined);
      assert.equal(await store.getTaskRun("nope"), undefined);
      assert.deepEqual(await store.listTaskRuns({ flowRunId: "f1" }), [t1, t2]);
      assert.deepEqual(await store.getStates("t1"), states.slice(0, 4));
      assert.deepEqual(await store.getStates("f1"), [states[4]]);
      assert.deepEqual(await store.getInputs("t2"), inputs);
      assert.deepEqual(await store.getInputs("t1"), []);
      const back = await store.getLogs({});
      assert.deepEqual(back.map(({ id: _id, ...rest }) => rest), logs);
      assert.ok(back.every((l, i) => Number.isInteger(l.id) && (i === 0 || l.id! > back[i - 1]!.id!)), "log ids increase");
    });

    test("findRuns: an exact id, ids starting with a prefix, runs of a name; newest first, limited", async () => {
      const store = await fresh();
      const flows = [
        flowRow("0190aa-1", NOW, { name: "same" }),
        flowRow("0190aa-2", NOW + 1, { name: "same" }),
        flowRow("0190ab-3", NOW + 2, { name: "other" }),
        flowRow("0190aa", NOW + 3, { name: "short" }),
        flowRow("x%_y", NOW + 4, { name: "pattern" }),
      ];
      const tasks = [taskRow("0190aa-t", "0190aa-1", NOW + 5, { name: "same" }), taskRow("zz", "0190aa-1", NOW + 6)];
      await store.writeBatch(batch({ flowRuns: flows, taskRuns: tasks }));
      const found = async (ref: string, limit?: number) => {
        const r = await store.findRuns(ref, limit === undefined ? undefined : { limit });
        return [ids(r.flowRuns), ids(r.taskRuns)];
      };
      assert.deepEqual(await found("0190aa"), [["0190aa", "0190aa-2", "0190aa-1"], ["0190aa-t"]]);
      assert.deepEqual(await found("0190a"), [["0190aa", "0190ab-3", "0190aa-2", "0190aa-1"], ["0190aa-t"]]);
      assert.deepEqual(await found("0190a", 2), [["0190aa", "0190ab-3"], ["0190aa-t"]]);
      assert.deepEqual(await found("same"), [["0190aa-2", "0190aa-1"], ["0190aa-t"]]);
      assert.deepEqual(await found("0190ab-3"), [["0190ab-3"], []]);
      assert.deepEqual(await found("x%"), [["x%_y"], []], "a prefix is not a LIKE pattern");
      assert.deepEqual(await found("x_"), [[], []]);
      assert.deepEqual(await found("%"), [[], []]);
      assert.deepEqual(await found("nope"), [[], []]);
    });

    test("entrypoints and kept results: written, read back by top-level flow run, replaced, pruned", async () => {
      const store = await fresh();
      const old = NOW - 10 * DAY;
      const kept = (taskRunId: string, flowRunId: string, over: Partial<KeptResultRow> = {}): KeptResultRow => ({
        taskRunId, flowRunId, inputsKey: `o{x:n${taskRunId.length}}`, sourceHash: "src-1", kind: "value",
        payload: Buffer.from([0, 1, 2, 255]), message: null, created: old, ...over,
      });
      const rows = [
        kept("t1", "f1"),
        kept("t2", "f1", { kind: "unkept", payload: null, inputsKey: null, message: "Cannot serialise the result: result is a function" }),
        kept("s1", "f1", { kind: "file", payload: null }),
        kept("u1", "f2", { payload: new Uint8Array(70_000).fill(7) }),
      ];
      await store.writeBatch(batch({
        flowRuns: [flowRow("f1", old, { entrypoint: "/work/flows/etl.ts:etl" }), flowRow("f2", NOW)],
        taskRuns: [taskRow("t1", "f1", old), taskRow("t2", "f1", old), taskRow("u1", "f2", NOW)],
        results: rows,
      }));
      assert.equal((await store.getFlowRun("f1"))!.entrypoint, "/work/flows/etl.ts:etl");
      assert.equal((await store.getFlowRun("f2"))!.entrypoint, null);
      const byId = (rs: KeptResultRow[]) => [...rs].sort((a, b) => a.taskRunId.localeCompare(b.taskRunId));
      assert.deepEqual(byId(await store.getKeptResults("f1")), byId(rows.slice(0, 3)));
      const big = await store.getKeptResults("f2");
      assert.ok(Buffer.isBuffer(big[0]!.payload) && big[0]!.payload.length === 70_000 && big[0]!.payload[69_999] === 7);
      // a row written again is replaced
      await store.writeBatch(batch({ results: [kept("t1", "f1", { payload: Buffer.from("again") })] }));
      assert.equal(Buffer.from((await store.getKeptResults("f1")).find((r) => r.taskRunId === "t1")!.payload!).toString(), "again");
      const res = await store.pruneOlderThan(NOW - DAY);
      assert.deepEqual(res.flowRunIds, ["f1"]);
      assert.deepEqual(await store.getKeptResults("f1"), []);
      assert.equal((await store.getKeptResults("f2")).length, 1);
    });

    test("cancel requests: recorded once (the first wins), read back, pruned with their run", async () => {
      const store = await fresh();
      assert.equal(await store.getCancellation("f1"), undefined);
      await store.requestCancellation("f1", "Cancelled by flowctl runs cancel from a", NOW - 10 * DAY);
      await store.requestCancellation("f1", "Cancelled by flowctl runs cancel from b", NOW);
      assert.deepEqual(await store.getCancellation("f1"), { message: "Cancelled by flowctl runs cancel from a", requested: NOW - 10 * DAY });
      await store.writeBatch(batch({ flowRuns: [flowRow("f1", NOW - 10 * DAY)] }));
      await store.pruneOlderThan(NOW - DAY);
      assert.equal(await store.getCancellation("f1"), undefined);
    });

    test("deleteFlowRuns removes the runs, their subflows at any depth and everything recorded about them", async () => {
      const store = await fresh();
      await store.writeBatch(batch({
        flowRuns: [
          flowRow("a", NOW), flowRow("a-sub", NOW, { parentFlowRunId: "a" }), flowRow("a-sub-sub", NOW, { parentFlowRunId: "a-sub" }),
          flowRow("b", NOW),
        ],
        taskRuns: [taskRow("t1", "a", NOW, { cacheKey: "k-a" }), taskRow("t2", "a-sub-sub", NOW, { cacheKey: "shared" }), taskRow("t3", "b", NOW, { cacheKey: "shared" })],
        states: [stateRow("t1", 0, "COMPLETED", NOW), stateRow("a", 0, "COMPLETED", NOW, { runKind: "flow" }), stateRow("t3", 0, "COMPLETED", NOW)],
        inputs: [{ taskRunId: "t2", upstreamTaskRunId: "t1", parameter: "x" }],
        logs: [logRow("a", NOW, { flowRunId: "a" }), logRow("t2", NOW, { taskRunId: "t2" }), logRow("b", NOW, { flowRunId: "b" }), logRow("none", 0)],
        results: [{ taskRunId: "t1", flowRunId: "a", inputsKey: "k", sourceHash: "s", kind: "value", payload: Buffer.from("J1"), message: null, created: NOW }],
      }));
      await store.requestCancellation("a", "m", NOW);
      const res = await store.deleteFlowRuns(["a"]);
      assert.deepEqual({ ...res, flowRunIds: [...res.flowRunIds!].sort() }, {
        flowRunIds: ["a", "a-sub", "a-sub-sub"], flowRuns: 3, taskRuns: 2, states: 2, logs: 2, cacheKeys: ["k-a"],
      });
      assert.deepEqual(ids(await store.listFlowRuns()), ["b"]);
      assert.deepEqual(ids(await store.listTaskRuns()), ["t3"]);
      assert.deepEqual((await store.getLogs({})).map((l) => l.message), ["b", "none"], "logs of no run stay");
      assert.deepEqual(await store.getKeptResults("a"), []);
      assert.equal(await store.getCancellation("a"), undefined);
      assert.deepEqual(await store.getInputs("t2"), []);
      assert.deepEqual(await store.deleteFlowRuns(["nope"]), { flowRunIds: [], flowRuns: 0, taskRuns: 0, states: 0, logs: 0, cacheKeys: [] });
    });

    test("attempt outcomes: the first recorded is kept, read back by id, deleted by id and with their runs", async () => {
      const store = await fresh();
      const first = { attemptId: "t1.1", taskRunId: "t1", stateType: "COMPLETED" as const, outcome: '{"v":1,"ok":true,"value":"QQ=="}', created: NOW };
      assert.equal(await store.putAttemptOutcome(first), true);
      assert.equal(await store.putAttemptOutcome({ ...first, stateType: "FAILED", outcome: "{}" }), false, "a second record of the attempt is refused");
      await store.putAttemptOutcome({ ...first, attemptId: "t1.2", outcome: "{\"second\":\"attempt ✓\"}" });
      await store.putAttemptOutcome({ ...first, attemptId: "t2.1", taskRunId: "t2" });
      const got = await store.getAttemptOutcomes(["t1.1", "t1.2", "nope"]);
      assert.deepEqual(got.sort((a, b) => a.attemptId.localeCompare(b.attemptId)), [first, { ...first, attemptId: "t1.2", outcome: "{\"second\":\"attempt ✓\"}" }]);
      assert.deepEqual(await store.getAttemptOutcomes([]), []);
      await store.deleteAttemptOutcomes(["t1.2", "nope"]);
      await store.deleteAttemptOutcomes([]);
      assert.deepEqual((await store.getAttemptOutcomes(["t1.1", "t1.2"])).map((o) => o.attemptId), ["t1.1"]);
      // a flow run deleted takes its task runs' outcomes with it
      await store.writeBatch(batch({ flowRuns: [flowRow("f", NOW)], taskRuns: [taskRow("t1", "f", NOW), taskRow("t2", null, NOW)] }));
      await store.deleteFlowRuns(["f"]);
      assert.deepEqual((await store.getAttemptOutcomes(["t1.1", "t2.1"])).map((o) => o.attemptId), ["t2.1"]);
    });

    test("a run's latest snapshot wins, whatever order the batches arrive in", async () => {
      const store = await fresh();
      const newer = flowRow("f", NOW, { stateType: "COMPLETED", stateName: "Completed", updated: NOW + 500 });
      const older = flowRow("f", NOW, { stateType: "RUNNING", stateName: "Running", endTime: null, updated: NOW + 100 });
      await store.writeBatch(batch({ flowRuns: [newer] }));
      await store.writeBatch(batch({ flowRuns: [older] }));
      assert.equal((await store.getFlowRun("f"))!.stateName, "Completed");
      // same `updated`: the later write wins
      await store.writeBatch(batch({ flowRuns: [{ ...newer, stateMessage: "again" }] }));
      assert.equal((await store.getFlowRun("f"))!.stateMessage, "again");
      // several snapshots of one run in one batch: the newest one is kept
      const t = (u: number, name: string) => taskRow("t", "f", NOW, { updated: u, stateName: name });
      await store.writeBatch(batch({ taskRuns: [t(NOW + 3, "Completed"), t(NOW + 1, "Pending"), t(NOW + 2, "Running")] }));
      assert.equal((await store.getTaskRun("t"))!.stateName, "Completed");
      // `created` never changes on update
      await store.writeBatch(batch({ taskRuns: [{ ...t(NOW + 9, "Failed"), created: NOW + 999 }] }));
      const row = (await store.getTaskRun("t"))!;
      assert.equal(row.stateName, "Failed");
      assert.equal(row.created, NOW);
      // a state written twice (same run and seq) is replaced; a repeated upstream link is kept once
      await store.writeBatch(batch({
        states: [stateRow("t", 0, "PENDING", NOW), stateRow("t", 0, "PENDING", NOW, { message: "second" })],
        inputs: [{ taskRunId: "t", upstreamTaskRunId: "u", parameter: "x" }, { taskRunId: "t", upstreamTaskRunId: "u", parameter: "x" }],
      }));
      await store.writeBatch(batch({ inputs: [{ taskRunId: "t", upstreamTaskRunId: "u", parameter: "x" }] }));
      assert.deepEqual((await store.getStates("t")).map((s) => s.message), ["second"]);
      assert.equal((await store.getInputs("t")).length, 1);
    });

    test("flow-run filters, order (newest first, ties by write order), limit and offset", async () => {
      const store = await fresh();
      await store.writeBatch(batch({
        flowRuns: [
          flowRow("a", NOW - 3000, { tags: '["nightly","etl"]' }),
          flowRow("b", NOW - 2000, { flowName: "report", stateType: "FAILED", stateName: "Failed" }),
          flowRow("c", NOW - 1000, { stateType: "FAILED", stateName: "TimedOut", tags: '["nightly"]' }),
          flowRow("d", NOW, { parentFlowRunId: "a" }),
          flowRow("e", NOW, { name: "run-b" }),
        ],
      }));
      assert.deepEqual(ids(await store.listFlowRuns()), ["e", "d", "c", "b", "a"]);
      assert.deepEqual(ids(await store.listFlowRuns({ state: ["FAILED"] })), ["c", "b"]);
      assert.deepEqual(ids(await store.listFlowRuns({ state: ["failed"] })), ["c", "b"]);
      assert.deepEqual(ids(await store.listFlowRuns({ state: ["TimedOut"] })), ["c"]);
      assert.deepEqual(ids(await store.listFlowRuns({ state: ["TimedOut", "COMPLETED"] })), ["e", "d", "c", "a"]);
      assert.deepEqual(ids(await store.listFlowRuns({ flowName: "report" })), ["b"]);
      assert.deepEqual(ids(await store.listFlowRuns({ tag: "nightly" })), ["c", "a"]);
      assert.deepEqual(ids(await store.listFlowRuns({ tag: "night" })), []);
      assert.deepEqual(ids(await store.listFlowRuns({ since: NOW - 2000, until: NOW - 1000 })), ["c", "b"]);
      assert.deepEqual(ids(await store.listFlowRuns({ parentFlowRunId: null })), ["e", "c", "b", "a"]);
      assert.deepEqual(ids(await store.listFlowRuns({ parentFlowRunId: "a" })), ["d"]);
      assert.deepEqual(ids(await store.listFlowRuns({ limit: 2 })), ["e", "d"]);
      assert.deepEqual(ids(await store.listFlowRuns({ limit: 2, offset: 2 })), ["c", "b"]);
      assert.deepEqual(ids(await store.listFlowRuns({ state: ["FAILED"], tag: "nightly", flowName: "etl" })), ["c"]);
      // by name: the newest run of that name; an id beats a name
      assert.equal((await store.getFlowRun("run-b"))!.id, "e");
      await store.writeBatch(batch({ flowRuns: [flowRow("run-a", NOW + 10)] }));
      assert.equal((await store.getFlowRun("run-a"))!.id, "run-a");
    });

    test("task-run and log filters", async () => {
      const store = await fresh();
      await store.writeBatch(batch({
        flowRuns: [flowRow("f", NOW), flowRow("g", NOW)],
        taskRuns: [
          taskRow("load1", "f", NOW + 1, { tags: '["db"]' }),
          taskRow("load2", "f", NOW + 1, { stateType: "FAILED", stateName: "Failed" }),
          taskRow("save1", "f", NOW + 2, { tags: '["db","s3"]' }),
          taskRow("save2", "g", NOW + 3),
          taskRow("solo1", null, NOW + 4),
        ],
        logs: [
          logRow("f-debug", NOW, { flowRunId: "f", level: 10 }),
          logRow("f-info", NOW, { flowRunId: "f" }),
          logRow("load1-error", NOW, { flowRunId: "f", taskRunId: "load1", level: 40 }),
          logRow("load1-no-flow-id", NOW, { taskRunId: "load1" }),
          logRow("g-info", NOW, { flowRunId: "g" }),
          logRow("solo", NOW, { taskRunId: "solo1" }),
        ],
      }));
      // within a flow run: oldest first, ties in write order
      assert.deepEqual(ids(await store.listTaskRuns({ flowRunId: "f" })), ["load1", "load2", "save1"]);
      assert.deepEqual(ids(await store.listTaskRuns()), ["solo1", "save2", "save1", "load2", "load1"]);
      assert.deepEqual(ids(await store.listTaskRuns({ state: ["Failed"] })), ["load2"]);
      assert.deepEqual(ids(await store.listTaskRuns({ taskName: "save" })), ["save2", "save1"]);
      assert.deepEqual(ids(await store.listTaskRuns({ tag: "db" })), ["save1", "load1"]);
      assert.deepEqual(ids(await store.listTaskRuns({ tag: "s3", flowRunId: "f" })), ["save1"]);
      assert.deepEqual(ids(await store.listTaskRuns({ limit: 1 })), ["solo1"]);

      const msgs = async (f: Parameters<RunStore["getLogs"]>[0]) => (await store.getLogs(f)).map((l) => l.message);
      assert.deepEqual(await msgs({ flowRunId: "f" }), ["f-debug", "f-info", "load1-error"]);
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true }), ["f-debug", "f-info", "load1-error", "load1-no-flow-id"]);
      assert.deepEqual(await msgs({ taskRunId: "load1" }), ["load1-error", "load1-no-flow-id"]);
      assert.deepEqual(await msgs({ flowRunId: "f", minLevel: 20 }), ["f-info", "load1-error"]);
      assert.deepEqual(await msgs({ limit: 2 }), ["f-debug", "f-info"]);
      const all = await store.getLogs({});
      assert.deepEqual(await msgs({ afterId: all[3]!.id! }), ["g-info", "solo"]);
      // offsets in the listing's order; counts count what the listing lists, with no limit or offset
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true, offset: 1, limit: 2 }), ["f-info", "load1-error"]);
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true, afterId: all[1]!.id!, offset: 1 }), ["load1-no-flow-id"]);
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true, newestFirst: true, offset: 1, limit: 1 }), ["load1-error"]);
      assert.equal(await store.countLogs({ flowRunId: "f", includeTasks: true, limit: 1, offset: 1 }), 4);
      assert.equal(await store.countLogs({ flowRunId: "f", minLevel: 20 }), 2);
      assert.equal(await store.countLogs({ flowRunId: "f", includeTasks: true, afterId: all[2]!.id! }), 1);
      assert.equal(await store.countLogs({}), 6);
      assert.equal(await store.countLogs({ taskRunId: "nope" }), 0);
    });

    test("a flow run's task runs for the UI: groups (with start buckets), pages with totals, changes since, log tail", async () => {
      const store = await fresh();
      // get ×5 (one retried, one failed, one running) interleaved with save ×2; and another flow run's
      const get = (i: number, over: Partial<TaskRunRow> = {}) =>
        taskRow(`get${i}`, "f", NOW + i, { taskKey: "get-k", startTime: NOW + 10 * i, endTime: NOW + 10 * i + 5, updated: NOW + 100 + i, ...over });
      await store.writeBatch(batch({
        flowRuns: [flowRow("f", NOW), flowRow("g", NOW)],
        taskRuns: [
          get(0), get(1, { runCount: 2 }), get(2, { stateType: "FAILED", stateName: "Failed" }),
          taskRow("save1", "f", NOW + 2, { taskKey: "save-k", startTime: NOW + 25, updated: NOW + 300 }),
          get(3, { stateType: "RUNNING", stateName: "Running", endTime: null }),
          get(4, { stateType: "PENDING", stateName: "Pending", startTime: null, endTime: null, created: NOW + 3 }),
          taskRow("save2", "f", NOW + 5, { taskKey: "save-k", startTime: NOW + 52, endTime: NOW + 60, updated: NOW + 200 }),
          taskRow("other1", "g", NOW, { taskKey: "get-k", updated: NOW + 900 }),
        ],
        logs: Array.from({ length: 7 }, (_, i) => logRow(`line ${i}`, NOW + i, { flowRunId: i === 6 ? "g" : "f", taskRunId: i === 5 ? "get0" : null }))
          .concat([logRow("task only", NOW + 9, { taskRunId: "get1" })]),
      }));
      const groups = await store.taskRunGroups("f");
      assert.deepEqual(groups, [
        {
          taskKey: "get-k", taskName: "get", total: 5, counts: { COMPLETED: 2, FAILED: 1, RUNNING: 1, PENDING: 1 }, retried: 1,
          firstCreated: NOW, start: NOW, end: NOW + 25,
        },
        { taskKey: "save-k", taskName: "save", total: 2, counts: { COMPLETED: 2 }, retried: 0, firstCreated: NOW + 2, start: NOW + 25, end: NOW + 102 },
      ]);
      assert.deepEqual(await store.taskRunGroups("nope"), []);

      const page = async (f: Omit<Parameters<RunStore["pageTaskRuns"]>[0], "flowRunId">) => {
        const p = await store.pageTaskRuns({ flowRunId: "f", ...f });
        return [ids(p.taskRuns), p.total];
      };
      // oldest first, ties (get2 and save1 at NOW + 2; get3 and get4 at NOW + 3) in write order
      assert.deepEqual(await page({ limit: 3 }), [["get0", "get1", "get2"], 7]);
      assert.deepEqual(await page({ limit: 3, offset: 3 }), [["save1", "get3", "get4"], 7]);
      assert.deepEqual(await page({ limit: 3, offset: 6 }), [["save2"], 7]);
      assert.deepEqual(await page({ limit: 3, offset: 9 }), [[], 7]);
      assert.deepEqual(await page({ limit: 2, taskKey: "get-k", offset: 1 }), [["get1", "get2"], 5]);
      assert.deepEqual(await page({ limit: 9, state: ["Failed", "RUNNING"] }), [["get2", "get3"], 2]);
      assert.deepEqual(await page({ limit: 9, notable: true }), [["get1", "get2", "get3", "get4"], 4]);
      assert.deepEqual(await page({ limit: 2, notable: true, noTotal: true }), [["get1", "get2"], 2]);

      const since = async (t: number, limit = 10) => {
        const r = await store.taskRunsUpdatedSince("f", t, limit);
        return [ids(r.taskRuns), r.maxUpdated];
      };
      assert.deepEqual(await since(0, 3), [["get0", "get1", "get2"], NOW + 300]);
      assert.deepEqual(await since(NOW + 103), [["get4", "save2", "save1"], NOW + 300]);
      assert.deepEqual(await since(NOW + 300), [[], NOW + 300]);
      assert.deepEqual(await store.taskRunsUpdatedSince("nope", 0, 10), { taskRuns: [], maxUpdated: 0 });

      // with start buckets, in the same read: starts at +0 (bucket −1, clamped to 0), +10, +20 (0), +30 (1); save-k's
      // at +25 (1) and +52 (3, clamped to 2)
      const bucketed = await store.taskRunGroups("f", { startBuckets: { from: NOW + 15, bucketMs: 10, count: 3 } });
      assert.deepEqual(bucketed.map((g) => [g.taskKey, g.total, g.starts]), [
        ["get-k", 5, [{ COMPLETED: 2, FAILED: 1 }, { RUNNING: 1 }, {}]],
        ["save-k", 2, [{}, { COMPLETED: 1 }, { COMPLETED: 1 }]],
      ]);
      assert.deepEqual(bucketed.map(({ starts: _s, ...g }) => g), groups, "the groups are the same");

      const msgs = async (f: Parameters<RunStore["getLogs"]>[0]) => (await store.getLogs(f)).map((l) => l.message);
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true, newestFirst: true, limit: 3 }), ["task only", "line 5", "line 4"]);
      const all = await store.getLogs({ flowRunId: "f", includeTasks: true });
      const before = all.find((l) => l.message === "line 4")!.id!;
      assert.deepEqual(await msgs({ flowRunId: "f", includeTasks: true, newestFirst: true, beforeId: before }), ["line 3", "line 2", "line 1", "line 0"]);
      assert.deepEqual(await msgs({ flowRunId: "f", beforeId: before, limit: 2 }), ["line 0", "line 1"]);
    });

    test("one large batch (thousands of rows) is written whole", async () => {
      const store = await fresh();
      const taskRuns = Array.from({ length: 3000 }, (_, i) => taskRow(`big${i}`, "f", NOW + i));
      const states = taskRuns.flatMap((t, i) => [stateRow(t.id, 0, "PENDING", NOW + i), stateRow(t.id, 1, "COMPLETED", NOW + i)]);
      const logs = Array.from({ length: 6000 }, (_, i) => logRow(`line ${i}`, NOW + i, { flowRunId: "f" }));
      await store.writeBatch(batch({ flowRuns: [flowRow("f", NOW)], taskRuns, states, logs }));
      assert.equal((await store.listTaskRuns({ flowRunId: "f" })).length, 3000);
      assert.equal((await store.getStates("big2999")).length, 2);
      const back = await store.getLogs({ flowRunId: "f" });
      assert.equal(back.length, 6000);
      assert.equal(back[5999]!.message, "line 5999");
      // read in pages after the last id seen: every line once, in order
      const paged: string[] = [];
      for (let after: number | undefined, page; (page = await store.getLogs({ flowRunId: "f", includeTasks: true, afterId: after, limit: 1000 })).length > 0; ) {
        paged.push(...page.map((l) => l.message));
        after = page.at(-1)!.id;
      }
      assert.deepEqual(paged, back.map((l) => l.message));
      assert.equal(await store.countLogs({ flowRunId: "f", includeTasks: true }), back.length);
    });

    test("task counts per flow run, dashboard figures", async () => {
      const store = await fresh();
      const since = NOW - 3 * DAY;
      await store.writeBatch(batch({
        flowRuns: [
          flowRow("old", since - 1),
          flowRow("a", since), flowRow("b", since + 10, { tags: '["nightly"]' }),
          flowRow("c", since + DAY + 5, { stateType: "FAILED", stateName: "Failed" }),
          flowRow("d", since + 2 * DAY, { stateType: "RUNNING", stateName: "Running", endTime: null }),
        ],
        taskRuns: [
          taskRow("fast1", "a", since, { endTime: since + 10 }), taskRow("fast2", "a", since, { endTime: since + 30 }),
          taskRow("slow1", "b", since, { endTime: since + 5000 }),
          taskRow("busy1", "d", since + 2 * DAY, { stateType: "RUNNING", stateName: "Running", endTime: null }),
          taskRow("bad1", "a", since, { stateType: "FAILED", stateName: "Failed", endTime: since + 20 }),
          taskRow("ancient1", "old", since - 10, { endTime: since + 99_999 }),
        ],
      }));
      const counted = await store.listFlowRunsWithTaskCounts();
      assert.deepEqual(counted.map((r) => [r.id, r.taskCounts]), [
        ["d", { RUNNING: 1 }], ["c", {}], ["b", { COMPLETED: 1 }], ["a", { COMPLETED: 2, FAILED: 1 }], ["old", { COMPLETED: 1 }],
      ]);
      assert.deepEqual((await store.listFlowRunsWithTaskCounts({ tag: "nightly" })).map((r) => r.name), ["run-b"]);
      assert.deepEqual(await store.listFlowRunsWithTaskCounts({ flowName: "nope" }), []);

      const s = await store.statsSince(since, { bucketMs: DAY });
      assert.deepEqual(s.flowRuns, [
        { bucket: since, stateType: "COMPLETED", count: 2 },
        { bucket: since + DAY, stateType: "FAILED", count: 1 },
        { bucket: since + 2 * DAY, stateType: "RUNNING", count: 1 },
      ]);
      assert.deepEqual(
        [...s.taskRuns].sort((x, y) => x.stateType.localeCompare(y.stateType)),
        [{ stateType: "COMPLETED", count: 3 }, { stateType: "FAILED", count: 1 }, { stateType: "RUNNING", count: 1 }],
      );
      assert.deepEqual(s.slowestTasks, [
        { taskName: "slow", runs: 1, meanMs: 5000, maxMs: 5000 },
        // equal means: by task name
        { taskName: "bad", runs: 1, meanMs: 20, maxMs: 20 },
        { taskName: "fast", runs: 2, meanMs: 20, maxMs: 30 },
      ]);
      assert.equal((await store.statsSince(since, { bucketMs: DAY, slowest: 1 })).slowestTasks.length, 1);
    });

    test("pruning removes what was idle before the cutoff, with its states, links and logs", async () => {
      const store = await fresh();
      const old = NOW - 10 * DAY;
      await store.writeBatch(batch({
        flowRuns: [
          flowRow("old", old), flowRow("new", NOW),
          flowRow("busy", old, { stateType: "RUNNING", stateName: "Running", endTime: null }),
          flowRow("oldsub", old, { parentFlowRunId: "new" }),
          flowRow("oldparent", old), flowRow("newsub", NOW, { parentFlowRunId: "oldparent" }),
        ],
        taskRuns: [
          taskRow("t1", "old", old, { cacheKey: "only-old" }),
          taskRow("t2", "old", old, { cacheKey: "shared", parentTaskRunId: "t1" }),
          taskRow("t3", "new", NOW, { cacheKey: "shared" }),
          taskRow("t4", "busy", NOW, { stateType: "RUNNING", stateName: "Running" }),
          taskRow("s1", null, old, { cacheKey: "standalone" }),
          taskRow("s2", null, NOW),
        ],
        states: [
          stateRow("old", 0, "PENDING", old, { runKind: "flow" }), stateRow("old", 1, "COMPLETED", old, { runKind: "flow" }),
          stateRow("t1", 0, "COMPLETED", old), stateRow("t2", 0, "COMPLETED", old), stateRow("s1", 0, "COMPLETED", old),
          stateRow("oldsub", 0, "COMPLETED", old, { runKind: "flow" }),
          stateRow("new", 0, "COMPLETED", NOW, { runKind: "flow" }), stateRow("t3", 0, "COMPLETED", NOW),
        ],
        inputs: [{ taskRunId: "t2", upstreamTaskRunId: "t1", parameter: "x" }, { taskRunId: "t3", upstreamTaskRunId: "t3", parameter: "y" }],
        logs: [
          logRow("a", old, { flowRunId: "old" }), logRow("b", old, { flowRunId: "old", taskRunId: "t1" }),
          logRow("c", old, { taskRunId: "s1" }), logRow("d", old),
          logRow("e", NOW, { flowRunId: "new" }), logRow("f", NOW),
        ],
      }));
      const res = await store.pruneOlderThan(NOW - DAY);
      assert.deepEqual({ ...res, cacheKeys: [...res.cacheKeys].sort(), flowRunIds: [...res.flowRunIds!].sort() }, {
        flowRunIds: ["old", "oldsub"], flowRuns: 2, taskRuns: 3, states: 6, logs: 4, cacheKeys: ["only-old", "standalone"],
      });
      assert.deepEqual(ids(await store.listFlowRuns()).sort(), ["busy", "new", "newsub", "oldparent"]);
      assert.deepEqual(ids(await store.listTaskRuns()).sort(), ["s2", "t3", "t4"]);
      assert.deepEqual(await store.getStates("old"), []);
      assert.deepEqual(await store.getInputs("t2"), []);
      assert.equal((await store.getInputs("t3")).length, 1);
      assert.deepEqual((await store.getLogs({})).map((l) => l.message), ["e", "f"]);
      assert.deepEqual(await store.pruneOlderThan(NOW - DAY), { flowRunIds: [], flowRuns: 0, taskRuns: 0, states: 0, logs: 0, cacheKeys: [] });
    });

    test("concurrency limits: create, change, list, inspect, reset, delete", async () => {
      const store = await fresh();
      assert.deepEqual(await store.createConcurrencyLimit("db", 2), { created: true });
      assert.deepEqual(await store.createConcurrencyLimit("api", 0), { created: true });
      assert.deepEqual(await store.createConcurrencyLimit("db", 3), { created: false });
      const listed = await store.listConcurrencyLimits();
      assert.deepEqual(listed.map((l) => [l.tag, l.limit, l.active]), [["api", 0, 0], ["db", 3, 0]]);
      assert.ok(listed[1]!.updated >= listed[1]!.created);
      const lease = { owner: "proc-1", leaseMs: 60_000 };
      assert.equal((await store.tryAcquireSlots({ tags: ["db"], holderId: "r1", ...lease })).acquired, true);
      assert.equal((await store.tryAcquireSlots({ tags: ["db"], holderId: "r2", ...lease })).acquired, true);
      const got = (await store.getConcurrencyLimit("db"))!;
      assert.equal(got.active, 2);
      assert.deepEqual(got.slots.map((x) => [x.tag, x.holderId, x.owner]), [["db", "r1", "proc-1"], ["db", "r2", "proc-1"]]);
      assert.ok(got.slots[0]!.leaseExpires > Date.now());
      assert.equal(await store.getConcurrencyLimit("none"), undefined);
      assert.equal(await store.resetConcurrencyLimit("db"), 2);
      assert.equal((await store.getConcurrencyLimit("db"))!.active, 0);
      assert.equal(await store.resetConcurrencyLimit("none"), undefined);
      assert.equal(await store.deleteConcurrencyLimit("db"), true);
      assert.equal(await store.deleteConcurrencyLimit("db"), false);
      assert.deepEqual((await store.listConcurrencyLimits()).map((l) => l.tag), ["api"]);
    });

    test("concurrency slots: all or nothing, limit 0, full, renewal, release, expired leases", async () => {
      const store = await fresh();
      await store.createConcurrencyLimit("a", 1);
      await store.createConcurrencyLimit("b", 2);
      await store.createConcurrencyLimit("zero", 0);
      const req = (holderId: string, tags: string[], leaseMs = 60_000, owner = "p1") => ({ tags, holderId, owner, leaseMs });
      // unlimited tags are ignored; limited ones come back sorted
      assert.deepEqual(await store.tryAcquireSlots(req("r1", ["free", "b", "a"])), { acquired: true, tags: ["a", "b"] });
      // taking a slot the holder has is a renewal, not a second slot
      assert.equal((await store.tryAcquireSlots(req("r1", ["a"]))).acquired, true);
      assert.equal((await store.getConcurrencyLimit("a"))!.active, 1);
      // `a` is full: nothing is taken, not even `b`'s free slot
      const full = await store.tryAcquireSlots(req("r2", ["b", "a"]));
      assert.deepEqual(full, { acquired: false, tags: ["a", "b"], full: { tag: "a", limit: 1, active: 1 } });
      assert.equal((await store.getConcurrencyLimit("b"))!.active, 1);
      assert.deepEqual(await store.tryAcquireSlots(req("r3", ["zero", "b"])), { acquired: false, tags: ["b", "zero"], limit0: "zero" });
      // leases: renewal counts the owner's slots; an expired slot is free for the next acquirer
      assert.equal(await store.renewLeases("p1", 60_000), 2);
      assert.equal(await store.renewLeases("nobody", 60_000), 0);
      await store.releaseSlots("r1");
      await store.releaseSlots("r1");
      assert.equal((await store.getConcurrencyLimit("a"))!.active, 0);
      assert.equal((await store.tryAcquireSlots(req("dead", ["a"], -1, "p-dead"))).acquired, true);
      assert.equal((await store.getConcurrencyLimit("a"))!.active, 0, "an expired lease is not active");
      assert.equal((await store.tryAcquireSlots(req("r4", ["a"]))).acquired, true);
      assert.deepEqual((await store.getConcurrencyLimit("a"))!.slots.map((x) => x.holderId), ["r4"]);
    });

    test("concurrency slots: many acquirers at once through two store objects never exceed the limit", async () => {
      const url = await backend.freshUrl();
      const [one, two] = await Promise.all([openStore(url), openStore(url)]);
      open.push(one, two);
      await one.createConcurrencyLimit("gpu", 3);
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 ? one : two).tryAcquireSlots({ tags: ["gpu"], holderId: `h${i}`, owner: `o${i % 2}`, leaseMs: 60_000 })),
      );
      assert.equal(results.filter((r) => r.acquired).length, 3);
      assert.equal((await two.getConcurrencyLimit("gpu"))!.active, 3);
    });

    test("liveness: pid, host and heartbeat round-trip; a beat refreshes the heartbeat and reads the rows back", async () => {
      const store = await fresh();
      await store.writeBatch(batch({
        flowRuns: [flowRow("live", NOW, { stateType: "RUNNING", stateName: "Running", endTime: null, pid: 4242, host: "box-a", heartbeat: NOW })],
      }));
      const row = (await store.getFlowRun("live"))!;
      assert.equal(row.pid, 4242);
      assert.equal(row.host, "box-a");
      assert.equal(row.heartbeat, NOW);
      const rows = await store.beat(["live", "missing"], { at: NOW + 500, pid: 4242, host: "box-a" });
      assert.deepEqual(rows.map((r) => [r.id, r.heartbeat, r.stateType]), [["live", NOW + 500, "RUNNING"]]);
      // a heartbeat is not a change of the run: a later snapshot still wins, an earlier one does not
      assert.equal((await store.getFlowRun("live"))!.updated, NOW + 1000);
      assert.deepEqual(await store.beat([], { at: NOW, pid: 1, host: "x" }), []);
    });

    test("liveness: markCrashed ends a run and its unfinished task runs Crashed, once; later snapshots still win", async () => {
      const store = await fresh();
      const running = { stateType: "RUNNING" as const, stateName: "Running", endTime: null };
      await store.writeBatch(batch({
        flowRuns: [flowRow("f", NOW, { ...running, updated: NOW + 10, pid: 1, host: "h", heartbeat: NOW + 20 })],
        taskRuns: [taskRow("t1", "f", NOW + 1), taskRow("t2", "f", NOW + 2, { ...running, updated: NOW + 2 })],
        states: [stateRow("f", 0, "PENDING", NOW, { runKind: "flow" }), stateRow("f", 1, "RUNNING", NOW + 1, { runKind: "flow" }),
          stateRow("t2", 0, "PENDING", NOW + 2), stateRow("t2", 1, "RUNNING", NOW + 3)],
      }));
      const mark = { message: "Flow run crashed: process gone (pid 1 on h)", timestamp: NOW + 99_000, lastSeen: NOW + 20 };
      assert.equal(await store.markCrashed("f", mark), true);
      assert.equal(await store.markCrashed("f", mark), false, "a final run is left alone");
      const f = (await store.getFlowRun("f"))!;
      assert.deepEqual([f.stateType, f.stateName, f.stateMessage, f.endTime], ["CRASHED", "Crashed", mark.message, NOW + 20]);
      const fStates = await store.getStates("f");
      assert.deepEqual(fStates.map((s) => [s.seq, s.type]), [[0, "PENDING"], [1, "RUNNING"], [2, "CRASHED"]]);
      assert.equal(fStates[2]!.message, mark.message);
      const t2 = (await store.getTaskRun("t2"))!;
      assert.equal(t2.stateType, "CRASHED");
      assert.deepEqual((await store.getStates("t2")).map((s) => s.type), ["PENDING", "RUNNING", "CRASHED"]);
      assert.equal((await store.getTaskRun("t1"))!.stateType, "COMPLETED", "a finished task run keeps its state");
      // the run's own process (or a journal replayed later) writing a newer snapshot still wins
      await store.writeBatch(batch({ flowRuns: [flowRow("f", NOW, { updated: NOW + 30 })], states: [stateRow("f", 2, "COMPLETED", NOW + 30, { runKind: "flow" })] }));
      assert.equal((await store.getFlowRun("f"))!.stateType, "COMPLETED");
      assert.deepEqual((await store.getStates("f")).map((s) => s.type), ["PENDING", "RUNNING", "COMPLETED"]);
    });

    test("a task run's states kept in its row (schema 9) come back with the ones kept as rows, in seq order; a crash mark numbers after them", async () => {
      const store = await fresh();
      const boom = stateRow("t", 3, "FAILED", NOW + 4, { message: "boom", error: JSON.stringify({ name: "Error", message: "boom" }) });
      const packedOf = (list: { type: StateType; name: string; ts: number; message?: string; at?: number }[]) =>
        packStates(
          list.map((s) => ({ ...s, scheduledTime: s.at === undefined ? undefined : new Date(s.at), error: s.type === "FAILED" ? new Error("boom") : undefined })),
          (m) => m,
        );
      const history = [
        { type: "PENDING" as const, name: "Pending", ts: NOW + 1 },
        { type: "RUNNING" as const, name: "Running", ts: NOW + 2, message: 'a "quoted" ✓ message' },
        { type: "SCHEDULED" as const, name: "AwaitingRetry", ts: NOW + 3, at: NOW + 5000 },
        { type: "FAILED" as const, name: "Failed", ts: NOW + 4 },
      ];
      // an earlier snapshot (two states), then the final one; the error state is a row of its own
      await store.writeBatch(batch({ taskRuns: [taskRow("t", null, NOW, { stateType: "RUNNING", stateName: "Running", updated: NOW + 2, states: packedOf(history.slice(0, 2)) })] }));
      await store.writeBatch(batch({ taskRuns: [taskRow("t", null, NOW, { stateType: "FAILED", stateName: "Failed", updated: NOW + 4, states: packedOf(history) })], states: [boom] }));
      assert.deepEqual(await store.getStates("t"), [
        stateRow("t", 0, "PENDING", NOW + 1),
        stateRow("t", 1, "RUNNING", NOW + 2, { message: 'a "quoted" ✓ message' }),
        stateRow("t", 2, "SCHEDULED", NOW + 3, { name: "AwaitingRetry", scheduledTime: NOW + 5000 }),
        boom,
      ]);
      const row = (await store.getTaskRun("t"))!;
      assert.equal("states" in row, false, "a task run's row is read back without its packed states");
      // a row without packed states (an older flowctl's journal) leaves the stored ones
      await store.writeBatch(batch({ taskRuns: [taskRow("t", null, NOW, { stateType: "FAILED", stateName: "Failed", updated: NOW + 4 })] }));
      assert.equal((await store.getStates("t")).length, 4);
      // a dead run's unfinished task run: the Crashed state another process adds comes after its packed ones
      const running = { stateType: "RUNNING" as const, stateName: "Running", endTime: null, updated: NOW + 2 };
      await store.writeBatch(batch({
        flowRuns: [flowRow("f", NOW, { ...running, updated: NOW + 10 })],
        taskRuns: [taskRow("u", "f", NOW, { ...running, states: packStates(history.slice(0, 2), (m) => m) })],
      }));
      assert.equal(await store.markCrashed("f", { message: "gone", timestamp: NOW + 99_000, lastSeen: NOW + 20 }), true);
      assert.deepEqual((await store.getStates("u")).map((s) => [s.seq, s.type]), [[0, "PENDING"], [1, "RUNNING"], [2, "CRASHED"]]);
      // its own process's record arriving later (a replayed journal) wins at the same place
      const done = [...history.slice(0, 2), { type: "COMPLETED" as const, name: "Completed", ts: NOW + 30 }];
      await store.writeBatch(batch({ replayed: true, taskRuns: [taskRow("u", "f", NOW, { updated: NOW + 100_000, states: packStates(done, (m) => m) })] }));
      assert.deepEqual((await store.getStates("u")).map((s) => [s.seq, s.type]), [[0, "PENDING"], [1, "RUNNING"], [2, "COMPLETED"]]);
    });

    test("liveness: markCrashed marks Completed a task run whose current attempt a worker recorded Completed", async () => {
      const store = await fresh();
      const running = { stateType: "RUNNING" as const, stateName: "Running", endTime: null, updated: NOW + 2 };
      await store.writeBatch(batch({
        flowRuns: [flowRow("f", NOW, { ...running, updated: NOW + 10 })],
        // done: its attempt completed on a worker; failed: its attempt threw; retried: the outcome is an earlier attempt's
        taskRuns: [taskRow("done", "f", NOW, running), taskRow("failed", "f", NOW, running), taskRow("retried", "f", NOW, { ...running, runCount: 2 })],
        states: [stateRow("done", 0, "PENDING", NOW), stateRow("done", 1, "RUNNING", NOW + 1)],
      }));
      const outcome = (attemptId: string, stateType: StateType) => ({ attemptId, taskRunId: attemptId.split(".")[0]!, stateType, outcome: "{}", created: NOW + 50 });
      for (const o of [outcome("done.1", "COMPLETED"), outcome("failed.1", "FAILED"), outcome("retried.1", "COMPLETED")]) await store.putAttemptOutcome(o);
      assert.equal(await store.markCrashed("f", { message: "gone", timestamp: NOW + 99_000, lastSeen: NOW + 20 }), true);
      const done = (await store.getTaskRun("done"))!;
      assert.deepEqual([done.stateType, done.stateName, done.stateMessage, done.endTime], ["COMPLETED", "Completed", COMPLETED_ELSEWHERE, NOW + 50]);
      const states = await store.getStates("done");
      assert.deepEqual(states.map((s) => [s.seq, s.type, s.timestamp]), [[0, "PENDING", NOW], [1, "RUNNING", NOW + 1], [2, "COMPLETED", NOW + 50]]);
      assert.equal((await store.getTaskRun("failed"))!.stateType, "CRASHED");
      assert.equal((await store.getTaskRun("retried"))!.stateType, "CRASHED");
      assert.equal((await store.getFlowRun("f"))!.stateType, "CRASHED", "the flow run itself did crash");
    });

    test("liveness: crashDeadRuns marks runs of a gone process and silent runs of other hosts, not live ones", async () => {
      const store = await fresh();
      const now = Date.now();
      const running = { stateType: "RUNNING" as const, stateName: "Running", endTime: null, updated: now - 1000 };
      await store.writeBatch(batch({
        flowRuns: [
          flowRow("gone", now - 5000, { ...running, pid: 999_999_999, host: thisHost(), heartbeat: now - 400 }),
          flowRow("mine", now - 5000, { ...running, pid: process.pid, host: thisHost(), heartbeat: now - 400_000 }),
          flowRow("far-fresh", now - 5000, { ...running, pid: 12, host: "elsewhere", heartbeat: now - 1000 }),
          flowRow("far-silent", now - 900_000, { ...running, updated: now - 900_000, pid: 12, host: "elsewhere", heartbeat: now - STALE_AFTER_MS - 5000 }),
          flowRow("done", now - 5000, { pid: 999_999_999, host: thisHost() }),
        ],
        taskRuns: [taskRow("g1", "gone", now - 4000, { stateType: "RUNNING", stateName: "Running", endTime: null })],
      }));
      assert.equal(await crashDeadRuns(store), 2);
      const state = async (id: string) => (await store.getFlowRun(id))!;
      assert.equal((await state("gone")).stateType, "CRASHED");
      assert.match((await state("gone")).stateMessage!, /^Flow run crashed: process gone \(pid 999999999 on /);
      assert.equal((await store.getTaskRun("g1"))!.stateType, "CRASHED");
      assert.equal((await state("far-silent")).stateType, "CRASHED");
      assert.match((await state("far-silent")).stateMessage!, /^Flow run crashed: no heartbeat since \d{4}-\d\d-\d\dT/);
      assert.equal((await state("mine")).stateType, "RUNNING", "this process is alive");
      assert.equal((await state("far-fresh")).stateType, "RUNNING", "another host with a recent heartbeat");
      assert.equal((await state("done")).stateType, "COMPLETED");
      assert.equal(await crashDeadRuns(store), 0);
    });

    test("two store objects writing at once lose nothing; a reopened store keeps its rows", async () => {
      const url = await backend.freshUrl();
      // opened at the same moment on a fresh store: migrations are applied once
      const [one, two] = await Promise.all([openStore(url), openStore(url)]);
      open.push(one, two);
      const writes = (store: RunStore, who: string) =>
        Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.writeBatch(batch({
              flowRuns: [flowRow("shared", NOW, { updated: NOW + i * 2 + (who === "one" ? 0 : 1), stateMessage: `${who}-${i}` })],
              taskRuns: [taskRow(`${who}${i}`, "shared", NOW + i)],
              states: [stateRow(`${who}${i}`, 0, "COMPLETED", NOW + i)],
              logs: [logRow(`${who} ${i}`, NOW + i, { flowRunId: "shared" })],
            })),
          ),
        );
      await Promise.all([writes(one, "one"), writes(two, "two")]);
      const reopened = await openStore(url);
      open.push(reopened);
      assert.equal((await reopened.listTaskRuns({ flowRunId: "shared" })).length, 40);
      assert.equal((await reopened.getLogs({ flowRunId: "shared" })).length, 40);
      assert.equal((await reopened.getStates("two19")).length, 1);
      // the highest `updated` of all 40 snapshots won
      assert.equal((await reopened.getFlowRun("shared"))!.stateMessage, "two-19");
    });

    test("two processes writing the same store at once lose nothing", { skip: !backend.crossProcess && "one process's memory" }, async () => {
      const url = await backend.freshUrl();
      const code = `
        import { openStore } from ${JSON.stringify(pathToFileURL(join(ROOT, "src/store/index.ts")).href)};
        const store = await openStore(process.env.STORE_URL);
        const who = process.env.WHO;
        const base = ${NOW};
        for (let i = 0; i < 40; i++) {
          await store.writeBatch({
            flowRuns: [{ id: "shared", name: "shared", flowName: "etl", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
              parameters: "{}", tags: "[]", stateType: "RUNNING", stateName: "Running", stateMessage: who + "-" + i, runCount: 1,
              created: base, startTime: base, endTime: null, updated: base + i * 2 + (who === "p1" ? 0 : 1) }],
            taskRuns: [{ id: who + "-" + i, name: who + "-" + i, taskName: who, taskKey: who, flowRunId: "shared", parentTaskRunId: null,
              parameters: "{}", tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1, cacheKey: null,
              created: base + i, startTime: base + i, endTime: base + i, updated: base + i }],
            states: [{ runId: who + "-" + i, seq: 0, runKind: "task", type: "COMPLETED", name: "Completed", message: null,
              timestamp: base + i, scheduledTime: null, error: null }],
            inputs: [],
            logs: [{ flowRunId: "shared", taskRunId: who + "-" + i, level: 20, source: who, message: who + " " + i, timestamp: base + i }],
          });
        }
        await store.close();
      `;
      await Promise.all([runChild(code, { STORE_URL: url, WHO: "p1" }), runChild(code, { STORE_URL: url, WHO: "p2" })]);
      const store = await openStore(url);
      open.push(store);
      const tasks = await store.listTaskRuns({ flowRunId: "shared" });
      assert.equal(tasks.length, 80);
      assert.equal((await store.getLogs({ flowRunId: "shared" })).length, 80);
      assert.equal((await store.getStates("p1-39")).length, 1);
      assert.equal((await store.getFlowRun("shared"))!.stateMessage, "p2-39");
    });
  });
}

describe("run store URLs", () => {
  let urlBackend: Backend;
  before(() => {
    urlBackend = postgresBackend();
  });
  after(async () => urlBackend.cleanup());

  test("a PostgreSQL URL with a schema keeps its tables in that schema, and the password out of messages", async () => {
    const url = await urlBackend.freshUrl();
    const store = await openStore(url);
    try {
      assert.match(store.location, /schema=flowctl_conf_/);
      await store.writeBatch(batch({ flowRuns: [flowRow("x", NOW)] }));
      // another schema of the same database sees none of it
      const other = await openStore(await urlBackend.freshUrl());
      try {
        assert.deepEqual(await other.listFlowRuns(), []);
      } finally {
        await other.close();
      }
    } finally {
      await store.close();
    }
  });

  test("bad PostgreSQL URLs fail with one clear line", async () => {
    await assert.rejects(openStore("postgresql://u:secret@127.0.0.1:5432/test?schema=bad-name"), (err: Error & { code?: string }) => {
      assert.equal(err.code, "CONFIG_ERROR");
      assert.match(err.message, /Invalid schema 'bad-name'/);
      return true;
    });
    // nothing listens on port 1
    await assert.rejects(openStore("postgresql://u:secret@127.0.0.1:1/test"), (err: Error & { code?: string }) => {
      assert.equal(err.code, "STORE_ERROR");
      assert.match(err.message, /^Cannot open the run store at postgresql:\/\/u@127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });
});
