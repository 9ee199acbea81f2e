/**
 * `flowctl cache ls` and `flowctl cache clear`, through the real bin/flowctl on a temp
 * PREFECT_HOME. Entries come from a real `flowctl run`, plus ones written with a past clock
 * (expired) and damaged files.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../support/cli.ts";
import { SETTINGS } from "../../src/settings/schema.ts";
import { ResultStorage } from "../../src/results/storage.ts";
import { formatExpiry, formatSize } from "../../src/cli/cache.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/caching/", import.meta.url));
const CLEAN_ENV = Object.fromEntries(
  SETTINGS.filter((s) => s.key !== "PREFECT_HOME").map((s) => [s.key, undefined]),
) as Record<string, string | undefined>;

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

interface LsEntry {
  key: string;
  taskName: string;
  taskKey: string;
  size: number;
  created: string;
  expires: string | null;
  expired: boolean;
  file: string;
}

function sandbox() {
  const root = mkdtempSync(join(tmpdir(), "flowctl-cache-cli-"));
  roots.push(root);
  const home = join(root, "home");
  mkdirSync(home);
  const storagePath = join(home, "storage");
  const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, env: { ...CLEAN_ENV, ...env } });
  const ls = async () => {
    const r = await run(["cache", "ls", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as LsEntry[];
  };
  /** Entries written an hour ago with a 60 s expiry: expired now. */
  const writeExpired = async (taskName: string, n: number) => {
    const past = new ResultStorage(storagePath, () => Date.now() - 3_600_000);
    for (let i = 0; i < n; i++) await past.write(`${taskName}-old:${i}`, { i }, { expiration: 60, taskName, taskKey: `${taskName}-old` });
  };
  return { root, home, storagePath, run, ls, writeExpired };
}

/** One `flowctl run` of the fixture: entries for tasks `square` (never expires) and `label` (1 h). */
async function populated() {
  const s = sandbox();
  const r = await s.run(["run", join(FIXTURES, "counted.ts")]);
  assert.equal(r.code, 0, r.stderr);
  await s.writeExpired("label", 2);
  writeFileSync(join(s.storagePath, `${"0".repeat(64)}.result`), "damaged");
  return s;
}

