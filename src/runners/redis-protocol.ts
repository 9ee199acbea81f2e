/**
 * What RedisTaskRunner (in the flow's process) and `flowctl worker` say to each other through
 * BullMQ. One job is one attempt of one task run: its data names the task (module path, the
 * module's project-relative id, task key) and carries the arguments; its return value is an
 * envelope holding the result, a returned State, or what the body threw. Values cross as
 * Node's structured serialisation (v8), base64 in the job's JSON, after the same check the
 * pool runners make (a value arrives as it left, or the run fails naming the value's path).
 *
 * A worker also records each reply in the shared run store (`putAttemptOutcome`) before it
 * replies through Redis, and keeps an "alive" key fresh in Redis for each body it is running:
 * a flow whose Redis went away (or came back empty) learns from the store what its bodies came
 * to, and from the alive keys which bodies are still running somewhere (see redis-outage.ts).
 *
 * Log lines travel two ways: the worker writes them to the shared run store itself, and sends
 * them to the flow's process as job progress so they show on its console too. Cancelling an
 * attempt (timeout, interrupt) is a message on a Redis channel that every worker listens to.
 */
import v8 from "node:v8";
import { FlowctlError } from "../errors.ts";
import type { LogRecord } from "../logging/record.ts";
import type { StateType } from "../store/types.ts";
import { deserializeValue } from "../results/serializer.ts";
import { sqlitePathFromUrl } from "../store/index.ts";
import type { ErrorPayload, FlowRunSnapshot, TaskRunSnapshot } from "./pool-protocol.ts";

/** BullMQ key prefix: flowctl's queues live under `flowctl:<queue>:…` in Redis. */
export const KEY_PREFIX = "flowctl";
/** @default queue name for RedisTaskRunner and `flowctl worker` */
export const DEFAULT_QUEUE = "flowctl";
export const PROTOCOL_VERSION = 1;

export interface RedisJobData {
  v: number;
  taskKey: string;
  taskName: string;
  /** absolute path of the module that defines the task, on the flow's machine */
  modulePath: string;
  /** the same module relative to its project root (`workflows/etl.ts`), for other machines */
  moduleId: string;
  /** base64 of the v8-serialised argument array */
  args: string;
  taskRun: TaskRunSnapshot;
  flowRun: FlowRunSnapshot | undefined;
  logPrints: boolean;
  /** where the flow's process keeps its runs, so a worker writing elsewhere can say so */
  store: string | undefined;
  /**
   * Sent again after Redis lost the job: a worker first looks in the run store for a reply
   * already recorded for the attempt, and returns that instead of running the body twice.
   */
  resent?: boolean;
}

export interface StateEnvelope {
  type: StateType;
  name: string;
  message: string | undefined;
  error: ErrorPayload | undefined;
}

/** A job's return value. `data`/`error` are base64 of v8-serialised values. */
export type RedisJobResult =
  | { v: number; ok: true; value: string }
  | { v: number; ok: true; state: StateEnvelope; data: string }
  | { v: number; ok: false; error: string };

/** Job progress: log records of the run, for the flow's console. */
export interface RedisJobProgress {
  logs: LogRecord[];
}

export const encode = (value: unknown): string => v8.serialize(value).toString("base64");
export const decode = (text: string): unknown => deserializeValue(Buffer.from(text, "base64"));

export function encodeErrorPayload(p: ErrorPayload): string {
  try {
    return encode(p);
  } catch {
    // a field that passed the check but v8 still refused: keep what surely crosses
    return encode({ ...p, fields: {}, cause: undefined, kind: "error" });
  }
}

/** What a reply says the body came to, as recorded with it in the run store. */
export function replyStateType(reply: RedisJobResult): StateType {
  if (!reply.ok) return "FAILED";
  return "state" in reply ? reply.state.type : "COMPLETED";
}

/** A worker refreshes the alive key of each body it runs this often, for this long. */
export const ALIVE_EVERY_MS = 1000;
export const ALIVE_TTL_MS = 5000;

/** The key that says a worker is running this job's body right now (value: `pid@host`). */
export function aliveKey(queue: string, jobId: string): string {
  return `${KEY_PREFIX}:${queue}:alive:${jobId}`;
}

/** The channel workers listen on for "stop this job" (payload: the job id). */
export function cancelChannel(queue: string): string {
  return `${KEY_PREFIX}:${queue}:cancel`;
}

/** Queue names: BullMQ keys are `prefix:queue:…`, so a colon cannot be part of one. */
export function checkQueueName(what: string, queue: unknown): string {
  if (typeof queue !== "string" || queue === "" || queue.includes(":") || /\s/.test(queue)) {
    throw new FlowctlError(
      "INVALID_OPTION",
      `${what}: expected \`queue\` to be a non-empty name without ':' or spaces, got ${JSON.stringify(queue) ?? String(queue)}`,
    );
  }
  return queue;
}

export function checkRedisUrl(what: string, url: unknown): string {
  if (typeof url !== "string" || !/^rediss?:\/\/./i.test(url)) {
    throw new FlowctlError(
      "INVALID_OPTION",
      `${what}: expected \`url\` to be a redis:// or rediss:// URL, got ${JSON.stringify(url) ?? String(url)}`,
    );
  }
  return url;
}

/** The URL without its password, for messages. */
export function showRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}

/** The store a flow writes to, as workers compare it: a SQLite file's absolute path, or the URL without password. */
export function storeName(url: string): string {
  const file = sqlitePathFromUrl(url);
  return file ?? url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1@");
}
