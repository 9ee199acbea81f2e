/**
 * Flow parameters from code: positional calls, schema validation (every problem, nothing run),
 * the object form's names, and the types inferred from a schema (checked by `npm run typecheck`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import * as v from "valibot";
import { flow, runtime, type FlowRun } from "../../src/index.ts";
import { ParameterError } from "../../src/errors.ts";
import { useTempHome, flushedStore } from "../support/home.ts";

test("flows are called like functions: add(1, 2), a class method, parameters map names to values", async () => {
  const home = await useTempHome();
  try {
    let seen: FlowRun | undefined;
    const add = flow(async function add(x: number, y: number) {
      seen = runtime.flowRun as unknown as FlowRun;
      return x + y;
    });
    assert.equal(await add(1, 2), 3);
    assert.deepEqual(seen?.parameters, { x: 1, y: 2 });
    class Pipeline {
      constructor(readonly factor: number) {}
      @flow
      async run(x: number, label = "run") {
        return `${label}:${x * this.factor}`;
      }
    }
    assert.equal(await new Pipeline(3).run(2), "run:6");
    const store = await flushedStore();
    const runs = await store.listFlowRuns({ limit: 5 });
    assert.deepEqual(runs.map((r) => JSON.parse(r.parameters)), [{ x: 2, label: "run" }, { x: 1, y: 2 }]);
  } finally {
    await home.cleanup();
  }
});

for (const [lib, schema] of [
  ["zod", z.object({ n: z.number().int(), name: z.string().default("x") })],
  ["valibot", v.object({ n: v.pipe(v.number(), v.integer()), name: v.optional(v.string(), "x") })],
] as const) {
  test(`${lib}: a call from code is validated; bad values reject with every problem and no run`, async () => {
    const home = await useTempHome();
    try {
      const f = flow({ params: schema }, async function typed(p) {
        return `${p.name}:${p.n + 1}`;
      });
      assert.equal(await f({ n: 1 }), "x:2");
      await assert.rejects(
        // @ts-expect-error n must be a number
        f({ n: "1", name: 5 }),
        (err: ParameterError) => {
          assert.equal(err.code, "INVALID_PARAMETERS");
          assert.deepEqual(err.problems.map((p) => p.field).sort(), ["n", "name"]);
          assert.equal(err.problems.find((p) => p.field === "n")?.received, "1");
          return true;
        },
      );
      const store = await flushedStore();
      assert.equal((await store.listFlowRuns({ limit: 5 })).length, 1);
    } finally {
      await home.cleanup();
    }
  });
}

test("without a schema: a destructured object takes only its own keys; forbidden keys refused", async () => {
  const home = await useTempHome();
  try {
    const f = flow(async function named({ a = 1 }: { a?: number } = {}) {
      return a;
    });
    assert.equal(await f(), 1);
    assert.equal(await f({ a: 5 }), 5);
    // @ts-expect-error b is not a parameter
    await assert.rejects(f({ b: 2 }), /Invalid parameters for flow 'named' \(1 problem\): 'b': flow 'named' has no parameter 'b'; its parameters: a/);
    const proto = JSON.parse('{"__proto__": {"a": 9}}');
    await assert.rejects(f(proto), /'__proto__' is not allowed/);
  } finally {
    await home.cleanup();
  }
});

test("types: a schema flow's function parameter is the schema's output; the flow takes its input", () => {
  const s = z.object({ n: z.number(), when: z.coerce.date().optional(), flag: z.boolean().default(false) });
  const f = flow({ params: s, name: "typed" }, async (p) => {
    const n: number = p.n;
    const flag: boolean = p.flag;
    const when: Date | undefined = p.when;
    // @ts-expect-error n is a number
    const wrong: string = p.n;
    return [n, flag, when, wrong] as const;
  });
  const call: (params: { n: number; when?: unknown; flag?: boolean }) => Promise<unknown> = f;
  assert.equal(typeof call, "function");
  // @ts-expect-error n is required
  void (() => f({}));
  const curried = flow({ params: v.object({ s: v.string() }), name: "curried" })(async (p) => p.s.length);
  const r: Promise<number> = curried({ s: "abc" });
  void r.catch(() => undefined);
});
