/**
 * What the web UI's flow-run page reads, bounded whatever the number of task runs: an overview
 * (the run, its history, task runs grouped by task key, the ones that did not complete, a
 * timeline of at most TIMELINE_ROWS rows with one overview lane per group), pages of task runs,
 * and what changed since a cursor, so a poll of a run where nothing happened is a few bytes.
 *
 * The cursor is `F.T.L`: the greatest `updated` of the flow run and its direct subflow runs,
 * the greatest `updated` of its task runs, the greatest log id seen. A poll with it answers
 * `{ unchanged: true }` when none moved; else the task runs updated after T (at most
 * CHANGED_LIMIT, oldest update first), the log lines after L, and, when the flow run or its
 * task runs moved, a new overview. `updated` is the writer's clock at the change: a row that
 * reaches the store after rows updated later than it (another process's clock, a late batch)
 * is missed by `since` and shown by the page's next full read (the UI makes one when the run
 * ends and every REFRESH_EVERY polls).
 */
import type { StateType } from "../engine/states.ts";
import type { FlowRunRow, RunStore, StateRow, TaskRunGroupRow, TaskRunRow } from "../store/types.ts";
import { boundText } from "../logging/redact.ts";
import {
  flowRunView, logView, stateHistoryView, taskRunView, type FlowRunView, type LogView, type StateHistoryEntry, type TaskRunView,
} from "./run-views.ts";

/** Rows drawn one by one on the timeline; the rest are counted in their group's lane. */
export const TIMELINE_ROWS = 30;
/** Time buckets of a lane. */
export const LANE_BUCKETS = 60;
/** Lanes drawn (groups past it are in the group list only). */
export const MAX_LANES = 20;
/** Groups listed (a flow run of that many different tasks lists the first ones). */
export const MAX_GROUPS = 500;
/** Task runs that did not complete, listed by name. */
export const NOT_COMPLETED_SHOWN = 5;
export const SUBFLOWS_SHOWN = 100;
/** Changed task runs a poll carries; past it the UI reads again what it shows. */
export const CHANGED_LIMIT = 200;
/** A state message in a list is cut to this many bytes (the task run's own page has it whole). */
export const LIST_MESSAGE_BYTES = 400;

/** A task run in a list: no parameters (its own page has them), the state message cut short. */
export type TaskRunListView = Omit<TaskRunView, "parameters">;

export interface Attempt {
  start: number;
  /** null while it runs */
  end: number | null;
  /** the state it ended in (`AwaitingRetry` for a failed attempt that is retried) */
  outcome: string | null;
}

export interface TimelineRow extends TaskRunListView {
  kind: "task" | "subflow";
  /** each run of the body (only for runs that ran more than once) */
  attempts?: Attempt[];
}

export interface TaskRunGroupView extends Omit<TaskRunGroupRow, "starts"> {
  durationMs: number | null;
}

export interface Lane {
  taskKey: string;
  taskName: string;
  total: number;
  /** runs started in each bucket, by state type */
  buckets: Partial<Record<StateType, number>>[];
}

export interface FlowRunOverview {
  flowRun: FlowRunView;
  states: StateHistoryEntry[];
  parentFlowRun: FlowRunView | null;
  /** the first SUBFLOWS_SHOWN subflow runs, oldest first */
  subflowRuns: FlowRunView[];
  /** it has more subflow runs than these */
  moreSubflowRuns: boolean;
  taskRunCount: number;
  groups: TaskRunGroupView[];
  groupTotal: number;
  /** failed, crashed and not-ready task runs (the first NOT_COMPLETED_SHOWN) and how many */
  notCompleted: { taskRuns: TaskRunListView[]; total: number };
  timeline: {
    rows: TimelineRow[];
    /** task runs and subflow runs in all (subflow runs counted up to SUBFLOWS_SHOWN + 1) */
    total: number;
    /** the lanes' time axis: LANE_BUCKETS buckets of bucketMs from the flow run's start; lanes only when rows are capped */
    from: number;
    bucketMs: number;
    lanes: Lane[];
  };
  cursor: string;
}

