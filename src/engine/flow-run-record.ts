/**
 * The record of a flow run (see run-records.ts): the in-memory truth about it while it executes,
 * its task-run name counters, what runs in it, and what a retry of it may reuse.
 */
import { Logger } from "../logging/logger.ts";
import { storedText, type RecordLimits } from "../logging/redact.ts";
import type { FlowRunRow } from "../store/types.ts";
import { thisHost } from "../store/liveness.ts";
import type { Settings } from "../settings/schema.ts";
import type { TaskRunner } from "../runners/types.ts";
import { AttemptTally } from "./attempt-tally.ts";
import { RunProgress } from "./progress.ts";
import type { RunEnv } from "./env.ts";
import { isFinalType, recordLimits, RunRecordBase, tagsText, type FlowRun, type TaskRunRecord } from "./run-records.ts";
import type { State } from "./states.ts";
import { packTime, unpackTime } from "./times.ts";

export class FlowRunRecord extends RunRecordBase implements FlowRun {
  protected get kind(): "flow" {
    return "flow";
  }
  /** where the run's records and logs go */
  readonly env: RunEnv;
  readonly flowName: string;
  readonly flowVersion: string | undefined;
  readonly parentFlowRunId: string | undefined;
  readonly parentTaskRunId: string | undefined;
  readonly settings: Settings;
  readonly taskRunner: TaskRunner;
  logPrints: boolean;
  /** the last preparation of each task's calls in this flow run (task-prepare.ts), by task */
  readonly taskCalls = new Map<object, unknown>();
  /** task-run name counters, per task key */
  private readonly counters = new Map<string, number>();
  /** subflow runs and pulled generator runs started in this flow run and not yet finished */
  readonly inflight = new Set<Promise<unknown>>();
  /** task runs started in this flow run and not yet finished (a count: nothing kept per run) */
  private tasksInFlight = 0;
  private tasksSettled: { promise: Promise<void>; resolve: () => void } | undefined;
  /** counts of the runs started directly in the flow body during the current attempt (for the final state) */
  attempt = new AttemptTally();
  /** task runs currently executing an attempt (cancelled together on timeout/interrupt) */
  readonly running = new Set<TaskRunRecord>();
  /** generator task runs that are suspended at a yield, with their last yielded value */
  readonly activeGenerators = new Map<TaskRunRecord, unknown>();
  /** set when the flow run timed out or was cancelled: later task calls fail at once */
  closedError: Error | undefined;
  /** the top-level flow run of this one (itself when it has no parent) */
  readonly root: FlowRunRecord;
  /** keep the results of completed task runs (PREFECT_RESULTS_KEEP_FOR_RETRY) */
  readonly keepResults: boolean;
  /** `<file>:<flow name>` when started by `flowctl run` */
  readonly entrypoint: string | undefined;
  /** on a top-level run that retries an earlier one: the task calls it may reuse */
  reuse: ReuseSource | undefined;
  /** run count when this process took the run up (0 for a new run) */
  readonly baseRunCount: number;
  /** counts of this run's task runs (and its subflows'): the top-level run's, shared by its subflows */
  progress: RunProgress = new RunProgress();
  /** task runs cancelled by this run's interruption, by task name: summarised, not logged one by one */
  readonly cancelledByTask = new Map<string, number>();

  constructor(init: {
    env: RunEnv;
    name: string;
    flowName: string;
    flowVersion: string | undefined;
    parentFlowRunId: string | undefined;
    parentTaskRunId: string | undefined;
    parameters: Record<string, unknown>;
    tags: readonly string[];
    settings: Settings;
    taskRunner: TaskRunner;
    logPrints: boolean;
    root?: FlowRunRecord | undefined;
    entrypoint?: string | undefined;
    /** take up a run that is in the store already (`runs retry`) */
    resume?: ResumedRun | undefined;
  }) {
    super(init.name, init.parameters, init.tags, init.resume?.id);
    this.env = init.env;
    this.root = init.root ?? this;
    this.keepResults = init.settings.PREFECT_RESULTS_KEEP_FOR_RETRY;
    this.entrypoint = init.entrypoint;
    const r = init.resume;
    this.baseRunCount = r?.runCount ?? 0;
    if (r) {
      this.created = r.created;
      this.runCount = r.runCount;
      this.resumedStates = r.stateCount;
      if (r.startTime !== null) this.startAt = packTime(r.startTime);
      for (const [key, n] of r.taskCounters) this.counters.set(key, n);
    }
    this.flowName = init.flowName;
    this.flowVersion = init.flowVersion;
    this.parentFlowRunId = init.parentFlowRunId;
    this.parentTaskRunId = init.parentTaskRunId;
    this.settings = init.settings;
    this.runLimits = recordLimits(init.settings);
    this.taskRunner = init.taskRunner;
    this.logPrints = init.logPrints;
  }

