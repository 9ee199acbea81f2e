/**
 * Task and flow options: the user-facing types (documented here) and their validation at
 * definition time. Anything wrong throws a FlowctlError (INVALID_OPTION) naming the option,
 * what was expected and what arrived.
 */
import { FlowctlError, closest } from "../errors.ts";
import type { State } from "./states.ts";
import type { TaskRun, FlowRun } from "./run-records.ts";
import type { CachePolicy } from "../results/cache-policies.ts";
import type { TaskRunner } from "../runners/types.ts";
import { isStandardSchema, type ParamsSchema } from "./param-schema.ts";

export type RetryDelay = number | number[] | ((retries: number) => number[]);

export type TaskHook<T = any> = (task: T, taskRun: TaskRun, state: State) => void | Promise<void>;
export type FlowHook<F = any> = (flow: F, flowRun: FlowRun, state: State) => void | Promise<void>;

/** What a `cacheKeyFn` sees of the task being run (at run time it is the Task object itself). */
export interface TaskInfo {
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly tags: readonly string[];
  readonly taskKey: string;
  readonly fn: (...args: any[]) => unknown;
  readonly options: TaskOptions;
}

export interface CacheKeyContext {
  /** The Task being run (`name`, `taskKey`, …), so `taskInputHash` fits as a `cacheKeyFn`. */
  task: TaskInfo;
  taskRun: TaskRun;
  flowRun: FlowRun | undefined;
}

export interface TaskOptions {
  /** Task name; defaults to the function's name. */
  name?: string | undefined;
  description?: string | undefined;
  tags?: string[] | undefined;
  version?: string | undefined;
  /** Longest a run may take, in seconds; past it the run ends `TimedOut` (a Failed state). */
  timeoutSeconds?: number | undefined;
  /** Retries after a failure. @default PREFECT_TASK_DEFAULT_RETRIES (0) */
  retries?: number | undefined;
  /** Seconds before each retry: a number, one per retry (the last repeats), or a function of the retry count. @default PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS (0) */
  retryDelaySeconds?: RetryDelay | undefined;
  /** ≥ 0: each delay is drawn around its mean, at most `delay × (1 + factor)`. */
  retryJitterFactor?: number | undefined;
  /** Consulted while retries remain; `false` (or a throw) fails the run now. */
  retryConditionFn?: ((task: any, taskRun: TaskRun, state: State) => boolean | Promise<boolean>) | undefined;
  /** Same key and an unexpired stored result → the run is `Cached` and the function does not run. */
  cacheKeyFn?: ((context: CacheKeyContext, parameters: Record<string, unknown>) => string | null | undefined) | undefined;
  cachePolicy?: CachePolicy | undefined;
  /** Seconds a cached result stays valid; unset = never expires. */
  cacheExpiration?: number | undefined;
  /** Run anyway and overwrite the cached result. */
  refreshCache?: boolean | undefined;
  /** Write the result to result storage. Implied by `cacheKeyFn` or a cache policy. */
  persistResult?: boolean | undefined;
  /** Route console output of this run into its log. @default the flow's, then PREFECT_LOGGING_LOG_PRINTS */
  logPrints?: boolean | undefined;
  /** `"hello-{name}-on-{date:%A}"` or `(parameters) => string`. */
  taskRunName?: string | ((parameters: Record<string, unknown>) => string) | undefined;
  onCompletion?: TaskHook | TaskHook[] | undefined;
  onFailure?: TaskHook | TaskHook[] | undefined;
  onRunning?: TaskHook | TaskHook[] | undefined;
}

export interface FlowOptions {
  /** Flow name; defaults to the function name in kebab case. */
  name?: string | undefined;
  /**
   * The flow's parameters as any Standard Schema object schema (zod, valibot, arktype, …).
   * The flow then takes one object: every call is validated first (a `ParameterError`, code
   * `INVALID_PARAMETERS`, lists every problem; nothing runs), the function receives the
   * schema's output, and `flowctl run --param` strings are coerced by the declared types.
   * @example flow({ params: z.object({ n: z.number().default(3) }) }, async ({ n }) => n * 2)
   */
  params?: ParamsSchema | undefined;
  description?: string | undefined;
  version?: string | undefined;
  /** Retries of the whole flow function. @default PREFECT_FLOW_DEFAULT_RETRIES (0) */
  retries?: number | undefined;
  /** @default PREFECT_FLOW_DEFAULT_RETRY_DELAY_SECONDS (0) */
  retryDelaySeconds?: number | number[] | undefined;
  timeoutSeconds?: number | undefined;
  logPrints?: boolean | undefined;
  flowRunName?: string | ((parameters: Record<string, unknown>) => string) | undefined;
  taskRunner?: TaskRunner | undefined;
  persistResult?: boolean | undefined;
  onCompletion?: FlowHook | FlowHook[] | undefined;
  onFailure?: FlowHook | FlowHook[] | undefined;
  onCancellation?: FlowHook | FlowHook[] | undefined;
  onCrashed?: FlowHook | FlowHook[] | undefined;
  onRunning?: FlowHook | FlowHook[] | undefined;
}

