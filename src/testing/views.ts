/**
 * What a test reads back: snapshots of the harness's runs and log lines. Plain objects, made
 * when asked for, holding the real `State` objects (their `error` and `result()` included).
 */
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";
import type { State } from "../engine/states.ts";
import { levelName, type LogLevelName } from "../logging/levels.ts";
import type { LogRecord } from "../logging/record.ts";

export interface LogLine {
  level: LogLevelName;
  message: string;
  /** `flowctl.engine`, `Flow run 'NAME'` or `Task run 'NAME'` */
  source: string;
  /** virtual time, ms since the epoch */
  timestamp: number;
  flowRunId: string | undefined;
  taskRunId: string | undefined;
}

interface RunViewBase {
  id: string;
  name: string;
  parameters: Record<string, unknown>;
  tags: readonly string[];
  runCount: number;
  /** the final (or current) state */
  state: State;
  /** the whole history, oldest first */
  states: readonly State[];
  /** `["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]` */
  stateNames: string[];
  startTime: Date | undefined;
  endTime: Date | undefined;
  /** the run's own log lines */
  logs: LogLine[];
}

export interface FlowRunView extends RunViewBase {
  flowName: string;
  parentFlowRunId: string | undefined;
  /** the task run that called this flow as a subflow, if one did */
  parentTaskRunId: string | undefined;
}

export interface TaskRunView extends RunViewBase {
  taskName: string;
  taskKey: string;
  flowRunId: string | undefined;
  parentTaskRunId: string | undefined;
  cacheKey: string | undefined;
  /** upstream task runs whose results came in as arguments (and `waitFor`) */
  upstream: { parameter: string; taskRunId: string; taskRunName: string | undefined }[];
  /** seconds between each failure and its retry, as scheduled (AwaitingRetry states) */
  retryDelays: number[];
}

export function logLine(rec: LogRecord): LogLine {
  return {
    level: levelName(rec.level),
    message: rec.message,
    source: rec.source,
    timestamp: rec.timestamp,
    flowRunId: rec.flowRunId,
    taskRunId: rec.taskRunId,
  };
}

function base(run: FlowRunRecord | TaskRunRecord, logs: LogLine[]): RunViewBase {
  return {
    id: run.id,
    name: run.name,
    parameters: run.parameters,
    tags: run.tags,
    runCount: run.runCount,
    state: run.state,
    states: run.states.slice(),
    stateNames: run.states.map((s) => s.name),
    startTime: run.startTime,
    endTime: run.endTime,
    logs,
  };
}

export function flowRunView(run: FlowRunRecord, lines: readonly LogLine[]): FlowRunView {
  const logs = lines.filter((l) => l.flowRunId === run.id && l.taskRunId === undefined);
  return { ...base(run, logs), flowName: run.flowName, parentFlowRunId: run.parentFlowRunId, parentTaskRunId: run.parentTaskRunId };
}

export function taskRunView(run: TaskRunRecord, lines: readonly LogLine[], nameOf: (id: string) => string | undefined): TaskRunView {
  const logs = lines.filter((l) => l.taskRunId === run.id);
  const retryDelays = run.states
    .filter((s) => s.name === "AwaitingRetry" && s.scheduledTime !== undefined)
    .map((s) => (s.scheduledTime!.getTime() - s.ts) / 1000);
  return {
    ...base(run, logs),
    taskName: run.taskName,
    taskKey: run.taskKey,
    flowRunId: run.flowRunId,
    parentTaskRunId: run.parentTaskRunId,
    cacheKey: run.cacheKey,
    upstream: run.inputs.map((i) => ({ parameter: i.parameter, taskRunId: i.taskRunId, taskRunName: nameOf(i.taskRunId) })),
    retryDelays,
  };
}
