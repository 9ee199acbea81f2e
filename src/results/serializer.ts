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
import { FlowctlError } from "../errors.ts";
import { checkTransferable, type WalkStyle } from "./v8-values.ts";

function notSerializable(path: string, what: string, cause?: unknown): FlowctlError {
  return new FlowctlError(
    "NOT_SERIALIZABLE",
    `Cannot serialise the result: ${path} is ${what}. Results that are cached must be plain data ` +
      "(objects, arrays, strings, numbers, Date, Map, Set, BigInt, RegExp, typed arrays, Error).",
    cause === undefined ? undefined : { cause },
  );
}

const STORED: WalkStyle = { quote: false, verb: "come back" };

/** Serialise a task result; throws a `FlowctlError` (`NOT_SERIALIZABLE`) naming the bad part. */
export function serializeValue(value: unknown): Buffer {
  const bad = checkTransferable(value, "result", STORED);
  if (bad !== undefined) {
    throw new FlowctlError(
      "NOT_SERIALIZABLE",
      `Cannot serialise the result: ${bad}. Results that are cached must be plain data ` +
        "(objects, arrays, strings, numbers, Date, Map, Set, BigInt, RegExp, typed arrays, Error).",
    );
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
