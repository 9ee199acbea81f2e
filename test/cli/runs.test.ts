/**
 * `flowctl runs ls | inspect | logs | prune` and `flowctl tasks ls` through the real bin/flowctl,
 * on runs of workflows/hello.ts and of fixture flows written to a temp dir.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import Database from "better-sqlite3";
import { runCli, spawnCli } from "../support/cli.ts";
import { ResultStorage } from "../../src/results/storage.ts";

const FIXTURES: Record<string, string> = {
  "failing.ts": `
import { flow, task, tags } from "flowctl";
const ok = task(function ok(x: number) { return x + 1; });
const boom = task({ retries: 1 }, function boom(x: number) { throw new Error("boom " + x); });
const inner = flow({ name: "inner" }, async function inner() { return ok(10); });
export const failing = flow({ name: "failing" }, async function failing() {
  const a = ok.submit(1);
  await tags("nightly", () => inner());
  await boom(a);
});
`,
  "hold.ts": `
import { existsSync } from "node:fs";
import { flow, getRunLogger, task } from "flowctl";
const hold = task(async function hold(path: string) {
  getRunLogger().info("holding");
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 20));
  getRunLogger().warning("released");
});
export const holder = flow({ name: "holder" }, async function holder({ path }: { path: string }) { await hold(path); });
`,
  "cached.ts": `
import { flow, task } from "flowctl";
const compute = task({ cacheKeyFn: (_ctx, p) => "key-" + String(p.key) }, function compute(key: string) { return key.length; });
export const cached = flow({ name: "cached" }, async function cached({ key }: { key: string }) { return compute(key); });
`,
};

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-runs-"));
  const home = join(dir, "home");
  mkdirSync(home);
  for (const [name, text] of Object.entries(FIXTURES)) writeFileSync(join(dir, name), text);
  const cli = (args: string[]) => runCli(args, { home, cwd: dir, env: { PREFECT_API_DATABASE_CONNECTION_URL: undefined, PREFECT_LOCAL_STORAGE_PATH: undefined } });
  const ok = async (args: string[]) => {
    const r = await cli(args);
    assert.equal(r.code, 0, `flowctl ${args.join(" ")}\n${r.stderr}`);
    return r.stdout;
  };
  const json = async (args: string[]) => JSON.parse(await ok([...args, "--json"]));
  return { dir, home, cli, ok, json, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const HELLO = join(process.cwd(), "workflows/hello.ts");
let s: ReturnType<typeof sandbox>;
let marvin: any;
let world: any;
let failing: any;

before(async () => {
  s = sandbox();
  await s.ok(["run", HELLO, "--param", "name=Marvin"]);
  await s.ok(["run", HELLO]);
  const f = await s.cli(["run", "failing.ts"]);
  assert.equal(f.code, 1, f.stderr);
  const runs = await s.json(["runs", "ls"]);
  [failing, world, marvin] = [runs.find((r: any) => r.flowName === "failing"), ...runs.filter((r: any) => r.flowName === "hello")];
  assert.ok(failing && world && marvin, JSON.stringify(runs));
});

after(() => s.cleanup());

describe("flowctl runs ls", { concurrency: 4 }, () => {
  test("a table of flow runs, newest first: name, flow, state, start, duration, task counts, tags", async () => {
    const out = await s.ok(["runs", "ls"]);
    const lines = out.trim().split("\n");
    assert.match(lines[1]!, /│ Name +│ Flow +│ State +│ Start +│ Duration +│ Task runs +│ Tags +│/);
    const rows = lines.slice(2, -1);
    assert.equal(rows.length, 4);
    assert.match(rows[0]!, /│ [a-z]+-[a-z]+-[a-z]+ +│ inner +│ Completed +│ .*│ 1 \(1 completed\) +│ nightly +│/, "a subflow run is newer than its parent");
    assert.match(rows[1]!, new RegExp(`│ ${failing.name} +│ failing +│ Failed +│ (\\d\\d:\\d\\d:\\d\\d|\\d\\d-\\d\\d \\d\\d:\\d\\d) +│ [\\d.]+m?s +│ 2 \\(1 completed, 1 failed\\) +│ +│`));
    assert.match(rows[3]!, new RegExp(`│ ${marvin.name} +│ hello +│ Completed +│ .*│ 2 \\(2 completed\\) +│`));
    assert.doesNotMatch(out, /\x1b\[/, "no colors when stdout is not a terminal");
  });

  test("--json gives the runs with parsed parameters, tags, state and task counts", async () => {
    const runs = await s.json(["runs", "ls"]);
    assert.equal(runs.length, 4);
    assert.deepEqual(marvin.parameters, { name: "Marvin" });
    assert.deepEqual(marvin.state, { type: "COMPLETED", name: "Completed", message: null });
    assert.deepEqual(marvin.taskCounts, { COMPLETED: 2 });
    assert.equal(typeof marvin.durationMs, "number");
    assert.deepEqual(failing.taskCounts, { COMPLETED: 1, FAILED: 1 });
    assert.match(failing.state.message, /boom 2/);
  });

  test("--state, --flow, --tag and --limit filter", async () => {
    const names = async (...args: string[]) => (await s.json(["runs", "ls", ...args])).map((r: any) => r.name);
    assert.deepEqual(await names("--state", "Failed"), [failing.name]);
    assert.deepEqual(await names("--state", "failed,COMPLETED", "--flow", "hello"), [world.name, marvin.name]);
    assert.deepEqual(await names("--flow", "hello", "--limit", "1"), [world.name]);
    assert.equal((await names("--tag", "nightly")).length, 1);
    assert.deepEqual(await names("--flow", "nope"), []);
    assert.equal((await s.ok(["runs", "ls", "--flow", "nope"])).trim(), "No flow runs found.");
  });

  test("bad options exit 2 with one line", async () => {
    for (const [args, re] of [
      [["--state", "not a state"], /--state got an unknown state 'not a state'; states are Scheduled, Pending, Running, Completed, Failed, Cancelled, Crashed, Paused, Cancelling, AwaitingRetry, Retrying, Cached, TimedOut, NotReady \(names\) or SCHEDULED, PENDING, .* \(types\)/],
      [["--state", "Nope"], /--state got an unknown state 'Nope'; states are /],
      [["--limit", "0"], /argument '0' is invalid\. --limit expects a whole number ≥ 1, got '0'/],
    ] as const) {
      const r = await s.cli(["runs", "ls", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

describe("flowctl runs inspect", { concurrency: 4 }, () => {
  test("a flow run by name: parameters, history, its task runs; by id the same", async () => {
    const out = await s.ok(["runs", "inspect", marvin.name]);
    assert.match(out, new RegExp(`^Flow run '${marvin.name}'\\n  ID: +${marvin.id}\\n  Flow: +hello\\n  State: +Completed\\(\\)`));
    assert.match(out, /^ {2}Parameters: +\{"name":"Marvin"\}$/m);
    assert.match(out, /State history:\n {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} {2}Pending\(\)\n.* {2}Running\(\)\n.* {2}Completed\(\)\n/);
    assert.match(out, /Task runs \(2\):/);
    assert.match(out, /│ greet-0 +│ greet +│ Completed +│/);
    assert.match(out, /│ shout-0 +│ shout +│ Completed +│/);
    assert.doesNotMatch(out, /Upstream/, "no upstream column when no run took another's result");
    assert.equal(await s.ok(["runs", "inspect", marvin.id]), out);
  });

  test("a failing run shows which task failed, why, its retries and its upstream run", async () => {
    const out = await s.ok(["runs", "inspect", failing.name]);
    assert.match(out, /State: +Failed\('Flow run encountered an exception: Error: boom 2'\)/);
    assert.match(out, /│ boom-0 +│ boom +│ Failed +│ .*│ 2 +│ x ← ok-0 +│/);
    assert.match(out, /Not completed:\n {2}boom-0: Failed\('Task run encountered an exception Error: boom 2'\)\n {4}error: Error: boom 2\n {4}states: Pending → Running → Retrying → Failed/);
    assert.match(out, /Subflow runs \(1\):\n(.*\n){2}│ [a-z]+-[a-z]+-[a-z]+ +│ inner +│ Completed +│/);
  });

  test("--json: the whole record, task runs with their state histories and upstream links", async () => {
    const d = await s.json(["runs", "inspect", failing.id]);
    assert.equal(d.kind, "flow-run");
    assert.equal(d.flowRun.id, failing.id);
    assert.deepEqual(d.states.map((x: any) => x.name), ["Pending", "Running", "Failed"]);
    const boom = d.taskRuns.find((t: any) => t.name === "boom-0");
    assert.deepEqual(boom.states.map((x: any) => x.name), ["Pending", "Running", "Retrying", "Failed"]);
    assert.equal(boom.states[3].error.message, "boom 2");
    assert.deepEqual(boom.upstream.map((u: any) => [u.parameter, u.taskRun.name]), [["x", "ok-0"]]);
    assert.equal(d.subflowRuns[0].flowName, "inner");
    assert.deepEqual(d.subflowRuns[0].tags, ["nightly"]);
  });

  test("a task run by id: its flow run, upstream, history", async () => {
    const d = await s.json(["runs", "inspect", failing.id]);
    const boom = d.taskRuns.find((t: any) => t.name === "boom-0");
    const out = await s.ok(["runs", "inspect", boom.id]);
    assert.match(out, /^Task run 'boom-0'\n/);
    assert.match(out, new RegExp(`Flow run: +'${failing.name}' \\(${failing.id}\\)`));
    assert.match(out, /Upstream: +x ← ok-0/);
    assert.match(out, /Run count: +2/);
    assert.match(out, /Error: +Error: boom 2/);
    const j = await s.json(["runs", "inspect", boom.id]);
    assert.equal(j.kind, "task-run");
    assert.equal(j.flowRun.id, failing.id);
  });

  test("an unknown run exits 2 with one clear line", async () => {
    for (const cmd of [["runs", "inspect", "no-such-run"], ["runs", "logs", "no-such-run"]]) {
      const r = await s.cli(cmd);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, "flowctl: error: No flow run or task run with id, id prefix or name 'no-such-run'. List runs with 'flowctl runs ls'.\n");
      assert.equal(r.stdout, "");
    }
  });

  test("any unique id prefix names a run; a name or prefix that fits several lists them and exits 2", async () => {
    const byPrefix = await s.ok(["runs", "inspect", marvin.id.slice(0, 30)]);
    assert.match(byPrefix, new RegExp(`^Flow run '${marvin.name}'\n  ID: +${marvin.id}`));
    assert.equal(await s.ok(["runs", "logs", marvin.id.slice(0, 30)]), await s.ok(["runs", "logs", marvin.id]));
    // every run of this test was made within the same minute: their ids share their first characters
    for (const cmd of [["runs", "inspect", marvin.id.slice(0, 4)], ["runs", "logs", marvin.id.slice(0, 4)], ["tasks", "ls", "--flow-run", marvin.id.slice(0, 4)]]) {
      const r = await s.cli(cmd);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines[0], `flowctl: '${marvin.id.slice(0, 4)}' could be any of:`);
      const listed = lines.slice(1, -1).filter((l) => l !== "  …and more");
      assert.ok(listed.length >= 2 && listed.length <= 10, r.stderr);
      for (const l of listed) assert.match(l, /^ {2}[0-9a-f-]{36} {2}(flow run '[^']+' \(flow|task run '[^']+' \(task) '[^']+', \w+, created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/);
      assert.match(lines.at(-1)!, /^flowctl: error: '.{4}' names (more than )?\d+ runs; give more of the id \(any unique prefix works\)\.$/);
    }
    const some = await s.cli(["runs", "inspect", marvin.id.slice(0, 4)]);
    assert.ok(some.stderr.includes(`  ${failing.id}  flow run '${failing.name}' (flow 'failing', Failed, created `), some.stderr);
    // a task run name shared by several flow runs' task runs
    const greet = await s.cli(["runs", "inspect", "greet-0"]);
    assert.equal(greet.code, 2);
    assert.equal(greet.stderr.match(/ task run 'greet-0' \(task 'greet', Completed, created /g)?.length, 2, greet.stderr);
    // the same prefix, given whole, of a task run works
    const d = await s.json(["runs", "inspect", marvin.id]);
    const one = await s.json(["runs", "inspect", d.taskRuns[0].id.slice(0, 34)]);
    assert.equal(one.kind, "task-run");
    assert.equal(one.taskRun.id, d.taskRuns[0].id);
  });
});

describe("flowctl runs logs and tasks ls", { concurrency: 4 }, () => {
  test("a flow run's logs, its task runs' included, as console lines; --level filters", async () => {
    const out = await s.ok(["runs", "logs", marvin.name]);
    const lines = out.trim().split("\n");
    assert.ok(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} \| (INFO|DEBUG|WARNING|ERROR) +\| /.test(l)), out);
    assert.match(out, new RegExp(`INFO    \\| Flow run '${marvin.name}' - Created task run 'greet-0' for task 'greet'`));
    assert.match(out, /INFO    \| Task run 'shout-0' - Finished in state Completed\(\)/);
    assert.match(out, new RegExp(`Flow run '${marvin.name}' - HELLO, Marvin!`));
    assert.match(lines.at(-2)!, /Finished in state Completed\(\)$/);
    assert.match(lines.at(-1)!, / - \d+ task runs?: \d+ Completed in \d+(\.\d)? s$/);

    const errors = await s.ok(["runs", "logs", failing.name, "--level", "error"]);
    // every line is an ERROR line, or the traceback that follows the task's failure
    const errLines = errors.trim().split("\n").filter((l) => !/^(    at |    … |Caused by: )/.test(l));
    assert.ok(errLines.length >= 3);
    assert.ok(errLines.every((l) => /\| ERROR   \| /.test(l)), errors);
    assert.match(errors, /Task run 'boom-0' - Task run failed with exception: Error: boom 2 - Retries are exhausted/);
  });

  test("--json prints one object per line; a bad --level exits 2", async () => {
    const out = await s.ok(["runs", "logs", marvin.id, "--json"]);
    const recs = out.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(recs.every((r) => r.flowRunId === marvin.id && typeof r.id === "number" && r.levelName));
    const bad = await s.cli(["runs", "logs", marvin.id, "--level", "LOUD"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^flowctl: error: --level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL or a number, got 'LOUD'\n$/);
  });

  test("tasks ls finds the failing task run for CI output; --flow-run lists one run's in order", async () => {
    const failed = await s.ok(["tasks", "ls", "--state", "Failed"]);
    assert.match(failed, new RegExp(`│ boom-0 +│ boom +│ ${failing.name} +│ Failed\\('Task run encountered an exception Error: boom 2'\\) +│`));
    assert.equal(failed.trim().split("\n").length, 4, failed);
    const mine = await s.json(["tasks", "ls", "--flow-run", marvin.name]);
    assert.deepEqual(mine.map((t: any) => t.name), ["greet-0", "shout-0"]);
    assert.ok(mine.every((t: any) => t.flowRunName === marvin.name));
    const none = await s.cli(["tasks", "ls", "--flow-run", "nope"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /No flow run with id, id prefix or name 'nope'/);
  });
});

describe("flowctl runs logs --follow", () => {
  test("prints lines as the run writes them and ends when it has finished", async () => {
    const w = sandbox();
    try {
      const go = join(w.dir, "go");
      const run = spawnCli(["run", "hold.ts", "--param", `path=${go}`], { home: w.home, cwd: w.dir });
      const ran = once(run, "close");
      // the flow run is in the store once its writer has flushed; wait for it there
      const db = join(w.home, "flowctl.db");
      let name: string | undefined;
      for (let i = 0; i < 400 && !name; i++) {
        if (existsSync(db)) {
          const conn = new Database(db, { readonly: true, timeout: 5000 });
          try {
            const row = conn.prepare("SELECT name FROM flow_runs WHERE flow_name = 'holder'").get() as { name: string } | undefined;
            const holding = conn.prepare("SELECT 1 FROM logs WHERE message = 'holding'").get();
            if (row && holding) name = row.name;
          } catch {
            // tables not created yet
          } finally {
            conn.close();
          }
        }
        if (!name) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(name, "the held flow run reached the store");
      const follow = spawnCli(["runs", "logs", name!, "--follow"], { home: w.home, cwd: w.dir });
      let out = "";
      follow.stdout.on("data", (d) => {
        out += d;
        // release the flow once the follower has shown what was there before
        if (out.includes("holding") && !existsSync(go)) writeFileSync(go, "");
      });
      let err = "";
      follow.stderr.on("data", (d) => (err += d));
      const [code] = (await once(follow, "close")) as [number];
      assert.equal(code, 0, err);
      assert.equal((await ran)[0], 0);
      assert.match(out, /INFO    \| Task run 'hold-0' - holding\n/);
      assert.match(out, /WARNING \| Task run 'hold-0' - released\n/);
      assert.match(out.trim().split("\n").at(-2)!, new RegExp(`Flow run '${name}' - Finished in state Completed\\(`));
      assert.match(out.trim().split("\n").at(-1)!, new RegExp(`Flow run '${name}' - 1 task run: 1 Completed in `));
    } finally {
      w.cleanup();
    }
  });
});

describe("flowctl runs prune", () => {
  test("deletes runs idle since before the cutoff, their states, logs and unused stored results", async () => {
    const w = sandbox();
    try {
      await w.ok(["run", "cached.ts", "--param", "key=old"]);
      await w.ok(["run", "cached.ts", "--param", "key=shared"]);
      const [b, a] = await w.json(["runs", "ls"]);
      await w.ok(["run", "cached.ts", "--param", "key=shared"]);
      const storage = new ResultStorage(join(w.home, "storage"));
      assert.deepEqual((await storage.list()).map((e) => e.key).sort(), ["key-old", "key-shared"]);

      // age the first two runs by ten days
      const db = new Database(join(w.home, "flowctl.db"));
      const TEN_DAYS = 10 * 86_400_000;
      for (const id of [a.id, b.id]) {
        db.prepare("UPDATE flow_runs SET created = created - ?, updated = updated - ? WHERE id = ?").run(TEN_DAYS, TEN_DAYS, id);
        db.prepare("UPDATE task_runs SET created = created - ?, updated = updated - ? WHERE flow_run_id = ?").run(TEN_DAYS, TEN_DAYS, id);
      }
      const logsBefore = (db.prepare("SELECT COUNT(*) AS n FROM logs").get() as { n: number }).n;
      const entry = db.prepare("SELECT entrypoint FROM flow_runs WHERE id = ?").get(a.id) as { entrypoint: string };
      assert.equal(entry.entrypoint, `${join(w.dir, "cached.ts")}:cached`, "flowctl run records where the flow came from");
      // kept in the task runs' rows (store schema 10), or as task_run_results rows
      const keptOf = (d: Database.Database, id: string) =>
        (d.prepare("SELECT (SELECT COUNT(*) FROM task_run_results WHERE flow_run_id = @id) + (SELECT COUNT(*) FROM task_runs WHERE flow_run_id = @id AND kept_kind IS NOT NULL) AS n").get({ id }) as { n: number }).n;
      assert.equal(keptOf(db, a.id), 1);
      db.close();
      // a large kept result of the first run lives in a result file of its own
      mkdirSync(join(w.home, "storage", "runs", a.id), { recursive: true });
      writeFileSync(join(w.home, "storage", "runs", a.id, "t.result"), "V");

      const bad = await w.cli(["runs", "prune", "--older-than", "10 parsecs"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^flowctl: error: --older-than expects a duration like 30d, 12h, 90m, 45s, 1w or 1d12h \(units ms, s, m, h, d, w\), got '10 parsecs'\n$/);
      assert.equal((await w.cli(["runs", "prune"])).code, 2, "--older-than is required");

      const out = await w.ok(["runs", "prune", "--older-than", "1d"]);
      assert.match(out, /^Pruned 2 flow runs, 2 task runs, 12 states, \d+ log lines and 1 stored result last active before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\n$/);
      const remaining = await w.json(["runs", "ls"]);
      assert.equal(remaining.length, 1);
      assert.deepEqual(remaining[0].parameters, { key: "shared" });
      assert.deepEqual((await storage.list()).map((e) => e.key), ["key-shared"], "a result a remaining run uses is kept");
      assert.equal((await w.cli(["runs", "inspect", a.name])).code, 2);
      assert.equal((await w.cli(["runs", "logs", a.id])).code, 2);
      const db2 = new Database(join(w.home, "flowctl.db"), { readonly: true });
      const counts = db2.prepare("SELECT (SELECT COUNT(*) FROM logs) AS logs, (SELECT COUNT(*) FROM run_states WHERE run_id IN (?, ?)) AS states").get(a.id, b.id) as { logs: number; states: number };
      db2.close();
      assert.equal(counts.states, 0);
      assert.ok(counts.logs > 0 && counts.logs < logsBefore);
      const db3 = new Database(join(w.home, "flowctl.db"), { readonly: true });
      assert.deepEqual([keptOf(db3, a.id), keptOf(db3, b.id), keptOf(db3, remaining[0].id)], [0, 0, 1], "kept results go with their runs");
      db3.close();
      assert.equal(existsSync(join(w.home, "storage", "runs", a.id)), false, "and so do their result files");

      const again = await w.json(["runs", "prune", "--older-than", "1d"]);
      assert.deepEqual({ ...again, cutoff: 0 }, { cutoff: 0, flowRuns: 0, taskRuns: 0, states: 0, logs: 0, results: 0 });
    } finally {
      w.cleanup();
    }
  });
});
