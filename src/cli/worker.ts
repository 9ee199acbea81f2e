/**
 * `flowctl worker FILE [--queue NAME] [--concurrency N]`: execute the task runs that flows using
 * RedisTaskRunner send to a queue. Start as many as you like, here or on other machines that
 * reach the same Redis and run store. SIGTERM (or Ctrl-C) drains: no new task run is taken, the
 * running ones finish, then the worker exits 0; a second signal leaves at once, and the task
 * runs it held go back to the queue for another worker once their locks expire.
 */
import { InvalidArgumentError, type Command } from "commander";
import { resolve } from "node:path";
import { relative } from "node:path";
import { UsageError } from "../errors.ts";
import { Logger } from "../logging/logger.ts";
import { installPrintCapture } from "../logging/prints.ts";
import { DEFAULT_QUEUE, checkQueueName, checkRedisUrl, showRedisUrl } from "../runners/redis-protocol.ts";
import { LOG_LEVELS } from "../settings/schema.ts";
import { closeStore } from "../store/index.ts";
import { storeWriter } from "../store/writer.ts";
import { action, applyLoggingOptions, openStoreOrUsageError, parseIntOption, settingsOrUsageError } from "./util.ts";
import { loadWorkflowModule } from "./loader.ts";

interface WorkerOpts {
  queue: string;
  concurrency: number;
  lockDuration: number;
  maxStalled: number;
  logLevel?: string;
  color: boolean;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("Execute task runs sent by RedisTaskRunner: load a workflow file and take its task runs from a Redis queue")
    .argument("<file>", "the workflow file whose tasks this worker runs (tasks must be defined at a module's top level)")
    .option("-q, --queue <name>", "the queue to take task runs from (RedisTaskRunner's `queue`)", DEFAULT_QUEUE)
    .option("-c, --concurrency <n>", "task runs executed at once", parseIntOption("--concurrency", 1), 1)
    .option(
      "--lock-duration <seconds>",
      "how long a worker may go silent before its running task runs count as stalled and go to another worker",
      parseSeconds,
      30,
    )
    .option(
      "--max-stalled <n>",
      "how often a task run may be handed to another worker after its worker died; past that it ends Crashed",
      parseIntOption("--max-stalled", 0),
      1,
    )
    .option("--log-level <level>", `lowest level shown (${LOG_LEVELS.join(", ")})`)
    .option("--no-color", "plain log lines, no colors")
    .addHelpText(
      "after",
      "\nThe worker uses PREFECT_REDIS_URL (Redis) and PREFECT_API_DATABASE_CONNECTION_URL (the run store, where it writes\n" +
        "task run logs): give every worker and the flow the same ones. SIGTERM/SIGINT: finish running task runs, then exit 0.",
    )
    .action(action((file: string, opts: WorkerOpts) => workerCommand(file, opts)));
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !(n > 0)) {
    throw new InvalidArgumentError(`--lock-duration expects a number of seconds > 0, got '${value}'`);
  }
  return n;
}

async function workerCommand(file: string, opts: WorkerOpts): Promise<number> {
  applyLoggingOptions(opts);
  const queue = checkUsage(() => checkQueueName("--queue", opts.queue));
  const settings = settingsOrUsageError();
  const url = checkUsage(() => checkRedisUrl("PREFECT_REDIS_URL", settings.PREFECT_REDIS_URL));
  installPrintCapture();
  const abs = resolve(file);
  await loadWorkflowModule(file);
  // after every usage and loading check: an exit 2 writes nothing
  await openStoreOrUsageError();

  const logger = new Logger("flowctl.worker");
  // loaded here: bullmq/ioredis cost every other command ≈ 25 MB
  const { RedisTaskWorker } = await import("../worker/redis-worker.ts");
  const worker = await RedisTaskWorker.start({
    file: abs,
    url,
    queue,
    concurrency: opts.concurrency,
    lockDurationMs: Math.round(opts.lockDuration * 1000),
    maxStalled: opts.maxStalled,
    storeUrl: settings.PREFECT_API_DATABASE_CONNECTION_URL,
    logger,
  });
  const tasks = RedisTaskWorker.tasksFound();
  logger.info(
    `Worker ${process.pid} started on queue '${queue}' at ${showRedisUrl(url)}: concurrency ${opts.concurrency}, ` +
      `${tasks.length} task${tasks.length === 1 ? "" : "s"} found in ${relative(process.cwd(), abs) || abs}` +
      (tasks.length ? ` (${tasks.join(", ")})` : ""),
  );

  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        logger.info(`Received ${signal}: finishing ${worker.active} running task run(s), taking no new ones...`);
        void worker.close().then(done);
      } else {
        logger.warning(`Received ${signal} again: leaving now; running task runs go back to the queue when their locks expire.`);
        void worker.close(true).then(done);
      }
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await storeWriter.flush().catch(() => undefined);
  await closeStore();
  logger.info("Worker stopped.");
  return 0;
}

function checkUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError((err as Error).message, "USAGE");
  }
}
