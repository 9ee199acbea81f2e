/**
 * The API's answers for one run (a flow run, a task run), bounded whatever the run's size.
 *
 * `GET /api/flow-runs/:idOrName`: a flow run with one page of its task runs and one page of its
 * subflow runs, so the answer is bounded whatever the run's size (a flow run of 100,000 task runs
 * answers its first 200). The task-run page says which runs it holds and how many there are
 * (`taskRunPage`, the same shape as `flowctl runs inspect --json`); `flowRun.taskCounts` counts
 * them all by state type. Task runs and subflow runs are listed as in `/task-runs` (no
 * parameters, the state message cut short): their own answers have the rest.
 *
 * `GET /api/task-runs/:idOrName`: a task run with one page of its upstream links (a reduce over
 * 10,000 mapped runs has 10,000), `upstreamPage` saying which, each upstream run listed the same way.
 */
import type { FlowRunRow, FlowRunWithTaskCounts, RunStore } from "../store/types.ts";
import { boundText } from "../logging/redact.ts";
import {
  flowRunView, listPage, stateHistoryView, taskCountsOf, taskRunDetail,
  type FlowRunView, type ListPage, type StateHistoryEntry, type TaskRunDetail,
} from "./run-views.ts";
import { LIST_MESSAGE_BYTES, taskRunListView, type TaskRunListView } from "./flow-run-page.ts";

export const TASK_RUNS_DEFAULT = 200;
export const TASK_RUNS_MAX = 1000;
export const SUBFLOW_RUNS_DEFAULT = 100;
export const SUBFLOW_RUNS_MAX = 1000;
export const UPSTREAM_DEFAULT = 100;
export const UPSTREAM_MAX = 1000;

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

export type TaskRunDetailPage = Omit<TaskRunDetail, "upstream"> & {
  upstream: { parameter: string; taskRunId: string; taskRun: TaskRunListView | null }[];
};

/** A task run's answer: its upstream links a page at a time, the upstream runs without parameters. */
export async function taskRunDetailPage(
  store: RunStore, idOrName: string, upstream: { limit: number; offset: number },
): Promise<TaskRunDetailPage | undefined> {
  const d = await taskRunDetail(store, idOrName, { upstream });
  if (!d) return undefined;
  return {
    ...d,
    upstream: d.upstream.map((l) => {
      if (!l.taskRun) return { ...l, taskRun: null };
      const { parameters: _omitted, ...t } = l.taskRun;
      if (t.state.message !== null) t.state = { ...t.state, message: boundText(t.state.message, LIST_MESSAGE_BYTES) };
      return { ...l, taskRun: t };
    }),
  };
}
