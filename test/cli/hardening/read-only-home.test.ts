/**
 * A read-only PREFECT_HOME, made truly read-only: as root (whom file modes do not stop) by a
 * read-only bind mount of the folder over itself, unmounted in `finally`; as another user by
 * taking the write bits away. Reading commands work on it — runs ls, runs inspect, runs logs,
 * tasks ls and the UI server, both while SQLite's -shm file is there and after a clean close
 * removed it — and commands that must write say so in one line naming the file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { ROOT, runCli, spawnCli } from "../../support/cli.ts";

const HELLO = join(ROOT, "workflows/hello.ts");
const ENV = { PREFECT_API_DATABASE_CONNECTION_URL: undefined, PREFECT_LOCAL_STORAGE_PATH: undefined };
const isRoot = process.getuid?.() === 0;

/** Make `dir` read-only for this process and its children; returns the undo. */
function makeReadOnly(dir: string): () => void {
  if (isRoot) {
    execFileSync("mount", ["--bind", dir, dir]);
    try {
      execFileSync("mount", ["-o", "remount,bind,ro", dir]);
    } catch (err) {
      execFileSync("umount", [dir]);
      throw err;
    }
    return () => execFileSync("umount", [dir]);
  }
  chmodSync(dir, 0o500);
  return () => chmodSync(dir, 0o700);
}

async function readingWorks(home: string, runName: string, runId: string) {
  const cli = (args: string[]) => runCli(args, { home, env: ENV });
  const ls = await cli(["runs", "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, new RegExp(`${runName} .*Completed`));
  const inspect = await cli(["runs", "inspect", runName]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /^Task runs \(2\):$/m);
  const logs = await cli(["runs", "logs", runId]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /Finished in state Completed\(\)/);
  const tasks = await cli(["tasks", "ls", "--flow-run", runId]);
  assert.equal(tasks.code, 0, tasks.stderr);
  assert.match(tasks.stdout, /greet-0/);

  // the UI server reads it too
  const server = spawnCli(["server", "start", "--port", "0"], { home, env: ENV as unknown as Record<string, string> });
  try {
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout.on("data", (d) => {
        out += d;
        const m = /flowctl UI: (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on("close", (code) => reject(new Error(`server exited ${code} before listening`)));
    });
    const { flowRuns } = (await (await fetch(`${url}/api/flow-runs`)).json()) as { flowRuns: { name: string }[] };
    assert.deepEqual(flowRuns.map((r) => r.name), [runName]);
    const detail = await fetch(`${url}/api/flow-runs/${runId}`);
    assert.equal(detail.status, 200);
  } finally {
    server.kill("SIGINT");
    await once(server, "close");
  }
}

test("a read-only PREFECT_HOME: reading commands and the UI work; writing commands say one line", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-rohome-"));
  const home = join(dir, "home");
  let undo: (() => void) | undefined;
  try {
    const ran = await runCli(["run", HELLO, "--json"], { home, env: ENV });
    assert.equal(ran.code, 0, ran.stderr);
    const { name, id } = JSON.parse(ran.stdout) as { name: string; id: string };

    undo = makeReadOnly(home);
    await readingWorks(home, name, id);

    const run = await runCli(["run", HELLO], { home, env: ENV });
    assert.equal(run.code, 2);
    const why = isRoot ? "its file system is read-only" : "permission denied";
    assert.equal(
      run.stderr,
      `flowctl: error: Cannot write the run store ${join(home, "flowctl.db")}: ${why}. Reading it still works (runs ls, runs inspect, runs logs, server start); ` +
        "to run flows, point PREFECT_HOME or PREFECT_API_DATABASE_CONNECTION_URL at a writable place\n",
    );
    const set = await runCli(["config", "set", "PREFECT_LOGGING_LEVEL=DEBUG"], { home, env: ENV });
    assert.equal(set.code, 2);
    assert.equal(set.stderr, `flowctl: error: Cannot write profile ${join(home, "profile.json")}: ${why}\n`);
    undo();
    undo = undefined;

    // a store closed cleanly has no -shm file, which SQLite needs to read a WAL-mode file
    const db = new Database(join(home, "flowctl.db"));
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    assert.deepEqual(readdirSync(home).filter((f) => f.startsWith("flowctl.db")), ["flowctl.db"]);
    undo = makeReadOnly(home);
    await readingWorks(home, name, id);
  } finally {
    undo?.();
    rmSync(dir, { recursive: true, force: true });
  }
});
