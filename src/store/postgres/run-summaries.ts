/**
 * The PostgreSQL forms of the read queries for people (task-run counts per flow run, the
 * dashboard's figures) and of pruning. They return what the SQLite ones in
 * `../sqlite/run-summaries.ts` and `../sqlite/prune.ts` return, row for row.
 */
import type pg from "pg";
import type { StateType } from "../types.ts";
import type { FlowRunRow, FlowRunWithTaskCounts, PruneResult, RunStatsRows } from "../types.ts";

type Query = <T extends pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<T[]>;

export async function withTaskCounts(query: Query, runs: FlowRunRow[]): Promise<FlowRunWithTaskCounts[]> {
  if (runs.length === 0) return [];
  const rows = await query<{ flow_run_id: string; state_type: StateType; n: string }>(
    `SELECT flow_run_id, state_type, COUNT(*) AS n FROM task_runs
     WHERE flow_run_id = ANY($1::text[]) GROUP BY flow_run_id, state_type`,
    [runs.map((r) => r.id)],
  );
  const counts = new Map<string, Partial<Record<StateType, number>>>();
  for (const r of rows) {
    let c = counts.get(r.flow_run_id);
    if (!c) counts.set(r.flow_run_id, (c = {}));
    c[r.state_type] = Number(r.n);
  }
  return runs.map((r) => ({ ...r, taskCounts: counts.get(r.id) ?? {} }));
}

export async function statsSince(query: Query, since: number, bucketMs: number, slowest: number): Promise<RunStatsRows> {
  const [flows, tasks, slow] = await Promise.all([
    query<{ bucket: string; state_type: StateType; n: string }>(
      `SELECT $1::bigint + ((created - $1::bigint) / $2::bigint) * $2::bigint AS bucket, state_type, COUNT(*) AS n
       FROM flow_runs WHERE created >= $1::bigint GROUP BY 1, state_type ORDER BY 1`,
      [since, bucketMs],
    ),
    query<{ state_type: StateType; n: string }>("SELECT state_type, COUNT(*) AS n FROM task_runs WHERE created >= $1 GROUP BY state_type", [since]),
    query<{ task_name: string; runs: string; mean_ms: string; max_ms: string }>(
      `SELECT task_name, COUNT(*) AS runs, AVG(end_time - start_time) AS mean_ms, MAX(end_time - start_time) AS max_ms
       FROM task_runs WHERE created >= $1 AND start_time IS NOT NULL AND end_time IS NOT NULL
       GROUP BY task_name ORDER BY mean_ms DESC, task_name COLLATE "C" LIMIT $2`,
      [since, slowest],
    ),
  ]);
  return {
    flowRuns: flows.map((r) => ({ bucket: Number(r.bucket), stateType: r.state_type, count: Number(r.n) })),
    taskRuns: tasks.map((r) => ({ stateType: r.state_type, count: Number(r.n) })),
    slowestTasks: slow.map((r) => ({ taskName: r.task_name, runs: Number(r.runs), meanMs: Number(r.mean_ms), maxMs: Number(r.max_ms) })),
  };
}

/**
 * One transaction: pick the flow runs whose own, task runs' and direct subflows' last update is
 * before the cutoff, and standalone task runs updated before it; delete them with their states,
 * upstream links and logs (and logs of no run older than the cutoff).
 */
