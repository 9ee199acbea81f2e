/**
 * Kept results: the value a completed task run returned, kept so that `flowctl runs retry` can
 * hand it back instead of running the call again.
 *
 * Encoding (`encodeKept`): one tag byte, then the data —
 *   'J' JSON text, for values JSON keeps exactly: strings, booleans, null, finite numbers other
 *       than -0, and plain objects and dense arrays of those (most results, at a fraction of the
 *       cost of a structured serialisation)
 *   'U' undefined (no data)
 *   'V' the default serializer's bytes (`serializer.ts`: Date, Map, BigInt, … kept exactly)
 * A value the serializer refuses throws `NOT_SERIALIZABLE` naming the bad part.
 *
 * Where a kept result lives: up to `INLINE_LIMIT` bytes in the run store (the caller's row);
 * above that in a result file `<storage>/runs/<flow run id>/<task run id>.result`, one folder per
 * top-level flow run, so deleting a run's results is deleting its folder.
 */
import { mkdirSync, promises as fsp, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { FlowctlError } from "../errors.ts";
import { deserializeValue, serializeValue } from "./serializer.ts";

/** Results up to this many encoded bytes are kept in the run store; larger ones in files. */
export const INLINE_LIMIT = 64 * 1024;

const J = 0x4a;
const U = 0x55;
const V = 0x56;
const UNDEFINED = Buffer.from([U]);

export function encodeKept(value: unknown): Buffer {
  switch (typeof value) {
    case "undefined":
      return UNDEFINED;
    case "string":
    case "boolean":
      return Buffer.from("J" + JSON.stringify(value), "utf8");
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return Buffer.from("J" + String(value), "latin1");
      break;
    case "object":
      if (value === null) return Buffer.from("Jnull", "latin1");
      if (jsonExact(value, 0)) return Buffer.from("J" + JSON.stringify(value), "utf8");
  }
  const body = serializeValue(value);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = V;
  body.copy(out, 1);
  return out;
}

const OBJECT_PROTO = Object.prototype;
/** Past this depth or size the check gives up (the serializer takes over). */
const MAX_DEPTH = 8;
const MAX_KEYS = 64;

/** Does JSON give this value back exactly? (plain data only; no toJSON, getters, -0, undefined, cycles past MAX_DEPTH) */
function jsonExact(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0);
    case "object": {
      if (v === null) return true;
      if (depth >= MAX_DEPTH) return false;
      if (Array.isArray(v)) {
        if (v.length > MAX_KEYS || Object.getPrototypeOf(v) !== Array.prototype) return false;
        for (let i = 0; i < v.length; i++) {
          if (!(i in v) || !jsonExact(v[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== OBJECT_PROTO) return false;
      let n = 0;
      for (const k in v) {
        if (++n > MAX_KEYS || k === "__proto__") return false;
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (!d || !("value" in d) || !jsonExact(d.value, depth + 1)) return false;
      }
      // symbol keys and non-enumerable properties would be dropped
      return Object.getOwnPropertySymbols(v).length === 0 && Object.getOwnPropertyNames(v).length === n;
    }
    default:
      return false;
  }
}

export function decodeKept(buf: Uint8Array): unknown {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (b[0]) {
    case U:
      return undefined;
    case J:
      return JSON.parse(b.subarray(1).toString("utf8"));
    case V:
      return deserializeValue(b.subarray(1));
    default:
      throw new FlowctlError("STORE_ERROR", "A kept result is damaged (unknown encoding)");
  }
}

/** The folder of a top-level flow run's kept result files. */
export function keptDir(storagePath: string, flowRunId: string): string {
  return join(storagePath, "runs", flowRunId);
}

export function keptFile(storagePath: string, flowRunId: string, taskRunId: string): string {
  return join(keptDir(storagePath, flowRunId), `${taskRunId}.result`);
}

/** Write a result file atomically (temp file + rename); the folder is private to the user. */
export async function writeKeptFile(file: string, data: Buffer): Promise<void> {
  const dir = dirname(file);
  const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(temp, data, { flag: "wx", mode: 0o600 });
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new FlowctlError("STORE_ERROR", `Could not write the result file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The value in a result file; throws `STORE_ERROR` when it is missing or damaged. */
export function readKeptFile(file: string): unknown {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    throw new FlowctlError("STORE_ERROR", `The result file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return decodeKept(buf);
}

/** Delete the result files of these top-level flow runs; how many folders there were. */
export function deleteKeptResults(storagePath: string, flowRunIds: readonly string[]): number {
  let n = 0;
  for (const id of flowRunIds) {
    if (!/^[\w.-]+$/.test(id) || id === "." || id === "..") continue;
    const dir = keptDir(storagePath, id);
    try {
      rmSync(dir, { recursive: true });
      n++;
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw new FlowctlError("STORE_ERROR", `Could not delete ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
  return n;
}
