/**
 * Views of stored runs for people: the shapes the web UI's JSON API returns and `flowctl runs`
 * prints. Rows from the store hold JSON as text; views hold it parsed, and add what a reader
 * wants at a glance (duration, task-run counts, links between runs).
 */
import type { StateType } from "../engine/states.ts";
import type {
  FlowRunFilter, FlowRunRow, FlowRunWithTaskCounts, InputRow, LogRow, RunStore, StateRow, TaskRunRow,
} from "../store/types.ts";
import { levelName } from "../logging/levels.ts";
import { boundText } from "../logging/redact.ts";
import { getSettings } from "../settings/index.ts";

export const FINAL_TYPES: ReadonlySet<string> = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);
export const STATE_TYPES: readonly StateType[] = [
  "SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED", "CANCELLING",
];

export interface StateView {
  type: StateType;
  name: string;
  message: string | null;
}

export interface FlowRunView {
  id: string;
  name: string;
  flowName: string;
  flowVersion: string | null;
  state: StateView;
  parameters: unknown;
  tags: string[];
  runCount: number;
  created: number;
  startTime: number | null;
  endTime: number | null;
  /** end − start; for a run still going, now − start; null before it starts */
  durationMs: number | null;
  parentFlowRunId: string | null;
  parentTaskRunId: string | null;
  /** task runs by state type (only in lists) */
  taskCounts?: Partial<Record<StateType, number>>;
}

export interface TaskRunView {
  id: string;
  name: string;
  taskName: string;
  taskKey: string;
  flowRunId: string | null;
  parentTaskRunId: string | null;
  state: StateView;
  parameters: unknown;
  tags: string[];
  runCount: number;
  cacheKey: string | null;
  created: number;
  startTime: number | null;
  endTime: number | null;
  durationMs: number | null;
}

export interface StateHistoryEntry extends StateView {
  timestamp: number;
  scheduledTime: number | null;
  /** the stored error of a failure: `{ name, message, stack, cause }` */
  error: unknown;
}

export interface UpstreamLink {
  parameter: string;
  taskRunId: string;
  /** the upstream run, when it is still in the store */
  taskRun: TaskRunView | null;
}

export interface FlowRunDetail {
  flowRun: FlowRunView;
  states: StateHistoryEntry[];
  taskRuns: (TaskRunView & { states?: StateHistoryEntry[]; upstream?: UpstreamLink[] })[];
  subflowRuns: FlowRunView[];
  parentFlowRun: FlowRunView | null;
}

export interface TaskRunDetail {
  taskRun: TaskRunView;
  states: StateHistoryEntry[];
  /** every upstream link, or (with `upstreamPage`) one page of them */
  upstream: UpstreamLink[];
  upstreamPage?: ListPage;
  flowRun: FlowRunView | null;
  parentTaskRun: TaskRunView | null;
}

/** Which items of a longer list a page holds: at most `limit` from `offset`, of `total`. */
export interface ListPage {
  offset: number;
  limit: number;
  total: number;
  /** the offset of the next page; null when this one reaches the end */
  nextOffset: number | null;
}

/** The page of `shown` items from `offset` of `total` (nextOffset null when none follow). */
export function listPage(offset: number, limit: number, shown: number, total: number): ListPage {
  const next = offset + shown;
  return { offset, limit, total, nextOffset: shown > 0 && next < total ? next : null };
}

export interface LogView {
  id: number;
  flowRunId: string | null;
  taskRunId: string | null;
  level: number;
  levelName: string;
  source: string;
  message: string;
  timestamp: number;
}

export interface DashboardView {
  since: number;
  until: number;
  bucketMs: number;
  /** one entry per bucket, empty ones included, oldest first */
  buckets: { start: number; counts: Partial<Record<StateType, number>> }[];
  flowRuns: { total: number; byState: Partial<Record<StateType, number>>; finished: number; failed: number };
  /** failed or crashed among finished flow runs, 0..1; null when none finished */
  failureRate: number | null;
  taskRuns: { total: number; byState: Partial<Record<StateType, number>> };
  slowestTasks: { taskName: string; runs: number; meanMs: number; maxMs: number }[];
}

