/**
 * Task and flow retries, on the test harness: exact delays (virtual time), state histories,
 * attempt counts, log lines, retryConditionFn, jitter and the settings' defaults.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { flow, task, exponentialBackoff, runtime, Failed } from "flowctl";
import { testHarness, type HarnessOptions, type TestHarness } from "flowctl/testing";
import { jitteredDelay } from "../../src/engine/retry-policy.ts";

/** A harness closed when the test ends. */
async function harness(t: TestContext, opts?: HarnessOptions): Promise<TestHarness> {
  const h = await testHarness(opts);
  t.after(() => h.close());
  return h;
}

/** Log lines as `SOURCE - message`. */
const lines = (h: TestHarness) => h.logs().map((l) => `${l.source} - ${l.message}`);

/** A task body that fails `failures` times, then returns "ok". */
function flaky(failures: number) {
  let calls = 0;
  return function flakyWork() {
    calls++;
    if (calls <= failures) throw new Error(`boom ${calls}`);
    return "ok";
  };
}

test("retryDelaySeconds as a number: same delay each retry; states grow on one run", async (t) => {
  const h = await harness(t);
  const work = task({ retries: 3, retryDelaySeconds: 5 }, flaky(2));
  const f = flow(async function retryNumber() {
    return work();
  });
  assert.equal(await h.run(f), "ok");
  const [run] = h.taskRuns();
  assert.deepEqual(run!.retryDelays, [5, 5]);
  assert.deepEqual(run!.stateNames, ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed"]);
  assert.equal(run!.runCount, 3);
  assert.ok(lines(h).includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 1 - Retry 1/3 will start 5 second(s) from now"));
  assert.ok(lines(h).includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 2 - Retry 2/3 will start 5 second(s) from now"));
  // the store got the same history
  const stored = await h.store.getStates(run!.id);
  assert.deepEqual(stored.map((s) => s.name), run!.stateNames);
  const awaiting = stored.find((s) => s.name === "AwaitingRetry")!;
  assert.equal(awaiting.scheduledTime! - awaiting.timestamp, 5000);
});

test("retryDelaySeconds as a list: one per retry, the last repeating", async (t) => {
  const h = await harness(t);
  const work = task({ retries: 4, retryDelaySeconds: [1, 10, 100] }, flaky(4));
  const start = h.clock.now();
  assert.equal(await h.run(() => work()), "ok");
  assert.deepEqual(h.taskRuns()[0]!.retryDelays, [1, 10, 100, 100]);
  assert.equal(h.clock.now() - start, 211_000);
});

test("retryDelaySeconds as a function and exponentialBackoff(10) → 10, 20, 40", async (t) => {
  const h = await harness(t);
  assert.deepEqual(exponentialBackoff(10)(3), [10, 20, 40]);
  const work = task({ retries: 3, retryDelaySeconds: exponentialBackoff(10) }, flaky(5));
  const f = flow(async function retryBackoff() {
    await work();
  });
  await assert.rejects(h.run(f), /boom 4/);
  const [run] = h.taskRuns();
  assert.deepEqual(run!.retryDelays, [10, 20, 40]);
  assert.deepEqual(run!.stateNames, [
    "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Failed",
  ]);
  // the ERROR line's first line; its traceback follows
  assert.ok(lines(h).map((l) => l.split("\n")[0]).includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 4 - Retries are exhausted"));
});

test("an immediate retry skips AwaitingRetry; runCount counts attempts", async (t) => {
  const h = await harness(t);
  const counts: number[] = [];
  let calls = 0;
  const immediate = task({ retries: 2 }, function immediate() {
    counts.push(runtime.taskRun.runCount!);
    if (++calls < 3) throw new Error("again");
    return calls;
  });
  assert.equal(await h.run(() => immediate()), 3);
  assert.deepEqual(counts, [1, 2, 3]);
  assert.deepEqual(h.taskRuns()[0]!.stateNames, ["Pending", "Running", "Retrying", "Retrying", "Completed"]);
  assert.equal(h.clock.pendingTimers, 0);
  assert.ok(lines(h).includes("Task run 'immediate' - Task run failed with exception: Error: again - Retry 1/2 will start immediately"));
});

test("retries: 0 fails at once with the bare message; a returned Failed state is retried like a throw", async (t) => {
  const h = await harness(t);
  const once = task({ retries: 0 }, function once() {
    throw new Error("no retry");
  });
  const f1 = flow(async function noRetry() {
    await once();
  });
  await assert.rejects(h.run(f1), /no retry/);
  assert.ok(lines(h).map((l) => l.split("\n")[0]).includes("Task run 'once-0' - Task run failed with exception: Error: no retry"));

  let calls = 0;
  const returnsFailed = task({ retries: 1 }, function returnsFailed() {
    calls++;
    return calls === 1 ? Failed({ message: "soft failure", error: new Error("soft failure") }) : "recovered";
  });
  assert.equal(await h.run(() => returnsFailed()), "recovered");
  assert.equal(calls, 2);
});

test("retryConditionFn: consulted while retries remain; false fails now; a throw counts as false", async (t) => {
  const h = await harness(t);
  class HttpError extends Error {
    constructor(readonly status: number) {
      super(`HTTP ${status}`);
    }
  }
  // the seed's retry handler, in TypeScript
  async function retryHandler(_task: unknown, _run: unknown, state: { result(): Promise<unknown> }): Promise<boolean> {
    try {
      await state.result();
    } catch (exc) {
      if (exc instanceof HttpError) return ![401, 404].includes(exc.status);
      return true;
    }
    return true;
  }
  const call = task({ retries: 1, retryConditionFn: retryHandler }, function myApiCallTask(_status: number) {
    return "unreached";
  });
  const m = h.mock(call, (status: number) => {
    throw new HttpError(status);
  });
  for (const status of [503, 401, 404]) await assert.rejects(h.run(() => call(status)), new RegExp(`HTTP ${status}`));
  assert.deepEqual(m.calls.map((c) => c.args[0]), [503, 503, 401, 404]);

  let conditionCalls = 0;
  const throwing = task(
    {
      retries: 2,
      retryConditionFn: () => {
        conditionCalls++;
        throw new Error("condition broke");
      },
    },
    function throwingCondition() {
      throw new Error("fail");
    },
  );
  await assert.rejects(h.run(() => throwing()), /fail/);
  assert.equal(conditionCalls, 1);
  assert.ok(lines(h).some((l) => l.includes("retryConditionFn raised Error: condition broke")));
});

test("retryJitterFactor: delays stay within [0, delay × (1 + factor)] with the mean at delay", () => {
  for (const factor of [0.2, 0.5, 1, 2]) {
    let sum = 0;
    let max = 0;
    const n = 20_000;
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < n; i++) {
      const d = jitteredDelay(10, factor, random);
      assert.ok(d >= 0 && d <= 10 * (1 + factor) + 1e-9, `delay ${d} out of bounds for factor ${factor}`);
      sum += d;
      max = Math.max(max, d);
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean - 10) < 0.15, `mean ${mean} for factor ${factor}`);
    assert.ok(max > 10, "some delays exceed the base delay");
  }
  assert.equal(jitteredDelay(0, 1), 0);
  assert.equal(jitteredDelay(7, 0), 7);
});

test("jitter reaches the engine: each delay is bounded by delay × (1 + factor)", async (t) => {
  const h = await harness(t);
  const work = task({ retries: 3, retryDelaySeconds: exponentialBackoff(10), retryJitterFactor: 1 }, flaky(3));
  await h.run(() => work());
  const delays = h.taskRuns()[0]!.retryDelays;
  assert.equal(delays.length, 3);
  [20, 40, 80].forEach((max, i) => assert.ok(delays[i]! <= max, `${delays[i]} > ${max}`));
});

test("settings supply default retries; an explicit retries: 0 never retries", async (t) => {
  const h = await harness(t, { settings: { PREFECT_TASK_DEFAULT_RETRIES: 2, PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: "[1, 10, 100]" } });
  const byDefault = task(flaky(5));
  await assert.rejects(h.run(() => byDefault()));
  assert.deepEqual(h.taskRuns()[0]!.retryDelays, [1, 10]);
  const never = task({ retries: 0 }, flaky(5));
  await assert.rejects(h.run(() => never()));
  assert.deepEqual(h.taskRuns()[1]!.stateNames, ["Pending", "Running", "Failed"]);
});

test("flow retries re-run the whole flow in the same flow run", async (t) => {
  const h = await harness(t);
  let attempts = 0;
  const step = task(function step() {
    return 1;
  });
  const f = flow({ retries: 2, retryDelaySeconds: 5 }, async function flakyFlow() {
    attempts++;
    await step();
    if (attempts < 3) throw new Error(`flow boom ${attempts}`);
    return runtime.flowRun.runCount;
  });
  const start = h.clock.now();
  assert.equal(await h.run(f), 3);
  assert.equal(h.clock.now() - start, 10_000);
  const [run] = h.runs({ flow: "flaky-flow" });
  assert.deepEqual(run!.stateNames, ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed"]);
  assert.equal(h.taskRuns({ flowRun: run! }).length, 3);
});
