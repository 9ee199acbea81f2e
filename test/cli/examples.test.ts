import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, ROOT } from "../support/cli.ts";

function home() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-examples-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const strip = (stderr: string) => stderr.trim().split("\n").map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} \| /, ""));

test("repo_info: the seed's first example, offline, line for line", async () => {
  const h = home();
  try {
    const r = await runCli(["run", "workflows/repo_info.ts"], { home: h.dir });
    assert.equal(r.code, 0, r.stderr);
    const lines = strip(r.stderr);
    const name = /flow run '([a-z]+-[a-z]+-[a-z]+)'/.exec(lines[0]!)?.[1];
    assert.ok(name, lines[0] ?? "no output");
    assert.match(lines.at(-1)!, new RegExp(`^INFO    \\| Flow run '${name}' - 1 task run: 1 Completed in \\d+(\\.\\d)? s$`));
    assert.deepEqual(lines.slice(0, -1), [
      `INFO    | flowctl.engine - Created flow run '${name}' for flow 'get-repo-info'`,
      `INFO    | Flow run '${name}' - Created task run 'getUrl-0' for task 'getUrl'`,
      `INFO    | Flow run '${name}' - Executing 'getUrl-0' immediately...`,
      `INFO    | Task run 'getUrl-0' - Finished in state Completed()`,
      `INFO    | Flow run '${name}' - PrefectHQ/prefect repository statistics 🤓:`,
      `INFO    | Flow run '${name}' - Stars 🌠 : 12157`,
      `INFO    | Flow run '${name}' - Forks 🍴 : 1251`,
      `INFO    | Flow run '${name}' - Finished in state Completed('All states completed.')`,
    ]);
  } finally {
    h.cleanup();
  }
});

test("retries example: 503s are retried, 401 and 404 are not", async () => {
  const h = home();
  try {
    const r = await runCli(["run", "workflows/retries.ts"], { home: h.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /getDataTask-0' - Task run failed with exception: HttpStatusError: HTTP 503 .* - Retry 1\/2 will start 0\.5 second\(s\) from now/);
    assert.match(r.stderr, /getDataTask answered after retries: \{"ok":true,"attempts":3\}/);
    assert.match(r.stderr, /status 503: Failed after 2 attempt\(s\)/);
    assert.match(r.stderr, /status 401: Failed after 1 attempt\(s\)/);
    assert.match(r.stderr, /status 404: Failed after 1 attempt\(s\)/);
    assert.match(r.stderr, /Retry condition not met/);
  } finally {
    h.cleanup();
  }
});

test("a workflow file runs directly with tsx behind isMain, and only once", () => {
  const h = home();
  try {
    const r = spawnSync(process.execPath, ["--import", "tsx", "workflows/hello.ts"], {
      cwd: ROOT,
      env: { ...process.env, PREFECT_HOME: h.dir, NO_COLOR: "1" },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/Created flow run/g)?.length, 1);
    assert.match(r.stderr, /HELLO, world!/);
  } finally {
    h.cleanup();
  }
});

test("repo_issues run twice offline: the second run answers every getUrl from the cache, the stand-in sees no request", async () => {
  const h = home();
  const { readFileSync, existsSync } = await import("node:fs");
  try {
    const record = (n: number) => join(h.dir, `requests-${n}.jsonl`);
    const first = await runCli(["run", "workflows/repo_issues.ts"], { home: h.dir, env: { STUB_GITHUB_RECORD_FILE: record(1) } });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(readFileSync(record(1), "utf8").trim().split("\n").length, 7);
    const second = await runCli(["run", "workflows/repo_issues.ts"], { home: h.dir, env: { STUB_GITHUB_RECORD_FILE: record(2) } });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr.match(/Task run 'getUrl-\d' - Finished in state Cached\(type=COMPLETED\)/g)?.length, 7, second.stderr);
    assert.ok(!existsSync(record(2)) || readFileSync(record(2), "utf8").trim() === "", "the stand-in saw requests");
    const figures = (s: string) => s.match(/(Stars|Forks|Average open issues per user) .*$/gm);
    assert.deepEqual(figures(second.stderr), figures(first.stderr));
  } finally {
    h.cleanup();
  }
});
