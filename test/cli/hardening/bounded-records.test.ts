/**
 * Bounded records: a task called with a 100 MB string, failing with a 100 MB message and logging
 * a 100 MB line leaves a small store (each value cut at PREFECT_STORE_MAX_VALUE_BYTES with a
 * marker saying how much was cut); the API serves bounded answers — also for an older store's
 * unbounded row — with the server's memory staying sane; `--params` nested deeper than 100
 * levels is a usage error. Through the real bin/flowctl.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli, BIN, ROOT } from "../../support/cli.ts";

const MB = 1024 * 1024;
const FLOW = `
import { flow, task, getRunLogger } from "flowctl";
const big = "x".repeat(100 * ${MB});
const take = task(function take(text: string) {
  getRunLogger().info("line " + text);
  throw new Error("boom " + text);
});
export const huge = flow({ name: "huge" }, async function huge() {
  await take(big);
});
`;

let dir: string;
let home: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-bounded-"));
  home = join(dir, "home");
  writeFileSync(join(dir, "huge.ts"), FLOW);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function dbBytes(): number {
  let n = 0;
  for (const side of ["", "-wal"]) {
    try {
      n += statSync(join(home, "flowctl.db" + side)).size;
    } catch {
      // no WAL left
    }
  }
  return n;
}

test("a 100 MB parameter, error and log line are stored cut, with a marker; the store stays small", async () => {
  const r = await runCli(["run", join(dir, "huge.ts")], { home, cwd: dir, timeoutMs: 240_000 });
  assert.equal(r.code, 1, r.stderr.slice(0, 2000));
  assert.ok(r.stderr.length < 2 * MB, `console output is bounded too: ${r.stderr.length} bytes`);
  assert.ok(dbBytes() < 4 * MB, `store is ${dbBytes()} bytes`);
  const db = new Database(join(home, "flowctl.db"), { readonly: true });
  try {
    const task = db.prepare("SELECT parameters, state_message FROM task_runs").get() as { parameters: string; state_message: string };
    const text = (JSON.parse(task.parameters) as { text: string }).text;
    assert.ok(text.length < 70 * 1024, `parameter kept ${text.length} chars`);
    assert.match(text, /^x{65536}… \[truncated: 99\.9 MiB of 100\.0 MiB cut\]$/);
    assert.match(task.state_message, /boom x+… \[truncated: 99\.9 MiB of 100\.0 MiB cut\]/);
    const error = (db.prepare("SELECT error FROM run_states WHERE error IS NOT NULL").get() as { error: string }).error;
    assert.ok(error.length < 200 * 1024, `error text kept ${error.length} chars`);
    const line = (db.prepare("SELECT message FROM logs WHERE message LIKE 'line %'").get() as { message: string }).message;
    assert.match(line, /^line x+… \[truncated: 99\.9 MiB of 100\.0 MiB cut\]$/);
  } finally {
    db.close();
  }
});

test("the API serves bounded answers, even for an older store's unbounded row, in sane memory", async () => {
  // a row as a flowctl without limits wrote it: a 30 MB parameter in the store
  const db = new Database(join(home, "flowctl.db"));
  const id = (db.prepare("SELECT id FROM flow_runs LIMIT 1").get() as { id: string }).id;
  const taskId = (db.prepare("SELECT id FROM task_runs LIMIT 1").get() as { id: string }).id;
  db.prepare("UPDATE task_runs SET parameters = ? WHERE id = ?").run(JSON.stringify({ text: "y".repeat(30 * MB) }), taskId);
  db.close();

  const child = spawn(process.execPath, [BIN, "server", "start", "--port", "0"], { cwd: ROOT, env: { ...process.env, PREFECT_HOME: home, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = out.match(/flowctl UI: (\S+)/);
        if (m) resolve(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    for (const path of [`/api/flow-runs/${id}`, `/api/flow-runs/${id}/logs`, `/api/task-runs/${taskId}`, `/api/task-runs?flowRun=${id}`, "/api/flow-runs"]) {
      for (let i = 0; i < 3; i++) {
        const body = await (await fetch(url + path)).text();
        assert.ok(body.length < 1 * MB, `${path} answered ${body.length} bytes`);
      }
    }
    const detail = (await (await fetch(`${url}/api/task-runs/${taskId}`)).json()) as { taskRun: { parameters: unknown } };
    assert.match(String(detail.taskRun.parameters), /… \[truncated: 29\.9 MiB of 30\.0 MiB cut\]$/);
    const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
    assert.ok(peak < 400, `server peak memory ${peak.toFixed(0)} MB`);
    process.stdout.write(`# server peak memory (VmHWM): ${peak.toFixed(0)} MB\n`);
  } finally {
    child.kill("SIGTERM");
  }
});

test("--params nested deeper than 100 levels is a usage error (exit 2), nothing run", async () => {
  const deep = "[".repeat(60_000) + "]".repeat(60_000);
  const h = join(dir, "deep-home");
  for (const [json, code] of [[`{"a":${deep}}`, 2], [`{"a":${"[".repeat(99)}${"]".repeat(99)}}`, 0]] as const) {
    const r = await runCli(["run", "workflows/hello.ts", "--params", json.replace('"a"', '"name"')], { home: h });
    if (code === 2) {
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim(), "flowctl: error: --params is nested more than 100 levels deep; flatten it");
    } else {
      assert.equal(r.code, 0, r.stderr);
    }
  }
});
