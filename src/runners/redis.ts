/**
 * RedisTaskRunner: task bodies run in `flowctl worker` processes, on this machine or any other
 * that reaches the same Redis (and the same run store). The flow's process keeps every run's
 * state machine; each attempt becomes one BullMQ job, and its outcome comes back through the
 * queue's event stream.
 *
 * Connection states:
 *
 *   closed ──(first attempt)──▶ connecting ──▶ open ──(no attempt in flight for IDLE_CLOSE_MS)──▶ closed
 *                                   └──(Redis unreachable)──▶ closed, the attempt ends Crashed
 *
 * An attempt waits for its job's `completed` event (the envelope of a value, a State or a
 * thrown error) or `failed` event (the job itself broke: its worker died more often than the
 * workers' `--max-stalled` allows) — the latter ends the run Crashed, never silently lost. A
 * sweep (redis-outage.ts) asks Redis directly about jobs waited on for long, in case an event
 * was missed, and carries the flow through a Redis outage: replies Redis lost are taken from
 * the run store (each worker records its reply there before sending it), jobs Redis lost before
 * they ran are sent again, and past `outageTimeout` without Redis the attempts with no recorded
 * reply end Crashed, naming Redis. Timeouts and interrupts remove a job still waiting in the queue, or ask the worker running it
 * to abort its signal.
 */
// bullmq (an optional peer dependency) and ioredis are loaded on first connection: ≈ 25 MB a
// process that never uses Redis does not pay (redis-deps.ts)
import { scrubSecrets } from "../logging/redact.ts";
import type { Queue, QueueEvents } from "bullmq";
import { checkRedisDeps, loadRedisDeps, type Redis } from "./redis-deps.ts";
import { FlowctlError, coerceError } from "../errors.ts";
import { logHub } from "../logging/logger.ts";
import { getSettings } from "../settings/index.ts";
import { checkTransferable, decodeError, notTransferable, thisIsIgnorable, usesThis, type ErrorPayload, type FlowRunSnapshot } from "./pool-protocol.ts";
import {
  DEFAULT_QUEUE, KEY_PREFIX, PROTOCOL_VERSION, cancelChannel, checkQueueName, checkRedisUrl, decode, encode, showRedisUrl, storeName,
  type RedisJobData, type RedisJobProgress, type RedisJobResult,
} from "./redis-protocol.ts";
import type { AttemptTaskRun, TaskAttempt, TaskRunner } from "./types.ts";
import { RedisSweep, SWEEP_TICK_MS, crashed, newWaiter, SettledAttempts, type Waiter } from "./redis-outage.ts";

export interface RedisTaskRunnerOptions {
  /**
   * The Redis that carries the queue.
   * @default the `PREFECT_REDIS_URL` setting (`redis://127.0.0.1:6379`)
   */
  url?: string | undefined;
  /**
   * The BullMQ queue to send task runs to; start workers with `flowctl worker FILE --queue NAME`.
   * @default "flowctl"
   */
  queue?: string | undefined;
  /**
   * Seconds the flow waits for a Redis that stopped answering mid-run before the task runs whose
   * outcome no worker recorded in the run store end Crashed.
   * @default 60
   */
  outageTimeout?: number | undefined;
}

/** Connections close this long after the last attempt settled (a later attempt reopens them). */
const IDLE_CLOSE_MS = 1000;
/** How long closing waits for BullMQ's own goodbyes to a Redis that does not answer. */
const CLOSE_WAIT_MS = 2000;

