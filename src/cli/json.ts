/**
 * The `--json` contract, written down in docs/json-output.md (and checked against real output
 * by test/cli/json-output.test.ts): times are ISO-8601 strings everywhere; a flow run has one
 * shape (`FlowRunJson`) in `run --json`, `runs ls --json` and `runs inspect --json`, a task run
 * one shape (`TaskRunJson`) in `tasks ls --json` and `runs inspect --json`; an exit-2 error
 * with `--json` prints `{ "error": … }` on stdout. Stored values (parameters, names, messages)
 * are given exactly; JSON escapes control characters itself.
 */
import type { ErrorData, ParameterProblem } from "../errors.ts";
import type { StateType } from "../engine/states.ts";
import type {
  FlowRunDetail, FlowRunView, LogView, StateHistoryEntry, StateView, TaskRunDetail, TaskRunView, UpstreamLink,
} from "../server/run-views.ts";

export type Iso = string;

export interface FlowRunJson {
  kind: "flow-run";
  id: string;
  name: string;
  flowName: string;
  flowVersion: string | null;
  state: StateView;
  parameters: unknown;
  tags: string[];
  runCount: number;
  created: Iso;
  startTime: Iso | null;
  endTime: Iso | null;
  /** end − start; for a run still going, now − start; null before it starts */
  durationMs: number | null;
  parentFlowRunId: string | null;
  parentTaskRunId: string | null;
  /** its task runs by state type (types with none left out) */
  taskCounts: Partial<Record<StateType, number>>;
}

export interface TaskRunJson {
  kind: "task-run";
  id: string;
  name: string;
  taskName: string;
  taskKey: string;
  flowRunId: string | null;
  flowRunName: string | null;
  parentTaskRunId: string | null;
  state: StateView;
  parameters: unknown;
  tags: string[];
  runCount: number;
  cacheKey: string | null;
  created: Iso;
  startTime: Iso | null;
  endTime: Iso | null;
  durationMs: number | null;
}

export interface StateJson extends StateView {
  timestamp: Iso;
  scheduledTime: Iso | null;
  error: unknown;
}

const iso = (ms: number | null): Iso | null => (ms === null ? null : new Date(ms).toISOString());
const isoOf = (ms: number): Iso => new Date(ms).toISOString();

export function flowRunJson(v: FlowRunView, taskCounts?: Partial<Record<StateType, number>>): FlowRunJson {
  return {
    kind: "flow-run",
    id: v.id,
    name: v.name,
    flowName: v.flowName,
    flowVersion: v.flowVersion,
    state: v.state,
    parameters: v.parameters,
    tags: v.tags,
    runCount: v.runCount,
    created: isoOf(v.created),
    startTime: iso(v.startTime),
    endTime: iso(v.endTime),
    durationMs: v.durationMs,
    parentFlowRunId: v.parentFlowRunId,
    parentTaskRunId: v.parentTaskRunId,
    taskCounts: taskCounts ?? v.taskCounts ?? {},
  };
}

export function taskRunJson(v: TaskRunView, flowRunName: string | null): TaskRunJson {
  return {
    kind: "task-run",
    id: v.id,
    name: v.name,
    taskName: v.taskName,
    taskKey: v.taskKey,
    flowRunId: v.flowRunId,
    flowRunName,
    parentTaskRunId: v.parentTaskRunId,
    state: v.state,
    parameters: v.parameters,
    tags: v.tags,
    runCount: v.runCount,
    cacheKey: v.cacheKey,
    created: isoOf(v.created),
    startTime: iso(v.startTime),
    endTime: iso(v.endTime),
    durationMs: v.durationMs,
  };
}

export function stateJson(s: StateHistoryEntry): StateJson {
  return { type: s.type, name: s.name, message: s.message, timestamp: isoOf(s.timestamp), scheduledTime: iso(s.scheduledTime), error: s.error };
}

function countByType(runs: { state: StateView }[]): Partial<Record<StateType, number>> {
  const out: Partial<Record<StateType, number>> = {};
  for (const r of runs) out[r.state.type] = (out[r.state.type] ?? 0) + 1;
  return out;
}

function upstreamJson(links: UpstreamLink[], names: Map<string, string>) {
  return links.map((l) => ({
    parameter: l.parameter,
    taskRunId: l.taskRunId,
    taskRun: l.taskRun ? taskRunJson(l.taskRun, l.taskRun.flowRunId ? names.get(l.taskRun.flowRunId) ?? null : null) : null,
  }));
}

/** Which of a flow run's task runs `taskRuns` holds: `limit` from `offset` (oldest first), of `total`. */
export interface TaskRunPageJson {
  offset: number;
  limit: number;
  total: number;
  /** the offset of the next page; null when this one reaches the end */
  nextOffset: number | null;
}

/**
 * `runs inspect FLOW_RUN --json`. `paged`: the listed task runs are one page of `taskRunPage`,
 * and `taskCounts` counts them all; without it they are all of them.
 */
export function flowRunDetailJson(d: FlowRunDetail, paged?: { taskCounts: Partial<Record<StateType, number>>; taskRunPage: TaskRunPageJson }) {
  const names = new Map([[d.flowRun.id, d.flowRun.name]]);
  const n = d.taskRuns.length;
  return {
    kind: "flow-run" as const,
    flowRun: flowRunJson(d.flowRun, paged?.taskCounts ?? countByType(d.taskRuns)),
    taskRunPage: paged?.taskRunPage ?? { offset: 0, limit: n, total: n, nextOffset: null },
    states: d.states.map(stateJson),
    taskRuns: d.taskRuns.map((t) => ({
      ...taskRunJson(t, d.flowRun.name),
      ...(t.states ? { states: t.states.map(stateJson) } : {}),
      ...(t.upstream ? { upstream: upstreamJson(t.upstream, names) } : {}),
    })),
    subflowRuns: d.subflowRuns.map((s) => flowRunJson(s)),
    parentFlowRun: d.parentFlowRun ? flowRunJson(d.parentFlowRun) : null,
  };
}

/** `runs inspect TASK_RUN --json` */
export function taskRunDetailJson(d: TaskRunDetail) {
  const flowName = d.flowRun?.name ?? null;
  const names = new Map(d.flowRun ? [[d.flowRun.id, d.flowRun.name]] : []);
  return {
    kind: "task-run" as const,
    taskRun: taskRunJson(d.taskRun, flowName),
    states: d.states.map(stateJson),
    upstream: upstreamJson(d.upstream, names),
    flowRun: d.flowRun ? flowRunJson(d.flowRun) : null,
    parentTaskRun: d.parentTaskRun ? taskRunJson(d.parentTaskRun, flowName) : null,
  };
}

/** One line of `runs logs --json` (JSON Lines: one object per line). */
export function logJson(l: LogView) {
  return { ...l, timestamp: isoOf(l.timestamp) };
}

export interface ErrorJson {
  error: { code: string; message: string; exitCode: number; problems?: ParameterProblem[] };
}

export function errorJson(code: string, message: string, exitCode: number, problems?: ParameterProblem[]): ErrorJson {
  return { error: { code, message, exitCode, ...(problems ? { problems } : {}) } };
}

/** Write one JSON document (pretty, ending in a newline) on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v), 2) + "\n");
}

export type { ErrorData };
