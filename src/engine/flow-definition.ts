/** A flow definition: what `flow()` made of a function and its options. */
import { FlowctlError } from "../errors.ts";
import type { Settings } from "../settings/schema.ts";
import { toList, type FlowHook, type FlowOptions } from "./options.ts";
import { definingFile } from "./definition-site.ts";
import type { AnyHook } from "./hooks.ts";
import { kebabCase } from "./names.ts";
import { parseParams, type ParamSpec } from "./parameters.ts";
import type { ParamsSchema } from "./param-schema.ts";

export interface ResolvedFlow {
  retries: number;
  retryDelay: number | number[];
  timeoutMs: number | undefined;
  logPrints: boolean;
  hooks: Record<"onRunning" | "onCompletion" | "onFailure" | "onCancellation" | "onCrashed", AnyHook[]>;
}

export class FlowDefinition {
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly fn: (...args: any[]) => any;
  readonly options: FlowOptions;
  readonly params: ParamSpec;
  /** the `params` schema, when the flow declares one */
  readonly paramsSchema: ParamsSchema | undefined;
  readonly modulePath: string | undefined;
  publicFlow: unknown;
  private resolvedFor: Settings | undefined;
  private resolvedCache: ResolvedFlow | undefined;

  constructor(fn: (...args: any[]) => any, options: FlowOptions, site?: { file?: string | undefined; name?: string }) {
    const base = options.name ?? (fn.name ? kebabCase(fn.name) : site?.name ? kebabCase(site.name) : "");
    if (!base) {
      throw new FlowctlError("INVALID_OPTION", "flow(): an anonymous function needs a name: pass { name: \"...\" } or use a named function");
    }
    this.name = base;
    this.fn = fn;
    this.options = options;
    this.description = options.description;
    this.version = options.version;
    this.modulePath = site?.file ?? definingFile();
    this.params = parseParams(fn, this.modulePath);
    this.paramsSchema = options.params;
  }

  resolve(settings: Settings): ResolvedFlow {
    if (this.resolvedFor === settings && this.resolvedCache) return this.resolvedCache;
    const o = this.options;
    const hook = (h: FlowHook | FlowHook[] | undefined) => toList(h) as AnyHook[];
    this.resolvedCache = {
      retries: o.retries ?? settings.PREFECT_FLOW_DEFAULT_RETRIES,
      retryDelay: o.retryDelaySeconds ?? settings.PREFECT_FLOW_DEFAULT_RETRY_DELAY_SECONDS,
      timeoutMs: o.timeoutSeconds === undefined ? undefined : o.timeoutSeconds * 1000,
      logPrints: o.logPrints ?? settings.PREFECT_LOGGING_LOG_PRINTS,
      hooks: {
        onRunning: hook(o.onRunning),
        onCompletion: hook(o.onCompletion),
        onFailure: hook(o.onFailure),
        onCancellation: hook(o.onCancellation),
        onCrashed: hook(o.onCrashed),
      },
    };
    this.resolvedFor = settings;
    return this.resolvedCache;
  }
}