describe("flowctl cache", { concurrency: 3 }, () => {
  test("ls on an empty store says so; --json prints []", async () => {
    const s = sandbox();
    const r = await s.run(["cache", "ls"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `No cached results in ${s.storagePath}.\n`);
    assert.deepEqual(await s.ls(), []);
  });

  test("ls: a table of key, task, size and expiry; --json has the same entries (damaged files left out)", async () => {
    const s = await populated();
    const entries = await s.ls();
    assert.deepEqual(entries.map((e) => [e.taskName, e.expired]).sort(), [
      ["label", false], ["label", true], ["label", true], ["square", false],
    ]);
    const square = entries.find((e) => e.taskName === "square")!;
    assert.match(square.key, /^square-[0-9a-f]{12}:[0-9a-f]{64}$/);
    assert.equal(square.taskKey, square.key.split(":")[0]);
    assert.equal(square.expires, null);
    assert.ok(square.size > 48);
    assert.equal(readdirSync(s.storagePath).includes(square.file.slice(s.storagePath.length + 1)), true);
    const fresh = entries.find((e) => e.taskName === "label" && !e.expired)!;
    const ttl = Date.parse(fresh.expires!) - Date.parse(fresh.created);
    assert.equal(ttl, 3_600_000);

    const r = await s.run(["cache", "ls"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^┌─/);
    assert.match(lines[1]!, /^│ Key +│ Task +│ Size +│ Expires +│$/);
    // keys are shown as the first 8 characters of their hash (whole with --wide)
    const row = (e: LsEntry) => lines.find((l) => l.includes(`│ ${e.key.split(":")[1]!.slice(0, 8)}… `));
    assert.match(row(square) ?? "", new RegExp(`│ square +│ ${formatSize(square.size)} +│ never +│$`));
    assert.match(row(fresh) ?? "", /│ label +│ \d+ B +│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in (59m|1h)\) +│$/);
    assert.equal(lines.filter((l) => l.includes("(expired)")).length, 2);
    assert.equal(lines.at(-1), `4 cached results in ${s.storagePath}`);
  });

  test("clear --task NAME removes only that task's entries", async () => {
    const s = await populated();
    const r = await s.run(["cache", "clear", "--task", "label"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Removed 3 cached results of task 'label' from ${s.storagePath}.\n`);
    assert.deepEqual((await s.ls()).map((e) => e.taskName), ["square"]);
    const none = await s.run(["cache", "clear", "--task", "nosuchtask"]);
    assert.equal(none.stdout, `Removed 0 cached results of task 'nosuchtask' from ${s.storagePath}.\n`);
  });

  test("clear --expired removes expired and unreadable entries and keeps the rest", async () => {
    const s = await populated();
    const r = await s.run(["cache", "clear", "--expired"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Removed 3 expired cached results from ${s.storagePath}.\n`);
    assert.deepEqual((await s.ls()).map((e) => [e.taskName, e.expired]).sort(), [["label", false], ["square", false]]);
    assert.equal(readdirSync(s.storagePath).length, 2);
    const again = await s.run(["cache", "clear", "--expired", "--task", "label"]);
    assert.equal(again.stdout, `Removed 0 expired cached results of task 'label' from ${s.storagePath}.\n`);
  });

  test("clear removes everything, and the next run computes again", async () => {
    const s = await populated();
    const r = await s.run(["cache", "clear"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Removed 5 cached results from ${s.storagePath}.\n`);
    assert.deepEqual(readdirSync(s.storagePath), []);
    const next = await s.run(["run", join(FIXTURES, "counted.ts")]);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, /body ran: square\(3\)/);
    assert.doesNotMatch(next.stderr, /Cached/);
  });

  test("PREFECT_LOCAL_STORAGE_PATH moves the storage the commands read", async () => {
    const s = sandbox();
    const elsewhere = join(s.root, "elsewhere");
    const env = { PREFECT_LOCAL_STORAGE_PATH: elsewhere };
    assert.equal((await s.run(["run", join(FIXTURES, "counted.ts")], env)).code, 0);
    assert.deepEqual(await s.ls(), []);
    const r = await s.run(["cache", "ls", "--json"], env);
    assert.equal((JSON.parse(r.stdout) as LsEntry[]).length, 2);
    assert.equal((await s.run(["cache", "clear"], env)).stdout, `Removed 2 cached results from ${elsewhere}.\n`);
  });

  test("bad usage exits 2 with one line", async () => {
    const s = sandbox();
    const empty = await s.run(["cache", "clear", "--task", ""]);
    assert.equal(empty.code, 2);
    assert.equal(empty.stderr, "flowctl: error: --task expects a task name, got ''\n");
    const missing = await s.run(["cache", "clear", "--task"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^flowctl: error: option '--task <name>' argument missing\n$/);
    const unknown = await s.run(["cache", "purge"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'purge'/);
  });
});

describe("cache ls formatting", () => {
  test("sizes and expiry", () => {
    assert.equal(formatSize(0), "0 B");
    assert.equal(formatSize(1023), "1023 B");
    assert.equal(formatSize(1536), "1.5 KiB");
    assert.equal(formatSize(300 * 1024), "300 KiB");
    assert.equal(formatSize(5 * 1024 * 1024), "5.0 MiB");
    const now = new Date(2030, 5, 1, 12, 0, 0).getTime();
    assert.equal(formatExpiry(null, now), "never");
    assert.equal(formatExpiry(now + 90_000, now), "2030-06-01 12:01:30 (in 1m)");
    assert.equal(formatExpiry(now + 30_000, now), "2030-06-01 12:00:30 (in 30s)");
    assert.equal(formatExpiry(now + 3 * 86_400_000, now), "2030-06-04 12:00:00 (in 3d)");
    assert.equal(formatExpiry(now, now), "2030-06-01 12:00:00 (expired)");
  });
});
