/**
 * What the pool runners and their workers say to each other, and how values cross.
 *
 * Parent → worker: one `run` message per task attempt (a worker runs one attempt at a time).
 * Worker → parent: `ready` once booted, `log` records while a body runs (logPrints output
 * included), then one `result`, `state` or `error` for the attempt; a child process about to
 * die of an uncaught exception sends `fatal` first.
 *
 * Arguments and results cross by Node's v8 serialisation (IPC in `advanced` mode for child
 * processes; packed with `v8.serialize` for threads, whose structured clone would turn a
 * Buffer into a plain Uint8Array), so both pools accept the same values. It silently turns
 * class instances into plain objects (a URL becomes `{}`), so we refuse those up front, like
 * the result serializer does: a value reaches the other side as it left, or the run fails
 * with the value's path.
 */
import { checkTransferable, findUntransferable } from "../results/v8-values.ts";
import v8 from "node:v8";
import { FlowctlError, coerceError } from "../errors.ts";
import type { LogRecord } from "../logging/record.ts";
import type { StateType } from "../store/types.ts";

export interface TaskRunSnapshot {
  id: string;
  name: string;
  taskName: string;
  taskKey: string;
  flowRunId: string | undefined;
  parentTaskRunId: string | undefined;
  tags: string[];
  runCount: number;
}

export interface FlowRunSnapshot {
  id: string;
  name: string;
  flowName: string;
  tags: string[];
  runCount: number;
  parentFlowRunId: string | undefined;
  /** sent the first time a worker sees this flow run; it keeps them */
  parameters?: Record<string, unknown>;
}

export interface RunMessage {
  type: "run";
  job: number;
  runner: string;
  modulePath: string;
  taskKey: string;
  taskName: string;
  args: unknown[];
  taskRun: TaskRunSnapshot;
  flowRun: FlowRunSnapshot | undefined;
  logPrints: boolean;
  /** the parent's log threshold */
  threshold: number;
}

export type ErrorPayload =
  | {
      kind: "error";
      name: string;
      message: string;
      stack: string | undefined;
      code: string | undefined;
      /** other own fields that could cross */
      fields: Record<string, unknown>;
      cause?: ErrorPayload;
    }
  | { kind: "thrown"; value: unknown };

export interface StatePayload {
  type: StateType;
  name: string;
  message: string | undefined;
  data: unknown;
  error: ErrorPayload | undefined;
}

export type WorkerMessage =
  | { type: "ready" }
  | { type: "log"; rec: LogRecord }
  | { type: "result"; job: number; value: unknown }
  | { type: "state"; job: number; state: StatePayload }
  | { type: "error"; job: number; error: ErrorPayload }
  /** a child process's uncaught exception, sent just before it exits */
  | { type: "fatal"; error: ErrorPayload };

export { checkTransferable, findUntransferable };

const PLAIN_FIELDS_SKIPPED = new Set(["name", "message", "stack", "code", "cause"]);

/** An error as data that can cross; the other side rebuilds it with `decodeError`. */
export function encodeError(thrown: unknown, depth = 0): ErrorPayload {
  if (!(thrown instanceof Error)) {
    return checkTransferable(thrown, "thrown") === undefined ? { kind: "thrown", value: thrown } : encodeError(coerceError(thrown), depth);
  }
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(thrown)) {
    if (PLAIN_FIELDS_SKIPPED.has(k)) continue;
    const v = (thrown as unknown as Record<string, unknown>)[k];
    if (checkTransferable(v, k) === undefined) fields[k] = v;
  }
  const code = (thrown as { code?: unknown }).code;
  const payload: ErrorPayload = {
    kind: "error",
    name: thrown.name,
    message: thrown.message,
    stack: thrown.stack,
    code: typeof code === "string" ? code : undefined,
    fields,
  };
  if (thrown.cause !== undefined && depth < 4) payload.cause = encodeError(thrown.cause, depth + 1);
  return payload;
}

/** The error (or thrown value) `encodeError` described, as close to the original as data allows. */
export function decodeError(p: ErrorPayload): unknown {
  if (p.kind === "thrown") return p.value;
  const e = new Error(p.message, p.cause === undefined ? undefined : { cause: decodeError(p.cause) });
  Object.assign(e, p.fields);
  Object.defineProperty(e, "name", { value: p.name, writable: true, configurable: true, enumerable: false });
  if (p.stack !== undefined) e.stack = p.stack;
  if (p.code !== undefined) (e as Error & { code?: string }).code = p.code;
  return e;
}

/** The error for a value that cannot cross: `lead` names the task run and what happened. */
export function notTransferable(lead: string, what: string): FlowctlError {
  return new FlowctlError(
    "NOT_SERIALIZABLE",
    `${lead}: ${what}. Arguments and results of off-thread task runs must be plain data ` +
      "(objects, arrays, strings, numbers, Date, Map, Set, BigInt, RegExp, typed arrays, Error).",
  );
}

/** A thread message's payload packed with v8 (see the header), and back. */
export function pack(value: unknown): Uint8Array {
  return v8.serialize(value);
}

export function unpack(bytes: Uint8Array): unknown {
  return v8.deserialize(bytes);
}

/** `this` that a plain call gets anyway: none, the global object, a module namespace (`mod.t()`). */
export function thisIsIgnorable(thisArg: unknown): boolean {
  return thisArg === undefined || thisArg === null || thisArg === globalThis || Object.prototype.toString.call(thisArg) === "[object Module]";
}

const thisUse = new WeakMap<Function, boolean>();

/** Whether the function's source mentions `this`; if not, dropping it changes nothing. */
export function usesThis(fn: Function): boolean {
  let r = thisUse.get(fn);
  if (r === undefined) {
    r = /\bthis\b/.test(Function.prototype.toString.call(fn));
    thisUse.set(fn, r);
  }
  return r;
}
