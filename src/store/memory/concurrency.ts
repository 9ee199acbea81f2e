/**
 * Tag concurrency limits and slots in memory, with the same rules as the SQL backends: a
 * slot whose lease ran out counts as free everywhere and is deleted by the next acquirer of
 * its tag; acquiring is all or nothing; a holder taking a slot it has renews it.
 */
import type { ConcurrencyLimitRow, ConcurrencySlotRow, SlotAcquisition, SlotRequest } from "../types.ts";

interface Limit {
  limit: number;
  created: number;
  updated: number;
}

export class MemoryConcurrency {
  private readonly limits = new Map<string, Limit>();
  /** per tag, per holder */
  private readonly slots = new Map<string, Map<string, ConcurrencySlotRow>>();

  constructor(private readonly now: () => number) {}

  create(tag: string, limit: number): { created: boolean } {
    const now = this.now();
    const old = this.limits.get(tag);
    if (old) {
      old.limit = limit;
      old.updated = now;
      return { created: false };
    }
    this.limits.set(tag, { limit, created: now, updated: now });
    return { created: true };
  }

  private live(tag: string, now: number): ConcurrencySlotRow[] {
    return Array.from(this.slots.get(tag)?.values() ?? []).filter((s) => s.leaseExpires > now);
  }

  private row(tag: string, l: Limit, now: number): ConcurrencyLimitRow {
    return { tag, limit: l.limit, created: l.created, updated: l.updated, active: this.live(tag, now).length };
  }

  list(): ConcurrencyLimitRow[] {
    const now = this.now();
    return Array.from(this.limits.keys()).sort(byCodePoint).map((tag) => this.row(tag, this.limits.get(tag)!, now));
  }

  get(tag: string): (ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined {
    const l = this.limits.get(tag);
    if (!l) return undefined;
    const now = this.now();
    const slots = this.live(tag, now)
      .sort((a, b) => a.acquired - b.acquired || byCodePoint(a.holderId, b.holderId))
      .map((s) => ({ ...s }));
    return { ...this.row(tag, l, now), slots };
  }

  delete(tag: string): boolean {
    this.slots.delete(tag);
    return this.limits.delete(tag);
  }

  reset(tag: string): number | undefined {
    if (!this.limits.has(tag)) return undefined;
    const n = this.slots.get(tag)?.size ?? 0;
    this.slots.delete(tag);
    return n;
  }

  tryAcquire(req: SlotRequest): SlotAcquisition {
    const now = this.now();
    const tags = [...new Set(req.tags)].sort(byCodePoint);
    const limited = tags.filter((t) => this.limits.has(t));
    const zero = limited.find((t) => this.limits.get(t)!.limit === 0);
    if (zero !== undefined) return { acquired: false, tags: limited, limit0: zero };
    for (const tag of limited) {
      const held = this.slots.get(tag);
      if (held) for (const [holder, s] of held) if (s.leaseExpires <= now) held.delete(holder);
      const limit = this.limits.get(tag)!.limit;
      const n = held?.size ?? 0;
      if (!held?.has(req.holderId) && n >= limit) return { acquired: false, tags: limited, full: { tag, limit, active: n } };
    }
    for (const tag of limited) {
      let held = this.slots.get(tag);
      if (!held) this.slots.set(tag, (held = new Map()));
      const old = held.get(req.holderId);
      held.set(req.holderId, { tag, holderId: req.holderId, owner: req.owner, leaseExpires: now + req.leaseMs, acquired: old?.acquired ?? now });
    }
    return { acquired: true, tags: limited };
  }

  renew(owner: string, leaseMs: number): number {
    const until = this.now() + leaseMs;
    let n = 0;
    for (const held of this.slots.values()) {
      for (const s of held.values()) {
        if (s.owner !== owner) continue;
        s.leaseExpires = until;
        n++;
      }
    }
    return n;
  }

  release(holderId: string): void {
    for (const held of this.slots.values()) held.delete(holderId);
  }
}

/** Tags sort by code point, as the SQL backends' binary collation does. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
