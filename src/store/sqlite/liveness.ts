/**
 * Liveness for SQLite: the heartbeat (refresh a live run's `heartbeat`, read its row back) and
 * `markCrashed` (a dead run and its unfinished task runs → Crashed, in one IMMEDIATE
 * transaction). See `../liveness.ts` for who is judged dead and why.
 */
import type Database from "better-sqlite3";
import type { CrashMark } from "../types.ts";

type Db = Database.Database;

const NOT_FINAL = "state_type NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

/** `heartbeat = at` for these flow runs; returns their rows (FLOW_COLS), as they are now. */
export function beat(db: Db, cols: string, ids: readonly string[], at: number): Record<string, unknown>[] {
  if (ids.length === 0) return [];
  const json = JSON.stringify(ids);
  db.prepare("UPDATE flow_runs SET heartbeat = ? WHERE id IN (SELECT value FROM json_each(?))").run(at, json);
  return db.prepare(`SELECT ${cols} FROM flow_runs WHERE id IN (SELECT value FROM json_each(?))`).all(json) as Record<string, unknown>[];
}

export function markCrashed(db: Db, flowRunId: string, c: CrashMark): boolean {
  const updated = c.lastSeen + 1;
  const addState = db.prepare(
    `INSERT OR REPLACE INTO run_states (run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error)
     SELECT ?, COALESCE(MAX(seq) + 1, 0), ?, 'CRASHED', 'Crashed', ?, ?, NULL, NULL FROM run_states WHERE run_id = ?`,
  );
  const tx = db.transaction((): boolean => {
    const flow = db
      .prepare(`UPDATE flow_runs SET state_type = 'CRASHED', state_name = 'Crashed', state_message = ?, end_time = ?, updated = ? WHERE id = ? AND ${NOT_FINAL}`)
      .run(c.message, c.lastSeen, updated, flowRunId);
    if (flow.changes === 0) return false;
    addState.run(flowRunId, "flow", c.message, c.timestamp, flowRunId);
    const tasks = db.prepare(`SELECT id, updated FROM task_runs WHERE flow_run_id = ? AND ${NOT_FINAL}`).all(flowRunId) as { id: string; updated: number }[];
    const task = db.prepare(
      `UPDATE task_runs SET state_type = 'CRASHED', state_name = 'Crashed', state_message = ?, end_time = ?, updated = ? WHERE id = ?`,
    );
    for (const t of tasks) {
      task.run(c.message, Math.max(c.lastSeen, Number(t.updated)), Math.max(updated, Number(t.updated) + 1), t.id);
      addState.run(t.id, "task", c.message, c.timestamp, t.id);
    }
    return true;
  });
  return tx.immediate();
}
