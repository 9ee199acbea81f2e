/**
 * RedisTaskRunner against the real Redis and PostgreSQL on this machine: flows run in this
 * process, their task bodies in separate `flowctl worker` processes, states and logs in one
 * PostgreSQL schema of this file's own, jobs on queues of this file's own. Covers two workers
 * sharing the work, values and errors crossing both ways, logs reaching the shared store and
 * the flow's console, a worker killed mid-run (the task run goes to the other worker; past
 * --max-stalled it ends Crashed), and SIGTERM draining a worker.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { flow, tags, RedisTaskRunner, type State } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { runFlow } from "../../src/engine/flow-engine.ts";
import type { FlowDefinition } from "../../src/engine/flow-definition.ts";
import type { FlowRunRecord } from "../../src/engine/run-records.ts";
import { useTempHome, flushedStore, type TempHome } from "../support/home.ts";
import { runCli, spawnCli } from "../support/cli.ts";
import { REDIS_URL, postgresSchema, uniqueName } from "../fixtures/redis/services.ts";
import * as t from "../fixtures/redis/tasks.ts";
import { PROTOCOL_VERSION, decode, encode, type RedisJobData, type RedisJobResult } from "../../src/runners/redis-protocol.ts";
import { decodeError, type ErrorPayload } from "../../src/runners/pool-protocol.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/redis/tasks.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../fixtures/redis/entry.ts", import.meta.url));

let home: TempHome;
let pg: ReturnType<typeof postgresSchema>;
let redis: Redis;
const queues: string[] = [];
const workers: Worker[] = [];
/** a flow that waits forever (a lost job) fails the suite instead of hanging it */
const LIMIT = { timeout: 90_000 };

interface Worker {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** resolves with the first match of `re` in the worker's stderr (already printed or to come) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function newQueue(): string {
  const q = uniqueName("flowctl_test_q");
  queues.push(q);
  return q;
}

/** Start `flowctl worker` on the fixture and wait until it says it is listening. */
async function startWorker(queue: string, args: string[] = [], env: Record<string, string> = {}, file = FIXTURE): Promise<Worker> {
  const child = spawnCli(["worker", file, "--queue", queue, ...args], {
    home: home.dir,
    env: { PREFECT_API_DATABASE_CONNECTION_URL: pg.url, PREFECT_REDIS_URL: REDIS_URL, PREFECT_LOGGING_LEVEL: "INFO", ...env },
  });
  let text = "";
  const listeners = new Set<() => void>();
  child.stderr!.on("data", (d) => {
    text += d;
    for (const l of listeners) l();
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (re: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = text.match(re);
        if (!m) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`worker ${child.pid} did not print ${re} within ${timeoutMs} ms; it printed:\n${text}`));
      }, timeoutMs);
      if (!check()) listeners.add(check);
      void exited.then(() => {
        if (listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`worker ${child.pid} exited before printing ${re}; it printed:\n${text}`));
        }
      });
    });
  const w: Worker = { child, pid: child.pid!, stderr: () => text, waitFor, exited };
  workers.push(w);
  await waitFor(/Worker \d+ started on queue/);
  return w;
}

async function stopWorker(w: Worker): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
  await w.exited;
}

/** Run a flow whose tasks go to `queue`; the body gets the runner's flow context. */
function redisFlow<R>(name: string, queue: string, body: () => Promise<R>) {
  return flow({ name, taskRunner: new RedisTaskRunner({ queue }) }, body);
}

before(async () => {
  pg = postgresSchema("flowctl_redis");
  home = await useTempHome({ PREFECT_API_DATABASE_CONNECTION_URL: pg.url, PREFECT_REDIS_URL: REDIS_URL });
  redis = new Redis(REDIS_URL);
});

after(async () => {
  await Promise.all(workers.map(stopWorker));
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  for (const q of queues) {
    const queue = new Queue(q, { connection, prefix: "flowctl" });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await redis.del(`${q}:barrier`);
  }
  connection.disconnect();
  redis.disconnect();
  await home.cleanup();
  await pg.drop();
});

