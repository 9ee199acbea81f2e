/**
 * `flowctl runs retry` and `flowctl run --retry-of` through the real bin/flowctl on a real
 * SQLite store: what runs again is counted by the side effects the tasks leave (lines appended
 * to a file), what is reused by the runs' states.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, spawnCli } from "../support/cli.ts";

const FIXTURES = new URL("../fixtures/retry/", import.meta.url);

function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-retry-"));
  const home = join(dir, "home");
  mkdirSync(home);
  for (const f of ["twenty.ts", "mapped.ts", "nested.ts"]) copyFileSync(new URL(f, FIXTURES), join(dir, f));
  const side = join(dir, "side.txt");
  const env = (extra: Record<string, string | undefined> = {}) => ({
    PREFECT_API_DATABASE_CONNECTION_URL: undefined, PREFECT_LOCAL_STORAGE_PATH: undefined, SIDE: side, FIXED: undefined, HOLD: undefined, ...extra,
  });
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { home, cwd: dir, env: env(extra) });
  /** the side-effect lines written since the last call */
  let seen = 0;
  const effects = () => {
    const lines = existsSync(side) ? readFileSync(side, "utf8").trim().split("\n").filter(Boolean) : [];
    const fresh = lines.slice(seen);
    seen = lines.length;
    return fresh;
  };
  const inspect = async (run: string) => {
    const r = await cli(["runs", "inspect", run, "--json", "--limit", "1000"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const newest = async () => JSON.parse((await cli(["runs", "ls", "--json", "--limit", "1"])).stdout)[0];
  return { dir, home, side, cli, effects, inspect, newest, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const steps = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => `step ${from + k}`);

describe("flowctl runs retry", { concurrency: 3 }, () => {
  test("20 calls failing at the 13th: a retry runs only the failed and later calls and ends Completed (run count 2, 12 reused)", async () => {
    const s = sandbox();
    try {
      const first = await s.cli(["run", "twenty.ts"]);
      assert.equal(first.code, 1, first.stderr);
      assert.deepEqual(s.effects(), steps(0, 12));
      const failed = await s.newest();
      assert.equal(failed.state.name, "Failed");

      const retry = await s.cli(["runs", "retry", failed.id.slice(0, 13)], { FIXED: "1" });
      assert.equal(retry.code, 0, retry.stderr);
      assert.deepEqual(s.effects(), [...steps(12, 19), "report 1900"]);
      assert.match(retry.stderr, new RegExp(`Retrying flow run '${failed.name}' for flow 'twenty' \\(run count 2\\)`));
      assert.match(retry.stderr, /Task run 'step-13' - Finished in state Cached\('Reused the result of task run 'step-0' \([0-9a-f-]{36}\)', type=COMPLETED\)/);

      const d = await s.inspect(failed.id);
      assert.equal(d.flowRun.id, failed.id, "the same flow run");
      assert.equal(d.flowRun.runCount, 2);
      assert.equal(d.flowRun.state.name, "Completed");
      assert.deepEqual(d.states.map((x: any) => x.name), ["Pending", "Running", "Failed", "Pending", "Retrying", "Completed"]);
      const cached = d.taskRuns.filter((t: any) => t.state.name === "Cached");
      assert.equal(cached.length, 12);
      assert.ok(cached.every((t: any) => /^Reused the result of task run 'step-\d+' /.test(t.state.message)));
      const text = (await s.cli(["runs", "inspect", failed.name])).stdout;
      assert.match(text, /Run count: +2/);
      // a completed run has nothing to retry
      const again = await s.cli(["runs", "retry", failed.id]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /^flowctl: error: Flow run '.+' cannot be retried: it completed; there is nothing to retry\.\n$/);
      assert.deepEqual(s.effects(), []);
    } finally {
      s.cleanup();
    }
  });

  test(".map of 100 with 3 failures: exactly those 3 bodies run again; a result that could not be kept runs again, saying why", async () => {
    const s = sandbox();
    try {
      assert.equal((await s.cli(["run", "mapped.ts"])).code, 1);
      assert.equal(s.effects().length, 101);
      const run = await s.newest();
      const dry = await s.cli(["runs", "retry", run.id, "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^ {2}run {4}makeFn-0 +runs: the result of 'makeFn-0' was not kept \(its result cannot be kept: Cannot serialise the result: result is a function/m);
      assert.match(dry.stdout, /^ {2}reuse {2}item-0 +reuses task run 'item-0' \(/m);
      assert.match(dry.stdout, /^ {2}run {4}item-42 +runs: its earlier run 'item-42' ended Failed$/m);
      assert.match(dry.stdout, /\n97 of 101 earlier task calls would be reused;/);
      assert.deepEqual(s.effects(), [], "a dry run runs nothing");

      const retry = await s.cli(["runs", "retry", run.id], { FIXED: "1" });
      assert.equal(retry.code, 0, retry.stderr);
      assert.deepEqual(s.effects().sort(), ["item 42", "item 7", "item 99", "makeFn"]);
      const why = retry.stderr.split("\n").filter((l) => / INFO .*Running 'makeFn-\d+' again: /.test(l));
      assert.equal(why.length, 1, retry.stderr);
      assert.match(why[0]!, /the result of 'makeFn-0' was not kept \(its result cannot be kept: Cannot serialise the result: result is a function/);
      const d = await s.inspect(run.id);
      assert.equal(d.flowRun.state.name, "Completed");
      assert.equal(d.taskRuns.filter((t: any) => t.state.name === "Cached").length, 97);
    } finally {
      s.cleanup();
    }
  });

  test("--from, --param, --dry-run and errors", async () => {
    const s = sandbox();
    try {
      assert.equal((await s.cli(["run", "twenty.ts"])).code, 1);
      s.effects();
      const run = await s.newest();
      const bad = await s.cli(["runs", "retry", run.id, "--from", "nope"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^flowctl: error: --from: flow run '.+' has no task named 'nope'; its tasks: step\n$/);

      // --from step: every step call runs again
      const dry = await s.cli(["runs", "retry", run.id, "--from", "step", "--dry-run"]);
      assert.match(dry.stdout, /\n0 of 13 earlier task calls would be reused;/);
      const from = await s.cli(["runs", "retry", run.id, "--from", "step"], { FIXED: "1" });
      assert.equal(from.code, 0, from.stderr);
      assert.deepEqual(s.effects(), [...steps(0, 19), "report 1900"]);

      // a completed run cannot be retried by `runs retry`; a failed one with --param can
      assert.equal((await s.cli(["run", "twenty.ts", "--param", "scale=1"])).code, 1);
      s.effects();
      const second = await s.newest();
      const param = await s.cli(["runs", "retry", second.id, "--param", "scale=2"], { FIXED: "1" });
      assert.equal(param.code, 0, param.stderr);
      // calls 18 and 19 take scale into their inputs: they run; 0..11 are reused
      assert.deepEqual(s.effects(), ["step 12", ...steps(13, 17), "step 36", "step 38", "report 2270"]);
      assert.deepEqual((await s.inspect(second.id)).flowRun.parameters, { scale: 2 });
      const badParam = await s.cli(["runs", "retry", second.id, "--param", "nope=1"]);
      assert.equal(badParam.code, 2);

      const unknown = await s.cli(["runs", "retry", "no-such-run"]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /No flow run with id, id prefix or name 'no-such-run'/);
      const none = await s.cli(["runs", "retry"]);
      assert.equal(none.code, 2);
    } finally {
      s.cleanup();
    }
  });

  test("bulk: --state Failed --since 1h retries each failed run in turn", async () => {
    const s = sandbox();
    try {
      assert.equal((await s.cli(["run", "twenty.ts"])).code, 1);
      assert.equal((await s.cli(["run", "mapped.ts"])).code, 1);
      s.effects();
      const dry = await s.cli(["runs", "retry", "--state", "Failed", "--since", "1h", "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.match(/^Retry of flow run /gm)?.length, 2);
      const bulk = await s.cli(["runs", "retry", "--state", "Failed", "--since", "1h"], { FIXED: "1" });
      assert.equal(bulk.code, 0, bulk.stderr);
      assert.match(bulk.stdout, /Retried 2 flow runs: 2 completed, 0 did not\.\n$/);
      assert.equal(s.effects().length, 9 + 4);
      const runs = JSON.parse((await s.cli(["runs", "ls", "--json"])).stdout);
      assert.deepEqual(runs.map((r: any) => [r.state.name, r.runCount]), [["Completed", 2], ["Completed", 2]]);
      const nothing = await s.cli(["runs", "retry", "--state", "Failed", "--since", "1h"]);
      assert.equal(nothing.code, 0);
      assert.equal(nothing.stdout, "No flow runs to retry.\n");
    } finally {
      s.cleanup();
    }
  });

  test("after Ctrl-C the Cancelled run is retried from where it stopped; run --retry-of reuses where the task source is unchanged", async () => {
    const s = sandbox();
    try {
      const hold = join(s.dir, "go");
      const child = spawnCli(["run", "twenty.ts"], { home: s.home, cwd: s.dir, env: s.env({ HOLD: hold, FIXED: "1" }) as unknown as Record<string, string> });
      let err = "";
      const closed = once(child, "close");
      await new Promise<void>((resolve) => {
        child.stderr!.on("data", (d) => {
          err += d;
          if (err.includes("Executing 'step-5' immediately...")) resolve();
        });
      });
      child.kill("SIGINT");
      const [code] = await closed;
      assert.equal(code, 130, err);
      assert.deepEqual(s.effects(), steps(0, 5));
      const run = await s.newest();
      assert.equal(run.state.name, "Cancelled");
      writeFileSync(hold, "");
      const retry = await s.cli(["runs", "retry", run.id], { FIXED: "1" });
      assert.equal(retry.code, 0, retry.stderr);
      assert.deepEqual(s.effects(), [...steps(5, 19), "report 1900"]);

      // the file moved and one task changed: only the unchanged task's calls are reused
      const moved = join(s.dir, "moved.ts");
      writeFileSync(moved, readFileSync(join(s.dir, "twenty.ts"), "utf8").replace("`report ${total}\\n`", "`report: ${total}\\n`"));
      assert.equal((await s.cli(["run", "twenty.ts"])).code, 1);
      s.effects();
      const failed = await s.newest();
      const again = await s.cli(["run", moved, "--retry-of", failed.id], { FIXED: "1" });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(s.effects(), [...steps(12, 19), "report: 1900"]);
      const d = await s.inspect(failed.id);
      assert.equal(d.flowRun.runCount, 2);
      assert.equal(d.taskRuns.filter((t: any) => t.state.name === "Cached").length, 12);
    } finally {
      s.cleanup();
    }
  });
});

describe("flowctl runs retry after SIGKILL", () => {
  test("the killed run is shown Crashed and a retry runs from the call it was in", async () => {
    const s = sandbox();
    try {
      const hold = join(s.dir, "go");
      const child = spawnCli(["run", "twenty.ts"], { home: s.home, cwd: s.dir, env: s.env({ HOLD: hold, FIXED: "1" }) as unknown as Record<string, string> });
      const closed = once(child, "close");
      let err = "";
      await new Promise<void>((resolve) => {
        child.stderr!.on("data", (d) => {
          err += d;
          if (err.includes("Executing 'step-5' immediately...")) resolve();
        });
      });
      // the five completed calls reach the store with the writer's next batch (every 200 ms)
      let run: any;
      for (let i = 0; i < 100 && !(run?.taskCounts?.COMPLETED === 5); i++) run = await s.newest();
      assert.equal(run.taskCounts.COMPLETED, 5, JSON.stringify(run));
      child.kill("SIGKILL");
      await closed;
      assert.deepEqual(s.effects(), steps(0, 5));
      assert.equal((await s.newest()).state.name, "Crashed");
      const retry = await s.cli(["runs", "retry", run.id], { FIXED: "1" });
      assert.equal(retry.code, 0, retry.stderr);
      assert.deepEqual(s.effects(), [...steps(5, 19), "report 1900"]);
      const d = await s.inspect(run.id);
      assert.equal(d.flowRun.runCount, 2);
      assert.equal(d.taskRuns.filter((t: any) => t.state.name === "Cached").length, 5);
    } finally {
      s.cleanup();
    }
  });
});

describe("flowctl runs retry with secret parameters", () => {
  test("a parameter stored as '********' must be given again; given, the retry runs with it", async () => {
    const s = sandbox();
    try {
      const redact = { PREFECT_LOGGING_REDACT_PATTERNS: "scale" };
      assert.equal((await s.cli(["run", "twenty.ts", "--param", "scale=3"], redact)).code, 1);
      s.effects();
      const run = await s.newest();
      assert.deepEqual(run.parameters, { scale: "********" });
      const bare = await s.cli(["runs", "retry", run.id], { ...redact, FIXED: "1" });
      assert.equal(bare.code, 2);
      assert.match(bare.stderr, /has secret parameter 'scale', stored only as '\*{8}': give it again with --param scale=…/);
      assert.deepEqual(s.effects(), []);
      const given = await s.cli(["runs", "retry", run.id, "--param", "scale=3"], { ...redact, FIXED: "1" });
      assert.equal(given.code, 0, given.stderr);
      assert.deepEqual(s.effects(), [...steps(12, 17), "step 54", "step 57", "report 2640"]);
    } finally {
      s.cleanup();
    }
  });
});

describe("flowctl runs delete", () => {
  test("removes flow runs with their subflow runs, task runs, states, logs and kept results; refuses what it cannot name", async () => {
    const s = sandbox();
    try {
      assert.equal((await s.cli(["run", "nested.ts"])).code, 0);
      assert.equal((await s.cli(["run", "twenty.ts"])).code, 1);
      const runs = JSON.parse((await s.cli(["runs", "ls", "--json"])).stdout);
      const top = runs.find((r: any) => r.flowName === "nested");
      const twenty = runs.find((r: any) => r.flowName === "twenty");
      const keptDir = join(s.home, "storage", "runs", top.id);
      assert.ok(existsSync(keptDir), "the subflow's large result is kept in a file under its top-level run");

      const unknown = await s.cli(["runs", "delete", top.id, "no-such-run"]);
      assert.equal(unknown.code, 2);
      assert.equal(JSON.parse((await s.cli(["runs", "ls", "--json"])).stdout).length, 3, "nothing deleted");

      const del = await s.cli(["runs", "delete", top.name, twenty.id.slice(0, 30)]);
      assert.equal(del.code, 0, del.stderr);
      assert.match(del.stdout, new RegExp(`^Deleted flow runs '${top.name}', '${twenty.name}' and 1 subflow run: 15 task runs, \\d+ states, \\d+ log lines and 0 cached results\\.\\n$`));
      assert.equal(JSON.parse((await s.cli(["runs", "ls", "--json"])).stdout).length, 0);
      assert.equal(existsSync(keptDir), false);
      const logs = await s.cli(["runs", "logs", top.id]);
      assert.equal(logs.code, 2);
      const again = await s.cli(["runs", "delete", top.id]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /No flow run with id, id prefix or name/);
    } finally {
      s.cleanup();
    }
  });
});
