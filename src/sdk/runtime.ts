/**
 * `runtime.flowRun` / `runtime.taskRun`: facts about the run the current code belongs to.
 * Outside a run the fields are undefined (`parameters` is `{}`, `tags` is `[]`).
 */
import { fileURLToPath } from "node:url";
import { realpathSync } from "node:fs";
import { currentContext, mergeTags, runContext } from "../engine/context.ts";
import { missingContext, type Logger } from "../logging/logger.ts";

export interface FlowRunInfo {
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly flowName: string | undefined;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly runCount: number | undefined;
  readonly parentFlowRunId: string | undefined;
  readonly signal: AbortSignal | undefined;
}

export interface TaskRunInfo {
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly taskName: string | undefined;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly runCount: number | undefined;
  readonly signal: AbortSignal | undefined;
}

const NO_FLOW_RUN: FlowRunInfo = Object.freeze({
  id: undefined, name: undefined, flowName: undefined, parameters: Object.freeze({}), tags: Object.freeze([]),
  runCount: undefined, parentFlowRunId: undefined, signal: undefined,
});
const NO_TASK_RUN: TaskRunInfo = Object.freeze({
  id: undefined, name: undefined, taskName: undefined, parameters: Object.freeze({}), tags: Object.freeze([]),
  runCount: undefined, signal: undefined,
});

export const runtime = {
  get flowRun(): FlowRunInfo {
    return currentContext()?.flowRun ?? NO_FLOW_RUN;
  },
  get taskRun(): TaskRunInfo {
    return currentContext()?.taskRun ?? NO_TASK_RUN;
  },
};

/** The current run's logger; throws (MISSING_CONTEXT) outside a run. */
export function getRunLogger(): Pick<Logger, "debug" | "info" | "warning" | "warn" | "error" | "critical" | "log"> {
  const ctx = currentContext();
  const logger = ctx?.taskRun?.logger ?? ctx?.flowRun?.logger;
  if (!logger) throw missingContext();
  return logger;
}

/** Run `fn` with these tags added to every run created inside it. Returns `fn`'s result. */
export function tags<R>(...args: [...names: string[], fn: () => R]): R {
  const fn = args[args.length - 1];
  if (typeof fn !== "function") throw new TypeError("tags(...names, fn): the last argument must be a function");
  const names = args.slice(0, -1) as string[];
  for (const n of names) if (typeof n !== "string") throw new TypeError(`tags(): tag names must be strings, got ${typeof n}`);
  const ctx = currentContext();
  return runContext.run({ ...ctx, tags: mergeTags(ctx?.tags ?? [], names) }, fn as () => R);
}

/** True when the module whose `import.meta` is given is the process's entry point. */
export function isMain(meta: { url: string }): boolean {
  const entry = process.argv[1];
  if (!entry || !meta?.url?.startsWith("file:")) return false;
  let self: string;
  try {
    self = fileURLToPath(meta.url);
  } catch {
    return false;
  }
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const e = real(entry);
  const s = real(self);
  return e === s || e.replace(/\.[cm]?[jt]s$/, "") === s.replace(/\.[cm]?[jt]s$/, "");
}
