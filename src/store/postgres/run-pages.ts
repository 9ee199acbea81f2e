/**
 * The PostgreSQL forms of the web UI's reads of one flow run's task runs (see
 * `../sqlite/run-pages.ts`): the same answers, row for row, with row_order where SQLite has
 * its rowid.
 */
import type pg from "pg";
import type { StateType, TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter, TaskRunRow } from "../types.ts";
import { mergeGroups } from "../run-groups.ts";
import { TASK_COLS, taskRow } from "./rows.ts";

type Query = <T extends pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<T[]>;
const num = (v: unknown) => (v == null ? null : Number(v));

export async function taskRunGroups(query: Query, flowRunId: string, opts: TaskRunGroupOptions = {}): Promise<TaskRunGroupRow[]> {
  const b = opts.startBuckets;
  const rows = await query<Record<string, unknown>>(
    `SELECT task_key, MIN(task_name COLLATE "C") AS task_name, state_type, COUNT(*) AS n,
            SUM(CASE WHEN run_count > 1 THEN 1 ELSE 0 END) AS retried,
            MIN(created) AS first_created, MIN(start_time) AS start, MAX(end_time) AS "end",
            ${b ? "(start_time - $2::bigint) / $3::bigint" : "NULL::bigint"} AS bucket
     FROM task_runs WHERE flow_run_id = $1 GROUP BY task_key, state_type, bucket`,
    b ? [flowRunId, b.from, b.bucketMs] : [flowRunId],
  );
  return mergeGroups(rows.map((r) => ({
    taskKey: r.task_key as string, taskName: r.task_name as string, stateType: r.state_type as StateType,
    count: Number(r.n), retried: Number(r.retried), firstCreated: Number(r.first_created), start: num(r.start), end: num(r.end),
    bucket: num(r.bucket),
  })), opts);
}

export async function pageTaskRuns(query: Query, f: TaskRunPageFilter): Promise<TaskRunPage> {
  const params: unknown[] = [f.flowRunId];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ["flow_run_id = $1"];
  if (f.taskKey !== undefined) where.push(`task_key = ${p(f.taskKey)}`);
  if (f.state?.length) {
    where.push(`(state_type = ANY(${p(f.state.map((s) => s.toUpperCase()))}::text[]) OR state_name = ANY(${p(f.state)}::text[]))`);
  }
  if (f.notable) where.push("(state_type <> 'COMPLETED' OR run_count > 1)");
  const w = where.join(" AND ");
  const countParams = [...params];
  const [count, rows] = await Promise.all([
    f.noTotal ? Promise.resolve([]) : query<{ n: string }>(`SELECT COUNT(*) AS n FROM task_runs WHERE ${w}`, countParams),
    query<Record<string, unknown>>(
      `SELECT ${TASK_COLS} FROM task_runs WHERE ${w} ORDER BY created, row_order LIMIT ${p(f.limit)} OFFSET ${p(f.offset ?? 0)}`,
      params,
    ),
  ]);
  return { taskRuns: rows.map(taskRow), total: f.noTotal ? (f.offset ?? 0) + rows.length : Number(count[0]?.n ?? 0) };
}

export async function taskRunsUpdatedSince(
  query: Query, flowRunId: string, since: number, limit: number,
): Promise<{ taskRuns: TaskRunRow[]; maxUpdated: number }> {
  const [max] = await query<{ m: string | null }>("SELECT MAX(updated) AS m FROM task_runs WHERE flow_run_id = $1", [flowRunId]);
  const maxUpdated = Number(max?.m ?? 0);
  if (maxUpdated <= since) return { taskRuns: [], maxUpdated };
  const rows = await query<Record<string, unknown>>(
    `SELECT ${TASK_COLS} FROM task_runs WHERE flow_run_id = $1 AND updated > $2 ORDER BY updated, row_order LIMIT $3`,
    [flowRunId, since, limit],
  );
  return { taskRuns: rows.map(taskRow), maxUpdated };
}
