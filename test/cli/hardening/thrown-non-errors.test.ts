/**
 * A task or flow that throws a non-Error at run time is shown as what it threw
 * (`threw a string: "text"`, `threw a number: 42`, `threw an object: {...}`, bounded) on the
 * console, in the stored state message and in `runs inspect`, through the real CLI — the same
 * words as a workflow file that throws at import.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli } from "../../support/cli.ts";

const FLOWS = `
import { flow, task } from "flowctl";
const str = task(function str() { throw "text"; });
const num = task(function num() { throw 42; });
const obj = task(function obj() { throw { a: 1, big: "x".repeat(1000) }; });
export const taskString = flow({ name: "task-string" }, async function taskString() { await str(); });
export const taskNumber = flow({ name: "task-number" }, async function taskNumber() { await num(); });
export const taskObject = flow({ name: "task-object" }, async function taskObject() { await obj(); });
export const flowString = flow({ name: "flow-string" }, async function flowString() { throw "flow text"; });
`;

test("thrown non-Errors at run time: threw a string / a number / an object, on the console, in the store and in runs inspect", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-nonerr-"));
  const home = join(dir, "home");
  try {
    writeFileSync(join(dir, "flows.ts"), FLOWS);
    const cli = (args: string[]) => runCli(args, { home, cwd: dir, env: { PREFECT_API_DATABASE_CONNECTION_URL: undefined } });

    const s = await cli(["run", "flows.ts:taskString"]);
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /Task run 'str-0' - Task run threw a string: "text"\n/);
    assert.match(s.stderr, /Finished in state Failed\('Task run threw a string: "text"'\)/);
    assert.match(s.stderr, /Flow run '[^']+' - Finished in state Failed\('Flow run threw a string: "text"'\)/);
    assert.doesNotMatch(s.stderr, /NonErrorThrown/);

    const n = await cli(["run", "flows.ts:taskNumber"]);
    assert.equal(n.code, 1, n.stderr);
    assert.match(n.stderr, /Task run 'num-0' - Task run threw a number: 42\n/);
    assert.doesNotMatch(n.stderr, /NonErrorThrown/);

    const o = await cli(["run", "flows.ts:taskObject"]);
    assert.equal(o.code, 1, o.stderr);
    const line = o.stderr.split("\n").find((l) => l.includes("Task run 'obj-0' - Task run threw an object: "));
    assert.ok(line, o.stderr);
    assert.match(line, /threw an object: \{"a":1,"big":"x+…$/);
    assert.ok(line.length < 400, `bounded: ${line.length} characters`);

    const f = await cli(["run", "flows.ts:flowString"]);
    assert.equal(f.code, 1, f.stderr);
    assert.match(f.stderr, /Finished in state Failed\('Flow run threw a string: "flow text"'\)/);
    assert.doesNotMatch(f.stderr, /NonErrorThrown/);

    // the stored state messages
    const db = new Database(join(home, "flowctl.db"), { readonly: true });
    try {
      const msg = (name: string) => (db.prepare("SELECT state_message FROM task_runs WHERE name = ?").get(name) as { state_message: string }).state_message;
      assert.equal(msg("str-0"), 'Task run threw a string: "text"');
      assert.equal(msg("num-0"), "Task run threw a number: 42");
      const flows = db.prepare("SELECT flow_name, state_message FROM flow_runs ORDER BY flow_name").all() as { flow_name: string; state_message: string }[];
      assert.deepEqual(flows.filter((r) => r.flow_name.endsWith("string")).map((r) => r.state_message), ['Flow run threw a string: "flow text"', 'Flow run threw a string: "text"']);
    } finally {
      db.close();
    }

    // runs inspect: the task run's state and error line, the flow run's "Not completed" list
    const ti = await cli(["runs", "inspect", "str-0"]);
    assert.equal(ti.code, 0, ti.stderr);
    assert.match(ti.stdout, /State: +Failed\('Task run threw a string: "text"'\)/);
    assert.match(ti.stdout, /Error: +threw a string: "text"\n/);
    assert.doesNotMatch(ti.stdout, /NonErrorThrown/);
    const ni = await cli(["runs", "inspect", "num-0"]);
    assert.match(ni.stdout, /Error: +threw a number: 42\n/);
    const ls = JSON.parse((await cli(["runs", "ls", "--json", "--flow", "task-string"])).stdout) as { id: string }[];
    const fi = await cli(["runs", "inspect", ls[0]!.id]);
    assert.match(fi.stdout, /error: threw a string: "text"\n/);
    assert.doesNotMatch(fi.stdout, /NonErrorThrown/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
