/**
 * The engine's per-task cost and memory, measured in one run against two baselines:
 *
 * - raw calls of the same no-op function, awaited the same way;
 * - p-limit + p-retry: each call wrapped in `pLimit(CONCURRENCY)` and `pRetry` (what a script
 *   adds to get a concurrency cap and retries, tracking nothing).
 *
 * flowctl runs the same calls as task runs of one flow run — one after another (`await t(i)`)
 * and fanned out (`t.map(items)`) — every state of every run persisted to a real SQLite file,
 * logging at WARNING. Per-call figures are the median of ROUNDS rounds of N calls after a
 * warm-up; a flow round includes the final flush of every row to the store.
 *
 * Peak RSS: a fresh child process (bench/engine-child.mjs) per size and per kind of call (raw,
 * p-limit + p-retry, flowctl: 10k and 100k sequential, 100k via `.map`; 1M sequential with
 * `--big`), so one size's peak does not hide in another's; each child reports the kernel's
 * high-water mark (`maxRSS`), its µs per call, and for flowctl the CPU time of the main thread
 * and of the SQLite write thread (Linux: /proc/self/task) and the runs and states in the store
 * after. The children run plain Node on the compiled package (a Node program importing
 * "flowctl"), then p-limit + p-retry and flowctl again under `--import tsx` (what `flowctl run`
 * of a .ts workflow adds to the process: Node 20 runs the loader on a thread of its own).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchFigure } from "./run.ts";

const N = 10_000;
const ROUNDS = 5;
const CONCURRENCY = 16;
const BIG = process.argv.includes("--big");

type Impl = "raw" | "plr" | "flowctl";
/** how a child is started: plain Node, or with tsx registered (`--import tsx`) */
type Loader = "node" | "tsx";

interface RssResult {
  impl: Impl;
  loader: Loader;
  mode: "sequential" | "map";
  n: number;
  ms: number;
  peakRssMiB: number;
  /** flowctl: CPU ms of the main thread and of the busiest other thread (the SQLite write thread) */
  mainCpuMs?: number;
  writerCpuMs?: number;
  taskRuns?: number;
  states?: number;
  flowState?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median wall time (ms) of ROUNDS rounds, and the median CPU time of the whole process (every thread) per round. */
async function timeRounds(fn: () => Promise<unknown>): Promise<{ ms: number; cpuMs: number }> {
  await fn(); // warm-up: JIT, store opened, tables created
  const ms: number[] = [];
  const cpuMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
  }
  return { ms: median(ms), cpuMs: median(cpuMs) };
}

