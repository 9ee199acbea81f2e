/**
 * RedisTaskRunner when Redis goes away for good, on a Redis server of this file's own (the
 * machine's Redis is left alone): a body that finished on a worker meanwhile is taken from the
 * run store, value included, and an attempt no worker recorded an outcome for ends Crashed once
 * `outageTimeout` has passed, naming Redis — the flow ends instead of waiting forever. And when
 * the flow's process dies too, the next command that finds it dead records the body's task run
 * Completed (its worker recorded it), not Crashed.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { flow, RedisTaskRunner, type State } from "../../src/index.ts";
import { runFlow } from "../../src/engine/flow-engine.ts";
import type { FlowDefinition } from "../../src/engine/flow-definition.ts";
import type { FlowRunRecord } from "../../src/engine/run-records.ts";
import { useTempHome, flushedStore, type TempHome } from "../support/home.ts";
import { runCli, spawnCli } from "../support/cli.ts";
import { COMPLETED_ELSEWHERE } from "../../src/store/types.ts";
import { openStore } from "../../src/store/index.ts";
import { uniqueName } from "../fixtures/redis/services.ts";
import * as t from "../fixtures/redis/tasks.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/redis/tasks.ts", import.meta.url));
const OUTAGE = fileURLToPath(new URL("../fixtures/redis/outage.ts", import.meta.url));
const port = 21000 + Math.floor(Math.random() * 8000);
const url = `redis://127.0.0.1:${port}`;
let redis: ChildProcess;
let home: TempHome;
const workers: ChildProcess[] = [];

const answers = () => spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout.trim() === "PONG";

async function startRedis(): Promise<void> {
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  for (let i = 0; i < 100 && !answers(); i++) await delay(50);
  assert.ok(answers(), `redis-server on port ${port} did not start`);
}

async function killRedis(): Promise<void> {
  redis.kill("SIGKILL");
  for (let i = 0; i < 100 && answers(); i++) await delay(50);
}

/** `flowctl worker` on `file`, started and listening; `said(re)` waits for a line of its output. */
async function startWorker(file: string, queue: string, env: Record<string, string> = {}) {
  const worker = spawnCli(["worker", file, "--queue", queue], { home: home.dir, env: { PREFECT_REDIS_URL: url, PREFECT_LOGGING_LEVEL: "INFO", ...env } });
  workers.push(worker);
  let out = "";
  worker.stderr!.on("data", (d) => (out += d));
  worker.stdout!.resume();
  const said = async (re: RegExp) => {
    for (let i = 0; !re.test(out); i++) {
      if (i > 600) throw new Error(`the worker did not print ${re}:\n${out}`);
      await delay(50);
    }
  };
  await said(/Worker \d+ started on queue/);
  return said;
}

before(async () => {
  home = await useTempHome({ PREFECT_REDIS_URL: url });
});

after(async () => {
  for (const w of [...workers, redis]) if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
  await home.cleanup();
});

