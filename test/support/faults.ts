/**
 * Test support for the fault suite: run the real CLI on `test/fixtures/faults/fault-flow.ts`,
 * note when each line reached us, break the process, then check the run history against what
 * was printed: every task run that printed `Finished in state X` is stored in state X (after a
 * SIGKILL: all but those printed in the last moments before the kill), and no run of the
 * process is left `Running` (or Pending) once another flowctl command has opened the store.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli, spawnCli } from "./cli.ts";
import { openStore } from "../../src/store/index.ts";
import type { RunStore } from "../../src/store/types.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/faults/fault-flow.ts", import.meta.url));
const FINISHED = /Task run '([^']+)' - Finished in state (\w+)\(/;

export interface FaultRun {
  dir: string;
  home: string;
  env: Record<string, string>;
  /** stderr lines with the time (ms) they reached this process */
  lines: { text: string; at: number }[];
  child: ReturnType<typeof spawnCli>;
  /** resolves when a line matching `re` has arrived */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  cleanup(): void;
}

/** Start `flowctl run fault-flow.ts` with these parameters (and store URL, when given). */
export function startFaultRun(params: Record<string, unknown>, opts: { storeUrl?: string; env?: Record<string, string> } = {}): FaultRun {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-fault-"));
  const home = join(dir, "home");
  copyFileSync(FIXTURE, join(dir, "fault-flow.ts"));
  const env: Record<string, string> = { ...opts.env };
  if (opts.storeUrl) env.PREFECT_API_DATABASE_CONNECTION_URL = opts.storeUrl;
  const child = spawnCli(["run", "fault-flow.ts", "--params", JSON.stringify(params)], { home, cwd: dir, env });
  const lines: { text: string; at: number }[] = [];
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  let partial = "";
  child.stderr!.on("data", (d: Buffer) => {
    const at = Date.now();
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const text of parts) {
      lines.push({ text, at });
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.re.test(text)) waiters.splice(i, 1)[0]!.resolve();
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => {
      if (partial) lines.push({ text: partial, at: Date.now() });
      resolve({ code, signal });
    });
  });
  return {
    dir, home, env, lines, child, exited,
    stderr: () => lines.map((l) => l.text).join("\n"),
    waitFor(re, timeoutMs = 90_000) {
      if (lines.some((l) => re.test(l.text))) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${this.stderr().slice(-3000)}`)), timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ re, resolve: done });
        void exited.then(() => {
          if (waiters.some((w) => w.resolve === done)) {
            clearTimeout(timer);
            reject(new Error(`the process ended before a line matching ${re}:\n${this.stderr().slice(-3000)}`));
          }
        });
      });
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Checked {
  /** task runs that printed Finished */
  printed: number;
  /** of those, stored in the printed state */
  stored: number;
  /** printed ones allowed to be missing (SIGKILL: printed within `graceMs` of the kill) */
  excused: number;
  /** how long before the kill the oldest excused line was printed (ms; 0 when none) */
  oldestExcusedMs: number;
  flowRuns: number;
  flowState: string | undefined;
  /** the (newest) flow run's name */
  flowRunName: string | undefined;
}

/**
 * After the process ended: list the runs through the real CLI (which marks dead runs Crashed),
 * then compare the store with what was printed. `killedAt` (ms, our clock) and `graceMs` excuse
 * lines printed just before a SIGKILL.
 */
export async function checkHistory(run: FaultRun, opts: { killedAt?: number; graceMs?: number } = {}): Promise<Checked> {
  const ls = await runCli(["runs", "ls", "--json", "--limit", "100"], { home: run.home, cwd: run.dir, env: run.env });
  assert.equal(ls.code, 0, ls.stderr);
  const listed = JSON.parse(ls.stdout) as { id: string; state?: { type?: string; name?: string }; stateType?: string; stateName?: string }[];
  const store: RunStore = await openStore(run.env.PREFECT_API_DATABASE_CONNECTION_URL ?? join(run.home, "flowctl.db"));
  try {
    const flows = await store.listFlowRuns({ limit: 100 });
    for (const f of flows) {
      assert.ok(!["RUNNING", "PENDING", "SCHEDULED", "CANCELLING"].includes(f.stateType), `flow run ${f.name} is stored ${f.stateName} but its process is gone`);
    }
    assert.equal(listed.length, flows.length, "runs ls lists every stored flow run");
    const tasks = new Map<string, string>();
    for (const f of flows) {
      for (const t of await store.listTaskRuns({ flowRunId: f.id })) {
        tasks.set(t.name, t.stateName);
        assert.ok(!["RUNNING", "PENDING"].includes(t.stateType), `task run ${t.name} is stored ${t.stateName} but its process is gone`);
      }
    }
    const grace = opts.graceMs ?? 0;
    let printed = 0;
    let stored = 0;
    let excused = 0;
    let oldestExcusedMs = 0;
    const missing: string[] = [];
    for (const l of run.lines) {
      const m = FINISHED.exec(l.text);
      if (!m) continue;
      printed++;
      if (tasks.get(m[1]!) === m[2]) stored++;
      else if (opts.killedAt !== undefined && l.at > opts.killedAt - grace) {
        excused++;
        oldestExcusedMs = Math.max(oldestExcusedMs, opts.killedAt - l.at);
      }
      else missing.push(`${m[1]} printed ${m[2]}, stored ${tasks.get(m[1]!) ?? "nothing"}`);
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${printed} printed task runs are not stored as printed`);
    return { printed, stored, excused, oldestExcusedMs, flowRuns: flows.length, flowState: flows[0]?.stateName, flowRunName: flows[0]?.name };
  } finally {
    await store.close();
  }
}
