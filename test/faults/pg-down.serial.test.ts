// PostgreSQL stopped in the middle of a 5,000-task flow and not back before it ends (through the
// real CLI): the flow completes anyway (exit 0), what the store could not take waits in the local
// journal (said in one line), a command that cannot reach the store says what waits, and once
// PostgreSQL is back `flowctl runs sync` writes it: every task run that printed `Finished` is
// stored in that state, none left Running, nothing written twice, the journal gone.
// Serial: it stops the machine's PostgreSQL (and starts it again, whatever happens).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { checkHistory, startFaultRun } from "../support/faults.ts";
import { duplicates, querySchema, startPostgres, stopPostgres } from "../support/postgres-outage.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

const WAITING = /^flowctl: warning: the run store at postgresql:\/\/\S+ did not answer in time: (\d+) flow runs? and ([\d,]+) task runs \(([\d,]+) states, [\d,]+ log lines\) wait in the journal (\S+\.jsonl); `flowctl runs sync`/m;
const num = (s: string) => Number(s.replace(/,/g, ""));

test("PostgreSQL down until the end: the flow completes, the journal holds the rest, runs sync writes it", async () => {
  const pg = postgresSchema("flowctl_pg_down");
  const run = startFaultRun({ n: 5000, workMs: 1 }, { storeUrl: pg.url });
  try {
    const t0 = Date.now();
    await run.waitFor(/Task run 'work-1500' - Finished in state/);
    stopPostgres();
    const { code } = await run.exited;
    const runMs = Date.now() - t0;
    const err = run.stderr();
    assert.equal(code, 0, err.slice(-3000));
    assert.doesNotMatch(err, /Uncaught exception|flowctl: error/);
    assert.match(err, /Flow run '[^']+' - Finished in state Completed\(\)/);
    const lines = err.split("\n").filter((l) => / wait in the journal /.test(l));
    assert.equal(lines.length, 1, "one line says what waits in the journal");
    const m = WAITING.exec(lines[0]!);
    assert.ok(m, lines[0]!);
    const [, flows, tasks, states, path] = m;
    assert.equal(Number(flows), 1);
    assert.ok(num(tasks!) >= 3000, `the task runs after the stop are journalled (${tasks})`);
    assert.equal(statSync(path!).mode & 0o777, 0o600);
    assert.ok(path!.startsWith(join(run.home, "journal")));

    // the store still down: a command says what waits, in one line
    const ls = await runCli(["runs", "ls"], { home: run.home, cwd: run.dir, env: run.env });
    assert.notEqual(ls.code, 0);
    assert.match(ls.stderr, new RegExp(`^flowctl: 1 flow run and ${tasks} task runs \\(${states} states, [\\d,]+ log lines\\) wait in the journal ${path!.replace(/[.]/g, "\\.")}; \`flowctl runs sync\``, "m"));

    await startPostgres();
    const started = Date.now();
    const sync = await runCli(["runs", "sync"], { home: run.home, cwd: run.dir, env: run.env });
    const syncMs = Date.now() - started;
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(sync.stdout, new RegExp(`^Wrote 1 flow run and ${tasks} task runs \\(${states} states, [\\d,]+ log lines\\) from the journal `));
    assert.deepEqual(readdirSync(join(run.home, "journal")), [], "the journal is removed once written");
    const again = await runCli(["runs", "sync", "--json"], { home: run.home, cwd: run.dir, env: run.env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).written.batches, 0);

    const t1 = Date.now();
    const c = await checkHistory(run);
    const checkMs = Date.now() - t1;
    assert.equal(c.flowState, "Completed");
    assert.equal(c.printed, 5000);
    assert.equal(c.stored, 5000);
    const [counts] = await querySchema<{ tasks: string; running: string }>(
      pg.schema,
      "SELECT (SELECT count(*) FROM task_runs) AS tasks, (SELECT count(*) FROM task_runs WHERE state_type <> 'COMPLETED') AS running",
    );
    assert.equal(Number(counts!.tasks), 5000);
    assert.equal(Number(counts!.running), 0);
    assert.deepEqual(await duplicates(pg.schema), { logs: 0, states: 0 });
    console.log(
      `PostgreSQL down from task 1500 to the end: exit ${code}, ${tasks} task runs (${states} states) journalled (the rest written before the stop), replayed by runs sync (${/in (\d+ ms)\.$/m.exec(sync.stdout)?.[1]} writing, ${syncMs} ms the whole command); ${c.stored}/${c.printed} printed task runs stored, flow ${c.flowState} (run ${runMs} ms, check ${checkMs} ms)`,
    );
  } finally {
    run.child.kill("SIGKILL");
    await startPostgres();
    run.cleanup();
    await pg.drop();
  }
});
