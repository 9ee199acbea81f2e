/**
 * Tag concurrency limits for SQLite (tables from migration 0002). Every operation is one
 * IMMEDIATE transaction, so processes sharing the file see a consistent count: taking slots
 * reads the count and inserts under the same write lock. Expired leases (slots of a process
 * that died) are deleted inside the acquiring transaction before counting.
 */
import type Database from "better-sqlite3";
import type { ConcurrencyLimitRow, ConcurrencySlotRow, SlotAcquisition, SlotRequest } from "../types.ts";

type Db = Database.Database;
type Stmt = Database.Statement;

const LIMIT_COLS = `l.tag, l.slot_limit, l.created, l.updated,
  (SELECT COUNT(*) FROM concurrency_slots s WHERE s.tag = l.tag AND s.lease_expires > @now) AS active`;

interface Statements {
  upsert: Stmt;
  exists: Stmt;
  list: Stmt;
  get: Stmt;
  slots: Stmt;
  deleteLimit: Stmt;
  deleteSlotsOfTag: Stmt;
  expire: Stmt;
  limitOf: Stmt;
  countOthers: Stmt;
  takeSlot: Stmt;
  renew: Stmt;
  release: Stmt;
}

const cache = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = cache.get(db);
  if (!s) {
    s = {
      upsert: db.prepare(
        `INSERT INTO concurrency_limits (tag, slot_limit, created, updated) VALUES (?, ?, ?, ?)
         ON CONFLICT (tag) DO UPDATE SET slot_limit = excluded.slot_limit, updated = excluded.updated`,
      ),
      exists: db.prepare("SELECT 1 FROM concurrency_limits WHERE tag = ?"),
      list: db.prepare(`SELECT ${LIMIT_COLS} FROM concurrency_limits l ORDER BY l.tag`),
      get: db.prepare(`SELECT ${LIMIT_COLS} FROM concurrency_limits l WHERE l.tag = @tag`),
      slots: db.prepare(
        "SELECT tag, holder_id, owner, lease_expires, acquired FROM concurrency_slots WHERE tag = ? AND lease_expires > ? ORDER BY acquired, holder_id",
      ),
      deleteLimit: db.prepare("DELETE FROM concurrency_limits WHERE tag = ?"),
      deleteSlotsOfTag: db.prepare("DELETE FROM concurrency_slots WHERE tag = ?"),
      expire: db.prepare("DELETE FROM concurrency_slots WHERE tag = ? AND lease_expires <= ?"),
      limitOf: db.prepare("SELECT slot_limit FROM concurrency_limits WHERE tag = ?"),
      countOthers: db.prepare("SELECT COUNT(*) AS n, SUM(holder_id = ?) AS mine FROM concurrency_slots WHERE tag = ?"),
      takeSlot: db.prepare(
        `INSERT INTO concurrency_slots (tag, holder_id, owner, lease_expires, acquired) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tag, holder_id) DO UPDATE SET owner = excluded.owner, lease_expires = excluded.lease_expires`,
      ),
      renew: db.prepare("UPDATE concurrency_slots SET lease_expires = ? WHERE owner = ?"),
      release: db.prepare("DELETE FROM concurrency_slots WHERE holder_id = ?"),
    };
    cache.set(db, s);
  }
  return s;
}

function limitRow(r: Record<string, unknown>): ConcurrencyLimitRow {
  return {
    tag: r.tag as string,
    limit: Number(r.slot_limit),
    created: Number(r.created),
    updated: Number(r.updated),
    active: Number(r.active),
  };
}

export function createConcurrencyLimit(db: Db, tag: string, limit: number): { created: boolean } {
  const s = statements(db);
  return db
    .transaction(() => {
      const existed = s.exists.get(tag) !== undefined;
      const now = Date.now();
      s.upsert.run(tag, limit, now, now);
      return { created: !existed };
    })
    .immediate();
}

export function listConcurrencyLimits(db: Db): ConcurrencyLimitRow[] {
  return (statements(db).list.all({ now: Date.now() }) as Record<string, unknown>[]).map(limitRow);
}

export function getConcurrencyLimit(db: Db, tag: string): (ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined {
  const s = statements(db);
  return db
    .transaction(() => {
      const now = Date.now();
      const row = s.get.get({ tag, now }) as Record<string, unknown> | undefined;
      if (!row) return undefined;
      const slots = (s.slots.all(tag, now) as Record<string, unknown>[]).map((r) => ({
        tag: r.tag as string,
        holderId: r.holder_id as string,
        owner: r.owner as string,
        leaseExpires: Number(r.lease_expires),
        acquired: Number(r.acquired),
      }));
      return { ...limitRow(row), slots };
    })
    .deferred();
}

export function deleteConcurrencyLimit(db: Db, tag: string): boolean {
  const s = statements(db);
  return db
    .transaction(() => {
      s.deleteSlotsOfTag.run(tag);
      return s.deleteLimit.run(tag).changes > 0;
    })
    .immediate();
}

export function resetConcurrencyLimit(db: Db, tag: string): number | undefined {
  const s = statements(db);
  return db
    .transaction(() => {
      if (s.exists.get(tag) === undefined) return undefined;
      return s.deleteSlotsOfTag.run(tag).changes;
    })
    .immediate();
}

export function tryAcquireSlots(db: Db, req: SlotRequest): SlotAcquisition {
  const s = statements(db);
  const tags = [...new Set(req.tags)].sort();
  return db
    .transaction((): SlotAcquisition => {
      const now = Date.now();
      const limits: [tag: string, limit: number][] = [];
      for (const tag of tags) {
        const row = s.limitOf.get(tag) as { slot_limit: number } | undefined;
        if (row) limits.push([tag, Number(row.slot_limit)]);
      }
      const limited = limits.map(([tag]) => tag);
      const zero = limits.find(([, limit]) => limit === 0);
      if (zero) return { acquired: false, tags: limited, limit0: zero[0] };
      for (const [tag, limit] of limits) {
        s.expire.run(tag, now);
        const { n, mine } = s.countOthers.get(req.holderId, tag) as { n: number; mine: number | null };
        if (!mine && n >= limit) return { acquired: false, tags: limited, full: { tag, limit, active: n } };
      }
      for (const tag of limited) s.takeSlot.run(tag, req.holderId, req.owner, now + req.leaseMs, now);
      return { acquired: true, tags: limited };
    })
    .immediate();
}

export function renewLeases(db: Db, owner: string, leaseMs: number): number {
  return statements(db).renew.run(Date.now() + leaseMs, owner).changes;
}

export function releaseSlots(db: Db, holderId: string): void {
  statements(db).release.run(holderId);
}