describe("RedisTaskRunner with two flowctl workers", LIMIT, () => {
  let queue: string;
  let w1: Worker;
  let w2: Worker;
  before(async () => {
    queue = newQueue();
    // the first two `double` runs wait for each other: both workers are certain to get work
    const env = { FLOWCTL_TEST_BARRIER: `${queue}:barrier` };
    [w1, w2] = await Promise.all([startWorker(queue, ["--concurrency", "1"], env), startWorker(queue, ["--concurrency", "1"], env)]);
  });

  test("both workers run task runs; results, runtime and the shared store are right", async () => {
    const f = redisFlow("two-workers", queue, async () =>
      tags("batch", () => Promise.all(t.double.map([0, 1, 2, 3, 4, 5, 6, 7]).map((fut) => fut.result()))),
    );
    const { run, state } = await runWithState(f);
    assert.equal(state.type, "COMPLETED", String(state.message));
    const values = state.data as Awaited<ReturnType<typeof t.double>>[];
    assert.deepEqual(values.map((v) => v.doubled), [0, 2, 4, 6, 8, 10, 12, 14]);
    assert.deepEqual(new Set(values.map((v) => v.pid)), new Set([w1.pid, w2.pid]), "both workers ran task runs");
    values.forEach((v, i) => {
      assert.equal(v.run.name, `double-${i}`);
      assert.equal(v.run.taskName, "double");
      assert.deepEqual(v.run.parameters, { i });
      assert.deepEqual(v.run.tags, ["batch"]);
      assert.equal(v.run.runCount, 1);
      assert.deepEqual(v.flowRun, { id: run.id, name: run.name, parameters: {} });
    });

    const store = await flushedStore();
    const rows = await store.listTaskRuns({ flowRunId: run.id });
    assert.equal(rows.length, 8);
    assert.ok(rows.every((r) => r.stateName === "Completed"));
    assert.deepEqual(rows.map((r) => r.id).sort(), values.map((v) => v.run.id).sort());
    // each body's log line was written to the store by the worker that ran it
    for (const v of values) {
      const logs = await store.getLogs({ taskRunId: v.run.id });
      assert.ok(logs.some((l) => l.message === `start ${v.doubled / 2} on ${v.pid}`), `log of ${v.run.name}`);
    }
    // and shown on the flow's console too
    assert.ok(home.lines().includes(`Task run 'double-3' - start 3 on ${values[3]!.pid}`));
  });

  test("thrown errors and returned states come back as they were", async () => {
    const f = redisFlow("errors", queue, async () => {
      const kinds = ["custom", "string", "type", "state", "fine"];
      return Promise.all(kinds.map((k) => t.fails.with({ returnState: true })(k)));
    });
    const { state } = await runWithState(f);
    const [custom, str, type, returned, fine] = state.data as State[];
    assert.equal(custom!.type, "FAILED");
    const e = custom!.error as Error & { code?: string; retryAfter?: number; when?: Date };
    assert.equal(e.name, "QuotaError");
    assert.equal(e.message, "quota exceeded");
    assert.equal(e.code, "E_QUOTA");
    assert.equal(e.retryAfter, 30);
    assert.deepEqual(e.when, new Date(0));
    assert.match(e.stack ?? "", /tasks\.ts/);
    assert.equal(custom!.message, "Task run encountered an exception QuotaError: quota exceeded");
    assert.equal((str!.error as Error & { thrown?: unknown }).message, `threw a string: "a bare string"`);
    assert.equal(type!.error!.name, "TypeError");
    assert.equal(((type!.error as Error).cause as Error).message, "root cause");
    assert.equal(returned!.type, "FAILED");
    assert.equal(returned!.message, "returned a Failed state");
    assert.equal(fine!.type, "COMPLETED");
    assert.equal(fine!.data, "fine");
  });

  test("a value that cannot cross fails the run, naming the task run and the value's path", async () => {
    const f = redisFlow("unsendable", queue, async () => [
      await t.unsendable.with({ returnState: true })(),
      await t.noop.with({ returnState: true })(new URL("https://example.com") as unknown as number),
    ]);
    const { state } = await runWithState(f);
    const [result, arg] = state.data as State[];
    assert.equal(result!.type, "FAILED");
    assert.ok(isFlowctlError(result!.error, "NOT_SERIALIZABLE"), String(result!.error));
    assert.match(result!.error!.message, /Task run 'unsendable-0' on a Redis worker returned a value that cannot be sent back: `result\.nested\.url` is an instance of URL/);
    assert.equal(arg!.type, "FAILED");
    assert.match(arg!.error!.message, /^Task run 'noop-0' cannot be sent to a Redis worker: `args\[0\]` is an instance of URL/);
  });

  test("logPrints output and run-logger lines reach the store and the flow's console", async () => {
    const f = redisFlow("prints", queue, async () => t.prints("hi"));
    const { run, state } = await runWithState(f);
    assert.equal(state.data, "HI");
    const store = await flushedStore();
    const [taskRun] = await store.listTaskRuns({ flowRunId: run.id });
    const logs = await store.getLogs({ taskRunId: taskRun!.id });
    assert.deepEqual(
      // INFO and above: the engine's DEBUG decisions (cache, runner) are not what this checks
      logs.filter((l) => l.source === "Task run 'prints-0'" && l.level >= 20 && !l.message.startsWith("Finished")).map((l) => [l.level, l.message]),
      [[20, "printed hi on the worker"], [30, "warned hi"]],
    );
    assert.ok(home.lines().includes("Task run 'prints-0' - printed hi on the worker"));
  });

  test("calling a task inside a task on a worker fails with a clear error", async () => {
    const f = redisFlow("nested", queue, async () => [await t.nested.with({ returnState: true })()]);
    const { state } = await runWithState(f);
    const [inner] = state.data as State[];
    assert.equal(inner!.type, "FAILED");
    assert.ok(isFlowctlError(inner!.error, "NOT_SUPPORTED"));
    assert.match(inner!.error!.message, /Task run 'nested-0' runs on a Redis worker, where tasks and flows cannot be called/);
  });

  test("a timeout in the flow aborts the body's signal on the worker", async () => {
    const channel = uniqueName("flowctl_test_abort");
    const sub = new Redis(REDIS_URL);
    await sub.subscribe(channel);
    const heard = new Promise<string>((resolve) => sub.on("message", (_c: string, m: string) => resolve(m)));
    try {
      const f = redisFlow("timeout", queue, async () => [await t.waitsForAbort.with({ returnState: true })(channel)]);
      const { state } = await runWithState(f);
      const [inner] = state.data as State[];
      assert.equal(inner!.name, "TimedOut");
      assert.match(await heard, /^aborted on (\d+)$/);
    } finally {
      sub.disconnect();
    }
  });

  test("`flowctl runs logs` shows the lines the workers wrote", async () => {
    const f = redisFlow("for-cli", queue, async () => t.double(21));
    const { run, state } = await runWithState(f);
    assert.equal(state.type, "COMPLETED");
    await flushedStore();
    const res = await runCli(["runs", "logs", run.name], { home: home.dir, env: { PREFECT_API_DATABASE_CONNECTION_URL: pg.url } });
    assert.equal(res.code, 0, res.stderr);
    const out = res.stdout + res.stderr;
    assert.match(out, new RegExp(`Task run 'double-0' - start 21 on (${w1.pid}|${w2.pid})`));
    assert.match(out, /Task run 'double-0' - Finished in state Completed\(\)/);
  });
});

