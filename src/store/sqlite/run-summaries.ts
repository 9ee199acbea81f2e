/**
 * Read queries for people rather than the engine: task-run counts per flow run (`flowctl runs
 * ls`, the UI's run list) and the dashboard's figures. Plain functions over a better-sqlite3
 * handle; `SqliteStore` delegates to them.
 */
import type Database from "better-sqlite3";
import type { StateType } from "../types.ts";
import type { FlowRunRow, FlowRunWithTaskCounts, RunStatsRows } from "../types.ts";

type Db = Database.Database;

export function withTaskCounts(db: Db, runs: FlowRunRow[]): FlowRunWithTaskCounts[] {
  if (runs.length === 0) return [];
  const rows = db
    .prepare(
      `SELECT flow_run_id, state_type, COUNT(*) AS n FROM task_runs
       WHERE flow_run_id IN (SELECT value FROM json_each(?)) GROUP BY flow_run_id, state_type`,
    )
    .all(JSON.stringify(runs.map((r) => r.id))) as { flow_run_id: string; state_type: StateType; n: number }[];
  const counts = new Map<string, Partial<Record<StateType, number>>>();
  for (const r of rows) {
    let c = counts.get(r.flow_run_id);
    if (!c) counts.set(r.flow_run_id, (c = {}));
    c[r.state_type] = Number(r.n);
  }
  return runs.map((r) => ({ ...r, taskCounts: counts.get(r.id) ?? {} }));
}

export function statsSince(db: Db, since: number, bucketMs: number, slowest: number): RunStatsRows {
  const flowRuns = (
    db
      .prepare(
        `SELECT ? + CAST((created - ?) / ? AS INTEGER) * ? AS bucket, state_type, COUNT(*) AS n FROM flow_runs
         WHERE created >= ? GROUP BY bucket, state_type ORDER BY bucket`,
      )
      .all(since, since, bucketMs, bucketMs, since) as { bucket: number; state_type: StateType; n: number }[]
  ).map((r) => ({ bucket: Number(r.bucket), stateType: r.state_type, count: Number(r.n) }));
  const taskRuns = (
    db.prepare("SELECT state_type, COUNT(*) AS n FROM task_runs WHERE created >= ? GROUP BY state_type").all(since) as {
      state_type: StateType;
      n: number;
    }[]
  ).map((r) => ({ stateType: r.state_type, count: Number(r.n) }));
  const slowestTasks = (
    db
      .prepare(
        `SELECT task_name, COUNT(*) AS runs, AVG(end_time - start_time) AS mean_ms, MAX(end_time - start_time) AS max_ms
         FROM task_runs WHERE created >= ? AND start_time IS NOT NULL AND end_time IS NOT NULL
         GROUP BY task_name ORDER BY mean_ms DESC, task_name LIMIT ?`,
      )
      .all(since, slowest) as { task_name: string; runs: number; mean_ms: number; max_ms: number }[]
  ).map((r) => ({ taskName: r.task_name, runs: Number(r.runs), meanMs: Number(r.mean_ms), maxMs: Number(r.max_ms) }));
  return { flowRuns, taskRuns, slowestTasks };
}
