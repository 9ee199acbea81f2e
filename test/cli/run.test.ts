import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli, spawnCli, ROOT } from "../support/cli.ts";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "flowctl-cli-"));
}

/** A work dir outside the package holding the fixtures, and a PREFECT_HOME. */
function setup() {
  const dir = tempDir();
  cpSync(join(ROOT, "test/fixtures/cli"), dir, { recursive: true });
  return { dir, home: join(dir, ".home"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const LINE = /^\d\d:\d\d:\d\d\.\d{3} \| (INFO|ERROR|WARNING|DEBUG|CRITICAL) +\| /;

test("hello example: the seed's log lines, exit 0", async () => {
  const w = setup();
  try {
    const r = await runCli(["run", "workflows/hello.ts", "--param", "name=Marvin"], { home: w.home });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.ok(lines.every((l) => LINE.test(l)), r.stderr);
    assert.match(lines[0]!, /INFO    \| flowctl\.engine - Created flow run '[a-z]+-[a-z]+-[a-z]+' for flow 'hello'$/);
    assert.match(r.stderr, /Executing 'greet-0' immediately\.\.\./);
    assert.match(r.stderr, /Flow run '[a-z-]+' - HELLO, Marvin!/);
    assert.match(lines.at(-2)!, /Finished in state Completed\(\)$/);
    assert.match(lines.at(-1)!, /INFO    \| Flow run '[a-z-]+' - 2 task runs: 2 Completed in \d+(\.\d)? s$/);
    assert.equal(r.stdout, "");
  } finally {
    w.cleanup();
  }
});

test("a file outside the package imports flowctl; parameters, --params and --json", async () => {
  const w = setup();
  try {
    const r = await runCli(["run", "flows.ts:sum", "--param", "a=40", "--param", "b=2", "--json"], { home: w.home, cwd: w.dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.result, 42);
    assert.equal(out.flowName, "sum");
    assert.deepEqual(out.parameters, { a: 40, b: 2 });
    assert.equal(out.state.type, "COMPLETED");

    const e = await runCli(["run", "flows.ts:echo", "--params", '{"x": [1, 2], "s": "t"}', "--param", "raw=not json", "--json"], { home: w.home, cwd: w.dir });
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(JSON.parse(e.stdout).result, { x: [1, 2], s: "t", raw: "not json" });
  } finally {
    w.cleanup();
  }
});

test("a failing flow exits 1 with the Failed lines", async () => {
  const w = setup();
  try {
    const r = await runCli(["run", "flows.ts:failing"], { home: w.home, cwd: w.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERROR   \| Task run 'boom-0' - Task run failed with exception: Error: boom\n/);
    assert.match(r.stderr, /ERROR   \| Task run 'boom-0' - Finished in state Failed\('Task run encountered an exception Error: boom'\)/);
    assert.match(r.stderr, /ERROR   \| Flow run '[a-z-]+' - Finished in state Failed\('Flow run encountered an exception: Error: boom'\)/);
  } finally {
    w.cleanup();
  }
});

test("bad input: one line, exit 2, no stack trace, nothing written", async () => {
  const w = setup();
  try {
    writeFileSync(join(w.dir, "syntax.ts"), "export const x = ;\n");
    writeFileSync(join(w.dir, "types.ts"), "import { flow } from 'flowctl';\nexport const f = flow(async function f(a: number = ) {});\n");
    writeFileSync(join(w.dir, "badimport.ts"), "import './does-not-exist.ts';\nexport const y = 1;\n");
    writeFileSync(join(w.dir, "throws.ts"), "throw new Error('top-level failure');\n");
    writeFileSync(join(w.dir, "noflow.ts"), "export const z = 1;\n");
    writeFileSync(join(w.dir, "badoption.ts"), "import { task } from 'flowctl';\nexport const t = task({ retries: -1 }, function t() {});\n");
    writeFileSync(join(w.dir, "unreadable.ts"), "export const u = 1;\n");
    chmodSync(join(w.dir, "unreadable.ts"), 0o000);
    const cases: [string[], RegExp][] = [
      [["run", "missing.ts"], /^flowctl: error: No such file: missing\.ts$/],
      [["run", "syntax.ts"], /^flowctl: error: Syntax error in syntax\.ts:1:18: /],
      [["run", "types.ts"], /^flowctl: error: Syntax error in types\.ts:2:/],
      [["run", "badimport.ts"], /^flowctl: error: Cannot load badimport\.ts: .*does-not-exist\.ts/],
      [["run", "throws.ts"], /^flowctl: error: Loading throws\.ts:1 failed: Error: top-level failure$/],
      [["run", "noflow.ts"], /^flowctl: error: No flow exported from noflow\.ts/],
      [["run", "flows.ts"], /^flowctl: error: flows\.ts exports several flows \(echo, failing, sum\); name one: flowctl run flows\.ts:FLOW$/],
      [["run", "flows.ts:nope"], /^flowctl: error: No flow named 'nope' in flows\.ts; its flows: echo, failing, sum$/],
      [["run", "flows.ts:sum", "--params", "[1]"], /^flowctl: error: --params must be a JSON object/],
      [["run", "flows.ts:sum", "--params", "{oops"], /^flowctl: error: --params is not valid JSON/],
      [["run", "flows.ts:sum", "--param", "novalue"], /^flowctl: error: --param expects key=value, got 'novalue'$/],
      [["run", "flows.ts:sum", "--param", "c=1"], /^flowctl: error: Invalid parameters for flow 'sum' \(1 problem\): 'c': flow 'sum' has no parameter 'c'; its parameters: a, b$/],
      [["run", "flows.ts:sum", "--log-level", "LOUD"], /^flowctl: error: --log-level must be one of/],
      [["run", "badoption.ts"], /^flowctl: error: Loading badoption\.ts:2 failed: FlowctlError: task 't': expected `retries` to be a non-negative integer, got -1$/],
      [["run"], /^flowctl: error: missing required argument 'target'$/],
      [["nonsense"], /^flowctl: error: unknown command 'nonsense'$/],
    ];
    if (process.getuid?.() !== 0) cases.push([["run", "unreadable.ts"], /^flowctl: error: Cannot read unreadable\.ts: permission denied$/]);
    for (const [args, re] of cases) {
      const r = await runCli(args, { home: w.home, cwd: w.dir });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${args.join(" ")} printed ${lines.length} lines:\n${r.stderr}`);
      assert.match(lines[0]!, re, args.join(" "));
    }
    // bad input writes nothing: not even an empty store
    assert.equal(existsSync(join(w.home, "flowctl.db")), false);
  } finally {
    w.cleanup();
  }
});

test("--debug shows the stack; --version and --help work", async () => {
  const w = setup();
  try {
    const d = await runCli(["run", "missing.ts", "--debug"], { home: w.home, cwd: w.dir });
    assert.equal(d.code, 2);
    assert.match(d.stderr, /\n\s+at /);
    const v = await runCli(["--version"], { home: w.home });
    assert.equal(v.code, 0);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const h = await runCli(["run", "--help"], { home: w.home });
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--param <key=value>/);
  } finally {
    w.cleanup();
  }
});

test("a timed-out task: the flow fails, the CLI exits 1 without waiting for the leftover timer", async () => {
  const w = setup();
  try {
    const r = await runCli(["run", "timeout.ts"], { home: w.home, cwd: w.dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Finished in state TimedOut\('Task run exceeded timeout of 1 second\(s\)', type=FAILED\)/);
    const db = new Database(join(w.home, "flowctl.db"));
    const run = db.prepare("SELECT start_time, end_time, state_name FROM flow_runs").get() as { start_time: number; end_time: number; state_name: string };
    db.close();
    assert.equal(run.state_name, "Failed");
    // the flow run itself ended about one second in, not five
    assert.ok(run.end_time - run.start_time < 4000, `flow run took ${run.end_time - run.start_time} ms`);
  } finally {
    w.cleanup();
  }
});

for (const [signal, code, state] of [["SIGINT", 130, "Cancelled"], ["SIGTERM", 143, "Crashed"]] as const) {
  test(`${signal} during a flow: runs end ${state}, logs flushed, exit ${code}`, async () => {
    const w = setup();
    try {
      const child = spawnCli(["run", "long.ts"], { home: w.home, cwd: w.dir });
      let stderr = "";
      await new Promise<void>((resolve) => {
        child.stderr!.on("data", (d) => {
          stderr += d;
          if (stderr.includes("READY")) resolve();
        });
      });
      child.kill(signal);
      const exitCode = await new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      assert.equal(exitCode, code, stderr);
      const db = new Database(join(w.home, "flowctl.db"));
      const flowRun = db.prepare("SELECT id, state_name, state_message FROM flow_runs").get() as { id: string; state_name: string; state_message: string };
      const taskRun = db.prepare("SELECT id, state_name FROM task_runs").get() as { id: string; state_name: string };
      const logs = db.prepare("SELECT message FROM logs WHERE flow_run_id = ? OR task_run_id = ?").all(flowRun.id, taskRun.id) as { message: string }[];
      db.close();
      assert.equal(flowRun.state_name, state);
      assert.match(flowRun.state_message, new RegExp(signal));
      assert.equal(taskRun.state_name, state);
      assert.ok(logs.some((l) => l.message.startsWith(`Finished in state ${state}`)), JSON.stringify(logs));
    } finally {
      w.cleanup();
    }
  });
}

test("a signal after the run ended (output still draining into a pipe): that signal's exit code, the run stored", async () => {
  const w = setup();
  try {
    // stdout is not read: the 4 MB of --json wait in the pipe after the flow run finished
    const child = spawnCli(["run", "big-output.ts", "--json"], { home: w.home, cwd: w.dir });
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr!.on("data", (d) => {
        stderr += d;
        if (stderr.includes("Finished in state Completed")) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on("exit", (c, s) => r([c, s])));
    child.stdout!.resume();
    assert.deepEqual([code, signal], [130, null], stderr);
    const db = new Database(join(w.home, "flowctl.db"));
    const flowRun = db.prepare("SELECT state_name FROM flow_runs").get() as { state_name: string };
    db.close();
    assert.equal(flowRun.state_name, "Completed");
  } finally {
    w.cleanup();
  }
});

test("two flowctl run processes writing the same store at once lose nothing", async () => {
  const w = setup();
  try {
    const [a, b] = await Promise.all([
      runCli(["run", "many.ts", "--param", "n=300", "--log-level", "WARNING"], { home: w.home, cwd: w.dir }),
      runCli(["run", "many.ts", "--param", "n=300", "--log-level", "WARNING"], { home: w.home, cwd: w.dir }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const db = new Database(join(w.home, "flowctl.db"));
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    assert.equal(count("SELECT count(*) AS n FROM flow_runs WHERE state_name = 'Completed'"), 2);
    assert.equal(count("SELECT count(*) AS n FROM task_runs WHERE state_name = 'Completed'"), 600);
    // the flow runs' states are rows of their own; the task runs' are kept in their rows (packed-states.ts)
    assert.equal(count("SELECT count(*) AS n FROM run_states"), 2 * 3);
    assert.equal(count("SELECT count(*) AS n FROM task_runs t, json_each(t.states) j WHERE j.type != 'null'"), 600 * 3);
    db.close();
  } finally {
    w.cleanup();
  }
});