function show(v: unknown): string {
  if (typeof v === "function") return `a function`;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function invalid(owner: string, option: string, expected: string, got: unknown): never {
  throw new FlowctlError("INVALID_OPTION", `${owner}: expected \`${option}\` to be ${expected}, got ${show(got)}`);
}

type Check = (owner: string, key: string, v: unknown) => void;

const isNonNegNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;

const checks = {
  string: ((o, k, v) => { if (typeof v !== "string") invalid(o, k, "a string", v); }) as Check,
  nonEmptyString: ((o, k, v) => { if (typeof v !== "string" || v.trim() === "") invalid(o, k, "a non-empty string", v); }) as Check,
  boolean: ((o, k, v) => { if (typeof v !== "boolean") invalid(o, k, "a boolean", v); }) as Check,
  nonNegInt: ((o, k, v) => { if (typeof v !== "number" || !Number.isInteger(v) || v < 0) invalid(o, k, "a non-negative integer", v); }) as Check,
  nonNegNumber: ((o, k, v) => { if (!isNonNegNumber(v)) invalid(o, k, "a non-negative number of seconds", v); }) as Check,
  positiveNumber: ((o, k, v) => { if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) invalid(o, k, "a positive number of seconds", v); }) as Check,
  tags: ((o, k, v) => {
    if (!Array.isArray(v) || !v.every((t) => typeof t === "string")) invalid(o, k, "an array of strings", v);
  }) as Check,
  fn: ((o, k, v) => { if (typeof v !== "function") invalid(o, k, "a function", v); }) as Check,
  hooks: ((o, k, v) => {
    const list = Array.isArray(v) ? v : [v];
    if (list.some((h) => typeof h !== "function")) invalid(o, k, "a function or an array of functions", v);
  }) as Check,
  taskDelay: ((o, k, v) => {
    if (typeof v === "function") return;
    if (isNonNegNumber(v)) return;
    if (Array.isArray(v) && v.length > 0 && v.every(isNonNegNumber)) return;
    invalid(o, k, "a non-negative number, a non-empty array of them, or a function (retries) => number[]", v);
  }) as Check,
  flowDelay: ((o, k, v) => {
    if (isNonNegNumber(v)) return;
    if (Array.isArray(v) && v.length > 0 && v.every(isNonNegNumber)) return;
    invalid(o, k, "a non-negative number or a non-empty array of them", v);
  }) as Check,
  runName: ((o, k, v) => {
    if (typeof v !== "string" && typeof v !== "function") invalid(o, k, "a template string or a function (parameters) => string", v);
  }) as Check,
  cachePolicy: ((o, k, v) => {
    if (typeof v !== "object" || v === null || typeof (v as { computeKey?: unknown }).computeKey !== "function") {
      invalid(o, k, "a cache policy (INPUTS, TASK_SOURCE, RUN_ID, FLOW_PARAMETERS, NONE, DEFAULT or a combination)", v);
    }
  }) as Check,
  taskRunner: ((o, k, v) => {
    if (typeof v !== "object" || v === null || typeof (v as { run?: unknown }).run !== "function") {
      invalid(o, k, "a task runner (ConcurrentTaskRunner, ThreadPoolTaskRunner, ProcessPoolTaskRunner or RedisTaskRunner)", v);
    }
  }) as Check,
};

const TASK_CHECKS: Record<keyof TaskOptions, Check> = {
  name: checks.nonEmptyString,
  description: checks.string,
  tags: checks.tags,
  version: checks.string,
  timeoutSeconds: checks.positiveNumber,
  retries: checks.nonNegInt,
  retryDelaySeconds: checks.taskDelay,
  retryJitterFactor: checks.nonNegNumber,
  retryConditionFn: checks.fn,
  cacheKeyFn: checks.fn,
  cachePolicy: checks.cachePolicy,
  cacheExpiration: checks.nonNegNumber,
  refreshCache: checks.boolean,
  persistResult: checks.boolean,
  logPrints: checks.boolean,
  taskRunName: checks.runName,
  onCompletion: checks.hooks,
  onFailure: checks.hooks,
  onRunning: checks.hooks,
};

const FLOW_CHECKS: Record<keyof FlowOptions, Check> = {
  name: checks.nonEmptyString,
  params: ((o, k, v) => {
    if (!isStandardSchema(v)) invalid(o, k, "a Standard Schema (a zod, valibot or arktype object schema)", v);
  }) as Check,
  description: checks.string,
  version: checks.string,
  retries: checks.nonNegInt,
  retryDelaySeconds: checks.flowDelay,
  timeoutSeconds: checks.positiveNumber,
  logPrints: checks.boolean,
  flowRunName: checks.runName,
  taskRunner: checks.taskRunner,
  persistResult: checks.boolean,
  onCompletion: checks.hooks,
  onFailure: checks.hooks,
  onCancellation: checks.hooks,
  onCrashed: checks.hooks,
  onRunning: checks.hooks,
};

function validate(kind: "task" | "flow", owner: string, options: unknown, table: Record<string, Check>): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new FlowctlError("INVALID_OPTION", `${owner}: expected the options to be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    const value = (options as Record<string, unknown>)[key];
    const check = table[key];
    if (!check) {
      const known = Object.keys(table);
      const close = closest(key, known);
      throw new FlowctlError(
        "INVALID_OPTION",
        `${owner}: unknown ${kind} option \`${key}\`${close ? ` (did you mean \`${close}\`?)` : ""}; valid options: ${known.join(", ")}`,
      );
    }
    if (value === undefined) continue;
    check(owner, key, value);
  }
}

export function validateTaskOptions(owner: string, options: unknown): asserts options is TaskOptions {
  validate("task", owner, options, TASK_CHECKS);
}

export function validateFlowOptions(owner: string, options: unknown): asserts options is FlowOptions {
  validate("flow", owner, options, FLOW_CHECKS);
}

export function toList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
