/**
 * `task.map(...)`: iterable arguments are zipped, everything else (strings, futures,
 * `unmapped(x)`) is passed whole to every run; bad shapes throw at once, naming the lengths.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { flow, task, unmapped } from "../../src/index.ts";
import { useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
before(async () => {
  home = await useTempHome();
});
after(() => home.cleanup());

const join3 = task(function join3(a: unknown, b: unknown, c?: unknown) {
  return [a, b, c];
});

describe("map", () => {
  test("zips arrays, Sets, Maps and generators; broadcasts scalars and strings", async () => {
    function* letters() {
      yield "x";
      yield "y";
    }
    const f = flow(async function zipping() {
      return {
        arrays: await join3.map([1, 2], ["a", "b"], "whole").result(),
        set: await join3.map(new Set([1, 2]), letters(), 7).result(),
        map: await join3.map(new Map([["k", 1], ["l", 2]]), unmapped([9, 9])).result(),
      };
    });
    assert.deepEqual(await f(), {
      arrays: [[1, "a", "whole"], [2, "b", "whole"]],
      set: [[1, "x", 7], [2, "y", 7]],
      map: [[["k", 1], [9, 9], undefined], [["l", 2], [9, 9], undefined]],
    });
  });

  test("one future per element, each logged as submitted, in order", async () => {
    const square = task(async function square(x: number) {
      return x * x;
    });
    let names: string[] = [];
    const f = flow(async function squares() {
      const futures = square.map([1, 2, 3]);
      assert.equal(futures.length, 3);
      names = futures.map((fu) => fu.taskRun.name);
      const states = await futures.wait();
      assert.deepEqual(states.map((s) => s.name), ["Completed", "Completed", "Completed"]);
      return futures.result();
    });
    assert.deepEqual(await f(), [1, 4, 9]);
    assert.deepEqual(names, ["square-0", "square-1", "square-2"]);
    // one INFO line for the call; each run's own line at DEBUG
    assert.equal(home.lines().filter((l) => l.endsWith("Submitted 3 task runs of task 'square' for execution ('square-0' … 'square-2').")).length, 1);
    assert.ok(!home.lines().some((l) => l.includes("Submitted task run 'square-")));
    const debug = home.logs.filter((r) => r.level === 10).map((r) => r.message);
    for (const n of names) assert.ok(debug.includes(`Submitted task run '${n}' for execution.`), n);
  });

  test("an empty iterable makes no runs", async () => {
    const f = flow(async function none() {
      const futures = join3.map([], []);
      return [futures.length, await futures.result()];
    });
    assert.deepEqual(await f(), [0, []]);
  });

  test("a future argument is passed whole to every run, as an upstream", async () => {
    const base = task(async function base() {
      return 10;
    });
    const add = task(async function add(x: number, y: number) {
      return x + y;
    });
    const f = flow(async function withUpstream() {
      const b = base.submit();
      const futures = add.map([1, 2, 3], b);
      const values = await futures.result();
      return { values, inputs: futures.map((fu) => fu.taskRun.inputs) };
    });
    const out = (await f()) as { values: number[]; inputs: { parameter: string; taskRunId: string }[][] };
    assert.deepEqual(out.values, [11, 12, 13]);
    for (const inputs of out.inputs) assert.deepEqual(inputs.map((i) => i.parameter), ["y"]);
  });

  test("futures inside a mapped array become the upstream of their own run", async () => {
    const one = task(async function one(i: number) {
      return i;
    });
    const inc = task(async function inc(x: number) {
      return x + 1;
    });
    const f = flow(async function chained() {
      const firsts = one.map([1, 2]);
      return inc.map(firsts).result();
    });
    assert.deepEqual(await f(), [2, 3]);
  });

  test("result() rejects with the first failure in order; wait() still gives every state", async () => {
    const maybe = task(async function maybe(x: number) {
      if (x % 2 === 0) throw new Error(`even ${x}`);
      return x;
    });
    const f = flow(async function mixed() {
      const futures = maybe.map([1, 2, 3, 4]);
      const states = await futures.wait();
      assert.deepEqual(states.map((s) => s.name), ["Completed", "Failed", "Completed", "Failed"]);
      await assert.rejects(futures.result(), /even 2/);
      return "ok";
    });
    assert.equal(await f(), "ok");
  });

  test("no iterable argument throws at once, before any run", async () => {
    const created = () => home.lines().filter((l) => l.includes("Created task run 'join3-")).length;
    const before = created();
    const f = flow(async function noIterable() {
      assert.throws(
        () => join3.map(1, "a string is passed whole", unmapped([1, 2])),
        (e: Error & { code?: string }) =>
          e.code === "INVALID_ARGUMENT" && /join3\.map\(\) needs at least one iterable argument .*got none/.test(e.message),
      );
      assert.throws(() => (join3.map as (...a: unknown[]) => unknown)(), /needs at least one iterable argument/);
    });
    await f();
    assert.equal(created(), before);
  });

  test("iterables of different lengths throw at once, naming the lengths", async () => {
    const f = flow(async function unequal() {
      assert.throws(
        () => join3.map([1, 2, 3], "x", new Set([1, 2])),
        (e: Error & { code?: string }) =>
          e.code === "INVALID_ARGUMENT" &&
          e.message === "join3.map() got iterables of different lengths: argument 0 has 3, argument 2 has 2",
      );
      return "checked";
    });
    assert.equal(await f(), "checked");
  });

  test("works outside a flow", async () => {
    const neg = task(function neg(x: number) {
      return -x;
    });
    assert.deepEqual(await neg.map([1, 2]).result(), [-1, -2]);
  });

  test("with({ waitFor }).map waits for the futures first", async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = task(async function first() {
      await gate;
      order.push("first");
    });
    const each = task(async function each(x: number) {
      order.push(`each-${x}`);
    });
    const f = flow(async function waiting() {
      const a = first.submit();
      const futures = each.with({ waitFor: [a] }).map([1, 2]);
      setImmediate(release);
      await futures.wait();
    });
    await f();
    assert.deepEqual(order, ["first", "each-1", "each-2"]);
  });
});
