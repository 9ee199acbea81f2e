/**
 * Upstream dependencies: futures passed as arguments (also inside arrays, plain objects, Maps
 * and Sets) are awaited and replaced by their values before a task runs. A failed upstream
 * (unless wrapped in `allowFailure`) stops the downstream: it ends NotReady.
 */
import { isFuture, type TaskRunFuture } from "./futures.ts";
import type { State } from "./states.ts";

const ALLOW_FAILURE = Symbol.for("flowctl.allowFailure");
const UNMAPPED = Symbol.for("flowctl.unmapped");

export interface AllowFailure<T = unknown> {
  readonly [ALLOW_FAILURE]: true;
  readonly value: T;
}
export interface Unmapped<T = unknown> {
  readonly [UNMAPPED]: true;
  readonly value: T;
}

/** Pass a failed upstream's error in as the value instead of stopping the downstream. */
export function allowFailure<T>(value: T): AllowFailure<T> {
  return { [ALLOW_FAILURE]: true, value };
}

/** In `map`, pass this argument whole to every run instead of iterating it. */
export function unmapped<T>(value: T): Unmapped<T> {
  return { [UNMAPPED]: true, value };
}

export function isAllowFailure(v: unknown): v is AllowFailure {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[ALLOW_FAILURE] === true;
}
export function isUnmapped(v: unknown): v is Unmapped {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[UNMAPPED] === true;
}

const MAX_DEPTH = 8;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Does the value hold a future (or an allowFailure/unmapped wrapper) anywhere we look? */
export function containsFutures(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > MAX_DEPTH) return false;
  if (isFuture(v) || isAllowFailure(v) || isUnmapped(v)) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (containsFutures(x, depth + 1)) return true;
    return false;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) if (containsFutures(k, depth + 1) || containsFutures(x, depth + 1)) return true;
    return false;
  }
  if (v instanceof Set) {
    for (const x of v) if (containsFutures(x, depth + 1)) return true;
    return false;
  }
  if (isPlainObject(v)) {
    for (const k in v) if (containsFutures((v as Record<string, unknown>)[k], depth + 1)) return true;
  }
  return false;
}

export interface Upstream {
  future: TaskRunFuture;
  allowFailure: boolean;
}

/** Every future in the value, with whether it is wrapped in `allowFailure`. */
export function collectFutures(v: unknown, out: Upstream[] = [], allow = false, depth = 0): Upstream[] {
  if (typeof v !== "object" || v === null || depth > MAX_DEPTH) return out;
  if (isFuture(v)) {
    out.push({ future: v, allowFailure: allow });
    return out;
  }
  if (isAllowFailure(v)) return collectFutures(v.value, out, true, depth + 1);
  if (isUnmapped(v)) return collectFutures(v.value, out, allow, depth + 1);
  if (Array.isArray(v) || v instanceof Set) {
    for (const x of v) collectFutures(x, out, allow, depth + 1);
  } else if (v instanceof Map) {
    for (const [k, x] of v) {
      collectFutures(k, out, allow, depth + 1);
      collectFutures(x, out, allow, depth + 1);
    }
  } else if (isPlainObject(v)) {
    for (const k in v) collectFutures((v as Record<string, unknown>)[k], out, allow, depth + 1);
  }
  return out;
}

/** Replace futures by their settled values (after they are all done), unwrapping wrappers. */
export function substituteFutures(v: unknown, depth = 0): unknown {
  if (typeof v !== "object" || v === null || depth > MAX_DEPTH) return v;
  if (isFuture(v)) {
    const s: State = v.taskRun.state;
    return s.type === "COMPLETED" ? s.data : (s.error ?? new Error(s.message ?? s.name));
  }
  if (isAllowFailure(v) || isUnmapped(v)) return substituteFutures(v.value, depth + 1);
  if (Array.isArray(v)) {
    if (!containsFutures(v, depth)) return v;
    return v.map((x) => substituteFutures(x, depth + 1));
  }
  if (v instanceof Map) {
    if (!containsFutures(v, depth)) return v;
    return new Map(Array.from(v, ([k, x]) => [substituteFutures(k, depth + 1), substituteFutures(x, depth + 1)]));
  }
  if (v instanceof Set) {
    if (!containsFutures(v, depth)) return v;
    return new Set(Array.from(v, (x) => substituteFutures(x, depth + 1)));
  }
  if (isPlainObject(v)) {
    if (!containsFutures(v, depth)) return v;
    const out: Record<string, unknown> = {};
    for (const k in v) out[k] = substituteFutures((v as Record<string, unknown>)[k], depth + 1);
    return out;
  }
  return v;
}
