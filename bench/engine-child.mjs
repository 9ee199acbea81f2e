// One measured process of the engine bench (bench/engine.bench.ts): n no-op calls — raw, through
// p-limit + p-retry, or as flowctl task runs of one flow run — then the kernel's high-water mark
// of this process's memory, printed as one JSON line.
//
// Plain JavaScript importing the compiled package (dist/, what `import "flowctl"` gives a Node
// program), so the process holds what a user's process holds and no TypeScript loader: on Node
// 20, a loader registered with `--import tsx` (as `flowctl run` registers tsx for a .ts
// workflow) runs on a thread of its own, ≈ 35 MiB, which the bench also measures apart by
// starting this file under it.
//
// FLOWCTL_ENGINE_RSS_CHILD=raw|plr|flowctl:sequential|map:N
import { readdirSync, readFileSync } from "node:fs";
import { distProblem } from "../scripts/dist-check.mjs";

const CONCURRENCY = 16;

/** CPU ms of each thread of this process (Linux), by thread id. */
function threadCpuMs() {
  const out = new Map();
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

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

/** n calls of a no-op (raw, or through p-limit + p-retry). */
async function baseline(impl, mode, n) {
  const { default: pLimit } = await import("p-limit");
  const { default: pRetry } = await import("p-retry");
  const noop = (i) => i;
  const limit = pLimit(CONCURRENCY);
  const call = impl === "raw" ? async (i) => noop(i) : (i) => limit(() => pRetry(() => noop(i), { retries: 3 }));
  const t0 = performance.now();
  let s = 0;
  if (mode === "map") for (const v of await Promise.all(Array.from({ length: n }, (_, i) => call(i)))) s += v;
  else for (let i = 0; i < n; i++) s += await call(i);
  const ms = performance.now() - t0;
  if (s !== (n * (n - 1)) / 2) throw new Error(`baseline child: sum ${s}`);
  return { impl, mode, n, ms, peakRssMiB: peakRssMiB() };
}

/** One flow run of n no-op task runs; then what the store holds of it. */
async function flowctl(mode, n) {
  const problem = distProblem();
  if (problem) throw new Error(`engine bench: ${problem}`);
  const { flow, task } = await import("flowctl");
  const { getStore } = await import("../dist/store/index.js");
  const { storeWriter } = await import("../dist/store/writer.js");
  const noopTask = task(function noop(i) {
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
  const sum = await run();
  const ms = performance.now() - t0; // includes the final flush of every row
  const peak = peakRssMiB();
  if (sum !== (n * (n - 1)) / 2) throw new Error(`flowctl child: sum ${sum}`);
  const cpu1 = threadCpuMs();
  let mainCpuMs;
  let writerCpuMs;
  for (const [tid, ms1] of cpu1) {
    const d = ms1 - (cpu0.get(tid) ?? 0);
    if (tid === mainTid) mainCpuMs = d;
    else if (d > (writerCpuMs ?? 0)) writerCpuMs = d;
  }
  await storeWriter.flush();
  // counted in SQL on the store's file: listing a million rows would only measure the listing
  const { default: Database } = await import("better-sqlite3");
  const db = new Database((await getStore()).location, { readonly: true });
  const flowRun = db.prepare("SELECT id, state_name AS s FROM flow_runs ORDER BY created DESC LIMIT 1").get();
  const count = (sql) => db.prepare(sql).get({ f: flowRun.id }).n;
  const taskRuns = count("SELECT count(*) AS n FROM task_runs WHERE flow_run_id = @f");
  // kept in the task runs' rows (store/packed-states.ts), and as rows of their own (those with error data)
  const states = count(
    `SELECT (SELECT count(*) FROM task_runs t, json_each(t.states) j WHERE t.flow_run_id = @f AND j.type != 'null')
      + (SELECT count(*) FROM run_states WHERE run_id IN (SELECT id FROM task_runs WHERE flow_run_id = @f)) AS n`,
  );
  db.close();
  return { impl: "flowctl", mode, n, ms, peakRssMiB: peak, mainCpuMs, writerCpuMs, taskRuns, states, flowState: flowRun.s };
}

const spec = process.env.FLOWCTL_ENGINE_RSS_CHILD ?? "";
const [impl, mode, n] = spec.split(":");
if ((impl !== "raw" && impl !== "plr" && impl !== "flowctl") || (mode !== "sequential" && mode !== "map") || !(Number(n) > 0)) {
  throw new Error(`FLOWCTL_ENGINE_RSS_CHILD: expected raw|plr|flowctl:sequential|map:N, got '${spec}'`);
}
const result = impl === "flowctl" ? await flowctl(mode, Number(n)) : await baseline(impl, mode, Number(n));
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
