/**
 * Cache hits against misses, an uncached task call and a raw function call, in one process on
 * one temp PREFECT_HOME (SQLite store on, logging WARNING). Every engine call is a sequential
 * `await t(i)` inside one flow run, with INPUTS as the policy:
 *   raw      the plain function
 *   uncached the same function as a task with persistResult: false (engine overhead alone)
 *   miss     a new input each time: key, read (miss), run, write the entry
 *   hit      inputs seen before: key, read the entry, Cached — the body does not run
 *   read     ResultStorage.read of an existing entry alone (the hit's share spent on the file)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { flow, INPUTS, task } from "../src/index.ts";
import { resetLogging } from "../src/logging/logger.ts";
import { getResultStorage } from "../src/results/storage.ts";
import { resetSettings } from "../src/settings/index.ts";
import { closeStore } from "../src/store/index.ts";
import { storeWriter } from "../src/store/writer.ts";
import type { BenchFigure } from "./run.ts";

const N = 2_000;
const WARMUP = 200;
const ROUNDS = 3;

function body(i: number) {
  return { i, label: `item ${i}`, tags: ["a", "b", "c"], at: new Date(0) };
}

async function perCall(n: number, fn: (i: number) => unknown): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return ((performance.now() - t0) * 1000) / n;
}

export default async function cacheBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-cache-"));
  const saved = { home: process.env.PREFECT_HOME, level: process.env.PREFECT_LOGGING_LEVEL };
  process.env.PREFECT_HOME = home;
  process.env.PREFECT_LOGGING_LEVEL = "WARNING";
  await closeStore();
  storeWriter.resetStore();
  resetSettings();
  resetLogging();
  try {
    const cached = task({ cachePolicy: INPUTS }, function cachedBody(i: number) {
      return body(i);
    });
    const uncached = task({ persistResult: false }, function uncachedBody(i: number) {
      return body(i);
    });
    const m = await flow({ name: "cache-bench" }, async function cacheBench() {
      await perCall(WARMUP, (i) => uncached(i));
      await perCall(WARMUP, (i) => cached(-1 - i)); // warm both paths on keys the figures do not use
      await perCall(WARMUP, (i) => cached(-1 - i));
      const storage = getResultStorage();
      const best = { raw: Infinity, plain: Infinity, miss: Infinity, hit: Infinity, read: Infinity };
      for (let round = 0; round < ROUNDS; round++) {
        const base = round * N; // fresh inputs each round, so misses are misses
        best.raw = Math.min(best.raw, await perCall(N * 10, body));
        best.plain = Math.min(best.plain, await perCall(N, (i) => uncached(base + i)));
        best.miss = Math.min(best.miss, await perCall(N, (i) => cached(base + i)));
        best.hit = Math.min(best.hit, await perCall(N, (i) => cached(base + i)));
        const keys = (await storage.list()).map((e) => e.key);
        best.read = Math.min(best.read, await perCall(N, (i) => storage.read(keys[i % keys.length]!)));
      }
      return best;
    })();
    await storeWriter.flush();
    return [
      {
        name: "cache",
        description: `${N.toLocaleString("en-US")} sequential task calls per figure in one flow run (INPUTS policy, small object result, SQLite store on, logging WARNING; best of ${ROUNDS})`,
        metrics: {
          "raw call (µs)": m.raw,
          "uncached task call (µs)": m.plain,
          "cache miss: run + write (µs)": m.miss,
          "cache hit (µs)": m.hit,
          "  of which reading the entry (µs)": m.read,
          "hit vs miss (× faster)": m.miss / m.hit,
          "hit overhead over uncached (µs)": m.hit - m.plain,
        },
      },
    ];
  } finally {
    await storeWriter.flush().catch(() => undefined);
    await closeStore();
    storeWriter.resetStore();
    for (const [k, v] of [["PREFECT_HOME", saved.home], ["PREFECT_LOGGING_LEVEL", saved.level]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetSettings();
    resetLogging();
    rmSync(home, { recursive: true, force: true });
  }
}
