/**
 * Cache policies through the real engine: tasks called in flows, results stored under a temp
 * PREFECT_HOME and read back. Each test counts how often the task body ran and checks the
 * final states (`Cached` on a hit).
 */
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT, FLOW_PARAMETERS, INPUTS, NONE, RUN_ID, TASK_SOURCE, flow, task, taskInputHash, type CacheKeyContext, type State,
} from "../../src/index.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";
import { counter, inFlow, names, storageFiles, warnings } from "../fixtures/caching/harness.ts";

let home: TempHome;
beforeEach(async () => {
  home = await useTempHome();
});
afterEach(async () => {
  await home.cleanup();
});

describe("cache policies through the engine", () => {
  test("INPUTS: equal inputs hit, across flow runs too; another input misses", async () => {
    const c = counter();
    const add = task({ cachePolicy: INPUTS }, function add(a: number, b: number) {
      c.bump();
      return a + b;
    });
    const s = add.with({ returnState: true });
    const first = await inFlow(async () => [await s(1, 2), await s(1, 2), await s(2, 2)]);
    assert.deepEqual(names(first), ["Completed", "Cached", "Completed"]);
    assert.deepEqual(first.map((x) => x.data), [3, 3, 4]);
    assert.equal(c.n, 2);
    const second = await inFlow(async () => [await s(1, 2), await s(2, 2), await s(2, 3)]);
    assert.deepEqual(names(second), ["Cached", "Cached", "Completed"]);
    assert.deepEqual(second.map((x) => x.data), [3, 4, 5]);
    assert.equal(c.n, 3);
    assert.equal(storageFiles(home).length, 3);
  });

  test("INPUTS keys are value-based: key order of objects does not matter, Map/Date contents do", async () => {
    const c = counter();
    const keys = task({ cachePolicy: INPUTS }, function keys(o: Record<string, unknown>) {
      c.bump();
      return Object.keys(o).length;
    });
    const s = keys.with({ returnState: true });
    const out = await inFlow(async () => [
      await s({ a: 1, b: new Date(0), m: new Map([["x", 1]]) }),
      await s({ m: new Map([["x", 1]]), b: new Date(0), a: 1 }),
      await s({ a: 1, b: new Date(1), m: new Map([["x", 1]]) }),
      await s({ a: 1, b: new Date(0), m: new Map([["x", 2]]) }),
    ]);
    assert.deepEqual(names(out), ["Completed", "Cached", "Completed", "Completed"]);
    assert.equal(c.n, 3);
  });

  test("INPUTS.exclude(name): the excluded parameter does not change the key", async () => {
    const c = counter();
    const fetchPage = task({ cachePolicy: INPUTS.exclude("verbose") }, function fetchPage(page: number, verbose = false) {
      c.bump();
      return verbose ? `page ${page}!` : `page ${page}`;
    });
    const s = fetchPage.with({ returnState: true });
    const out = await inFlow(async () => [await s(1, false), await s(1, true), await s(2, true)]);
    assert.deepEqual(names(out), ["Completed", "Cached", "Completed"]);
    assert.deepEqual(out.map((x) => x.data), ["page 1", "page 1", "page 2!"]);
    assert.equal(c.n, 2);
  });

  test("TASK_SOURCE: inputs do not matter, editing the function's source invalidates the entry", async () => {
    const c = counter();
    const v1 = task({ cachePolicy: TASK_SOURCE }, function double(x: number) {
      c.bump();
      return x * 2;
    });
    const v2 = task({ cachePolicy: TASK_SOURCE }, function double(x: number) {
      c.bump();
      return x * 2 + 0.5;
    });
    assert.equal(v1.taskKey, v2.taskKey, "same name, module and qualified name: same task key");
    const out = await inFlow(async () => [
      await v1.with({ returnState: true })(1),
      await v1.with({ returnState: true })(100),
      await v2.with({ returnState: true })(1),
      await v2.with({ returnState: true })(7),
    ]);
    assert.deepEqual(names(out), ["Completed", "Cached", "Completed", "Cached"]);
    assert.deepEqual(out.map((x) => x.data), [2, 2, 2.5, 2.5]);
    assert.equal(c.n, 2);
  });

  test("RUN_ID: reused within one flow run only", async () => {
    const c = counter();
    const stamp = task({ cachePolicy: RUN_ID }, function stamp(_x: number) {
      return c.bump();
    });
    const s = stamp.with({ returnState: true });
    const a = await inFlow(async () => [await s(1), await s(2)]);
    const b = await inFlow(async () => [await s(1), await s(2)]);
    assert.deepEqual(names(a), ["Completed", "Cached"]);
    assert.deepEqual(names(b), ["Completed", "Cached"]);
    assert.deepEqual([...a, ...b].map((x) => x.data), [1, 1, 2, 2]);
  });

  test("FLOW_PARAMETERS: keyed on the flow run's parameters, not the task's inputs", async () => {
    const c = counter();
    const load = task({ cachePolicy: FLOW_PARAMETERS }, function load(_x: number) {
      return c.bump();
    });
    const s = load.with({ returnState: true });
    const a = await inFlow(async () => [await s(1), await s(2)], { region: "eu" });
    const b = await inFlow(async () => [await s(3)], { region: "eu" });
    const d = await inFlow(async () => [await s(1)], { region: "us" });
    assert.deepEqual(names([...a, ...b, ...d]), ["Completed", "Cached", "Cached", "Completed"]);
    assert.equal(c.n, 2);
  });

  test("NONE: never cached, even with persistResult", async () => {
    const c = counter();
    const t1 = task({ cachePolicy: NONE, persistResult: true }, function t1(x: number) {
      c.bump();
      return x;
    });
    const out = await inFlow(async () => [await t1.with({ returnState: true })(1), await t1.with({ returnState: true })(1)]);
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.equal(c.n, 2);
    assert.deepEqual(storageFiles(home), []);
    assert.equal(NONE.add(INPUTS), INPUTS);
  });

  test("DEFAULT (= TASK_SOURCE + RUN_ID + INPUTS), also what persistResult alone uses", async () => {
    for (const opts of [{ cachePolicy: DEFAULT }, { persistResult: true }]) {
      const c = counter();
      const sq = task(opts, function sq(x: number) {
        c.bump();
        return x * x;
      });
      const s = sq.with({ returnState: true });
      const a = await inFlow(async () => [await s(3), await s(3), await s(4)]);
      const b = await inFlow(async () => [await s(3)]);
      assert.deepEqual(names([...a, ...b]), ["Completed", "Cached", "Completed", "Completed"], JSON.stringify(opts));
      assert.equal(c.n, 3);
    }
  });

  test("combinations: INPUTS.add(TASK_SOURCE) hits across flow runs; a new input or new source misses", async () => {
    const c = counter();
    const policy = INPUTS.add(TASK_SOURCE);
    assert.equal(String(policy), "INPUTS + TASK_SOURCE");
    const v1 = task({ cachePolicy: policy }, function triple(x: number) {
      c.bump();
      return x * 3;
    });
    const v2 = task({ cachePolicy: policy }, function triple(x: number) {
      c.bump();
      return x * 3 + 1;
    });
    const a = await inFlow(async () => [await v1.with({ returnState: true })(1)]);
    const b = await inFlow(async () => [
      await v1.with({ returnState: true })(1),
      await v1.with({ returnState: true })(2),
      await v2.with({ returnState: true })(1),
    ]);
    assert.deepEqual(names([...a, ...b]), ["Completed", "Cached", "Completed", "Completed"]);
    assert.deepEqual([...a, ...b].map((x) => x.data), [3, 3, 6, 4]);

    // RUN_ID + INPUTS: both must match
    const d = counter();
    const both = task({ cachePolicy: RUN_ID.add(INPUTS) }, function both(x: number) {
      return d.bump() * 0 + x;
    });
    const s = both.with({ returnState: true });
    const e = await inFlow(async () => [await s(1), await s(1), await s(2)]);
    const f = await inFlow(async () => [await s(1)]);
    assert.deepEqual(names([...e, ...f]), ["Completed", "Cached", "Completed", "Completed"]);
    assert.equal(d.n, 3);
  });

  test("policy keys are scoped to the task key: two tasks with equal inputs do not share", async () => {
    const c = counter();
    const one = task({ cachePolicy: INPUTS }, function one(x: number) {
      c.bump();
      return `one ${x}`;
    });
    const two = task({ cachePolicy: INPUTS }, function two(x: number) {
      c.bump();
      return `two ${x}`;
    });
    const out = await inFlow(async () => [await one(1), await two(1), await one(1), await two(1)]);
    assert.deepEqual(out, ["one 1", "two 1", "one 1", "two 1"]);
    assert.equal(c.n, 2);
  });

  test("method tasks include `this`: equal instances share entries, different ones do not", async () => {
    const c = counter();
    class Scaler {
      constructor(readonly factor: number) {}
      @task({ cachePolicy: INPUTS })
      async scale(x: number) {
        c.bump();
        return this.factor * x;
      }
      @task({ cachePolicy: INPUTS })
      static async offset(x: number) {
        c.bump();
        return x + 1;
      }
    }
    const out = await inFlow(async () => [
      await new Scaler(2).scale(5),
      await new Scaler(2).scale(5),
      await new Scaler(3).scale(5),
      await Scaler.offset(1),
      await Scaler.offset(1),
    ]);
    assert.deepEqual(out, [10, 10, 15, 2, 2]);
    assert.equal(c.n, 3, "a static method's class is not hashed as an input, so its second call hits");
    assert.deepEqual(warnings(home), []);
  });

  test("a cached run is recorded in the store with its cache key and state history", async () => {
    const hooked: string[] = [];
    const t = task({ cachePolicy: INPUTS, onCompletion: (_t, _r, s) => void hooked.push(s.name) }, function rec(x: number) {
      return x;
    });
    await inFlow(async () => t(1));
    let ids: string[] = [];
    await inFlow(async () => {
      const f = t.submit(1);
      ids.push(f.taskRunId);
      return f.result();
    });
    assert.deepEqual(hooked, ["Completed", "Cached"], "onCompletion fires for Cached too");
    const store = await flushedStore();
    const row = await store.getTaskRun(ids[0]!);
    assert.ok(row);
    assert.equal(row.stateName, "Cached");
    assert.equal(row.stateType, "COMPLETED");
    assert.match(row.cacheKey ?? "", new RegExp(`^${t.taskKey}:[0-9a-f]{64}$`));
    const states = await store.getStates(row.id);
    assert.deepEqual(states.map((s) => s.name), ["Pending", "Cached"]);
    const all = await store.listTaskRuns({ taskName: "rec" });
    assert.equal(new Set(all.map((r) => r.cacheKey)).size, 1, "both runs carry the same key");
    assert.ok(home.lines().includes(`Task run 'rec-0' - Finished in state Cached(type=COMPLETED)`));
  });

  test("map and submit: a second flow run gets every element from the cache", async () => {
    const c = counter();
    const sq = task({ cachePolicy: INPUTS }, async function sqm(x: number) {
      c.bump();
      return x * x;
    });
    const a = await inFlow(async () => sq.map([1, 2, 3]).result());
    const b = await inFlow(async () => {
      const futures = sq.map([1, 2, 3]);
      await futures.wait();
      return futures.map((f) => f.state.name);
    });
    assert.deepEqual(a, [1, 4, 9]);
    assert.deepEqual(b, ["Cached", "Cached", "Cached"]);
    assert.equal(c.n, 3);
  });

  test("flow retries: tasks that completed in the failed attempt come back Cached", async () => {
    const c = counter();
    let attempts = 0;
    const step = task({ persistResult: true }, function step(x: number) {
      c.bump();
      return x + 1;
    });
    const states: string[] = [];
    const f = flow({ retries: 1 }, async function retried() {
      const s = await step.with({ returnState: true })(1);
      states.push(s.name);
      if (++attempts === 1) throw new Error("first attempt fails");
      return s.data;
    });
    assert.equal(await f(), 2);
    assert.deepEqual(states, ["Completed", "Cached"]);
    assert.equal(c.n, 1);
  });
});

