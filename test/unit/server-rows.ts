/** Test support for the server and store-query tests: store rows with sensible defaults. */
import type { FlowRunRow, StateRow, TaskRunRow, WriteBatch } from "../../src/store/types.ts";
import type { StateType } from "../../src/engine/states.ts";

export const DAY = 86_400_000;
export const NOW = Date.UTC(2030, 0, 10);

export function flowRow(id: string, at: number, over: Partial<FlowRunRow> = {}): FlowRunRow {
  return {
    id, name: `run-${id}`, flowName: "etl", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1,
    created: at, startTime: at, endTime: at + 1000, updated: at + 1000, entrypoint: null, pid: null, host: null, heartbeat: null, ...over,
  };
}

export function taskRow(id: string, flowRunId: string | null, at: number, over: Partial<TaskRunRow> = {}): TaskRunRow {
  return {
    id, name: `${id}-0`, taskName: id.replace(/\d+$/, ""), taskKey: "k", flowRunId, parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1,
    cacheKey: null, created: at, startTime: at, endTime: at + 100, updated: at + 100, ...over,
  };
}

export const state = (runId: string, seq: number, type: StateType, at: number, runKind: "flow" | "task" = "task"): StateRow => ({
  runId, seq, runKind, type, name: type[0] + type.slice(1).toLowerCase(), message: null, timestamp: at, scheduledTime: null, error: null,
});

export function batch(b: Partial<WriteBatch>): WriteBatch {
  return { flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [], ...b };
}
