/**
 * A store another process holds locked (a real second process: a child holding `BEGIN
 * EXCLUSIVE` through better-sqlite3): after 2 s flowctl says which file and which process
 * (pid and command line) holds it, keeps waiting up to PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS,
 * then fails with one line naming the file, the holder and the setting; released meanwhile, the
 * command goes on. The setting is checked by its range.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runCli, spawnCli } from "../../support/cli.ts";

const HOLDER = `
const Database = require(${JSON.stringify(join(ROOT, "node_modules/better-sqlite3"))});
const db = new Database(process.argv[2]);
db.exec("BEGIN EXCLUSIVE");
process.stdout.write("locked\\n");
process.stdin.on("data", () => { db.exec("COMMIT"); db.close(); process.stdout.write("released\\n"); });
setInterval(() => {}, 1000);
`;

function temp() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-locked-"));
  const home = join(dir, "home");
  writeFileSync(join(dir, "hold-lock.cjs"), HOLDER);
  return { dir, home, db: join(home, "flowctl.db"), done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A child process holding the store's write lock until told to release it (a line on its stdin). */
async function holdLock(dir: string, db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(dir, "hold-lock.cjs"), db], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("locked")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return child;
}

test("a locked store: who holds it after 2 s, then one line naming the file and the setting", { timeout: 60_000 }, async () => {
  const t = temp();
  let holder: ChildProcess | undefined;
  try {
    const env = { PREFECT_API_DATABASE_CONNECTION_URL: undefined };
    const made = await runCli(["concurrency-limit", "create", "db", "2"], { home: t.home, env });
    assert.equal(made.code, 0, made.stderr);
    holder = await holdLock(t.dir, t.db);
    const pid = holder.pid!;

    const r = await runCli(["concurrency-limit", "create", "api", "1"], { home: t.home, env: { ...env, PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS: "3" } });
    assert.equal(r.code, 1, r.stderr);
    const who = `process ${pid} (${process.execPath} ${join(t.dir, "hold-lock.cjs")} ${t.db})`;
    assert.equal(
      r.stderr,
      `flowctl: the run store ${t.db} is locked by ${who}; waiting up to 3 s (PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS)\n` +
        `flowctl: error: The run store ${t.db} stayed locked for 3 s by ${who}; stop that process or wait longer with PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS\n`,
    );

    // released while the command waits: it goes on and succeeds
    const cmd = spawnCli(["concurrency-limit", "create", "api", "1"], { home: t.home });
    let err = "";
    const closed = once(cmd, "close") as Promise<[number | null]>;
    await new Promise<void>((resolve) => {
      cmd.stderr.on("data", (d) => {
        err += d;
        if (err.includes("is locked by")) resolve();
      });
    });
    assert.match(err, new RegExp(`^flowctl: the run store .* is locked by process ${pid} .*; waiting up to 30 s \\(PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS\\)\\n$`));
    holder.stdin!.write("release\n");
    const [code] = await closed;
    assert.equal(code, 0, err);
    const ls = await runCli(["concurrency-limit", "ls", "--json"], { home: t.home, env });
    assert.deepEqual((JSON.parse(ls.stdout) as { tag: string }[]).map((l) => l.tag), ["api", "db"]);
  } finally {
    holder?.kill();
    t.done();
  }
});

test("PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS is checked by its range", async () => {
  const t = temp();
  try {
    for (const bad of ["0", "-1", "100000", "soon"]) {
      const r = await runCli(["config", "set", `PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS=${bad}`], { home: t.home });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS.*expected a positive number of seconds from 0\.1 to 86400/);
    }
    const ok = await runCli(["config", "set", "PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS=5"], { home: t.home });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    t.done();
  }
});
