/**
 * Reports for CI: the Markdown summary appended to $GITHUB_STEP_SUMMARY (and printed by
 * `runs inspect RUN --format md`), the JUnit XML of `run --junit FILE` (well-formed, in the
 * common JUnit structure, read back with fast-xml-parser), and colors by chalk's detection
 * (GitHub Actions renders ANSI; NO_COLOR and --no-color still win).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { ROOT, runCli, type CliResult } from "../support/cli.ts";
import { reportJUnit } from "../../src/cli/junit.ts";

const FIXTURE = join(ROOT, "test/fixtures/progress/mapped.ts");
const dir = mkdtempSync(join(tmpdir(), "flowctl-ci-"));
const home = join(dir, "home");
const summary = join(dir, "step-summary.md");
const junit = join(dir, "junit.xml");
after(() => rmSync(dir, { recursive: true, force: true }));
const ESC = "\x1b[";
let first: CliResult;
let second: CliResult;

before(async () => {
  const env = { GITHUB_STEP_SUMMARY: summary, GITHUB_ACTIONS: "true", CI: "true", NO_COLOR: undefined, FORCE_COLOR: undefined };
  first = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=20", "--param", "fail=[3,7]", "--junit", junit, "--json"], { home, env });
  second = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=4"], { home, env });
});

/** The common JUnit structure (the schema Jenkins and GitLab read), checked on parsed XML. */
function checkJUnitStructure(doc: Record<string, any>): any[] {
  const suites = doc.testsuites;
  assert.ok(suites, "root element <testsuites>");
  const list = Array.isArray(suites.testsuite) ? suites.testsuite : [suites.testsuite];
  const cases: any[] = [];
  for (const s of list) {
    for (const a of ["@_name", "@_tests", "@_failures", "@_errors", "@_time"]) assert.ok(a in s, `testsuite has ${a}`);
    const tc = Array.isArray(s.testcase) ? s.testcase : s.testcase ? [s.testcase] : [];
    assert.equal(tc.length, Number(s["@_tests"]));
    for (const c of tc) {
      for (const a of ["@_name", "@_classname", "@_time"]) assert.ok(a in c, `testcase has ${a}`);
      assert.match(c["@_time"], /^\d+(\.\d+)?$/);
      for (const k of ["failure", "error", "skipped"]) if (k in c) assert.ok(typeof c[k] === "object" && "@_message" in c[k], `${k} has a message`);
    }
    assert.equal(tc.filter((c: any) => "failure" in c).length, Number(s["@_failures"]));
    assert.equal(tc.filter((c: any) => "error" in c).length, Number(s["@_errors"]));
    cases.push(...tc);
  }
  return cases;
}

