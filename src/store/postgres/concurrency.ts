/**
 * Tag concurrency limits for PostgreSQL (tables from migration 0002). Taking slots locks the
 * run's limit rows (`FOR UPDATE`, in tag order, so two acquirers never deadlock) before counting,
 * so acquirers of the same tag in any process go one at a time and a limit is never exceeded;
 * expired leases (slots of a process that died) are deleted inside that transaction first.
 */
import type pg from "pg";
import type { ConcurrencyLimitRow, ConcurrencySlotRow, SlotAcquisition, SlotRequest } from "../types.ts";

type Client = pg.PoolClient;

const LIMIT_COLS = `l.tag, l.slot_limit, l.created, l.updated,
  (SELECT COUNT(*) FROM concurrency_slots s WHERE s.tag = l.tag AND s.lease_expires > $1) AS active`;

function limitRow(r: Record<string, unknown>): ConcurrencyLimitRow {
  return { tag: r.tag as string, limit: Number(r.slot_limit), created: Number(r.created), updated: Number(r.updated), active: Number(r.active) };
}

/** Run `fn` in one transaction on a pooled client. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function createConcurrencyLimit(c: Client, tag: string, limit: number): Promise<{ created: boolean }> {
  const now = Date.now();
  const { rows } = await c.query<{ inserted: boolean }>(
    `INSERT INTO concurrency_limits (tag, slot_limit, created, updated) VALUES ($1, $2, $3, $3)
     ON CONFLICT (tag) DO UPDATE SET slot_limit = excluded.slot_limit, updated = excluded.updated
     RETURNING (xmax = 0) AS inserted`,
    [tag, limit, now],
  );
  return { created: rows[0]!.inserted };
}

export async function listConcurrencyLimits(c: Client): Promise<ConcurrencyLimitRow[]> {
  const { rows } = await c.query(`SELECT ${LIMIT_COLS} FROM concurrency_limits l ORDER BY l.tag COLLATE "C"`, [Date.now()]);
  return rows.map(limitRow);
}

export async function getConcurrencyLimit(c: Client, tag: string): Promise<(ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined> {
  const now = Date.now();
  const { rows } = await c.query(`SELECT ${LIMIT_COLS} FROM concurrency_limits l WHERE l.tag = $2`, [now, tag]);
  if (!rows[0]) return undefined;
  const slots = await c.query<Record<string, unknown>>(
    `SELECT tag, holder_id, owner, lease_expires, acquired FROM concurrency_slots
     WHERE tag = $1 AND lease_expires > $2 ORDER BY acquired, holder_id COLLATE "C"`,
    [tag, now],
  );
  return {
    ...limitRow(rows[0]),
    slots: slots.rows.map((r) => ({
      tag: r.tag as string, holderId: r.holder_id as string, owner: r.owner as string,
      leaseExpires: Number(r.lease_expires), acquired: Number(r.acquired),
    })),
  };
}

export async function deleteConcurrencyLimit(c: Client, tag: string): Promise<boolean> {
  await c.query("DELETE FROM concurrency_slots WHERE tag = $1", [tag]);
  return ((await c.query("DELETE FROM concurrency_limits WHERE tag = $1", [tag])).rowCount ?? 0) > 0;
}

export async function resetConcurrencyLimit(c: Client, tag: string): Promise<number | undefined> {
  const { rowCount } = await c.query("SELECT 1 FROM concurrency_limits WHERE tag = $1 FOR UPDATE", [tag]);
  if (!rowCount) return undefined;
  return (await c.query("DELETE FROM concurrency_slots WHERE tag = $1", [tag])).rowCount ?? 0;
}

export async function tryAcquireSlots(c: Client, req: SlotRequest): Promise<SlotAcquisition> {
  const tags = [...new Set(req.tags)].sort();
  const now = Date.now();
  const { rows } = await c.query<{ tag: string; slot_limit: number }>(
    `SELECT tag, slot_limit FROM concurrency_limits WHERE tag = ANY($1::text[]) ORDER BY tag COLLATE "C" FOR UPDATE`,
    [tags],
  );
  const limits = new Map(rows.map((r) => [r.tag, Number(r.slot_limit)]));
  const limited = tags.filter((t) => limits.has(t));
  const zero = limited.find((t) => limits.get(t) === 0);
  if (zero !== undefined) return { acquired: false, tags: limited, limit0: zero };
  for (const tag of limited) {
    const limit = limits.get(tag)!;
    await c.query("DELETE FROM concurrency_slots WHERE tag = $1 AND lease_expires <= $2", [tag, now]);
    const { rows: count } = await c.query<{ n: string; mine: string }>(
      "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE holder_id = $1) AS mine FROM concurrency_slots WHERE tag = $2",
      [req.holderId, tag],
    );
    const n = Number(count[0]!.n);
    if (Number(count[0]!.mine) === 0 && n >= limit) return { acquired: false, tags: limited, full: { tag, limit, active: n } };
  }
  for (const tag of limited) {
    await c.query(
      `INSERT INTO concurrency_slots (tag, holder_id, owner, lease_expires, acquired) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tag, holder_id) DO UPDATE SET owner = excluded.owner, lease_expires = excluded.lease_expires`,
      [tag, req.holderId, req.owner, now + req.leaseMs, now],
    );
  }
  return { acquired: true, tags: limited };
}

export async function renewLeases(c: Client, owner: string, leaseMs: number): Promise<number> {
  return (await c.query("UPDATE concurrency_slots SET lease_expires = $1 WHERE owner = $2", [Date.now() + leaseMs, owner])).rowCount ?? 0;
}

export async function releaseSlots(c: Client, holderId: string): Promise<void> {
  await c.query("DELETE FROM concurrency_slots WHERE holder_id = $1", [holderId]);
}
