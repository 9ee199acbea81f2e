/**
 * The --json contract: real output of every command that has --json validated against the
 * schema written in docs/json-output.md; one run shape across run/runs ls/runs inspect; ISO
 * times; a JSON error object on stdout for errors.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { runCli, ROOT } from "../support/cli.ts";
import { openStore, sqlitePathFromUrl } from "../../src/store/index.ts";
import { Journal } from "../../src/store/journal.ts";
import { seedBigRun } from "../support/seed-runs.ts";

const FILE = "test/fixtures/json/shapes.ts";
let home = "";

/** The schema block of docs/json-output.md. */
function loadSchema() {
  const md = readFileSync(join(ROOT, "docs/json-output.md"), "utf8");
  const block = /```json\n([\s\S]*?)\n```/.exec(md);
  assert.ok(block, "docs/json-output.md holds a ```json schema block");
  return JSON.parse(block[1]!) as { $id: string; $defs: Record<string, unknown> };
}

const schema = loadSchema();
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema(schema);

function check(def: string, value: unknown): void {
  const validate = ajv.getSchema(`${schema.$id}#/$defs/${def}`);
  assert.ok(validate, `no $defs/${def} in docs/json-output.md`);
  const ok = validate(value);
  assert.ok(ok, `${def}: ${ajv.errorsText(validate.errors, { separator: "\n" })}\n${JSON.stringify(value, null, 2).slice(0, 2000)}`);
}

