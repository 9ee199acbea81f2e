// The pool runners under the real CLI, on a workflow file outside the package: the workers
// resolve `import "flowctl"` and load TypeScript as the launcher does, do not run the file's
// `isMain` block, and `flowctl run` exits as soon as the flow run is over.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli, spawnCli } from "../support/cli.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/runners/outside-workflow.ts", import.meta.url));
const UNGUARDED = fileURLToPath(new URL("../fixtures/runners/unguarded-workflow.ts", import.meta.url));
const ORPHAN = fileURLToPath(new URL("../fixtures/runners/orphan-workflow.ts", import.meta.url));

for (const runner of ["thread", "process"] as const) {
  test(`flowctl run with the ${runner} pool: a workflow outside the package runs its tasks in workers`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "flowctl-runners-cli-"));
    try {
      copyFileSync(FIXTURE, join(dir, "squares.ts"));
      const r = await runCli(["run", "squares.ts", "--param", "n=3", "--json"], { home: join(dir, "home"), cwd: dir, env: { RUNNER: runner } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Task run 'square-2' - Finished in state Completed\(\)/);
      assert.match(r.stderr, /INFO {4}\| Task run 'shout-0' - shouting DONE/);
      assert.match(r.stderr, /Task run 'spin-0' - Finished in state TimedOut\('Task run exceeded timeout of 1 second\(s\)', type=FAILED\)/);
      assert.doesNotMatch(r.stdout + r.stderr, /\[1,4,9,16\]/, "the isMain block ran in a worker");
      const out = JSON.parse(r.stdout) as { result?: unknown };
      assert.deepEqual(out.result, { values: [1, 4, 9], spin: "TimedOut" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const runner of ["thread", "process"] as const) {
  test(`a workflow file that runs its flow on import does not run it again in ${runner} pool workers`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "flowctl-runners-unguarded-"));
    try {
      copyFileSync(UNGUARDED, join(dir, "unguarded.ts"));
      const r = await runCli(["run", "unguarded.ts"], { home: join(dir, "home"), cwd: dir, env: { RUNNER: runner } });
      assert.equal(r.code, 0, r.stderr);
      // the file's own import-time run and `flowctl run`'s run, both in the flow's process
      assert.equal(r.stderr.match(/Created flow run/g)?.length, 2, r.stderr);
      assert.equal(r.stderr.match(/Task run 'hello-0' - Finished in state Completed\(\)/g)?.length, 2, r.stderr);
      const refused = `top-level run failed: A task or flow was called while a ${runner === "thread" ? "ThreadPoolTaskRunner" : "ProcessPoolTaskRunner"} worker imported`;
      assert.ok(r.stdout.includes(refused), r.stdout);
      assert.match(r.stdout, /behind `if \(isMain\(import\.meta\)\) \{ \.\.\. \}`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a worker process busy in a loop ends when its flow process is killed with SIGKILL", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-runners-orphan-"));
  try {
    const cli = spawnCli(["run", ORPHAN], { home: dir });
    let out = "";
    const workerPid = await new Promise<number>((resolve, reject) => {
      cli.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /worker-pid (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      cli.on("exit", (code) => reject(new Error(`flowctl exited (${code}) before the task started: ${out}`)));
    });
    // the worker writes to the same stdout pipe: it closes once the worker is gone too
    const closed = new Promise<void>((resolve) => cli.stdout!.on("close", () => resolve()));
    cli.kill("SIGKILL");
    await closed;
    // its pipe closes as it exits, a moment before the kernel marks it dead: no event tells a
    // non-child's end, so look a few times
    for (let i = 0; i < 100 && isRunning(workerPid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!isRunning(workerPid), `worker ${workerPid} still runs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Alive and not a zombie (an orphan's exit is reaped by init, which may take a while). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
