/**
 * Result storage: persisted task results (the cache), one file per key under
 * `PREFECT_LOCAL_STORAGE_PATH`.
 *
 * A key's file is `<sha256(key)>.result`, laid out as
 *   "FLOWCTL" 0x01 | u32 meta length | u32 payload length | sha256(meta + payload) | meta JSON | payload
 * where the payload is the serialised value (`serializer.ts`) and the meta is
 * `{ key, taskName, taskKey, created, expires }` (ms since the epoch; `expires` null = never).
 *
 * Writes go to a unique temp file in the same folder and are renamed over the entry, so a
 * reader sees the old entry or the new one, never a mix; when several processes write one key
 * at once the last rename wins and one valid entry remains. Files are not fsync'd: a crash
 * mid-write can leave a torn entry, which the lengths and checksum turn into a miss.
 *
 * Reads never throw: a missing, unreadable, truncated, corrupt, foreign or expired entry is a
 * miss (`undefined`).
 */
import { createHash, randomBytes } from "node:crypto";
import { promises as fsp, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FlowctlError } from "../errors.ts";
import { ensurePrivateDir, ensurePrivateHome, PRIVATE_FILE_MODE, tightenFolder } from "../private-files.ts";
import { clock } from "../clock.ts";
import { getSettings } from "../settings/index.ts";
import { deserializeValue, serializeValue } from "./serializer.ts";

/** Entries up to this size are written synchronously. */
const SYNC_WRITE_LIMIT = 256 * 1024;

export interface EntryMeta {
  key: string;
  taskName: string;
  taskKey: string;
  /** File size in bytes. */
  size: number;
  /** When it was written, ms since the epoch (by the storage's clock). */
  created: number;
  /** When it stops being a hit, ms since the epoch; null = never. */
  expires: number | null;
}

export interface WriteOptions {
  /** Seconds the result stays valid; unset = never expires. */
  expiration?: number | undefined;
  taskName: string;
  taskKey: string;
}

export interface ClearOptions {
  /** Only expired entries (unreadable ones too, since they can never be hits). */
  expiredOnly?: boolean;
  /** Only entries written by tasks of this name. */
  taskName?: string;
}

const MAGIC = Buffer.from("FLOWCTL\x01", "latin1");
const HEADER = MAGIC.length + 4 + 4 + 32;
const SUFFIX = ".result";
/** Temp files older than this are leftovers of a crashed writer; `clear` removes them. */
const STALE_TEMP_MS = 10 * 60_000;

type StoredMeta = Omit<EntryMeta, "size">;

function fileName(key: string): string {
  return createHash("sha256").update(key).digest("hex") + SUFFIX;
}

function encodeEntry(meta: StoredMeta, payload: Buffer): Buffer {
  const metaBuf = Buffer.from(JSON.stringify(meta), "utf8");
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(metaBuf.length, MAGIC.length);
  header.writeUInt32BE(payload.length, MAGIC.length + 4);
  createHash("sha256").update(metaBuf).update(payload).digest().copy(header, MAGIC.length + 8);
  return Buffer.concat([header, metaBuf, payload]);
}

