/**
 * The SQLite write thread's answers without an event-loop turn (`WriteThread.pollApplied`): a
 * flow whose task runs go on microtasks alone never lets the thread's 'message' answers in, so
 * what the thread has applied is also told through shared memory, in order, and stops being told
 * there after a failed batch (whose rejection, and what follows it, come as messages).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openSqliteFile } from "../../src/store/sqlite/open.ts";
import { WriteThread } from "../../src/store/sqlite/write-thread.ts";
import type { TaskRunRow, WriteBatch } from "../../src/store/types.ts";

function taskRow(id: string, over: Partial<TaskRunRow> = {}): TaskRunRow {
  return {
    id, name: `noop-${id}`, taskName: "noop", taskKey: "noop-key", flowRunId: null, parentTaskRunId: null, parameters: "{}", tags: "[]",
    stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1, cacheKey: null, created: 1000, startTime: 1000,
    endTime: 1001, updated: 1001, ...over,
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
