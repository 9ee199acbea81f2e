/**
 * flowctl/testing isolation: two harnesses running at once share no runs, time or mocks; a
 * harness reads no environment variable, project file or profile and writes nothing under
 * PREFECT_HOME (checked in a child process whose PREFECT_HOME holds a profile that would break
 * any run reading it); nothing is printed unless asked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { flow, task } from "flowctl";
import { testHarness } from "flowctl/testing";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const step = task({ retries: 2, retryDelaySeconds: 30 }, async function step(label: string) {
  return `real ${label}`;
});
const pipeline = flow(async function pipeline({ label }: { label: string }) {
  return step(label);
});

test("two harnesses at once: separate runs, clocks and mocks", async () => {
  const [a, b] = await Promise.all([testHarness({ startTime: 0 }), testHarness({ startTime: 1_000_000 })]);
  const ma = a.mock(step, (l: string) => `mock A ${l}`).failTimes(2);
  const mb = b.mock(step, (l: string) => `mock B ${l}`);
  const [ra, rb] = await Promise.all([a.run(() => pipeline({ label: "x" })), b.run(() => pipeline({ label: "y" }))]);
  assert.deepEqual([ra, rb], ["mock A x", "mock B y"]);
  assert.deepEqual([ma.callCount, mb.callCount], [3, 1]);
  assert.deepEqual([a.clock.now(), b.clock.now()], [60_000, 1_000_000], "only A's retries moved A's clock");
  assert.deepEqual([a.runs().length, b.runs().length], [1, 1]);
  assert.notEqual(a.runs()[0]!.id, b.runs()[0]!.id);
  assert.ok(a.logs().every((l) => l.flowRunId !== b.runs()[0]!.id));
  // each store holds its own harness's run (written when the flow run ended)
  assert.deepEqual((await a.store.listFlowRuns()).map((r) => r.id), [a.runs()[0]!.id]);
  assert.deepEqual((await b.store.listFlowRuns()).map((r) => r.id), [b.runs()[0]!.id]);
  await Promise.all([a.close(), b.close()]);
  // outside any harness the task's own body runs
  const outsider = await testHarness();
  assert.equal(await outsider.run(() => step("z")), "real z");
  assert.equal(a.runs().length, 1, "a closed harness saw nothing more");
  await outsider.close();
});

test("a closed harness has written its runs to its store", async () => {
  const h = await testHarness();
  await h.run(() => pipeline({ label: "q" }));
  const run = h.runs()[0]!;
  await h.close();
  // the store is closed with the harness; what it held was complete before that
  await assert.rejects(h.store.listFlowRuns(), /closed/);
  assert.equal(run.state.name, "Completed");
});

test("a harness never touches PREFECT_HOME, reads no settings from outside, prints nothing", async () => {
  const home = mkdtempSync(join(tmpdir(), "flowctl-harness-home-"));
  const work = mkdtempSync(join(tmpdir(), "flowctl-harness-cwd-"));
  try {
    // a profile and a project file that would fail any run that read them
    writeFileSync(join(home, "profile.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: "many" }));
    writeFileSync(join(work, ".prefectrc.json"), JSON.stringify({ PREFECT_LOGGING_LEVEL: "LOUD" }));
    const child = join(work, "child.mts");
    writeFileSync(
      child,
      `
      import { flow, task } from ${JSON.stringify(pathToFileURL(join(ROOT, "src/index.ts")).href)};
      import { testHarness } from ${JSON.stringify(pathToFileURL(join(ROOT, "src/testing/index.ts")).href)};
      const cached = task({ cacheKeyFn: () => "k", cacheExpiration: 60 }, function cached() { console.log("computing"); return 1; });
      const limited = task({ tags: ["gpu"] }, async function limited() { return 2; });
      const f = flow({ logPrints: true }, async function f() { await cached(); await cached(); return limited(); });
      const h = await testHarness({ settings: { PREFECT_LOGGING_LEVEL: "DEBUG" } });
      await h.store.createConcurrencyLimit("gpu", 1);
      const value = await h.run(() => f());
      const file = await h.runFile(${JSON.stringify(join(ROOT, "test/fixtures/testing/etl.ts"))});
      const out = { value, retries: h.settings.PREFECT_TASK_DEFAULT_RETRIES, level: h.settings.PREFECT_LOGGING_LEVEL,
        states: h.taskRuns().map((r) => r.state.name), exit: file.exitCode, logs: h.logs().length };
      await h.close();
      process.stdout.write(JSON.stringify(out));
      `,
    );
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const p = spawn(process.execPath, ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, child], {
        cwd: work,
        env: { ...process.env, PREFECT_HOME: home, PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: "oops" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (err += d));
      p.on("error", reject);
      p.on("close", (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    assert.equal(stderr, "", "nothing printed");
    assert.equal(code, 0);
    const out = JSON.parse(stdout);
    assert.deepEqual(out, { value: 2, retries: 0, level: "DEBUG", states: ["Completed", "Cached", "Completed", "Completed", "Completed", "Completed"], exit: 0, logs: out.logs });
    assert.ok(out.logs > 10);
    assert.deepEqual(readdirSync(home), ["profile.json"], "nothing written under PREFECT_HOME");
    assert.equal(readFileSync(join(home, "profile.json"), "utf8"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: "many" }));
    assert.deepEqual(readdirSync(work).sort(), [".prefectrc.json", "child.mts"], "nothing written in the working directory");
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});
