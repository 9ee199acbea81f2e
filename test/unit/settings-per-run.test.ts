/**
 * Settings are resolved when each run starts: a setting changed in the environment or in the
 * profile after the first run applies to the next one; unchanged sources are not read again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/cli.ts";
import { flow, task } from "../../src/index.ts";
import { currentSettings } from "../../src/settings/index.ts";
import { useTempHome, flushedStore } from "../support/home.ts";

test("an unset option follows the settings in force when each run starts; files are re-read only when changed", async () => {
  const home = await useTempHome();
  const saved = process.env.PREFECT_TASK_DEFAULT_RETRIES;
  delete process.env.PREFECT_TASK_DEFAULT_RETRIES;
  try {
    let attempts = 0;
    const flaky = task(function flaky() {
      attempts++;
      throw new Error("always");
    });
    const f = flow(async function perRun() {
      await flaky().catch(() => undefined);
    });
    const runAndCount = async () => {
      attempts = 0;
      await f().catch(() => undefined); // the flow fails with its task
      return attempts;
    };

    assert.equal(await runAndCount(), 1);
    // unchanged sources: the same resolved object, nothing read again
    const a = currentSettings();
    assert.equal(currentSettings(), a);

    // the profile changes after the first run
    writeFileSync(join(home.dir, "profile.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 2, PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: 0 }));
    assert.notEqual(currentSettings(), a);
    assert.equal(await runAndCount(), 3);

    // then the environment, which outranks the profile
    process.env.PREFECT_TASK_DEFAULT_RETRIES = "1";
    assert.equal(await runAndCount(), 2);
    const b = currentSettings();
    assert.equal(currentSettings(), b);

    const store = await flushedStore();
    const runs = await store.listTaskRuns({ limit: 10 });
    assert.deepEqual(runs.map((r) => r.runCount), [2, 3, 1]);
  } finally {
    if (saved === undefined) delete process.env.PREFECT_TASK_DEFAULT_RETRIES;
    else process.env.PREFECT_TASK_DEFAULT_RETRIES = saved;
    await home.cleanup();
  }
});

test("checking the sources is cheap: stat calls, no file read", () => {
  currentSettings();
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) currentSettings();
  const perCall = ((performance.now() - t0) / n) * 1000;
  console.log(`# currentSettings() with nothing changed: ${perCall.toFixed(1)} µs per call`);
});

test("in a real process: a flow run started after the profile changed follows it", () => {
  const home = mkdtempSync(join(tmpdir(), "flowctl-settings-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, PREFECT_HOME: home, NO_COLOR: "1" };
    delete env.PREFECT_TASK_DEFAULT_RETRIES;
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/fixtures/settings/twice.ts"], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), { first: 1, second: 3 });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("files made beside the project (not settings files) do not resolve the settings again; a project file that appears does", async () => {
  const home = await useTempHome();
  const project = mkdtempSync(join(tmpdir(), "flowctl-settings-dirs-"));
  const cwd = process.cwd();
  try {
    mkdirSync(join(project, "app"));
    process.chdir(join(project, "app"));
    const a = currentSettings();
    // another process making and removing files in the directories above (as in /tmp)
    writeFileSync(join(project, "unrelated.txt"), "x");
    mkdtempSync(join(project, "scratch-"));
    assert.equal(currentSettings(), a, "the same resolved object: nothing read again");
    // a settings file appears in a directory on the way up
    writeFileSync(join(project, ".prefectrc.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 4 }));
    const b = currentSettings();
    assert.notEqual(b, a);
    assert.equal(b.PREFECT_TASK_DEFAULT_RETRIES, 4);
    rmSync(join(project, ".prefectrc.json"));
    assert.notEqual(currentSettings().PREFECT_TASK_DEFAULT_RETRIES, 4, "and its removal is seen");
  } finally {
    process.chdir(cwd);
    rmSync(project, { recursive: true, force: true });
    await home.cleanup();
  }
});
