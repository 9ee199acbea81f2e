/**
 * Caching meets storage, through the real engine: expiry on an injected clock, refreshes,
 * the persistence settings, damaged entries (misses that get rewritten), inputs that cannot be
 * hashed, results that cannot be serialised, every serializer type, generator tasks.
 */
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { INPUTS, task, type State } from "../../src/index.ts";
import { realClock, setClock } from "../../src/clock.ts";
import { getResultStorage } from "../../src/results/storage.ts";
import { resetSettings } from "../../src/settings/index.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";
import { counter, inFlow, names, storageFiles, warnings } from "../fixtures/caching/harness.ts";

let home: TempHome;
beforeEach(async () => {
  home = await useTempHome();
});
afterEach(async () => {
  await home.cleanup();
});

/** Set PREFECT_* variables for the rest of the test (useTempHome's cleanup does not know them). */
function withEnv(vars: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
    resetSettings();
  };
  apply(vars);
  return () => apply(saved);
}

/** A cached task that returns how many times its body has run (named, so that keys differ). */
function countingTask(options: Parameters<typeof task>[0] = { cachePolicy: INPUTS }, name = "counted") {
  const c = counter();
  const t = task({ name, ...options }, function counted(_x: number) {
    return c.bump();
  });
  return { c, call: (x = 1) => t.with({ returnState: true })(x) as Promise<State<number>> };
}

function onlyEntry(): string {
  const files = storageFiles(home);
  assert.equal(files.length, 1, `expected one entry, found ${files.join(", ")}`);
  return join(home.dir, "storage", files[0]!);
}

describe("expiry, refresh and settings", () => {
  test("cacheExpiration: a hit until it expires (on the injected clock), then a miss that rewrites the entry", async () => {
    let now = Date.UTC(2030, 0, 1);
    const restore = setClock({ now: () => now, sleep: realClock.sleep, timeout: realClock.timeout });
    try {
      const { c, call } = countingTask({ cachePolicy: INPUTS, cacheExpiration: 60 });
      const seq: State<number>[] = [];
      await inFlow(async () => {
        seq.push(await call());
        now += 59_999;
        seq.push(await call());
        now += 1; // exactly 60 s after it was written: expired
        seq.push(await call());
        now += 59_999;
        seq.push(await call());
        now += 1;
        seq.push(await call());
      });
      assert.deepEqual(names(seq), ["Completed", "Cached", "Completed", "Cached", "Completed"]);
      assert.deepEqual(seq.map((s) => s.data), [1, 1, 2, 2, 3]);
      assert.equal(c.n, 3);
      const [entry] = await getResultStorage().list();
      assert.equal(entry!.created, now);
      assert.equal(entry!.expires, now + 60_000);
    } finally {
      restore();
    }
  });

  test("refreshCache: runs anyway and overwrites the entry that others then hit", async () => {
    const c = counter();
    const key = () => "refresh-demo";
    const reader = task({ cacheKeyFn: key }, function reader() {
      return `reader ${c.bump()}`;
    });
    const refresher = task({ cacheKeyFn: key, refreshCache: true }, function refresher() {
      return `refresher ${c.bump()}`;
    });
    const out = await inFlow(async () => [
      await reader.with({ returnState: true })(),
      await refresher.with({ returnState: true })(),
      await refresher.with({ returnState: true })(),
      await reader.with({ returnState: true })(),
    ]);
    assert.deepEqual(names(out), ["Completed", "Completed", "Completed", "Cached"]);
    assert.deepEqual(out.map((s) => s.data), ["reader 1", "refresher 2", "refresher 3", "refresher 3"]);
  });

  test("PREFECT_TASKS_REFRESH_CACHE=true refreshes every cached task; an explicit refreshCache: false wins", async () => {
    const a = countingTask();
    const pinned = countingTask({ cachePolicy: INPUTS, refreshCache: false }, "pinned");
    await inFlow(async () => [await a.call(), await pinned.call()]);
    const restore = withEnv({ PREFECT_TASKS_REFRESH_CACHE: "true" });
    let refreshed: State<number>[];
    try {
      refreshed = await inFlow(async () => [await a.call(), await a.call(), await pinned.call()]);
    } finally {
      restore();
    }
    const after = await inFlow(async () => [await a.call()]);
    assert.deepEqual(names(refreshed), ["Completed", "Completed", "Cached"]);
    assert.deepEqual(refreshed.map((s) => s.data), [2, 3, 1]);
    assert.deepEqual(names(after), ["Cached"]);
    assert.equal(after[0]!.data, 3, "the refreshed value was written over the old one");
  });

  test("PREFECT_RESULTS_PERSIST_BY_DEFAULT=true caches tasks that leave persistResult unset (DEFAULT policy)", async () => {
    const plain = countingTask({});
    const optedOut = countingTask({ persistResult: false }, "optedOut");
    const restore = withEnv({ PREFECT_RESULTS_PERSIST_BY_DEFAULT: "true" });
    let first: State<number>[];
    let second: State<number>[];
    try {
      first = await inFlow(async () => [await plain.call(), await plain.call(), await optedOut.call(), await optedOut.call()]);
      second = await inFlow(async () => [await plain.call()]);
    } finally {
      restore();
    }
    assert.deepEqual(names(first), ["Completed", "Cached", "Completed", "Completed"]);
    assert.deepEqual(names(second), ["Completed"], "DEFAULT includes RUN_ID: a new flow run misses");
    assert.equal(storageFiles(home).length, 2);
    const off = await inFlow(async () => [await plain.call(), await plain.call()]);
    assert.deepEqual(names(off), ["Completed", "Completed"], "back to the default (false): nothing is read or written");
    assert.deepEqual(warnings(home), [], "persistResult: false without a policy is not worth a warning");
  });
});

