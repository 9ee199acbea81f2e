/**
 * The default result serializer: Node's structured serialisation (`v8.serialize`), which keeps
 * what JSON loses — Date, Map, Set, BigInt, RegExp, ArrayBuffer, typed arrays, DataView,
 * Buffer, boxed primitives, `undefined`, `-0`, NaN, sparse arrays and shared or circular
 * references.
 *
 * v8 silently turns any other class instance into a plain object (its prototype, methods and
 * private fields are dropped; a URL becomes `{}`), so a cache hit would hand back a different
 * kind of value than the run returned. We refuse those values up front instead: a result is
 * cached only when it comes back as it went in. Built-in Error objects are accepted and keep
 * their name, message, stack and cause (not extra fields such as `code`).
 */
import v8 from "node:v8";
import { FlowctlError, isFlowctlError } from "../errors.ts";

const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;

/** Prototypes v8 restores faithfully (besides typed arrays and errors, checked apart). */
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

function notSerializable(path: string, what: string, cause?: unknown): FlowctlError {
  return new FlowctlError(
    "NOT_SERIALIZABLE",
    `Cannot serialise the result: ${path} is ${what}. Results that are cached must be plain data ` +
      "(objects, arrays, strings, numbers, Date, Map, Set, BigInt, RegExp, typed arrays, Error).",
    cause === undefined ? undefined : { cause },
  );
}

function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Find the first value v8 would refuse or silently change; throws NOT_SERIALIZABLE. */
function check(value: unknown, path: string, seen: Set<object>): void {
  if (typeof value === "function") {
    throw notSerializable(path, value.name ? `a function (${value.name})` : "a function");
  }
  if (typeof value === "symbol") throw notSerializable(path, `a symbol (${String(value)})`);
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (ArrayBuffer.isView(value) && Object.getPrototypeOf(proto) === TYPED_ARRAY_PROTO) return;
  if (ERROR_PROTOTYPES.has(proto as object)) return;
  if (!KEPT_PROTOTYPES.has(proto)) {
    const name = (value.constructor as { name?: string } | undefined)?.name || "an anonymous class";
    throw notSerializable(path, `an instance of ${name}, which would come back as a plain object`);
  }
  // Binary data is bytes all the way down; walking a Buffer's indices would only cost time.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      check(k, `${path}<map key ${i}>`, seen);
      check(v, `${path}<map value ${i++}>`, seen);
    }
  } else if (value instanceof Set) {
    let i = 0;
    for (const v of value) check(v, `${path}<set item ${i++}>`, seen);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => check(v, childPath(path, i), seen));
  } else {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) check(rec[k], childPath(path, k), seen);
  }
}

/** Serialise a task result; throws a `FlowctlError` (`NOT_SERIALIZABLE`) naming the bad part. */
export function serializeValue(value: unknown): Buffer {
  try {
    check(value, "result", new Set());
  } catch (err) {
    if (isFlowctlError(err, "NOT_SERIALIZABLE")) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw notSerializable("result", `unreadable (a getter threw: ${msg})`, err);
  }
  try {
    return v8.serialize(value);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw notSerializable("result", `not serialisable (${msg})`, err);
  }
}

/**
 * v8's default deserializer restores typed arrays, Buffers and DataViews as views into the bytes
 * being read (or into Node's shared allocation pool), so a cached `Uint8Array`'s `.buffer` would
 * be the whole cache file. Each view gets its own ArrayBuffer instead.
 */
class OwnBuffersDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    const parent = (v8.DefaultDeserializer.prototype as unknown as { _readHostObject(this: v8.Deserializer): unknown })._readHostObject;
    const view = parent.call(this) as ArrayBufferView;
    const own = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
    if (view instanceof DataView) return new DataView(own);
    if (Buffer.isBuffer(view)) return Buffer.from(own);
    return new (view.constructor as new (buffer: ArrayBuffer) => ArrayBufferView)(own);
  }
}

/** The value `serializeValue` wrote. Throws on bytes it did not write; callers treat that as a miss. */
export function deserializeValue(buf: Buffer): unknown {
  const des = new OwnBuffersDeserializer(buf);
  des.readHeader();
  return des.readValue();
}
