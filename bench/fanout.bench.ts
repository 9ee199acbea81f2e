/**
 * Fan-out: 10,000 no-op tasks submitted at once inside one flow run (`submit` in a loop, and one
 * `map`), every run persisted to a real SQLite store, logging at WARNING — against `Promise.all`
 * of raw async calls of the same function. Wall time from the first submit to the last result,
 * best of 3 rounds; and the process's peak RSS. Each variant runs in a child process of its own
 * (same imports, same settings), so one variant's memory does not show up in another's peak.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchFigure } from "./run.ts";

const N = 10_000;
const ROUNDS = 3;
const MODES = ["raw", "submit", "map"] as const;
type Mode = (typeof MODES)[number];

interface ChildResult {
  mode: Mode;
  /** best round, ms */
  ms: number;
  /** RSS after the imports, before any round (MB) */
  baseRssMb: number;
  /** the process's peak RSS after the first round (MB) */
  firstPeakRssMb: number;
  /** the process's peak RSS after every round (MB); V8 keeps what it grew, so this creeps up */
  peakRssMb: number;
}

async function child(mode: Mode): Promise<ChildResult> {
  const { flow, task } = await import("../src/index.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  async function noop(i: number) {
    return i;
  }
  const noopTask = task(noop);
  const fanout = flow(async function fanout({ how }: { how: Mode }) {
    const futures = how === "map" ? noopTask.map(Array.from({ length: N }, (_, i) => i)) : Array.from({ length: N }, (_, i) => noopTask.submit(i));
    const values = await Promise.all(futures.map((f) => f.result()));
    return values.length;
  });
  await storeWriter.open();
  const baseRssMb = process.memoryUsage().rss / 2 ** 20;
  let best = Infinity;
  let firstPeakRssMb = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const n = mode === "raw" ? (await Promise.all(Array.from({ length: N }, (_, i) => noop(i)))).length : await fanout({ how: mode });
    best = Math.min(best, performance.now() - t0);
    if (n !== N) throw new Error(`expected ${N} results, got ${n}`);
    if (r === 0) firstPeakRssMb = process.resourceUsage().maxRSS / 1024;
  }
  await storeWriter.flush();
  return { mode, ms: best, baseRssMb, firstPeakRssMb, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

function runChild(mode: Mode, home: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const file = fileURLToPath(import.meta.url);
    const c = spawn(process.execPath, ["--import", "tsx", file], {
      env: { ...process.env, FLOWCTL_FANOUT_CHILD: mode, PREFECT_HOME: join(home, mode), PREFECT_LOGGING_LEVEL: "WARNING" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("error", reject);
    c.on("close", (code) => {
      if (code !== 0) return reject(new Error(`fanout child '${mode}' exited ${code}`));
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as ChildResult);
    });
  });
}

export default async function fanoutBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-fanout-"));
  try {
    const results = new Map<Mode, ChildResult>();
    for (const mode of MODES) results.set(mode, await runChild(mode, home));
    const raw = results.get("raw")!;
    const metrics: Record<string, number> = {};
    for (const mode of MODES) {
      const r = results.get(mode)!;
      const label = mode === "raw" ? "Promise.all of raw calls" : mode === "submit" ? "submit() ×10,000" : "map() over 10,000";
      metrics[`${label}: ms`] = r.ms;
      metrics[`${label}: µs per task`] = (r.ms * 1000) / N;
      metrics[`${label}: RSS before (MB)`] = r.baseRssMb;
      metrics[`${label}: peak RSS, 1st round (MB)`] = r.firstPeakRssMb;
      metrics[`${label}: peak RSS, ${ROUNDS} rounds (MB)`] = r.peakRssMb;
    }
    metrics["submit vs raw: × time"] = results.get("submit")!.ms / raw.ms;
    return [
      {
        name: "fanout",
        description: `${N.toLocaleString("en-US")} no-op tasks submitted at once in one flow run (SQLite store on, logging WARNING; best of ${ROUNDS}; each variant in its own process)`,
        metrics,
      },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const mode = process.env.FLOWCTL_FANOUT_CHILD as Mode | undefined;
if (mode !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  if (!MODES.includes(mode)) throw new Error(`FLOWCTL_FANOUT_CHILD must be one of ${MODES.join(", ")}, got '${mode}'`);
  const result = await child(mode);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
