/**
 * A task run's states packed into its row (store/packed-states.ts): the text round-trips every
 * field, leaves a place for the states kept as rows, and merges with those rows by seq.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeStates, packStates, unpackStates } from "../../src/store/packed-states.ts";
import type { StateRow } from "../../src/store/types.ts";

const T = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
const list = [
  { type: "PENDING" as const, name: "Pending", ts: T },
  { type: "SCHEDULED" as const, name: 'Awaiting "Retry"\n', ts: T + 1, message: "wait ⏳ \\ here", at: T + 60_000 },
  { type: "FAILED" as const, name: "Failed", ts: T + 2 },
  { type: "COMPLETED" as const, name: "Completed", ts: T + 3, at: T + 5 },
];
const text = packStates(
  list.map((s) => ({
    ...s,
    scheduledTime: s.at === undefined ? undefined : new Date(s.at),
    error: s.type === "FAILED" ? new Error("kept as a row") : undefined,
  })),
  (m) => m,
);

test("packStates writes JSON: one entry per seq, null where the state is a row of its own, optional fields only when set", () => {
  assert.deepEqual(JSON.parse(text), [
    ["PENDING", "Pending", T],
    ["SCHEDULED", 'Awaiting "Retry"\n', T + 1, "wait ⏳ \\ here", T + 60_000],
    null,
    ["COMPLETED", "Completed", T + 3, null, T + 5],
  ]);
  assert.equal(packStates([], (m) => m), "[]");
});

test("unpackStates gives the rows back (seq from the place), skipping the states kept as rows", () => {
  const rows = unpackStates("t1", text);
  assert.deepEqual(rows, [
    { runId: "t1", seq: 0, runKind: "task", type: "PENDING", name: "Pending", message: null, timestamp: T, scheduledTime: null, error: null },
    {
      runId: "t1", seq: 1, runKind: "task", type: "SCHEDULED", name: 'Awaiting "Retry"\n', message: "wait ⏳ \\ here", timestamp: T + 1,
      scheduledTime: T + 60_000, error: null,
    },
    { runId: "t1", seq: 3, runKind: "task", type: "COMPLETED", name: "Completed", message: null, timestamp: T + 3, scheduledTime: T + 5, error: null },
  ]);
  assert.deepEqual(unpackStates("t1", null), []);
  assert.deepEqual(unpackStates("t1", "not json"), [], "a damaged text reads as no states, not an exception");
  assert.deepEqual(unpackStates("t1", '{"a":1}'), []);
});

test("mergeStates: rows and packed states in seq order; the packed one wins where both hold a seq", () => {
  const failed: StateRow = { runId: "t1", seq: 2, runKind: "task", type: "FAILED", name: "Failed", message: "x", timestamp: T + 2, scheduledTime: null, error: '{"name":"Error"}' };
  const guess: StateRow = { ...failed, seq: 3, type: "CRASHED", name: "Crashed", error: null };
  const later: StateRow = { ...failed, seq: 4, type: "CRASHED", name: "Crashed", error: null };
  const merged = mergeStates([failed, guess, later], "t1", text);
  assert.deepEqual(merged.map((s) => [s.seq, s.type]), [[0, "PENDING"], [1, "SCHEDULED"], [2, "FAILED"], [3, "COMPLETED"], [4, "CRASHED"]]);
  assert.deepEqual(mergeStates([failed], "t1", null), [failed]);
});
