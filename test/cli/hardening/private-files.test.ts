/**
 * PREFECT_HOME, the store files, storage/ and result files are private to the user (0700/0600),
 * and ones left open by an older flowctl are tightened on open with a one-line notice. Checked
 * with stat(1), through the real bin/flowctl.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../support/cli.ts";

const CACHED = `
import { flow, task } from "flowctl";
const compute = task({ cacheKeyFn: () => "fixed-key", persistResult: true }, function compute(x: number) { return x * 2; });
export const cached = flow({ name: "cached" }, async function cached() { return compute(21); });
`;

/** Octal permission bits as stat(1) prints them. */
function mode(path: string): string {
  return execFileSync("stat", ["-c", "%a", path], { encoding: "utf8" }).trim();
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), "flowctl-private-"));
  const home = join(root, "home");
  const file = join(root, "cached.ts");
  writeFileSync(file, CACHED);
  return { root, home, file, done: () => rmSync(root, { recursive: true, force: true }) };
}

test("a new PREFECT_HOME, its store files, storage/ and result files are created private", async () => {
  const t = setup();
  try {
    const r = await runCli(["run", t.file], { home: t.home, cwd: t.root });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /notice/);
    assert.equal(mode(t.home), "700");
    assert.equal(mode(join(t.home, "flowctl.db")), "600");
    for (const side of ["-wal", "-shm"]) {
      const f = join(t.home, "flowctl.db" + side);
      if (readdirSync(t.home).includes("flowctl.db" + side)) assert.equal(mode(f), "600", f);
    }
    assert.equal(mode(join(t.home, "storage")), "700");
    const results = readdirSync(join(t.home, "storage")).filter((n) => n.endsWith(".result"));
    assert.equal(results.length, 1);
    assert.equal(mode(join(t.home, "storage", results[0]!)), "600");
    // profile written by config set
    const c = await runCli(["config", "set", "PREFECT_TASK_DEFAULT_RETRIES=1"], { home: t.home, cwd: t.root });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(mode(join(t.home, "profile.json")), "600");
  } finally {
    t.done();
  }
});

test("a home left open by an older flowctl is made private on open, with one notice line per path", async () => {
  const t = setup();
  try {
    assert.equal((await runCli(["run", t.file], { home: t.home, cwd: t.root })).code, 0);
    const storage = join(t.home, "storage");
    const result = join(storage, readdirSync(storage).find((n) => n.endsWith(".result"))!);
    const db = join(t.home, "flowctl.db");
    for (const [p, m] of [[t.home, 0o755], [db, 0o644], [storage, 0o755], [result, 0o644]] as const) chmodSync(p, m);
    const r = await runCli(["run", t.file], { home: t.home, cwd: t.root });
    assert.equal(r.code, 0, r.stderr);
    const notices = r.stderr.split("\n").filter((l) => l.startsWith("flowctl: notice:"));
    assert.deepEqual(
      notices.sort(),
      [
        `flowctl: notice: ${t.home} was open to other users (mode 0755); made it private (0700)`,
        `flowctl: notice: ${db} was open to other users (mode 0644); made it private (0600)`,
        `flowctl: notice: ${storage} was open to other users (mode 0755); made it private (0700)`,
      ].sort(),
    );
    assert.match(r.stderr, /Finished in state Cached/);
    assert.equal(mode(t.home), "700");
    assert.equal(mode(db), "600");
    assert.equal(mode(storage), "700");
    assert.equal(mode(result), "600");
    // tightened once: the next run says nothing
    const again = await runCli(["run", t.file], { home: t.home, cwd: t.root });
    assert.doesNotMatch(again.stderr, /notice/);
  } finally {
    t.done();
  }
});
