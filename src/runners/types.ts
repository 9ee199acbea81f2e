/**
 * Task runners decide where a task's function body runs. The engine keeps the run's state
 * machine (states, retries, caching, hooks) in the flow's process and asks the runner to
 * execute one attempt of the body.
 */
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";

export interface TaskAttempt<T = unknown> {
  /** the task definition (exposes `fn`, `name`, `taskKey`, module path) */
  readonly task: {
    readonly name: string;
    readonly taskKey: string;
    readonly fn: (...args: any[]) => unknown;
    readonly modulePath: string | undefined;
  };
  readonly taskRun: TaskRunRecord;
  /** the flow run the task run belongs to (undefined for a standalone run) */
  readonly flowRun?: FlowRunRecord | undefined;
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
