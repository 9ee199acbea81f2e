/**
 * Following a large run in the terminal: a live status line only when stderr is a TTY (under
 * `script`, which gives the child a pty), the summary line always, one INFO line per `.map`
 * call (each run's at DEBUG), engine decisions at DEBUG, one cancellation line per task on
 * Ctrl-C, and no MaxListenersExceededWarning for a `.map` waiting on a tag limit.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ROOT, runCli, spawnCli } from "../support/cli.ts";

const FIXTURE = join(ROOT, "test/fixtures/progress/mapped.ts");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function home(): string {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-progress-"));
  dirs.push(dir);
  return join(dir, "home");
}
const SUMMARY = /\| Flow run '[a-z-]+' - 200 task runs: 198 Completed, 2 Failed in \d+(\.\d)? s$/m;

function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("progress in the terminal", { concurrency: 3 }, () => {
  test("piped: no status line, one line per .map call, the summary line last", async () => {
    const r = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=200", "--param", "fail=[3,150]"], { home: home() });
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b\[2K|\r/, "no terminal control sequences in a pipe");
    assert.doesNotMatch(r.stderr, /completed, \d+ running/);
    const lines = r.stderr.trimEnd().split("\n");
    assert.match(lines.at(-1)!, SUMMARY);
    assert.equal(lines.filter((l) => l.includes("Submitted 200 task runs of task 'get-url' for execution ('get-url-0' … 'get-url-199').")).length, 1);
    assert.equal(lines.filter((l) => /Created task run|Submitted task run/.test(l)).length, 0, "per-run lines are DEBUG");
    assert.equal(lines.filter((l) => / - Finished in state /.test(l)).length, 201);
  });

  test("--log-level DEBUG: every run's own lines, and the engine's decisions", async () => {
    const r = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=200", "--param", "fail=[3,150]", "--log-level", "DEBUG"], { home: home() });
    assert.equal(r.code, 1, r.stderr);
    assert.equal((r.stderr.match(/DEBUG   \| Flow run '[a-z-]+' - Created task run 'get-url-\d+' for task 'get-url'/g) ?? []).length, 200);
    assert.equal((r.stderr.match(/DEBUG   \| Flow run '[a-z-]+' - Submitted task run 'get-url-\d+' for execution\./g) ?? []).length, 200);
    assert.match(r.stderr, /DEBUG   \| Flow run '[a-z-]+' - Task runner: ConcurrentTaskRunner \(the default\)/);
    assert.match(r.stderr, /DEBUG   \| Task run 'get-url-0' - (Results not persisted|No cache key|Cache key [0-9a-f]+: miss)/);
    assert.match(r.stderr, SUMMARY);
  });

  test("on a terminal: the status line redrawn in place, then the summary", { skip: !hasScript() && "no script(1)" }, async () => {
    const h = home();
    const cmd = `stty cols 100 2>/dev/null; '${process.execPath}' '${BIN}' run '${FIXTURE}:mapped' --param n=200 --param 'fail=[3,150]'`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn("script", ["-qec", cmd, "/dev/null"], {
        cwd: ROOT, env: { ...process.env, PREFECT_HOME: h, NO_COLOR: "1", TERM: "xterm" }, stdio: ["pipe", "pipe", "pipe"],
      });
      let text = "";
      child.stdout.on("data", (d) => (text += d));
      child.on("error", reject);
      child.on("close", () => resolve(text));
      child.stdin.end();
    });
    const frames = out.split("\r\x1b[2K").map((f) => f.split(/\r?\n/)[0]!);
    const status = frames.filter((f) => /^get-url: \d+\/200 completed/.test(f));
    assert.ok(status.length >= 2, out.slice(0, 2000));
    for (const s of status) {
      assert.match(s, /^get-url: \d+\/200 completed( \(\d+ failed\))?, \d+ running, \d+ pending · \d+(\.\d)? s$/);
      assert.ok(s.length <= 99, `fits the 100 columns: ${s}`);
    }
    assert.ok(status.some((s) => s.startsWith("get-url: 200/200 completed (2 failed), 0 running, 0 pending")), status.join("\n"));
    assert.match(out.replace(/\r/g, ""), SUMMARY);
    assert.ok(out.endsWith("\r\x1b[2K") || !out.slice(out.lastIndexOf("\n")).includes("completed,"), "the line is erased at the end");
  });

  test(".map under a tag limit: no MaxListenersExceededWarning; Ctrl-C prints one line per task", async () => {
    const h = home();
    const made = await runCli(["concurrency-limit", "create", "progress-io", "3"], { home: h });
    assert.equal(made.code, 0, made.stderr);
    const child = spawnCli(["run", `${FIXTURE}:limited`, "--param", "n=200", "--param", "ms=30"], { home: h });
    let stderr = "";
    let interrupted = false;
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    child.stderr!.on("data", (d) => {
      stderr += d;
      // some runs finished, most still wait for a slot: interrupt now
      if (!interrupted && (stderr.match(/Finished in state Completed/g) ?? []).length >= 6) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    assert.equal(await exited, 130, stderr);
    assert.doesNotMatch(stderr, /MaxListenersExceededWarning/);
    const waits = stderr.split("\n").filter((l) => l.includes("Waiting for a concurrency slot"));
    assert.equal(waits.length, 1, waits.join("\n"));
    assert.match(waits[0]!, /INFO    \| Task run 'tagged-work-\d+' - Waiting for a concurrency slot for tag 'progress-io' \(limit 3\); other runs of this tagged-work\.map\(\) that wait are logged at DEBUG$/);
    const cancelled = stderr.split("\n").filter((l) => /Finished in state Cancelled/.test(l) && l.includes("Task run"));
    assert.deepEqual(cancelled, [], "no line per cancelled run");
    const m = /WARNING \| Flow run '[a-z-]+' - (\d+) task runs of task 'tagged-work' cancelled: Flow run was cancelled by SIGINT \(interrupt\)\.$/m.exec(stderr);
    assert.ok(m, stderr);
    const done = (stderr.match(/Task run 'tagged-work-\d+' - Finished in state Completed/g) ?? []).length;
    assert.match(stderr, new RegExp(`200 task runs: ${done} Completed, ${m[1]} Cancelled in \\d`));
    assert.equal(done + Number(m[1]), 200);
  });
});
