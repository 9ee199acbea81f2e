/**
 * The worker side of RedisTaskRunner (`flowctl worker FILE`): a BullMQ worker that takes task
 * runs from a queue and executes their bodies here. A job names its task by key; the worker
 * has imported the workflow file it was started on (which defines its top-level tasks,
 * registering them) and, for a task defined elsewhere, imports the job's module — by its
 * absolute path when that exists here, else by its project-relative id under this worker's
 * project root (another machine with the same checkout).
 *
 *   starting ──(Redis reached, file loaded)──▶ running ──(close)──▶ draining ──(active jobs done)──▶ closed
 *                                                                 └─(close(force))──▶ closed; active jobs stall and
 *                                                                    go back to the queue for another worker
 *
 * A body runs inside a run context that mirrors the flow process's task run (id, name,
 * parameters, tags, runCount; its signal aborts when the flow cancels the attempt). Log lines
 * of the run, and its console output with logPrints, are written to the run store by this
 * process and sent to the flow's process as job progress for its console. The result, a
 * returned State or the thrown error goes back as the job's return value, recorded in the run
 * store first (and an alive key kept in Redis while the body runs: attempt-keeper.ts); BullMQ's own
 * failure is kept for the job itself breaking (a worker killed mid-run more often than
 * `maxStalled` allows), which the flow records as Crashed.
 */
import { projectRoot } from "../engine/definition-site.ts";
import { consumeIfGenerator } from "../engine/consume-generator.ts";
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import type { Worker } from "bullmq";
import { loadRedisDeps, type Job, type Redis } from "../runners/redis-deps.ts";
import { FlowctlError, coerceError, describeError } from "../errors.ts";
import { runContext, type RunContext } from "../engine/context.ts";
import { bindArgs } from "../engine/parameters.ts";
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";
import { isState } from "../engine/states.ts";
import type { TaskDefinition } from "../engine/task-definition.ts";
import { findTask, taskRegistry } from "../engine/task-registry.ts";
import { Logger, logHub, type LogSink } from "../logging/logger.ts";
import type { LogRecord } from "../logging/record.ts";
import { storeWriter } from "../store/writer.ts";
import { checkTransferable, encodeError, notTransferable } from "../runners/pool-protocol.ts";
import { registerLoaderHooks } from "../loader/hooks.ts";
import { AttemptKeeper } from "./attempt-keeper.ts";
import {
  KEY_PREFIX, PROTOCOL_VERSION, cancelChannel, decode, encode, encodeErrorPayload, showRedisUrl, storeName,
  type RedisJobData, type RedisJobResult,
} from "../runners/redis-protocol.ts";

export interface RedisWorkerOptions {
  /** absolute path of the workflow file the worker was started on (already imported) */
  file: string;
  url: string;
  queue: string;
  /** task runs executed at once */
  concurrency: number;
  /** how long a job's lock lives without renewal; a worker silent that long counts as dead */
  lockDurationMs: number;
  /** how often a dead worker's jobs go back to the queue before the run ends Crashed */
  maxStalled: number;
  /** where the worker's store is (the PREFECT_API_DATABASE_CONNECTION_URL in force) */
  storeUrl: string;
  logger: Logger;
}

/** Progress lines are sent at most this often per job (and once more when it ends). */
const LOG_FLUSH_MS = 100;

interface ActiveJob {
  job: Job;
  logs: LogRecord[];
  timer: NodeJS.Timeout | undefined;
  sending: Promise<unknown>;
  wroteLogs: boolean;
}

export class RedisTaskWorker {
  private readonly imports = new Map<string, Promise<unknown>>();
  private readonly byTaskRun = new Map<string, ActiveJob>();
  private readonly warnedStores = new Set<string>();
  private readonly root: string;
  private readonly ownStore: string;
  private readonly sink: LogSink;
  private worker!: Worker;
  private connection!: Redis;
  private subscriber!: Redis;
  private keeper!: AttemptKeeper;
  private closing: Promise<void> | undefined;
  private lastError: string | undefined;

  private constructor(private readonly opts: RedisWorkerOptions) {
    this.root = projectRoot(dirname(opts.file));
    this.ownStore = storeName(opts.storeUrl);
    this.imports.set(opts.file, Promise.resolve());
    this.sink = {
      write: (rec) => {
        const active = rec.taskRunId === undefined ? undefined : this.byTaskRun.get(rec.taskRunId);
        if (!active) return;
        active.wroteLogs = true;
        active.logs.push(rec);
        active.timer ??= setTimeout(() => this.sendLogs(active), LOG_FLUSH_MS);
      },
    };
  }

  /** Reach Redis, then start taking jobs. Fails with a clear message when Redis cannot be reached. */
  static async start(opts: RedisWorkerOptions): Promise<RedisTaskWorker> {
    const w = new RedisTaskWorker(opts);
    await w.open();
    return w;
  }

  /** Names of the tasks the workflow file defined (what this worker can run without importing more). */
  static tasksFound(): string[] {
    return taskRegistry.keys().map((k) => k.replace(/-[0-9a-f]{12}$/, "")).sort();
  }