describe("damaged entries are misses, never crashes", () => {
  const damage: [string, (file: string) => void][] = [
    ["a flipped payload byte (checksum mismatch)", (f) => {
      const buf = readFileSync(f);
      const last = buf.length - 1;
      buf.writeUInt8(buf.readUInt8(last) ^ 0xff, last);
      writeFileSync(f, buf);
    }],
    ["a truncated file", (f) => truncateSync(f, Math.floor(statSync(f).size / 2))],
    ["a file cut inside its header", (f) => truncateSync(f, 10)],
    ["an empty file", (f) => writeFileSync(f, "")],
    ["garbage that is not an entry", (f) => writeFileSync(f, "not a cached result at all\n".repeat(20))],
    ["a valid header with a payload v8 cannot read", (f) => {
      // rebuild the entry around a bad payload with a correct length and checksum
      const buf = readFileSync(f);
      const metaLen = buf.readUInt32BE(8);
      const meta = buf.subarray(48, 48 + metaLen);
      const payload = Buffer.from([0xff, 0x0f, 0x63, 0x99, 0x99]);
      const header = Buffer.alloc(48);
      buf.copy(header, 0, 0, 8);
      header.writeUInt32BE(meta.length, 8);
      header.writeUInt32BE(payload.length, 12);
      createHash("sha256").update(meta).update(payload).digest().copy(header, 16);
      writeFileSync(f, Buffer.concat([header, meta, payload]));
    }],
  ];

  for (const [what, spoil] of damage) {
    test(`${what}: the task runs again and the entry is rewritten`, async () => {
      const { c, call } = countingTask();
      const out = await inFlow(async () => {
        const states = [await call()];
        spoil(onlyEntry());
        states.push(await call());
        states.push(await call());
        return states;
      });
      assert.deepEqual(names(out), ["Completed", "Completed", "Cached"]);
      assert.deepEqual(out.map((s) => s.data), [1, 2, 2]);
      assert.equal(c.n, 2);
      assert.deepEqual(warnings(home), []);
      assert.equal((await getResultStorage().list()).length, 1);
    });
  }

  test("an entry that is somebody else's key (a copied file) is a miss", async () => {
    const c = counter();
    const t = task({ cachePolicy: INPUTS }, function copied(x: number) {
      c.bump();
      return x;
    });
    const out = await inFlow(async () => {
      await t(1);
      const [f1] = storageFiles(home);
      await t(2);
      const f2 = storageFiles(home).find((f) => f !== f1)!;
      writeFileSync(join(home.dir, "storage", f2), readFileSync(join(home.dir, "storage", f1!)));
      return [await t.with({ returnState: true })(2), await t.with({ returnState: true })(2)];
    });
    assert.deepEqual(names(out), ["Completed", "Cached"]);
    assert.deepEqual(out.map((s) => s.data), [2, 2], "never the other key's value");
    assert.equal(c.n, 3);
  });

  test("an unreadable entry (a folder in its place) is a miss; the write fails with one warning and the run completes", async () => {
    const { c, call } = countingTask();
    const out = await inFlow(async () => {
      const states = [await call()];
      const file = onlyEntry();
      rmSync(file);
      mkdirSync(file);
      writeFileSync(join(file, "keep"), "x");
      states.push(await call());
      return states;
    });
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.equal(c.n, 2);
    const w = warnings(home);
    assert.equal(w.length, 1, w.join("\n"));
    assert.match(w[0]!, /^The result of 'counted-1' was not cached: Could not write the cached result for key 'counted-[0-9a-f]+:[0-9a-f]+' to .*\.result: /);
  });

  test("a storage path that cannot be created: runs complete, each with a warning", async () => {
    writeFileSync(join(home.dir, "not-a-dir"), "");
    const restore = withEnv({ PREFECT_LOCAL_STORAGE_PATH: join(home.dir, "not-a-dir", "storage") });
    try {
      const { call } = countingTask();
      const out = await inFlow(async () => [await call(), await call()]);
      assert.deepEqual(names(out), ["Completed", "Completed"]);
      assert.equal(warnings(home, /was not cached: Could not write/).length, 2);
    } finally {
      restore();
    }
  });
});

