/**
 * A task definition: what `task()` made of a function and its options — identity (name, key),
 * parameter names, and its options resolved against the settings in force.
 */
import { createHash } from "node:crypto";
import { FlowctlError } from "../errors.ts";
import type { Settings } from "../settings/schema.ts";
import { toList, type RetryDelay, type TaskHook, type TaskOptions } from "./options.ts";
import type { CachePolicy } from "../results/cache-policies.ts";
import { definingFile, moduleId } from "./definition-site.ts";
import { parseParams, type ParamSpec } from "./parameters.ts";
import type { AnyHook } from "./hooks.ts";
import { registerTask } from "./task-registry.ts";
import { engineLogger } from "../logging/logger.ts";

export interface ResolvedTask {
  retries: number;
  retryDelay: RetryDelay;
  retryJitterFactor: number | undefined;
  timeoutMs: number | undefined;
  /** undefined = inherit the flow's */
  logPrints: boolean | undefined;
  cacheKeyFn: TaskOptions["cacheKeyFn"];
  cachePolicy: CachePolicy | undefined;
  persist: boolean;
  refreshCache: boolean;
  cacheExpiration: number | undefined;
  onRunning: AnyHook[];
  onCompletion: AnyHook[];
  onFailure: AnyHook[];
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;

export class TaskDefinition {
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly tags: readonly string[];
  readonly fn: (...args: any[]) => any;
  readonly options: TaskOptions;
  readonly params: ParamSpec;
  readonly isGenerator: boolean;
  /** an `async` function (its body gives the event loop back at its first await) */
  readonly isAsync: boolean;
  readonly modulePath: string | undefined;
  /** `fn` or `Class.method`; a decorated method learns its class when the class is set up */
  qualname: string;
  private key: string | undefined;
  private resolvedFor: Settings | undefined;
  private resolvedCache: ResolvedTask | undefined;
  /** The public Task object wrapping this definition (hooks receive it). */
  publicTask: unknown;

  constructor(fn: (...args: any[]) => any, options: TaskOptions, site?: { file?: string | undefined; qualname?: string }) {
    const name = options.name ?? fn.name;
    if (!name) {
      throw new FlowctlError(
        "INVALID_OPTION",
        "task(): an anonymous function needs a name: pass { name: \"...\" } or use a named function",
      );
    }
    this.name = name;
    this.fn = fn;
    this.options = options;
    this.description = options.description;
    this.version = options.version;
    this.tags = options.tags ? [...options.tags] : [];
    this.isGenerator = fn instanceof GeneratorFunction || fn instanceof AsyncGeneratorFunction;
    this.isAsync = fn instanceof AsyncFunction || fn instanceof AsyncGeneratorFunction;
    this.modulePath = site?.file ?? definingFile();
    this.params = parseParams(fn, this.modulePath);
    this.qualname = site?.qualname ?? (fn.name || name);
    registerTask(this);
    warnIgnoredCacheOptions(name, options, this.isGenerator);
  }

  /** The module path relative to its project (`workflows/etl.ts`). */
  get moduleId(): string {
    return moduleId(this.modulePath);
  }

  /** A short stable hash of name, module, qualified function name and sorted tags. */
  get taskKey(): string {
    if (this.key === undefined) {
      const h = createHash("sha256")
        .update(this.name)
        .update("\0")
        .update(moduleId(this.modulePath))
        .update(":")
        .update(this.qualname)
        .update("\0")
        .update([...this.tags].sort().join(","))
        .digest("hex")
        .slice(0, 12);
      this.key = `${this.name}-${h}`;
    }
    return this.key;
  }

  resolve(settings: Settings): ResolvedTask {
    if (this.resolvedFor === settings && this.resolvedCache) return this.resolvedCache;
    const o = this.options;
    const hasPolicy = o.cachePolicy !== undefined && !o.cachePolicy.isNone;
    const persist = this.isGenerator
      ? false
      : o.persistResult ?? (o.cacheKeyFn !== undefined || hasPolicy ? true : settings.PREFECT_RESULTS_PERSIST_BY_DEFAULT);
    const r: ResolvedTask = {
      retries: o.retries ?? settings.PREFECT_TASK_DEFAULT_RETRIES,
      retryDelay: o.retryDelaySeconds ?? settings.PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS,
      retryJitterFactor: o.retryJitterFactor,
      timeoutMs: o.timeoutSeconds === undefined ? undefined : o.timeoutSeconds * 1000,
      logPrints: o.logPrints,
      cacheKeyFn: o.cacheKeyFn,
      cachePolicy: o.cachePolicy,
      persist,
      refreshCache: o.refreshCache ?? settings.PREFECT_TASKS_REFRESH_CACHE,
      cacheExpiration: o.cacheExpiration,
      onRunning: toList(o.onRunning as TaskHook | TaskHook[] | undefined),
      onCompletion: toList(o.onCompletion as TaskHook | TaskHook[] | undefined),
      onFailure: toList(o.onFailure as TaskHook | TaskHook[] | undefined),
    };
    this.resolvedFor = settings;
    this.resolvedCache = r;
    return r;
  }
}

/** Definition-time warnings (once per definition) for cache options that will be ignored. */
function warnIgnoredCacheOptions(name: string, o: TaskOptions, isGenerator: boolean): void {
  const policy = o.cachePolicy !== undefined && !o.cachePolicy.isNone ? String(o.cachePolicy) : undefined;
  if (isGenerator) {
    const given = [policy !== undefined && "cachePolicy", o.cacheKeyFn !== undefined && "cacheKeyFn", o.persistResult && "persistResult"].filter(Boolean);
    if (given.length > 0) engineLogger.warning(`Task '${name}' is a generator task, which is never cached; its ${given.join(" and ")} ${given.length > 1 ? "are" : "is"} ignored.`);
  } else if (o.persistResult === false) {
    const ignored = [policy !== undefined && `cachePolicy (${policy})`, o.cacheKeyFn !== undefined && "cacheKeyFn"].filter(Boolean);
    if (ignored.length > 0) {
      engineLogger.warning(`Task '${name}': persistResult is false, so its ${ignored.join(" and ")} ${ignored.length > 1 ? "are" : "is"} ignored and its results are not cached.`);
    }
  } else if (o.cacheKeyFn !== undefined && o.cachePolicy !== undefined) {
    engineLogger.warning(`Task '${name}': both cacheKeyFn and cachePolicy (${String(o.cachePolicy)}) are set; cacheKeyFn is used and the cache policy is ignored.`);
  }
}