describe("cacheKeyFn", () => {
  test("receives (context, parameters); its key is used as given, so tasks can share entries", async () => {
    const seen: { task: unknown; taskRunName: string; flowRunId: string | undefined; parameters: unknown }[] = [];
    const keyFn = (ctx: CacheKeyContext, parameters: Record<string, unknown>) => {
      seen.push({ task: ctx.task, taskRunName: ctx.taskRun.name, flowRunId: ctx.flowRun?.id, parameters });
      return `shared-${String(parameters.x)}`;
    };
    const c = counter();
    const a = task({ cacheKeyFn: keyFn }, function producer(x: number) {
      c.bump();
      return `made ${x}`;
    });
    const b = task({ cacheKeyFn: keyFn }, function consumer(x: number) {
      c.bump();
      return `other ${x}`;
    });
    let flowRunId: string | undefined;
    const out = await inFlow(async () => {
      const s1 = await a.with({ returnState: true })(1);
      const f = b.submit(1);
      await f.wait();
      flowRunId = f.taskRun.flowRunId;
      return [s1, f.state, f.taskRun.cacheKey];
    });
    assert.equal((out[0] as State).name, "Completed");
    assert.equal((out[1] as State).name, "Cached");
    assert.equal((out[1] as State).data, "made 1", "the second task got the first one's result");
    assert.equal(out[2], "shared-1");
    assert.equal(c.n, 1);
    assert.equal(seen[0]!.task, a);
    assert.equal(seen[1]!.task, b);
    assert.equal(seen[0]!.taskRunName, "producer-0");
    assert.equal(seen[1]!.flowRunId, flowRunId);
    assert.deepEqual(seen[0]!.parameters, { x: 1 });
  });

  test("null, undefined or an empty key means no caching; a throw or a non-string is a warning", async () => {
    const c = counter();
    const make = (name: string, fn: () => unknown) =>
      task({ name, cacheKeyFn: fn as () => string }, function body(x: number) {
        c.bump();
        return x;
      });
    const tasks = [
      make("nullKey", () => null),
      make("undefinedKey", () => undefined),
      make("emptyKey", () => ""),
      make("throwingKey", () => {
        throw new Error("no key today");
      }),
      make("numberKey", () => 42),
    ];
    await inFlow(async () => {
      for (const t of tasks) {
        assert.deepEqual(names([await t.with({ returnState: true })(1), await t.with({ returnState: true })(1)]), ["Completed", "Completed"]);
      }
    });
    assert.equal(c.n, 10);
    assert.deepEqual(storageFiles(home), []);
    assert.equal(warnings(home, /no key today/).length, 2);
    assert.equal(warnings(home, /cacheKeyFn returned number, not a string/).length, 2);
  });

  test("with both cacheKeyFn and cachePolicy, cacheKeyFn wins and one warning says so at definition", async () => {
    const c = counter();
    const t = task({ cacheKeyFn: () => "fixed", cachePolicy: INPUTS }, function both(x: number) {
      c.bump();
      return x;
    });
    assert.deepEqual(warnings(home), [
      "Task 'both': both cacheKeyFn and cachePolicy (INPUTS) are set; cacheKeyFn is used and the cache policy is ignored.",
    ]);
    const out = await inFlow(async () => [await t(1), await t(2), await t(3)]);
    assert.deepEqual(out, [1, 1, 1], "INPUTS would have missed; the fixed key hits");
    assert.equal(c.n, 1);
    assert.equal(warnings(home).length, 1, "once per definition, not per run");
  });

  test("taskInputHash: same task and inputs hit across flow runs; other inputs or another task miss", async () => {
    const c = counter();
    const one = task({ cacheKeyFn: taskInputHash }, function hashedOne(x: { n: number }) {
      c.bump();
      return x.n;
    });
    const two = task({ cacheKeyFn: taskInputHash }, function hashedTwo(x: { n: number }) {
      c.bump();
      return -x.n;
    });
    const a = await inFlow(async () => [await one.with({ returnState: true })({ n: 1 })]);
    const b = await inFlow(async () => [
      await one.with({ returnState: true })({ n: 1 }),
      await one.with({ returnState: true })({ n: 2 }),
      await two.with({ returnState: true })({ n: 1 }),
    ]);
    assert.deepEqual(names([...a, ...b]), ["Completed", "Cached", "Completed", "Completed"]);
    assert.deepEqual([...a, ...b].map((s) => s.data), [1, 1, 2, -1]);
  });
});

