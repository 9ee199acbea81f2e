/**
 * RedisTaskRunner throughput: 2,000 no-op tasks mapped in one flow run, their bodies executed by
 * two local `flowctl worker` processes (real Redis on 127.0.0.1), against the same flow on the
 * default in-process runner and against `Promise.all` of raw calls. Also the round trip of one
 * task at a time (sequential `await`), which is the runner's latency. SQLite store on for the
 * flow and the workers, logging WARNING; best of 3 rounds; workers started before timing.
 *
 * The task is defined at this module's top level, so a worker started on this file finds it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
// "flowctl", not ../src: the workers load this file through their own (compiled) copy of flowctl
import { flow, task, RedisTaskRunner, type TaskRunner } from "flowctl";
import type { BenchFigure } from "./run.ts";

const N = 2000;
const SEQUENTIAL = 300;
const ROUNDS = 3;
const REDIS_URL = process.env.FLOWCTL_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const BIN = fileURLToPath(new URL("../bin/flowctl", import.meta.url));
const SELF = fileURLToPath(import.meta.url);

async function noopBody(i: number): Promise<number> {
  return i;
}
export const noop = task({ name: "noop" }, noopBody);

function fanout(runner: TaskRunner | undefined) {
  return flow({ name: "redis-bench", ...(runner ? { taskRunner: runner } : {}) }, async function redisBench({ n, sequential }: { n: number; sequential: boolean }) {
    if (sequential) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += await noop(i);
      return sum;
    }
    const values = await Promise.all(noop.map(Array.from({ length: n }, (_, i) => i)).map((f) => f.result()));
    return values.reduce((a, b) => a + b, 0);
  });
}

async function best(fn: () => Promise<number>, expected: number): Promise<number> {
  let ms = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const got = await fn();
    ms = Math.min(ms, performance.now() - t0);
    if (got !== expected) throw new Error(`expected a sum of ${expected}, got ${got}`);
  }
  return ms;
}

function startWorker(queue: string, concurrency: number, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "worker", SELF, "--queue", queue, "--concurrency", String(concurrency)], {
      env: { ...env, NO_COLOR: "1", PREFECT_LOGGING_LEVEL: "INFO" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let text = "";
    const onData = (d: Buffer) => {
      text += d;
      if (/Worker \d+ started on queue/.test(text)) {
        child.stderr!.off("data", onData);
        child.stderr!.resume();
        resolve(child);
      }
    };
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`worker exited ${code} before it started:\n${text}`)));
  });
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill("SIGTERM");
    })),
  );
}

const sumTo = (n: number) => (n * (n - 1)) / 2;

export default async function redisRunnerBench(): Promise<BenchFigure[]> {
  const home = mkdtempSync(join(tmpdir(), "flowctl-bench-redis-"));
  const saved = { home: process.env.PREFECT_HOME, level: process.env.PREFECT_LOGGING_LEVEL };
  process.env.PREFECT_HOME = home;
  process.env.PREFECT_LOGGING_LEVEL = "WARNING";
  const { resetSettings } = await import("../src/settings/index.ts");
  const { resetLogging } = await import("../src/logging/logger.ts");
  const { storeWriter } = await import("../src/store/writer.ts");
  const { closeStore } = await import("../src/store/index.ts");
  resetSettings();
  resetLogging();
  const queues: string[] = [];
  const metrics: Record<string, number> = {};
  try {
    await storeWriter.open();
    metrics["raw Promise.all: ms"] = await best(async () => (await Promise.all(Array.from({ length: N }, (_, i) => noopBody(i)))).reduce((a, b) => a + b, 0), sumTo(N));
    const local = fanout(undefined);
    metrics["default runner, map: ms"] = await best(() => local({ n: N, sequential: false }) as Promise<number>, sumTo(N));
    metrics["default runner, sequential: µs per task"] =
      ((await best(() => local({ n: SEQUENTIAL, sequential: true }) as Promise<number>, sumTo(SEQUENTIAL))) * 1000) / SEQUENTIAL;

    const env = { ...process.env, PREFECT_HOME: home, PREFECT_REDIS_URL: REDIS_URL };
    for (const concurrency of [1, 16]) {
      const queue = `flowctl_bench_${process.pid}_c${concurrency}`;
      queues.push(queue);
      const workers = await Promise.all([startWorker(queue, concurrency, env), startWorker(queue, concurrency, env)]);
      try {
        const remote = fanout(new RedisTaskRunner({ url: REDIS_URL, queue }));
        const label = `Redis, 2 workers × concurrency ${concurrency}`;
        metrics[`${label}, map: ms`] = await best(() => remote({ n: N, sequential: false }) as Promise<number>, sumTo(N));
        if (concurrency === 1) {
          metrics["Redis, sequential: µs per task (round trip)"] =
            ((await best(() => remote({ n: SEQUENTIAL, sequential: true }) as Promise<number>, sumTo(SEQUENTIAL))) * 1000) / SEQUENTIAL;
        }
      } finally {
        await stop(workers);
      }
    }
    for (const k of Object.keys(metrics)) {
      if (k.endsWith(", map: ms")) metrics[k.replace(", map: ms", ", map: tasks per second")] = (N / metrics[k]!) * 1000;
    }
    metrics["Redis ×16 vs default runner, map: × time"] = metrics["Redis, 2 workers × concurrency 16, map: ms"]! / metrics["default runner, map: ms"]!;
    await storeWriter.flush();
    return [
      {
        name: "redis-runner",
        description: `${N.toLocaleString("en-US")} no-op tasks mapped in one flow run (and ${SEQUENTIAL} awaited one at a time): RedisTaskRunner with two local workers vs the default runner vs raw calls (SQLite store on, logging WARNING; best of ${ROUNDS})`,
        metrics,
      },
    ];
  } finally {
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    for (const q of queues) {
      const queue = new Queue(q, { connection, prefix: "flowctl" });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    connection.disconnect();
    await closeStore();
    storeWriter.resetStore();
    if (saved.home === undefined) delete process.env.PREFECT_HOME;
    else process.env.PREFECT_HOME = saved.home;
    if (saved.level === undefined) delete process.env.PREFECT_LOGGING_LEVEL;
    else process.env.PREFECT_LOGGING_LEVEL = saved.level;
    resetSettings();
    resetLogging();
    rmSync(home, { recursive: true, force: true });
  }
}
