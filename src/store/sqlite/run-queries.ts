/**
 * The WHERE clause of the log queries (`getLogs`, `countLogs`), shared so a count counts what
 * the listing lists.
 *
 * A flow run's lines are read in id order by walking the table's primary key (`+flow_run_id`
 * keeps the planner from an OR over two indexes, which sorts every line of the run for each
 * page, 50-180 ms a page at 100,000 lines): a page costs its own rows. The walk starts at the
 * run's first own line (found on the (flow_run_id, id) index), since a flow run logs before any
 * of its task runs does; lines of its task runs that carry no flow run id are matched through
 * their task run.
 */
import type Database from "better-sqlite3";
import type { LogFilter } from "../types.ts";

type Db = Database.Database;

export function logWhere(db: Db, f: LogFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  let after = f.afterId;
  if (f.flowRunId !== undefined) {
    if (f.includeTasks) {
      where.push("(+flow_run_id = ? OR (flow_run_id IS NULL AND EXISTS (SELECT 1 FROM task_runs t WHERE t.id = logs.task_run_id AND t.flow_run_id = ?)))");
      params.push(f.flowRunId, f.flowRunId);
    } else {
      where.push("+flow_run_id = ?");
      params.push(f.flowRunId);
    }
    const first = (db.prepare("SELECT min(id) AS id FROM logs WHERE flow_run_id = ?").get(f.flowRunId) as { id: number | null }).id;
    if (first !== null && (after === undefined || after < first - 1)) after = first - 1;
  }
  if (f.taskRunId !== undefined) { where.push("task_run_id = ?"); params.push(f.taskRunId); }
  if (f.minLevel !== undefined) { where.push("level >= ?"); params.push(f.minLevel); }
  if (after !== undefined) { where.push("id > ?"); params.push(after); }
  if (f.beforeId !== undefined) { where.push("id < ?"); params.push(f.beforeId); }
  return { sql: where.length ? `WHERE ${where.join(" AND ")}` : "", params };
}
