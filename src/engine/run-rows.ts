/**
 * The rows the engine hands the store writer for a run's state and a task run's snapshot, made by
 * constructors rather than object literals. V8 pretenures an object literal's allocation site
 * once most of what it made outlived a young-generation GC: the Pending rows of a `.map` wait for
 * the store, so the site was pretenured during the map, and from then on every row it made (each
 * run's Running and final rows, short-lived) was allocated in the old generation, garbage that
 * only a full GC frees; the heap grew by them until one came. Objects made by `new` start young.
 */
import type { StateRow, StateType, TaskRunRow } from "../store/types.ts";

export class StateRowData implements StateRow {
  declare runId: string;
  declare seq: number;
  declare runKind: "flow" | "task";
  declare type: StateType;
  declare name: string;
  declare message: string | null;
  declare timestamp: number;
  declare scheduledTime: number | null;
  declare error: string | null;

  constructor(
    runId: string, seq: number, runKind: "flow" | "task", type: StateType, name: string, message: string | null,
    timestamp: number, scheduledTime: number | null, error: string | null,
  ) {
    this.runId = runId;
    this.seq = seq;
    this.runKind = runKind;
    this.type = type;
    this.name = name;
    this.message = message;
    this.timestamp = timestamp;
    this.scheduledTime = scheduledTime;
    this.error = error;
  }
}

/** The columns of a task run's row, as its record gives them (fields in the order rows always had). */
export interface TaskRunRowSource {
  readonly id: string;
  readonly name: string;
  readonly runCount: number;
  readonly created: number;
  readonly startMs: number | undefined;
  readonly endMs: number | undefined;
  readonly taskName: string;
  readonly taskKey: string;
  readonly flowRunId: string | undefined;
  readonly parentTaskRunId: string | undefined;
  readonly cacheKey: string | undefined;
}

export class TaskRunRowData implements TaskRunRow {
  declare id: string;
  declare name: string;
  declare parameters: string;
  declare tags: string;
  declare stateType: StateType;
  declare stateName: string;
  declare stateMessage: string | null;
  declare runCount: number;
  declare created: number;
  declare startTime: number | null;
  declare endTime: number | null;
  declare updated: number;
  declare taskName: string;
  declare taskKey: string;
  declare flowRunId: string | null;
  declare parentTaskRunId: string | null;
  declare cacheKey: string | null;
  declare states: string;

  constructor(
    run: TaskRunRowSource, parameters: string, tags: string, stateType: StateType, stateName: string, stateMessage: string | null, updated: number,
    states: string,
  ) {
    this.id = run.id;
    this.name = run.name;
    this.parameters = parameters;
    this.tags = tags;
    this.stateType = stateType;
    this.stateName = stateName;
    this.stateMessage = stateMessage;
    this.runCount = run.runCount;
    this.created = run.created;
    this.startTime = run.startMs ?? null;
    this.endTime = run.endMs ?? null;
    this.updated = updated;
    this.taskName = run.taskName;
    this.taskKey = run.taskKey;
    this.flowRunId = run.flowRunId ?? null;
    this.parentTaskRunId = run.parentTaskRunId ?? null;
    this.cacheKey = run.cacheKey ?? null;
    this.states = states;
  }
}
