/**
 * `runs inspect` and `runs logs` on a flow run of thousands of task runs, through the real CLI
 * on a store seeded through the store API: inspect lists a page (default 200) and says on stderr
 * which and how many; `--limit`/`--offset` move through them; the task runs that did not
 * complete are counted whole; logs print every line (several store pages) unless `--limit`,
 * which then says how many there are and where the next ones start.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { seedBigRun } from "../support/seed-runs.ts";

const N = 3000;
let home = "";
let id = "";

before(async () => {
  home = mkdtempSync(join(tmpdir(), "flowctl-paging-"));
  ({ flowRunId: id } = await seedBigRun(join(home, "flowctl.db"), { taskRuns: N, logsPerTask: 1, failEvery: 100 }));
});
after(() => rmSync(home, { recursive: true, force: true }));

async function cli(args: string[], code = 0) {
  const r = await runCli(args, { home });
  assert.equal(r.code, code, `flowctl ${args.join(" ")}\n${r.stderr}`);
  return r;
}

/** The task-run names in the task-run table of `runs inspect` output. */
function tableNames(stdout: string): string[] {
  const part = stdout.slice(stdout.indexOf("Task runs ("), stdout.indexOf("Not completed"));
  return [...part.matchAll(/^│ (work-\d+) /gm)].map((m) => m[1]!);
}

test("runs inspect: the first 200 task runs, the page and the total said on stderr; --offset/--limit page on", async () => {
  const r = await cli(["runs", "inspect", id]);
  assert.match(r.stdout, /^Task runs \(1–200 of 3,000\):$/m);
  const names = tableNames(r.stdout);
  assert.deepEqual([names.length, names[0], names[199]], [200, "work-0", "work-199"]);
  assert.equal(r.stderr, "flowctl: showing task runs 1–200 of 3,000; --offset 200 for the next 200 (--limit N for more at once)\n");
  // every failed run is counted, the first 20 listed, the way to the rest given
  assert.match(r.stdout, /^Not completed \(30; the first 20\):$/m);
  assert.match(r.stdout, /^ {2}work-99: Failed\('Task run encountered an exception Error: item 99 failed'\)$/m);
  assert.match(r.stdout, new RegExp(`^  …and 10 more: flowctl tasks ls --flow-run ${id} --state Failed$`, "m"));

  const next = await cli(["runs", "inspect", id, "--offset", "200", "--limit", "50"]);
  assert.match(next.stdout, /^Task runs \(201–250 of 3,000\):$/m);
  assert.deepEqual(tableNames(next.stdout), Array.from({ length: 50 }, (_, i) => `work-${200 + i}`));
  assert.match(next.stderr, /showing task runs 201–250 of 3,000; --offset 250 for the next 50/);

  const last = await cli(["runs", "inspect", id, "--offset", "2900", "--limit", "500"]);
  assert.match(last.stdout, /^Task runs \(2,901–3,000 of 3,000\):$/m);
  assert.equal(tableNames(last.stdout).length, 100);
  assert.equal(last.stderr, "flowctl: showing task runs 2,901–3,000 of 3,000 (--limit N for more at once)\n");

  const past = await cli(["runs", "inspect", id, "--offset", "5000"]);
  assert.match(past.stdout, /^Task runs \(none at offset 5,000 of 3,000\):$/m);
  assert.match(past.stderr, /showing no task runs at offset 5,000 \(there are 3,000\)/);

  const whole = await cli(["runs", "inspect", id, "--limit", "3000"]);
  assert.match(whole.stdout, /^Task runs \(3,000\):$/m);
  assert.equal(whole.stderr, "", "no notice when every task run is listed");

  for (const bad of [["--limit", "0"], ["--offset", "-1"], ["--limit", "x"]]) {
    const b = await cli(["runs", "inspect", id, ...bad], 2);
    assert.match(b.stderr, /expects a whole number/);
  }
});

test("runs logs: every line by default (read a page at a time), --limit/--offset with a notice when cut", async () => {
  const all = await cli(["runs", "logs", id]);
  const lines = all.stdout.trimEnd().split("\n");
  assert.equal(lines.length, N + 2, "the flow's two lines and one per task run, over several store pages");
  assert.match(lines[0]!, /Flow run 'big-run' - Beginning flow run$/);
  lines.slice(1, -1).forEach((l, i) => assert.ok(l.endsWith(`- line 0 of work-${i}`), `line ${i + 1}: ${l}`));
  assert.match(lines.at(-1)!, /- Finished$/);
  assert.equal(all.stderr, "");

  const cut = await cli(["runs", "logs", id, "--offset", "100", "--limit", "5"]);
  assert.deepEqual(cut.stdout.trimEnd().split("\n").map((l) => l.replace(/^.* - /, "")), [99, 100, 101, 102, 103].map((i) => `line 0 of work-${i}`));
  assert.equal(cut.stderr, "flowctl: showing log lines 101–105 of 3,002; --offset 105 for the next ones\n");

  const json = await cli(["runs", "logs", id, "--json", "--offset", "2000", "--limit", "1500"]);
  const rows = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.length, 1002, "to the end: no notice");
  assert.ok(rows.every((r, i) => i === 0 || r.id > rows[i - 1].id));
  assert.equal(json.stderr, "");

  const bad = await cli(["runs", "logs", id, "--follow", "--limit", "5"], 2);
  assert.match(bad.stderr, /--limit does not go with --follow/);
});