/** Longest field served (PREFECT_STORE_MAX_VALUE_BYTES): stores written before the limit may hold longer ones. */
function servedLimit(): number {
  try {
    return getSettings().PREFECT_STORE_MAX_VALUE_BYTES;
  } catch {
    return 64 * 1024;
  }
}

/** A stored text as served: cut to the limit with a marker. */
export function servedText<T extends string | null>(text: T): T {
  return (text === null ? null : boundText(text, servedLimit())) as T;
}

export function parseJsonText(text: string | null, fallback: unknown): unknown {
  if (text === null) return fallback;
  // JSON whose values were each bounded stays near the limit; far past it, it is an older
  // store's unbounded value: served as a bounded string rather than parsed whole
  const limit = servedLimit();
  if (text.length > 8 * limit) return boundText(text, limit);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function tagsOf(text: string): string[] {
  const t = parseJsonText(text, []);
  return Array.isArray(t) ? t.map(String) : [];
}

export function durationOf(r: { startTime: number | null; endTime: number | null; stateType: string }, now: number): number | null {
  if (r.startTime === null) return null;
  if (r.endTime !== null) return Math.max(0, r.endTime - r.startTime);
  return FINAL_TYPES.has(r.stateType) ? null : Math.max(0, now - r.startTime);
}

export function flowRunView(r: FlowRunRow | FlowRunWithTaskCounts, now = Date.now()): FlowRunView {
  const v: FlowRunView = {
    id: r.id, name: r.name, flowName: r.flowName, flowVersion: r.flowVersion,
    state: { type: r.stateType, name: r.stateName, message: servedText(r.stateMessage) },
    parameters: parseJsonText(r.parameters, {}), tags: tagsOf(r.tags), runCount: r.runCount,
    created: r.created, startTime: r.startTime, endTime: r.endTime, durationMs: durationOf(r, now),
    parentFlowRunId: r.parentFlowRunId, parentTaskRunId: r.parentTaskRunId,
  };
  if ("taskCounts" in r) v.taskCounts = r.taskCounts;
  return v;
}

export function taskRunView(r: TaskRunRow, now = Date.now()): TaskRunView {
  return {
    id: r.id, name: r.name, taskName: r.taskName, taskKey: r.taskKey, flowRunId: r.flowRunId,
    parentTaskRunId: r.parentTaskRunId, state: { type: r.stateType, name: r.stateName, message: servedText(r.stateMessage) },
    parameters: parseJsonText(r.parameters, {}), tags: tagsOf(r.tags), runCount: r.runCount, cacheKey: r.cacheKey,
    created: r.created, startTime: r.startTime, endTime: r.endTime, durationMs: durationOf(r, now),
  };
}

export function stateHistoryView(rows: StateRow[]): StateHistoryEntry[] {
  return rows.map((s) => ({
    type: s.type, name: s.name, message: servedText(s.message), timestamp: s.timestamp, scheduledTime: s.scheduledTime,
    error: parseJsonText(s.error, null),
  }));
}

export function logView(l: LogRow): LogView {
  return {
    id: l.id ?? 0, flowRunId: l.flowRunId, taskRunId: l.taskRunId, level: l.level, levelName: levelName(l.level),
    source: l.source, message: servedText(l.message), timestamp: l.timestamp,
  };
}

/** A flow run's task runs by state type, all of them (summed from its groups by task key: one indexed query). */
export async function taskCountsOf(store: RunStore, flowRunId: string): Promise<Partial<Record<StateType, number>>> {
  const counts: Partial<Record<StateType, number>> = {};
  for (const g of await store.taskRunGroups(flowRunId)) {
    for (const [type, n] of Object.entries(g.counts) as [StateType, number][]) counts[type] = (counts[type] ?? 0) + n;
  }
  return counts;
}

export async function listFlowRunViews(store: RunStore, filter: FlowRunFilter): Promise<FlowRunView[]> {
  const now = Date.now();
  return (await store.listFlowRunsWithTaskCounts(filter)).map((r) => flowRunView(r, now));
}

export async function upstreamOf(store: RunStore, taskRunId: string, now: number): Promise<UpstreamLink[]> {
  return linksOf(store, await store.getInputs(taskRunId), now);
}

async function linksOf(store: RunStore, inputs: InputRow[], now: number): Promise<UpstreamLink[]> {
  const links: UpstreamLink[] = [];
  for (const i of inputs) {
    const up = await store.getTaskRun(i.upstreamTaskRunId);
    links.push({ parameter: i.parameter, taskRunId: i.upstreamTaskRunId, taskRun: up && up.id === i.upstreamTaskRunId ? taskRunView(up, now) : null });
  }
  return links;
}

/**
 * One page of a task run's upstream links (a reduce over 10,000 runs has 10,000), by parameter
 * then upstream id: an order every store gives the same, so pages neither skip nor repeat.
 */
async function upstreamPageOf(store: RunStore, taskRunId: string, now: number, page: { limit: number; offset: number }) {
  const byKey = (i: InputRow) => `${i.parameter}\u0000${i.upstreamTaskRunId}`;
  const inputs = (await store.getInputs(taskRunId)).sort((a, b) => (byKey(a) < byKey(b) ? -1 : byKey(a) > byKey(b) ? 1 : 0));
  const links = await linksOf(store, inputs.slice(page.offset, page.offset + page.limit), now);
  return { links, page: listPage(page.offset, page.limit, links.length, inputs.length) };
}

/**
 * A task run by id or name (the newest of that name) with its history, upstream runs and flow
 * run; with `upstream`, one page of its upstream links and `upstreamPage`.
 */
export async function taskRunDetail(
  store: RunStore, idOrName: string, opts: { upstream?: { limit: number; offset: number } } = {},
): Promise<TaskRunDetail | undefined> {
  const row = await store.getTaskRun(idOrName);
  if (!row) return undefined;
  const now = Date.now();
  const [states, upstream, flow, parent] = await Promise.all([
    store.getStates(row.id),
    opts.upstream ? upstreamPageOf(store, row.id, now, opts.upstream) : upstreamOf(store, row.id, now).then((links) => ({ links, page: undefined })),
    row.flowRunId ? store.getFlowRun(row.flowRunId) : Promise.resolve(undefined),
    row.parentTaskRunId ? store.getTaskRun(row.parentTaskRunId) : Promise.resolve(undefined),
  ]);
  return {
    taskRun: taskRunView(row, now),
    states: stateHistoryView(states),
    upstream: upstream.links,
    ...(upstream.page ? { upstreamPage: upstream.page } : {}),
    flowRun: flow && flow.id === row.flowRunId ? flowRunView(flow, now) : null,
    parentTaskRun: parent && parent.id === row.parentTaskRunId ? taskRunView(parent, now) : null,
  };
}

export async function dashboardView(store: RunStore, since: number, bucketMs: number, now = Date.now()): Promise<DashboardView> {
  const rows = await store.statsSince(since, { bucketMs, slowest: 10 });
  const buckets: DashboardView["buckets"] = [];
  for (let start = since; start <= now; start += bucketMs) buckets.push({ start, counts: {} });
  const flowByState: Partial<Record<StateType, number>> = {};
  let total = 0;
  for (const r of rows.flowRuns) {
    const i = Math.floor((r.bucket - since) / bucketMs);
    while (buckets.length <= i) buckets.push({ start: since + buckets.length * bucketMs, counts: {} });
    const b = buckets[i]!;
    b.counts[r.stateType] = (b.counts[r.stateType] ?? 0) + r.count;
    flowByState[r.stateType] = (flowByState[r.stateType] ?? 0) + r.count;
    total += r.count;
  }
  const finished = [...FINAL_TYPES].reduce((n, t) => n + (flowByState[t as StateType] ?? 0), 0);
  const failed = (flowByState.FAILED ?? 0) + (flowByState.CRASHED ?? 0);
  const taskByState: Partial<Record<StateType, number>> = {};
  let taskTotal = 0;
  for (const r of rows.taskRuns) {
    taskByState[r.stateType] = (taskByState[r.stateType] ?? 0) + r.count;
    taskTotal += r.count;
  }
  return {
    since, until: now, bucketMs, buckets,
    flowRuns: { total, byState: flowByState, finished, failed },
    failureRate: finished > 0 ? failed / finished : null,
    taskRuns: { total: taskTotal, byState: taskByState },
    slowestTasks: rows.slowestTasks,
  };
}
