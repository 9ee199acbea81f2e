/**
 * `flowctl concurrency-limit` and tag limits across processes: two `flowctl run`s sharing a
 * store never run tagged tasks at the same time beyond the limit (checked on the start/end
 * times the store recorded), and a process killed while holding a slot blocks the other only
 * until its lease runs out.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { ROOT, runCli, spawnCli } from "../support/cli.ts";

const FIXTURE = join(ROOT, "test/fixtures/concurrency/limited.ts");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-climit-"));
  dirs.push(dir);
  return { dir, home: join(dir, "home") };
}

/** Start `flowctl run` on the fixture; `seen(re)` resolves when its stderr matches. */
function start(home: string, params: Record<string, string | number>, env: Record<string, string> = {}) {
  const args = ["run", FIXTURE, ...Object.entries(params).flatMap(([k, v]) => ["--param", `${k}=${v}`])];
  const child = spawnCli(args, { home, env });
  let stderr = "";
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stderr!.on("data", (d) => {
    stderr += d;
    for (const w of watchers.splice(0)) {
      if (w.re.test(stderr)) w.resolve();
      else watchers.push(w);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    seen: (re: RegExp) => new Promise<void>((resolve) => (re.test(stderr) ? resolve() : watchers.push({ re, resolve }))),
  };
}

function taskSpans(home: string) {
  const db = new Database(join(home, "flowctl.db"), { readonly: true });
  try {
    return db
      .prepare("SELECT name, flow_run_id AS flowRunId, state_type AS stateType, start_time AS startTime, end_time AS endTime FROM task_runs ORDER BY start_time")
      .all() as { name: string; flowRunId: string; stateType: string; startTime: number; endTime: number }[];
  } finally {
    db.close();
  }
}

describe("flowctl concurrency-limit", { concurrency: 2 }, () => {
  test("create, ls, inspect, reset, delete, and clear errors for bad input", async () => {
    const { home } = sandbox();
    const cli = (...args: string[]) => runCli(["concurrency-limit", ...args], { home });
    let r = await cli("ls");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^No concurrency limits\./);
    r = await cli("create", "db", "2");
    assert.equal(r.stdout, "Created concurrency limit for tag 'db': 2 task runs at once.\n");
    r = await cli("create", "db", "1");
    assert.equal(r.stdout, "Updated concurrency limit for tag 'db' from 2 to 1: 1 task run at once.\n");
    r = await cli("create", "frozen", "0");
    assert.match(r.stdout, /Task runs with tag 'frozen' will fail at once until the limit is raised or deleted\./);
    r = await cli("ls");
    assert.match(r.stdout, /│ db +│ 1 +│ 0 +│/);
    assert.match(r.stdout, /│ frozen +│ 0 +│ 0 +│/);
    r = await cli("ls", "--json");
    assert.deepEqual(JSON.parse(r.stdout).map((l: { tag: string; limit: number }) => [l.tag, l.limit]), [["db", 1], ["frozen", 0]]);
    r = await cli("inspect", "db", "--json");
    assert.deepEqual({ ...JSON.parse(r.stdout), created: 0, updated: 0 }, { tag: "db", limit: 1, active: 0, created: 0, updated: 0, slots: [] });
    r = await cli("reset", "db");
    assert.equal(r.stdout, "Reset concurrency limit for tag 'db': freed 0 slots.\n");
    r = await cli("delete", "frozen");
    assert.equal(r.stdout, "Deleted concurrency limit for tag 'frozen'.\n");

    for (const [args, message] of [
      [["create", "x", "-1"], "Expected the limit to be a whole number ≥ 0, got '-1'"],
      [["create", "x", "two"], "Expected the limit to be a whole number ≥ 0, got 'two'"],
      [["create", " ", "1"], "Expected a tag name, got ''"],
      [["inspect", "frozen"], "No concurrency limit for tag 'frozen'. List the limits with 'flowctl concurrency-limit ls'."],
      [["delete", "nope"], "No concurrency limit for tag 'nope'. List the limits with 'flowctl concurrency-limit ls'."],
      [["reset", "nope"], "No concurrency limit for tag 'nope'. List the limits with 'flowctl concurrency-limit ls'."],
    ] as const) {
      r = await cli(...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stderr, `flowctl: error: ${message}\n`);
    }
  });

  test("two flowctl run processes never run tasks sharing a limit-1 tag at once", async () => {
    const { dir, home } = sandbox();
    assert.equal((await runCli(["concurrency-limit", "create", "db", "1"], { home })).code, 0);
    const gate = join(dir, "gate");
    const env = { PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS: "0.1" };
    const a = start(home, { n: 2, gate, label: "a" }, env);
    await a.seen(/a-\d holds a db slot/);
    const b = start(home, { n: 2, gate, label: "b" }, env);
    // b's runs wait on the slot a holds: the limit reaches across processes
    await b.seen(/Waiting for a concurrency slot for tag 'db' \(limit 1\)/);
    assert.doesNotMatch(b.stderr(), /holds a db slot/);
    const inspect = JSON.parse((await runCli(["concurrency-limit", "inspect", "db", "--json"], { home })).stdout);
    assert.equal(inspect.active, 1);
    writeFileSync(gate, "");
    assert.equal(await a.exited, 0, a.stderr());
    assert.equal(await b.exited, 0, b.stderr());
    const spans = taskSpans(home);
    assert.equal(spans.length, 4);
    assert.equal(new Set(spans.map((s) => s.flowRunId)).size, 2);
    for (const s of spans) assert.equal(s.stateType, "COMPLETED");
    for (let i = 1; i < spans.length; i++) {
      assert.ok(spans[i]!.startTime >= spans[i - 1]!.endTime, `${spans[i]!.name} started before ${spans[i - 1]!.name} ended: ${JSON.stringify(spans)}`);
    }
    const after = JSON.parse((await runCli(["concurrency-limit", "inspect", "db", "--json"], { home })).stdout);
    assert.equal(after.active, 0, "every slot was released");
  });

  test("a process killed while holding the slot blocks the other only until its lease runs out", async () => {
    const { dir, home } = sandbox();
    assert.equal((await runCli(["concurrency-limit", "create", "db", "1"], { home })).code, 0);
    const env = { PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS: "1", PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS: "0.1" };
    const a = start(home, { n: 1, gate: join(dir, "never"), label: "a" }, env);
    await a.seen(/a-0 holds a db slot/);
    const held = JSON.parse((await runCli(["concurrency-limit", "inspect", "db", "--json"], { home })).stdout);
    assert.equal(held.slots.length, 1);
    const leaseSeen = Date.parse(held.slots[0].leaseExpires);
    a.child.kill("SIGKILL");
    await a.exited;

    const gate = join(dir, "open");
    writeFileSync(gate, "");
    const b = start(home, { n: 1, gate, label: "b" }, env);
    assert.equal(await b.exited, 0, b.stderr());
    const [bRun] = taskSpans(home).filter((s) => s.name === "useDb-0" && s.stateType === "COMPLETED");
    assert.ok(bRun, "b's task completed");
    // the dead process's lease (at least what was seen before the kill) had run out first
    assert.ok(bRun.startTime >= leaseSeen, `b started at ${bRun.startTime}, before the lease seen (${leaseSeen}) ran out`);
    const after = JSON.parse((await runCli(["concurrency-limit", "inspect", "db", "--json"], { home })).stdout);
    assert.deepEqual(after.slots, []);
  });

  test("a limit of 0 makes flowctl run fail at once, saying why", async () => {
    const { dir, home } = sandbox();
    assert.equal((await runCli(["concurrency-limit", "create", "db", "0"], { home })).code, 0);
    const gate = join(dir, "gate");
    writeFileSync(gate, "");
    const r = await runCli(["run", FIXTURE, "--param", "n=1", "--param", `gate=${gate}`], { home });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Task run 'useDb-0' - Finished in state Failed\('Task run 'useDb-0' cannot start: tag 'db' has a concurrency limit of 0\. Raise it with 'flowctl concurrency-limit create db N' or remove it with 'flowctl concurrency-limit delete db'\.'\)/);
    assert.doesNotMatch(r.stderr, /holds a db slot/);
  });
});