describe("inputs and results the cache cannot take", () => {
  test("an unhashable input: one warning naming the parameter, the run goes on uncached", async () => {
    const c = counter();
    const apply = task({ cachePolicy: INPUTS }, function apply(fn: (x: number) => number, x: number) {
      c.bump();
      return fn(x);
    });
    const out = await inFlow(async () => [await apply.with({ returnState: true })((x) => x + 1, 1)]);
    assert.deepEqual(names(out), ["Completed"]);
    assert.equal(out[0]!.data, 2);
    const w = warnings(home);
    assert.equal(w.length, 1, w.join("\n"));
    assert.match(w[0]!, /^Cannot hash parameter 'fn' for the cache key: fn is a function.*The task runs without caching; exclude it with INPUTS\.exclude\("fn"\) or give a cacheKeyFn\.$/);
    assert.deepEqual(storageFiles(home), []);
    const rows = await (await flushedStore()).listTaskRuns({ taskName: "apply" });
    assert.equal(rows[0]!.cacheKey, null);
  });

  test("an unhashable value deep inside an input names its path; excluding the parameter caches again", async () => {
    const c = counter();
    const opts = { name: "emit", cachePolicy: INPUTS };
    const body = function emit(config: { label: string; sink: { emitter: EventEmitter } }) {
      c.bump();
      return config.label;
    };
    const t = task(opts, body);
    const excluded = task({ ...opts, cachePolicy: INPUTS.exclude("config") }, body);
    // (not named `config`: tsx renames a parameter that shadows an outer name)
    const value = { label: "x", sink: { emitter: new EventEmitter() } };
    const out = await inFlow(async () => [
      await t.with({ returnState: true })(value),
      await excluded.with({ returnState: true })(value),
      await excluded.with({ returnState: true })(value),
    ]);
    assert.deepEqual(names(out), ["Completed", "Completed", "Cached"]);
    const w = warnings(home);
    assert.equal(w.length, 1, w.join("\n"));
    assert.match(w[0]!, /parameter 'config'.*config\.sink\.emitter is an EventEmitter/);
  });

  test("taskInputHash with an unhashable input warns the same way", async () => {
    const { taskInputHash } = await import("../../src/index.ts");
    const t = task({ cacheKeyFn: taskInputHash }, function hashed(cb: () => void) {
      return typeof cb;
    });
    const out = await inFlow(async () => [await t.with({ returnState: true })(() => {}), await t.with({ returnState: true })(() => {})]);
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.equal(warnings(home, /Cannot hash parameter 'cb'/).length, 2, "one per run");
  });

  test("a result the serializer refuses: a clear warning, the run completes with its value, nothing is cached", async () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const c = counter();
    const make = task({ cachePolicy: INPUTS }, function makePoint(x: number) {
      c.bump();
      return { label: "p", point: new Point(x) };
    });
    const out = await inFlow(async () => [await make.with({ returnState: true })(1), await make.with({ returnState: true })(1)]);
    assert.deepEqual(names(out), ["Completed", "Completed"]);
    assert.ok((out[0]!.data as { point: Point }).point instanceof Point, "the caller gets the real value");
    assert.equal(c.n, 2);
    const w = warnings(home);
    assert.equal(w.length, 2, w.join("\n"));
    assert.match(
      w[0]!,
      /^The result of 'makePoint-0' was not cached: Cannot serialise the result: result\.point is an instance of Point, which would come back as a plain object\./,
    );
    assert.deepEqual(storageFiles(home), [], "no entry and no temp file left behind");
  });

  test("every serializer type round-trips through a cached task", async () => {
    const shared = { id: 7 };
    const make = () => ({
      date: new Date(Date.UTC(2024, 1, 29, 12, 30)),
      map: new Map<unknown, unknown>([["a", 1], [2, { deep: [new Set([1n])] }]]),
      set: new Set<unknown>(["x", 3, null]),
      big: 2n ** 70n,
      negBig: -5n,
      re: /ab+c/gi,
      u8: new Uint8Array([0, 255, 7]),
      i16: new Int16Array([-32768, 1]),
      f64: new Float64Array([1.5, -0, NaN, Infinity]),
      i64: new BigInt64Array([-(2n ** 63n)]),
      u8c: new Uint8ClampedArray([300 as number]),
      buffer: Buffer.from("héllo"),
      arrayBuffer: new Uint8Array([9, 8]).buffer,
      dataView: new DataView(new Uint8Array([1, 2, 3, 4]).buffer),
      // a view's own bytes are stored, not the rest of the buffer it looks into
      subarray: new Uint8Array([1, 2, 3, 4]).subarray(1, 3),
      nested: { list: [1, [2, [3, { u: undefined, deeper: { map: new Map([[new Date(0), new Set([/x/])]]) } }]]] },
      sparse: [1, , 3],
      undef: undefined,
      nul: null,
      negZero: -0,
      nan: NaN,
      inf: -Infinity,
      error: new RangeError("out of range"),
      boxed: [new String("s"), new Number(2), new Boolean(false)],
      sharedA: shared,
      sharedB: shared,
      emoji: "🌠",
    });
    const values: unknown[] = [make(), undefined, null, "plain", 42n, [undefined]];
    const c = counter();
    const echo = task({ cachePolicy: INPUTS }, function echo(i: number) {
      c.bump();
      return values[i];
    });
    for (let i = 0; i < values.length; i++) {
      const [first, second] = await inFlow(async () => [await echo.with({ returnState: true })(i), await echo.with({ returnState: true })(i)]);
      assert.equal(first!.name, "Completed");
      assert.equal(second!.name, "Cached", `value ${i} was cached`);
      assert.deepStrictEqual(second!.data, values[i]);
    }
    assert.equal(c.n, values.length);
    const [, hit] = await inFlow(async () => [null, await echo.with({ returnState: true })(0)]);
    const v = (hit as State).data as ReturnType<typeof make>;
    assert.notEqual(v, values[0], "the value came from storage, not from memory");
    assert.ok(v.date instanceof Date && v.map instanceof Map && v.set instanceof Set && v.re instanceof RegExp);
    assert.equal(v.re.flags, "gi");
    assert.ok(v.u8 instanceof Uint8Array && v.i64 instanceof BigInt64Array && Buffer.isBuffer(v.buffer));
    for (const view of [v.u8, v.f64, v.i64, v.buffer, v.dataView, v.subarray]) {
      assert.equal(view.buffer.byteLength, view.byteLength, "each view owns its bytes (not the whole cache file)");
    }
    assert.equal(typeof v.big, "bigint");
    assert.ok(Object.is(v.negZero, -0));
    assert.ok(!(1 in v.sparse), "holes stay holes");
    assert.ok("undef" in v && v.undef === undefined);
    assert.ok(v.error instanceof RangeError);
    assert.equal(v.sharedA, v.sharedB, "shared references stay shared");
    assert.equal(warnings(home).length, 0);
  });

  test("generator tasks are never cached (a definition warning says their cache options are ignored)", async () => {
    const c = counter();
    const gen = task({ cachePolicy: INPUTS, persistResult: true }, function* countTo(n: number) {
      c.bump();
      for (let i = 1; i <= n; i++) yield i;
    });
    const agen = task({ cacheKeyFn: () => "fixed" }, async function* asyncCount(n: number) {
      c.bump();
      for (let i = 1; i <= n; i++) yield i;
    });
    assert.deepEqual(warnings(home), [
      "Task 'countTo' is a generator task, which is never cached; its cachePolicy and persistResult are ignored.",
      "Task 'asyncCount' is a generator task, which is never cached; its cacheKeyFn is ignored.",
    ]);
    const restore = withEnv({ PREFECT_RESULTS_PERSIST_BY_DEFAULT: "true" });
    try {
      const out = await inFlow(async () => {
        const seen: number[][] = [];
        for (let round = 0; round < 2; round++) {
          for (const g of [gen(2), agen(3)]) {
            const vals: number[] = [];
            for await (const v of g) vals.push(v);
            seen.push(vals);
          }
        }
        return seen;
      });
      assert.deepEqual(out, [[1, 2], [1, 2, 3], [1, 2], [1, 2, 3]]);
    } finally {
      restore();
    }
    assert.equal(c.n, 4);
    assert.deepEqual(storageFiles(home), []);
    const rows = await (await flushedStore()).listTaskRuns({});
    assert.deepEqual(rows.map((r) => [r.stateName, r.cacheKey]), Array(4).fill(["Completed", null]));
  });
});
