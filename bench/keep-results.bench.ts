/**
 * The cost of keeping task results for `flowctl runs retry` (on by default): the engine bench's
 * flow of 10,000 sequential no-op tasks (small number results, every row persisted to SQLite,
 * logging WARNING) with PREFECT_RESULTS_KEEP_FOR_RETRY on and off, rounds interleaved, best of
 * 5 each; and the keeping steps alone (the inputs' identity, the encoding, the row) for a small
 * number and a small object. Wall time and CPU time (process.cpuUsage: every thread of the
 * process, the SQLite write thread included) are both given: on a loaded machine the CPU time
 * is the steadier figure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchFigure } from "./run.ts";

const N = 10_000;
const ROUNDS = 5;

export default async function keepResultsBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-keep-"));
  process.env.PREFECT_HOME = home;
  process.env.PREFECT_LOGGING_LEVEL = "WARNING";
  const { flow, task } = await import("../src/index.ts");
  const { resetSettings } = await import("../src/settings/index.ts");
  const { resetLogging } = await import("../src/logging/logger.ts");
  const { getStore, closeStore } = await import("../src/store/index.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  const { inputsKeyOf } = await import("../src/engine/keep-result.ts");
  const { encodeKept } = await import("../src/results/kept-results.ts");
  resetSettings();
  resetLogging();

  const noopTask = task(function noop(i: number) {
    return i;
  });
  const sequential = flow(async function keepBench() {
    let s = 0;
    for (let i = 0; i < N; i++) s += await noopTask(i);
    return s;
  });
  const withKeep = async (on: boolean) => {
    process.env.PREFECT_RESULTS_KEEP_FOR_RETRY = on ? "true" : "false";
    resetSettings();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sequential();
    await storeWriter.flush(); // the rows' writing counts too
    const wall = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    return { wall, cpu: (c.user + c.system) * 1000 };
  };
  await withKeep(true); // warm-up
  await withKeep(false);
  const on: { wall: number; cpu: number }[] = [];
  const off: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    on.push(await withKeep(true));
    off.push(await withKeep(false));
  }
  await storeWriter.flush();
  const store = await getStore();
  const last = (await store.listFlowRuns({ flowName: "keep-bench", limit: 2 }))[1]!;
  const kept = (await store.getKeptResults(last.id)).length;

  // the keeping steps alone
  const steps = (value: (i: number) => unknown) => {
    const M = 200_000;
    for (let i = 0; i < 20_000; i++) encodeKept(value(i)), inputsKeyOf({ i }, undefined);
    const c0 = process.cpuUsage();
    for (let i = 0; i < M; i++) {
      inputsKeyOf({ i }, undefined);
      encodeKept(value(i));
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / M;
  };
  const numberUs = steps((i) => i);
  const objectUs = steps((i) => ({ id: i, name: "row", ok: true }));

  delete process.env.PREFECT_RESULTS_KEEP_FOR_RETRY;
  resetSettings();
  await closeStore();
  rmSync(home, { recursive: true, force: true });
  const best = (xs: { wall: number; cpu: number }[], k: "wall" | "cpu") => Math.min(...xs.map((x) => x[k])) / N / 1000;
  return [
    {
      name: "keep-results",
      description: `${N.toLocaleString("en-US")} sequential no-op tasks in one flow, SQLite, logging WARNING, results kept vs not (best of ${ROUNDS} each, interleaved)`,
      metrics: {
        "per task, results kept (µs wall)": best(on, "wall"),
        "per task, not kept (µs wall)": best(off, "wall"),
        "cost of keeping per task (µs wall)": best(on, "wall") - best(off, "wall"),
        "per task, results kept (µs CPU)": best(on, "cpu"),
        "per task, not kept (µs CPU)": best(off, "cpu"),
        "cost of keeping per task (µs CPU)": best(on, "cpu") - best(off, "cpu"),
        "keeping steps alone, number result (µs CPU)": numberUs,
        "keeping steps alone, small object (µs CPU)": objectUs,
        "results kept by the last kept run": kept,
      },
    },
  ];
}
