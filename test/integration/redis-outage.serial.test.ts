/**
 * A Redis outage in the middle of a flow run (serial: it stops the machine's Redis, and starts
 * it again whatever happens). A flow maps 40 task runs onto two real `flowctl worker` processes;
 * each body sleeps briefly, then writes a marker file (its side effect). Redis is stopped once
 * some markers exist and started again a few seconds later — empty: it keeps nothing on disk,
 * so the queue and every reply in it are gone. Whatever the flow makes of that, no body that ran
 * to its end may be recorded Crashed, no run may be left Running, and the exit code must be the
 * flow run's own.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { spawnCli } from "../support/cli.ts";
import { openStore } from "../../src/store/index.ts";
import { REDIS_URL, uniqueName } from "../fixtures/redis/services.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/redis/outage.ts", import.meta.url));
const N = 40;
/** how long Redis stays down */
const OUTAGE_MS = 3000;

const home = mkdtempSync(join(tmpdir(), "flowctl-outage-"));
const markers = join(home, "markers");
mkdirSync(markers);
const queue = uniqueName("flowctl_test_outage");
const children: ChildProcess[] = [];

const startRedis = () =>
  spawnSync("redis-server", [
    "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "", "--appendonly", "no",
    "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
  ]);
const redisAnswers = () => spawnSync("redis-cli", ["-p", "6379", "ping"], { encoding: "utf8" }).stdout.trim() === "PONG";

async function ensureRedis(): Promise<void> {
  if (redisAnswers()) return;
  startRedis();
  for (let i = 0; i < 100 && !redisAnswers(); i++) await delay(100);
}

after(async () => {
  // whatever happened above: Redis runs again, the workers are gone, the queue is removed
  await ensureRedis();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection, prefix: "flowctl" });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  connection.disconnect();
  rmSync(home, { recursive: true, force: true });
});

const env = {
  PREFECT_REDIS_URL: REDIS_URL,
  PREFECT_LOGGING_LEVEL: "INFO",
  FLOWCTL_TEST_QUEUE: queue,
  FLOWCTL_TEST_MARKERS: markers,
  FLOWCTL_TEST_TASK_MS: "250",
};

function spawn(args: string[]): { child: ChildProcess; output(): string; exited: Promise<number | null> } {
  const child = spawnCli(args, { home, env });
  children.push(child);
  let text = "";
  child.stdout!.on("data", (d) => (text += d));
  child.stderr!.on("data", (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function until(what: string, check: () => boolean, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms; output:\n${output()}`);
    await delay(20);
  }
}

test("Redis stopped mid-run: no body that ran to its end is recorded Crashed", { timeout: 60_000 }, async (t) => {
  const workers = [spawn(["worker", FIXTURE, "--queue", queue, "--concurrency", "2"]), spawn(["worker", FIXTURE, "--queue", queue, "--concurrency", "2"])];
  for (const w of workers) await until("a worker start", () => /Worker \d+ started on queue/.test(w.output()), 20_000, w.output);

  const run = spawn(["run", `${FIXTURE}:outage`, "--param", `n=${N}`]);
  const marked = () => readdirSync(markers).length;
  await until("the first markers", () => marked() >= 6, 20_000, run.output);
  let atStop: number;
  try {
    const stop = spawnSync("redis-cli", ["-p", "6379", "shutdown", "nosave"], { encoding: "utf8" });
    atStop = marked();
    assert.ok(!redisAnswers(), `Redis did not stop: ${stop.stdout}${stop.stderr}`);
    await delay(OUTAGE_MS);
  } finally {
    await ensureRedis();
  }
  assert.ok(redisAnswers(), "Redis started again");

  const code = await Promise.race([run.exited, delay(30_000).then(() => "hung" as const)]);
  assert.notEqual(code, "hung", `the flow hung after Redis came back; output:\n${run.output()}`);

  const store = await openStore(join(home, "flowctl.db"));
  try {
    const [flowRun] = await store.listFlowRuns({ flowName: "outage" });
    assert.ok(flowRun, "the flow run is recorded");
    const taskRuns = await store.listTaskRuns({ flowRunId: flowRun.id });
    const byName = new Map(taskRuns.map((r) => [r.name, r]));
    const done = readdirSync(markers).map(Number).sort((a, b) => a - b);
    const wrong = done.map((i) => byName.get(`mark-${i}`)).filter((r) => r?.stateType !== "COMPLETED");
    const crashed = taskRuns.filter((r) => r.stateType === "CRASHED");
    t.diagnostic(
      `markers at the stop: ${atStop}; bodies that ran to their end: ${done.length}/${N}; task runs: ${taskRuns.length}, ` +
        `Completed ${taskRuns.filter((r) => r.stateType === "COMPLETED").length}, Crashed ${crashed.length} ` +
        `(of which with a marker: ${crashed.filter((r) => done.includes(Number(r.name.slice(5)))).length}); flow run ${flowRun.stateName}, exit ${code}`,
    );
    assert.deepEqual(
      wrong.map((r) => `${r?.name}: ${r?.stateName} ${r?.stateMessage ?? ""}`),
      [],
      "every body that ran to its end is recorded Completed",
    );
    const unfinished = [flowRun, ...taskRuns].filter((r) => ["RUNNING", "PENDING", "SCHEDULED"].includes(r.stateType));
    assert.deepEqual(unfinished.map((r) => `${r.name}: ${r.stateName}`), [], "no run is left unfinished");
    assert.equal(code, flowRun.stateType === "COMPLETED" ? 0 : 1, `exit code ${code} for a ${flowRun.stateName} flow run`);
    // the flow goes on once Redis is back: the task runs Redis lost before they started are sent again
    assert.equal(flowRun.stateType, "COMPLETED", `${flowRun.stateName}: ${flowRun.stateMessage}\n${run.output()}`);
    assert.equal(done.length, N);
    assert.match(run.output(), new RegExp(`Finished in state Completed\\(\\)`));
    // each body ran once: the replies Redis lost were taken from the store, not run again
    const twice = done.filter((i) => readFileSync(join(markers, String(i)), "utf8").trim().split("\n").length > 1);
    assert.deepEqual(twice, [], "no body ran twice");
    const fromStore = run.output().match(/taken from the run store/g)?.length ?? 0;
    const resent = run.output().match(/sending it again/g)?.length ?? 0;
    t.diagnostic(`replies taken from the run store: ${fromStore}; jobs sent again: ${resent}`);
    assert.ok(fromStore + resent > 0, `the outage was noticed:\n${run.output()}`);
    // the outcomes the workers recorded served their purpose: the flow deleted them
    assert.deepEqual(await store.getAttemptOutcomes(taskRuns.map((r) => `${r.id}.1`)), []);
  } finally {
    await store.close();
  }
});
