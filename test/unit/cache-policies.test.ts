import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  DEFAULT,
  FLOW_PARAMETERS,
  INPUTS,
  NONE,
  RUN_ID,
  TASK_SOURCE,
  isCachePolicy,
  taskInputHash,
  taskInputHashResult,
  type CacheKeyInput,
  type CachePolicy,
  type KeyResult,
} from "../../src/results/index.ts";

function input(over: Partial<CacheKeyInput> = {}): CacheKeyInput {
  return {
    taskKey: "add-1a2b",
    taskSource: "function add(a, b) { return a + b; }",
    parameters: { a: 1, b: 2 },
    thisArg: undefined,
    flowRunId: "flow-run-1",
    taskRunId: "task-run-1",
    flowParameters: { n: 3 },
    ...over,
  };
}

function keyOf(policy: CachePolicy, over: Partial<CacheKeyInput> = {}): string {
  const r = policy.computeKey(input(over));
  assert.ok(r.key !== undefined, `expected a key from ${String(policy)}, got ${JSON.stringify(r)}`);
  return r.key;
}

function warningOf(r: KeyResult): string {
  assert.equal(r.key, undefined);
  assert.ok("warning" in r && typeof r.warning === "string", "expected a warning");
  return r.warning;
}

test("NONE gives no key and adds nothing", () => {
  assert.deepEqual(NONE.computeKey(input()), { key: undefined });
  assert.equal(NONE.isNone, true);
  assert.equal(NONE.add(INPUTS), INPUTS);
  assert.equal(INPUTS.add(NONE), INPUTS);
  assert.equal(String(NONE), "NONE");
  assert.equal(NONE.add(NONE).isNone, true);
});

test("DEFAULT is TASK_SOURCE + RUN_ID + INPUTS", () => {
  assert.equal(String(DEFAULT), "TASK_SOURCE + RUN_ID + INPUTS");
  assert.equal(DEFAULT.isNone, false);
  assert.equal(keyOf(DEFAULT), keyOf(TASK_SOURCE.add(RUN_ID).add(INPUTS)));
  assert.equal(String(DEFAULT.add(INPUTS)), String(DEFAULT), "adding a part twice is a no-op");
  assert.ok(isCachePolicy(DEFAULT) && !isCachePolicy({}));
});

test("INPUTS follows the parameters, not their key order", () => {
  assert.equal(keyOf(INPUTS), keyOf(INPUTS, { parameters: { b: 2, a: 1 } }));
  assert.notEqual(keyOf(INPUTS), keyOf(INPUTS, { parameters: { a: 1, b: 3 } }));
  assert.equal(keyOf(INPUTS), keyOf(INPUTS, { taskRunId: "other", flowRunId: "other", taskSource: "x" }));
  const d = (ms: number) => ({ when: new Date(ms), tags: new Set(["a", "b"]), big: 7n, bytes: new Uint8Array([1]) });
  assert.equal(keyOf(INPUTS, { parameters: d(1) }), keyOf(INPUTS, { parameters: d(1) }));
  assert.notEqual(keyOf(INPUTS, { parameters: d(1) }), keyOf(INPUTS, { parameters: d(2) }));
});

test("INPUTS includes a method's this", () => {
  assert.notEqual(keyOf(INPUTS, { thisArg: { id: 1 } }), keyOf(INPUTS, { thisArg: { id: 2 } }));
  assert.notEqual(keyOf(INPUTS, { thisArg: { id: 1 } }), keyOf(INPUTS));
  assert.equal(keyOf(INPUTS, { thisArg: { id: 1 } }), keyOf(INPUTS, { thisArg: { id: 1 } }));
});

test("INPUTS.exclude ignores the named parameters", () => {
  const policy = INPUTS.exclude("b");
  assert.equal(keyOf(policy), keyOf(policy, { parameters: { a: 1, b: 99 } }));
  assert.notEqual(keyOf(policy), keyOf(policy, { parameters: { a: 2, b: 2 } }));
  assert.equal(String(policy), 'INPUTS.exclude("b")');
  assert.equal(String(policy.exclude("a")), 'INPUTS.exclude("a", "b")');
  // an excluded parameter may be unhashable
  assert.ok(keyOf(INPUTS.exclude("log"), { parameters: { a: 1, log: () => {} } }));
  assert.notEqual(keyOf(INPUTS), keyOf(policy), "excluding changes the key");
});

test("TASK_SOURCE changes when the function's source does", () => {
  assert.equal(keyOf(TASK_SOURCE), keyOf(TASK_SOURCE, { parameters: { a: 5 }, taskRunId: "z" }));
  assert.notEqual(keyOf(TASK_SOURCE), keyOf(TASK_SOURCE, { taskSource: "function add(a, b) { return b + a; }" }));
});

