/**
 * Task runners decide where a task's function body runs. The engine keeps the run's state
 * machine (states, retries, caching, hooks) in the flow's process and asks the runner to
 * execute one attempt of the body.
 */
import type { Settings } from "../settings/schema.ts";
import type { StateType } from "../store/types.ts";

/** What a runner reads of the task run it executes (the engine's TaskRunRecord). */
export interface AttemptTaskRun {
  readonly id: string;
  readonly name: string;
  readonly taskName: string;
  readonly taskKey: string;
  readonly flowRunId: string | undefined;
  readonly parentTaskRunId: string | undefined;
  readonly tags: readonly string[];
  readonly runCount: number;
  /** aborted on timeout or cancellation */
  readonly signal: AbortSignal;
  readonly logger: { warning(message: string): void };
}

/** What a runner reads of the flow run (the engine's FlowRunRecord). */
export interface AttemptFlowRun {
  readonly id: string;
  readonly name: string;
  readonly flowName: string;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly runCount: number;
  readonly parentFlowRunId: string | undefined;
  /** the settings in force for the run */
  readonly settings: Settings;
}

/** A State a body returned in a worker, as data (the engine makes it a State again). */
export interface ReturnedState {
  type: StateType;
  name: string;
  message?: string | undefined;
  data?: unknown;
  error?: unknown;
}

export interface TaskAttempt<T = unknown> {
  /** the task definition (exposes `fn`, `name`, `taskKey`, module path) */
  readonly task: {
    readonly name: string;
    readonly taskKey: string;
    readonly fn: (...args: any[]) => unknown;
    readonly modulePath: string | undefined;
    /** the module path relative to its project (`workflows/etl.ts`) */
    readonly moduleId: string;
  };
  readonly taskRun: AttemptTaskRun;
  /** the flow run the task run belongs to (undefined for a standalone run) */
  readonly flowRun?: AttemptFlowRun | undefined;
  /** whether the body's console output goes to the run's log (logPrints, as resolved by the engine) */
  readonly logPrints?: boolean;
  /** the settings the run resolved (the default runner reads its concurrency from them) */
  readonly settings?: { readonly PREFECT_TASK_RUNNER_MAX_CONCURRENCY: number } | undefined;
  /** resolved arguments */
  readonly args: readonly unknown[];
  readonly thisArg: unknown;
  /** `call` for `await t()`, `submit` for `.submit()`/`.map()` */
  readonly mode: "call" | "submit";
  /** Runs the body here, in this process, inside the run's context. */
  invokeLocal(): Promise<T>;
  /** The State object for a State the body returned in a worker. */
  reviveState(state: ReturnedState): unknown;
}

export interface TaskRunner {
  readonly name: string;
  /** true when bodies run on this thread, through `attempt.invokeLocal()` (the default runner) */
  readonly runsInProcess?: boolean;
  /** Execute one attempt of a task body; resolves with its return value, rejects with what it threw. */
  run<T>(attempt: TaskAttempt<T>): Promise<T>;
  /** Release workers/connections. */
  shutdown?(): Promise<void>;
}