describe("persistence switches", () => {
  test("persistResult: false disables caching, with one warning when a policy was given", async () => {
    const c = counter();
    const t = task({ persistResult: false, cachePolicy: INPUTS.add(TASK_SOURCE) }, function off(x: number) {
      c.bump();
      return x;
    });
    task({ persistResult: false, cachePolicy: NONE }, function quietOff() {});
    task({ persistResult: false }, function quietOff2() {});
    assert.deepEqual(warnings(home), [
      "Task 'off': persistResult is false, so its cachePolicy (INPUTS + TASK_SOURCE) is ignored and its results are not cached.",
    ]);
    const out = await inFlow(async () => [await t.with({ returnState: true })(1), await t.with({ returnState: true })(1)]);
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.equal(c.n, 2);
    assert.deepEqual(storageFiles(home), []);
  });

  test("off by default: a task without cache options stores nothing", async () => {
    const c = counter();
    const plain = task(function plain(x: number) {
      c.bump();
      return x;
    });
    const out = await inFlow(async () => [await plain.with({ returnState: true })(1), await plain.with({ returnState: true })(1)]);
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.deepEqual(storageFiles(home), []);
    const store = await flushedStore();
    const rows = await store.listTaskRuns({ taskName: "plain" });
    assert.deepEqual(rows.map((r) => r.cacheKey), [null, null]);
  });
});
