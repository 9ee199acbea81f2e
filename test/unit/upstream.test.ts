/**
 * Upstream dependencies: futures passed as arguments (also nested) are resolved before the task
 * runs and recorded as its inputs; a failed upstream makes the downstream NotReady without
 * running it, and that cascades; `waitFor`; `allowFailure`; a task waiting on its own future.
 * On the test harness: what the store got is read from the harness's own store.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { allowFailure, asCompleted, flow, task, wait, type Task, type TaskRunFuture } from "flowctl";
import { testHarness, type TestHarness } from "flowctl/testing";

// one harness for the file: runs, logs and the store in memory, time limits on its clock
let h: TestHarness;
before(async () => {
  h = await testHarness({ settings: { PREFECT_LOGGING_LEVEL: "DEBUG" } });
});
after(() => h.close());

const value = task(async function value(v: unknown) {
  return v;
}) as unknown as Task<[v: unknown], any>;
const fail = task(async function fail(message: string) {
  throw new Error(message);
});

describe("futures as arguments", () => {
  test("are resolved (also inside arrays, objects, Maps and Sets) and recorded as inputs", async () => {
    const seen: unknown[] = [];
    const consume = task(async function consume(direct: number, nested: { list: unknown[]; map: Map<string, unknown>; set: Set<unknown> }) {
      seen.push(direct, nested);
      return "ok";
    });
    let fut!: TaskRunFuture;
    let ups: TaskRunFuture<any>[] = [];
    const f = flow(async function nesting() {
      ups = [value.submit(1), value.submit(2), value.submit(3), value.submit(4)];
      fut = consume.submit(ups[0]!, { list: [ups[1], [ups[1]]], map: new Map([["k", ups[2]]]), set: new Set([ups[3]]) });
      return fut.result();
    });
    assert.equal(await h.run(f), "ok");
    assert.deepEqual(seen, [1, { list: [2, [2]], map: new Map([["k", 3]]), set: new Set([4]) }]);
    const run = fut.taskRun;
    assert.deepEqual(run.parameters.direct, 1, "parameters hold the resolved values");
    assert.deepEqual(
      run.inputs.map((i) => [i.parameter, i.taskRunId]).sort(),
      [["direct", ups[0]!.taskRunId], ["nested", ups[1]!.taskRunId], ["nested", ups[2]!.taskRunId], ["nested", ups[3]!.taskRunId]].sort(),
    );
    const store = h.store;
    const inputs = await store.getInputs(fut.taskRunId);
    assert.equal(inputs.length, 4);
    const row = await store.getTaskRun(fut.taskRunId);
    assert.deepEqual(JSON.parse(row!.parameters), { direct: 1, nested: { list: [2, [2]], map: { k: 3 }, set: [4] } });
  });

  test("an object-parameter task records inputs under the object's keys", async () => {
    const sum = task(async function sum({ a, b }: { a: number; b: number }) {
      return a + b;
    });
    let fut!: TaskRunFuture;
    const f = flow(async function objParams() {
      const a = value.submit(2);
      fut = sum.submit({ a: a as unknown as number, b: 3 }); // TaskArgs types top-level futures only
      return fut.result();
    });
    assert.equal(await h.run(f), 5);
    assert.deepEqual(fut.taskRun.inputs.map((i) => i.parameter), ["a"]);
  });

  test("a direct call with a future argument awaits it too", async () => {
    const inc = task(async function inc(x: number) {
      return x + 1;
    });
    const f = flow(async function direct() {
      return inc(value.submit(41));
    });
    assert.equal(await h.run(f), 42);
  });
});

describe("a failed upstream", () => {
  test("makes the downstream NotReady without running it, and that cascades", async () => {
    let ran = 0;
    const after1 = task(async function after1(x: unknown) {
      ran++;
      return x;
    });
    const after2 = task(async function after2(x: unknown) {
      ran++;
      return x;
    });
    let futs: TaskRunFuture[] = [];
    const f = flow(async function cascade() {
      const up = fail.submit("upstream broke");
      const mid = after1.submit(up);
      const last = after2.submit([mid]);
      futs = [up, mid, last];
    });
    await assert.rejects(h.run(f), (e: Error & { code?: string }) => e.code === "FLOW_RUN_FAILED" && e.message === "3/3 states failed.");
    assert.equal(ran, 0);
    const [up, mid, last] = futs as [TaskRunFuture, TaskRunFuture, TaskRunFuture];
    assert.equal(up.state.name, "Failed");
    assert.equal(mid.state.name, "NotReady");
    assert.equal(mid.state.type, "PENDING");
    assert.equal(mid.state.message, `Upstream task run '${up.taskRun.name}' did not reach a 'COMPLETED' state.`);
    assert.equal(last.state.message, `Upstream task run '${mid.taskRun.name}' did not reach a 'COMPLETED' state.`);
    await assert.rejects(mid.result(), (e: Error & { code?: string }) => e.code === "UPSTREAM_NOT_COMPLETED" && e.message === mid.state.message);
    const errors = h.logs({ level: "ERROR" }).map((r) => `${r.source} - ${r.message}`);
    assert.ok(errors.includes(`Task run '${mid.taskRun.name}' - ${mid.state.message}`), errors.join("\n"));
    assert.deepEqual(mid.taskRun.states.map((s) => s.name), ["Pending", "NotReady"]);
    const store = h.store;
    const midRow = await store.getTaskRun(mid.taskRunId);
    assert.equal(midRow?.stateName, "NotReady");
    // an unresolved future shows in the stored parameters as a reference, not as its whole run
    assert.deepEqual(JSON.parse(midRow!.parameters), { x: { taskRunFuture: up.taskRun.name, id: up.taskRunId } });
    assert.deepEqual((await store.getInputs(last.taskRunId)).map((i) => i.upstreamTaskRunId), [mid.taskRunId]);
  });

  test("a direct call rejects with the NotReady error", async () => {
    const never = task(async function never(x: unknown) {
      return x;
    });
    const f = flow(async function directNotReady() {
      const up = fail.submit("bad");
      await assert.rejects(never(up), (e: Error & { code?: string }) => e.code === "UPSTREAM_NOT_COMPLETED");
      return "checked";
    });
    assert.equal(await h.run(f), "checked");
  });

  test("allowFailure passes the upstream's error in as the value", async () => {
    const describeIt = task(async function describeIt(x: unknown) {
      return x instanceof Error ? `error: ${x.message}` : `value: ${String(x)}`;
    });
    const f = flow(async function tolerant() {
      return [await describeIt(allowFailure(fail.submit("tolerated"))), await describeIt(allowFailure(value.submit(5)))];
    });
    assert.deepEqual(await h.run(f), ["error: tolerated", "value: 5"]);
  });
});

describe("waitFor", () => {
  test("t.with({ waitFor }) runs after the futures finish and records them as inputs", async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writeIt = task(async function writeIt() {
      await gate;
      order.push("write");
    });
    const readIt = task(async function readIt() {
      order.push("read");
      return "read";
    });
    let w!: TaskRunFuture;
    let r!: TaskRunFuture;
    const f = flow(async function ordered() {
      w = writeIt.submit();
      r = readIt.with({ waitFor: [w] }).submit();
      setImmediate(release);
      return readIt.with({ waitFor: [w, r] })();
    });
    assert.equal(await h.run(f), "read");
    assert.deepEqual(order, ["write", "read", "read"]);
    assert.deepEqual(r.taskRun.inputs, [{ parameter: "waitFor", taskRunId: w.taskRunId }]);
  });

  test("a waitFor future that failed makes the run NotReady", async () => {
    const after3 = task(async function after3() {
      return "ran";
    });
    const f = flow(async function waitFailed() {
      const up = fail.submit("nope");
      const st = await after3.with({ waitFor: [up], returnState: true })();
      return [st.name, st.message];
    });
    const [name, message] = (await h.run(f)) as [string, string];
    assert.equal(name, "NotReady");
    assert.match(message, /^Upstream task run 'fail-\d+' did not reach a 'COMPLETED' state\.$/);
  });

  test("waitFor must be an array", () => {
    assert.throws(() => value.with({ waitFor: "x" as never }), /task\.with\(\{ waitFor \}\) expects an array of futures/);
  });
});

describe("a task waiting on its own future", () => {
  test("result() inside the task's own body fails the run instead of hanging", async () => {
    const box: { self?: TaskRunFuture } = {};
    const selfish = task(async function selfish() {
      return box.self!.result();
    });
    const f = flow(async function selfWait() {
      box.self = selfish.submit();
      const st = await box.self.wait();
      return [st.name, st.message];
    });
    const [name, message] = (await h.run(f)) as [string, string];
    assert.equal(name, "Failed");
    assert.match(message, /Task run 'selfish-0' cannot wait on its own future/);
  });

  test("wait([...]) and asCompleted([...]) of its own future fail the same way", async () => {
    const box: { self?: TaskRunFuture } = {};
    const viaWait = task(async function viaWait() {
      await wait([box.self!]);
    });
    const viaAsCompleted = task(async function viaAsCompleted() {
      for await (const _ of asCompleted([box.self!]));
    });
    for (const t of [viaWait, viaAsCompleted]) {
      const st = await h.run(() => {
        box.self = t.submit();
        return box.self.wait(10);
      });
      assert.equal(st.name, "Failed", `${t.name}: ${st.toString()}`);
      assert.match(st.message ?? "", /cannot wait on its own future/);
    }
  });

  test("waitFor holding the run's own future fails it at once", async () => {
    const holder: TaskRunFuture[] = [];
    const loop = task(async function loop() {
      return "never";
    });
    const st = await h.run(() => {
      const fut = loop.with({ waitFor: holder }).submit();
      holder.push(fut);
      return fut.wait(10);
    });
    assert.equal(st.type, "FAILED", st.toString());
    assert.match(st.message ?? "", /Task run 'loop' cannot wait on its own future/);
  });
});