export interface FlowRunChanges {
  cursor: string;
  unchanged?: true;
  overview?: FlowRunOverview;
  taskRuns?: TaskRunListView[];
  /** more task runs changed than were sent */
  moreTaskRuns?: boolean;
  logs?: LogView[];
  moreLogs?: boolean;
}

export function taskRunListView(r: TaskRunRow, now: number): TaskRunListView {
  const { parameters: _omitted, ...v } = taskRunView(r, now);
  if (v.state.message !== null) v.state.message = boundText(v.state.message, LIST_MESSAGE_BYTES);
  return v;
}

/** The body's runs from a task run's state history: each Running (or Retrying) up to the next state. */
export function attemptsOf(states: StateRow[]): Attempt[] {
  const out: Attempt[] = [];
  let open: Attempt | undefined;
  for (const s of states) {
    if (s.type === "RUNNING") {
      if (open) open.end = s.timestamp;
      open = { start: s.timestamp, end: null, outcome: null };
      out.push(open);
    } else if (open) {
      open.end = s.timestamp;
      open.outcome = s.name;
      open = undefined;
    }
  }
  return out;
}

interface Cursor {
  flow: number;
  task: number;
  log: number;
}

export function parseCursor(raw: string): Cursor | undefined {
  const m = /^(\d{1,16})\.(\d{1,16})\.(\d{1,16})$/.exec(raw);
  if (!m) return undefined;
  const [flow, task, log] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return Number.isSafeInteger(flow) && Number.isSafeInteger(task) && Number.isSafeInteger(log) ? { flow, task, log } : undefined;
}

const cursorText = (c: Cursor) => `${c.flow}.${c.task}.${c.log}`;

async function latestLogId(store: RunStore, flowRunId: string): Promise<number> {
  const [last] = await store.getLogs({ flowRunId, includeTasks: true, newestFirst: true, limit: 1 });
  return last?.id ?? 0;
}

/** The overview of a flow run (the row as read), and its cursor. */
export async function flowRunOverview(store: RunStore, row: FlowRunRow, now = Date.now()): Promise<FlowRunOverview> {
  const id = row.id;
  // the lanes' time axis: the flow run's start to its end (or now), in LANE_BUCKETS buckets
  const from = row.startTime ?? row.created;
  const bucketMs = Math.max(1, Math.ceil((Math.max(from + 1, row.endTime ?? now) - from) / LANE_BUCKETS));
  const [states, subflows, parent, groups, notCompleted, first, notable, running, since, logId] = await Promise.all([
    store.getStates(id),
    store.listFlowRunsWithTaskCounts({ parentFlowRunId: id, limit: SUBFLOWS_SHOWN + 1 }),
    row.parentFlowRunId ? store.getFlowRun(row.parentFlowRunId) : Promise.resolve(undefined),
    store.taskRunGroups(id, { startBuckets: { from, bucketMs, count: LANE_BUCKETS } }),
    store.pageTaskRuns({ flowRunId: id, state: ["FAILED", "CRASHED", "NotReady"], limit: NOT_COMPLETED_SHOWN }),
    store.pageTaskRuns({ flowRunId: id, limit: TIMELINE_ROWS, noTotal: true }),
    store.pageTaskRuns({ flowRunId: id, notable: true, limit: (TIMELINE_ROWS * 2) / 3, noTotal: true }),
    store.pageTaskRuns({ flowRunId: id, state: ["RUNNING"], limit: 10, noTotal: true }),
    // asked for nothing after the end of time: only the greatest `updated`
    store.taskRunsUpdatedSince(id, Number.MAX_SAFE_INTEGER, 0),
    latestLogId(store, id),
  ]);
  const taskRunCount = groups.reduce((n, g) => n + g.total, 0);
  const subflowRuns = subflows.slice(0, SUBFLOWS_SHOWN).reverse();

  // the timeline: runs going on, failed, retried or otherwise not completed, then the first
  // ones, up to TIMELINE_ROWS with the subflows
  const picked = new Map<string, TaskRunRow>();
  const subflowRows = subflowRuns.slice(0, 10);
  for (const t of [...running.taskRuns, ...notCompleted.taskRuns, ...notable.taskRuns, ...first.taskRuns]) {
    if (picked.size + subflowRows.length >= TIMELINE_ROWS) break;
    picked.set(t.id, t);
  }
  const rows: TimelineRow[] = [];
  for (const t of picked.values()) {
    const v: TimelineRow = { ...taskRunListView(t, now), kind: "task" };
    if (t.runCount > 1) v.attempts = attemptsOf(await store.getStates(t.id));
    rows.push(v);
  }
  for (const f of subflowRows) {
    const { parameters: _p, taskCounts: _c, ...v } = flowRunView(f, now);
    rows.push({ ...v, taskName: f.flowName, taskKey: "", flowRunId: id, cacheKey: null, kind: "subflow" });
  }
  rows.sort((a, b) => (a.startTime ?? a.created) - (b.startTime ?? b.created));
  const total = taskRunCount + subflows.length;

  // one lane per group, its runs counted by start bucket, when the rows do not show them all
  const lanes: Lane[] = rows.length < total
    ? groups.slice(0, MAX_LANES).map((g) => ({ taskKey: g.taskKey, taskName: g.taskName, total: g.total, buckets: g.starts ?? [] }))
    : [];

  const flowUpdated = Math.max(row.updated, ...subflows.map((s) => s.updated));
  return {
    flowRun: flowRunView(row, now),
    states: stateHistoryView(states),
    parentFlowRun: parent && parent.id === row.parentFlowRunId ? flowRunView(parent, now) : null,
    subflowRuns: subflowRuns.map((s) => flowRunView(s, now)),
    moreSubflowRuns: subflows.length > SUBFLOWS_SHOWN,
    taskRunCount,
    groups: groups.slice(0, MAX_GROUPS).map(({ starts: _lanes, ...g }) => ({ ...g, durationMs: g.start !== null && g.end !== null ? g.end - g.start : null })),
    groupTotal: groups.length,
    notCompleted: { taskRuns: notCompleted.taskRuns.map((t) => taskRunListView(t, now)), total: notCompleted.total },
    timeline: { rows, total, from, bucketMs, lanes },
    cursor: cursorText({ flow: flowUpdated, task: since.maxUpdated, log: logId }),
  };
}

