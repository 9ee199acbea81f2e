/**
 * Generator tasks, as SPEC §3 and the seed describe them: a call returns an async iterable;
 * the run is Running while it yields and Completed when exhausted; consumers of yielded values
 * record the generator run as their parent; returned generators are consumed, yielded ones are
 * handed over; early stops complete the run; retries start again; no submit/map/caching.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { flow, INPUTS, task, type TaskRun } from "../../src/index.ts";
import { runtime } from "../../src/sdk/runtime.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
before(async () => {
  home = await useTempHome();
});
after(() => home.cleanup());

const printed = (taskName: string) =>
  home.logs.filter((r) => r.source.startsWith(`Task run '${taskName}`) && r.level === 20 && !/^Finished in state/.test(r.message)).map((r) => r.message);

describe("generator tasks", () => {
  test("the seed's example: the consumer prints 0..9 and records the generator as its parent (sync and async)", async () => {
    for (const kind of ["sync", "async"] as const) {
      const generator = kind === "sync"
        ? task({ name: `generator-${kind}` }, function* () {
            for (let i = 0; i < 10; i++) yield i;
          })
        : task({ name: `generator-${kind}` }, async function* () {
            for (let i = 0; i < 10; i++) yield i;
          });
      const parents: (string | undefined)[] = [];
      let genRunId: string | undefined;
      const consumer = task({ name: `consumer-${kind}`, logPrints: true }, function (x: number) {
        parents.push((runtime.taskRun as unknown as TaskRun).parentTaskRunId);
        console.log(x);
      });
      const states: string[] = [];
      const f = flow(async function seedGenerators() {
        for await (const val of generator()) {
          await consumer(val);
        }
      });
      await f();
      const store = await flushedStore();
      const runs = await store.listTaskRuns({ taskName: `generator-${kind}` });
      assert.equal(runs.length, 1);
      genRunId = runs[0]!.id;
      for (const s of await store.getStates(genRunId)) states.push(s.name);
      assert.deepEqual(states, ["Pending", "Running", "Completed"]);
      assert.deepEqual(parents, Array(10).fill(genRunId), kind);
      assert.deepEqual(printed(`consumer-${kind}`), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    }
  });

  test("outside a flow too: the generator run is Running while it yields and the consumer records it as parent", async () => {
    const gen = task(function* standaloneGen() {
      yield "a";
      yield "b";
    });
    const parents: (string | undefined)[] = [];
    const use = task(function useIt(_v: string) {
      parents.push((runtime.taskRun as unknown as TaskRun).parentTaskRunId);
    });
    let runningWhileYielding = "";
    let genId = "";
    for await (const v of gen()) {
      genId ||= (await flushedStore().then((s) => s.listTaskRuns({ taskName: "standaloneGen" })))[0]!.id;
      runningWhileYielding ||= (await (await flushedStore()).getTaskRun(genId))!.stateType;
      await use(v);
    }
    assert.equal(runningWhileYielding, "RUNNING");
    assert.deepEqual(parents, [genId, genId]);
    const row = await (await flushedStore()).getTaskRun(genId);
    assert.equal(row?.stateName, "Completed");
  });

  test("a task that returns a generator has it consumed: its result is the array (seed: prints 'Generator consumed!')", async () => {
    const out: string[] = [];
    function* gen() {
      yield* [1, 2, 3];
      out.push("Generator consumed!");
    }
    async function* agen() {
      yield* [4, 5];
      out.push("Async generator consumed!");
    }
    const f = task(function f() {
      return gen();
    });
    const g = task(async function g() {
      return agen();
    });
    assert.deepEqual(await f(), [1, 2, 3]);
    assert.deepEqual(out, ["Generator consumed!"]);
    assert.deepEqual(await g(), [4, 5]);
    assert.deepEqual(out, ["Generator consumed!", "Async generator consumed!"]);
  });

  test("a consumed generator's prints belong to the task run (logPrints)", async () => {
    function* gen() {
      yield 1;
      console.log("Generator consumed!");
    }
    const f = task({ name: "consumesWithPrints", logPrints: true }, function () {
      return gen();
    });
    const fl = flow(async function returnsGen() {
      return f();
    });
    assert.deepEqual(await fl(), [1]);
    assert.deepEqual(printed("consumesWithPrints"), ["Generator consumed!"]);
  });

  test("a generator task that yields a generator hands it over unconsumed (seed: next(f()))", async () => {
    const out: string[] = [];
    function* gen() {
      yield* [1, 2, 3];
      out.push("Generator consumed!");
    }
    const f = task(function* f() {
      yield gen();
    });
    const it = f();
    const first = await it.next();
    assert.equal(first.done, false);
    assert.deepEqual(out, [], "not consumed by the task");
    assert.deepEqual([...(first.value as Generator<number>)], [1, 2, 3]);
    assert.deepEqual(out, ["Generator consumed!"]);
    await it.return(undefined);
  });

  test("a consumer that stops early completes the run and runs the body's cleanup", async () => {
    let cleanedUp = false;
    const many = task(async function* many() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        cleanedUp = true;
      }
    });
    const taken: number[] = [];
    const f = flow(async function early() {
      for await (const v of many()) {
        taken.push(v as number);
        if (taken.length === 3) break;
      }
    });
    await f();
    assert.deepEqual(taken, [0, 1, 2]);
    assert.ok(cleanedUp);
    const store = await flushedStore();
    const [row] = await store.listTaskRuns({ taskName: "many" });
    assert.equal(row?.stateName, "Completed");
    assert.equal(row?.stateMessage, "The consumer stopped early.");
  });

  test("a flow does not wait forever for a generator its body abandoned: the run is closed and completes", { timeout: 20_000 }, async () => {
    let cleanedUp = false;
    const endless = task(async function* endless() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        cleanedUp = true;
      }
    });
    const f = flow(async function abandons() {
      const it = endless();
      const first = await it.next();
      return first.value;
    });
    assert.equal(await f(), 0);
    assert.ok(cleanedUp, "the generator body's cleanup ran");
    const [row] = await (await flushedStore()).listTaskRuns({ taskName: "endless" });
    assert.equal(row?.stateName, "Completed");
    assert.equal(row?.stateMessage, "The consumer stopped early.");
  });

  test("a generator that throws ends Failed and the consumer sees the error; a retry starts again from the beginning", async () => {
    let attempts = 0;
    const flaky = task({ retries: 1, retryDelaySeconds: 0 }, async function* flaky() {
      attempts++;
      yield "first";
      if (attempts === 1) throw new Error("flaky failure");
      yield "second";
    });
    const seen: unknown[] = [];
    for await (const v of flaky()) seen.push(v);
    assert.deepEqual(seen, ["first", "first", "second"]);
    const broken = task(function* broken() {
      yield 1;
      throw new Error("broken generator");
    });
    const got: unknown[] = [];
    await assert.rejects(
      (async () => {
        for await (const v of broken()) got.push(v);
      })(),
      /broken generator/,
    );
    assert.deepEqual(got, [1]);
    const store = await flushedStore();
    const [row] = await store.listTaskRuns({ taskName: "broken" });
    assert.equal(row?.stateType, "FAILED");
    const [fl] = await store.listTaskRuns({ taskName: "flaky" });
    assert.deepEqual((await store.getStates(fl!.id)).map((s) => s.name), ["Pending", "Running", "Retrying", "Completed"]);
  });

  test("a timeout counts from the first pull to exhaustion", async () => {
    const slow = task({ timeoutSeconds: 0.05 }, async function* slow() {
      yield 1;
      await new Promise((r) => setTimeout(r, 1000).unref());
      yield 2;
    });
    const it = slow();
    // time before the first pull does not count
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(await it.next(), { value: 1, done: false });
    await assert.rejects(it.next(), (e: Error & { code?: string }) => e.name === "TimeoutError" && e.code === "TASK_RUN_TIMEOUT");
    const [row] = await (await flushedStore()).listTaskRuns({ taskName: "slow" });
    assert.equal(row?.stateName, "TimedOut");
  });

  test("submit and map of a generator task are errors; generator tasks are never cached", async () => {
    const gen = task({ cachePolicy: INPUTS }, function* cachedGen(n: number) {
      for (let i = 0; i < n; i++) yield i;
    });
    assert.throws(() => gen.submit(1), /Task 'cachedGen' is a generator task: submit\(\) is not supported/);
    assert.throws(() => gen.map([1, 2]), /map\(\) is not supported for generator tasks/);
    assert.throws(() => gen.with({}).submit(1), /submit\(\) is not supported/);
    const collect = async () => {
      const out: unknown[] = [];
      for await (const v of gen(2)) out.push(v);
      return out;
    };
    assert.deepEqual(await collect(), [0, 1]);
    assert.deepEqual(await collect(), [0, 1]);
    const rows = await (await flushedStore()).listTaskRuns({ taskName: "cachedGen" });
    assert.deepEqual(rows.map((r) => r.stateName), ["Completed", "Completed"], "both ran; neither came from the cache");
  });

  test("a generator task's yielded values can feed a flow's submitted tasks", async () => {
    const numbers = task(async function* numbers() {
      yield 1;
      yield 2;
    });
    const double = task(async function double(x: number) {
      return x * 2;
    });
    const f = flow(async function feed() {
      const futures = [];
      for await (const n of numbers()) futures.push(double.submit(n as number));
      return Promise.all(futures.map((fu) => fu.result()));
    });
    assert.deepEqual(await f(), [2, 4]);
  });
});
