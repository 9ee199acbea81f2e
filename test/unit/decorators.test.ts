/**
 * `@task`, `@task(options)` and `@flow` as standard (TC39) decorators on class methods:
 * instance and static, sync, async and generator, with `this` as in the undecorated method —
 * also through `.submit`, `.map` and `.with`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { flow, task, type Task } from "../../src/index.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
before(async () => {
  home = await useTempHome();
});
after(() => home.cleanup());

class Counter {
  static created = 0;
  count = 0;
  constructor(readonly label: string) {}

  @task
  add(n: number) {
    this.count += n;
    return `${this.label}:${this.count}`;
  }

  @task({ name: "slow-add", retries: 1, retryDelaySeconds: 0 })
  async slowAdd(n: number) {
    await new Promise((r) => setImmediate(r));
    this.count += n;
    if (this.count === 100) throw new Error("no hundreds");
    return this.count;
  }

  @task
  *upTo(n: number) {
    for (let i = 1; i <= n; i++) yield `${this.label}${i}`;
  }

  @task
  async *asyncUpTo(n: number) {
    for (let i = 1; i <= n; i++) yield this.count + i;
  }

  @task
  static make(label: string) {
    this.created++;
    return new this(label);
  }

  @task({ tags: ["static"] })
  static async describe() {
    return `${this.name} made ${this.created}`;
  }

  @flow
  async tally({ times = 2 }: { times?: number } = {}) {
    for (let i = 0; i < times; i++) await this.add(1);
    return this.count;
  }

  @flow({ name: "static-flow" })
  static async build({ label }: { label: string }) {
    const c = await this.make(label);
    await c.add(5);
    return c.count;
  }

  @task
  #secret() {
    return `secret of ${this.label}`;
  }

  async reveal() {
    return this.#secret();
  }
}

describe("class method decorators", () => {
  test("the seed's shapes: instance and static methods are tasks and keep `this`", async () => {
    const c = new Counter("a");
    assert.equal(await c.add(2), "a:2");
    assert.equal(await c.add(3), "a:5");
    assert.equal(c.count, 5);
    const made = await Counter.make("b");
    assert.ok(made instanceof Counter);
    assert.equal(made.label, "b");
    assert.equal(await Counter.describe(), `Counter made ${Counter.created}`);
    assert.equal(await c.reveal(), "secret of a");
  });

  test("decorated methods are Task objects with their name, options and a class-qualified key", () => {
    const c = new Counter("k");
    const add = c.add as unknown as Task;
    assert.equal(add.name, "add");
    assert.equal(typeof add.submit, "function");
    assert.equal((c.slowAdd as unknown as Task).name, "slow-add");
    assert.equal((c.slowAdd as unknown as Task).options.retries, 1);
    assert.deepEqual((Counter.describe as unknown as Task).tags, ["static"]);
    const def = (add as unknown as { definition: { qualname: string } }).definition;
    assert.equal(def.qualname, "Counter.add");
    assert.equal((Counter.make as unknown as { definition: { qualname: string } }).definition.qualname, "Counter.make");
    assert.notEqual(add.taskKey, (Counter.make as unknown as Task).taskKey);
  });

  test("each instance keeps its own `this`, also through submit, map and with", async () => {
    const a = new Counter("a");
    const b = new Counter("b");
    const f = flow(async function twoInstances() {
      const fa = (a.add as unknown as Task).submit(1);
      const fb = (b.add as unknown as Task).submit(10);
      const mapped = await (a.slowAdd as unknown as Task).map([1, 2]).result();
      const st = await (b.add as unknown as Task).with({ returnState: true })(1);
      return [await fa.result(), await fb.result(), mapped.sort(), st.data];
    });
    const [ra, rb, mapped, viaWith] = (await f()) as [string, string, number[], string];
    assert.equal(ra, "a:1");
    assert.equal(rb, "b:10");
    assert.deepEqual(mapped, [2, 4]);
    assert.equal(viaWith, "b:11");
    assert.equal(a.count, 4);
    assert.equal(b.count, 11);
  });

  test("async methods retry with `this` intact", async () => {
    const c = new Counter("r");
    c.count = 99;
    // the first attempt reaches 100 and throws; the retry goes on from there
    assert.equal(await c.slowAdd(1), 101);
  });

  test("generator methods (sync and async) are generator tasks", async () => {
    const c = new Counter("g");
    c.count = 10;
    const got: unknown[] = [];
    for await (const v of c.upTo(3)) got.push(v);
    for await (const v of c.asyncUpTo(2)) got.push(v);
    assert.deepEqual(got, ["g1", "g2", "g3", 11, 12]);
    assert.throws(() => (c.upTo as unknown as Task).submit(1), /is a generator task/);
    const store = await flushedStore();
    const [row] = await store.listTaskRuns({ taskName: "upTo" });
    assert.equal(row?.stateName, "Completed");
  });

  test("@flow on an instance method runs a flow with `this` and its tasks inside it", async () => {
    const c = new Counter("f");
    assert.equal(await c.tally({ times: 3 }), 3);
    assert.equal(await c.tally(), 5);
    const store = await flushedStore();
    const runs = await store.listFlowRuns({ flowName: "tally" });
    assert.equal(runs.length, 2);
    const tasks = await store.listTaskRuns({ flowRunId: runs[1]!.id });
    assert.deepEqual(tasks.map((t) => t.name), ["add-0", "add-1", "add-2"]);
  });

  test("@flow(options) on a static method: `this` is the class", async () => {
    assert.equal(await Counter.build({ label: "s" }), 5);
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ flowName: "static-flow" });
    assert.equal(run?.stateType, "COMPLETED");
    const tasks = await store.listTaskRuns({ flowRunId: run!.id });
    assert.deepEqual(tasks.map((t) => t.name), ["make-0", "add-0"]);
  });

  test("a subclass inherits decorated methods, with `this` the subclass instance", async () => {
    class Loud extends Counter {
      override async reveal() {
        return (await super.reveal()).toUpperCase();
      }
    }
    const l = new Loud("l");
    assert.equal(await l.add(1), "l:1");
    assert.equal(await l.reveal(), "SECRET OF L");
    const made = await Loud.make("m");
    assert.ok(made instanceof Loud);
  });

  test("invalid options on a decorated method throw at class definition", () => {
    assert.throws(
      () => {
        class Bad {
          @task({ retries: -1 })
          m() {}
        }
        return Bad;
      },
      (e: Error & { code?: string }) => e.code === "INVALID_OPTION" && /retries/.test(e.message),
    );
  });
});
