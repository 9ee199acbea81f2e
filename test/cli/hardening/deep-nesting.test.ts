/**
 * Deep nesting: 1,000 levels of nested subflows and of nested task calls (a task whose body
 * calls the task) complete through the real bin/flowctl — the engine does not grow the native
 * stack per level — with every run in the store, linked to its parent, and nothing on stderr
 * but log lines.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli } from "../../support/cli.ts";

const DEPTH = 1000;
const FILES: Record<string, string> = {
  "subflows.ts": `
import { flow } from "flowctl";
export const nest: any = flow({ name: "nest" }, async function nestBody(n: number): Promise<number> {
  return n <= 1 ? 1 : 1 + (await nest(n - 1));
});
`,
  "tasks.ts": `
import { flow, task } from "flowctl";
const deep: any = task(async function deepBody(n: number): Promise<number> {
  return n <= 1 ? 1 : 1 + (await deep(n - 1));
});
export const main = flow({ name: "main" }, async function main(n: number) {
  return await deep(n);
});
`,
};

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-nesting-"));
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every stderr line is a log line: no V8 output, no stack dump. */
function onlyLogLines(stderr: string): void {
  const stray = stderr.split("\n").filter((l) => l !== "" && !/^\d\d:\d\d:\d\d\.\d{3} \| (INFO|DEBUG) +\| /.test(l));
  assert.deepEqual(stray.slice(0, 5), [], `${stray.length} lines that are not INFO log lines`);
  assert.doesNotMatch(stderr, /RangeError|Maximum call stack/);
}

/** Length of the longest parent chain, and how many rows it covers. */
function chain(db: Database.Database, table: string, parent: string): { depth: number; rows: number } {
  return db
    .prepare(
      `WITH RECURSIVE c(id, d) AS (SELECT id, 1 FROM ${table} WHERE ${parent} IS NULL
         UNION ALL SELECT t.id, c.d + 1 FROM ${table} t JOIN c ON t.${parent} = c.id)
       SELECT max(d) AS depth, count(*) AS rows FROM c`,
    )
    .get() as { depth: number; rows: number };
}