const JOB_OPTIONS = {
  // the engine owns retries; BullMQ only re-queues a job whose worker died (stalled)
  attempts: 1,
  removeOnComplete: { age: 600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

interface Connection {
  url: string;
  client: Redis;
  queue: Queue;
  events: QueueEvents;
}

interface PendingAdd {
  jobId: string;
  data: RedisJobData;
  resolve(): void;
  reject(err: unknown): void;
}

export class RedisTaskRunner implements TaskRunner {
  readonly name = "RedisTaskRunner";
  readonly queueName: string;
  private readonly explicitUrl: string | undefined;
  private conn: Promise<Connection> | undefined;
  /** @internal */
  readonly waiters = new Map<string, Waiter>();
  readonly outageMs: number;
  private readonly sweeper = new RedisSweep(this);
  /** attempts whose reply was taken: the outcomes their workers recorded are deleted from the store */
  private readonly settled = new SettledAttempts();
  private adds: PendingAdd[] = [];
  private inflight = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** cancellations on their way to Redis (closing waits for them) */
  private readonly cancelling = new Set<Promise<void>>();

  constructor(options: RedisTaskRunnerOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new FlowctlError("INVALID_OPTION", `RedisTaskRunner: expected an options object like { queue: "etl" }, got ${options === null ? "null" : typeof options}`);
    }
    const known = new Set(["url", "queue", "outageTimeout"]);
    const unknown = Object.keys(options).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new FlowctlError("INVALID_OPTION", `RedisTaskRunner: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `\`${k}\``).join(", ")}; valid: url, queue, outageTimeout`);
    }
    const outage = options.outageTimeout ?? 60;
    if (typeof outage !== "number" || !Number.isFinite(outage) || outage <= 0) {
      throw new FlowctlError("INVALID_OPTION", `RedisTaskRunner: expected \`outageTimeout\` to be a number of seconds > 0, got ${JSON.stringify(outage) ?? String(outage)}`);
    }
    this.outageMs = outage * 1000;
    this.explicitUrl = options.url === undefined ? undefined : checkRedisUrl("RedisTaskRunner", options.url);
    this.queueName = checkQueueName("RedisTaskRunner", options.queue ?? DEFAULT_QUEUE);
    checkRedisDeps("RedisTaskRunner");
  }

  async run<T>(attempt: TaskAttempt<T>): Promise<T> {
    const data = this.prepare(attempt);
    const run = attempt.taskRun;
    const signal = run.signal;
    if (signal.aborted) throw signal.reason;
    this.inflight++;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    try {
      const conn = await this.connect(run);
      const jobId = `${run.id}.${run.runCount}`;
      let onAbort: (() => void) | undefined;
      const result = await new Promise<unknown>((resolve, reject) => {
        const waiter = newWaiter(jobId, run, data, resolve, reject);
        this.waiters.set(jobId, waiter);
        onAbort = () => {
          this.waiters.delete(jobId);
          const cancelling = this.cancel(conn, jobId);
          this.cancelling.add(cancelling);
          void cancelling.finally(() => this.cancelling.delete(cancelling));
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        this.enqueue(jobId, data).catch((err) => {
          if (this.waiters.get(jobId) !== waiter) return;
          if (conn.client.status !== "ready") {
            // Redis went away: the sweep sends it once Redis answers (or ends it Crashed past outageTimeout)
            waiter.unsent = true;
            this.sweeper.noteDown();
            run.logger.warning(`Redis at ${showRedisUrl(conn.url)} is away: this task run's job goes out once it answers again.`);
            return;
          }
          this.waiters.delete(jobId);
          reject(crashed(`Task run '${run.name}' could not be sent to Redis at ${showRedisUrl(conn.url)}: ${coerceError(err).message}`, err));
        });
        // not unref'd: a flow waiting through a Redis outage has nothing else to keep it alive
        this.sweepTimer ??= setInterval(() => void this.sweep(), SWEEP_TICK_MS);
      }).finally(() => {
        if (onAbort) signal.removeEventListener("abort", onAbort);
        this.settled.add(jobId);
      });
      return unwrap(result, attempt) as T;
    } finally {
      if (--this.inflight === 0) {
        this.idleTimer = setTimeout(() => void this.close(), IDLE_CLOSE_MS).unref();
      }
    }
  }

  /** Close the connections now; attempts still waiting end Crashed. */
  async shutdown(): Promise<void> {
    for (const [id, w] of this.waiters) {
      this.waiters.delete(id);
      w.reject(crashed(`Task run '${w.run.name}' lost its result: the RedisTaskRunner was shut down while it ran`));
    }
    await this.close();
  }

  /** The job for one attempt, or a clear error when the task cannot run on a worker. */
  private prepare(attempt: TaskAttempt): RedisJobData {
    const { task, taskRun: run } = attempt;
    if (task.modulePath === undefined) {
      throw new FlowctlError(
        "TASK_NOT_FOUND",
        `Task '${task.name}' cannot run on RedisTaskRunner: flowctl could not tell which module defines it; define it at the top level of a module file.`,
      );
    }
    if (!thisIsIgnorable(attempt.thisArg) && usesThis(task.fn)) {
      throw new FlowctlError(
        "NOT_SUPPORTED",
        `Task '${task.name}' uses \`this\`, which cannot be sent to a Redis worker: workers call a task's function on its own; ` +
          "pass what it needs as arguments, or run it on the default task runner.",
      );
    }
    const lead = `Task run '${run.name}' cannot be sent to a Redis worker`;
    attempt.args.forEach((a, i) => {
      const bad = checkTransferable(a, `args[${i}]`);
      if (bad) throw notTransferable(lead, bad);
    });
    let args: string;
    try {
      args = encode(attempt.args);
    } catch (err) {
      throw notTransferable(lead, `its arguments are not serialisable (${coerceError(err).message})`);
    }
    const flow = attempt.flowRun;
    let flowRun: FlowRunSnapshot | undefined;
    if (flow && flow.id === run.flowRunId) {
      // what cannot cross is left out of `runtime.flowRun.parameters` on the worker
      const parameters: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(flow.parameters)) if (checkTransferable(v, k) === undefined) parameters[k] = v;
      flowRun = {
        id: flow.id, name: flow.name, flowName: flow.flowName, tags: [...flow.tags], runCount: flow.runCount,
        parentFlowRunId: flow.parentFlowRunId, parameters,
      };
    }
    return {
      v: PROTOCOL_VERSION,
      taskKey: task.taskKey,
      taskName: task.name,
      modulePath: task.modulePath,
      moduleId: task.moduleId,
      args,
      taskRun: {
        id: run.id, name: run.name, taskName: run.taskName, taskKey: run.taskKey, flowRunId: run.flowRunId,
        parentTaskRunId: run.parentTaskRunId, tags: [...run.tags], runCount: run.runCount,
      },
      flowRun,
      logPrints: attempt.logPrints ?? false,
      store: storeName((flow?.settings ?? getSettings()).PREFECT_API_DATABASE_CONNECTION_URL),
    };
  }

  private connect(run: AttemptTaskRun): Promise<Connection> {
    if (!this.conn) {
      const url = this.explicitUrl ?? checkRedisUrl("PREFECT_REDIS_URL", getSettings().PREFECT_REDIS_URL);
      this.conn = openConnection(url, this.queueName, this.listeners());
      this.conn.catch(() => (this.conn = undefined));
    }
    return this.conn.catch((err) => {
      throw crashed(`Task run '${run.name}' could not be sent to a Redis worker: ${coerceError(err).message}`, err);
    });
  }

  private listeners(): EventHandlers {
    return {
      completed: (jobId, returnvalue) => this.take(jobId)?.resolve(returnvalue),
      failed: (jobId, reason) => {
        const w = this.take(jobId);
        w?.reject(jobFailed(w.run, reason));
      },
      progress: (jobId, data) => {
        if (!this.waiters.has(jobId)) return;
        const logs = (data as Partial<RedisJobProgress> | undefined)?.logs;
        if (!Array.isArray(logs)) return;
        // the worker stored these lines already: without run ids the hub shows them, stores nothing
        for (const rec of logs) logHub.emit({ ...rec, message: scrubSecrets(rec.message), flowRunId: undefined, taskRunId: undefined });
      },
      stalled: (jobId) => {
        this.waiters.get(jobId)?.run.logger.warning(
          "The Redis worker running this task run stopped responding; the run goes back to the queue for another worker.",
        );
      },
    };
  }

  /** @internal */
  take(jobId: string): Waiter | undefined {
    const w = this.waiters.get(jobId);
    if (w) this.waiters.delete(jobId);
    return w;
  }

  /** Jobs added in the same turn of the event loop go to Redis in one round trip. */
  private enqueue(jobId: string, data: RedisJobData): Promise<void> {
    return new Promise((resolve, reject) => {
      this.adds.push({ jobId, data, resolve, reject });
      if (this.adds.length === 1) setImmediate(() => void this.flushAdds());
    });
  }

  private async flushAdds(): Promise<void> {
    const batch = this.adds;
    this.adds = [];
    try {
      const conn = await this.conn!;
      await conn.queue.addBulk(batch.map((a) => ({ name: a.data.taskName, data: a.data, opts: { ...JOB_OPTIONS, jobId: a.jobId } })));
      for (const a of batch) a.resolve();
    } catch (err) {
      for (const a of batch) a.reject(err);
    }
  }

  /** @internal Send these attempts' jobs again (the sweep: Redis lost them, or could not take them). */
  async send(ws: Waiter[]): Promise<void> {
    const conn = await this.conn!;
    await conn.queue.addBulk(ws.map((w) => ({ name: w.data.taskName, data: w.data, opts: { ...JOB_OPTIONS, jobId: w.jobId } })));
  }

  /** @internal */
  jobFailed(run: AttemptTaskRun, reason: string | undefined): Error {
    return jobFailed(run, reason);
  }

  private async sweep(): Promise<void> {
    const conn = await this.conn?.catch(() => undefined);
    if (conn) await this.sweeper.tick(conn);
    await this.settled.forget();
  }

  private async cancel(conn: Connection, jobId: string): Promise<void> {
    try {
      const job = await conn.queue.getJob(jobId);
      // a job still waiting is simply taken out; one being run is locked, and its worker is told
      if (job && (await job.isWaiting())) await job.remove();
    } catch {
      // it started meanwhile: the message below reaches its worker
    }
    await conn.client.publish(cancelChannel(this.queueName), jobId).catch(() => undefined);
  }

  private async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.idleTimer = undefined;
    this.sweepTimer = undefined;
    await Promise.allSettled(this.cancelling);
    await this.settled.forget(true);
    const pending = this.conn;
    this.conn = undefined;
    const conn = await pending?.catch(() => undefined);
    if (!conn) return;
    // BullMQ's close waits on Redis: a Redis that does not answer must not hold the flow's end
    const closing = Promise.allSettled([conn.events.close(), conn.queue.close()]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([closing, new Promise<false>((r) => (timer = setTimeout(() => r(false), CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    // (the events reader's connection is BullMQ's own copy: dropped here when its close did not finish)
    if (!closed) await conn.events.client.then((c) => c.disconnect(), () => undefined);
    conn.client.disconnect();
  }
}

interface EventHandlers {
  completed(jobId: string, returnvalue: unknown): void;
  failed(jobId: string, reason: string): void;
  progress(jobId: string, data: unknown): void;
  stalled(jobId: string): void;
}

async function openConnection(url: string, queueName: string, on: EventHandlers): Promise<Connection> {
  const { Redis, Queue, QueueEvents } = loadRedisDeps("RedisTaskRunner");
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 5,
    connectTimeout: 10_000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let first: Error | undefined;
  client.on("error", (e: Error) => (first ??= e));
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    // the 'error' event has the reason (ECONNREFUSED…); the rejection may only say the connection closed
    const why = first ?? coerceError(err);
    throw new Error(`cannot reach Redis at ${showRedisUrl(url)}: ${why.message}`, { cause: why });
  }
  // Events are read from the stream position of "now" on the server: no job added after this
  // line can finish unseen, however late the reader's first XREAD goes out.
  const [sec, micro] = await client.time();
  const lastEventId = `${Number(sec) * 1000 + Math.floor(Number(micro) / 1000)}-0`;
  const queue = new Queue(queueName, { connection: client, prefix: KEY_PREFIX });
  queue.on("error", () => undefined);
  const events = new QueueEvents(queueName, {
    connection: new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null }),
    prefix: KEY_PREFIX,
    autorun: false,
    lastEventId,
  });
  events.on("error", () => undefined);
  events.on("completed", (a) => on.completed(a.jobId, a.returnvalue));
  events.on("failed", (a) => on.failed(a.jobId, a.failedReason));
  events.on("progress", (a) => on.progress(a.jobId, a.data));
  events.on("stalled", (a) => on.stalled(a.jobId));
  void events.run().catch(() => undefined);
  return { url, client, queue, events };
}

function unwrap(result: unknown, attempt: TaskAttempt): unknown {
  const run = attempt.taskRun;
  const r = result as Partial<RedisJobResult> | undefined;
  if (typeof r !== "object" || r === null || r.v !== PROTOCOL_VERSION || typeof r.ok !== "boolean") {
    throw crashed(`Task run '${run.name}' got a reply its Redis worker's flowctl does not speak (protocol ${String(r?.v)}, expected ${PROTOCOL_VERSION})`);
  }
  if (!r.ok) throw decodeError(decode((r as { error: string }).error) as ErrorPayload);
  if ("state" in r && r.state) {
    const s = r.state;
    return attempt.reviveState({ type: s.type, name: s.name, message: s.message, data: decode((r as { data: string }).data), error: s.error === undefined ? undefined : decodeError(s.error) });
  }
  return decode((r as { value: string }).value);
}

function jobFailed(run: AttemptTaskRun, reason: string | undefined): FlowctlError {
  if (reason && /stalled/i.test(reason)) {
    return crashed(`Task run '${run.name}' crashed: the Redis workers running it stopped before it finished (${reason})`);
  }
  return crashed(`Task run '${run.name}' crashed on a Redis worker: ${reason ?? "unknown reason"}`);
}

