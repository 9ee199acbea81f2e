import { test } from "node:test";
import assert from "node:assert/strict";
import { AwaitingRetry, Cached, Completed, Failed, NotReady, Pending, State, TimedOut } from "../../src/engine/states.ts";
import { isFlowctlError } from "../../src/errors.ts";

test("states render as Name('message', type=TYPE)", () => {
  assert.equal(Completed().toString(), "Completed()");
  assert.equal(Completed({ message: "All states completed." }).toString(), "Completed('All states completed.')");
  assert.equal(Cached(1).toString(), "Cached(type=COMPLETED)");
  assert.equal(Failed({ message: "Task run encountered an exception Error: boom" }).toString(), "Failed('Task run encountered an exception Error: boom')");
  assert.equal(
    TimedOut("Task run exceeded timeout of 1 second(s)", new Error("t")).toString(),
    "TimedOut('Task run exceeded timeout of 1 second(s)', type=FAILED)",
  );
  assert.equal(AwaitingRetry(new Date()).toString(), "AwaitingRetry(type=SCHEDULED)");
});

test("state predicates and finality", () => {
  assert.ok(Completed().isFinal() && Completed().isCompleted());
  assert.ok(Failed().isFinal() && Failed().isFailed());
  assert.ok(!Pending().isFinal());
  assert.ok(!NotReady("x", new Error("x")).isFinal());
  assert.ok(new State("CRASHED").isFinal());
  assert.ok(!new State("CRASHED").isFailed());
  assert.equal(Cached(1).type, "COMPLETED");
});

test("result() resolves the value, rejects with the error, refuses non-final states", async () => {
  assert.equal(await Completed({ data: 42 }).result(), 42);
  const err = new TypeError("bad");
  await assert.rejects(Failed({ error: err }).result(), (e) => e === err);
  await assert.rejects(Pending().result(), (e) => isFlowctlError(e, "NOT_FINAL"));
});

test("a thrown non-Error is normalised to an Error that says what was thrown, keeping the value", async () => {
  const s = Failed({ error: "just a string" });
  await assert.rejects(s.result(), (e: Error & { thrown?: unknown }) => e instanceof Error && e.message === 'threw a string: "just a string"' && e.thrown === "just a string");
});

test("console.log and util.inspect show a state's fields as they read (type, name, time, message, data), not how they are kept", async () => {
  const { inspect } = await import("node:util");
  const at = new Date("2031-01-02T03:04:05.678Z");
  const failed = inspect(Failed({ message: "boom", timestamp: at }));
  assert.match(failed, /^State \{/);
  assert.match(failed, /type: 'FAILED'/);
  assert.match(failed, /name: 'Failed'/);
  assert.match(failed, /timestamp: 2031-01-02T03:04:05\.678Z/);
  assert.match(failed, /message: 'boom'/);
  assert.doesNotMatch(failed, /detail|\bat:/);
  assert.match(inspect(Completed({ data: { rows: 3 } })), /data: \{ rows: 3 \}/);
  // nested past the depth: one short line
  assert.match(inspect({ a: { b: Completed() } }, { depth: 0 }), /\[Object\]/);
  assert.match(inspect({ a: { b: Completed() } }, { depth: 1 }), /\[State Completed\(\)\]/);
  // JSON is unchanged: toJSON
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(Failed({ message: "m" })))), ["type", "name", "message", "timestamp"]);
});