  private async open(): Promise<void> {
    const { url, queue, logger } = this.opts;
    const { Redis, Worker } = loadRedisDeps("flowctl worker");
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 10_000, retryStrategy: () => null });
    let first: Error | undefined;
    probe.on("error", (e: Error) => (first ??= e));
    try {
      await probe.connect();
      await probe.ping();
    } catch (err) {
      // the 'error' event has the reason (ECONNREFUSED…); the rejection only says the connection closed
      const why = first ?? coerceError(err);
      throw new FlowctlError("CONFIG_ERROR", `Cannot reach Redis at ${showRedisUrl(url)}: ${why.message}`, { cause: why });
    } finally {
      probe.disconnect();
    }
    this.connection = new Redis(url, { maxRetriesPerRequest: null });
    this.connection.on("error", () => undefined);
    this.keeper = new AttemptKeeper(queue, this.connection, logger);
    const processor = (job: Job, _token: string | undefined, signal: AbortSignal | undefined) => this.process(job, signal);
    this.worker = new Worker(queue, processor, {
      connection: this.connection,
      prefix: KEY_PREFIX,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: Math.max(500, Math.floor(this.opts.lockDurationMs / 2)),
      maxStalledCount: this.opts.maxStalled,
      autorun: false,
    });
    this.worker.on("error", (err) => {
      // one line per distinct problem (a Redis outage would otherwise print one per retry)
      const msg = coerceError(err).message;
      if (msg !== this.lastError) logger.error(`Redis worker error: ${msg}`);
      this.lastError = msg;
    });
    this.worker.on("stalled", (jobId) => {
      logger.warning(`Job ${jobId} stalled (the worker running it stopped responding); it goes back to the queue for another worker.`);
    });
    this.worker.on("failed", (job, err) => {
      if (job) logger.error(`Job ${job.id} for task run '${(job.data as RedisJobData).taskRun?.name}' failed: ${err.message}`);
    });
    await this.worker.waitUntilReady();
    this.subscriber = new Redis(url, { maxRetriesPerRequest: null });
    this.subscriber.on("error", () => undefined);
    this.subscriber.on("message", (_channel: string, jobId: string) => {
      this.worker.cancelJob(jobId, "the flow cancelled this task run");
    });
    await this.subscriber.subscribe(cancelChannel(queue));
    logHub.extraSinks.push(this.sink);
    void this.worker.run().catch((err) => logger.error(`Redis worker stopped: ${coerceError(err).message}`));
  }

  /** Jobs being executed right now. */
  get active(): number {
    return this.byTaskRun.size;
  }

  /**
   * Stop taking jobs. Without `force`, wait for the running ones to finish; with it, leave at
   * once (their locks expire and another worker takes them up).
   */
  close(force = false): Promise<void> {
    if (force) return this.shutdown(true);
    this.closing ??= this.shutdown(false);
    return this.closing;
  }

  private async shutdown(force: boolean): Promise<void> {
    await this.worker.close(force).catch(() => undefined);
    if (!force) await Promise.allSettled([...this.byTaskRun.values()].map((a) => a.sending));
    this.keeper.close();
    const i = logHub.extraSinks.indexOf(this.sink);
    if (i >= 0) logHub.extraSinks.splice(i, 1);
    this.subscriber.disconnect();
    this.connection.disconnect();
  }

  private async process(job: Job, signal: AbortSignal | undefined): Promise<RedisJobResult> {
    const data = job.data as RedisJobData;
    if (data?.v !== PROTOCOL_VERSION) {
      const err = new FlowctlError(
        "NOT_SUPPORTED",
        `This Redis worker speaks protocol ${PROTOCOL_VERSION}, but job ${job.id} was sent with protocol ${String(data?.v)}: run the same flowctl version on the flow's machine and the workers`,
      );
      return { v: PROTOCOL_VERSION, ok: false, error: encodeErrorPayload(encodeError(err)) };
    }
    const active: ActiveJob = { job, logs: [], timer: undefined, sending: Promise.resolve(), wroteLogs: false };
    const jobId = job.id ?? `${data.taskRun.id}.${data.taskRun.runCount}`;
    this.byTaskRun.set(data.taskRun.id, active);
    this.keeper.started(jobId);
    let reply: RedisJobResult;
    try {
      this.checkStore(data);
      // sent again after Redis lost it: a reply recorded by an earlier run of the job is the answer
      const earlier = data.resent ? await this.keeper.recorded(jobId) : undefined;
      reply = earlier ?? (await this.execute(data, signal ?? new AbortController().signal));
    } catch (err) {
      reply = { v: PROTOCOL_VERSION, ok: false, error: encodeErrorPayload(encodeError(err)) };
    } finally {
      this.byTaskRun.delete(data.taskRun.id);
      this.sendLogs(active);
      // the run's lines are in the store before the flow hears the run is over
      if (active.wroteLogs) await storeWriter.flush().catch(() => undefined);
    }
    // and so is the reply, whatever Redis does meanwhile: a flow that Redis fails still learns it
    await this.keeper.record(jobId, data.taskRun.id, reply);
    // (the lines for the flow's console go before the reply; both wait for Redis when it is away)
    await active.sending;
    this.keeper.finished(jobId);
    return reply;
  }

  private async execute(data: RedisJobData, signal: AbortSignal): Promise<RedisJobResult> {
    const def = await this.locate(data);
    const args = decode(data.args) as unknown[];
    const ctx = contextFor(data, def, args, signal);
    const value = await runContext.run(ctx, async () => consumeIfGenerator(await def.fn.apply(undefined, args)));
    const lead = `Task run '${data.taskRun.name}' on a Redis worker returned a value that cannot be sent back`;
    if (isState(value)) {
      const bad = checkTransferable(value.data, "result.data");
      if (bad) throw notTransferable(lead, bad);
      return {
        v: PROTOCOL_VERSION,
        ok: true,
        state: { type: value.type, name: value.name, message: value.message, error: value.error === undefined ? undefined : encodeError(value.error) },
        data: encodeValue(value.data, lead),
      };
    }
    const bad = checkTransferable(value, "result");
    if (bad) throw notTransferable(lead, bad);
    return { v: PROTOCOL_VERSION, ok: true, value: encodeValue(value, lead) };
  }

  private sendLogs(active: ActiveJob): void {
    if (active.timer) clearTimeout(active.timer);
    active.timer = undefined;
    if (active.logs.length === 0) return;
    const logs = active.logs;
    active.logs = [];
    active.sending = active.sending.then(() => active.job.updateProgress({ logs }).catch(() => undefined));
  }

  /** Warn once when a flow keeps its runs in another store than the one this worker writes logs to. */
  private checkStore(data: RedisJobData): void {
    if (data.store === undefined || data.store === this.ownStore || this.warnedStores.has(data.store)) return;
    this.warnedStores.add(data.store);
    this.opts.logger.warning(
      `Flow run '${data.flowRun?.name ?? "?"}' keeps its runs in ${data.store}, but this worker writes task run logs to ${this.ownStore}: ` +
        "set PREFECT_API_DATABASE_CONNECTION_URL to the same store for the flow and every worker.",
    );
  }

  private async locate(data: RedisJobData): Promise<TaskDefinition> {
    let def = findTask(data.taskKey);
    if (def) return def;
    const candidates = [...new Set([data.modulePath, join(this.root, data.moduleId)])].filter((p) => existsSync(p));
    for (const path of candidates) {
      await this.importOnce(path, data);
      def = findTask(data.taskKey);
      if (def) return def;
    }
    const shown = relative(process.cwd(), this.opts.file) || this.opts.file;
    throw new FlowctlError(
      "TASK_NOT_FOUND",
      `Task '${data.taskName}' was not found by the Redis worker started on ${shown}` +
        (candidates.length ? ` (it also imported ${candidates.join(", ")})` : ` (its module ${data.moduleId} is not on this machine)`) +
        ": define the task at the top level of a module, and start workers on the workflow file that defines or imports it.",
    );
  }

  private async importOnce(path: string, data: RedisJobData): Promise<void> {
    let loading = this.imports.get(path);
    if (!loading) {
      loading = registerLoaderHooks().then(() => import(pathToFileURL(path).href));
      this.imports.set(path, loading);
    }
    try {
      await loading;
    } catch (err) {
      throw new FlowctlError("LOAD_ERROR", `A Redis worker could not import ${path} to run task '${data.taskName}': ${describeError(err)}`, { cause: err });
    }
  }
}