describe("a worker killed mid-run", LIMIT, () => {
  test("its task run goes to the other worker and completes: no task run is lost", async () => {
    const queue = newQueue();
    const env = { FLOWCTL_TEST_BARRIER: `${queue}:barrier` };
    const fast = ["--concurrency", "1", "--lock-duration", "1"];
    const [victim, survivor] = await Promise.all([
      startWorker(queue, fast, { ...env, FLOWCTL_TEST_HANG: "1" }),
      startWorker(queue, fast, env),
    ]);
    const f = redisFlow("killed-worker", queue, async () => Promise.all(t.double.map([0, 1, 2, 3, 4, 5]).map((x) => x.result())));
    const running = runWithState(f);
    const [, index] = await victim.waitFor(/hanging (\d+) on/);
    victim.child.kill("SIGKILL");
    await victim.exited;
    const { run, state } = await running;
    assert.equal(state.type, "COMPLETED", String(state.message));
    const values = state.data as Awaited<ReturnType<typeof t.double>>[];
    assert.deepEqual(values.map((v) => v.doubled), [0, 2, 4, 6, 8, 10]);
    const k = Number(index);
    assert.equal(values[k]!.pid, survivor.pid, "the killed worker's task run was finished by the other worker");
    const store = await flushedStore();
    // (the killed worker's own last lines may not have reached the store before it died)
    const logs = (await store.getLogs({ taskRunId: values[k]!.run.id })).map((l) => l.message);
    assert.ok(logs.includes(`start ${k} on ${survivor.pid}`), logs.join("\n"));
    assert.ok(logs.some((m) => /stopped responding; the run goes back to the queue/.test(m)), logs.join("\n"));
    const rows = await store.listTaskRuns({ flowRunId: run.id });
    assert.deepEqual(rows.map((r) => r.stateName), Array(6).fill("Completed"));
  });

  test("past --max-stalled the task run ends Crashed, never silently lost", async () => {
    const queue = newQueue();
    const env = { FLOWCTL_TEST_BARRIER: `${queue}:barrier` };
    const strict = ["--concurrency", "1", "--lock-duration", "1", "--max-stalled", "0"];
    const [victim] = await Promise.all([
      startWorker(queue, strict, { ...env, FLOWCTL_TEST_HANG: "1" }),
      startWorker(queue, strict, env),
    ]);
    const f = redisFlow("crashed-task", queue, async () => {
      const futures = t.double.map([0, 1, 2, 3]);
      return Promise.all(futures.map((x) => x.wait()));
    });
    const running = runWithState(f);
    const [, index] = await victim.waitFor(/hanging (\d+) on/);
    victim.child.kill("SIGKILL");
    const { run, state } = await running;
    const states = state.data as State[];
    const k = Number(index);
    assert.equal(states[k]!.type, "CRASHED");
    assert.match(states[k]!.message ?? "", /Task run 'double-\d' crashed: the Redis workers running it stopped before it finished/);
    assert.deepEqual(states.filter((_, i) => i !== k).map((s) => s.type), ["COMPLETED", "COMPLETED", "COMPLETED"]);
    const store = await flushedStore();
    const rows = await store.listTaskRuns({ flowRunId: run.id });
    assert.deepEqual(rows.map((r) => r.stateType).sort(), ["COMPLETED", "COMPLETED", "COMPLETED", "CRASHED"]);
  });
});

