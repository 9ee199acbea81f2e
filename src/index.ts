// flowctl's public API. Named exports only.
import { FlowctlError } from "./errors.ts";
import { installPrintCapture } from "./logging/prints.ts";

// One process, one flowctl: a second copy would keep its own registry, settings and run
// context, and flows from one would silently not see the other's tasks.
const COPY = Symbol.for("flowctl.entry");
const loaded = (globalThis as { [COPY]?: string })[COPY];
if (loaded !== undefined && loaded !== import.meta.url) {
  throw new FlowctlError(
    "LOAD_ERROR",
    `Two copies of flowctl were loaded in one process (${loaded} and ${import.meta.url}): import "flowctl" everywhere, from one installed copy`,
  );
}
(globalThis as { [COPY]?: string })[COPY] = import.meta.url;

installPrintCapture();

export { task, type Task, type TaskCaller, type TaskCallOptions } from "./sdk/task.ts";
export { flow, type Flow } from "./sdk/flow.ts";
export { secret, Secret } from "./sdk/secret.ts";
export { runtime, tags, isMain, getRunLogger } from "./sdk/runtime.ts";
export type { TaskOptions, FlowOptions, RetryDelay, CacheKeyContext } from "./engine/options.ts";
export { unmapped, allowFailure } from "./engine/upstream.ts";
export { wait, asCompleted, TaskRunFuture } from "./engine/futures.ts";
export type { TaskRunFutureList } from "./sdk/map.ts";
export { exponentialBackoff } from "./engine/retry-policy.ts";
export { State, Completed, Failed, Cancelled, Pending, Crashed, type StateType } from "./engine/states.ts";
export type { TaskRun, FlowRun } from "./engine/run-records.ts";
export { INPUTS, TASK_SOURCE, RUN_ID, FLOW_PARAMETERS, NONE, DEFAULT, taskInputHash, type CachePolicy } from "./results/index.ts";
export { FlowctlError, TimeoutError, type ErrorCode } from "./errors.ts";
export { ConcurrentTaskRunner } from "./runners/concurrent.ts";
export { ThreadPoolTaskRunner, type ThreadPoolTaskRunnerOptions } from "./runners/thread-pool.ts";
export { ProcessPoolTaskRunner, type ProcessPoolTaskRunnerOptions } from "./runners/process-pool.ts";
export { RedisTaskRunner, type RedisTaskRunnerOptions } from "./runners/redis.ts";
export type { TaskRunner } from "./runners/types.ts";
