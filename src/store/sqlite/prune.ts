/**
 * `pruneOlderThan` for SQLite: one IMMEDIATE transaction picks the runs whose last activity is
 * before the cutoff and deletes them with their states, upstream links and logs. A flow run's
 * last activity is the latest `updated` of the run, its task runs and its subflow runs, so a
 * flow that is still busy in another process is not cut from under it.
 */
import type Database from "better-sqlite3";
import type { PruneResult } from "../types.ts";

type Db = Database.Database;

export function pruneOlderThan(db: Db, cutoff: number): PruneResult {
  const tx = db.transaction((): PruneResult => {
    const flowIds = (
      db
        .prepare(
          `SELECT id FROM flow_runs f WHERE f.updated < ?
           AND NOT EXISTS (SELECT 1 FROM task_runs t WHERE t.flow_run_id = f.id AND t.updated >= ?)
           AND NOT EXISTS (SELECT 1 FROM flow_runs s WHERE s.parent_flow_run_id = f.id AND s.updated >= ?)`,
        )
        .all(cutoff, cutoff, cutoff) as { id: string }[]
    ).map((r) => r.id);
    const flowJson = JSON.stringify(flowIds);
    const taskRows = db
      .prepare(
        `SELECT id, cache_key FROM task_runs
         WHERE flow_run_id IN (SELECT value FROM json_each(?)) OR (flow_run_id IS NULL AND updated < ?)`,
      )
      .all(flowJson, cutoff) as { id: string; cache_key: string | null }[];
    const res = removeRuns(db, flowIds, taskRows);
    res.logs += db.prepare("DELETE FROM logs WHERE flow_run_id IS NULL AND task_run_id IS NULL AND timestamp < ?").run(cutoff).changes;
    return res;
  });
  return tx.immediate();
}

/**
 * `deleteFlowRuns` for SQLite: the flow runs, their subflow runs (at any depth) and all their
 * task runs, states, upstream links, logs, kept results and cancel requests, in one transaction.
 */
export function deleteFlowRuns(db: Db, ids: readonly string[]): PruneResult {
  const tx = db.transaction((): PruneResult => {
    const flowIds = (
      db
        .prepare(
          `WITH RECURSIVE tree(id) AS (
             SELECT id FROM flow_runs WHERE id IN (SELECT value FROM json_each(?))
             UNION SELECT f.id FROM flow_runs f JOIN tree t ON f.parent_flow_run_id = t.id)
           SELECT id FROM tree`,
        )
        .all(JSON.stringify(ids)) as { id: string }[]
    ).map((r) => r.id);
    const taskRows = db
      .prepare("SELECT id, cache_key FROM task_runs WHERE flow_run_id IN (SELECT value FROM json_each(?))")
      .all(JSON.stringify(flowIds)) as { id: string; cache_key: string | null }[];
    return removeRuns(db, flowIds, taskRows);
  });
  return tx.immediate();
}

/** Delete these runs and everything recorded about them (inside the caller's transaction). */
function removeRuns(db: Db, flowIds: string[], taskRows: { id: string; cache_key: string | null }[]): PruneResult {
  const flowJson = JSON.stringify(flowIds);
  const taskJson = JSON.stringify(taskRows.map((r) => r.id));
  const runJson = JSON.stringify([...flowIds, ...taskRows.map((r) => r.id)]);

  // the task runs' states kept in their rows (packed-states.ts) go with them
  const packed = db
    .prepare("SELECT count(*) AS n FROM task_runs t, json_each(t.states) j WHERE t.id IN (SELECT value FROM json_each(?)) AND j.type != 'null'")
    .get(taskJson) as { n: number };
  const states = db.prepare("DELETE FROM run_states WHERE run_id IN (SELECT value FROM json_each(?))").run(runJson).changes + packed.n;
  db.prepare(
    `DELETE FROM task_run_inputs WHERE task_run_id IN (SELECT value FROM json_each(?))
     OR upstream_task_run_id IN (SELECT value FROM json_each(?))`,
  ).run(taskJson, taskJson);
  const logs =
    db
      .prepare(
        `DELETE FROM logs WHERE flow_run_id IN (SELECT value FROM json_each(?))
         OR task_run_id IN (SELECT value FROM json_each(?))`,
      )
      .run(flowJson, taskJson).changes;
  db.prepare(
    "DELETE FROM task_run_results WHERE task_run_id IN (SELECT value FROM json_each(?)) OR flow_run_id IN (SELECT value FROM json_each(?))",
  ).run(taskJson, flowJson);
  db.prepare("DELETE FROM run_cancellations WHERE flow_run_id IN (SELECT value FROM json_each(?))").run(flowJson);
  db.prepare("DELETE FROM attempt_outcomes WHERE task_run_id IN (SELECT value FROM json_each(?))").run(taskJson);
  const taskRuns = db.prepare("DELETE FROM task_runs WHERE id IN (SELECT value FROM json_each(?))").run(taskJson).changes;
  const flowRuns = db.prepare("DELETE FROM flow_runs WHERE id IN (SELECT value FROM json_each(?))").run(flowJson).changes;

  const keys = [...new Set(taskRows.map((r) => r.cache_key).filter((k): k is string => k !== null))];
  const stillUsed = new Set(
    (
      db
        .prepare("SELECT DISTINCT cache_key FROM task_runs WHERE cache_key IN (SELECT value FROM json_each(?))")
        .all(JSON.stringify(keys)) as { cache_key: string }[]
    ).map((r) => r.cache_key),
  );
  return { flowRunIds: flowIds, flowRuns, taskRuns, states, logs, cacheKeys: keys.filter((k) => !stillUsed.has(k)) };
}
