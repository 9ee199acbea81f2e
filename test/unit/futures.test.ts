/**
 * `submit()` and futures: a future comes back at once, the run goes on concurrently on the
 * flow's task runner, and `result`/`wait`/`state`/`addDoneCallback`, `wait(futures)` and
 * `asCompleted(futures)` behave as SPEC §3 says. Concurrency is shown by tasks that can only
 * finish if another one runs at the same time (they hand each other a promise), never by timing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { asCompleted, ConcurrentTaskRunner, flow, task, wait, type TaskRunFuture } from "../../src/index.ts";
import { resetSettings } from "../../src/settings/index.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let home: TempHome;
before(async () => {
  home = await useTempHome();
});
after(() => home.cleanup());

describe("submit", () => {
  test("returns a Pending future at once and logs the submission; the run goes on concurrently", async () => {
    const gate = deferred<string>();
    const started = deferred();
    const waitFor = task(async function waitFor() {
      started.resolve();
      return gate.promise;
    });
    const release = task(async function release(value: string) {
      gate.resolve(value);
      return "released";
    });
    let submittedState = "";
    const f = flow(async function submitting() {
      const a = waitFor.submit();
      submittedState = a.state.name;
      assert.equal(typeof a.taskRunId, "string");
      assert.equal(a.taskRun.name, "waitFor-0");
      await started.promise;
      assert.equal(a.state.name, "Running");
      // `a` can only finish because `release` runs while `a` is still running
      const b = release.submit("hello");
      return [await a.result(), await b.result()];
    });
    assert.deepEqual(await f(), ["hello", "released"]);
    assert.equal(submittedState, "Pending");
    const lines = home.lines();
    assert.ok(lines.some((l) => /Flow run '.*' - Submitted task run 'waitFor-0' for execution\.$/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /Flow run '.*' - Submitted task run 'release-0' for execution\.$/.test(l)));
  });

  test("a sync task returns a promise and its future holds the value", async () => {
    const double = task(function double(x: number) {
      return x * 2;
    });
    const f = flow(async function syncSubmit() {
      const fut = double.submit(21);
      assert.equal(fut.state.name, "Pending", "the body has not run inside submit()");
      return fut.result();
    });
    assert.equal(await f(), 42);
  });

  test("works outside a flow (a standalone run on the default runner)", async () => {
    const add = task(async function add(a: number, b: number) {
      return a + b;
    });
    const fut = add.submit(2, 3);
    assert.equal(fut.taskRun.flowRunId, undefined);
    assert.equal(await fut.result(), 5);
    assert.equal(fut.state.type, "COMPLETED");
    const store = await flushedStore();
    const row = await store.getTaskRun(fut.taskRunId);
    assert.equal(row?.stateType, "COMPLETED");
    assert.equal(row?.flowRunId, null);
  });

  test("the flow run waits for every task run it started and counts them in its final state", async () => {
    const gate = deferred();
    let finished = false;
    const slow = task(async function slow() {
      await gate.promise;
      finished = true;
    });
    const boom = task(async function boom() {
      throw new Error("boom");
    });
    const f = flow(async function fireAndForget() {
      slow.submit();
      boom.submit();
      setImmediate(() => gate.resolve());
    });
    await assert.rejects(f(), (e: Error & { code?: string }) => {
      assert.equal(e.code, "FLOW_RUN_FAILED");
      assert.equal(e.message, "1/2 states failed.");
      return true;
    });
    assert.ok(finished, "the flow did not end before the submitted task finished");
  });

  test("a task that never finishes does not block result() with a timeout", async () => {
    const gate = deferred();
    const stuck = task(async function stuck() {
      await gate.promise;
      return 1;
    });
    const f = flow(async function timeouts() {
      const fut = stuck.submit();
      await assert.rejects(fut.result({ timeoutSeconds: 0.05 }), (e: Error & { code?: string }) => {
        assert.equal(e.name, "TimeoutError");
        assert.equal(e.code, "FUTURE_TIMEOUT");
        assert.match(e.message, /Task run 'stuck-0' did not finish within 0.05 second\(s\); its state is Running/);
        return true;
      });
      const s = await fut.wait(0.01);
      assert.equal(s.name, "Running", "wait(timeout) resolves with the state as it is then");
      gate.resolve();
      const final = await fut.wait();
      assert.equal(final.type, "COMPLETED");
      return fut.result({ timeoutSeconds: 5 });
    });
    assert.equal(await f(), 1);
  });
});

describe("future.result and addDoneCallback", () => {
  test("a failed run rejects with the task's own error, or resolves to it with raiseOnFailure: false", async () => {
    class MyError extends Error {}
    const err = new MyError("nope");
    const fails = task(async function fails() {
      throw err;
    });
    const f = flow(async function failing() {
      const fut = fails.submit();
      await assert.rejects(fut.result(), (e) => e === err);
      assert.equal(await fut.result({ raiseOnFailure: false }), err);
      assert.equal(fut.state.type, "FAILED");
      return "handled";
    });
    // the flow returned a value, so it completes although a task failed
    assert.equal(await f(), "handled");
  });

  test("addDoneCallback fires once the run is done, and at once when it already is", async () => {
    const gate = deferred();
    const t = task(async function later() {
      await gate.promise;
      return "v";
    });
    const seen: string[] = [];
    const fut = t.submit();
    fut.addDoneCallback((f) => seen.push(`first:${f.state.name}`));
    assert.deepEqual(seen, []);
    gate.resolve();
    await fut.wait();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ["first:Completed"]);
    const fired = deferred<TaskRunFuture>();
    fut.addDoneCallback((f) => fired.resolve(f));
    assert.equal(await fired.promise, fut);
    assert.throws(() => fut.addDoneCallback("x" as never), /addDoneCallback expects a function/);
  });

  test("negative or non-numeric timeouts are refused", async () => {
    const t = task(async function quick() {
      return 1;
    });
    const fut = t.submit();
    await fut.wait();
    assert.throws(() => fut.wait(-1), /timeoutSeconds must be a non-negative number, got -1/);
    await assert.rejects(fut.result({ timeoutSeconds: -0.5 }), /timeoutSeconds must be a non-negative number, got -0.5/);
    await assert.rejects(wait([fut], { timeoutSeconds: -1 }), /non-negative/);
    await assert.rejects(asCompleted([fut], { timeoutSeconds: Number.NaN }).next(), /non-negative number, got NaN/);
  });
});

describe("wait() and asCompleted()", () => {
  test("wait splits futures into done and notDone when the time runs out", async () => {
    const gate = deferred();
    const quick = task(async function quick() {
      return "q";
    });
    const stuck = task(async function stuck2() {
      await gate.promise;
    });
    const a = quick.submit();
    const b = stuck.submit();
    await a.wait();
    const { done, notDone } = await wait([a, b], { timeoutSeconds: 0.02 });
    assert.deepEqual([...done], [a]);
    assert.deepEqual([...notDone], [b]);
    gate.resolve();
    const all = await wait([a, b]);
    assert.equal(all.done.size, 2);
    assert.equal(all.notDone.size, 0);
  });

  test("asCompleted yields in completion order", async () => {
    const gates = [deferred(), deferred(), deferred()];
    const step = task(async function step(i: number) {
      await gates[i]!.promise;
      return i;
    });
    const futures = [0, 1, 2].map((i) => step.submit(i));
    const order: number[] = [];
    const consumer = (async () => {
      for await (const f of asCompleted(futures)) {
        const v = (await f.result()) as number;
        order.push(v);
        // release the next one only after this one was seen, so the order is fixed
        if (v === 2) gates[0]!.resolve();
        if (v === 0) gates[1]!.resolve();
      }
    })();
    gates[2]!.resolve();
    await consumer;
    assert.deepEqual(order, [2, 0, 1]);
  });

  test("asCompleted throws a FUTURE_TIMEOUT after yielding what finished in time", async () => {
    const gate = deferred();
    const quick = task(async function quick3() {
      return 1;
    });
    const stuck = task(async function stuck3() {
      await gate.promise;
    });
    const a = quick.submit();
    const b = stuck.submit();
    const got: TaskRunFuture[] = [];
    await assert.rejects(
      (async () => {
        for await (const f of asCompleted([a, b], { timeoutSeconds: 0.05 })) got.push(f);
      })(),
      (e: Error & { code?: string }) => e.name === "TimeoutError" && e.code === "FUTURE_TIMEOUT" && /1 of the futures did not finish within 0.05/.test(e.message),
    );
    assert.deepEqual(got, [a]);
    gate.resolve();
    await b.wait();
  });
});

describe("task runner concurrency cap", () => {
  async function peakConcurrency(runnerOrSetting: { runner?: ConcurrentTaskRunner }): Promise<number> {
    let active = 0;
    let peak = 0;
    const work = task(async function work(i: number) {
      active++;
      peak = Math.max(peak, active);
      // let every other runnable task start before this one ends
      for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
      active--;
      return i;
    });
    const f = flow(runnerOrSetting.runner ? { taskRunner: runnerOrSetting.runner } : {}, async function capped() {
      return work.map([0, 1, 2, 3, 4, 5, 6, 7]).result();
    });
    assert.deepEqual(await f(), [0, 1, 2, 3, 4, 5, 6, 7]);
    return peak;
  }

  test("unlimited by default: all submitted async tasks run at once", async () => {
    assert.equal(await peakConcurrency({}), 8);
  });

  test("ConcurrentTaskRunner({ maxConcurrency }) caps the bodies running at once", async () => {
    assert.equal(await peakConcurrency({ runner: new ConcurrentTaskRunner({ maxConcurrency: 3 }) }), 3);
    assert.throws(() => new ConcurrentTaskRunner({ maxConcurrency: -1 }), /expected `maxConcurrency` to be a non-negative integer, got -1/);
  });

  test("PREFECT_TASK_RUNNER_MAX_CONCURRENCY caps the default runner", async () => {
    process.env.PREFECT_TASK_RUNNER_MAX_CONCURRENCY = "2";
    resetSettings();
    try {
      assert.equal(await peakConcurrency({}), 2);
    } finally {
      delete process.env.PREFECT_TASK_RUNNER_MAX_CONCURRENCY;
      resetSettings();
    }
  });
});
