/**
 * Liveness for PostgreSQL: the heartbeat and `markCrashed`, doing what `../sqlite/liveness.ts`
 * does (see `../liveness.ts` for who is judged dead and why).
 */
import type pg from "pg";
import { COMPLETED_ELSEWHERE, type CrashMark } from "../types.ts";

const NOT_FINAL = "state_type NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";
/** numbered after the run's rows and its packed states (a task run's, packed-states.ts) */
const ADD_STATE = `INSERT INTO run_states (run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error)
  SELECT $1::text, GREATEST(COALESCE(MAX(seq) + 1, 0), COALESCE((SELECT json_array_length(states::json) FROM task_runs WHERE id = $1), 0)), $2::text, $5::text, $6::text, $3::text, $4::bigint, NULL, NULL FROM run_states WHERE run_id = $1
  ON CONFLICT (run_id, seq) DO UPDATE SET type = excluded.type, name = excluded.name, message = excluded.message, timestamp = excluded.timestamp`;

/** `heartbeat = at` for these flow runs; returns their rows (FLOW_COLS), as they are now. */
export async function beat(client: pg.Pool | pg.PoolClient, cols: string, ids: readonly string[], at: number): Promise<Record<string, unknown>[]> {
  if (ids.length === 0) return [];
  const res = await client.query(`UPDATE flow_runs SET heartbeat = $1 WHERE id = ANY($2::text[]) RETURNING ${cols}`, [at, ids]);
  return res.rows as Record<string, unknown>[];
}

export async function markCrashed(client: pg.PoolClient, flowRunId: string, c: CrashMark): Promise<boolean> {
  const updated = c.lastSeen + 1;
  await client.query("BEGIN");
  try {
    const flow = await client.query(
      `UPDATE flow_runs SET state_type = 'CRASHED', state_name = 'Crashed', state_message = $1, end_time = $2, updated = $3 WHERE id = $4 AND ${NOT_FINAL}`,
      [c.message, c.lastSeen, updated, flowRunId],
    );
    if (flow.rowCount === 0) {
      await client.query("ROLLBACK");
      return false;
    }
    await client.query(ADD_STATE, [flowRunId, "flow", c.message, c.timestamp, "CRASHED", "Crashed"]);
    // a body a worker ran to its end (its reply recorded for the run's current attempt) completed
    const tasks = await client.query<{ id: string; updated: string; done: string | null }>(
      `SELECT t.id, t.updated, o.created AS done FROM task_runs t
       LEFT JOIN attempt_outcomes o ON o.attempt_id = t.id || '.' || t.run_count AND o.state_type = 'COMPLETED'
       WHERE t.flow_run_id = $1 AND t.${NOT_FINAL} ORDER BY t.id FOR UPDATE OF t`,
      [flowRunId],
    );
    const setTask = "UPDATE task_runs SET state_type = $1, state_name = $2, state_message = $3, end_time = $4, updated = $5 WHERE id = $6";
    for (const t of tasks.rows) {
      const u = Number(t.updated);
      if (t.done !== null) {
        const done = Number(t.done);
        await client.query(setTask, ["COMPLETED", "Completed", COMPLETED_ELSEWHERE, done, Math.max(updated, u + 1, done), t.id]);
        await client.query(ADD_STATE, [t.id, "task", COMPLETED_ELSEWHERE, done, "COMPLETED", "Completed"]);
      } else {
        await client.query(setTask, ["CRASHED", "Crashed", c.message, Math.max(c.lastSeen, u), Math.max(updated, u + 1), t.id]);
        await client.query(ADD_STATE, [t.id, "task", c.message, c.timestamp, "CRASHED", "Crashed"]);
      }
    }
    await client.query("COMMIT");
    return true;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
