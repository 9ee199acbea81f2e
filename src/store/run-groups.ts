/**
 * Task-run groups from per-(task key, state type) rows, the shape every backend's grouping
 * query returns: one group per task key, in order of its first run (then by key).
 */
import type { StateType, TaskRunGroupOptions, TaskRunGroupRow } from "./types.ts";

export interface GroupPart {
  taskKey: string;
  taskName: string;
  stateType: StateType;
  count: number;
  retried: number;
  firstCreated: number;
  start: number | null;
  end: number | null;
  /** the start bucket (with `startBuckets`); null for runs not started */
  bucket: number | null;
}

const minOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

export function mergeGroups(parts: GroupPart[], opts: TaskRunGroupOptions = {}): TaskRunGroupRow[] {
  const buckets = opts.startBuckets?.count;
  const groups = new Map<string, TaskRunGroupRow>();
  for (const p of parts) {
    let g = groups.get(p.taskKey);
    if (!g) {
      g = { taskKey: p.taskKey, taskName: p.taskName, total: 0, counts: {}, retried: 0, firstCreated: p.firstCreated, start: p.start, end: p.end };
      if (buckets !== undefined) g.starts = Array.from({ length: buckets }, () => ({}));
      groups.set(p.taskKey, g);
    }
    if (g.starts && p.bucket !== null) {
      const b = g.starts[Math.min(g.starts.length - 1, Math.max(0, p.bucket))];
      if (b) b[p.stateType] = (b[p.stateType] ?? 0) + p.count;
    }
    if (p.taskName < g.taskName) g.taskName = p.taskName;
    g.total += p.count;
    g.counts[p.stateType] = (g.counts[p.stateType] ?? 0) + p.count;
    g.retried += p.retried;
    g.firstCreated = Math.min(g.firstCreated, p.firstCreated);
    g.start = minOf(g.start, p.start);
    g.end = maxOf(g.end, p.end);
  }
  return [...groups.values()].sort(
    (a, b) => a.firstCreated - b.firstCreated || (a.taskKey < b.taskKey ? -1 : a.taskKey > b.taskKey ? 1 : 0),
  );
}