test(`${DEPTH} nested subflows complete, each recorded under its parent`, async () => {
  const home = join(dir, "home-subflows");
  const r = await runCli(["run", "subflows.ts", "--param", `n=${DEPTH}`], { home, cwd: dir });
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  onlyLogLines(r.stderr);
  assert.ok(r.stderr.length < DEPTH * 300, `stderr holds ${r.stderr.length} bytes`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.match(lines.at(-2)!, /Flow run '[^']+' - Finished in state Completed\(\)$/);
  const db = new Database(join(home, "flowctl.db"), { readonly: true });
  try {
    const states = db.prepare("SELECT state_type, count(*) AS n FROM flow_runs GROUP BY state_type").all();
    assert.deepEqual(states, [{ state_type: "COMPLETED", n: DEPTH }]);
    assert.deepEqual(chain(db, "flow_runs", "parent_flow_run_id"), { depth: DEPTH, rows: DEPTH });
    const innermost = db.prepare("SELECT parameters FROM flow_runs WHERE id NOT IN (SELECT parent_flow_run_id FROM flow_runs WHERE parent_flow_run_id IS NOT NULL)").all();
    assert.deepEqual(innermost, [{ parameters: '{"n":1}' }]);
  } finally {
    db.close();
  }
});

test(`${DEPTH} nested task calls complete, each recorded under its parent task run`, async () => {
  const home = join(dir, "home-tasks");
  const r = await runCli(["run", "tasks.ts", "--param", `n=${DEPTH}`], { home, cwd: dir });
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  onlyLogLines(r.stderr);
  assert.ok(r.stderr.length < DEPTH * 400, `stderr holds ${r.stderr.length} bytes`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.match(lines.at(-2)!, /Flow run '[^']+' - Finished in state Completed\(\)$/);
  assert.match(lines.at(-1)!, new RegExp(`- ${DEPTH} task runs: ${DEPTH} Completed in `));
  const db = new Database(join(home, "flowctl.db"), { readonly: true });
  try {
    const flowRun = db.prepare("SELECT id, state_type FROM flow_runs").all() as { id: string; state_type: string }[];
    assert.equal(flowRun.length, 1);
    assert.equal(flowRun[0]!.state_type, "COMPLETED");
    const states = db.prepare("SELECT state_type, flow_run_id, count(*) AS n FROM task_runs GROUP BY state_type, flow_run_id").all();
    assert.deepEqual(states, [{ state_type: "COMPLETED", flow_run_id: flowRun[0]!.id, n: DEPTH }]);
    assert.deepEqual(chain(db, "task_runs", "parent_task_run_id"), { depth: DEPTH, rows: DEPTH });
  } finally {
    db.close();
  }
});

test("runs that nest without end stop at PREFECT_RUNS_MAX_NESTING_DEPTH with one error line, recorded Failed", async () => {
  writeFileSync(
    join(dir, "endless.ts"),
    `
import { flow, task } from "flowctl";
const again: any = task(async function againBody(n: number): Promise<number> {
  return await again(n + 1);
});
const sub: any = flow({ name: "sub" }, async function subBody(): Promise<number> {
  return await sub();
});
export const tasks = flow({ name: "tasks" }, async function tasks() {
  return await again(1);
});
export const subflows = flow({ name: "subflows" }, async function subflows() {
  return await sub();
});
`,
  );
  // the default limit, 10,000 levels of task calls; subflows under a limit set lower
  for (const [target, limit, env] of [["tasks", 10_000, {}], ["subflows", 300, { PREFECT_RUNS_MAX_NESTING_DEPTH: "300" }]] as const) {
    const home = join(dir, `home-endless-${target}`);
    const r = await runCli(["run", `endless.ts:${target}`], { home, cwd: dir, env: { ...env, PREFECT_LOGGING_LEVEL: "WARNING" } });
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    const what = target === "tasks" ? "task 'againBody'" : "flow 'sub'";
    const message = `nesting deeper than ${limit} levels (${what} called inside ${limit} nested flow and task runs; PREFECT_RUNS_MAX_NESTING_DEPTH sets the limit)`;
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.stderr.slice(0, 2000));
    assert.match(lines[0]!, /\| ERROR +\| Flow run '[^']+' - Finished in state Failed\('Flow run encountered an exception: FlowctlError: nesting deeper/);
    assert.equal(lines[1], `flowctl: error: ${message}`);
    const db = new Database(join(home, "flowctl.db"), { readonly: true });
    try {
      const top = db.prepare("SELECT state_type, state_message FROM flow_runs WHERE parent_flow_run_id IS NULL").all();
      assert.deepEqual(top, [{ state_type: "FAILED", state_message: `Flow run encountered an exception: FlowctlError: ${message}` }]);
      // every level below it ended Failed too, and none deeper than the limit was created
      const table = target === "tasks" ? "task_runs" : "flow_runs";
      const states = db.prepare(`SELECT state_type, count(*) AS n FROM ${table} GROUP BY state_type`).all();
      assert.deepEqual(states, [{ state_type: "FAILED", n: target === "tasks" ? limit - 1 : limit }]);
    } finally {
      db.close();
    }
  }
});

test("a stack overflow in user code is one ERROR line with a short traceback", async () => {
  writeFileSync(
    join(dir, "overflow.ts"),
    `
import { flow, task } from "flowctl";
function down(n: number): number { return down(n + 1) + 1; }
const t = task(function overflow() { return down(0); });
export const main = flow({ name: "main" }, async function main() { return await t(); });
`,
  );
  const r = await runCli(["run", "overflow.ts"], { home: join(dir, "home-overflow"), cwd: dir });
  assert.equal(r.code, 1, r.stderr.slice(-2000));
  assert.ok(r.stderr.length < 4096, `stderr holds ${r.stderr.length} bytes`);
  const lines = r.stderr.split("\n");
  const at = lines.findIndex((l) => l.includes("Task run failed with exception: RangeError: Maximum call stack size exceeded"));
  assert.ok(at >= 0, r.stderr);
  assert.match(lines[at]!, /\| ERROR +\| Task run 'overflow-0' - /);
  // the recursion's frame once, then how many more times it repeats
  assert.match(lines[at + 1]!, /^ {4}at down \(.*overflow\.ts:3:\d+\)$/);
  assert.match(lines[at + 2]!, /^ {4}at down \(.*overflow\.ts:3:\d+\)$/);
  assert.match(lines[at + 3]!, /^ {4}… the same frame \d+ more times$/);
  assert.match(lines[at + 4]!, /\| ERROR +\| Task run 'overflow-0' - Finished in state Failed/);
});
