// Every way out short of SIGKILL, through the real CLI on SQLite, on a 1,000-task flow: what was
// printed is stored, the flow run ends in a final state (none is left Running), and the exit
// code is non-zero whenever the flow did not complete.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { checkHistory, startFaultRun, type FaultRun } from "../support/faults.ts";

const finished = (run: FaultRun) => run.lines.filter((l) => / - Finished in state /.test(l.text)).length;

async function afterFinished(run: FaultRun, n: number): Promise<void> {
  await run.waitFor(/Task run 'work-\d+' - Finished in state/);
  while (finished(run) < n) await run.waitFor(new RegExp(`Task run 'work-${n - 1}' - Finished`));
}

const report: string[] = [];
test.after(() => console.log(report.join("\n")));

for (const at of [100, 1500]) {
  test(`uncaught exception ${at} ms in: exit 1, the flow run Crashed, every printed task run stored`, async () => {
    const run = startFaultRun({ n: 1000, fault: "throw", at });
    try {
      const { code } = await run.exited;
      assert.equal(code, 1, run.stderr().slice(-2000));
      const c = await checkHistory(run);
      assert.equal(c.flowRuns, 1);
      assert.equal(c.flowState, "Crashed");
      report.push(`uncaught exception at ${at} ms: exit ${code}, ${c.stored}/${c.printed} printed task runs stored, flow ${c.flowState}`);
    } finally {
      run.cleanup();
    }
  });
}

test("Ctrl-C twice: exit 130, the flow run Cancelled, every printed task run stored", async () => {
  const run = startFaultRun({ n: 1000 });
  try {
    await afterFinished(run, 20);
    run.child.kill("SIGINT");
    await run.waitFor(/received SIGINT/);
    run.child.kill("SIGINT");
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr().slice(-2000));
    const c = await checkHistory(run);
    assert.equal(c.flowState, "Cancelled");
    report.push(`double Ctrl-C: exit ${code}, ${c.stored}/${c.printed} stored, flow ${c.flowState}`);
  } finally {
    run.cleanup();
  }
});

test("SIGHUP (the terminal closed): exit 129, the flow run Crashed naming SIGHUP", async () => {
  const run = startFaultRun({ n: 1000 });
  try {
    await afterFinished(run, 20);
    run.child.kill("SIGHUP");
    const { code } = await run.exited;
    assert.equal(code, 129, run.stderr().slice(-2000));
    const c = await checkHistory(run);
    assert.equal(c.flowState, "Crashed");
    report.push(`SIGHUP: exit ${code}, ${c.stored}/${c.printed} stored, flow ${c.flowState}`);
  } finally {
    run.cleanup();
  }
});

test("process.exit(0) in a task: exit 1, the flow run and the task run Crashed naming the call", async () => {
  const run = startFaultRun({ n: 100, fault: "exit", at: 50, code: 0 });
  try {
    const { code } = await run.exited;
    assert.equal(code, 1, run.stderr().slice(-2000));
    const c = await checkHistory(run);
    assert.equal(c.printed, 50);
    assert.equal(c.flowState, "Crashed");
    assert.match(run.stderr(), /Workflow code called process\.exit\(0\)/);
    report.push(`process.exit(0) in a task: exit ${code}, ${c.stored}/${c.printed} stored, flow ${c.flowState}`);
  } finally {
    run.cleanup();
  }
});

test("a synchronous task killed mid-body: the task runs before it are stored", async () => {
  const run = startFaultRun({ n: 100, fault: "block", at: 50, spinMs: 8000 });
  try {
    await run.waitFor(/^SPIN$/);
    // well past the writer's batching interval, while the body holds the event loop
    await sleep(1500);
    const killedAt = Date.now();
    run.child.kill("SIGKILL");
    await run.exited;
    const c = await checkHistory(run, { killedAt, graceMs: 600 });
    assert.equal(c.printed, 50);
    assert.equal(c.stored, 50, "every task run finished before the synchronous body is stored");
    report.push(`sync body killed 1.5 s in: ${c.stored}/${c.printed} stored, flow ${c.flowState}`);
  } finally {
    run.child.kill("SIGKILL");
    run.cleanup();
  }
});
