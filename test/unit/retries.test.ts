import { test } from "node:test";
import assert from "node:assert/strict";
import { flow, task, exponentialBackoff, runtime } from "../../src/index.ts";
import { jitteredDelay } from "../../src/engine/retry-policy.ts";
import { resetSettings } from "../../src/settings/index.ts";
import { useTempHome, flushedStore } from "../support/home.ts";
import { installFakeClock } from "../support/fake-clock.ts";

/** A task body that fails `failures` times, then returns "ok". */
function flaky(failures: number) {
  let calls = 0;
  return function flakyWork() {
    calls++;
    if (calls <= failures) throw new Error(`boom ${calls}`);
    return "ok";
  };
}

async function stateNames(runName: string): Promise<string[]> {
  const store = await flushedStore();
  const run = await store.getTaskRun(runName);
  assert.ok(run, `no task run ${runName}`);
  return (await store.getStates(run.id)).map((s) => s.name);
}

test("retryDelaySeconds as a number: same delay each retry; states grow on one run", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    const t = task({ retries: 3, retryDelaySeconds: 5 }, flaky(2));
    const f = flow(async function retryNumber() {
      return t();
    });
    assert.equal(await f(), "ok");
    assert.deepEqual(clock.sleeps, [5000, 5000]);
    assert.deepEqual(await stateNames("flakyWork-0"), [
      "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed",
    ]);
    const lines = home.lines();
    assert.ok(lines.includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 1 - Retry 1/3 will start 5 second(s) from now"));
    assert.ok(lines.includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 2 - Retry 2/3 will start 5 second(s) from now"));
    const store = await flushedStore();
    const run = await store.getTaskRun("flakyWork-0");
    assert.equal(run!.runCount, 3);
    const awaiting = (await store.getStates(run!.id)).find((s) => s.name === "AwaitingRetry")!;
    assert.equal(awaiting.scheduledTime! - awaiting.timestamp, 5000);
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("retryDelaySeconds as a list: one per retry, the last repeating", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    const t = task({ retries: 4, retryDelaySeconds: [1, 10, 100] }, flaky(4));
    const f = flow(async function retryList() {
      return t();
    });
    assert.equal(await f(), "ok");
    assert.deepEqual(clock.sleeps, [1000, 10_000, 100_000, 100_000]);
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("retryDelaySeconds as a function and exponentialBackoff(10) → 10, 20, 40", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    assert.deepEqual(exponentialBackoff(10)(3), [10, 20, 40]);
    const t = task({ retries: 3, retryDelaySeconds: exponentialBackoff(10) }, flaky(5));
    const f = flow(async function retryBackoff() {
      await t();
    });
    await assert.rejects(f(), /boom 4/);
    assert.deepEqual(clock.sleeps, [10_000, 20_000, 40_000]);
    assert.deepEqual(await stateNames("flakyWork-0"), [
      "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Failed",
    ]);
    assert.ok(home.lines().includes("Task run 'flakyWork-0' - Task run failed with exception: Error: boom 4 - Retries are exhausted"));
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("an immediate retry skips AwaitingRetry; runCount counts attempts", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    const counts: number[] = [];
    let calls = 0;
    const t = task({ retries: 2 }, function immediate() {
      counts.push(runtime.taskRun.runCount!);
      if (++calls < 3) throw new Error("again");
      return calls;
    });
    const f = flow(async function retryImmediate() {
      return t();
    });
    assert.equal(await f(), 3);
    assert.deepEqual(counts, [1, 2, 3]);
    assert.deepEqual(clock.sleeps, []);
    assert.deepEqual(await stateNames("immediate-0"), ["Pending", "Running", "Retrying", "Retrying", "Completed"]);
    assert.ok(home.lines().includes("Task run 'immediate-0' - Task run failed with exception: Error: again - Retry 1/2 will start immediately"));
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("retries: 0 fails at once with the bare message; a returned Failed state is retried like a throw", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    const once = task({ retries: 0 }, function once() {
      throw new Error("no retry");
    });
    const f1 = flow(async function noRetry() {
      await once();
    });
    await assert.rejects(f1(), /no retry/);
    assert.ok(home.lines().includes("Task run 'once-0' - Task run failed with exception: Error: no retry"));

    const { Failed } = await import("../../src/index.ts");
    let calls = 0;
    const returnsFailed = task({ retries: 1 }, function returnsFailed() {
      calls++;
      return calls === 1 ? Failed({ message: "soft failure", error: new Error("soft failure") }) : "recovered";
    });
    const f2 = flow(async function returnsFailedFlow() {
      return returnsFailed();
    });
    assert.equal(await f2(), "recovered");
    assert.equal(calls, 2);
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("retryConditionFn: consulted while retries remain; false fails now; a throw counts as false", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
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
    const statuses: number[] = [];
    const call = task({ retries: 1, retryConditionFn: retryHandler }, function myApiCallTask(status: number) {
      statuses.push(status);
      throw new HttpError(status);
    });
    for (const status of [503, 401, 404]) {
      const f = flow({ name: `call-${status}` }, async function () {
        await call(status);
      });
      await assert.rejects(f(), new RegExp(`HTTP ${status}`));
    }
    assert.deepEqual(statuses, [503, 503, 401, 404]);

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
    const f = flow(async function conditionThrows() {
      await throwing();
    });
    await assert.rejects(f(), /fail/);
    assert.equal(conditionCalls, 1);
    assert.ok(home.lines().some((l) => l.includes("retryConditionFn raised Error: condition broke")));
  } finally {
    clock.restore();
    await home.cleanup();
  }
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

test("jitter reaches the engine: each sleep is bounded by delay × (1 + factor)", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
    const t = task({ retries: 3, retryDelaySeconds: exponentialBackoff(10), retryJitterFactor: 1 }, flaky(3));
    const f = flow(async function jittered() {
      return t();
    });
    await f();
    assert.equal(clock.sleeps.length, 3);
    [20_000, 40_000, 80_000].forEach((max, i) => assert.ok(clock.sleeps[i]! <= max, `${clock.sleeps[i]} > ${max}`));
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("settings supply default retries; an explicit retries: 0 never retries", async () => {
  const home = await useTempHome({ PREFECT_TASK_DEFAULT_RETRIES: "2", PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: "[1, 10, 100]" });
  const clock = installFakeClock();
  try {
    resetSettings();
    const byDefault = task(flaky(5));
    const f = flow(async function defaults() {
      await byDefault();
    });
    await assert.rejects(f());
    assert.deepEqual(clock.sleeps, [1000, 10_000]);
    const never = task({ retries: 0 }, flaky(5));
    clock.sleeps.length = 0;
    const g = flow(async function explicitZero() {
      await never();
    });
    await assert.rejects(g());
    assert.deepEqual(clock.sleeps, []);
    assert.deepEqual(await stateNames("flakyWork-0"), ["Pending", "Running", "Failed"]);
  } finally {
    clock.restore();
    await home.cleanup();
  }
});

test("flow retries re-run the whole flow in the same flow run", async () => {
  const home = await useTempHome();
  const clock = installFakeClock();
  try {
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
    assert.equal(await f(), 3);
    assert.deepEqual(clock.sleeps, [5000, 5000]);
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ flowName: "flaky-flow" });
    assert.deepEqual((await store.getStates(run!.id)).map((s) => s.name), [
      "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed",
    ]);
    assert.equal((await store.listTaskRuns({ flowRunId: run!.id })).length, 3);
  } finally {
    clock.restore();
    await home.cleanup();
  }
});
