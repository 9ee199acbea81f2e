/**
 * Result storage in memory: the cache of a test harness. Values go through the same serializer
 * as the file storage (a value it refuses is refused here too, and a hit is a copy, never the
 * object that was stored), and expiry follows the clock it is given.
 */
import { FlowctlError } from "../errors.ts";
import { deserializeValue, serializeValue } from "./serializer.ts";
import type { EntryMeta, ResultStorage, WriteOptions } from "./storage.ts";

export class MemoryResultStorage implements Pick<ResultStorage, "read" | "write"> {
  private readonly entries = new Map<string, { payload: Buffer; meta: EntryMeta }>();

  /** `now` gives the time in ms (expiry is measured on it). */
  constructor(private readonly now: () => number = Date.now) {}

  async read(key: string): Promise<{ value: unknown; meta: EntryMeta } | undefined> {
    const e = this.entries.get(key);
    if (!e || (e.meta.expires !== null && this.now() >= e.meta.expires)) return undefined;
    try {
      return { value: deserializeValue(e.payload), meta: { ...e.meta } };
    } catch {
      return undefined;
    }
  }

  async write(key: string, value: unknown, opts: WriteOptions): Promise<void> {
    const { expiration } = opts;
    if (expiration !== undefined && !(typeof expiration === "number" && expiration >= 0)) {
      throw new FlowctlError("INVALID_ARGUMENT", `Expected the cache expiration to be a number of seconds ≥ 0, got ${String(expiration)}`);
    }
    const payload = serializeValue(value);
    const created = this.now();
    const expires = expiration === undefined || expiration === Infinity ? null : created + expiration * 1000;
    this.entries.set(key, { payload, meta: { key, taskName: opts.taskName, taskKey: opts.taskKey, size: payload.length, created, expires } });
  }

  /** Every entry (expired ones included), oldest first. */
  list(): EntryMeta[] {
    return Array.from(this.entries.values(), (e) => ({ ...e.meta })).sort((a, b) => a.created - b.created || a.key.localeCompare(b.key));
  }

  clear(): void {
    this.entries.clear();
  }
}
