/** Row shapes of the PostgreSQL store: column lists, array parameters for writes, mapping reads. */
import type { FlowRunRow, KeptResultRow, LogRow, StateRow, TaskRunRow } from "../types.ts";

export interface ColumnSet<R> {
  table: string;
  /** column name and its PostgreSQL array type, in insert order */
  columns: readonly (readonly [string, string])[];
  values(row: R): unknown[];
}

export const FLOW_RUNS: ColumnSet<FlowRunRow> = {
  table: "flow_runs",
  columns: [
    ["id", "text"], ["name", "text"], ["flow_name", "text"], ["flow_version", "text"], ["parent_flow_run_id", "text"],
    ["parent_task_run_id", "text"], ["parameters", "text"], ["tags", "text"], ["state_type", "text"], ["state_name", "text"],
    ["state_message", "text"], ["run_count", "integer"], ["created", "bigint"], ["start_time", "bigint"], ["end_time", "bigint"],
    ["updated", "bigint"], ["entrypoint", "text"], ["pid", "integer"], ["host", "text"], ["heartbeat", "bigint"],
  ],
  values: (r) => [
    r.id, r.name, r.flowName, r.flowVersion, r.parentFlowRunId, r.parentTaskRunId, r.parameters, r.tags, r.stateType, r.stateName,
    r.stateMessage, r.runCount, r.created, r.startTime, r.endTime, r.updated, r.entrypoint ?? null, r.pid ?? null, r.host ?? null, r.heartbeat ?? null,
  ],
};

export const TASK_RUNS: ColumnSet<TaskRunRow> = {
  table: "task_runs",
  columns: [
    ["id", "text"], ["name", "text"], ["task_name", "text"], ["task_key", "text"], ["flow_run_id", "text"],
    ["parent_task_run_id", "text"], ["parameters", "text"], ["tags", "text"], ["state_type", "text"], ["state_name", "text"],
    ["state_message", "text"], ["run_count", "integer"], ["cache_key", "text"], ["created", "bigint"], ["start_time", "bigint"],
    ["end_time", "bigint"], ["updated", "bigint"], ["states", "text"],
  ],
  values: (r) => [
    r.id, r.name, r.taskName, r.taskKey, r.flowRunId, r.parentTaskRunId, r.parameters, r.tags, r.stateType, r.stateName,
    r.stateMessage, r.runCount, r.cacheKey, r.created, r.startTime, r.endTime, r.updated, r.states ?? null,
  ],
};

export const RUN_STATES: ColumnSet<StateRow> = {
  table: "run_states",
  columns: [
    ["run_id", "text"], ["seq", "integer"], ["run_kind", "text"], ["type", "text"], ["name", "text"], ["message", "text"],
    ["timestamp", "bigint"], ["scheduled_time", "bigint"], ["error", "text"],
  ],
  values: (s) => [s.runId, s.seq, s.runKind, s.type, s.name, s.message, s.timestamp, s.scheduledTime, s.error],
};

export const RESULTS: ColumnSet<KeptResultRow> = {
  table: "task_run_results",
  columns: [
    ["task_run_id", "text"], ["flow_run_id", "text"], ["inputs_key", "text"], ["source_hash", "text"], ["kind", "text"],
    ["payload", "bytea"], ["message", "text"], ["created", "bigint"],
  ],
  values: (r) => [r.taskRunId, r.flowRunId, r.inputsKey, r.sourceHash, r.kind, r.payload === null ? null : Buffer.from(r.payload), r.message, r.created],
};

export const LOGS: ColumnSet<LogRow> = {
  table: "logs",
  columns: [["flow_run_id", "text"], ["task_run_id", "text"], ["level", "integer"], ["source", "text"], ["message", "text"], ["timestamp", "bigint"]],
  values: (l) => [l.flowRunId, l.taskRunId, l.level, l.source, l.message, l.timestamp],
};