function encodeValue(value: unknown, lead: string): string {
  try {
    return encode(value);
  } catch (err) {
    throw notTransferable(lead, `it is not serialisable (${coerceError(err).message})`);
  }
}

/**
 * The run context a body sees here: `runtime.taskRun` is the flow process's task run; calling
 * tasks or flows fails at once with a clear error (their runs are recorded by the flow's process).
 */
function contextFor(data: RedisJobData, def: TaskDefinition, args: unknown[], signal: AbortSignal): RunContext {
  const logger = new Logger(`Task run '${data.taskRun.name}'`, data.taskRun.flowRunId, data.taskRun.id);
  const taskRun = { ...data.taskRun, parameters: bindArgs(def.params, args), signal, logger };
  const f = data.flowRun;
  const closedError = new FlowctlError(
    "NOT_SUPPORTED",
    `Task run '${data.taskRun.name}' runs on a Redis worker, where tasks and flows cannot be called ` +
      `(their runs are recorded by the flow's process): call them from the flow, or run '${data.taskName}' on the default task runner.`,
  );
  const flowRun = {
    id: f?.id, name: f?.name, flowName: f?.flowName, parameters: f?.parameters ?? {}, tags: f?.tags ?? [], runCount: f?.runCount,
    parentFlowRunId: f?.parentFlowRunId, signal, logger: f ? new Logger(`Flow run '${f.name}'`, f.id, undefined) : undefined,
    closedError,
  };
  return {
    flowRun: flowRun as unknown as FlowRunRecord,
    taskRun: taskRun as unknown as TaskRunRecord,
    tags: data.taskRun.tags,
    printLogger: data.logPrints ? logger : undefined,
  };
}

