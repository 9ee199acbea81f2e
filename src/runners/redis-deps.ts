/**
 * BullMQ is an optional peer dependency of flowctl: only RedisTaskRunner and `flowctl worker`
 * use it, so it loads on first use, and a project that never uses the Redis runner needs
 * neither it nor its native extras. ioredis is loaded from where BullMQ finds it (BullMQ
 * depends on it), so both speak to the same ioredis.
 */
import { createRequire } from "node:module";
import { FlowctlError } from "../errors.ts";
import type * as BullMQ from "bullmq";
import type * as IORedis from "ioredis";

export interface RedisDeps {
  Queue: typeof BullMQ.Queue;
  QueueEvents: typeof BullMQ.QueueEvents;
  Worker: typeof BullMQ.Worker;
  Redis: typeof IORedis.Redis;
}

export type { Job } from "bullmq";
export type { Redis } from "ioredis";

const require = createRequire(import.meta.url);

function missing(who: string, err: unknown): FlowctlError {
  return new FlowctlError(
    "CONFIG_ERROR",
    `${who} needs the 'bullmq' package: npm install bullmq (an optional peer dependency of flowctl, for the Redis runner only)`,
    { cause: err },
  );
}

const isNotFound = (err: unknown) => (err as { code?: string })?.code === "MODULE_NOT_FOUND" || (err as { code?: string })?.code === "ERR_MODULE_NOT_FOUND";

/** Throws the one-line error naming the package when BullMQ is not installed (cheap: resolves only). */
export function checkRedisDeps(who: string): void {
  try {
    require.resolve("bullmq");
  } catch (err) {
    throw missing(who, err);
  }
}

let deps: RedisDeps | undefined;

/** BullMQ's classes and ioredis's, loaded on first call. */
export function loadRedisDeps(who: string): RedisDeps {
  if (deps) return deps;
  let bullmq: typeof BullMQ;
  try {
    bullmq = require("bullmq") as typeof BullMQ;
  } catch (err) {
    if (isNotFound(err) && /'bullmq'/.test(String((err as Error).message))) throw missing(who, err);
    throw err;
  }
  const ioredis = createRequire(require.resolve("bullmq"))("ioredis") as typeof IORedis;
  deps = { Queue: bullmq.Queue, QueueEvents: bullmq.QueueEvents, Worker: bullmq.Worker, Redis: ioredis.Redis };
  return deps;
}
