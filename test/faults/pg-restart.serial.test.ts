// PostgreSQL stopped for 4 s in the middle of a 5,000-task flow (through the real CLI): the flow
// goes on and completes (exit 0), the writer retries, and every task run that printed `Finished`
// is in the store in that state — nothing written twice, nothing left in the journal.
// Serial: it stops the machine's PostgreSQL (and starts it again, whatever happens).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { checkHistory, startFaultRun } from "../support/faults.ts";
import { duplicates, querySchema, startPostgres, stopPostgres } from "../support/postgres-outage.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

test("PostgreSQL stopped for 4 s mid-run: the flow completes, exit 0, every printed task run stored", async () => {
  const pg = postgresSchema("flowctl_pg_restart");
  const run = startFaultRun({ n: 5000 }, { storeUrl: pg.url });
  try {
    await run.waitFor(/Task run 'work-1000' - Finished in state/);
    const stoppedAt = Date.now();
    stopPostgres();
    await sleep(4000);
    await startPostgres();
    const downMs = Date.now() - stoppedAt;
    const { code } = await run.exited;
    const err = run.stderr();
    assert.equal(code, 0, err.slice(-3000));
    assert.doesNotMatch(err, /Uncaught exception|flowctl: error/);
    assert.match(err, /flowctl: warning: cannot write to the run store: .*; keeping the rows and retrying/);
    assert.match(err, /flowctl: warning: the run store answers again; the rows kept meanwhile are written, nothing was lost/);
    assert.doesNotMatch(err, /wait in the journal/, "nothing had to be journalled");
    const c = await checkHistory(run);
    assert.equal(c.flowState, "Completed");
    assert.equal(c.printed, 5000);
    assert.equal(c.stored, 5000);
    const [counts] = await querySchema<{ tasks: string; states: string }>(pg.schema, "SELECT (SELECT count(*) FROM task_runs) AS tasks, (SELECT count(*) FROM run_states) + (SELECT count(*) FROM task_runs t, json_array_elements(t.states::json) e WHERE json_typeof(e) <> 'null') AS states");
    assert.equal(Number(counts!.tasks), 5000);
    assert.deepEqual(await duplicates(pg.schema), { logs: 0, states: 0 });
    console.log(`PostgreSQL down ${downMs} ms mid-run: exit ${code}, ${c.stored}/${c.printed} printed task runs stored, ${counts!.states} states, flow ${c.flowState}, journal unused`);
  } finally {
    run.child.kill("SIGKILL");
    await startPostgres();
    run.cleanup();
    await pg.drop();
  }
});
