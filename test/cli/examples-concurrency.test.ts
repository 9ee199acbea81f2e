/**
 * The seed's concurrency, generator and class-method examples, through the real CLI and run
 * directly with tsx. Concurrency is checked on the request times the example's own stub server
 * recorded (the six page requests were all in flight together), not on the test's clock.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runCli } from "../support/cli.ts";
import type { StubRequest } from "../../workflows/lib/stub-github.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "flowctl-ex-"));
  dirs.push(d);
  return d;
}

/** Log lines without their time stamp: `LEVEL   | source - message`. */
const strip = (stderr: string) => stderr.trim().split("\n").map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} \| /, ""));

/** `node --import tsx FILE` (what `npx tsx FILE` does), from the repository root. */
function runDirect(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("concurrency examples", { concurrency: 3 }, () => {
  test("repo_issues: six pages submitted at once, fetched concurrently, the seed's figures", async () => {
    const home = tempDir();
    const record = join(home, "requests.jsonl");
    const r = await runCli(["run", "workflows/repo_issues.ts"], { home, env: { STUB_GITHUB_RECORD_FILE: record } });
    assert.equal(r.code, 0, r.stderr);
    const lines = strip(r.stderr);
    const name = /flow run '([a-z]+-[a-z]+-[a-z]+)'/.exec(lines[0]!)?.[1];
    assert.ok(name, lines[0] ?? "no output");
    assert.equal(lines[0], `INFO    | flowctl.engine - Created flow run '${name}' for flow 'get-repo-info'`);
    assert.ok(lines.includes(`INFO    | Flow run '${name}' - Executing 'getUrl-0' immediately...`));
    const submitted = lines.filter((l) => / - Submitted task run 'getUrl-\d' for execution\.$/.test(l));
    assert.deepEqual(submitted, [1, 2, 3, 4, 5, 6].map((i) => `INFO    | Flow run '${name}' - Submitted task run 'getUrl-${i}' for execution.`));
    // every page was submitted before the first page finished
    const lastSubmitted = lines.indexOf(submitted.at(-1)!);
    const firstPageDone = lines.findIndex((l) => /Task run 'getUrl-[1-6]' - Finished in state Completed\(\)$/.test(l));
    assert.ok(lastSubmitted < firstPageDone, lines.join("\n"));
    assert.match(lines.at(-1)!, new RegExp(`^INFO    \\| Flow run '${name}' - 7 task runs: 7 Completed in \\d+(\\.\\d)? s$`));
    assert.deepEqual(lines.slice(-6, -1), [
      `INFO    | Flow run '${name}' - PrefectHQ/prefect repository statistics 🤓:`,
      `INFO    | Flow run '${name}' - Stars 🌠 : 12157`,
      `INFO    | Flow run '${name}' - Forks 🍴 : 1251`,
      `INFO    | Flow run '${name}' - Average open issues per user 💌 : 2.27`,
      `INFO    | Flow run '${name}' - Finished in state Completed('All states completed.')`,
    ]);

    const requests = readFileSync(record, "utf8").trim().split("\n").map((l) => JSON.parse(l) as StubRequest);
    const pages = requests.filter((q) => q.path === "/repos/PrefectHQ/prefect/issues");
    assert.deepEqual(pages.map((q) => Number(q.query.page)).sort(), [1, 2, 3, 4, 5, 6]);
    const stats = requests.find((q) => q.path === "/repos/PrefectHQ/prefect")!;
    // all six page requests were in flight at the same moment, after the stats request
    const latestStart = Math.max(...pages.map((q) => q.start));
    const earliestEnd = Math.min(...pages.map((q) => q.end));
    assert.ok(latestStart < earliestEnd, `page requests did not overlap: ${JSON.stringify(pages)}`);
    assert.ok(Math.min(...pages.map((q) => q.start)) >= stats.end);
  });

  test("generators: the consumer prints 0..9, f() prints 'Generator consumed!', the yielded generator is handed over", async () => {
    const home = tempDir();
    const r = await runCli(["run", "workflows/generators.ts"], { home });
    assert.equal(r.code, 0, r.stderr);
    const lines = strip(r.stderr);
    const printed = lines.filter((l) => /Task run 'consumer-\d' - \d$/.test(l)).map((l) => l.replace(/.* - /, ""));
    assert.deepEqual(printed, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.ok(lines.includes("INFO    | Task run 'f-0' - Generator consumed!"), r.stderr);
    assert.match(r.stderr, /Flow run '[a-z-]+' - f\(\) returned \[1,2,3\]/);
    const handedOver = lines.findIndex((l) => /Flow run '[a-z-]+' - Generator consumed!$/.test(l));
    assert.ok(handedOver > lines.findIndex((l) => /Task run 'g-0' - Finished in state Completed/.test(l)), "consumed by the flow, after g");
    assert.match(r.stderr, /g\(\) yielded a generator: \[1,2,3\]/);
    assert.match(r.stderr, /Task run 'generator-0' - Finished in state Completed\(\)/);
  });

  test("class_methods: instance, class and static methods run as tasks with `this` intact", async () => {
    const home = tempDir();
    const r = await runCli(["run", "workflows/class_methods.ts"], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Task run 'myInstanceMethod-0' - instance method of 'my-object'/);
    assert.match(r.stderr, /Task run 'myClassMethod-0' - class method of MyClass: 1 object\(s\) made so far/);
    assert.match(r.stderr, /Task run 'my-static-method-0' - static method: no `this` needed/);
    assert.match(r.stderr, /Created subflow run '[a-z-]+' for flow 'summary'/);
    assert.match(r.stderr, /my-object says hello to Marvin; spelled m,y,-,o,b,j,e,c,t/);
    assert.match(r.stderr, /summary\(\) counted 9 letters/);
  });

  for (const [file, expected] of [
    ["workflows/repo_issues.ts", /Average open issues per user 💌 : 2\.27/],
    ["workflows/generators.ts", /g\(\) yielded a generator: \[1,2,3\]/],
    ["workflows/class_methods.ts", /summary\(\) counted 9 letters/],
  ] as const) {
    test(`${file} runs directly with tsx (isMain), once`, async () => {
      const r = await runDirect(file, { PREFECT_HOME: tempDir() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, expected);
      assert.equal(r.stderr.match(/Created flow run/g)?.length, 1, r.stderr);
    });
  }
});
