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
import v8 from "node:v8";
import { FlowctlError, coerceError } from "../errors.ts";
import type { LogRecord } from "../logging/record.ts";
import type { StateType } from "../engine/states.ts";

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

const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;

/** Prototypes v8 serialisation restores faithfully (typed arrays and errors apart). */
const KEPT_PROTOTYPES = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Number.prototype,
  String.prototype,
  Boolean.prototype,
  BigInt.prototype,
  Buffer.prototype,
]);

const ERROR_PROTOTYPES = new Set<object>(
  [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError].map((c) => c.prototype),
);

function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * The first part of `value` that cannot cross to another thread or process unchanged, as
 * "`path` is …", or undefined when all of it can.
 */
export function findUntransferable(value: unknown, path: string, seen = new Set<object>()): string | undefined {
  if (typeof value === "function") return `\`${path}\` is a function${value.name ? ` (${value.name})` : ""}`;
  if (typeof value === "symbol") return `\`${path}\` is a symbol (${String(value)})`;
  if (typeof value !== "object" || value === null || seen.has(value)) return undefined;
  seen.add(value);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (ArrayBuffer.isView(value) && Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTO) return undefined;
  if (ERROR_PROTOTYPES.has(proto as object)) return undefined;
  if (!KEPT_PROTOTYPES.has(proto)) {
    const name = (value.constructor as { name?: string } | undefined)?.name || "an anonymous class";
    return `\`${path}\` is an instance of ${name}, which would arrive as a plain object`;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      const bad = findUntransferable(k, `${path}<map key ${i}>`, seen) ?? findUntransferable(v, `${path}<map value ${i}>`, seen);
      if (bad) return bad;
      i++;
    }
  } else if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      const bad = findUntransferable(v, `${path}<set item ${i++}>`, seen);
      if (bad) return bad;
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findUntransferable(value[i], childPath(path, i), seen);
      if (bad) return bad;
    }
  } else {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const bad = findUntransferable(rec[k], childPath(path, k), seen);
      if (bad) return bad;
    }
  }
  return undefined;
}

/** Like `findUntransferable`, but a getter that throws is reported instead of thrown. */
export function checkTransferable(value: unknown, path: string): string | undefined {
  try {
    return findUntransferable(value, path);
  } catch (err) {
    return `\`${path}\` is unreadable (a getter threw: ${coerceError(err).message})`;
  }
}

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
