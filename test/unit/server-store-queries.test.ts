/**
 * The store queries behind `flowctl runs` and the web UI (SQLite backend): task-run counts per
 * flow run, dashboard figures, and pruning by last activity.
 */
import { describe, test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { batch, DAY, flowRow, NOW, state, taskRow } from "./server-rows.ts";

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-store-q-"));
  store = new SqliteStore(join(dir, "flowctl.db"));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("listFlowRunsWithTaskCounts", () => {
  test("counts every task run of each listed flow run by state type, in listFlowRuns order", async () => {
    await store.writeBatch(batch({
      flowRuns: [flowRow("a", NOW - 2000), flowRow("b", NOW - 1000, { tags: '["nightly"]' }), flowRow("c", NOW)],
      taskRuns: [
        taskRow("x1", "a", NOW), taskRow("x2", "a", NOW, { stateType: "FAILED", stateName: "Failed" }),
        taskRow("x3", "a", NOW, { stateType: "FAILED", stateName: "TimedOut" }), taskRow("y1", "b", NOW),
        taskRow("z1", null, NOW),
      ],
    }));
    const all = await store.listFlowRunsWithTaskCounts();
    assert.deepEqual(all.map((r) => [r.id, r.taskCounts]), [
      ["c", {}],
      ["b", { COMPLETED: 1 }],
      ["a", { COMPLETED: 1, FAILED: 2 }],
    ]);
    const tagged = await store.listFlowRunsWithTaskCounts({ tag: "nightly" });
    assert.deepEqual(tagged.map((r) => r.id), ["b"]);
    assert.equal(tagged[0]!.name, "run-b");
    assert.deepEqual(await store.listFlowRunsWithTaskCounts({ flowName: "nope" }), []);
  });
});

describe("statsSince", () => {
  test("buckets flow runs by creation time and state, counts task runs, ranks slow tasks", async () => {
    const since = NOW - 3 * DAY;
    await store.writeBatch(batch({
      flowRuns: [
        flowRow("old", since - 1), // before the window
        flowRow("a", since), flowRow("b", since + 10), flowRow("c", since + DAY + 5, { stateType: "FAILED", stateName: "Failed" }),
        flowRow("d", since + 2 * DAY, { stateType: "RUNNING", stateName: "Running", endTime: null }),
      ],
      taskRuns: [
        taskRow("fast1", "a", since, { endTime: since + 10 }), taskRow("fast2", "a", since, { endTime: since + 30 }),
        taskRow("slow1", "b", since, { endTime: since + 5000 }),
        taskRow("busy1", "d", since + 2 * DAY, { stateType: "RUNNING", stateName: "Running", endTime: null }),
        taskRow("ancient1", "old", since - 10, { endTime: since + 99_999 }),
      ],
    }));
    const s = await store.statsSince(since, { bucketMs: DAY });
    assert.deepEqual(s.flowRuns, [
      { bucket: since, stateType: "COMPLETED", count: 2 },
      { bucket: since + DAY, stateType: "FAILED", count: 1 },
      { bucket: since + 2 * DAY, stateType: "RUNNING", count: 1 },
    ]);
    assert.deepEqual(
      [...s.taskRuns].sort((x, y) => x.stateType.localeCompare(y.stateType)),
      [{ stateType: "COMPLETED", count: 3 }, { stateType: "RUNNING", count: 1 }],
    );
    assert.deepEqual(s.slowestTasks, [
      { taskName: "slow", runs: 1, meanMs: 5000, maxMs: 5000 },
      { taskName: "fast", runs: 2, meanMs: 20, maxMs: 30 },
    ]);
    assert.equal((await store.statsSince(since, { bucketMs: DAY, slowest: 1 })).slowestTasks.length, 1);
  });
});

describe("pruneOlderThan", () => {
  test("removes runs idle since before the cutoff with their states, links and logs, and names unused cache keys", async () => {
    const old = NOW - 10 * DAY;
    await store.writeBatch(batch({
      flowRuns: [
        flowRow("old", old),
        flowRow("new", NOW),
        // not updated itself for long, but one of its task runs is still busy
        flowRow("busy", old, { stateType: "RUNNING", stateName: "Running", endTime: null }),
        // an old subflow of a new parent, and an old parent whose subflow is new
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
        state("old", 0, "PENDING", old, "flow"), state("old", 1, "COMPLETED", old, "flow"),
        state("t1", 0, "COMPLETED", old), state("t2", 0, "COMPLETED", old), state("s1", 0, "COMPLETED", old),
        state("oldsub", 0, "COMPLETED", old, "flow"),
        state("new", 0, "COMPLETED", NOW, "flow"), state("t3", 0, "COMPLETED", NOW),
      ],
      inputs: [{ taskRunId: "t2", upstreamTaskRunId: "t1", parameter: "x" }, { taskRunId: "t3", upstreamTaskRunId: "t3", parameter: "y" }],
      logs: [
        { flowRunId: "old", taskRunId: null, level: 20, source: "Flow run 'run-old'", message: "a", timestamp: old },
        { flowRunId: "old", taskRunId: "t1", level: 20, source: "Task run 't1-0'", message: "b", timestamp: old },
        { flowRunId: null, taskRunId: "s1", level: 20, source: "Task run 's1'", message: "c", timestamp: old },
        { flowRunId: null, taskRunId: null, level: 20, source: "flowctl.engine", message: "d", timestamp: old },
        { flowRunId: "new", taskRunId: null, level: 20, source: "Flow run 'run-new'", message: "e", timestamp: NOW },
        { flowRunId: null, taskRunId: null, level: 20, source: "flowctl.engine", message: "f", timestamp: NOW },
      ],
    }));
    const res = await store.pruneOlderThan(NOW - DAY);
    assert.deepEqual({ ...res, cacheKeys: [...res.cacheKeys].sort(), flowRunIds: [...res.flowRunIds!].sort() }, {
      flowRunIds: ["old", "oldsub"], flowRuns: 2, taskRuns: 3, states: 6, logs: 4, cacheKeys: ["only-old", "standalone"],
    });
    const flows = (await store.listFlowRuns()).map((r) => r.id).sort();
    assert.deepEqual(flows, ["busy", "new", "newsub", "oldparent"]);
    const tasks = (await store.listTaskRuns()).map((r) => r.id).sort();
    assert.deepEqual(tasks, ["s2", "t3", "t4"]);
    assert.deepEqual(await store.getStates("old"), []);
    assert.equal((await store.getStates("new")).length, 1);
    assert.deepEqual(await store.getInputs("t2"), []);
    assert.equal((await store.getInputs("t3")).length, 1);
    assert.deepEqual((await store.getLogs({})).map((l) => l.message), ["e", "f"]);
    // nothing left to prune at the same cutoff
    assert.deepEqual(await store.pruneOlderThan(NOW - DAY), { flowRunIds: [], flowRuns: 0, taskRuns: 0, states: 0, logs: 0, cacheKeys: [] });
  });
});
