/** The in-memory store's dashboard figures and pruning (the same rules as the SQL backends'). */
import type { FlowRunRow, PruneResult, RunStatsRows, TaskRunRow } from "../types.ts";
import type { MemoryDatabase } from "./memory-store.ts";

type StateType = FlowRunRow["stateType"];

export function statsOf(db: MemoryDatabase, since: number, bucketMs: number, slowest: number): RunStatsRows {
  const buckets = new Map<string, { bucket: number; stateType: StateType; count: number }>();
  for (const { row } of db.flowRuns.values()) {
    if (row.created < since) continue;
    const bucket = since + Math.trunc((row.created - since) / bucketMs) * bucketMs;
    const key = `${bucket}\0${row.stateType}`;
    const b = buckets.get(key);
    if (b) b.count++;
    else buckets.set(key, { bucket, stateType: row.stateType, count: 1 });
  }
  const flowRuns = Array.from(buckets.values()).sort((a, b) => a.bucket - b.bucket || a.stateType.localeCompare(b.stateType));
  const byState = new Map<StateType, number>();
  const durations = new Map<string, number[]>();
  for (const { row } of db.taskRuns.values()) {
    if (row.created < since) continue;
    byState.set(row.stateType, (byState.get(row.stateType) ?? 0) + 1);
    if (row.startTime === null || row.endTime === null) continue;
    let d = durations.get(row.taskName);
    if (!d) durations.set(row.taskName, (d = []));
    d.push(row.endTime - row.startTime);
  }
  const taskRuns = Array.from(byState, ([stateType, count]) => ({ stateType, count }));
  const slowestTasks = Array.from(durations, ([taskName, d]) => ({
    taskName,
    runs: d.length,
    meanMs: d.reduce((a, b) => a + b, 0) / d.length,
    maxMs: Math.max(...d),
  }))
    .sort((a, b) => b.meanMs - a.meanMs || (a.taskName < b.taskName ? -1 : a.taskName > b.taskName ? 1 : 0))
    .slice(0, slowest);
  return { flowRuns, taskRuns, slowestTasks };
}

/** Delete what was idle before the cutoff (see RunStore.pruneOlderThan). */
export function pruneDatabase(db: MemoryDatabase, cutoff: number): PruneResult {
  const busyFlows = new Set<string>();
  for (const { row } of db.taskRuns.values()) if (row.flowRunId !== null && row.updated >= cutoff) busyFlows.add(row.flowRunId);
  for (const { row } of db.flowRuns.values()) if (row.parentFlowRunId !== null && row.updated >= cutoff) busyFlows.add(row.parentFlowRunId);
  const flowIds = new Set<string>();
  for (const { row } of db.flowRuns.values()) if (row.updated < cutoff && !busyFlows.has(row.id)) flowIds.add(row.id);
  return removeRuns(db, flowIds, (row) => (row.flowRunId !== null ? flowIds.has(row.flowRunId) : row.updated < cutoff), cutoff);
}

/** Delete flow runs with their subflow runs at any depth (see RunStore.deleteFlowRuns). */
export function deleteFromDatabase(db: MemoryDatabase, ids: readonly string[]): PruneResult {
  const flowIds = new Set(ids.filter((id) => db.flowRuns.has(id)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const { row } of db.flowRuns.values()) {
      if (row.parentFlowRunId !== null && flowIds.has(row.parentFlowRunId) && !flowIds.has(row.id)) {
        flowIds.add(row.id);
        grew = true;
      }
    }
  }
  return removeRuns(db, flowIds, (row) => row.flowRunId !== null && flowIds.has(row.flowRunId), undefined);
}

function removeRuns(
  db: MemoryDatabase, flowIds: Set<string>, isRemovedTask: (row: TaskRunRow) => boolean, orphanLogCutoff: number | undefined,
): PruneResult {
  const taskIds = new Set<string>();
  const keys = new Set<string>();
  for (const { row } of db.taskRuns.values()) {
    if (isRemovedTask(row)) {
      taskIds.add(row.id);
      if (row.cacheKey !== null) keys.add(row.cacheKey);
    }
  }
  let states = 0;
  for (const id of [...flowIds, ...taskIds]) {
    states += db.states.get(id)?.size ?? 0;
    db.states.delete(id);
  }
  for (const id of taskIds) db.inputs.delete(id);
  for (const m of db.inputs.values()) for (const [k, i] of m) if (taskIds.has(i.upstreamTaskRunId)) m.delete(k);
  const before = db.logs.length;
  db.logs = db.logs.filter(
    (l) =>
      !(l.flowRunId !== null && flowIds.has(l.flowRunId)) &&
      !(l.taskRunId !== null && taskIds.has(l.taskRunId)) &&
      !(orphanLogCutoff !== undefined && l.flowRunId === null && l.taskRunId === null && l.timestamp < orphanLogCutoff),
  );
  for (const id of taskIds) db.taskRuns.delete(id);
  for (const id of flowIds) db.flowRuns.delete(id);
  for (const [id, r] of db.results) if (taskIds.has(id) || flowIds.has(r.flowRunId)) db.results.delete(id);
  for (const id of flowIds) db.cancellations.delete(id);
  for (const [id, o] of db.outcomes) if (taskIds.has(o.taskRunId)) db.outcomes.delete(id);
  const stillUsed = new Set<string>();
  for (const { row } of db.taskRuns.values()) if (row.cacheKey !== null) stillUsed.add(row.cacheKey);
  return {
    flowRunIds: [...flowIds],
    flowRuns: flowIds.size,
    taskRuns: taskIds.size,
    states,
    logs: before - db.logs.length,
    cacheKeys: [...keys].filter((k) => !stillUsed.has(k)),
  };
}