describe("a worker on another machine", LIMIT, () => {
  test("finds a task by the job's project-relative module id when the flow's path does not exist there", async () => {
    const queue = newQueue();
    const w = await startWorker(queue, [], {}, ENTRY);
    assert.match(w.stderr(), /1 task found in .*entry\.ts \(hello\)/);
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const q = new Queue(queue, { connection, prefix: "flowctl" });
    const events = new QueueEvents(queue, { connection: eventsConnection, prefix: "flowctl" });
    try {
      await events.waitUntilReady();
      const job = (moduleId: string, i: number): RedisJobData => ({
        v: PROTOCOL_VERSION,
        taskKey: t.noop.taskKey,
        taskName: "noop",
        // the flow's checkout lives elsewhere; this worker has the same project at another path
        modulePath: "/elsewhere/checkout/test/fixtures/redis/tasks.ts",
        moduleId,
        args: encode([i]),
        taskRun: { id: `run-${i}`, name: `noop-${i}`, taskName: "noop", taskKey: t.noop.taskKey, flowRunId: undefined, parentTaskRunId: undefined, tags: [], runCount: 1 },
        flowRun: undefined,
        logPrints: false,
        store: undefined,
      });
      // first a module that is nowhere (the worker has not imported tasks.ts yet)
      const missing = await (await q.add("noop", job("nowhere/tasks.ts", 1))).waitUntilFinished(events, 30_000) as RedisJobResult;
      assert.equal(missing.ok, false);
      const err = decodeError(decode((missing as { error: string }).error) as ErrorPayload) as Error & { code?: string };
      assert.equal(err.code, "TASK_NOT_FOUND");
      assert.match(err.message, /^Task 'noop' was not found by the Redis worker started on .*entry\.ts \(its module nowhere\/tasks\.ts is not on this machine\): define the task at the top level of a module/);
      // then the module at its id under the worker's project root
      const found = await (await q.add("noop", job("test/fixtures/redis/tasks.ts", 41))).waitUntilFinished(events, 30_000) as RedisJobResult;
      assert.ok(found.ok && "value" in found, JSON.stringify(found));
      assert.equal(decode(found.value), 41);
    } finally {
      await events.close();
      await q.close();
      connection.disconnect();
      eventsConnection.disconnect();
    }
  });
});