test("RUN_ID is the flow run's id, else the task run's", () => {
  assert.equal(keyOf(RUN_ID), keyOf(RUN_ID, { taskRunId: "task-run-2" }), "same flow run");
  assert.notEqual(keyOf(RUN_ID), keyOf(RUN_ID, { flowRunId: "flow-run-2" }));
  const standalone = { flowRunId: undefined, flowParameters: undefined };
  assert.notEqual(keyOf(RUN_ID, standalone), keyOf(RUN_ID, { ...standalone, taskRunId: "task-run-2" }));
});

test("FLOW_PARAMETERS hashes the flow's parameters; nothing outside a flow", () => {
  assert.equal(keyOf(FLOW_PARAMETERS), keyOf(FLOW_PARAMETERS, { flowParameters: { n: 3 }, parameters: {} }));
  assert.notEqual(keyOf(FLOW_PARAMETERS), keyOf(FLOW_PARAMETERS, { flowParameters: { n: 4 } }));
  assert.deepEqual(FLOW_PARAMETERS.computeKey(input({ flowParameters: undefined })), { key: undefined });
  // combined, the missing part is skipped and the rest still keys the run
  assert.ok(keyOf(FLOW_PARAMETERS.add(INPUTS), { flowParameters: undefined }));
});

test("combinations differ from their parts", () => {
  const keys = [INPUTS, TASK_SOURCE, RUN_ID, FLOW_PARAMETERS, INPUTS.add(RUN_ID), DEFAULT].map((p) => keyOf(p));
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(String(INPUTS.add(RUN_ID).add(TASK_SOURCE)), "INPUTS + RUN_ID + TASK_SOURCE");
});

test("policy keys are scoped to the task key", () => {
  for (const policy of [INPUTS, TASK_SOURCE, RUN_ID, DEFAULT]) {
    const a = keyOf(policy);
    const b = keyOf(policy, { taskKey: "add-9z9z" });
    assert.notEqual(a, b, String(policy));
    assert.ok(a.startsWith("add-1a2b:"), a);
  }
});

test("an unhashable input gives a warning naming the parameter, not a throw", () => {
  const fnWarning = warningOf(DEFAULT.computeKey(input({ parameters: { a: 1, items: [0, 0, { fn: () => 1 }] } })));
  assert.match(fnWarning, /parameter 'items'/);
  assert.match(fnWarning, /items\[2\]\.fn is a function/);
  assert.match(fnWarning, /without caching/);
  assert.match(fnWarning, /INPUTS\.exclude\("items"\)/);

  const loop: Record<string, unknown> = {};
  loop.loop = loop;
  assert.match(warningOf(INPUTS.computeKey(input({ parameters: { cfg: loop } }))), /parameter 'cfg'.*cfg\.loop is a circular reference/);

  const socket = new net.Socket();
  try {
    const w = warningOf(INPUTS.computeKey(input({ parameters: { conn: socket } })));
    assert.match(w, /parameter 'conn'.*conn is an EventEmitter/);
  } finally {
    socket.destroy();
  }

  assert.match(warningOf(INPUTS.computeKey(input({ thisArg: { cb: () => 1 } }))), /`this`.*this\.cb is a function/);
  assert.match(
    warningOf(FLOW_PARAMETERS.computeKey(input({ flowParameters: { f: Symbol("x") } }))),
    /flow parameter 'f'.*f is a symbol/,
  );
});

test("add refuses something that is not a policy", () => {
  assert.throws(() => INPUTS.add({} as CachePolicy), /Expected a cache policy/);
});

test("taskInputHash hashes the task key and the inputs", () => {
  const ctx = (taskKey: string) => ({ task: { taskKey }, taskRun: { parameters: {} } });
  const k = taskInputHash(ctx("t1"), { a: 1, b: [1, 2] });
  assert.match(k ?? "", /^[0-9a-f]{64}$/);
  assert.equal(taskInputHash(ctx("t1"), { b: [1, 2], a: 1 }), k);
  assert.notEqual(taskInputHash(ctx("t2"), { a: 1, b: [1, 2] }), k);
  assert.notEqual(taskInputHash(ctx("t1"), { a: 2, b: [1, 2] }), k);
  assert.equal(taskInputHash(ctx("t1"), { fn: () => 1 }), undefined);
  assert.match(warningOf(taskInputHashResult(ctx("t1"), { fn: () => 1 })), /parameter 'fn'.*fn is a function/);
});
