/**
 * CLI tables at 80 columns: every line fits, one line per row (cells are cut with `…`, never
 * wrapped), IDs and cache keys shortened unless --wide; an unknown --state exits 2 listing
 * the states.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { fitWidths } from "../../src/cli/fit-table.ts";

const dir = mkdtempSync(join(tmpdir(), "flowctl-tables-"));
const home = join(dir, "home");
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[], columns = "80") => runCli(args, { home, env: { COLUMNS: columns } });
let flowRunName = "";

before(async () => {
  const r = await runCli(["run", "workflows/repo_issues.ts", "--json"], { home });
  assert.equal(r.code, 0, r.stderr);
  flowRunName = JSON.parse(r.stdout).name;
});

/** The table's lines: borders and one line per row. */
function tableLines(out: string): string[] {
  return out.split("\n").filter((l) => /^[┌│└]/.test(l));
}

describe("tables fit the terminal", { concurrency: 4 }, () => {
  for (const args of [["tasks", "ls"], ["runs", "ls"], ["cache", "ls"], ["runs", "inspect", "NAME"]]) {
    test(`${args.join(" ")} at 80 columns: no line wider, no row wrapped, IDs shortened`, async () => {
      const r = await cli(args.map((a) => (a === "NAME" ? flowRunName : a)));
      assert.equal(r.code, 0, r.stderr);
      const lines = tableLines(r.stdout);
      assert.ok(lines.length >= 4, r.stdout);
      for (const l of lines) assert.ok([...l].length <= 80, `${[...l].length} columns: ${l}`);
      const rows = lines.filter((l) => l.startsWith("│")).length - 1;
      const expected = args[0] === "runs" && args[1] === "ls" ? 1 : 7; // one flow run, seven getUrl runs / cache entries
      assert.equal(rows, expected, r.stdout);
      assert.doesNotMatch(lines.join("\n"), /[0-9a-f]{12}/, "no full id or key");
      if (args[0] !== "runs" || args[1] !== "ls") assert.match(lines.join("\n"), /│ [0-9a-f]{8}… +│/);
    });
  }

  test("--wide shows whole IDs and keys", async () => {
    const tasks = await cli(["tasks", "ls", "--wide"], "400");
    const ids = (JSON.parse((await cli(["tasks", "ls", "--json"])).stdout) as { id: string }[]).map((t) => t.id);
    for (const id of ids) assert.ok(tasks.stdout.includes(id), id);
    const cache = await cli(["cache", "ls", "--wide"], "400");
    assert.equal(cache.stdout.match(/│ [0-9a-f]{64} +│/g)?.length, 7, cache.stdout);
  });

  test("an unknown --state exits 2 and lists the states", async () => {
    for (const cmd of [["runs", "ls"], ["tasks", "ls"]]) {
      const r = await cli([...cmd, "--state", "Nope"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^flowctl: error: --state got an unknown state 'Nope'; states are Scheduled, Pending, Running, Completed, Failed, .*TimedOut, NotReady \(names\) or SCHEDULED, .* \(types\)\n$/);
    }
    const ok = await cli(["runs", "ls", "--state", "completed", "--json"]);
    assert.equal(JSON.parse(ok.stdout).length, 1, "a known state in any case");
  });

  test("fitWidths: the widest column gives way first; a table that fits is left alone", () => {
    assert.deepEqual(fitWidths([10, 40, 12], 80), [10, 40, 12]);
    assert.deepEqual(fitWidths([10, 40, 30], 60), [10, 25, 25]);
    assert.deepEqual(fitWidths([8, 8, 8], 6), [6, 6, 6], "never below 6");
    assert.deepEqual(fitWidths([20, 20, 11], 40, new Set([2])), [14, 15, 11], "an ID column keeps its width while others can give");
  });
});
