/** The in-memory store's reads of one flow run's task runs for the web UI (the SQL backends' answers). */
import type { TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter, TaskRunRow } from "../types.ts";
import { mergeGroups, type GroupPart } from "../run-groups.ts";
import type { MemoryDatabase } from "./memory-store.ts";

function runsOf(db: MemoryDatabase, flowRunId: string) {
  return Array.from(db.taskRuns.values()).filter((s) => s.row.flowRunId === flowRunId);
}

export function taskRunGroups(db: MemoryDatabase, flowRunId: string, opts: TaskRunGroupOptions = {}): TaskRunGroupRow[] {
  const parts = new Map<string, GroupPart>();
  const b = opts.startBuckets;
  for (const { row } of runsOf(db, flowRunId)) {
    const bucket = b && row.startTime !== null ? Math.trunc((row.startTime - b.from) / b.bucketMs) : null;
    const key = `${row.taskKey}\0${row.stateType}\0${bucket}`;
    const p = parts.get(key);
    const retried = row.runCount > 1 ? 1 : 0;
    if (!p) {
      parts.set(key, {
        taskKey: row.taskKey, taskName: row.taskName, stateType: row.stateType, count: 1, retried,
        firstCreated: row.created, start: row.startTime, end: row.endTime, bucket,
      });
      continue;
    }
    p.count++;
    p.retried += retried;
    if (row.taskName < p.taskName) p.taskName = row.taskName;
    p.firstCreated = Math.min(p.firstCreated, row.created);
    if (row.startTime !== null) p.start = p.start === null ? row.startTime : Math.min(p.start, row.startTime);
    if (row.endTime !== null) p.end = p.end === null ? row.endTime : Math.max(p.end, row.endTime);
  }
  return mergeGroups([...parts.values()], opts);
}

export function pageTaskRuns(db: MemoryDatabase, f: TaskRunPageFilter): TaskRunPage {
  const rows = runsOf(db, f.flowRunId)
    .filter(({ row }) =>
      (f.taskKey === undefined || row.taskKey === f.taskKey) &&
      (!f.state?.length || f.state.some((s) => row.stateType === s.toUpperCase() || row.stateName === s)) &&
      (!f.notable || row.stateType !== "COMPLETED" || row.runCount > 1))
    .sort((a, b) => a.row.created - b.row.created || a.seq - b.seq);
  const offset = f.offset ?? 0;
  const taskRuns = rows.slice(offset, offset + f.limit).map((s) => ({ ...s.row }));
  return { taskRuns, total: f.noTotal ? offset + taskRuns.length : rows.length };
}

export function taskRunsUpdatedSince(db: MemoryDatabase, flowRunId: string, since: number, limit: number): { taskRuns: TaskRunRow[]; maxUpdated: number } {
  const rows = runsOf(db, flowRunId);
  const maxUpdated = rows.reduce((m, s) => Math.max(m, s.row.updated), 0);
  const taskRuns = rows
    .filter((s) => s.row.updated > since)
    .sort((a, b) => a.row.updated - b.row.updated || a.seq - b.seq)
    .slice(0, limit)
    .map((s) => ({ ...s.row }));
  return { taskRuns, maxUpdated };
}
