/**
 * Startup: how long the real bin/flowctl takes to answer, against `node -e 0` (the floor: a
 * Node process that does nothing) measured in the same run. Each command runs once to warm
 * the disk caches and tsx's transform cache, then ROUNDS times in sequence; medians reported.
 *
 * - `flowctl --version` (and `-v`): start to exit.
 * - `flowctl run workflows/hello.ts`: start to its first log line on stderr, and to exit (a
 *   flow of two tasks, every run stored in a SQLite file under a temporary PREFECT_HOME).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchFigure } from "./run.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin/flowctl");
const ROUNDS = 10;

interface Timing {
  /** ms from spawn to the first line on stderr (undefined when none) */
  firstLine: number | undefined;
  /** ms from spawn to exit */
  exit: number;
}

function time(args: string[], env: NodeJS.ProcessEnv): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let firstLine: number | undefined;
    let stderr = "";
    child.stdout.resume();
    child.stderr.on("data", (d: Buffer) => {
      if (firstLine === undefined && d.includes(10)) firstLine = ms();
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const exit = ms();
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${stderr.slice(0, 500)}`));
      else resolve({ firstLine, exit });
    });
  });
}

async function series(args: string[], env: NodeJS.ProcessEnv): Promise<Timing[]> {
  await time(args, env); // warm-up
  const out: Timing[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push(await time(args, env));
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function startup(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-startup-"));
  const env: NodeJS.ProcessEnv = { ...process.env, PREFECT_HOME: home, NO_COLOR: "1" };
  delete env.FORCE_COLOR;
  delete env.NODE_OPTIONS;
  // the run's INFO lines are what is timed (a bench run before this one may have set WARNING)
  delete env.PREFECT_LOGGING_LEVEL;
  try {
    const load = loadavg()[0]!;
    const node = await series(["-e", "0"], env);
    const version = await series([BIN, "--version"], env);
    const v = await series([BIN, "-v"], env);
    const run = await series([BIN, "run", "workflows/hello.ts"], env);
    const nodeMs = median(node.map((t) => t.exit));
    const versionMs = median(version.map((t) => t.exit));
    const firstLineMs = median(run.map((t) => t.firstLine ?? Number.NaN));
    const runMs = median(run.map((t) => t.exit));
    return [
      {
        name: "startup",
        description: `median of ${ROUNDS} runs after one warm-up, in sequence; load average ${load.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
        metrics: {
          "node -e 0 (ms)": nodeMs,
          "flowctl --version (ms)": versionMs,
          "flowctl -v (ms)": median(v.map((t) => t.exit)),
          "run hello.ts: first log line (ms)": firstLineMs,
          "run hello.ts: exit (ms)": runMs,
          "--version minus node -e 0 (ms)": versionMs - nodeMs,
          "run exit minus node -e 0 (ms)": runMs - nodeMs,
        },
      },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
