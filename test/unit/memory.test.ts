/**
 * Flat memory: the engine does not hold on to finished task runs. A child process (with
 * --expose-gc) keeps WeakRefs to task-run records and collects garbage while its flow run is
 * still going; the records must be gone unless user code holds them (a list of futures).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { flow, task } from "../../src/index.ts";
import { useTempHome } from "../support/home.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/memory/released-runs.ts", import.meta.url));

test("finished task runs are released while their flow run goes on; every one is stored", () => {
  const home = mkdtempSync(join(tmpdir(), "flowctl-memory-"));
  try {
    const N = 3000;
    const res = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", FIXTURE, String(N)], {
      env: { ...process.env, PREFECT_HOME: home, PREFECT_LOGGING_LEVEL: "WARNING" },
      encoding: "utf8",
      timeout: 300_000,
    });
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.sequential, 0, "records of `await t(i)` runs still alive");
    assert.equal(out.submitted, 0, "records of submitted runs still alive after their futures were dropped");
    assert.equal(out.heldByFutures, N, "a list of futures the user holds keeps its runs");
    assert.equal(out.mapped, 0, "records of mapped runs still alive after the list was dropped");
    assert.equal(out.stored, 4 * N);
    assert.equal(out.state, "Completed");
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("the final state names the earliest-created failed run, whatever order they finish in", async () => {
  const home = await useTempHome({ PREFECT_LOGGING_LEVEL: "CRITICAL" });
  try {
    const fail = task(async function fail(label: string, ms: number) {
      await new Promise((r) => setTimeout(r, ms));
      throw new Error(label);
    });
    const ok = task(function ok() {
      return 1;
    });
    const f = flow(async function aggregateOrder() {
      fail.submit("first created, finishes last", 60);
      fail.submit("second created, finishes first", 0);
      ok.submit();
    });
    await assert.rejects(f(), (e: Error & { cause?: Error }) => {
      assert.equal(e.message, "2/3 states failed.");
      assert.equal(e.cause?.message, "first created, finishes last");
      return true;
    });
  } finally {
    await home.cleanup();
  }
});

test("a future is done once its run's final state is recorded (hooks included), and not before", async () => {
  const home = await useTempHome({ PREFECT_LOGGING_LEVEL: "CRITICAL" });
  try {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let doneInHook: boolean | undefined;
    const slow = task(async function slow() {
      await gate;
      return 1;
    });
    const hooked = slow.withOptions({ onCompletion: [() => void (doneInHook = fut.isDone)] });
    let fut!: ReturnType<typeof hooked.submit>;
    const f = flow(async function isDoneFlow() {
      fut = hooked.submit();
      await new Promise((r) => setTimeout(r, 20));
      const before = fut.isDone;
      release();
      await fut.wait();
      return { before, after: fut.isDone };
    });
    assert.deepEqual(await f(), { before: false, after: true });
    assert.equal(doneInHook, false);
  } finally {
    await home.cleanup();
  }
});
