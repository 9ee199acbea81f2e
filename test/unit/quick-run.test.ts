/**
 * The engine's quick run (task-engine.ts `quickRun`): a plain task body called or submitted with
 * nothing to wait for runs and finishes on the caller's stack, without promises of its own.
 * Whatever the body does — return a value, throw, return a promise, a generator or a State — the
 * run ends as on the general path: same states, retries, results, interrupts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { flow, task, Failed } from "../../src/index.ts";
import { useTempHome, flushedStore } from "../support/home.ts";

async function statesOf(taskName: string): Promise<string[][]> {
  const store = await flushedStore();
  const runs = (await store.listTaskRuns({ limit: 1000 })).filter((r) => r.taskName === taskName);
  runs.sort((a, b) => a.created - b.created);
  return Promise.all(runs.map(async (r) => (await store.getStates(r.id)).map((s) => s.name)));
}

test("a plain body's run is done when the call returns, with the general path's states and result", async () => {
  const home = await useTempHome();
  try {
    const double = task(function double(x: number) {
      return { x: x * 2 };
    });
    let finishedAtReturn = -1;
    const f = flow(async function quick() {
      const call = double(21);
      // no microtask has run since the call: its final line is logged already
      finishedAtReturn = home.lines().filter((l) => l.includes("Finished in state Completed()")).length;
      return call;
    });
    assert.deepEqual(await f(), { x: 42 });
    assert.equal(finishedAtReturn, 1);
    assert.deepEqual(await statesOf("double"), [["Pending", "Running", "Completed"]]);
    assert.match(home.lines().join("\n"), /Task run 'double-0' - Finished in state Completed\(\)/);
  } finally {
    await home.cleanup();
  }
});

test("a quick run makes few promises: a sequential call costs at most 3 (the general path made 11)", async () => {
  const home = await useTempHome();
  try {
    const noop = task(function noop(i: number) {
      return i;
    });
    const N = 2000;
    let promises = 0;
    let counting = false;
    const hook = createHook({
      init(_id, type) {
        if (counting && type === "PROMISE") promises++;
      },
    }).enable();
    try {
      await flow(async function many() {
        for (let i = 0; i < 10; i++) await noop(i); // warm
        counting = true;
        let s = 0;
        for (let i = 0; i < N; i++) s += await noop(i);
        counting = false;
        return s;
      })();
    } finally {
      hook.disable();
    }
    assert.ok(promises / N <= 3, `${promises / N} promises per task run`);
  } finally {
    await home.cleanup();
  }
});

test("a plain body that throws is retried as on the general path", async () => {
  const home = await useTempHome();
  try {
    let calls = 0;
    const flaky = task({ retries: 2 }, function flaky() {
      calls++;
      if (calls < 3) throw new Error(`attempt ${calls}`);
      return "ok";
    });
    assert.equal(await flow(async function retrying() {
      return flaky();
    })(), "ok");
    assert.equal(calls, 3);
    assert.deepEqual(await statesOf("flaky"), [["Pending", "Running", "Retrying", "Retrying", "Completed"]]);
  } finally {
    await home.cleanup();
  }
});

test("a plain body's own error reaches the caller as thrown, and the run is Failed", async () => {
  const home = await useTempHome();
  try {
    class MyError extends Error {}
    const boom = task(function boom() {
      throw new MyError("boom");
    });
    await assert.rejects(
      flow(async function failing() {
        await boom();
      })(),
      (err: unknown) => err instanceof MyError || (err as { code?: string }).code === "FLOW_RUN_FAILED",
    );
    assert.deepEqual(await statesOf("boom"), [["Pending", "Running", "Failed"]]);
    const caught = await flow(async function catching() {
      try {
        await boom();
      } catch (err) {
        return err;
      }
    })();
    assert.ok(caught instanceof MyError);
  } finally {
    await home.cleanup();
  }
});

test("a plain function returning a promise, a generator or a State ends as the general path ends it", async () => {
  const home = await useTempHome();
  try {
    const later = task(function later(x: number) {
      return new Promise<number>((r) => setTimeout(() => r(x + 1), 20));
    });
    const gen = task(function gen(n: number) {
      function* items() {
        for (let i = 0; i < n; i++) yield i;
      }
      return items();
    });
    const stated = task(function stated() {
      return Failed({ message: "said so" });
    });
    const out = await flow(async function mixed() {
      const a = await later(1);
      const b = await gen(3);
      const c = await stated().catch((e: unknown) => e);
      return { a, b, c };
    })().catch((e: unknown) => e);
    assert.deepEqual((out as { a: number; b: number[] }).a, 2);
    assert.deepEqual((out as { a: number; b: number[] }).b, [0, 1, 2]);
    assert.deepEqual(await statesOf("later"), [["Pending", "Running", "Completed"]]);
    assert.deepEqual(await statesOf("gen"), [["Pending", "Running", "Completed"]]);
    assert.deepEqual(await statesOf("stated"), [["Pending", "Running", "Failed"]]);
  } finally {
    await home.cleanup();
  }
});

test("a plain function's pending promise is still interrupted by its flow's timeout", async () => {
  const home = await useTempHome();
  try {
    const slow = task(function slow() {
      return new Promise((r) => setTimeout(r, 5000).unref());
    });
    const t0 = Date.now();
    await assert.rejects(
      flow({ timeoutSeconds: 0.3 }, async function timed() {
        await slow();
      })(),
    );
    assert.ok(Date.now() - t0 < 4000, "the flow waited for the body's promise");
    const [states] = await statesOf("slow");
    assert.equal(states!.at(-1), "Cancelled");
  } finally {
    await home.cleanup();
  }
});

test("submitted and mapped plain bodies take the quick path too, each run final with its value", async () => {
  const home = await useTempHome();
  try {
    const sq = task(function sq(x: number) {
      return x * x;
    });
    const got = await flow(async function mapped() {
      const one = sq.submit(3);
      const many = sq.map([1, 2, 3, 4]);
      return [await one.result(), await many.result()];
    })();
    assert.deepEqual(got, [9, [1, 4, 9, 16]]);
    const states = await statesOf("sq");
    assert.equal(states.length, 5);
    for (const s of states) assert.deepEqual(s, ["Pending", "Running", "Completed"]);
  } finally {
    await home.cleanup();
  }
});
