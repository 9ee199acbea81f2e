/**
 * The run store: where flow runs, task runs, their state histories, upstream links and logs
 * are kept. The engine never writes to it directly; it hands changes to the batched writer
 * (`writer.ts`), which calls `writeBatch`. Readers (`flowctl runs`, the UI) use the query
 * methods. Backends: SQLite (embedded, default) and PostgreSQL.
 */
import type { StateType } from "../engine/states.ts";

export interface FlowRunRow {
  id: string;
  name: string;
  flowName: string;
  flowVersion: string | null;
  parentFlowRunId: string | null;
  parentTaskRunId: string | null;
  /** JSON text */
  parameters: string;
  /** JSON text of string[] */
  tags: string;
  stateType: StateType;
  stateName: string;
  stateMessage: string | null;
  runCount: number;
  created: number;
  startTime: number | null;
  endTime: number | null;
  updated: number;
}

export interface TaskRunRow {
  id: string;
  name: string;
  taskName: string;
  taskKey: string;
  flowRunId: string | null;
  parentTaskRunId: string | null;
  parameters: string;
  tags: string;
  stateType: StateType;
  stateName: string;
  stateMessage: string | null;
  runCount: number;
  cacheKey: string | null;
  created: number;
  startTime: number | null;
  endTime: number | null;
  updated: number;
}

export interface StateRow {
  runId: string;
  seq: number;
  runKind: "flow" | "task";
  type: StateType;
  name: string;
  message: string | null;
  timestamp: number;
  scheduledTime: number | null;
  /** JSON text of ErrorData */
  error: string | null;
}

export interface InputRow {
  taskRunId: string;
  upstreamTaskRunId: string;
  parameter: string;
}

export interface LogRow {
  id?: number;
  flowRunId: string | null;
  taskRunId: string | null;
  level: number;
  source: string;
  message: string;
  timestamp: number;
}

/** One transaction's worth of changes. Runs are upserts (the latest snapshot wins). */
export interface WriteBatch {
  flowRuns: FlowRunRow[];
  taskRuns: TaskRunRow[];
  states: StateRow[];
  inputs: InputRow[];
  logs: LogRow[];
}

export interface FlowRunFilter {
  state?: string[];
  flowName?: string;
  tag?: string;
  since?: number;
  until?: number;
  parentFlowRunId?: string | null;
  limit?: number;
  offset?: number;
}

export interface TaskRunFilter {
  flowRunId?: string;
  state?: string[];
  taskName?: string;
  tag?: string;
  limit?: number;
}

export interface LogFilter {
  flowRunId?: string;
  taskRunId?: string;
  /** include the logs of a flow run's task runs too */
  includeTasks?: boolean;
  minLevel?: number;
  afterId?: number;
  limit?: number;
}

/** A flow run with how many of its task runs are in each state type (all of its task runs, nested ones included). */
export interface FlowRunWithTaskCounts extends FlowRunRow {
  taskCounts: Partial<Record<StateType, number>>;
}

/** What `pruneOlderThan` removed. `cacheKeys`: the cache keys of pruned task runs that no remaining task run uses. */
export interface PruneResult {
  flowRuns: number;
  taskRuns: number;
  states: number;
  logs: number;
  cacheKeys: string[];
}

/** Raw figures for the dashboard, over the runs created since a time. */
export interface RunStatsRows {
  /** flow runs per time bucket and state type; `bucket` is the bucket's start (since + k × bucketMs) */
  flowRuns: { bucket: number; stateType: StateType; count: number }[];
  /** task runs per state type */
  taskRuns: { stateType: StateType; count: number }[];
  /** task names whose finished runs took longest on average (end − start), slowest first */
  slowestTasks: { taskName: string; runs: number; meanMs: number; maxMs: number }[];
}

export interface RunStore {
  readonly kind: "sqlite" | "postgres";
  /** a printable location (file path or URL without password) */
  readonly location: string;
  writeBatch(batch: WriteBatch): Promise<void>;
  /** The synchronous form, for backends that can (SQLite): used when the process is exiting. */
  writeBatchSync?(batch: WriteBatch): void;

  listFlowRuns(filter?: FlowRunFilter): Promise<FlowRunRow[]>;
  /** by id, or by exact name (the newest run of that name) */
  getFlowRun(idOrName: string): Promise<FlowRunRow | undefined>;
  listTaskRuns(filter?: TaskRunFilter): Promise<TaskRunRow[]>;
  getTaskRun(idOrName: string): Promise<TaskRunRow | undefined>;
  getStates(runId: string): Promise<StateRow[]>;
  getInputs(taskRunId: string): Promise<InputRow[]>;
  getLogs(filter: LogFilter): Promise<LogRow[]>;
  /** `listFlowRuns` (same filter, same order) with each run's task-run counts by state type. */
  listFlowRunsWithTaskCounts(filter?: FlowRunFilter): Promise<FlowRunWithTaskCounts[]>;
  /**
   * Dashboard figures over the flow and task runs created at or after `since` (ms): flow runs
   * bucketed by `created` into `bucketMs` slices, task runs by state, and the `slowest` (default
   * 10) task names by mean duration.
   */
  statsSince(since: number, opts: { bucketMs: number; slowest?: number }): Promise<RunStatsRows>;
  /**
   * Delete, in one transaction, every run whose last activity is before `cutoff` (ms): flow runs
   * whose own `updated`, every task run's and every direct subflow run's `updated` are before it
   * (with all their task runs),
   * and standalone task runs (no flow run) updated before it; plus their states, upstream links
   * and logs, and logs of no run older than the cutoff. Stored results are not touched: the
   * caller deletes the entries of the returned `cacheKeys`.
   */
  pruneOlderThan(cutoff: number): Promise<PruneResult>;

  close(): Promise<void>;
}
