/**
 * The web UI's reads of one flow run's task runs, a bounded piece at a time: groups by task
 * key (with start-time buckets for the timeline's overview), pages (offset and total), what
 * changed since a poll. Each query starts from an index on flow_run_id (migration 0007), so a
 * flow run of 100,000 task runs is read a page at a time, never whole. `SqliteStore`
 * delegates to these; `row` maps a raw row to a TaskRunRow.
 */
import type Database from "better-sqlite3";
import type { StateType, TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter, TaskRunRow } from "../types.ts";
import { mergeGroups } from "../run-groups.ts";

type Db = Database.Database;
type RowOf = (r: Record<string, unknown>) => TaskRunRow;
const num = (v: unknown) => (v == null ? null : Number(v));

export function taskRunGroups(db: Db, flowRunId: string, opts: TaskRunGroupOptions = {}): TaskRunGroupRow[] {
  const b = opts.startBuckets;
  const rows = db
    .prepare(
      `SELECT task_key, MIN(task_name) AS task_name, state_type, COUNT(*) AS n, SUM(run_count > 1) AS retried,
              MIN(created) AS first_created, MIN(start_time) AS start, MAX(end_time) AS end,
              ${b ? "CAST((start_time - ?) / ? AS INTEGER)" : "NULL"} AS bucket
       FROM task_runs WHERE flow_run_id = ? GROUP BY task_key, state_type, bucket`,
    )
    .all(...(b ? [b.from, b.bucketMs] : []), flowRunId) as Record<string, unknown>[];
  return mergeGroups(rows.map((r) => ({
    taskKey: r.task_key as string, taskName: r.task_name as string, stateType: r.state_type as StateType,
    count: Number(r.n), retried: Number(r.retried), firstCreated: Number(r.first_created), start: num(r.start), end: num(r.end),
    bucket: num(r.bucket),
  })), opts);
}

export function pageTaskRuns(db: Db, cols: string, row: RowOf, f: TaskRunPageFilter): TaskRunPage {
  const where = ["flow_run_id = ?"];
  const params: unknown[] = [f.flowRunId];
  if (f.taskKey !== undefined) { where.push("task_key = ?"); params.push(f.taskKey); }
  if (f.state?.length) {
    where.push(`(state_type IN (${f.state.map(() => "?").join(",")}) OR state_name IN (${f.state.map(() => "?").join(",")}))`);
    params.push(...f.state.map((s) => s.toUpperCase()), ...f.state);
  }
  if (f.notable) where.push("(state_type <> 'COMPLETED' OR run_count > 1)");
  const w = where.join(" AND ");
  const rows = db
    .prepare(`SELECT ${cols} FROM task_runs WHERE ${w} ORDER BY created, rowid LIMIT ? OFFSET ?`)
    .all(...params, f.limit, f.offset ?? 0) as Record<string, unknown>[];
  const total = f.noTotal
    ? (f.offset ?? 0) + rows.length
    : Number((db.prepare(`SELECT COUNT(*) AS n FROM task_runs WHERE ${w}`).get(...params) as { n: number }).n);
  return { taskRuns: rows.map(row), total };
}

export function taskRunsUpdatedSince(db: Db, cols: string, row: RowOf, flowRunId: string, since: number, limit: number) {
  const max = db.prepare("SELECT MAX(updated) AS m FROM task_runs WHERE flow_run_id = ?").get(flowRunId) as { m: number | null };
  const maxUpdated = Number(max.m ?? 0);
  if (maxUpdated <= since) return { taskRuns: [], maxUpdated };
  const rows = db
    .prepare(`SELECT ${cols} FROM task_runs WHERE flow_run_id = ? AND updated > ? ORDER BY updated, rowid LIMIT ?`)
    .all(flowRunId, since, limit) as Record<string, unknown>[];
  return { taskRuns: rows.map(row), maxUpdated };
}
