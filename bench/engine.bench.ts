/**
 * The engine's per-task overhead: a flow of 10,000 no-op tasks called one after another,
 * every state persisted to a real SQLite store, logging at WARNING — against raw calls of the
 * same function, awaited the same way, in the same process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchFigure } from "./run.ts";

const N = 10_000;

export default async function engineBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-"));
  process.env.PREFECT_HOME = home;
  process.env.PREFECT_LOGGING_LEVEL = "WARNING";
  const { flow, task } = await import("../src/index.ts");
  const { resetSettings } = await import("../src/settings/index.ts");
  const { resetLogging } = await import("../src/logging/logger.ts");
  const { getStore, closeStore } = await import("../src/store/index.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  resetSettings();
  resetLogging();

  function noop(i: number) {
    return i;
  }
  const noopTask = task(noop);

  // raw baseline: the same calls, awaited one by one
  const raw = async () => {
    let s = 0;
    for (let i = 0; i < N; i++) s += await noop(i);
    return s;
  };
  const sequential = flow(async function sequential() {
    let s = 0;
    for (let i = 0; i < N; i++) s += await noopTask(i);
    return s;
  });

  await raw();
  await sequential(); // warm-up: JIT, store opened, tables created
  const rawStart = process.hrtime.bigint();
  await raw();
  const rawNs = Number(process.hrtime.bigint() - rawStart);

  const runs: number[] = [];
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    await sequential(); // includes the final flush of every state to SQLite
    runs.push(Number(process.hrtime.bigint() - t0));
  }
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const best = Math.min(...runs);

  await storeWriter.flush();
  const store = await getStore();
  const persisted = (await store.listFlowRuns({ flowName: "sequential", limit: 10 })).length;
  const states = await store.getStates((await store.listFlowRuns({ flowName: "sequential", limit: 1 }))[0]!.id);
  await closeStore();
  rmSync(home, { recursive: true, force: true });

  const perTaskUs = best / N / 1000;
  const rawPerCallUs = rawNs / N / 1000;
  return [
    {
      name: "engine",
      description: `${N.toLocaleString("en-US")} sequential no-op tasks in one flow, every state persisted to SQLite, logging WARNING (best of 3)`,
      metrics: {
        "flow run total (ms)": best / 1e6,
        "per task (µs)": perTaskUs,
        "raw call (µs)": rawPerCallUs,
        "overhead per task (µs)": perTaskUs - rawPerCallUs,
        "tasks/s": Math.round(N / (best / 1e9)),
        "peak RSS (MiB)": peakRss / 2 ** 20,
        "flow runs persisted": persisted,
        "flow states persisted (last run)": states.length,
      },
    },
  ];
}
