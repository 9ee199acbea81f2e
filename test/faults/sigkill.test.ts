// SIGKILL at random points of a 1,000-task flow on SQLite: the flow run is in the store from
// its first log line on, every task run that printed `Finished` more than a moment before the
// kill is stored in that state, and the next flowctl command shows (and stores) the run
// Crashed with the reason "process gone". `npm test` kills 3 times; `npm run test:faults` 10.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli } from "../support/cli.ts";
import { checkHistory, startFaultRun } from "../support/faults.ts";

const KILLS = process.env.FLOWCTL_FAULTS_FULL ? 10 : 3;
/** what may be missing after a SIGKILL: the writer's 200 ms batching, plus the load on the machine */
const GRACE_MS = 600;

test(`SIGKILL ×${KILLS} at random points: what was printed is stored, the run is shown Crashed (process gone)`, async () => {
  const summary: string[] = [];
  for (let i = 0; i < KILLS; i++) {
    const run = startFaultRun({ n: 1000 });
    try {
      await run.waitFor(/Created flow run '/);
      // the first kill lands right at the first log line; the others anywhere in the next 2.5 s
      const delay = i === 0 ? 0 : Math.floor(Math.random() * 2500);
      if (delay) await sleep(delay);
      const killedAt = Date.now();
      run.child.kill("SIGKILL");
      const { signal } = await run.exited;
      assert.equal(signal, "SIGKILL");
      const c = await checkHistory(run, { killedAt, graceMs: GRACE_MS });
      assert.equal(c.flowRuns, 1, "the flow run is stored from its first log line");
      assert.equal(c.flowState, "Crashed");
      if (i === 0) {
        const inspect = await runCli(["runs", "inspect", c.flowRunName!, "--no-color"], { home: run.home, cwd: run.dir });
        assert.match(inspect.stdout, /State:\s+Crashed\('Flow run crashed: process gone \(pid \d+ on /, inspect.stdout + inspect.stderr);
      }
      summary.push(`kill after ${delay} ms: ${c.stored}/${c.printed} printed stored, ${c.excused} missing, printed at most ${c.oldestExcusedMs} ms before the kill (allowed: ${GRACE_MS} ms)`);
    } finally {
      run.child.kill("SIGKILL");
      run.cleanup();
    }
  }
  console.log(summary.join("\n"));
});
