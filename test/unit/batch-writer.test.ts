/**
 * The SQLite batch writer's group commit: several batches in one transaction write a task run
 * that comes more than once as one row (its latest), at its first place, and every state of it.
 * The store it leaves must be the one that writing the batches one by one leaves.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { collapseTaskRows, createBatchWriter, packBatch, TASK_WRITE_COLS } from "../../src/store/sqlite/batch-writer.mjs";
import { openSqliteFile } from "../../src/store/sqlite/open.ts";
import type { KeptResultRow, StateRow, StateType, TaskRunRow, WriteBatch } from "../../src/store/types.ts";

const FLOW = "flow-1";

function taskRow(id: string, stateType: StateType, updated: number, extra: Partial<TaskRunRow> = {}): TaskRunRow {
  const name = stateType[0] + stateType.slice(1).toLowerCase();
  return {
    id, name: `noop-${id}`, taskName: "noop", taskKey: "noop-key", flowRunId: FLOW, parentTaskRunId: null, parameters: `{"i":"${id}"}`,
    tags: "[]", stateType, stateName: name, stateMessage: null, runCount: stateType === "PENDING" ? 0 : 1, cacheKey: null,
    created: 1000, startTime: stateType === "PENDING" ? null : updated, endTime: stateType === "COMPLETED" ? updated : null, updated, ...extra,
  };
}

function stateRow(runId: string, seq: number, type: StateType, timestamp: number): StateRow {
  return { runId, seq, runKind: "task", type, name: type, message: null, timestamp, scheduledTime: null, error: null };
}

function batch(taskRuns: TaskRunRow[], states: StateRow[] = []): WriteBatch {
  return { flowRuns: [], taskRuns, states, inputs: [], logs: [] };
}

/** The batches of a `.map` as the write thread sees them: Pending rows, then later snapshots, interleaved with other runs. */
function mapBatches(): WriteBatch[] {
  return [
    batch([taskRow("a", "PENDING", 10), taskRow("b", "PENDING", 10), taskRow("c", "PENDING", 10)], [
      stateRow("a", 0, "PENDING", 10), stateRow("b", 0, "PENDING", 10), stateRow("c", 0, "PENDING", 10),
    ]),
    batch([taskRow("b", "RUNNING", 20), taskRow("d", "PENDING", 20)], [stateRow("b", 1, "RUNNING", 20), stateRow("d", 0, "PENDING", 20)]),
    batch([taskRow("b", "COMPLETED", 30), taskRow("a", "COMPLETED", 30), taskRow("d", "COMPLETED", 30)], [
      stateRow("b", 2, "COMPLETED", 30), stateRow("a", 1, "RUNNING", 25), stateRow("a", 2, "COMPLETED", 30),
      stateRow("d", 1, "RUNNING", 30), stateRow("d", 2, "COMPLETED", 30),
    ]),
    // a snapshot older than the one before it (a clock stepping back): the upsert keeps the newer
    batch([taskRow("c", "RUNNING", 40), taskRow("c", "PENDING", 35, { stateMessage: "older" })], [stateRow("c", 1, "RUNNING", 40)]),
  ];
}

function dump(db: ReturnType<typeof openSqliteFile>) {
  return {
    tasks: db.prepare(`SELECT rowid, ${TASK_WRITE_COLS} FROM task_runs ORDER BY rowid`).all(),
    states: db.prepare("SELECT * FROM run_states ORDER BY run_id, seq").all(),
  };
}

test("batches written together leave what writing them one by one leaves, each task run written once", () => {
  const oneByOne = openSqliteFile(":memory:");
  const together = openSqliteFile(":memory:");
  try {
    const w1 = createBatchWriter(oneByOne);
    for (const b of mapBatches()) w1(packBatch(b));
    const w2 = createBatchWriter(together);
    w2.many(mapBatches().map(packBatch));
    const a = dump(oneByOne);
    const b = dump(together);
    assert.deepEqual(b, a);
    assert.deepEqual(
      b.tasks.map((r) => [(r as { id: string }).id, (r as { state_type: string }).state_type]),
      [["a", "COMPLETED"], ["b", "COMPLETED"], ["c", "RUNNING"], ["d", "COMPLETED"]],
    );
    assert.equal(b.states.length, 11);
  } finally {
    oneByOne.close();
    together.close();
  }
});

test("a group written onto rows stored before: the newer stored row is not moved back", () => {
  const db = openSqliteFile(":memory:");
  try {
    const write = createBatchWriter(db);
    write(packBatch(batch([taskRow("a", "COMPLETED", 50)])));
    write.many([packBatch(batch([taskRow("a", "PENDING", 10)])), packBatch(batch([taskRow("a", "RUNNING", 20)]))]);
    const row = db.prepare("SELECT state_type, updated FROM task_runs WHERE id = 'a'").get();
    assert.deepEqual({ ...(row as object) }, { state_type: "COMPLETED", updated: 50 });
  } finally {
    db.close();
  }
});

