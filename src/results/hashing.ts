/**
 * Stable, value-based hashing of task inputs for cache keys.
 *
 * `stableSerialize` turns a value into a canonical string: object key order does not matter,
 * and Dates, Maps, Sets, BigInts, RegExps, URLs, boxed primitives and binary data
 * (ArrayBuffer, typed arrays, DataView, Buffer) are encoded by value. Other class instances
 * are encoded by constructor name plus their own enumerable data (or their `toJSON()` result).
 *
 * Unhashable, with an `UnhashableError` naming the path (`items[2].fn`): functions, symbols,
 * circular structures, resources whose identity is not their data (EventEmitters such as
 * sockets, streams and child processes; EventTargets such as AbortSignal; web streams;
 * Promises; WeakMap/WeakSet/WeakRef; iterators and generators), and class instances with no
 * visible state (only private fields), since those would all hash alike.
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { FlowctlError } from "../errors.ts";

export class UnhashableError extends FlowctlError {
  /** Where in the value the problem is, e.g. `items[2].fn`. */
  readonly path: string;
  /** What is wrong, as a predicate: "is a function (fn)", "is a circular reference". */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super("NOT_SERIALIZABLE", `${path} ${reason}, so it cannot be hashed`);
    this.name = "UnhashableError";
    this.path = path;
    this.reason = reason;
  }
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

const ITERATOR_TAGS = new Set([
  "[object Generator]",
  "[object AsyncGenerator]",
  "[object Map Iterator]",
  "[object Set Iterator]",
  "[object Array Iterator]",
  "[object String Iterator]",
  "[object RegExp String Iterator]",
  "[object Iterator]",
]);

const g = globalThis as Record<string, unknown>;
const RESOURCE_CLASSES: [string, unknown][] = [
  ["an EventEmitter (socket, stream, process…)", EventEmitter],
  ["an EventTarget", g.EventTarget],
  ["a Promise", Promise],
  ["a WeakMap", WeakMap],
  ["a WeakSet", WeakSet],
  ["a WeakRef", g.WeakRef],
  ["a FinalizationRegistry", g.FinalizationRegistry],
  ["a ReadableStream", g.ReadableStream],
  ["a WritableStream", g.WritableStream],
  ["a TransformStream", g.TransformStream],
];

function resourceKind(obj: object): string | undefined {
  for (const [kind, ctor] of RESOURCE_CLASSES) {
    if (typeof ctor === "function" && obj instanceof ctor) return kind;
  }
  if (ITERATOR_TAGS.has(Object.prototype.toString.call(obj))) return "an iterator or generator";
  return undefined;
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): string {
  const u8 = ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString("hex");
}

function encodeNumber(n: number): string {
  if (Object.is(n, -0)) return "-0";
  return String(n); // NaN, Infinity and -Infinity spell themselves
}

function mapKeyLabel(k: unknown): string {
  if (typeof k === "string") return k.length > 40 ? "…" : JSON.stringify(k);
  if (typeof k === "number" || typeof k === "bigint" || typeof k === "boolean") return String(k);
  return "…";
}

function describe(v: unknown): string {
  if (typeof v === "function") return v.name ? `a function (${v.name})` : "a function";
  if (typeof v === "symbol") return `a symbol (${String(v)})`;
  return typeof v;
}

/** Canonical text of `value`; throws `UnhashableError` naming the offending path. */
export function stableSerialize(value: unknown, path = "value"): string {
  try {
    return encode(value, path, new Set());
  } catch (err) {
    if (err instanceof UnhashableError) throw err;
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new UnhashableError(path, "is nested too deeply");
    }
    const msg = err instanceof Error ? err.message : String(err);
    throw new UnhashableError(path, `threw when read (${msg})`);
  }
}

/** Hex sha256 of `stableSerialize(value)`. */
export function stableHash(value: unknown, path?: string): string {
  return createHash("sha256").update(stableSerialize(value, path)).digest("hex");
}

function encode(v: unknown, path: string, stack: Set<object>): string {
  switch (typeof v) {
    case "undefined":
      return "u";
    case "boolean":
      return v ? "t" : "f";
    case "number":
      return `n${encodeNumber(v)}`;
    case "bigint":
      return `i${v}`;
    case "string":
      return JSON.stringify(v);
    case "function":
    case "symbol":
      throw new UnhashableError(path, `is ${describe(v)}`);
  }
  if (v === null) return "z";
  const obj = v as object;
  if (stack.has(obj)) throw new UnhashableError(path, "is a circular reference");
  stack.add(obj);
  try {
    return encodeObject(obj, path, stack);
  } finally {
    stack.delete(obj);
  }
}

function encodeObject(obj: object, path: string, stack: Set<object>): string {
  if (Array.isArray(obj)) {
    const parts: string[] = [];
    for (let i = 0; i < obj.length; i++) parts.push(encode(obj[i], child(path, i), stack));
    return `[${parts.join(",")}]`;
  }
  if (obj instanceof Date) return `D${encodeNumber(obj.getTime())}`;
  if (obj instanceof RegExp) return `R${JSON.stringify([obj.source, obj.flags])}`;
  if (obj instanceof URL) return `U${JSON.stringify(obj.href)}`;
  if (ArrayBuffer.isView(obj)) return `B${obj.constructor.name}:${bytesOf(obj)}`;
  if (obj instanceof ArrayBuffer) return `B:${bytesOf(obj)}`;
  if (obj instanceof Number || obj instanceof String || obj instanceof Boolean || obj instanceof BigInt) {
    return `O${encode(obj.valueOf(), path, stack)}`;
  }
  if (obj instanceof Map) {
    const entries = [...obj].map(([k, val]) => {
      const ks = encode(k, `${path}<map key>`, stack);
      return [ks, encode(val, `${path}.get(${mapKeyLabel(k)})`, stack)] as const;
    });
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return `M{${entries.map(([k, val]) => `${k}=>${val}`).join(",")}}`;
  }
  if (obj instanceof Set) {
    const items = [...obj].map((item) => encode(item, `${path}<set item>`, stack)).sort();
    return `S{${items.join(",")}}`;
  }
  const proto = Object.getPrototypeOf(obj) as object | null;
  if (proto === Object.prototype || proto === null) return encodeProps(obj, "", path, stack);

  const kind = resourceKind(obj);
  if (kind) throw new UnhashableError(path, `is ${kind}, which has no value to hash`);
  const name = (obj.constructor as { name?: string } | undefined)?.name || "anonymous class";
  if (obj instanceof Error) {
    return `E${JSON.stringify([obj.name, obj.message])}${encodeProps(obj, name, path, stack)}`;
  }
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return `J${name}:${encode(toJSON.call(obj), path, stack)}`;
  if (Object.keys(obj).length === 0) {
    throw new UnhashableError(path, `is an instance of ${name} with no enumerable data to hash`);
  }
  return encodeProps(obj, name, path, stack);
}

function encodeProps(obj: object, className: string, path: string, stack: Set<object>): string {
  const keys = Object.keys(obj).sort();
  const rec = obj as Record<string, unknown>;
  const parts = keys.map((k) => `${JSON.stringify(k)}:${encode(rec[k], child(path, k), stack)}`);
  return `${className ? `C${JSON.stringify(className)}` : ""}{${parts.join(",")}}`;
}
