/**
 * A store outage that loses nothing is a WARNING, not an error: the writer keeps the rows,
 * says once that it is retrying, and says when the store answers again that nothing was lost.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StoreWriter } from "../../src/store/writer.ts";
import type { RunStore, WriteBatch } from "../../src/store/types.ts";

test("a write that fails and then succeeds: two warning lines, every row written once", async () => {
  const written: WriteBatch[] = [];
  let failures = 2;
  const store = {
    async writeBatch(batch: WriteBatch) {
      if (failures-- > 0) throw new Error("connection refused");
      written.push(batch);
    },
  } as unknown as RunStore;
  const writer = new StoreWriter({ exitHooks: false });
  writer.storeProvider = async () => store;
  const lines: string[] = [];
  writer.notices = { write: (l) => void lines.push(l) };
  writer.addLog({ level: 20, source: "t", message: "one", timestamp: 1, flowRunId: "f1", taskRunId: undefined });
  await assert.rejects(writer.flush(), /connection refused/);
  writer.addLog({ level: 20, source: "t", message: "two", timestamp: 2, flowRunId: "f1", taskRunId: undefined });
  await assert.rejects(writer.flush(), /connection refused/);
  await writer.flush();
  assert.deepEqual(lines, [
    "flowctl: warning: cannot write to the run store: connection refused; keeping the rows and retrying\n",
    "flowctl: warning: the run store answers again; the rows kept meanwhile are written, nothing was lost\n",
  ]);
  assert.deepEqual(written.flatMap((b) => b.logs.map((l) => l.message)), ["one", "two"]);
  assert.ok(!lines.some((l) => l.includes("error")));
});
