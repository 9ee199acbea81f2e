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
 * Peak RSS: a fresh child process per size and per kind of call (raw, p-limit + p-retry,
 * flowctl: 10k and 100k sequential, 100k via `.map`; 1M sequential with `--big`), so one size's
 * peak does not hide in another's; each child reports the kernel's high-water mark (`maxRSS`),
 * its µs per call, and for flowctl the CPU time of the main thread and of the SQLite write
 * thread (Linux: /proc/self/task) and the runs and states in the store after.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchFigure } from "./run.ts";

const N = 10_000;
const ROUNDS = 5;
const CONCURRENCY = 16;
const BIG = process.argv.includes("--big");

type Impl = "raw" | "plr" | "flowctl";

interface RssResult {
  impl: Impl;
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
  for (const [mode, n] of sizes) for (const impl of ["raw", "plr", "flowctl"] as const) rss.push(await runChild(impl, mode, n));

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
    const of = (impl: Impl) => rss.find((r) => r.impl === impl && r.mode === mode && r.n === n)!;
    const [raw, plr, fc] = [of("raw"), of("plr"), of("flowctl")];
    const label = `${n.toLocaleString("en-US")} ${mode === "map" ? "via .map" : "sequential"}`;
    const perCall = (r: RssResult) => (r.ms * 1000) / r.n;
    metrics[`${label}: peak RSS (MiB) raw / p-limit+p-retry / flowctl`] = `${raw.peakRssMiB.toFixed(0)} / ${plr.peakRssMiB.toFixed(0)} / ${fc.peakRssMiB.toFixed(0)}`;
    metrics[`${label}: µs per call raw / p-limit+p-retry / flowctl`] = `${perCall(raw).toFixed(2)} / ${perCall(plr).toFixed(2)} / ${perCall(fc).toFixed(2)}`;
    metrics[`${label}: peak RSS (MiB)`] = fc.peakRssMiB;
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
        `(one flow run; every state persisted to SQLite; logging WARNING); peak RSS per size in a fresh process`,
      metrics,
    },
  ];
}

function runChild(impl: Impl, mode: RssResult["mode"], n: number): Promise<RssResult> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-rss-"));
  return new Promise<RssResult>((resolve, reject) => {
    const c = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
      env: { ...process.env, FLOWCTL_ENGINE_RSS_CHILD: `${impl}:${mode}:${n}`, PREFECT_HOME: home, PREFECT_LOGGING_LEVEL: "WARNING" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("error", reject);
    c.on("close", (code) => {
      if (code !== 0) return reject(new Error(`engine bench child '${impl}:${mode}:${n}' exited ${code}`));
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as RssResult);
    });
  }).finally(() => rmSync(home, { recursive: true, force: true }));
}

/** CPU ms of each thread of this process (Linux), by thread id. */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, ((Number(f[11]) + Number(f[12])) * 1000) / 100); // utime + stime, in clock ticks of 10 ms
    }
  } catch {
    // not Linux: no per-thread figures
  }
  return out;
}

/** n calls of a no-op in this fresh process (raw, or through p-limit + p-retry); the peak RSS. */
async function baselineChild(impl: "raw" | "plr", mode: RssResult["mode"], n: number): Promise<RssResult> {
  const { default: pLimit } = await import("p-limit");
  const { default: pRetry } = await import("p-retry");
  const noop = (i: number) => i;
  const limit = pLimit(CONCURRENCY);
  const call = impl === "raw" ? async (i: number) => noop(i) : (i: number) => limit(() => pRetry(() => noop(i), { retries: 3 }));
  const t0 = performance.now();
  let s = 0;
  if (mode === "map") for (const v of await Promise.all(Array.from({ length: n }, (_, i) => call(i)))) s += v;
  else for (let i = 0; i < n; i++) s += await call(i);
  const ms = performance.now() - t0;
  if (s !== (n * (n - 1)) / 2) throw new Error(`baseline child: sum ${s}`);
  return { impl, mode, n, ms, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** One flow run of n no-op task runs in this fresh process; the peak RSS, then what the store holds. */
async function rssChild(mode: RssResult["mode"], n: number): Promise<RssResult> {
  const { flow, task } = await import("../src/index.ts");
  const { getStore } = await import("../src/store/index.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  const noopTask = task(function noop(i: number) {
    return i;
  });
  const run = flow(async function rss() {
    let s = 0;
    if (mode === "map") for (const v of await noopTask.map(Array.from({ length: n }, (_, i) => i)).result()) s += v;
    else for (let i = 0; i < n; i++) s += await noopTask(i);
    return s;
  });
  await storeWriter.open(); // the store and its write thread up, so their start is not counted
  const mainTid = String(process.pid);
  const cpu0 = threadCpuMs();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0; // includes the final flush of every row
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const cpu1 = threadCpuMs();
  let mainCpuMs: number | undefined;
  let writerCpuMs: number | undefined;
  for (const [tid, ms1] of cpu1) {
    const d = ms1 - (cpu0.get(tid) ?? 0);
    if (tid === mainTid) mainCpuMs = d;
    else if (d > (writerCpuMs ?? 0)) writerCpuMs = d;
  }
  await storeWriter.flush();
  // counted in SQL on the store's file: listing a million rows would only measure the listing
  const { default: Database } = await import("better-sqlite3");
  const db = new Database((await getStore()).location, { readonly: true });
  const flowRun = db.prepare("SELECT id, state_name AS s FROM flow_runs ORDER BY created DESC LIMIT 1").get() as { id: string; s: string };
  const count = (sql: string) => (db.prepare(sql).get({ f: flowRun.id }) as { n: number }).n;
  const taskRuns = count("SELECT count(*) AS n FROM task_runs WHERE flow_run_id = @f");
  // kept in the task runs' rows (store/packed-states.ts), and as rows of their own (those with error data)
  const states = count(
    `SELECT (SELECT count(*) FROM task_runs t, json_each(t.states) j WHERE t.flow_run_id = @f AND j.type != 'null')
      + (SELECT count(*) FROM run_states WHERE run_id IN (SELECT id FROM task_runs WHERE flow_run_id = @f)) AS n`,
  );
  db.close();
  return { impl: "flowctl", mode, n, ms, peakRssMiB, mainCpuMs, writerCpuMs, taskRuns, states, flowState: flowRun.s };
}

const childSpec = process.env.FLOWCTL_ENGINE_RSS_CHILD;
if (childSpec !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const [impl, mode, n] = childSpec.split(":");
  if ((impl !== "raw" && impl !== "plr" && impl !== "flowctl") || (mode !== "sequential" && mode !== "map") || !(Number(n) > 0)) {
    throw new Error(`FLOWCTL_ENGINE_RSS_CHILD: expected raw|plr|flowctl:sequential|map:N, got '${childSpec}'`);
  }
  const result = impl === "flowctl" ? await rssChild(mode, Number(n)) : await baselineChild(impl, mode, Number(n));
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