test("collapseTaskRows: one row per run at its first place; the list itself when no run repeats", () => {
  const distinct = [packBatch(batch([taskRow("a", "PENDING", 1)])), packBatch(batch([taskRow("b", "PENDING", 1)]))];
  assert.equal(collapseTaskRows(distinct), distinct);
  const single = [packBatch(batch([taskRow("a", "PENDING", 1)]))];
  assert.equal(collapseTaskRows(single), single);
  const [merged] = collapseTaskRows(mapBatches().map(packBatch));
  const width = TASK_WRITE_COLS.split(", ").length;
  const ids = merged!.taskRuns.filter((_, i) => i % width === 0);
  assert.deepEqual(ids, ["a", "b", "c", "d"]);
  const stateTypes = merged!.taskRuns.filter((_, i) => i % width === TASK_WRITE_COLS.split(", ").indexOf("state_type"));
  assert.deepEqual(stateTypes, ["COMPLETED", "COMPLETED", "RUNNING", "COMPLETED"]);
});

function kept(taskRunId: string, over: Partial<KeptResultRow> = {}): KeptResultRow {
  return { taskRunId, flowRunId: FLOW, inputsKey: "=[1]", sourceHash: "src", kind: "value", payload: Buffer.from("J1"), message: null, created: 5, ...over };
}

function keptIn(db: ReturnType<typeof openSqliteFile>) {
  const text = (b: unknown) => (b == null ? null : Buffer.from(b as Uint8Array).toString());
  return {
    rows: (db.prepare("SELECT id, kept_kind, kept_payload, kept_created FROM task_runs ORDER BY id").all() as Record<string, unknown>[]).map((r) => [
      r.id, r.kept_kind, text(r.kept_payload), r.kept_created,
    ]),
    table: (db.prepare("SELECT task_run_id, kind, payload FROM task_run_results ORDER BY task_run_id").all() as Record<string, unknown>[]).map((r) => [
      r.task_run_id, r.kind, text(r.payload),
    ]),
  };
}

test("a kept result rides in its task run's row when the batch carries the row, else goes into it once stored, else into task_run_results", () => {
  const db = openSqliteFile(":memory:");
  try {
    const write = createBatchWriter(db);
    write(packBatch({ ...batch([taskRow("a", "COMPLETED", 10)]), results: [kept("a")] }));
    assert.deepEqual(keptIn(db), { rows: [["a", "value", "J1", 5]], table: [] });
    // without their rows: a's is stored (the newest kept result wins), b's is not yet
    write(packBatch({ ...batch([]), results: [kept("b"), kept("a", { payload: Buffer.from("J2"), created: 6 })] }));
    // later snapshots without a kept result leave the stored one
    write(packBatch(batch([taskRow("b", "COMPLETED", 12), taskRow("a", "COMPLETED", 20)])));
    assert.deepEqual(keptIn(db), { rows: [["a", "value", "J2", 6], ["b", null, null, null]], table: [["b", "value", "J1"]] });
    // a replayed kept result (the journal) does not replace one stored
    write(packBatch({ ...batch([taskRow("a", "COMPLETED", 20)]), results: [kept("a", { payload: Buffer.from("J3") })], replayed: true }));
    write(packBatch({ ...batch([]), results: [kept("a", { payload: Buffer.from("J4") })], replayed: true }));
    assert.deepEqual(keptIn(db).rows[0], ["a", "value", "J2", 6]);
  } finally {
    db.close();
  }
});

test("group commit: a run's rows collapsed into one keep the kept result an earlier or later row of it carried", () => {
  const oneByOne = openSqliteFile(":memory:");
  const together = openSqliteFile(":memory:");
  try {
    const batches = () => [
      packBatch({ ...batch([taskRow("c", "RUNNING", 1), taskRow("d", "RUNNING", 1)]), results: [kept("c", { kind: "unkept", payload: null, message: "why" })] }),
      packBatch({ ...batch([taskRow("c", "COMPLETED", 2), taskRow("d", "COMPLETED", 2)]), results: [kept("d")] }),
    ];
    const w1 = createBatchWriter(oneByOne);
    for (const b of batches()) w1(b);
    createBatchWriter(together).many(batches());
    assert.deepEqual(keptIn(together), keptIn(oneByOne));
    assert.deepEqual(keptIn(together).rows, [["c", "unkept", null, 5], ["d", "value", "J1", 5]]);
    const states = together.prepare("SELECT state_type FROM task_runs ORDER BY id").all().map((r) => (r as { state_type: string }).state_type);
    assert.deepEqual(states, ["COMPLETED", "COMPLETED"]);
  } finally {
    oneByOne.close();
    together.close();
  }
});
