/**
 * The SQLite write thread's answers without an event-loop turn (`WriteThread.pollApplied`): a
 * flow whose task runs go on microtasks alone never lets the thread's 'message' answers in, so
 * what the thread has applied is also told through shared memory, in order, and stops being told
 * there after a failed batch (whose rejection, and what follows it, come as messages). The
 * heartbeat goes through the thread too, so the main thread never waits on the store's lock.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openStore } from "../../src/store/index.ts";
import { openSqliteFile } from "../../src/store/sqlite/open.ts";
import { WriteThread } from "../../src/store/sqlite/write-thread.ts";
import { FLOW_COLS } from "../../src/store/sqlite/batch-writer.mjs";
import type { FlowRunRow, TaskRunRow, WriteBatch } from "../../src/store/types.ts";

function taskRow(id: string, over: Partial<TaskRunRow> = {}): TaskRunRow {
  return {
    id, name: `noop-${id}`, taskName: "noop", taskKey: "noop-key", flowRunId: null, parentTaskRunId: null, parameters: "{}", tags: "[]",
    stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1, cacheKey: null, created: 1000, startTime: 1000,
    endTime: 1001, updated: 1001, ...over,
  };
}
/** A Running flow run of this process, its heartbeat at `at`. */
function liveFlowRow(id: string, at: number): FlowRunRow {
  return {
    id, name: "great-amber-ammonite", flowName: "etl", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: "RUNNING", stateName: "Running", stateMessage: null, runCount: 1, created: at,
    startTime: at, endTime: null, updated: at, pid: process.pid, host: "here", heartbeat: at,
  };
}
const batch = (rows: TaskRunRow[]): WriteBatch => ({ flowRuns: [], taskRuns: rows, states: [], inputs: [], logs: [] });

/** Spin on microtasks only (no timer, no I/O, no message can come in) until `done()` or 5 s. */
async function onMicrotasks(thread: WriteThread, done: () => boolean): Promise<void> {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + 5000;
  while (!done() && Date.now() < until) {
    thread.pollApplied();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    Atomics.wait(nap, 0, 0, 2);
  }
}

async function withThread(fn: (thread: WriteThread, count: () => number) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-write-thread-"));
  const path = join(dir, "flowctl.db");
  openSqliteFile(path).close(); // the schema, as the store creates it before starting the thread
  const thread = new WriteThread(path, 5000);
  try {
    while (!thread.ready) await sleep(5);
    await fn(thread, () => {
      const db = openSqliteFile(path);
      try {
        return (db.prepare("SELECT count(*) AS n FROM task_runs").get() as { n: number }).n;
      } finally {
        db.close();
      }
    });
  } finally {
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("applied batches are answered on microtasks alone, in order, through shared memory", async () => {
  await withThread(async (thread, count) => {
    const answered: number[] = [];
    const writes = [1, 2, 3].map((n) => thread.write(batch([taskRow(`t${n}`)])).then(() => answered.push(n)));
    await onMicrotasks(thread, () => answered.length === 3);
    assert.deepEqual(answered, [1, 2, 3], "every write answered without an event-loop turn, oldest first");
    assert.equal(thread.busy, false);
    await Promise.all(writes);
    assert.equal(count(), 3);
  });
});

test("after a failed batch, shared memory tells nothing more: the failure and the writes after it are answered by messages", async () => {
  await withThread(async (thread, count) => {
    await thread.write(batch([taskRow("ok1")]));
    // NOT NULL: a row without a name fails the batch
    const failed = thread.write(batch([taskRow("bad", { name: null as unknown as string })])).then(
      () => "resolved",
      (err: Error) => err.message,
    );
    let after = false;
    const later = thread.write(batch([taskRow("ok2")])).then(() => (after = true));
    let outcome: string | undefined;
    void failed.then((o) => (outcome = o));
    await onMicrotasks(thread, () => after);
    assert.equal(after, false, "a write after the failed one is not answered through shared memory");
    assert.equal(outcome, undefined, "nor is the failed one");
    // an event-loop turn lets the messages in
    assert.match(await failed, /Writing to the run store at .* failed: .*NOT NULL/);
    await later;
    assert.equal(count(), 2);
  });
});

test("a heartbeat is applied on the thread after the batches posted before it, and the main thread never waits on the write lock for it", async () => {
  await withThread(async (thread) => {
    // posted behind the batch that creates the run, not awaited: the beat sees the run
    void thread.write({ flowRuns: [liveFlowRow("f1", 1000)], taskRuns: [], states: [], inputs: [], logs: [] });
    const first = await thread.beat(FLOW_COLS, ["f1", "missing"], 2000);
    assert.deepEqual(first.map((r) => [r.id, r.heartbeat]), [["f1", 2000]]);

    // another connection holds the store's write lock: the beat waits on the thread, this thread goes on
    const other = openSqliteFile(thread.path);
    try {
      other.exec("BEGIN IMMEDIATE");
      let answered = false;
      const second = thread.beat(FLOW_COLS, ["f1"], 3000).then((rows) => ((answered = true), rows));
      const started = Date.now();
      await sleep(150);
      assert.equal(answered, false, "the beat waits for the lock");
      assert.ok(Date.now() - started < 1000, "timers ran while the lock was held");
      other.exec("COMMIT");
      assert.deepEqual((await second).map((r) => [r.id, r.heartbeat]), [["f1", 3000]]);
    } finally {
      other.close();
    }
  });
});

test("the store's heartbeat goes through its write thread: another connection's lock does not block this thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-write-thread-"));
  const path = join(dir, "flowctl.db");
  const store = await openStore(`sqlite://${path}`);
  const other = openSqliteFile(path);
  try {
    const at = Date.now();
    await store.writeBatch({ flowRuns: [liveFlowRow("f1", at)], taskRuns: [], states: [], inputs: [], logs: [] });
    other.exec("BEGIN IMMEDIATE");
    let answered = false;
    const beat = store.beat(["f1"], { at: at + 500, pid: process.pid, host: "here" }).then((rows) => ((answered = true), rows));
    // on the main connection the beat waited for the lock inside the call, holding this thread
    const ticked = await Promise.race([sleep(100).then(() => true), beat.then(() => false)]);
    assert.equal(ticked, true, "a timer fired while the beat waited");
    assert.equal(answered, false);
    other.exec("COMMIT");
    assert.deepEqual((await beat).map((r) => [r.id, r.heartbeat]), [["f1", at + 500]]);
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
