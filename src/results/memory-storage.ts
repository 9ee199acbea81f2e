/**
 * Result storage in memory: the cache of a test harness. Values go through the same serializer
 * as the file storage (a value it refuses is refused here too, and a hit is a copy, never the
 * object that was stored), and expiry follows the clock it is given.
 */
import { deserializeValue, serializeValue } from "./serializer.ts";
import { entryTimes, type EntryMeta, type ResultStorage, type WriteOptions } from "./storage.ts";

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
    const { created, expires } = entryTimes(opts.expiration, this.now());
    const payload = serializeValue(value);
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