export const FLOW_COLS = FLOW_RUNS.columns.map((c) => c[0]).join(", ");
/** read back with a task run's row: all but its packed states (`getStates` reads those) */
export const TASK_COLS = TASK_RUNS.columns.map((c) => c[0]).filter((c) => c !== "states").join(", ");
export const STATE_COLS = RUN_STATES.columns.map((c) => c[0]).join(", ");

/**
 * Column-wise arrays for `INSERT … SELECT FROM unnest($1::text[], …)`: one parameter per column
 * whatever the number of rows (no 65,535-parameter limit, one round trip per table).
 */
export function columnArrays<R>(set: ColumnSet<R>, rows: readonly R[]): unknown[][] {
  const cols: unknown[][] = set.columns.map(() => new Array(rows.length));
  rows.forEach((row, i) => {
    const v = set.values(row);
    for (let c = 0; c < cols.length; c++) cols[c]![i] = v[c] ?? null;
  });
  return cols;
}

/** `INSERT INTO t (cols) SELECT cols FROM unnest(...) WITH ORDINALITY … ORDER BY ord` (rows keep their order). */
export function insertSelect(set: ColumnSet<unknown>): string {
  const names = set.columns.map((c) => c[0]);
  const unnest = set.columns.map((c, i) => `$${i + 1}::${c[1]}[]`).join(", ");
  return `INSERT INTO ${set.table} (${names.join(", ")}) SELECT ${names.map((n) => `u.${n}`).join(", ")} FROM unnest(${unnest}) WITH ORDINALITY AS u(${names.join(", ")}, ord) ORDER BY u.ord`;
}

const num = (v: unknown) => (v == null ? null : Number(v));
const str = (v: unknown) => (v == null ? null : (v as string));

export function flowRow(r: Record<string, unknown>): FlowRunRow {
  return {
    id: r.id as string, name: r.name as string, flowName: r.flow_name as string, flowVersion: str(r.flow_version),
    parentFlowRunId: str(r.parent_flow_run_id), parentTaskRunId: str(r.parent_task_run_id), parameters: r.parameters as string,
    tags: r.tags as string, stateType: r.state_type as FlowRunRow["stateType"], stateName: r.state_name as string,
    stateMessage: str(r.state_message), runCount: Number(r.run_count), created: Number(r.created), startTime: num(r.start_time),
    endTime: num(r.end_time), updated: Number(r.updated), entrypoint: str(r.entrypoint),
    pid: num(r.pid), host: str(r.host), heartbeat: num(r.heartbeat),
  };
}

export function taskRow(r: Record<string, unknown>): TaskRunRow {
  return {
    id: r.id as string, name: r.name as string, taskName: r.task_name as string, taskKey: r.task_key as string,
    flowRunId: str(r.flow_run_id), parentTaskRunId: str(r.parent_task_run_id), parameters: r.parameters as string,
    tags: r.tags as string, stateType: r.state_type as TaskRunRow["stateType"], stateName: r.state_name as string,
    stateMessage: str(r.state_message), runCount: Number(r.run_count), cacheKey: str(r.cache_key), created: Number(r.created),
    startTime: num(r.start_time), endTime: num(r.end_time), updated: Number(r.updated),
  };
}

export function stateRow(r: Record<string, unknown>): StateRow {
  return {
    runId: r.run_id as string, seq: Number(r.seq), runKind: r.run_kind as StateRow["runKind"], type: r.type as StateRow["type"],
    name: r.name as string, message: str(r.message), timestamp: Number(r.timestamp), scheduledTime: num(r.scheduled_time),
    error: str(r.error),
  };
}

export function logRow(r: Record<string, unknown>): LogRow {
  return {
    id: Number(r.id), flowRunId: str(r.flow_run_id), taskRunId: str(r.task_run_id), level: Number(r.level),
    source: r.source as string, message: r.message as string, timestamp: Number(r.timestamp),
  };
}