/** Lengths from a header, or undefined when it is not one of ours or does not match `fileSize`. */
function parseHeader(header: Buffer, fileSize: number): { metaLen: number; payloadLen: number } | undefined {
  if (header.length < HEADER || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const metaLen = header.readUInt32BE(MAGIC.length);
  const payloadLen = header.readUInt32BE(MAGIC.length + 4);
  return HEADER + metaLen + payloadLen === fileSize ? { metaLen, payloadLen } : undefined;
}

function parseMeta(buf: Buffer): StoredMeta | undefined {
  try {
    const m = JSON.parse(buf.toString("utf8")) as Partial<StoredMeta> | null;
    if (!m || typeof m.key !== "string" || typeof m.taskName !== "string" || typeof m.taskKey !== "string") return undefined;
    if (typeof m.created !== "number" || (m.expires !== null && typeof m.expires !== "number")) return undefined;
    return { key: m.key, taskName: m.taskName, taskKey: m.taskKey, created: m.created, expires: m.expires };
  } catch {
    return undefined;
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/**
 * When an entry written now with `expiration` seconds is created and expires (`null`: never).
 * Throws `INVALID_ARGUMENT` for an expiration that is not a number of seconds ≥ 0.
 */
export function entryTimes(expiration: number | undefined, now: number): { created: number; expires: number | null } {
  if (expiration !== undefined && !(typeof expiration === "number" && expiration >= 0)) {
    throw new FlowctlError("INVALID_ARGUMENT", `Expected the cache expiration to be a number of seconds ≥ 0, got ${String(expiration)}`);
  }
  return { created: now, expires: expiration === undefined || expiration === Infinity ? null : now + expiration * 1000 };
}

export class ResultStorage {
  readonly basePath: string;
  private readonly now: () => number;

  /** `clock` gives the time in ms (tests inject a fake one); defaults to the engine's clock. */
  constructor(basePath: string, clock_?: () => number) {
    this.basePath = resolve(basePath);
    this.now = clock_ ?? (() => clock().now());
  }

  private folderReady = false;
  private folderChecked = false;

  /** The storage folder, private (created 0700; an existing one made private once per process). */
  private ensureFolder(): void {
    if (this.folderReady) return;
    ensurePrivateHome(getSettings().PREFECT_HOME, this.basePath);
    tightenFolder(this.basePath);
    ensurePrivateDir(this.basePath);
    this.folderReady = true;
  }

  /** The file that holds `key`'s entry. */
  fileFor(key: string): string {
    return join(this.basePath, fileName(key));
  }

  /** The stored value and its meta, or undefined on any kind of miss. Never throws. */
  async read(key: string): Promise<{ value: unknown; meta: EntryMeta } | undefined> {
    if (!this.folderChecked) {
      this.folderChecked = true;
      tightenFolder(this.basePath);
    }
    let buf: Buffer;
    try {
      // Read synchronously: an entry is small, and a synchronous read costs a few microseconds
      // where fs.promises.readFile costs over a hundred (several thread-pool round trips).
      buf = readFileSync(this.fileFor(key));
    } catch {
      return undefined;
    }
    const lens = parseHeader(buf, buf.length);
    if (!lens) return undefined;
    const body = buf.subarray(HEADER);
    const sum = createHash("sha256").update(body).digest();
    if (!sum.equals(buf.subarray(MAGIC.length + 8, HEADER))) return undefined;
    const meta = parseMeta(body.subarray(0, lens.metaLen));
    if (!meta || meta.key !== key) return undefined;
    if (meta.expires !== null && this.now() >= meta.expires) return undefined;
    try {
      const value = deserializeValue(body.subarray(lens.metaLen));
      return { value, meta: { ...meta, size: buf.length } };
    } catch {
      return undefined;
    }
  }

  /**
   * Store `value` under `key`, replacing any entry atomically. Throws `NOT_SERIALIZABLE` (nothing
   * written) for a value the serializer refuses, `INVALID_ARGUMENT` for a bad expiration, and
   * `STORE_ERROR` when the file cannot be written.
   */
  async write(key: string, value: unknown, opts: WriteOptions): Promise<void> {
    const { created, expires } = entryTimes(opts.expiration, this.now());
    const payload = serializeValue(value);
    const entry = encodeEntry({ key, taskName: opts.taskName, taskKey: opts.taskKey, created, expires }, payload);
    const target = this.fileFor(key);
    const temp = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    if (entry.length <= SYNC_WRITE_LIMIT) {
      // small entries (nearly all) are written synchronously: tens of microseconds instead of
      // hundreds; temp file + rename keeps the write atomic either way
      try {
        this.ensureFolder();
        writeFileSync(temp, entry, { flag: "wx", mode: PRIVATE_FILE_MODE });
        renameSync(temp, target);
        return;
      } catch (err) {
        try {
          rmSync(temp, { force: true });
        } catch {
          // nothing left behind to remove
        }
        const msg = err instanceof Error ? err.message : String(err);
        throw new FlowctlError("STORE_ERROR", `Could not write the cached result for key '${key}' to ${target}: ${msg}`, { cause: err });
      }
    }
    try {
      this.ensureFolder();
      await fsp.writeFile(temp, entry, { flag: "wx", mode: PRIVATE_FILE_MODE });
      await renameWithRetry(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => {});
      const msg = err instanceof Error ? err.message : String(err);
      throw new FlowctlError("STORE_ERROR", `Could not write the cached result for key '${key}' to ${target}: ${msg}`, { cause: err });
    }
  }

  /**
   * Every entry with a valid header and meta (expired ones included), oldest first. Payloads are
   * not read, so an entry whose payload is damaged is listed here yet still a miss for `read`.
   */
  async list(): Promise<EntryMeta[]> {
    const out: EntryMeta[] = [];
    for (const name of await this.entryNames()) {
      const meta = await this.readMeta(name);
      if (meta) out.push(meta);
    }
    return out.sort((a, b) => a.created - b.created || a.key.localeCompare(b.key));
  }

  /**
   * Delete entries; returns how many. No options: everything (unreadable entries too).
   * A writer racing with `clear` may have its fresh entry removed; that is a later miss, not an error.
   */
  async clear(opts: ClearOptions = {}): Promise<number> {
    let removed = 0;
    const now = this.now();
    for (const name of await this.entryNames(true)) {
      const file = join(this.basePath, name);
      if (!name.endsWith(SUFFIX)) {
        if (opts.taskName === undefined) await removeStaleTemp(file);
        continue;
      }
      const meta = await this.readMeta(name);
      if (opts.taskName !== undefined && meta?.taskName !== opts.taskName) continue;
      if (opts.expiredOnly && meta && (meta.expires === null || now < meta.expires)) continue;
      try {
        await fsp.unlink(file);
        removed++;
      } catch (err) {
        if (errorCode(err) !== "ENOENT") throw storeError(`Could not delete ${file}`, err);
      }
    }
    return removed;
  }

  private async entryNames(withTemps = false): Promise<string[]> {
    try {
      const names = await fsp.readdir(this.basePath);
      return names.filter((n) => n.endsWith(SUFFIX) || (withTemps && n.endsWith(".tmp"))).sort();
    } catch (err) {
      if (errorCode(err) === "ENOENT") return [];
      throw storeError(`Could not list ${this.basePath}`, err);
    }
  }

  /** The meta of one file without reading its payload; undefined if it is not a valid entry. */
  private async readMeta(name: string): Promise<EntryMeta | undefined> {
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(join(this.basePath, name), "r");
      const { size } = await handle.stat();
      const header = Buffer.alloc(HEADER);
      const { bytesRead } = await handle.read(header, 0, HEADER, 0);
      const lens = parseHeader(header.subarray(0, bytesRead), size);
      if (!lens) return undefined;
      const metaBuf = Buffer.alloc(lens.metaLen);
      await handle.read(metaBuf, 0, lens.metaLen, HEADER);
      const meta = parseMeta(metaBuf);
      return meta && fileName(meta.key) === name ? { ...meta, size } : undefined;
    } catch {
      return undefined;
    } finally {
      await handle?.close().catch(() => {});
    }
  }
}

function storeError(what: string, err: unknown): FlowctlError {
  const msg = err instanceof Error ? err.message : String(err);
  return new FlowctlError("STORE_ERROR", `${what}: ${msg}`, { cause: err });
}

async function removeStaleTemp(file: string): Promise<void> {
  try {
    const st = await fsp.stat(file);
    if (Date.now() - st.mtimeMs > STALE_TEMP_MS) await fsp.unlink(file);
  } catch {
    // gone already, or not ours to judge
  }
}

/** Windows refuses to rename over a file another process has open; that passes quickly. */
async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fsp.rename(from, to);
    } catch (err) {
      const code = errorCode(err);
      if (attempt >= 5 || (code !== "EPERM" && code !== "EACCES" && code !== "EBUSY")) throw err;
      await new Promise((r) => setTimeout(r, 10 * (attempt + 1)));
    }
  }
}

const storages = new Map<string, ResultStorage>();

/** The storage under `PREFECT_LOCAL_STORAGE_PATH` (one instance per path). */
export function getResultStorage(): ResultStorage {
  const base = resolve(getSettings().PREFECT_LOCAL_STORAGE_PATH);
  let storage = storages.get(base);
  if (!storage) {
    storage = new ResultStorage(base);
    storages.set(base, storage);
  }
  return storage;
}