export default async function engineBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-"));
  process.env.PREFECT_HOME = home;
  process.env.PREFECT_LOGGING_LEVEL = "WARNING";
  const { flow, task } = await import("../src/index.ts");
  const { resetSettings } = await import("../src/settings/index.ts");
  const { resetLogging } = await import("../src/logging/logger.ts");
  const { getStore, closeStore } = await import("../src/store/index.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  const { default: pLimit } = await import("p-limit");
  const { default: pRetry } = await import("p-retry");
  resetSettings();
  resetLogging();

  function noop(i: number) {
    return i;
  }
  const noopTask = task(noop);
  const items = Array.from({ length: N }, (_, i) => i);

  const rawSequential = async () => {
    let s = 0;
    for (let i = 0; i < N; i++) s += await noop(i);
    return s;
  };
  const rawFanout = async () => (await Promise.all(items.map(async (i) => noop(i)))).length;
  const plrSequential = async () => {
    const limit = pLimit(CONCURRENCY);
    let s = 0;
    for (let i = 0; i < N; i++) s += await limit(() => pRetry(() => noop(i), { retries: 3 }));
    return s;
  };
  const plrFanout = async () => {
    const limit = pLimit(CONCURRENCY);
    return (await Promise.all(items.map((i) => limit(() => pRetry(() => noop(i), { retries: 3 }))))).length;
  };
  const sequential = flow(async function sequential() {
    let s = 0;
    for (let i = 0; i < N; i++) s += await noopTask(i);
    return s;
  });
  const fanout = flow(async function fanout() {
    return (await noopTask.map(items).result()).length;
  });

  const us = (ms: number) => (ms * 1000) / N;
  const rawSeqT = await timeRounds(rawSequential);
  const rawFanT = await timeRounds(rawFanout);
  const plrSeqT = await timeRounds(plrSequential);
  const plrFanT = await timeRounds(plrFanout);
  const flowSeqT = await timeRounds(() => sequential());
  const flowFanT = await timeRounds(() => fanout());
  const [rawSeq, rawFan, plrSeq, plrFan, flowSeq, flowFan] = [rawSeqT, rawFanT, plrSeqT, plrFanT, flowSeqT, flowFanT].map((t) => us(t.ms)) as [
    number, number, number, number, number, number,
  ];

  await storeWriter.flush();
  const store = await getStore();
  const last = (await store.listFlowRuns({ flowName: "sequential", limit: 1 }))[0]!;
  const lastRuns = await store.listTaskRuns({ flowRunId: last.id, limit: N + 1 });
  const lastStates = (await Promise.all(lastRuns.slice(0, 100).map((r) => store.getStates(r.id)))).flat().length;
  await closeStore();
  rmSync(home, { recursive: true, force: true });

  const rss: RssResult[] = [];
  const sizes: [RssResult["mode"], number][] = [["sequential", 10_000], ["sequential", 100_000], ["map", 100_000]];
  if (BIG) sizes.push(["sequential", 1_000_000]);
  const kinds: [Impl, Loader][] = [["raw", "node"], ["plr", "node"], ["flowctl", "node"], ["plr", "tsx"], ["flowctl", "tsx"]];
  for (const [mode, n] of sizes) for (const [impl, loader] of kinds) rss.push(await runChild(impl, mode, n, loader));

  const metrics: Record<string, number | string> = {
    "raw call, sequential (µs)": rawSeq,
    "raw call, fanned out (µs)": rawFan,
    "p-limit + p-retry, sequential (µs)": plrSeq,
    "p-limit + p-retry, fanned out (µs)": plrFan,
    "flowctl, sequential (µs per task)": flowSeq,
    "flowctl, .map (µs per task)": flowFan,
    "per task (µs)": flowSeq,
    "overhead per task (µs)": flowSeq - rawSeq,
    "overhead per fanned-out task (µs)": flowFan - rawFan,
    "flowctl / (p-limit+p-retry), sequential": flowSeq / plrSeq,
    "flowctl / (p-limit+p-retry), fanned out": flowFan / plrFan,
    "tasks/s, sequential": Math.round(1e6 / flowSeq),
    // CPU time of every thread of the process (engine, SQLite write thread): steadier than wall time on a loaded machine
    "CPU µs per call, p-limit + p-retry, sequential": us(plrSeqT.cpuMs),
    "CPU µs per task, flowctl sequential (all threads)": us(flowSeqT.cpuMs),
    "CPU µs per task, flowctl .map (all threads)": us(flowFanT.cpuMs),
    "task runs stored (last sequential round)": lastRuns.length,
    "states per task run (first 100 checked)": lastStates / Math.min(100, lastRuns.length),
  };
  for (const [mode, n] of sizes) {
    const of = (impl: Impl, loader: Loader = "node") => rss.find((r) => r.impl === impl && r.loader === loader && r.mode === mode && r.n === n)!;
    const [raw, plr, fc] = [of("raw"), of("plr"), of("flowctl")];
    const [plrTsx, fcTsx] = [of("plr", "tsx"), of("flowctl", "tsx")];
    const label = `${n.toLocaleString("en-US")} ${mode === "map" ? "via .map" : "sequential"}`;
    const perCall = (r: RssResult) => (r.ms * 1000) / r.n;
    metrics[`${label}: peak RSS (MiB) raw / p-limit+p-retry / flowctl`] = `${raw.peakRssMiB.toFixed(0)} / ${plr.peakRssMiB.toFixed(0)} / ${fc.peakRssMiB.toFixed(0)}`;
    metrics[`${label}: µs per call raw / p-limit+p-retry / flowctl`] = `${perCall(raw).toFixed(2)} / ${perCall(plr).toFixed(2)} / ${perCall(fc).toFixed(2)}`;
    metrics[`${label}: peak RSS (MiB)`] = fc.peakRssMiB;
    metrics[`${label}: under --import tsx, peak RSS (MiB) p-limit+p-retry / flowctl`] = `${plrTsx.peakRssMiB.toFixed(0)} / ${fcTsx.peakRssMiB.toFixed(0)}`;
    metrics[`${label}: under --import tsx, µs per call p-limit+p-retry / flowctl`] = `${perCall(plrTsx).toFixed(2)} / ${perCall(fcTsx).toFixed(2)}`;
    metrics[`${label}: µs per task`] = perCall(fc);
    if (fc.mainCpuMs !== undefined) {
      metrics[`${label}: CPU µs per task, main thread / write thread`] = `${((fc.mainCpuMs * 1000) / n).toFixed(1)} / ${(((fc.writerCpuMs ?? 0) * 1000) / n).toFixed(1)}`;
    }
    metrics[`${label}: task runs / states stored`] = `${fc.taskRuns!.toLocaleString("en-US")} / ${fc.states!.toLocaleString("en-US")} (${fc.flowState})`;
  }
  if (!BIG) metrics["1,000,000 sequential"] = "run with --big";
  return [
    {
      name: "engine",
      description:
        `${N.toLocaleString("en-US")} no-op calls per round, median of ${ROUNDS}: raw, p-limit(${CONCURRENCY}) + p-retry, and flowctl task runs ` +
        `(one flow run; every state persisted to SQLite; logging WARNING); peak RSS per size in a fresh process (plain Node on the compiled package; then under --import tsx)`,
      metrics,
    },
  ];
}

function runChild(impl: Impl, mode: RssResult["mode"], n: number, loader: Loader): Promise<RssResult> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-rss-"));
  const child = fileURLToPath(new URL("./engine-child.mjs", import.meta.url));
  return new Promise<RssResult>((resolve, reject) => {
    const c = spawn(process.execPath, loader === "tsx" ? ["--import", "tsx", child] : [child], {
      env: { ...process.env, FLOWCTL_ENGINE_RSS_CHILD: `${impl}:${mode}:${n}`, PREFECT_HOME: home, PREFECT_LOGGING_LEVEL: "WARNING" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("error", reject);
    c.on("close", (code) => {
      if (code !== 0) return reject(new Error(`engine bench child '${impl}:${mode}:${n}' (${loader}) exited ${code}`));
      resolve({ ...(JSON.parse(out.trim().split("\n").at(-1)!) as Omit<RssResult, "loader">), loader });
    });
  }).finally(() => rmSync(home, { recursive: true, force: true }));
}
