/**
 * Liveness for SQLite: the heartbeat (refresh a live run's `heartbeat`, read its row back: beat.mjs) and
 * `markCrashed` (a dead run and its unfinished task runs → Crashed, in one IMMEDIATE
 * transaction; a task run whose body a Redis worker recorded Completed is marked Completed
 * instead). See `../liveness.ts` for who is judged dead and why.
 */
import type Database from "better-sqlite3";
import { COMPLETED_ELSEWHERE, type CrashMark } from "../types.ts";

export { beatRows as beat } from "./beat.mjs";

type Db = Database.Database;

const NOT_FINAL = "state_type NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

export function markCrashed(db: Db, flowRunId: string, c: CrashMark): boolean {
  const updated = c.lastSeen + 1;
  const appendState = db.prepare(
    // numbered after the run's rows and its packed states (a task run's, packed-states.ts)
    `INSERT OR REPLACE INTO run_states (run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error)
     SELECT ?, MAX(COALESCE(MAX(seq) + 1, 0), COALESCE((SELECT json_array_length(states) FROM task_runs WHERE id = ?), 0)),
       ?, ?, ?, ?, ?, NULL, NULL FROM run_states WHERE run_id = ?`,
  );
  const addState = (id: string, kind: string, message: string, at: number, done = false) =>
    appendState.run(id, id, kind, done ? "COMPLETED" : "CRASHED", done ? "Completed" : "Crashed", message, at, id);
  const tx = db.transaction((): boolean => {
    const flow = db
      .prepare(`UPDATE flow_runs SET state_type = 'CRASHED', state_name = 'Crashed', state_message = ?, end_time = ?, updated = ? WHERE id = ? AND ${NOT_FINAL}`)
      .run(c.message, c.lastSeen, updated, flowRunId);
    if (flow.changes === 0) return false;
    addState(flowRunId, "flow", c.message, c.timestamp);
    // a body a worker ran to its end (its reply recorded for the run's current attempt) completed
    const tasks = db
      .prepare(
        `SELECT t.id, t.updated, o.created AS done FROM task_runs t
         LEFT JOIN attempt_outcomes o ON o.attempt_id = t.id || '.' || t.run_count AND o.state_type = 'COMPLETED'
         WHERE t.flow_run_id = ? AND t.${NOT_FINAL}`,
      )
      .all(flowRunId) as { id: string; updated: number; done: number | null }[];
    const task = db.prepare("UPDATE task_runs SET state_type = ?, state_name = ?, state_message = ?, end_time = ?, updated = ? WHERE id = ?");
    for (const t of tasks) {
      const u = Number(t.updated);
      if (t.done !== null) {
        const done = Number(t.done);
        task.run("COMPLETED", "Completed", COMPLETED_ELSEWHERE, done, Math.max(updated, u + 1, done), t.id);
        addState(t.id, "task", COMPLETED_ELSEWHERE, done, true);
      } else {
        task.run("CRASHED", "Crashed", c.message, Math.max(c.lastSeen, u), Math.max(updated, u + 1), t.id);
        addState(t.id, "task", c.message, c.timestamp);
      }
    }
    return true;
  });
  return tx.immediate();
}
