// A full disk under PREFECT_HOME (a real one: a 4 MB tmpfs mounted there, filled to the last
// byte), through the real CLI: `flowctl run` says in one error line that the run's rows could be
// written neither to the store nor to the journal — "no space left on device", naming both
// paths — and exits 1; the SQLite store is not corrupted (PRAGMA integrity_check) and the runs
// recorded before are still listed, while the disk is full and after. Needs root (mount); the
// test is skipped, saying so, where mounting is not allowed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { runCli } from "../support/cli.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/faults/fault-flow.ts", import.meta.url));

function tryMount(dir: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}

/** Fill the filesystem to the last byte. */
function fill(file: string): number {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  let total = 0;
  try {
    for (let size = chunk.length; size > 0; ) {
      try {
        total += writeSync(fd, chunk, 0, size);
      } catch {
        size = size >> 1; // ENOSPC: smaller pieces until not one byte fits
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.pragma("integrity_check") as { integrity_check: string }[]).map((r) => r.integrity_check).join(",");
  } finally {
    db.close();
  }
}

test("a full disk: one error line naming the paths, exit 1, the store intact and its earlier runs readable", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-full-"));
  const home = join(dir, "home");
  mkdirSync(home);
  copyFileSync(FIXTURE, join(dir, "fault-flow.ts"));
  const why = tryMount(home);
  if (why !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (${why})`);
    return;
  }
  const cli = (args: string[]) => runCli(args, { home, cwd: dir });
  const store = join(home, "flowctl.db");
  try {
    const first = await cli(["run", "fault-flow.ts", "--params", '{"n":20}']);
    assert.equal(first.code, 0, first.stderr);
    const filled = fill(join(home, "filler"));

    const full = await cli(["run", "fault-flow.ts", "--params", '{"n":200}']);
    assert.equal(full.code, 1, full.stderr.slice(-2000));
    const errors = full.stderr.split("\n").filter((l) => l.startsWith("flowctl: error:"));
    assert.equal(errors.length, 1, full.stderr.slice(-2000));
    assert.match(errors[0]!, /no space left on device/);
    assert.ok(errors[0]!.includes(store), errors[0]!);
    assert.ok(errors[0]!.includes(join(home, "journal")), errors[0]!);
    assert.match(errors[0]!, /^flowctl: error: 1 flow run and 200 task runs \(\d+ states, \d+ log lines\) are not recorded: /);
    assert.doesNotMatch(full.stderr, /Uncaught|at .*\.js:\d+/);

    assert.equal(integrity(store), "ok");
    const ls = await cli(["runs", "ls", "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    const runs = JSON.parse(ls.stdout) as { state: { type: string }; taskCounts: Record<string, number> }[];
    assert.ok(runs.some((r) => r.state.type === "COMPLETED" && r.taskCounts.COMPLETED === 20), ls.stdout);
    assert.ok(!runs.some((r) => r.state.type === "RUNNING"), "no run left Running");

    rmSync(join(home, "filler"));
    const after = await cli(["runs", "ls", "--json"]);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(integrity(store), "ok");
    const again = await cli(["run", "fault-flow.ts", "--params", '{"n":20}']);
    assert.equal(again.code, 0, again.stderr);
    console.log(`full disk (tmpfs 4 MB, ${filled} bytes of filler): exit ${full.code}, one error line; integrity_check ok; ${runs.length} earlier run(s) listed; a run after freeing space exits 0`);
  } finally {
    try {
      execFileSync("umount", [home], { stdio: "pipe" });
    } catch {
      execFileSync("umount", ["-l", home], { stdio: "pipe" });
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