describe("worker shutdown and bad input", LIMIT, () => {
  test("SIGTERM lets the running task run finish, then the worker exits 0", async () => {
    const queue = newQueue();
    const w = await startWorker(queue);
    const f = redisFlow("drained", queue, async () => t.slow(700));
    const running = runWithState(f);
    await w.waitFor(/slow started on/);
    w.child.kill("SIGTERM");
    const { state } = await running;
    assert.equal(state.data, "slept 700");
    assert.deepEqual(await w.exited, { code: 0, signal: null });
    assert.match(w.stderr(), /Received SIGTERM: finishing 1 running task run\(s\)/);
    assert.match(w.stderr(), /Worker stopped\./);
  });

  test("bad options, a missing file and an unreachable Redis fail with one line and exit 2", async () => {
    const env = { PREFECT_API_DATABASE_CONNECTION_URL: pg.url };
    const [colon, zero, missing, noRedis] = await Promise.all([
      runCli(["worker", FIXTURE, "--queue", "a:b"], { home: home.dir, env }),
      runCli(["worker", FIXTURE, "--concurrency", "0"], { home: home.dir, env }),
      runCli(["worker", "no/such/file.ts"], { home: home.dir, env }),
      runCli(["worker", FIXTURE], { home: home.dir, env: { ...env, PREFECT_REDIS_URL: "redis://127.0.0.1:1" } }),
    ]);
    assert.equal(colon.code, 2);
    assert.match(colon.stderr, /^flowctl: error: --queue: expected `queue` to be a non-empty name without ':'/m);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--concurrency expects a whole number ≥ 1, got '0'/);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^flowctl: error: No such file: no\/such\/file\.ts$/m);
    assert.equal(noRedis.code, 2);
    assert.match(noRedis.stderr, /^flowctl: error: Cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/m);
    assert.equal(noRedis.stderr.trim().split("\n").filter((l) => l.startsWith("flowctl: error")).length, 1);
  });

  test("RedisTaskRunner options are checked when it is made", () => {
    assert.throws(() => new RedisTaskRunner({ queue: "a:b" }), /RedisTaskRunner: expected `queue` to be a non-empty name without ':'/);
    assert.throws(() => new RedisTaskRunner({ url: "http://x" }), /expected `url` to be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/x"/);
    assert.throws(() => new RedisTaskRunner({ queues: "x" } as never), /unknown option `queues`; valid: url, queue/);
  });

  test("a flow whose Redis cannot be reached ends its task runs Crashed", async () => {
    const f = flow({ name: "no-redis", taskRunner: new RedisTaskRunner({ url: "redis://127.0.0.1:1", queue: "nobody" }) }, async () => [
      await t.noop.with({ returnState: true })(1),
    ]);
    const { state } = await runWithState(f);
    const [inner] = state.data as State[];
    assert.equal(inner!.type, "CRASHED");
    assert.match(inner!.message ?? "", /^Task run 'noop-0' could not be sent to a Redis worker: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});

/** Run a flow and hand back its run record and final state (the store is written as usual). */
async function runWithState(f: unknown): Promise<{ run: FlowRunRecord; state: State }> {
  return runFlow((f as { definition: FlowDefinition }).definition, undefined, []);
}