export async function pruneOlderThan(client: pg.PoolClient, cutoff: number): Promise<PruneResult> {
  const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[]) => client.query<T>(text, params);
  await client.query("BEGIN");
  try {
    const flowIds = (
      await q<{ id: string }>(
        `SELECT id FROM flow_runs f WHERE f.updated < $1
         AND NOT EXISTS (SELECT 1 FROM task_runs t WHERE t.flow_run_id = f.id AND t.updated >= $1)
         AND NOT EXISTS (SELECT 1 FROM flow_runs s WHERE s.parent_flow_run_id = f.id AND s.updated >= $1)
         FOR UPDATE`,
        [cutoff],
      )
    ).rows.map((r) => r.id);
    const taskRows = (
      await q<{ id: string; cache_key: string | null }>(
        "SELECT id, cache_key FROM task_runs WHERE flow_run_id = ANY($1::text[]) OR (flow_run_id IS NULL AND updated < $2) FOR UPDATE",
        [flowIds, cutoff],
      )
    ).rows;
    const res = await removeRuns(client, flowIds, taskRows);
    res.logs += (await q("DELETE FROM logs WHERE flow_run_id IS NULL AND task_run_id IS NULL AND timestamp < $1", [cutoff])).rowCount ?? 0;
    await client.query("COMMIT");
    return res;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/**
 * `deleteFlowRuns` for PostgreSQL: the flow runs, their subflow runs (at any depth) and all their
 * task runs, states, upstream links, logs, kept results and cancel requests, in one transaction.
 */
export async function deleteFlowRuns(client: pg.PoolClient, ids: readonly string[]): Promise<PruneResult> {
  await client.query("BEGIN");
  try {
    const flowIds = (
      await client.query<{ id: string }>(
        `WITH RECURSIVE tree(id) AS (
           SELECT id FROM flow_runs WHERE id = ANY($1::text[])
           UNION SELECT f.id FROM flow_runs f JOIN tree t ON f.parent_flow_run_id = t.id)
         SELECT id FROM tree`,
        [ids],
      )
    ).rows.map((r) => r.id);
    const taskRows = (
      await client.query<{ id: string; cache_key: string | null }>("SELECT id, cache_key FROM task_runs WHERE flow_run_id = ANY($1::text[]) FOR UPDATE", [flowIds])
    ).rows;
    const res = await removeRuns(client, flowIds, taskRows);
    await client.query("COMMIT");
    return res;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** Delete these runs and everything recorded about them (inside the caller's transaction). */
async function removeRuns(client: pg.PoolClient, flowIds: string[], taskRows: { id: string; cache_key: string | null }[]): Promise<PruneResult> {
  const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[]) => client.query<T>(text, params);
  const taskIds = taskRows.map((r) => r.id);
  // the task runs' states kept in their rows (packed-states.ts) go with them
  const packed = await q<{ n: string }>(
    "SELECT count(*) AS n FROM task_runs t, json_array_elements(t.states::json) e WHERE t.id = ANY($1::text[]) AND json_typeof(e) <> 'null'",
    [taskIds],
  );
  const states = ((await q("DELETE FROM run_states WHERE run_id = ANY($1::text[])", [[...flowIds, ...taskIds]])).rowCount ?? 0) + Number(packed.rows[0]!.n);
  await q("DELETE FROM task_run_inputs WHERE task_run_id = ANY($1::text[]) OR upstream_task_run_id = ANY($1::text[])", [taskIds]);
  const logs =
    (await q("DELETE FROM logs WHERE flow_run_id = ANY($1::text[]) OR task_run_id = ANY($2::text[])", [flowIds, taskIds])).rowCount ?? 0;
  await q("DELETE FROM task_run_results WHERE task_run_id = ANY($1::text[]) OR flow_run_id = ANY($2::text[])", [taskIds, flowIds]);
  await q("DELETE FROM run_cancellations WHERE flow_run_id = ANY($1::text[])", [flowIds]);
  await q("DELETE FROM attempt_outcomes WHERE task_run_id = ANY($1::text[])", [taskIds]);
  const taskRuns = (await q("DELETE FROM task_runs WHERE id = ANY($1::text[])", [taskIds])).rowCount ?? 0;
  const flowRuns = (await q("DELETE FROM flow_runs WHERE id = ANY($1::text[])", [flowIds])).rowCount ?? 0;
  const keys = [...new Set(taskRows.map((r) => r.cache_key).filter((k): k is string => k !== null))];
  const stillUsed = new Set(
    (await q<{ cache_key: string }>("SELECT DISTINCT cache_key FROM task_runs WHERE cache_key = ANY($1::text[])", [keys])).rows.map((r) => r.cache_key),
  );
  return { flowRunIds: flowIds, flowRuns, taskRuns, states, logs, cacheKeys: keys.filter((k) => !stillUsed.has(k)) };
}