/** What changed in a flow run since `cursor` (see the header); `minLevel` filters the new log lines. */
export async function flowRunChanges(
  store: RunStore, row: FlowRunRow, cursor: Cursor, minLevel: number | undefined, now = Date.now(),
): Promise<FlowRunChanges> {
  const id = row.id;
  const [subflows, changed, logs] = await Promise.all([
    store.listFlowRuns({ parentFlowRunId: id, limit: SUBFLOWS_SHOWN + 1 }),
    store.taskRunsUpdatedSince(id, cursor.task, CHANGED_LIMIT + 1),
    store.getLogs({ flowRunId: id, includeTasks: true, afterId: cursor.log, minLevel, limit: CHANGED_LIMIT + 1 }),
  ]);
  const flowUpdated = Math.max(row.updated, ...subflows.map((s) => s.updated));
  const next: Cursor = {
    flow: Math.max(cursor.flow, flowUpdated),
    task: Math.max(cursor.task, changed.maxUpdated),
    log: Math.max(cursor.log, logs.slice(0, CHANGED_LIMIT).at(-1)?.id ?? 0),
  };
  const runsMoved = flowUpdated > cursor.flow || changed.taskRuns.length > 0;
  if (!runsMoved && logs.length === 0) return { cursor: cursorText(next), unchanged: true };
  const out: FlowRunChanges = { cursor: cursorText(next) };
  if (runsMoved) {
    const overview = await flowRunOverview(store, row, now);
    // the overview's own cursor may be past what this answer carries: keep the older log id
    overview.cursor = cursorText(next);
    out.overview = overview;
    out.taskRuns = changed.taskRuns.slice(0, CHANGED_LIMIT).map((t) => taskRunListView(t, now));
    out.moreTaskRuns = changed.taskRuns.length > CHANGED_LIMIT;
  }
  if (logs.length) {
    out.logs = logs.slice(0, CHANGED_LIMIT).map(logView);
    out.moreLogs = logs.length > CHANGED_LIMIT;
  }
  return out;
}
