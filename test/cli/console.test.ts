/**
 * What reaches the terminal: a failed task's traceback (user frames, flowctl/node frames
 * folded, the cause chain; every frame with --debug; the stored stack in `runs inspect`), and
 * user data with control characters escaped on the console and in tables, stored exactly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, ROOT } from "../support/cli.ts";

const FILE = "test/fixtures/console/failing.ts";
const HOSTILE = "\x1b[2J\x1b]0;pwned\x07fake\rCompleted";
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

function home() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-console-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test("a failed task's ERROR line is followed by its user frames and cause chain; --debug shows every frame; runs inspect the stored stack", async () => {
  const h = home();
  try {
    const r = await runCli(["run", `${FILE}:failing`], { home: h.dir });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split("\n");
    const i = lines.findIndex((l) => l.includes("Task run failed with exception: TypeError: fetch failed for http://127.0.0.1:9/"));
    assert.ok(i >= 0, r.stderr);
    assert.match(lines[i]!, /\| ERROR   \| Task run 'getUrl-0' - /);
    const fixture = join(ROOT, FILE);
    assert.equal(lines[i + 1], `    at fetchIt (${fixture}:12:11)`);
    assert.equal(lines[i + 2], `    at getUrl (${fixture}:17:10)`);
    assert.match(lines[i + 3]!, /^    … \d+ flowctl\/node frames? \(--debug shows them\)$/);
    assert.equal(lines[i + 4], "Caused by: Error: connect ECONNREFUSED 127.0.0.1:9");
    assert.equal(lines[i + 5], `    at connect (${fixture}:5:23)`);
    // flowctl's own files never appear unfolded
    const trace = lines.slice(i + 1).filter((l) => l.startsWith("    at "));
    assert.ok(trace.every((l) => !l.includes(join(ROOT, "src")) && !l.includes(join(ROOT, "dist")) && !l.includes("node:internal")), trace.join("\n"));

    const d = await runCli(["run", `${FILE}:failing`, "--debug"], { home: h.dir });
    assert.equal(d.code, 1);
    assert.doesNotMatch(d.stderr, /--debug shows them/);
    assert.match(d.stderr, new RegExp(`    at .*${join(ROOT, "(src|dist)").replace(/\//g, "\\/")}\\/engine\\/`));
    assert.match(d.stderr, /Caused by: Error: connect ECONNREFUSED/);

    const ls = await runCli(["tasks", "ls", "--json", "--limit", "1"], { home: h.dir });
    const taskRunId = JSON.parse(ls.stdout)[0].id;
    const inspect = await runCli(["runs", "inspect", taskRunId], { home: h.dir });
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /Error: +TypeError: fetch failed for http:\/\/127\.0\.0\.1:9\/\n {6}at fetchIt \(/);
    assert.match(inspect.stdout, /\n  Caused by: Error: connect ECONNREFUSED 127\.0\.0\.1:9\n {6}at connect \(/);
  } finally {
    h.cleanup();
  }
});

test("control characters from user data are escaped on the console and in tables; stored values are exact", async () => {
  const h = home();
  try {
    const r = await runCli(["run", `${FILE}:hostile`], { home: h.dir });
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, RAW_CONTROL);
    assert.match(r.stderr, /Created flow run 'run-\\x1b\[2J\\x1b\]0;pwned\\x07fake\\rCompleted' for flow 'hostile'/);
    assert.match(r.stderr, /Task run 'echo-\\x1b\[2J.*' - got \\x1b\[2J\\x1b\]0;pwned\\x07fake\\rCompleted\n/);
    assert.match(r.stderr, /Failed\('Flow run encountered an exception: Error: bad \\x1b\[2J/);

    for (const args of [["runs", "ls"], ["tasks", "ls"], ["runs", "inspect", `run-${HOSTILE}`], ["runs", "logs", `run-${HOSTILE}`]]) {
      const out = await runCli(args, { home: h.dir });
      assert.equal(out.code, 0, `${args[0]} ${args[1]}: ${out.stderr}`);
      assert.doesNotMatch(out.stdout, RAW_CONTROL, `${args[0]} ${args[1]}`);
      assert.match(out.stdout, /\\x1b\[2J/, `${args[0]} ${args[1]}`);
    }
    // the store and --json hold the exact values
    const j = await runCli(["runs", "inspect", `run-${HOSTILE}`, "--json"], { home: h.dir });
    const flow = JSON.parse(j.stdout);
    assert.equal(flow.flowRun.name, `run-${HOSTILE}`);
    assert.deepEqual(flow.flowRun.parameters, { text: HOSTILE });
  } finally {
    h.cleanup();
  }
});