describe("CI reports", { concurrency: 4 }, () => {
  test("GITHUB_STEP_SUMMARY: a Markdown summary appended per run", () => {
    assert.equal(first.code, 1, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    const name = JSON.parse(first.stdout).name as string;
    const md = readFileSync(summary, "utf8");
    assert.match(md, new RegExp(`^### ❌ Flow run \`${name}\` of \`mapped\`: Failed\\n`));
    assert.match(md, /\| State \| Duration \| Task runs \|\n\| --- \| --- \| --- \|\n\| Failed: 2\/20 states failed\. \| \d+\.\d s \| 20: 18 Completed, 2 Failed \|/);
    assert.match(md, /#### Task runs that did not complete \(2\)/);
    for (const i of [3, 7]) {
      assert.match(md, new RegExp(`\\| \`get-url-${i}\` \\| Failed \\| Error: page ${i} is gone \\| \`test/fixtures/progress/mapped\\.ts:\\d+:\\d+\` \\|`));
    }
    assert.match(md, /### ✅ Flow run `[a-z-]+` of `mapped`: Completed\n[^]*\| Completed: All states completed\. \| \d+\.\d s \| 4: 4 Completed \|/);
    assert.equal(md.match(/^### /gm)?.length, 2, "the second run appended its own");
  });

  test("runs inspect RUN --format md prints the same Markdown", async () => {
    const name = JSON.parse(first.stdout).name as string;
    const r = await runCli(["runs", "inspect", name, "--format", "md"], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(summary, "utf8").startsWith(r.stdout), r.stdout);
    const bad = await runCli(["runs", "inspect", name, "--format", "html"], { home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^flowctl: error: --format must be text or md, got 'html'\n$/);
  });

  test("--junit FILE: one test case per task run, failures with their messages", () => {
    const xml = readFileSync(junit, "utf8");
    assert.equal(XMLValidator.validate(xml), true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(xml);
    const cases = checkJUnitStructure(doc);
    assert.equal(cases.length, 20);
    assert.equal(doc.testsuites["@_tests"], "20");
    assert.equal(doc.testsuites["@_failures"], "2");
    const failed = cases.filter((c) => "failure" in c);
    assert.deepEqual(failed.map((c) => c["@_name"]), ["get-url-3", "get-url-7"]);
    assert.equal(failed[0].failure["@_message"], "Error: page 3 is gone");
    assert.match(failed[0].failure["#text"], /mapped\.ts:\d+:\d+/, "the stack");
    assert.equal(cases[0]["@_classname"], "mapped.get-url");
  });

  test("reportJUnit escapes what XML cannot hold; Crashed is an error, Cancelled skipped", () => {
    const flowRun = { id: "f1", name: "a<b", flowName: "f&g", stateName: "Failed", stateType: "FAILED", created: 0, startTime: 0, endTime: 1500 } as never;
    const run = (name: string, stateType: string, stateName: string, message: string) =>
      ({ id: name, name, taskName: "t", stateType, stateName, message, durationMs: 5 });
    const xml = reportJUnit({
      flowRun, durationMs: 1500, total: 3, counts: [],
      taskRuns: [run("ok", "COMPLETED", "Completed", ""), run("boom", "CRASHED", "Crashed", "worker died \x07 <now>"), run("stop", "CANCELLED", "Cancelled", "\"bye\"")],
      notCompleted: [],
    });
    assert.equal(XMLValidator.validate(xml), true, xml);
    const cases = checkJUnitStructure(new XMLParser({ ignoreAttributes: false }).parse(xml));
    assert.equal(cases[1].error["@_message"], "Crashed: worker died \uFFFD <now>");
    assert.ok("skipped" in cases[2]);
  });

  test("colors: chalk's detection (a CI provider it knows renders ANSI, FORCE_COLOR), off with NO_COLOR or --no-color", async () => {
    // chalk colors a pipe only for Azure Pipelines, or when FORCE_COLOR says so (GitHub Actions sets neither)
    const azure = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=2"], { home, env: { TF_BUILD: "True", AGENT_NAME: "ci", NO_COLOR: undefined, FORCE_COLOR: undefined } });
    assert.ok(azure.stderr.includes(ESC), azure.stderr);
    const forced = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=2"], { home, env: { FORCE_COLOR: "1", NO_COLOR: undefined } });
    assert.ok(forced.stderr.includes(ESC), forced.stderr);
    assert.ok(!second.stderr.includes(ESC), "GitHub Actions without FORCE_COLOR: a pipe, plain (as chalk decides)");
    const gha = { TF_BUILD: "True", AGENT_NAME: "ci", FORCE_COLOR: "1" };
    const noColor = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=2"], { home, env: { ...gha, NO_COLOR: "1" } });
    assert.equal(noColor.code, 0, noColor.stderr);
    assert.ok(!noColor.stderr.includes(ESC));
    const flag = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=2", "--no-color"], { home, env: { ...gha, NO_COLOR: undefined } });
    assert.ok(!flag.stderr.includes(ESC));
    const plain = await runCli(["run", `${FIXTURE}:mapped`, "--param", "n=2"], { home, env: { NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, GITHUB_ACTIONS: undefined } });
    assert.ok(!plain.stderr.includes(ESC), "a pipe outside CI: plain");
  });

  test("--junit into a missing directory: exit 2 before anything runs", async () => {
    const r = await runCli(["run", `${FIXTURE}:mapped`, "--junit", join(dir, "nope", "j.xml")], { home });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flowctl: error: --junit .*: the directory .*nope does not exist\n$/);
    assert.ok(!existsSync(join(dir, "nope")));
  });
});