test("Redis gone for good: a finished body is taken from the run store, one with no outcome ends Crashed naming Redis", { timeout: 60_000 }, async () => {
  assert.throws(() => new RedisTaskRunner({ outageTimeout: 0 }), /expected `outageTimeout` to be a number of seconds > 0, got 0/);
  await startRedis();
  const queue = uniqueName("flowctl_test_bound");
  const said = await startWorker(FIXTURE, queue);

  // one worker, one task run at a time: `slow` runs, `noop` waits in the queue when Redis dies
  const f = flow({ name: "redis-gone", taskRunner: new RedisTaskRunner({ url, queue, outageTimeout: 4 }) }, async () =>
    Promise.all([t.slow.with({ returnState: true })(1500), t.noop.with({ returnState: true })(7)]),
  );
  const running = runFlow((f as unknown as { definition: FlowDefinition }).definition, undefined, []) as Promise<{ run: FlowRunRecord; state: State }>;
  await said(/slow started on/);
  await killRedis();
  const { run, state } = await running;

  const [slow, noop] = state.data as State[];
  assert.equal(slow!.type, "COMPLETED", String(slow!.message));
  assert.equal(slow!.data, "slept 1500", "the value came from the run store");
  assert.equal(noop!.type, "CRASHED");
  assert.match(
    noop!.message ?? "",
    new RegExp(`^Task run 'noop-0' crashed: Redis at redis://127\\.0\\.0\\.1:${port} did not answer for \\d+ s while it waited \\(RedisTaskRunner's \`outageTimeout\`\\), and no worker recorded an outcome for it in the run store$`),
  );
  assert.ok(home.lines().some((l) => /slow-0' - The reply of job .* did not come through Redis; taken from the run store/.test(l)), home.lines().join("\n"));

  const store = await flushedStore();
  const rows = await store.listTaskRuns({ flowRunId: run.id });
  assert.deepEqual(rows.map((r) => `${r.name} ${r.stateType}`).sort(), ["noop-0 CRASHED", "slow-0 COMPLETED"]);
  // the outcome served its purpose: the flow deleted it
  assert.deepEqual(await store.getAttemptOutcomes([`${rows.find((r) => r.name === "slow-0")!.id}.1`]), []);
});

test("Redis and the flow's process both gone: the body a worker finished is recorded Completed, not Crashed", { timeout: 60_000 }, async () => {
  await startRedis();
  const queue = uniqueName("flowctl_test_bound");
  const markers = join(home.dir, "markers");
  mkdirSync(markers);
  const env = { FLOWCTL_TEST_QUEUE: queue, FLOWCTL_TEST_MARKERS: markers, FLOWCTL_TEST_TASK_MS: "1500" };
  const said = await startWorker(OUTAGE, queue, env);
  // one worker, one task run at a time: mark-0 runs, mark-1 waits in the queue
  const flowRun = spawnCli(["run", `${OUTAGE}:outage`, "--param", "n=2"], { home: home.dir, env: { PREFECT_REDIS_URL: url, ...env } });
  workers.push(flowRun);
  flowRun.stdout!.resume();
  flowRun.stderr!.resume();
  await said(/mark 0 started on/);
  await killRedis();
  // the flow's process dies while the body still runs (its Running rows are written by then)
  await delay(400);
  flowRun.kill("SIGKILL");
  await new Promise((r) => flowRun.once("exit", r));
  for (let i = 0; i < 200 && !existsSync(join(markers, "0")); i++) await delay(50);
  assert.ok(existsSync(join(markers, "0")), "mark-0's body ran to its end");
  // its worker records the outcome right after (read without judging the dead run: openStore, not getStore)
  const probe = await openStore(join(home.dir, "flowctl.db"));
  try {
    const [dead] = await probe.listFlowRuns({ flowName: "outage" });
    const mark0 = (await probe.listTaskRuns({ flowRunId: dead!.id })).find((r) => r.name === "mark-0")!;
    for (let i = 0; i < 200 && (await probe.getAttemptOutcomes([`${mark0.id}.1`])).length === 0; i++) await delay(50);
    assert.equal(dead!.stateType, "RUNNING", "nothing judged the flow run yet");
  } finally {
    await probe.close();
  }

  // the next command that opens the store finds the flow run's process gone
  const ls = await runCli(["runs", "ls"], { home: home.dir });
  assert.equal(ls.code, 0, ls.stderr);
  const store = await flushedStore();
  const [run] = await store.listFlowRuns({ flowName: "outage" });
  assert.equal(run!.stateType, "CRASHED");
  const rows = await store.listTaskRuns({ flowRunId: run!.id });
  assert.deepEqual(rows.map((r) => [r.name, r.stateName, r.stateType === "COMPLETED" ? r.stateMessage : ""]).sort(), [
    ["mark-0", "Completed", COMPLETED_ELSEWHERE],
    ["mark-1", "Crashed", ""],
  ]);
});

test("a task run sent while Redis is away goes out once Redis is back; the flow completes", { timeout: 60_000 }, async () => {
  await startRedis();
  const queue = uniqueName("flowctl_test_bound");
  const said = await startWorker(FIXTURE, queue);
  const f = flow({ name: "redis-back", taskRunner: new RedisTaskRunner({ url, queue, outageTimeout: 30 }) }, async () => {
    const first = await t.slow(1500);
    // by now Redis is away: this one cannot be sent until it is back
    return [first, await t.noop(7)];
  });
  const running = runFlow((f as unknown as { definition: FlowDefinition }).definition, undefined, []) as Promise<{ run: FlowRunRecord; state: State }>;
  await said(/slow started on/);
  await killRedis();
  const lines = () => home.lines().join("\n");
  for (let i = 0; i < 200 && !/slow-\d' - The reply of job .* taken from the run store/.test(lines()); i++) await delay(50);
  assert.match(lines(), /slow-\d' - The reply of job .* taken from the run store/);
  // long enough for the flow's attempt to send noop to give up on Redis
  await delay(4000);
  await startRedis();
  const { state } = await running;
  assert.equal(state.type, "COMPLETED", String(state.message));
  assert.deepEqual(state.data, ["slept 1500", 7]);
  assert.match(lines(), new RegExp(`noop-\\d' - Redis at redis://127\\.0\\.0\\.1:${port} is away: this task run's job goes out once it answers again\\.`));
});
