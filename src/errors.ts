/**
 * One registry of flowctl's error classes. Every error carries a stable string `code`;
 * match on `code`, not on `instanceof`, since two copies of the library can coexist.
 */

export type ErrorCode =
  | "INVALID_OPTION"
  | "FLOW_RUN_FAILED"
  | "UPSTREAM_NOT_COMPLETED"
  | "MISSING_CONTEXT"
  | "TASK_RUN_TIMEOUT"
  | "FLOW_RUN_TIMEOUT"
  | "FUTURE_TIMEOUT"
  | "INVALID_ARGUMENT"
  | "USAGE"
  | "LOAD_ERROR"
  | "CONFIG_ERROR"
  | "STORE_ERROR"
  | "STORE_INCOMPATIBLE"
  | "STORE_READ_ONLY"
  | "STORE_LOCKED"
  | "NOT_FINAL"
  | "CANCELLED"
  | "CRASHED"
  | "NOT_SERIALIZABLE"
  | "CONCURRENCY_LIMIT"
  | "TASK_NOT_FOUND"
  | "NOT_SUPPORTED"
  | "RUN_NOT_FOUND"
  | "AMBIGUOUS_RUN"
  | "HARNESS_STALLED"
  | "INVALID_PARAMETERS"
  | "NESTING_TOO_DEEP";

export class FlowctlError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "FlowctlError";
  }
}

/** A time limit ran out: a task run, a flow run, or a wait on a future. */
export class TimeoutError extends FlowctlError {
  constructor(
    code: "TASK_RUN_TIMEOUT" | "FLOW_RUN_TIMEOUT" | "FUTURE_TIMEOUT",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = "TimeoutError";
  }
}

/** A bad command line, file or setting: the CLI exits 2 on these. */
export class UsageError extends FlowctlError {
  constructor(message: string, code: "USAGE" | "LOAD_ERROR" | "CONFIG_ERROR" = "USAGE", options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "UsageError";
  }
}

/** One thing wrong with a flow's parameters: which one, and what was expected and received. */
export interface ParameterProblem {
  /** the parameter (a dotted path inside it for nested values); "" for the whole object */
  field: string;
  /** what was wrong, in the schema library's words when it has them */
  message: string;
  /** the value that arrived, when there was one */
  received?: unknown;
}

/** A flow was called with parameters it does not take or that its schema refuses. Lists every problem. */
export class ParameterError extends FlowctlError {
  readonly problems: ParameterProblem[];
  constructor(flowName: string, problems: ParameterProblem[]) {
    const n = problems.length;
    super(
      "INVALID_PARAMETERS",
      `Invalid parameters for flow '${flowName}' (${n} problem${n === 1 ? "" : "s"}): ${problems.map(showProblem).join("; ")}`,
    );
    this.name = "ParameterError";
    this.problems = problems;
  }
}

function showProblem(p: ParameterProblem): string {
  const where = p.field === "" ? "" : `'${p.field}': `;
  return `${where}${p.message}${"received" in p ? ` (got ${showValue(p.received)})` : ""}`;
}

/** A short rendering of a received value for an error message. */
export function showValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "an invalid Date" : `Date ${v.toISOString()}`;
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function isFlowctlError(err: unknown, code?: ErrorCode): err is FlowctlError {
  if (typeof err !== "object" || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== "string" || !(err instanceof Error)) return false;
  return code === undefined ? true : c === code;
}

/** The `name` of the Error `coerceError` makes of a thrown non-Error (its message says what was thrown). */
export const NON_ERROR_THROWN = "NonErrorThrown";

/** A thrown non-Error, said as what it is: `a string: "text"`, `a number: 42`, `an object: {"a":1}` (at most 200 characters of it). */
export function describeThrown(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  const kind = Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a${/^[aeiou]/.test(typeof v) ? "n" : ""} ${typeof v}`;
  let text: string;
  try {
    text = typeof v === "bigint" ? `${v}n` : typeof v === "symbol" || typeof v === "function" ? String(v) : JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return `${kind}: ${text.length > 200 ? text.slice(0, 200) + "…" : text}`;
}

/**
 * Normalise anything thrown into an Error (JavaScript can throw non-Errors). A non-Error becomes
 * an Error named `NonErrorThrown` whose message says what was thrown (`threw a string: "text"`);
 * the value itself is kept as `thrown`.
 */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === "object" && thrown !== null && "message" in thrown && "name" in thrown) {
    const e = new Error(String((thrown as { message: unknown }).message));
    e.name = String((thrown as { name: unknown }).name);
    return e;
  }
  const e = new Error(`threw ${describeThrown(thrown)}`);
  e.name = NON_ERROR_THROWN;
  (e as Error & { thrown?: unknown }).thrown = thrown;
  return e;
}

/** Whether `err` (an Error or stored ErrorData) stands for a thrown non-Error. */
export function isNonErrorThrown(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: unknown }).name === NON_ERROR_THROWN;
}

/**
 * An error's one-line title from its name and message (an Error or stored ErrorData):
 * `Error: boom`; a thrown non-Error is its message alone (`threw a string: "text"`).
 */
export function errorTitle(e: { name?: unknown; message?: unknown }): string {
  const name = e.name === undefined || e.name === null ? "Error" : String(e.name);
  const message = e.message === undefined || e.message === null ? "" : String(e.message);
  if (name === NON_ERROR_THROWN) return message;
  return message ? `${name}: ${message}` : name;
}

/** `Error: boom`, the way Prefect renders an exception in state messages; `threw a string: "text"` for a thrown non-Error. */
export function describeError(err: unknown): string {
  return errorTitle(coerceError(err));
}

/**
 * How a run failed by throwing, after its subject ("Task run", "Flow run"): `encountered an
 * exception Error: boom` (Prefect's words), or `threw a string: "text"` for a non-Error.
 */
export function exceptionPhrase(err: unknown, colon = false): string {
  const e = coerceError(err);
  return isNonErrorThrown(e) ? e.message : `encountered an exception${colon ? ":" : ""} ${errorTitle(e)}`;
}

/** Failures are stored as data, never as live objects. */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  cause?: ErrorData;
}

export function errorToData(err: unknown, depth = 0): ErrorData {
  const e = coerceError(err);
  const data: ErrorData = { name: e.name, message: e.message };
  if (e.stack) data.stack = e.stack;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string") data.code = code;
  if (e.cause !== undefined && depth < 4) data.cause = errorToData(e.cause, depth + 1);
  return data;
}

/** The closest of `candidates` to `word` by edit distance, if close enough. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
