// PostgreSQL stopped for 4 s in the middle of a flow whose 2,000 task runs carry a tag with a
// concurrency limit (through the real CLI): the limits and slots live in the store, so task runs
// wait for it (one warning) instead of crashing; the flow completes, exit 0, every printed task
// run is stored, and no slot is left held. Serial: it stops the machine's PostgreSQL (and starts
// it again, whatever happens).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli } from "../support/cli.ts";
import { checkHistory, startFaultRun } from "../support/faults.ts";
import { querySchema, startPostgres, stopPostgres } from "../support/postgres-outage.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

test("PostgreSQL stopped for 4 s under tag concurrency limits: task runs wait for the store, the flow completes", async () => {
  const pg = postgresSchema("flowctl_pg_tags");
  const home = mkdtempSync(join(tmpdir(), "flowctl-limit-"));
  const limit = await runCli(["concurrency-limit", "create", "pg", "2"], { home, env: { PREFECT_API_DATABASE_CONNECTION_URL: pg.url } });
  rmSync(home, { recursive: true, force: true });
  assert.equal(limit.code, 0, limit.stderr);
  // four task runs at a time under a limit of 2: runs really wait for slots, before, during and after the outage
  const run = startFaultRun({ n: 2000, tag: "pg", workMs: 1, width: 4 }, { storeUrl: pg.url });
  try {
    await run.waitFor(/Task run 'work-500' - Finished in state/);
    stopPostgres();
    await sleep(4000);
    await startPostgres();
    const { code } = await run.exited;
    const err = run.stderr();
    assert.equal(code, 0, err.slice(-3000));
    assert.doesNotMatch(err, /Uncaught exception|flowctl: error|Crashed|Failed/);
    assert.match(err, /WARNING \| flowctl\.engine - Task runs with tag concurrency limits wait for the run store, which holds the limits: /);
    assert.match(err, /Waiting for a concurrency slot for tag 'pg' \(limit 2\)/, "the limit was in force");
    const c = await checkHistory(run);
    assert.equal(c.flowState, "Completed");
    assert.equal(c.printed, 2000);
    assert.equal(c.stored, 2000);
    const [slots] = await querySchema<{ n: string }>(pg.schema, "SELECT count(*) AS n FROM concurrency_slots");
    assert.equal(Number(slots!.n), 0, "no slot left held");
    console.log(`PostgreSQL down 4 s under a tag limit of 2: exit ${code}, ${c.stored}/${c.printed} printed task runs stored, flow ${c.flowState}, 0 slots left held`);
  } finally {
    run.child.kill("SIGKILL");
    await startPostgres();
    run.cleanup();
    await pg.drop();
  }
});
