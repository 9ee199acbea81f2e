/**
 * `GET /api/flow-runs/:idOrName`: a flow run with one page of its task runs and one page of its
 * subflow runs, so the answer is bounded whatever the run's size (a flow run of 100,000 task runs
 * answers its first 200). The task-run page says which runs it holds and how many there are
 * (`taskRunPage`, the same shape as `flowctl runs inspect --json`); `flowRun.taskCounts` counts
 * them all by state type. Task runs and subflow runs are listed as in `/task-runs` (no
 * parameters, the state message cut short): their own answers have the rest.
 */
import type { FlowRunRow, FlowRunWithTaskCounts, RunStore } from "../store/types.ts";
import { boundText } from "../logging/redact.ts";
import { flowRunView, stateHistoryView, taskCountsOf, type FlowRunView, type StateHistoryEntry } from "./run-views.ts";
import { LIST_MESSAGE_BYTES, taskRunListView, type TaskRunListView } from "./flow-run-page.ts";

export const TASK_RUNS_DEFAULT = 200;
export const TASK_RUNS_MAX = 1000;
export const SUBFLOW_RUNS_DEFAULT = 100;
export const SUBFLOW_RUNS_MAX = 1000;

/** Which items of a longer list a page holds: at most `limit` from `offset`, of `total`. */
export interface ListPage {
  offset: number;
  limit: number;
  total: number;
  /** the offset of the next page; null when this one reaches the end */
  nextOffset: number | null;
}

/** A page of subflow runs (newest first): the store does not count them, so only whether more follow. */
export interface SubflowRunPage {
  offset: number;
  limit: number;
  nextOffset: number | null;
}

/** A subflow run in a list: no parameters, the state message cut short. */
export type FlowRunListView = Omit<FlowRunView, "parameters">;

export function flowRunListView(r: FlowRunWithTaskCounts, now: number): FlowRunListView {
  const { parameters: _omitted, ...v } = flowRunView(r, now);
  if (v.state.message !== null) v.state.message = boundText(v.state.message, LIST_MESSAGE_BYTES);
  return v;
}

export interface FlowRunDetailPage {
  flowRun: FlowRunView;
  states: StateHistoryEntry[];
  taskRunPage: ListPage;
  /** oldest first, `taskRunPage.limit` from `taskRunPage.offset` */
  taskRuns: TaskRunListView[];
  subflowRunPage: SubflowRunPage;
  /** newest first, `subflowRunPage.limit` from `subflowRunPage.offset` */
  subflowRuns: FlowRunListView[];
  parentFlowRun: FlowRunView | null;
}

export interface DetailQuery {
  limit: number;
  offset: number;
  /** one group's runs (a task key) */
  taskKey?: string;
  /** state types or names */
  state?: string[];
  subflowLimit: number;
  subflowOffset: number;
}

/** The page after one of `shown` items from `offset` of `total` (null when none follow). */
export function listPage(offset: number, limit: number, shown: number, total: number): ListPage {
  const next = offset + shown;
  return { offset, limit, total, nextOffset: shown > 0 && next < total ? next : null };
}

export async function flowRunDetailPage(store: RunStore, row: FlowRunRow, q: DetailQuery, now = Date.now()): Promise<FlowRunDetailPage> {
  const [states, page, taskCounts, subflows, parent] = await Promise.all([
    store.getStates(row.id),
    store.pageTaskRuns({ flowRunId: row.id, taskKey: q.taskKey, state: q.state, limit: q.limit, offset: q.offset }),
    taskCountsOf(store, row.id),
    // one more than asked for says whether another page follows
    store.listFlowRunsWithTaskCounts({ parentFlowRunId: row.id, limit: q.subflowLimit + 1, offset: q.subflowOffset }),
    row.parentFlowRunId ? store.getFlowRun(row.parentFlowRunId) : Promise.resolve(undefined),
  ]);
  const more = subflows.length > q.subflowLimit;
  const shownSubflows = subflows.slice(0, q.subflowLimit);
  return {
    flowRun: { ...flowRunView(row, now), taskCounts },
    states: stateHistoryView(states),
    taskRunPage: listPage(q.offset, q.limit, page.taskRuns.length, page.total),
    taskRuns: page.taskRuns.map((t) => taskRunListView(t, now)),
    subflowRunPage: { offset: q.subflowOffset, limit: q.subflowLimit, nextOffset: more ? q.subflowOffset + shownSubflows.length : null },
    subflowRuns: shownSubflows.map((s) => flowRunListView(s, now)),
    parentFlowRun: parent && parent.id === row.parentFlowRunId ? flowRunView(parent, now) : null,
  };
}