async function json(args: string[], code = 0): Promise<any> {
  const r = await runCli([...args, "--json"], { home });
  assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

before(() => {
  home = mkdtempSync(join(tmpdir(), "flowctl-json-"));
});
after(() => rmSync(home, { recursive: true, force: true }));

test("run, runs ls, runs inspect and tasks ls --json match the documented schema; one run shape", async () => {
  const ran = await json(["run", `${FILE}:outer`, "--param", "x=2"]);
  check("RunResult", ran);
  assert.deepEqual(ran.result, { label: "run", total: 7, when: "1970-01-01T00:00:00.000Z" });
  assert.deepEqual(ran.taskCounts, { COMPLETED: 2 });
  const failed = await json(["run", `${FILE}:failing`], 1);
  check("RunResult", failed);
  assert.equal(failed.error.message, "boom 2");
  assert.equal(failed.error.cause.name, "RangeError");

  const ls = await json(["runs", "ls"]);
  for (const r of ls) check("FlowRun", r);
  // the same object in run --json (without its result) and runs ls --json
  const { result: _r, ...shape } = ran;
  assert.deepEqual(ls.find((r: any) => r.id === ran.id), shape);

  const detail = await json(["runs", "inspect", ran.id]);
  check("FlowRunDetail", detail);
  assert.deepEqual(detail.flowRun, shape);
  assert.deepEqual(detail.taskRunPage, { offset: 0, limit: 200, total: 2, nextOffset: null });
  assert.equal(detail.subflowRuns.length, 1);
  assert.deepEqual(detail.subflowRuns[0].tags, ["nightly"]);
  assert.deepEqual(detail.taskRuns[1].upstream.map((u: any) => [u.parameter, u.taskRun.name]), [["a", "add-0"]]);

  const tasks = await json(["tasks", "ls", "--limit", "100"]);
  for (const t of tasks) check("TaskRun", t);
  const boom = tasks.find((t: any) => t.taskName === "boom");
  assert.equal(boom.flowRunName, failed.name);
  const taskDetail = await json(["runs", "inspect", boom.id]);
  check("TaskRunDetail", taskDetail);
  assert.deepEqual(taskDetail.taskRun, boom);
  assert.equal(taskDetail.states.at(-1).error.cause.message, "too big");
  // every time is ISO-8601 UTC
  const times = JSON.stringify([ls, tasks, detail]).match(/"(created|startTime|endTime|timestamp)":("[^"]*"|\d+)/g) ?? [];
  assert.ok(times.length > 10);
  for (const t of times) assert.match(t, /"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
});

test("runs inspect --json pages a flow run's task runs: taskRunPage, counts of them all, a notice on stderr", async () => {
  const big = mkdtempSync(join(tmpdir(), "flowctl-json-pages-"));
  try {
    const { flowRunId } = await seedBigRun(join(big, "flowctl.db"), { taskRuns: 450, failEvery: 100 });
    const page = async (args: string[]) => {
      const r = await runCli(["runs", "inspect", flowRunId, "--json", ...args], { home: big });
      assert.equal(r.code, 0, r.stderr);
      const d = JSON.parse(r.stdout);
      check("FlowRunDetail", d);
      assert.deepEqual(d.flowRun.taskCounts, { COMPLETED: 446, FAILED: 4 }, "counts of every task run, not of the page");
      return { d, stderr: r.stderr };
    };
    const first = await page([]);
    assert.deepEqual(first.d.taskRunPage, { offset: 0, limit: 200, total: 450, nextOffset: 200 });
    assert.deepEqual([first.d.taskRuns.length, first.d.taskRuns[0].name, first.d.taskRuns[199].name], [200, "work-0", "work-199"]);
    assert.equal(first.stderr, "flowctl: showing task runs 1–200 of 450; --offset 200 for the next 200 (--limit N for more at once)\n");
    const last = await page(["--offset", "400", "--limit", "100"]);
    assert.deepEqual(last.d.taskRunPage, { offset: 400, limit: 100, total: 450, nextOffset: null });
    assert.deepEqual(last.d.taskRuns.map((t: any) => t.name), Array.from({ length: 50 }, (_, i) => `work-${400 + i}`));
    const all = await page(["--limit", "1000"]);
    assert.deepEqual(all.d.taskRunPage, { offset: 0, limit: 1000, total: 450, nextOffset: null });
    assert.equal(all.stderr, "", "no notice when every task run is listed");
  } finally {
    rmSync(big, { recursive: true, force: true });
  }
});

test("runs logs --json: one LogLine per line", async () => {
  const [run] = await json(["runs", "ls", "--limit", "1"]);
  const r = await runCli(["runs", "logs", run.id, "--json"], { home });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.length >= 3);
  for (const l of lines) check("LogLine", JSON.parse(l));
});

test("inspect FILE --json and run FILE --help --json: the flows and their parameters", async () => {
  for (const args of [["inspect", FILE], ["run", FILE, "--help"]]) {
    const out = await json(args);
    check("FlowFile", out);
    const typed = out.flows.find((f: any) => f.name === "typed");
    assert.deepEqual(typed.parameters, [
      { name: "n", type: "integer", required: false, default: 3, description: "how many" },
      { name: "since", type: "date", required: false, description: null },
    ]);
    const outer = out.flows.find((f: any) => f.name === "outer");
    assert.deepEqual(outer.parameters.map((p: any) => [p.name, p.default]), [["x", 1], ["label", "run"]]);
  }
});

test("errors with --json: an Error object on stdout, the one-line message on stderr", async () => {
  const cases: [string[], number, string][] = [
    [["run", "no-such-file.ts"], 2, "LOAD_ERROR"],
    [["run", `${FILE}:typed`, "--param", "n=1.5", "--param", "zzz=1"], 2, "INVALID_PARAMETERS"],
    [["runs", "inspect", "no-such-run"], 2, "USAGE"],
    [["runs", "ls", "--bogus"], 2, "USAGE"],
    [["runs", "ls", "--limit", "0"], 2, "USAGE"],
  ];
  for (const [args, code, errCode] of cases) {
    const r = await runCli([...args, "--json"], { home });
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    check("Error", out);
    assert.equal(out.error.exitCode, code);
    assert.equal(out.error.code, errCode, `${args.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, /^flowctl: error: /);
    if (errCode === "INVALID_PARAMETERS") {
      assert.deepEqual(out.error.problems.map((p: any) => p.field).sort(), ["n", "zzz"]);
      assert.equal(out.error.problems.find((p: any) => p.field === "n").received, "1.5");
    }
  }
});

test("runs sync --json: what the journal held, written to the store (SyncResult)", async () => {
  const none = await json(["runs", "sync"]);
  check("SyncResult", none);
  assert.equal(none.waiting, null);
  assert.equal(none.written.batches, 0);
  const [run] = await json(["runs", "ls", "--limit", "1"]);
  const row = { ...(await readRow(run.id)), id: "journalled-run", name: "kept-while-away" };
  new Journal(home, sqlitePathFromUrl(join(home, "flowctl.db"))!).append([{ flowRuns: [row], taskRuns: [], states: [], inputs: [], logs: [] }]);
  const synced = await json(["runs", "sync"]);
  check("SyncResult", synced);
  assert.deepEqual(synced.written, { batches: 1, flowRuns: 1, taskRuns: 0, states: 0, logs: 0 });
  assert.equal(synced.waiting, null);
  const ls = await json(["runs", "ls", "--limit", "100"]);
  assert.ok(ls.some((r: any) => r.name === "kept-while-away"));
});

async function readRow(id: string) {
  const store = await openStore(join(home, "flowctl.db"));
  try {
    return (await store.getFlowRun(id))!;
  } finally {
    await store.close();
  }
}