  private runLogger: Logger | undefined;
  private readonly runLimits: RecordLimits;
  /** states in the store before this process took the run up (`runs retry`) */
  private resumedStates = 0;
  /** its first Running state and its final state (`packTime`): a resumed run's earlier states are not here */
  private startAt: number | undefined;
  private endAt: number | undefined;

  limits(): RecordLimits {
    return this.runLimits;
  }

  protected override get seqBase(): number {
    return this.resumedStates;
  }

  get startMs(): number | undefined {
    return this.startAt === undefined ? undefined : unpackTime(this.startAt);
  }

  get endMs(): number | undefined {
    return this.endAt === undefined ? undefined : unpackTime(this.endAt);
  }

  override setState(state: State): void {
    // before the state is handed on: the writer may take the run's row at once
    const t = state.type;
    if (t === "RUNNING") this.startAt ??= packTime(state.ts);
    else if (isFinalType(t)) this.endAt = packTime(state.ts);
    super.setState(state);
  }

  get logger(): Logger {
    return (this.runLogger ??= new Logger(`Flow run '${this.name}'`, this.id, undefined, this.env.logHub));
  }

  /** Before its first state only (flowRunName). */
  rename(name: string): void {
    this.name = name;
    this.runLogger = undefined;
  }

  taskStarted(): void {
    this.tasksInFlight++;
  }

  taskEnded(): void {
    if (--this.tasksInFlight === 0 && this.tasksSettled) {
      this.tasksSettled.resolve();
      this.tasksSettled = undefined;
    }
  }

  /** Resolves when no task run of this flow run is in flight (at once if none is). */
  whenTasksSettled(): Promise<void> | undefined {
    if (this.tasksInFlight === 0) return undefined;
    if (!this.tasksSettled) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.tasksSettled = { promise, resolve };
    }
    return this.tasksSettled.promise;
  }

  nextTaskIndex(taskKey: string): number {
    const n = this.counters.get(taskKey) ?? 0;
    this.counters.set(taskKey, n + 1);
    return n;
  }

  protected touch(): void {
    this.env.writer.touchFlowRun(this);
  }

  toRow(): FlowRunRow {
    const s = this.state;
    return {
      id: this.id,
      name: this.name,
      parameters: this.storedParameters(),
      tags: tagsText(this.tags),
      stateType: s.type,
      stateName: s.name,
      stateMessage: s.message == null ? null : storedText(s.message, this.limits()),
      runCount: this.runCount,
      created: this.created,
      startTime: this.startMs ?? null,
      endTime: this.endMs ?? null,
      updated: s.ts,
      flowName: this.flowName,
      flowVersion: this.flowVersion ?? null,
      parentFlowRunId: this.parentFlowRunId ?? null,
      parentTaskRunId: this.parentTaskRunId ?? null,
      entrypoint: this.entrypoint ?? null,
      pid: process.pid,
      host: thisHost(),
      heartbeat: Date.now(),
    };
  }

}

/** What a process needs to take up a flow run from the store (`runs retry`). */
export interface ResumedRun {
  id: string;
  name: string;
  created: number;
  startTime: number | null;
  runCount: number;
  /** states already stored (the new ones follow them) */
  stateCount: number;
  /** task-run name counters per task key, so new task runs' names follow the earlier ones */
  taskCounters: Map<string, number>;
}

/**
 * The task calls a retried flow run may reuse instead of running (built by `retry-plan.ts`).
 * `take` is asked once per call, in call order, with the call's inputs identity worked out.
 */
export interface ReuseSource {
  take(task: { taskKey: string; name: string; sourceHash: string }, run: TaskRunRecord): Promise<Reused | undefined> | Reused | undefined;
}

export interface Reused {
  value: unknown;
  /** the task run whose result it is */
  taskRunId: string;
  /** e.g. "Reused the result of task run 'fetch-3' (0193…)" */
  message: string;
}

