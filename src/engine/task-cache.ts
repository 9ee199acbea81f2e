/**
 * Caching for a task run: compute its key (cacheKeyFn, else the cache policy), read a stored
 * result before running, write the result after completing. Anything that goes wrong here is
 * a warning and a miss — a cache never fails a run.
 */
import { DEFAULT, taskInputHash, taskInputHashResult } from "../results/cache-policies.ts";
import type { RunEnv } from "./env.ts";
import type { TaskInfo } from "./options.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import type { ResolvedTask, TaskDefinition } from "./task-definition.ts";

export interface CachePlan {
  key: string;
  refresh: boolean;
  expiration: number | undefined;
}

export function planCache(
  def: TaskDefinition,
  cfg: ResolvedTask,
  run: TaskRunRecord,
  flowRun: FlowRunRecord | undefined,
  thisArg: unknown,
): CachePlan | undefined {
  if (!cfg.persist || def.isGenerator) return undefined;
  let key: string | null | undefined;
  try {
    if (cfg.cacheKeyFn === taskInputHash) {
      // the ready-made key function: same result, plus a warning naming an unhashable parameter
      const res = taskInputHashResult({ task: def, taskRun: run }, run.parameters);
      if (res.key === undefined && "warning" in res && res.warning) run.logger.warning(res.warning);
      key = res.key;
    } else if (cfg.cacheKeyFn) {
      key = cfg.cacheKeyFn({ task: def.publicTask as TaskInfo, taskRun: run, flowRun }, run.parameters);
      if (key !== null && key !== undefined && typeof key !== "string") {
        run.logger.warning(`cacheKeyFn returned ${typeof key}, not a string; the run is not cached.`);
        return undefined;
      }
    } else {
      const policy = cfg.cachePolicy && !cfg.cachePolicy.isNone ? cfg.cachePolicy : cfg.cachePolicy ? undefined : DEFAULT;
      if (!policy) return undefined;
      const res = policy.computeKey({
        taskKey: def.taskKey,
        taskSource: Function.prototype.toString.call(def.fn),
        parameters: run.parameters,
        // a static method's `this` is its class: code, not state (TASK_SOURCE covers code)
        thisArg: typeof thisArg === "function" ? undefined : thisArg,
        flowRunId: flowRun?.id,
        taskRunId: run.id,
        flowParameters: flowRun?.parameters,
      });
      if (res.key === undefined && "warning" in res && res.warning) run.logger.warning(res.warning);
      key = res.key;
    }
  } catch (err) {
    run.logger.warning(`Could not compute a cache key: ${(err as Error).message}; the run is not cached.`);
    return undefined;
  }
  if (key === null || key === undefined || key === "") return undefined;
  return { key, refresh: cfg.refreshCache, expiration: cfg.cacheExpiration };
}

export async function readCached(plan: CachePlan, env: RunEnv): Promise<{ value: unknown } | undefined> {
  if (plan.refresh) return undefined;
  try {
    const hit = await env.resultStorage().read(plan.key);
    return hit ? { value: hit.value } : undefined;
  } catch {
    return undefined;
  }
}

export async function writeCached(plan: CachePlan, def: TaskDefinition, run: TaskRunRecord, value: unknown, env: RunEnv): Promise<void> {
  try {
    await env.resultStorage().write(plan.key, value, {
      expiration: plan.expiration,
      taskName: def.name,
      taskKey: def.taskKey,
    });
  } catch (err) {
    run.logger.warning(`The result of '${run.name}' was not cached: ${(err as Error).message}`);
  }
}
