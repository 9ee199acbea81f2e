/**
 * Which values v8's structured serialisation carries faithfully: plain data, Date, RegExp, Map,
 * Set, BigInt, boxed primitives, binary data and built-in errors. Anything else (functions,
 * symbols, class instances, which would lose their prototype) is named by its path. Shared by
 * result storage (values written to the cache) and the off-thread runners (values that cross to
 * a worker and back).
 */
import { coerceError } from "../errors.ts";

export interface WalkStyle {
  /** quote the path in backticks */
  quote: boolean;
  /** "arrive" (crossing to a worker) or "come back" (read back from the cache) */
  verb: string;
}

const CROSSING: WalkStyle = { quote: true, verb: "arrive" };

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
export function findUntransferable(value: unknown, path: string, seen = new Set<object>(), style: WalkStyle = CROSSING): string | undefined {
  const shown = style.quote ? `\`${path}\`` : path;
  if (typeof value === "function") return `${shown} is a function${value.name ? ` (${value.name})` : ""}`;
  if (typeof value === "symbol") return `${shown} is a symbol (${String(value)})`;
  if (typeof value !== "object" || value === null || seen.has(value)) return undefined;
  seen.add(value);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (ArrayBuffer.isView(value) && Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTO) return undefined;
  if (ERROR_PROTOTYPES.has(proto as object)) return undefined;
  if (!KEPT_PROTOTYPES.has(proto)) {
    const name = (value.constructor as { name?: string } | undefined)?.name || "an anonymous class";
    return `${shown} is an instance of ${name}, which would ${style.verb} as a plain object`;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      const bad = findUntransferable(k, `${path}<map key ${i}>`, seen, style) ?? findUntransferable(v, `${path}<map value ${i}>`, seen, style);
      if (bad) return bad;
      i++;
    }
  } else if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      const bad = findUntransferable(v, `${path}<set item ${i++}>`, seen, style);
      if (bad) return bad;
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findUntransferable(value[i], childPath(path, i), seen, style);
      if (bad) return bad;
    }
  } else {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const bad = findUntransferable(rec[k], childPath(path, k), seen, style);
      if (bad) return bad;
    }
  }
  return undefined;
}

/** Like `findUntransferable`, but a getter that throws is reported instead of thrown. */
export function checkTransferable(value: unknown, path: string, style: WalkStyle = CROSSING): string | undefined {
  try {
    return findUntransferable(value, path, new Set(), style);
  } catch (err) {
    return `${style.quote ? `\`${path}\`` : path} is unreadable (a getter threw: ${coerceError(err).message})`;
  }
}
