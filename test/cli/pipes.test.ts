/**
 * Complete output on pipes: more than 1 MiB read through a slow reader is byte for byte what
 * the same command writes to a file; a reader that goes away (EPIPE) ends the run quietly with
 * its own exit code.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ROOT } from "../support/cli.ts";

const MiB = 1024 * 1024;
let dir = "";
let home = "";
let runId = "";

function env(): NodeJS.ProcessEnv {
  const e: Record<string, string | undefined> = { ...process.env, PREFECT_HOME: home, NO_COLOR: "1", CI: "true" };
  delete e.FORCE_COLOR;
  return e as NodeJS.ProcessEnv;
}

/** stdout and stderr redirected to files. */
function toFiles(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> {
  const out = join(dir, `out-${Math.random()}`);
  const err = join(dir, `err-${Math.random()}`);
  const fo = openSync(out, "w");
  const fe = openSync(err, "w");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: env(), stdio: ["ignore", fo, fe] });
    child.on("error", reject);
    child.on("close", (code) => {
      closeSync(fo);
      closeSync(fe);
      resolve({ code, stdout: readFileSync(out), stderr: readFileSync(err) });
    });
  });
}

/** stdout and stderr read through pipes by a reader that takes a chunk every `delayMs`. */
function throughSlowPipes(args: string[], delayMs = 15): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: env(), stdio: ["ignore", "pipe", "pipe"] });
    const read = (stream: NodeJS.ReadableStream, into: Buffer[]) =>
      new Promise<void>((done) => {
        stream.on("data", (d: Buffer) => {
          into.push(d);
          stream.pause();
          setTimeout(() => stream.resume(), delayMs);
        });
        stream.on("end", done);
      });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const reads = Promise.all([read(child.stdout!, out), read(child.stderr!, err)]);
    child.on("error", reject);
    child.on("exit", (code) => {
      void reads.then(() => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-pipes-"));
  home = join(dir, ".home");
  cpSync(join(ROOT, "test/fixtures/pipes"), dir, { recursive: true });
  const r = await toFiles(["run", "big.ts", "--param", "tasks=2000", "--param", "resultKb=1", "--json"]);
  assert.equal(r.code, 0, r.stderr.toString());
  runId = JSON.parse(r.stdout.toString()).id;
});

after(() => rmSync(dir, { recursive: true, force: true }));

for (const [what, args] of [
  ["runs logs RUN", () => ["runs", "logs", runId]],
  ["tasks ls --json", () => ["tasks", "ls", "--json", "--limit", "5000"]],
  ["runs inspect RUN --json", () => ["runs", "inspect", runId, "--json", "--limit", "5000"]],
] as const) {
  test(`${what}: > 1 MiB through a slow pipe equals the file output`, { timeout: 120_000 }, async () => {
    const file = await toFiles(args());
    const pipe = await throughSlowPipes(args());
    assert.equal(file.code, 0, file.stderr.toString());
    assert.equal(pipe.code, 0, pipe.stderr.toString());
    assert.ok(file.stdout.length > MiB, `${what} wrote ${file.stdout.length} bytes`);
    assert.equal(pipe.stdout.length, file.stdout.length);
    assert.ok(pipe.stdout.equals(file.stdout));
    console.log(`# ${what}: ${pipe.stdout.length} bytes through the pipe, ${file.stdout.length} to the file`);
  });
}

test("run --json: a > 1 MiB result and > 1 MiB of log lines through slow pipes, nothing lost", { timeout: 120_000 }, async () => {
  const args = ["run", "big.ts", "--param", "tasks=2500", "--json"];
  const file = await toFiles(args);
  const pipe = await throughSlowPipes(args, 25);
  assert.equal(file.code, 0);
  assert.equal(pipe.code, 0);
  // same shape and size; only ids, names and times differ between the two runs
  assert.ok(pipe.stdout.length > MiB);
  assert.ok(Math.abs(pipe.stdout.length - file.stdout.length) < 200, `${pipe.stdout.length} vs ${file.stdout.length}`);
  assert.equal(JSON.parse(pipe.stdout.toString()).result.length, 1100 * 1024);
  assert.ok(pipe.stderr.length > MiB, `stderr ${pipe.stderr.length}`);
  const lines = (b: Buffer) => b.toString().trimEnd().split("\n");
  assert.equal(lines(pipe.stderr).length, lines(file.stderr).length);
  assert.match(lines(pipe.stderr).at(-2)!, /Finished in state Completed\(\)$/);
  assert.match(lines(pipe.stderr).at(-1)!, / - 2500 task runs: 2500 Completed in \d/);
  console.log(`# run --json: stdout ${pipe.stdout.length} (pipe) vs ${file.stdout.length} (file) bytes; stderr ${pipe.stderr.length} vs ${file.stderr.length} bytes, ${lines(pipe.stderr).length} lines each`);
});

test("a reader that goes away (| head -1): quiet, the flow's own exit code, the run recorded", { timeout: 120_000 }, () => {
  for (const [fail, expected] of [["false", 0], ["true", 1]] as const) {
    const sh = `"${process.execPath}" "${BIN}" run big.ts --param tasks=300 --param resultKb=1 --param fail=${fail} 2>&1 | head -1; echo "exit=\${PIPESTATUS[0]}"`;
    const r = spawnSync("bash", ["-c", sh], { cwd: dir, env: env(), encoding: "utf8", timeout: 100_000 });
    const out = r.stdout.trim().split("\n");
    assert.equal(out.length, 2, r.stdout);
    assert.match(out[0]!, /Created flow run '[a-z]+-[a-z]+-[a-z]+' for flow 'big'/);
    assert.equal(out[1], `exit=${expected}`);
    assert.equal(r.stderr, "");
  }
  const ls = spawnSync(process.execPath, [BIN, "runs", "ls", "--json", "--limit", "2"], { cwd: dir, env: env(), encoding: "utf8" });
  const runs = JSON.parse(ls.stdout) as { state: { type: string } }[];
  assert.deepEqual(runs.map((r) => r.state.type), ["FAILED", "COMPLETED"]);
});
