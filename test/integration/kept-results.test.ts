/**
 * Results kept for `flowctl runs retry`, through the real engine and a real SQLite store:
 * small results in the store, large ones as result files, results and inputs that cannot be
 * kept recorded with the reason, subflows' under their top-level run, the setting that turns it
 * off, and the encoding round trip.
 */
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { flow, task } from "../../src/index.ts";
import { decodeKept, encodeKept, INLINE_LIMIT, keptFile, readKeptFile } from "../../src/results/kept-results.ts";
import { resetSettings } from "../../src/settings/index.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
beforeEach(async () => {
  home = await useTempHome();
});
afterEach(async () => {
  delete process.env.PREFECT_RESULTS_KEEP_FOR_RETRY;
  resetSettings();
  await home.cleanup();
});

const double = task(function double(n: number) {
  return n * 2;
});
const rich = task(function rich(n: number) {
  return { n, when: new Date(0), tags: new Set(["a"]), big: 10n ** 20n, nothing: undefined };
});
const makeFn = task(function makeFn(n: number) {
  return () => n;
});
const large = task(function large(n: number) {
  return "x".repeat(INLINE_LIMIT + n);
});
const takesFn = task(function takesFn(f: () => number) {
  return f();
});
const inner = flow({ name: "kept-inner" }, async function keptInner() {
  return double(100);
});

describe("keeping results for retries", () => {
  test("every completed task run of a flow run leaves its result, kept where its size says", async () => {
    const main = flow({ name: "kept-main" }, async function keptMain() {
      await double(1);
      await rich(2);
      await makeFn(3);
      await large(5);
      await takesFn(() => 4);
      await double.map([7, 8]).result();
      await inner();
    });
    await main();
    const store = await flushedStore();
    const [sub, top] = await store.listFlowRuns({ limit: 2 });
    assert.equal(top!.flowName, "kept-main");
    assert.equal(sub!.parentFlowRunId, top!.id);
    const tasks = new Map((await store.listTaskRuns({ limit: 100 })).map((t) => [t.id, t]));
    const rows = await store.getKeptResults(top!.id);
    const byName = new Map(rows.map((r) => [`${tasks.get(r.taskRunId)!.flowRunId === sub!.id ? "sub:" : ""}${tasks.get(r.taskRunId)!.name}`, r]));
    assert.deepEqual([...byName.keys()].sort(), ["double-0", "double-1", "double-2", "large-0", "makeFn-0", "rich-0", "sub:double-0", "takesFn-0"]);

    const d0 = byName.get("double-0")!;
    assert.equal(d0.kind, "value");
    assert.equal(decodeKept(d0.payload!), 2);
    assert.equal(d0.inputsKey, '={"n":n1}');
    assert.match(d0.sourceHash, /^[0-9a-f]{64}$/);
    assert.equal(decodeKept(byName.get("sub:double-0")!.payload!), 200, "a subflow's results are kept under the top-level run");
    assert.deepEqual(decodeKept(byName.get("rich-0")!.payload!), { n: 2, when: new Date(0), tags: new Set(["a"]), big: 10n ** 20n, nothing: undefined });

    const fn = byName.get("makeFn-0")!;
    assert.equal(fn.kind, "unkept");
    assert.match(fn.message!, /^its result cannot be kept: Cannot serialise the result: result is a function/);
    const inFn = byName.get("takesFn-0")!;
    assert.equal(inFn.kind, "unkept");
    assert.equal(inFn.inputsKey, null);
    assert.match(inFn.message!, /^its inputs cannot be hashed: parameters\.f is a function/);

    const big = byName.get("large-0")!;
    assert.equal(big.kind, "file");
    assert.equal(big.payload, null);
    const file = keptFile(join(home.dir, "storage"), top!.id, big.taskRunId);
    assert.equal(readKeptFile(file), "x".repeat(INLINE_LIMIT + 5));
    assert.deepEqual(readdirSync(join(home.dir, "storage", "runs")), [top!.id]);
  });

  test("PREFECT_RESULTS_KEEP_FOR_RETRY=false keeps nothing", async () => {
    process.env.PREFECT_RESULTS_KEEP_FOR_RETRY = "false";
    resetSettings();
    const off = flow({ name: "kept-off" }, async function keptOff() {
      await double(1);
      await large(1);
    });
    await off();
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ limit: 1 });
    assert.deepEqual(await store.getKeptResults(run!.id), []);
    assert.equal(existsSync(join(home.dir, "storage", "runs")), false);
  });

  test("standalone task runs keep nothing", async () => {
    assert.equal(await double(21), 42);
    const store = await flushedStore();
    const [t] = await store.listTaskRuns({ limit: 1 });
    assert.equal(t!.flowRunId, null);
    assert.deepEqual(await store.getKeptResults(t!.id), []);
  });
});

describe("kept-result encoding", () => {
  test("round-trips primitives cheaply and everything else through the serializer", () => {
    for (const v of ["", "é 🌠", 0, 1.5, -3, true, false, null, undefined, -0, NaN, Infinity, 12n, [1, "a"], { a: { b: [new Date(5)] } }, new Map([[1, 2]])]) {
      const back = decodeKept(encodeKept(v));
      assert.ok(Object.is(back, v) || (typeof v === "object" && v !== null), `${String(v)}`);
      assert.deepEqual(back, v);
    }
    assert.equal(encodeKept(42).toString(), "J42");
    // plain data goes as JSON; anything JSON would change goes through the serializer
    assert.equal(encodeKept({ a: [1, "x", null, { b: true }] }).toString(), 'J{"a":[1,"x",null,{"b":true}]}');
    const sparse = [1, , 3];
    const getter = Object.defineProperty({}, "x", { get: () => 1, enumerable: true });
    const hidden = Object.defineProperty({ a: 1 }, "h", { value: 2, enumerable: false });
    for (const v of [{ d: new Date(0) }, Object.assign(Object.create(null), { a: 1 }), sparse, { z: -0 }, { u: undefined }, { n: NaN }, { [Symbol("s")]: 1 }, hidden]) {
      assert.equal(encodeKept(v)[0], 0x56, `${String(Object.keys(v))} goes through the serializer`);
    }
    for (const v of [{ d: new Date(0) }, sparse, { z: -0 }, { u: undefined }, { n: NaN }]) assert.deepEqual(decodeKept(encodeKept(v)), v);
    assert.equal(encodeKept(getter)[0], 0x56);
    assert.deepEqual(decodeKept(encodeKept(getter)), { x: 1 });
    assert.equal(encodeKept(-0)[0], 0x56, "-0 is not JSON's");
    assert.throws(() => encodeKept(new URL("http://x")), { code: "NOT_SERIALIZABLE" });
    assert.throws(() => decodeKept(Buffer.from("?")), /damaged/);
  });
});
